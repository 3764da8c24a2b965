/**
 * A local fake Rekor v1 log: `rekorHandler(initializeTLog(url, keyPair))` from
 * `npm:@sigstore/mock` served by `Deno.serve` on 127.0.0.1 with a free port, plus a
 * `trusted_root.json` listing the log, for tests of tlog upload, look-ups and SET verification.
 *
 * What the mock does (0.13.0): `POST /api/v1/log/entries` with any JSON → 201,
 * `{<uuid>: {body, integratedTime, logID, logIndex, verification: {inclusionProof,
 * signedEntryTimestamp}}}` (see {@link MockLogEntry}), where `body` = base64 of the RFC 8785
 * canonical JSON of the object it was handed, `logIndex` is random in [0, 10 000 000), `uuid` is
 * random, `logID` = hex SHA-256 of the PKIX DER key, the SET is DER ECDSA P-256/SHA-256 over JCS
 * `{body, integratedTime, logID, logIndex}`, and the inclusion proof pretends the entry is alone
 * in a fresh tree (`logIndex` 0, `treeSize` 1, `hashes` [], `rootHash` = hex leaf hash of the
 * body, a checkpoint signed by the log key with origin `127.0.0.1:PORT - <random tree ID>`). It
 * validates nothing and stores nothing.
 *
 * What this harness adds, so our client meets what real Rekor does where it depends on it:
 * - **Canonicalization before logging.** Known kinds are validated and turned into Rekor's
 *   stored body before the mock sees them, so the mock logs and signs the canonical body:
 *   - `hashedrekord` 0.0.1 → `{apiVersion, kind, spec: {data: {hash: {algorithm, value}},
 *     signature: {content, publicKey: {content}}}}`, the PEM re-encoded (unknown fields dropped);
 *   - `dsse` 0.0.1 (`spec.proposedContent: {envelope: <JSON string>, verifiers: [b64 PEM]}`) →
 *     `{apiVersion, kind, spec: {envelopeHash: {algorithm: "sha256", value: sha256(envelope
 *     string)}, payloadHash: {sha256 of the decoded payload}, signatures: [{signature: <the
 *     envelope's base64 sig>, verifier: <b64 of the re-encoded PEM>}] sorted by signature}}`;
 *   - `intoto` 0.0.2 (`spec.content: {envelope: {payload: b64(b64 payload), payloadType,
 *     signatures: [{keyid?, sig: b64(b64 sig), publicKey: b64 PEM}]}, hash: {sha256 of the
 *     envelope bytes, client-computed}}`) → `{apiVersion, kind, spec: {content: {envelope:
 *     {payloadType, signatures: [{keyid (if not empty), publicKey, sig}]}, hash, payloadHash}}}`
 *     (the payload is dropped; `payloadHash` = sha256 of the decoded payload).
 *   Every DSSE signature must verify (PAE; SHA-256 for ECDSA/RSA, as Rekor's verifier) with one
 *   of the entry's keys, else 400. Other kinds (`rekord`, `intoto` 0.0.1, …) are logged as sent.
 * - **UUID = RFC 6962 leaf hash** of the stored body (the mock's random UUID is replaced; the
 *   SET does not cover it), and a second upload of an identical body gets **409 Conflict** with
 *   `Location: /api/v1/log/entries/<uuid>`, as Rekor answers.
 * - **Storage and look-ups**: `GET /api/v1/log/entries/{uuid}` (64 hex, or an 80-hex EntryID
 *   whose last 64 digits are the UUID), `GET /api/v1/log/entries?logIndex=N` (the global index the
 *   mock assigned), and `POST /api/v1/index/retrieve {"hash": "sha256:<hex>"}` (or bare hex) →
 *   JSON array of UUIDs (`[]` when none). The index holds the keys Rekor derives from the body:
 *   hashedrekord `data.hash`; dsse `payloadHash`, `envelopeHash`; intoto `payloadHash`; and, for
 *   in-toto payloads, each subject digest (`alg:hex`). Key hashes, emails and `publicKey`
 *   searches are not indexed. Unknown entries → 404 with Rekor's `{"code", "message"}` JSON.
 *   Look-ups return the stored answer, so the inclusion proof is the one from upload time.
 * - `GET /api/v1/log/publicKey` → the PEM, like real Rekor. Anything else → 404; a GET of the
 *   entries path without `logIndex` → 400.
 *
 * Use with `await using rekor = await startRekor()`.
 * @module
 */

