/**
 * A loopback Rekor v2 log (rekor-tiles' write API) on 127.0.0.1 with a free port, for tests of
 * Rekor v2 uploads. It speaks the wire protocol of rekor-tiles:
 *
 * - `POST /api/v2/log/entries` takes the protojson of a `dev.sigstore.rekor.v2.CreateEntryRequest`
 *   and checks what rekor-tiles checks before it logs (`pkg/types/hashedrekord`): only
 *   `hashedRekordRequestV002` (`dsseRequestV002` → 400 "invalid type, must be hashedrekord");
 *   a signature, a verifier with a public key (PKIX DER) or an X.509 certificate (DER) and a
 *   digest must be present; the key details must be one the algorithm registry allows and fit
 *   the key (curve, RSA size); the digest must have the size of the key details' hash; the
 *   signature must verify over that digest with the key (ECDSA through `@noble/curves` on the
 *   digest, RSA PKCS#1 v1.5 through `publicDecrypt`). Unknown fields and malformed JSON → 400.
 *   Errors are grpc-gateway's `{code, message, details}`.
 * - The logged body is the RFC 8785 canonical JSON of the protojson `Entry`
 *   (`{apiVersion: "0.0.2", kind: "hashedrekord", spec: {hashedRekordV002: {data: {algorithm,
 *   digest}, signature}}}`); a body already logged → 409 with `x-log-index`.
 * - It appends the leaf to an RFC 6962 Merkle tree (own implementation here, independent of
 *   `lib/tlog/merkle.ts`) and answers 201 with the protojson `TransparencyLogEntry`: `logIndex`,
 *   `logId.keyId`, `kindVersion`, `inclusionProof` (`logIndex`, `rootHash`, `treeSize`,
 *   `hashes`, `checkpoint.envelope`) and `canonicalizedBody`; no SET and no integrated time.
 *   int64 values are strings and zero values are left out, as Go's protojson writes them.
 * - The checkpoint is a C2SP signed note by the log's Ed25519 key, origin and key name the host
 *   name of the URL (`127.0.0.1`, as rekor-tiles uses its host name); the key ID (and log ID) is
 *   SHA-256(origin ‖ "\n" ‖ 0x01 ‖ raw key). `GET /api/v2/checkpoint` returns the latest one.
 *
 * {@link RekorV2.tlog} is the `trusted_root.json` entry for the log, {@link RekorV2.trustedRoot}
 * a whole trusted root listing only it. For hostile-log tests, {@link RekorV2.rewrite} can alter
 * each answer and {@link RekorV2.checkpointKey} can sign checkpoints with another key.
 * @module
 */

import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  publicDecrypt,
  sign,
  X509Certificate,
} from "node:crypto";
import { Buffer } from "node:buffer";
// `@noble/curves` itself (re-exported there with its pinned specifier), not our verifier.
import { p256, p384, p521 } from "../../lib/crypto/deps_curves.ts";

type Json = Record<string, unknown>;

/** One request the log received. */
export interface RekorV2Request {
  readonly method: string;
  readonly path: string;
  readonly body: string;
}

/** A running loopback Rekor v2. */
export interface RekorV2 extends AsyncDisposable {
  /** The base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The checkpoint origin and key name (`127.0.0.1`). */
  readonly origin: string;
  /** The log's Ed25519 public key. */
  readonly publicKey: KeyObject;
  /** The log's public key, PKIX PEM. */
  readonly publicKeyPem: string;
  /** The log ID: the checkpoint key's note key ID. */
  readonly logId: Uint8Array;
  /** The `tlogs[]` entry of a trusted root for this log. */
  readonly tlog: Json;
  /** A trusted root listing only this log. */
  trustedRoot(): Json;
  /** Requests received, in order. */
  readonly requests: RekorV2Request[];
  /** The logged bodies (canonical JSON), by log index. */
  readonly entries: Uint8Array[];
  /** When set, every 201 answer (the protojson object) goes through it before it is sent. */
  rewrite: ((answer: Json) => Json) | undefined;
  /** The private key checkpoints are signed with (the log's, unless a test swaps it). */
  checkpointKey: KeyObject;
  /** When set, the next N create requests are answered with this status (e.g. 503). */
  failNext: { count: number; status: number } | undefined;
  /** Stops the server. Idempotent. */
  stop(): Promise<void>;
}

/** The log key's validity start written to the trusted root. */
export const REKOR_V2_VALID_FROM = "2020-01-01T00:00:00Z";

class BadRequest extends Error {}

const KEY_DETAILS: Record<
  string,
  { hash: "sha256" | "sha384" | "sha512"; proto: string; type: string; param?: string | number }
> = {
  PKIX_ECDSA_P256_SHA_256: { hash: "sha256", proto: "SHA2_256", type: "ec", param: "prime256v1" },
  PKIX_ECDSA_P384_SHA_384: { hash: "sha384", proto: "SHA2_384", type: "ec", param: "secp384r1" },
  PKIX_ECDSA_P521_SHA_512: { hash: "sha512", proto: "SHA2_512", type: "ec", param: "secp521r1" },
  PKIX_RSA_PKCS1V15_2048_SHA256: { hash: "sha256", proto: "SHA2_256", type: "rsa", param: 2048 },
  PKIX_RSA_PKCS1V15_3072_SHA256: { hash: "sha256", proto: "SHA2_256", type: "rsa", param: 3072 },
  PKIX_RSA_PKCS1V15_4096_SHA256: { hash: "sha256", proto: "SHA2_256", type: "rsa", param: 4096 },
};

const DIGEST_INFO: Record<string, string> = {
  sha256: "3031300d060960864801650304020105000420",
  sha384: "3041300d060960864801650304020205000430",
  sha512: "3051300d060960864801650304020305000440",
};

const CURVES = { prime256v1: p256, secp384r1: p384, secp521r1: p521 } as const;

function obj(v: unknown, what: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new BadRequest(`missing ${what}`);
  }
  return v as Json;
}

/** A protojson `bytes` field (standard or URL-safe base64); empty when absent. */
function bytes(v: unknown, what: string): Buffer {
  if (v === undefined) return Buffer.alloc(0);
  if (typeof v !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) {
    throw new BadRequest(`${what}: invalid base64`);
  }
  return Buffer.from(v, /[-_]/.test(v) ? "base64url" : "base64");
}

/** Field names as protojson accepts them: lowerCamel or the proto name. */
function field(o: Json, camel: string, snake: string): unknown {
  return o[camel] ?? o[snake];
}

function onlyFields(o: Json, allowed: string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new BadRequest(`${what}: unknown field "${k}"`);
  }
}