import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  verify,
  X509Certificate,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { initializeTLog, rekorHandler } from "@sigstore/mock";

/** The path of Rekor v1's entry-creation endpoint. */
export const REKOR_ENTRIES_PATH = "/api/v1/log/entries";

/** The path of Rekor v1's index search. */
export const REKOR_INDEX_PATH = "/api/v1/index/retrieve";

/** One entry of the mock's `POST /api/v1/log/entries` answer (keyed by a random UUID). */
export interface MockLogEntry {
  /** Base64 of the JCS of the canonicalized entry (see the module documentation). */
  body: string;
  /** Unix seconds. */
  integratedTime: number;
  /** Hex SHA-256 of the log's PKIX DER key. */
  logID: string;
  /** Random global index. */
  logIndex: number;
  verification: {
    /** Base64 DER ECDSA signature. */
    signedEntryTimestamp: string;
    inclusionProof?: {
      logIndex: number;
      treeSize: number;
      /** Hex. */
      rootHash: string;
      /** Hex (always empty: the tree has one leaf). */
      hashes: string[];
      /** Signed-note text. */
      checkpoint: string;
    };
  };
}

/** One request the fake Rekor received. */
export interface RekorRequest {
  method: string;
  /** Path with query. */
  path: string;
  /** The body as text ("" when none). */
  body: string;
}

/** A running fake Rekor. */
export interface Rekor extends AsyncDisposable {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** The log's ECDSA P-256 public key (PKIX PEM). */
  publicKeyPem: string;
  /** Hex SHA-256 of the key's PKIX DER (the Rekor v1 log ID). */
  logIdHex: string;
  /** A `trusted_root.json` listing this log (and nothing else); removed on stop. */
  trustedRootPath: string;
  /** Every request received, in order. */
  requests: RekorRequest[];
  /** The stored entries by UUID (the leaf hash of the body), in upload order. */
  entries: Map<string, MockLogEntry>;
  /** Shuts the server down and removes the temporary folder. Idempotent. */
  stop(): Promise<void>;
}

/** The log key's validity start written to the trusted root. */
export const REKOR_VALID_FROM = "2020-01-01T00:00:00Z";

/** A client mistake: answered 400 with the message as plain text, like the mock does. */
class BadEntry extends Error {}

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new BadEntry(`${what} missing`);
  }
  return v as Json;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string" || v === "") throw new BadEntry(`${what} missing`);
  return v;
}

function b64(v: unknown, what: string): Buffer {
  const s = str(v, what);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new BadEntry(`${what}: failed parsing base64 data`);
  return Buffer.from(s, "base64");
}

/** Decodes DSSE's base64 (standard, or URL-safe as Go's dsse library also accepts). */
function dsseB64(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) throw new BadEntry(`${what}: illegal base64 data`);
  return Buffer.from(s, /[-_]/.test(s) ? "base64url" : "base64");
}

function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A PEM public key or certificate, parsed, and re-encoded as Rekor's `CanonicalValue`. */
function canonicalPem(pemBytes: Buffer, what: string): { key: KeyObject; pem: string } {
  const text = pemBytes.toString("utf8");
  try {
    if (text.includes("-----BEGIN CERTIFICATE-----")) {
      const cert = new X509Certificate(text);
      return { key: cert.publicKey, pem: cert.toString() };
    }
    const key = createPublicKey(text);
    return { key, pem: key.export({ format: "pem", type: "spki" }).toString() };
  } catch (e) {
    throw new BadEntry(`${what}: invalid public key: ${(e as Error).message}`);
  }
}