/** RFC 8785 canonical JSON for the values this log writes (objects, arrays, strings). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Json)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

function rawEcPoint(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x ?? "", "base64url"),
    Buffer.from(jwk.y ?? "", "base64url"),
  ]);
}

function verifyDigest(key: KeyObject, hash: string, digest: Buffer, sig: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === "ec") {
      const curve = CURVES[key.asymmetricKeyDetails?.namedCurve as keyof typeof CURVES];
      return curve.verify(sig, digest, rawEcPoint(key), {
        prehash: false,
        lowS: false,
        format: "der",
      });
    }
    const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, sig);
    return recovered.equals(Buffer.concat([Buffer.from(DIGEST_INFO[hash]!, "hex"), digest]));
  } catch {
    return false;
  }
}

/** Checks a `hashedRekordRequestV002` as rekor-tiles does; returns the protojson `Entry`. */
function toLogEntry(hr: Json): Json {
  onlyFields(hr, ["digest", "signature"], "hashedRekordRequestV002");
  const signature = obj(hr.signature ?? {}, "signature");
  onlyFields(signature, ["content", "verifier"], "signature");
  const content = bytes(signature.content, "signature.content");
  if (content.length === 0) throw new BadRequest("missing signature");
  if (signature.verifier === undefined) throw new BadRequest("missing verifier");
  const verifier = obj(signature.verifier, "verifier");
  onlyFields(
    verifier,
    ["publicKey", "public_key", "x509Certificate", "x509_certificate", "keyDetails", "key_details"],
    "verifier",
  );
  const digest = bytes(hr.digest, "digest");
  if (digest.length === 0) throw new BadRequest("missing digest");
  const pk = field(verifier, "publicKey", "public_key");
  const cert = field(verifier, "x509Certificate", "x509_certificate");
  if ((pk === undefined) === (cert === undefined)) {
    throw new BadRequest("invalid verifier: missing signature public key or X.509 certificate");
  }
  const kind = pk !== undefined ? "publicKey" : "x509Certificate";
  const raw = bytes(field(obj(pk ?? cert, kind), "rawBytes", "raw_bytes"), `${kind}.rawBytes`);
  if (raw.length === 0) throw new BadRequest(`invalid verifier: missing ${kind} raw bytes`);
  let key: KeyObject;
  try {
    key = kind === "publicKey"
      ? createPublicKey({ key: raw, format: "der", type: "spki" })
      : new X509Certificate(raw).publicKey;
  } catch (e) {
    throw new BadRequest(`parsing verifier: ${(e as Error).message}`);
  }
  const keyDetails = String(field(verifier, "keyDetails", "key_details") ?? "");
  const alg = KEY_DETAILS[keyDetails];
  if (alg === undefined) {
    throw new BadRequest(`getting key algorithm details: unsupported ${keyDetails || "(none)"}`);
  }
  const fits = key.asymmetricKeyType === alg.type &&
    (alg.type === "ec"
      ? key.asymmetricKeyDetails?.namedCurve === alg.param
      : key.asymmetricKeyDetails?.modulusLength === alg.param);
  if (!fits) throw new BadRequest(`unsupported entry algorithm for key, ${keyDetails}`);
  const size = createHash(alg.hash).digest().length;
  if (digest.length !== size) {
    throw new BadRequest(
      `digest length (${digest.length}) does not match expected size (${size}) for ${alg.hash}`,
    );
  }
  if (!verifyDigest(key, alg.hash, digest, content)) {
    throw new BadRequest("verifying signature: invalid signature");
  }
  return {
    kind: "hashedrekord",
    apiVersion: "0.0.2",
    spec: {
      hashedRekordV002: {
        data: { algorithm: alg.proto, digest: digest.toString("base64") },
        signature: {
          content: content.toString("base64"),
          verifier: { [kind]: { rawBytes: raw.toString("base64") }, keyDetails },
        },
      },
    },
  };
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

const leafHashOf = (leaf: Uint8Array) => sha256(Buffer.from([0]), leaf);
const nodeHashOf = (l: Uint8Array, r: Uint8Array) => sha256(Buffer.from([1]), l, r);

/** The largest power of two below `n` (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 MTH of leaf hashes [lo, hi). */
function mth(leaves: Buffer[], lo: number, hi: number): Buffer {
  if (hi - lo === 1) return leaves[lo]!;
  const k = split(hi - lo);
  return nodeHashOf(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** RFC 6962 PATH(m, D[lo:hi]). */
function auditPath(leaves: Buffer[], m: number, lo: number, hi: number): Buffer[] {
  if (hi - lo <= 1) return [];
  const k = split(hi - lo);
  return m - lo < k
    ? [...auditPath(leaves, m, lo, lo + k), mth(leaves, lo + k, hi)]
    : [...auditPath(leaves, m, lo + k, hi), mth(leaves, lo, lo + k)];
}

/** The C2SP note key ID of an Ed25519 key: SHA-256(name ‖ "\n" ‖ 0x01 ‖ raw key). */
function ed25519NoteKeyId(publicKey: KeyObject, name: string): Buffer {
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url");
  return sha256(Buffer.from(name + "\n"), Buffer.from([1]), raw);
}

/**
 * Signs a checkpoint body as a C2SP signed note with an Ed25519 key; the key hint is that of
 * `hintKey` (the log's key by default), so a test can sign with another key under the log's name.
 */
export function signCheckpointNote(
  text: string,
  name: string,
  key: KeyObject,
  hintKey: KeyObject = createPublicKey(key),
): string {
  const hint = ed25519NoteKeyId(hintKey, name).subarray(0, 4);
  const sig = sign(null, Buffer.from(text), key);
  return `${text}\n\u2014 ${name} ${Buffer.concat([hint, sig]).toString("base64")}\n`;
}

function grpcError(status: number, code: number, message: string, headers: HeadersInit = {}) {
  return new Response(JSON.stringify({ code, message, details: [] }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Starts a loopback Rekor v2; see the module documentation. */
export function startRekorV2(): Promise<RekorV2> {
  const keyPair = generateKeyPairSync("ed25519");
  const requests: RekorV2Request[] = [];
  const entries: Uint8Array[] = [];
  const leaves: Buffer[] = [];
  const origin = "127.0.0.1";
  const logId = ed25519NoteKeyId(keyPair.publicKey, origin);
  const state: Pick<RekorV2, "rewrite" | "checkpointKey" | "failNext"> = {
    rewrite: undefined,
    checkpointKey: keyPair.privateKey,
    failNext: undefined,
  };

  const checkpoint = () => {
    const size = leaves.length;
    const root = size === 0 ? sha256() : mth(leaves, 0, size);
    const text = `${origin}\n${size}\n${root.toString("base64")}\n`;
    return { root, note: signCheckpointNote(text, origin, state.checkpointKey, keyPair.publicKey) };
  };

  const create = (text: string): Response => {
    if (state.failNext && state.failNext.count > 0) {
      state.failNext.count--;
      return grpcError(state.failNext.status, 14, "reached max pushback; retry");
    }
    let entry: Json;
    try {
      let req: Json;
      try {
        req = obj(JSON.parse(text), "request");
      } catch (e) {
        throw e instanceof BadRequest ? e : new BadRequest(`invalid JSON: ${(e as Error).message}`);
      }
      const keys = Object.keys(req);
      if (keys.length !== 1) throw new BadRequest("invalid type, must be hashedrekord");
      const hr = field(req, "hashedRekordRequestV002", "hashed_rekord_request_v002");
      if (hr === undefined) throw new BadRequest("invalid type, must be hashedrekord");
      entry = toLogEntry(obj(hr, "hashedRekordRequestV002"));
    } catch (e) {
      if (e instanceof BadRequest) return grpcError(400, 3, e.message);
      throw e;
    }
    const body = Buffer.from(canonical(entry));
    const leaf = leafHashOf(body);
    const dup = leaves.findIndex((l) => l.equals(leaf));
    if (dup >= 0) {
      return grpcError(409, 6, `an equivalent entry already exists at index ${dup}`, {
        "x-log-index": String(dup),
      });
    }
    const index = leaves.length;
    leaves.push(leaf);
    entries.push(body);
    const { root, note } = checkpoint();
    const int64 = (n: number) => (n === 0 ? {} : { logIndex: String(n) });
    const path = auditPath(leaves, index, 0, leaves.length);
    let answer: Json = {
      ...int64(index),
      logId: { keyId: logId.toString("base64") },
      kindVersion: { kind: "hashedrekord", version: "0.0.2" },
      inclusionProof: {
        ...int64(index),
        rootHash: root.toString("base64"),
        treeSize: String(leaves.length),
        ...(path.length ? { hashes: path.map((h) => h.toString("base64")) } : {}),
        checkpoint: { envelope: note },
      },
      canonicalizedBody: body.toString("base64"),
    };
    if (state.rewrite) answer = state.rewrite(answer);
    return new Response(JSON.stringify(answer), {
      status: 201,
      headers: { "content-type": "application/json" },
    });
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const body = req.body ? await req.text() : "";
    requests.push({ method: req.method, path: u.pathname + u.search, body });
    if (u.pathname === "/api/v2/log/entries") {
      if (req.method !== "POST") return grpcError(405, 12, "Method Not Allowed");
      return create(body);
    }
    if (u.pathname === "/api/v2/checkpoint" && req.method === "GET") {
      return new Response(checkpoint().note, { headers: { "content-type": "text/plain" } });
    }
    return grpcError(404, 5, "Not Found");
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  const der = keyPair.publicKey.export({ format: "der", type: "spki" });
  const tlog = {
    baseUrl: url,
    hashAlgorithm: "SHA2_256",
    publicKey: {
      rawBytes: der.toString("base64"),
      keyDetails: "PKIX_ED25519",
      validFor: { start: REKOR_V2_VALID_FROM },
    },
    logId: { keyId: logId.toString("base64") },
  };
  let stopped: Promise<void> | undefined;
  const stop = () => stopped ??= server.shutdown();
  const rekor: RekorV2 = {
    url,
    origin,
    publicKey: keyPair.publicKey,
    publicKeyPem: keyPair.publicKey.export({ format: "pem", type: "spki" }).toString(),
    logId: new Uint8Array(logId),
    tlog,
    trustedRoot: () => ({
      mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
      tlogs: [structuredClone(tlog)],
      certificateAuthorities: [],
      ctlogs: [],
      timestampAuthorities: [],
    }),
    requests,
    entries,
    get rewrite() {
      return state.rewrite;
    },
    set rewrite(f) {
      state.rewrite = f;
    },
    get checkpointKey() {
      return state.checkpointKey;
    },
    set checkpointKey(k) {
      state.checkpointKey = k;
    },
    get failNext() {
      return state.failNext;
    },
    set failNext(f) {
      state.failNext = f;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return Promise.resolve(rekor);
}