function pae(payloadType: string, payload: Buffer): Buffer {
  const t = Buffer.from(payloadType, "utf8");
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${t.length} `),
    t,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

function dsseVerifies(key: KeyObject, message: Buffer, sig: Buffer): boolean {
  try {
    const alg = key.asymmetricKeyType === "ed25519" ? null : "sha256";
    return verify(alg, message, key, sig);
  } catch {
    return false;
  }
}

/** The in-toto subject digests (`alg:hex`) of a payload, for the index; none if not in-toto. */
function subjectKeys(payloadType: string, payload: Buffer): string[] {
  if (payloadType !== "application/vnd.in-toto+json") return [];
  try {
    const st = JSON.parse(payload.toString("utf8"));
    const keys: string[] = [];
    for (const s of Array.isArray(st?.subject) ? st.subject : []) {
      for (const [alg, hex] of Object.entries(s?.digest ?? {})) {
        if (typeof hex === "string") keys.push(`${alg}:${hex}`.toLowerCase());
      }
    }
    return keys;
  } catch {
    return [];
  }
}

interface Canonical {
  /** The body to log (its JCS is what the mock stores). */
  body: unknown;
  /** Index keys (`sha256:<hex>` …). */
  keys: string[];
}

function canonicalHashedRekord(spec: Json): Canonical {
  const hash = obj(obj(spec.data, "data").hash, "data.hash");
  const algorithm = str(hash.algorithm, "data.hash.algorithm");
  const value = str(hash.value, "data.hash.value").toLowerCase();
  if (!["sha256", "sha384", "sha512"].includes(algorithm)) {
    throw new BadEntry(`data.hash.algorithm ${algorithm} is not supported`);
  }
  const sig = obj(spec.signature, "signature");
  const content = b64(sig.content, "signature.content");
  const pem = canonicalPem(
    b64(obj(sig.publicKey, "signature.publicKey").content, "publicKey.content"),
    "signature.publicKey",
  );
  return {
    body: {
      apiVersion: "0.0.1",
      kind: "hashedrekord",
      spec: {
        data: { hash: { algorithm, value } },
        signature: {
          content: content.toString("base64"),
          publicKey: { content: Buffer.from(pem.pem).toString("base64") },
        },
      },
    },
    keys: [`${algorithm}:${value}`],
  };
}

function canonicalDsse(spec: Json): Canonical {
  if (spec.envelopeHash !== undefined || spec.payloadHash !== undefined || spec.signatures) {
    throw new BadEntry(
      "either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both",
    );
  }
  const proposed = obj(spec.proposedContent, "proposedContent");
  const envelopeText = str(proposed.envelope, "proposedContent.envelope");
  let env: Json;
  try {
    env = obj(JSON.parse(envelopeText), "envelope");
  } catch (e) {
    throw new BadEntry(e instanceof BadEntry ? e.message : "envelope is not JSON");
  }
  const verifiers = Array.isArray(proposed.verifiers) ? proposed.verifiers : [];
  if (verifiers.length === 0) throw new BadEntry("proposedContent.verifiers missing");
  const keys = verifiers.map((v, i) => canonicalPem(b64(v, `verifiers[${i}]`), `verifiers[${i}]`));
  const payloadType = str(env.payloadType, "envelope.payloadType");
  const payload = dsseB64(str(env.payload, "envelope.payload"), "envelope.payload");
  const sigs = Array.isArray(env.signatures) ? env.signatures : [];
  if (sigs.length === 0) throw new BadEntry("DSSE envelope must contain 1 or more signatures");
  const message = pae(payloadType, payload);
  const signatures = sigs.map((s, i) => {
    const text = str(obj(s, `signatures[${i}]`).sig, `signatures[${i}].sig`);
    const key = keys.find((k) => dsseVerifies(k.key, message, dsseB64(text, "sig")));
    if (!key) throw new BadEntry("all signatures must have a key that verifies it");
    return { signature: text, verifier: Buffer.from(key.pem).toString("base64") };
  }).sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
  const payloadHash = sha256Hex(payload);
  const envelopeHash = sha256Hex(envelopeText);
  return {
    body: {
      apiVersion: "0.0.1",
      kind: "dsse",
      spec: {
        envelopeHash: { algorithm: "sha256", value: envelopeHash },
        payloadHash: { algorithm: "sha256", value: payloadHash },
        signatures,
      },
    },
    keys: [`sha256:${payloadHash}`, `sha256:${envelopeHash}`, ...subjectKeys(payloadType, payload)],
  };
}

function canonicalIntoto002(spec: Json): Canonical {
  const content = obj(spec.content, "content");
  const env = obj(content.envelope, "content.envelope");
  const hash = obj(content.hash, "content.hash");
  if (hash.algorithm !== "sha256") throw new BadEntry("content.hash.algorithm must be sha256");
  const hashValue = str(hash.value, "content.hash.value");
  const payloadType = str(env.payloadType, "envelope.payloadType");
  // `payload` and `sig` are Go []byte holding the envelope's base64 text: base64 of base64.
  const payload = dsseB64(
    b64(env.payload, "envelope.payload").toString("latin1"),
    "envelope.payload",
  );
  const sigs = Array.isArray(env.signatures) ? env.signatures : [];
  if (sigs.length === 0) throw new BadEntry("missing signatures content");
  const parsed = sigs.map((s, i) => {
    const o = obj(s, `signatures[${i}]`);
    const sig = b64(o.sig, `signatures[${i}].sig`);
    const pemBytes = b64(o.publicKey, `signatures[${i}].publicKey`);
    return {
      keyid: typeof o.keyid === "string" ? o.keyid : "",
      sig,
      publicKey: pemBytes,
      key: canonicalPem(pemBytes, `signatures[${i}].publicKey`).key,
    };
  });
  const message = pae(payloadType, payload);
  for (const s of parsed) {
    const raw = dsseB64(s.sig.toString("latin1"), "sig");
    if (!parsed.some((k) => dsseVerifies(k.key, message, raw))) {
      throw new BadEntry("all signatures must have a key that verifies it");
    }
  }
  const payloadHash = sha256Hex(payload);
  return {
    body: {
      apiVersion: "0.0.2",
      kind: "intoto",
      spec: {
        content: {
          envelope: {
            payloadType,
            signatures: parsed.map((s) => ({
              ...(s.keyid ? { keyid: s.keyid } : {}),
              publicKey: s.publicKey.toString("base64"),
              sig: s.sig.toString("base64"),
            })),
          },
          hash: { algorithm: "sha256", value: hashValue },
          payloadHash: { algorithm: "sha256", value: payloadHash },
        },
      },
    },
    keys: [`sha256:${payloadHash}`, ...subjectKeys(payloadType, payload)],
  };
}

/** Rekor's stored form of a proposed entry (kinds we know), or the entry as sent. */
function canonicalize(proposed: unknown): Canonical {
  const e = obj(proposed, "proposed entry");
  const kind = `${e.kind}/${e.apiVersion}`;
  if (kind === "hashedrekord/0.0.1") return canonicalHashedRekord(obj(e.spec, "spec"));
  if (kind === "dsse/0.0.1") return canonicalDsse(obj(e.spec, "spec"));
  if (kind === "intoto/0.0.2") return canonicalIntoto002(obj(e.spec, "spec"));
  return { body: proposed, keys: [] };
}

/** Starts a fake Rekor; see the module documentation. */
export async function startRekor(): Promise<Rekor> {
  const requests: RekorRequest[] = [];
  const entries = new Map<string, MockLogEntry>();
  const byIndex = new Map<number, string>();
  const index = new Map<string, string[]>();
  const keyPair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = new Uint8Array(keyPair.publicKey.export({ format: "der", type: "spki" }));
  const publicKeyPem = keyPair.publicKey.export({ format: "pem", type: "spki" }).toString();
  const logId = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  const logIdHex = logId.toHex();

  const json = (value: unknown, status = 200, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(value), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  const rekorError = (status: number, message: string, headers: Record<string, string> = {}) =>
    json({ code: status, message }, status, headers);
  const found = (uuid: string) => json({ [uuid]: entries.get(uuid)! });

  let handler: ReturnType<typeof rekorHandler> | undefined;
  const create = async (body: string): Promise<Response> => {
    let canonical: Canonical;
    try {
      canonical = canonicalize(JSON.parse(body));
    } catch (e) {
      if (e instanceof BadEntry || e instanceof SyntaxError) {
        return new Response(e.message, { status: 400 });
      }
      throw e;
    }
    const r = await handler!.fn(JSON.stringify(canonical.body));
    if (r.statusCode !== 201) return new Response(String(r.response), { status: r.statusCode });
    const answer = JSON.parse(String(r.response)) as Record<string, MockLogEntry>;
    const entry = Object.values(answer)[0]!;
    const leaf = createHash("sha256").update(Buffer.from([0])).update(
      Buffer.from(entry.body, "base64"),
    ).digest("hex");
    const location = `${REKOR_ENTRIES_PATH}/${leaf}`;
    if (entries.has(leaf)) {
      return rekorError(
        409,
        `An equivalent entry already exists in the transparency log with UUID ${leaf}`,
        { location },
      );
    }
    entries.set(leaf, entry);
    byIndex.set(entry.logIndex, leaf);
    for (const k of new Set(canonical.keys)) index.set(k, [...(index.get(k) ?? []), leaf]);
    return json({ [leaf]: entry }, 201, { location });
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const body = req.body ? await req.text() : "";
    requests.push({ method: req.method, path: u.pathname + u.search, body });
    if (u.pathname === "/api/v1/log/publicKey" && req.method === "GET") {
      return new Response(publicKeyPem, { headers: { "content-type": "application/x-pem-file" } });
    }
    if (handler === undefined) return new Response("not found\n", { status: 404 });
    if (u.pathname === REKOR_ENTRIES_PATH) {
      if (req.method === "POST") return await create(body);
      if (req.method !== "GET") {
        return new Response("method not allowed\n", {
          status: 405,
          headers: { allow: "GET, POST" },
        });
      }
      const n = u.searchParams.get("logIndex");
      if (n === null || !/^\d+$/.test(n)) {
        return rekorError(400, "logIndex in query is required and must be an integer");
      }
      const uuid = byIndex.get(Number(n));
      return uuid ? found(uuid) : rekorError(404, `no entry at log index ${n}`);
    }
    const m = /^\/api\/v1\/log\/entries\/([0-9a-fA-F]+)$/.exec(u.pathname);
    if (m && req.method === "GET") {
      const id = m[1]!.toLowerCase();
      if (id.length !== 64 && id.length !== 80) {
        return rekorError(400, `invalid entry UUID ${m[1]}`);
      }
      const uuid = id.slice(-64);
      return entries.has(uuid) ? found(uuid) : rekorError(404, `no entry with UUID ${m[1]}`);
    }
    if (u.pathname === REKOR_INDEX_PATH && req.method === "POST") {
      let hash: unknown;
      try {
        hash = JSON.parse(body)?.hash;
      } catch {
        return rekorError(400, "the search query is not JSON");
      }
      if (typeof hash !== "string") return rekorError(400, "only hash searches are supported");
      let key = hash.toLowerCase();
      if (/^[0-9a-f]{64}$/.test(key)) key = `sha256:${key}`;
      if (!/^sha(256|384|512):[0-9a-f]+$/.test(key)) {
        return rekorError(400, `invalid hash ${JSON.stringify(hash)}`);
      }
      return json(index.get(key) ?? []);
    }
    return new Response("not found\n", { status: 404 });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  let rootDir: string | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await server.shutdown();
      if (rootDir !== undefined) await Deno.remove(rootDir, { recursive: true }).catch(() => {});
    })();
  try {
    handler = rekorHandler(await initializeTLog(url, keyPair));
    rootDir = await Deno.makeTempDir({ prefix: "cosign-rekor-" });
    const trustedRootPath = `${rootDir}/trusted_root.json`;
    const trustedRoot = {
      mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
      tlogs: [{
        baseUrl: url,
        hashAlgorithm: "SHA2_256",
        publicKey: {
          rawBytes: der.toBase64(),
          keyDetails: "PKIX_ECDSA_P256_SHA_256",
          validFor: { start: REKOR_VALID_FROM },
        },
        logId: { keyId: logId.toBase64() },
      }],
      certificateAuthorities: [],
      ctlogs: [],
      timestampAuthorities: [],
    };
    await Deno.writeTextFile(trustedRootPath, JSON.stringify(trustedRoot, null, 2) + "\n");
    return {
      url,
      publicKeyPem,
      logIdHex,
      trustedRootPath,
      requests,
      entries,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
