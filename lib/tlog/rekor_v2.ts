/**
 * Uploads to a Rekor v2 log (rekor-tiles, cosign-spec §6 and §15): `POST /api/v2/log/entries`
 * with the protojson of a `dev.sigstore.rekor.v2.CreateEntryRequest`, answered `201` with the
 * protojson of a `dev.sigstore.rekor.v1.TransparencyLogEntry` (log index, log ID, kind and
 * version, canonicalized body, an inclusion proof with its signed checkpoint; no SET and no
 * integrated time).
 *
 * Rekor v2 logs only `hashedrekord` 0.0.2 entries (`hashedRekordRequestV002`: the digest the
 * signature is over, the signature, and a verifier holding the PKIX public key or the DER
 * certificate with its `keyDetails`). A DSSE envelope is logged, as sigstore-go does, as a
 * `hashedrekord` 0.0.2 entry over the digest of the envelope's PAE with its first signature
 * (the `dsseRequestV002` form is deprecated, and current rekor-tiles refuses it).
 *
 * The answer is checked before it is returned, as {@link checkUploadedEntry} does for v1: its
 * body must be the entry sent (same digest, signature, key or certificate and key details), the
 * inclusion proof must lead from the body's leaf hash to the checkpoint's root, and with a
 * trusted root the checkpoint must be signed by the log the trusted root names for the entry's
 * log ID.
 * @module
 */

import { createHash, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { Buffer } from "node:buffer";
import { CosignError } from "../errors.ts";
import { toBase64, toHex } from "../crypto/encoding.ts";
import { parsePublicKeyPem, spkiDer } from "../crypto/keys.ts";
import { bytesEqual, decodeProtoBytes, toUint } from "./bytes.ts";
import {
  checkCheckpointMatchesProof,
  parseCheckpoint,
  parseSignedNote,
  verifyCheckpoint,
} from "./checkpoint.ts";
import { leafHash, verifyInclusion } from "./merkle.ts";
import { findTlog, type TrustedRoot } from "../trust/trusted_root.ts";

/** The path of Rekor v2's create-entry endpoint. */
export const REKOR_V2_ENTRIES_PATH = "/api/v2/log/entries";

/** The key or certificate an entry names (`Verifier`). */
export type RekorV2VerifierInput =
  | {
    /** A PKIX `PUBLIC KEY` PEM (sent as its DER). */
    readonly publicKeyPem: string;
  }
  | {
    /** The signing certificate, DER. */
    readonly certificateDer: Uint8Array;
  };

/** What to log: a signature over a digest, or a DSSE envelope. */
export type RekorV2Request =
  | {
    /** A signature over an artifact digest (`sign-blob`, image signatures). */
    readonly type: "hashedrekord";
    /** The digest the signature is over; its size must fit the key's hash. */
    readonly digest: Uint8Array;
    /** The signature (DER for ECDSA). */
    readonly signature: Uint8Array;
    /** The key or certificate. */
    readonly verifier: RekorV2VerifierInput;
    /** Overrides the key details derived from the key (e.g. `PKIX_ED25519_PH`). */
    readonly keyDetails?: string;
  }
  | {
    /** A DSSE envelope (attestations), logged as a hashedrekord over its PAE digest. */
    readonly type: "dsse";
    /** The envelope JSON bytes; its first signature is logged. */
    readonly envelope: Uint8Array;
    /** The key or certificate. */
    readonly verifier: RekorV2VerifierInput;
    /** Overrides the key details derived from the key. */
    readonly keyDetails?: string;
  };

/** Options of {@link uploadRekorV2}. */
export interface RekorV2UploadOptions {
  /** The log's base URL (a signing config's Rekor v2 `url`). */
  readonly url: string;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /**
   * Trust material naming the log; with it the checkpoint signature is verified with the log
   * key (an unknown log ID is refused). Without it only the body and the proof are checked.
   */
  readonly trustedRoot?: Pick<TrustedRoot, "tlogs"> | undefined;
  /** Attempts on network errors, 429 and 5xx answers (default 3). */
  readonly attempts?: number;
  /** Delay before the first retry, doubled after each (default 250 ms). */
  readonly retryDelayMs?: number;
  /** Timeout of one request (default 30 s). */
  readonly timeoutMs?: number;
}

/** A Rekor v2 inclusion proof, decoded. */
export interface RekorV2InclusionProof {
  /** The leaf index (Rekor v2: the same as the entry's log index). */
  readonly logIndex: bigint;
  /** The root hash of the tree the proof is for. */
  readonly rootHash: Uint8Array;
  /** The tree size. */
  readonly treeSize: bigint;
  /** The audit path, leaf to root. */
  readonly hashes: readonly Uint8Array[];
  /** The signed checkpoint note. */
  readonly checkpoint: string;
}

/** A Rekor v2 entry as the log returned it, checked; what a v0.3 bundle records. */
export interface RekorV2Entry {
  /** The log's URL, for messages. */
  readonly url: string;
  /** The log index. */
  readonly logIndex: bigint;
  /** The log ID (the log key's note key ID). */
  readonly logId: Uint8Array;
  /** `{kind: "hashedrekord", version: "0.0.2"}`. */
  readonly kindVersion: { readonly kind: string; readonly version: string };
  /** Always 0: Rekor v2 gives no integrated time (timestamps come from a TSA). */
  readonly integratedTime: 0;
  /** The inclusion proof with its checkpoint. */
  readonly inclusionProof: RekorV2InclusionProof;
  /** The canonicalized body (the Merkle leaf). */
  readonly canonicalizedBody: Uint8Array;
}

type Json = Record<string, unknown>;

/** The digest a key-details value signs over. */
export interface RekorV2Algorithm {
  /** The hash, as `node:crypto` names it. */
  readonly hash: "sha256" | "sha384" | "sha512";
  /** The protobuf-specs `HashAlgorithm` name, e.g. `SHA2_256`. */
  readonly proto: string;
}

const SHA256: RekorV2Algorithm = { hash: "sha256", proto: "SHA2_256" };
const SHA384: RekorV2Algorithm = { hash: "sha384", proto: "SHA2_384" };
const SHA512: RekorV2Algorithm = { hash: "sha512", proto: "SHA2_512" };

/** The hash each key-details value signs with (protobuf-specs `PublicKeyDetails`). */
export const REKOR_V2_KEY_DETAILS: Readonly<Record<string, RekorV2Algorithm>> = {
  PKIX_ECDSA_P256_SHA_256: SHA256,
  PKIX_ECDSA_P384_SHA_384: SHA384,
  PKIX_ECDSA_P521_SHA_512: SHA512,
  PKIX_RSA_PKCS1V15_2048_SHA256: SHA256,
  PKIX_RSA_PKCS1V15_3072_SHA256: SHA256,
  PKIX_RSA_PKCS1V15_4096_SHA256: SHA256,
  PKIX_ED25519_PH: SHA512,
};

function usage(message: string): never {
  throw new CosignError("USAGE", message);
}

/**
 * The default key details of a key, as sigstore-go picks them for Rekor v2.
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { rekorV2KeyDetails } from "@cosign-deno/cosign";
 * const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
 * rekorV2KeyDetails(publicKey); // "PKIX_ECDSA_P384_SHA_384"
 * ```
 */
export function rekorV2KeyDetails(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === "prime256v1") return "PKIX_ECDSA_P256_SHA_256";
      if (curve === "secp384r1") return "PKIX_ECDSA_P384_SHA_384";
      if (curve === "secp521r1") return "PKIX_ECDSA_P521_SHA_512";
      return usage(`Rekor v2 does not accept ECDSA keys on curve ${curve ?? "unknown"}`);
    }
    case "rsa": {
      const bits = key.asymmetricKeyDetails?.modulusLength;
      if (bits === 2048 || bits === 3072 || bits === 4096) {
        return `PKIX_RSA_PKCS1V15_${bits}_SHA256`;
      }
      return usage(`Rekor v2 does not accept ${bits ?? "unknown"}-bit RSA keys`);
    }
    case "ed25519":
      return "PKIX_ED25519_PH";
    default:
      return usage(`Rekor v2 does not accept ${key.asymmetricKeyType} keys`);
  }
}

interface Prepared {
  /** The protojson `CreateEntryRequest`. */
  readonly request: Json;
  readonly digest: Uint8Array;
  readonly algorithm: RekorV2Algorithm;
  readonly signature: Uint8Array;
  readonly keyDetails: string;
  readonly verifierKind: "publicKey" | "x509Certificate";
  readonly verifierBytes: Uint8Array;
}

function verifierOf(input: RekorV2VerifierInput): {
  kind: "publicKey" | "x509Certificate";
  der: Uint8Array;
  key: KeyObject;
} {
  if ("certificateDer" in input) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(input.certificateDer));
    } catch {
      return usage("Cannot log to Rekor v2: the certificate is not DER X.509");
    }
    return { kind: "x509Certificate", der: input.certificateDer, key: cert.publicKey };
  }
  const key = parsePublicKeyPem(input.publicKeyPem, "the signing key");
  return { kind: "publicKey", der: spkiDer(key), key };
}

function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const t = enc.encode(payloadType);
  return new Uint8Array(Buffer.concat([
    enc.encode(`DSSEv1 ${t.length} `),
    t,
    enc.encode(` ${payload.length} `),
    payload,
  ]));
}

function dsseParts(envelope: Uint8Array): { pae: Uint8Array; signature: Uint8Array } {
  let env: Json;
  try {
    env = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(envelope));
  } catch {
    return usage("Cannot log to Rekor v2: the DSSE envelope is not JSON");
  }
  const payload = typeof env?.payload === "string" ? decodeProtoBytes(env.payload) : undefined;
  const sigs = Array.isArray(env?.signatures) ? env.signatures as Json[] : [];
  const first = sigs[0]?.sig;
  const signature = typeof first === "string" ? decodeProtoBytes(first) : undefined;
  if (typeof env?.payloadType !== "string" || payload === undefined) {
    return usage("Cannot log to Rekor v2: the DSSE envelope has no payload or payload type");
  }
  if (signature === undefined || signature.length === 0) {
    return usage("Cannot log to Rekor v2: the DSSE envelope has no signature");
  }
  return { pae: pae(env.payloadType, payload), signature };
}

/**
 * The protojson `CreateEntryRequest` for `input` (a `hashedRekordRequestV002`), with what the
 * answer must record.
 * @throws {CosignError} `USAGE` for a key Rekor v2 does not take, or a digest of the wrong size
 */
function prepare(input: RekorV2Request): Prepared {
  const v = verifierOf(input.verifier);
  const keyDetails = input.keyDetails ?? rekorV2KeyDetails(v.key);
  const algorithm = REKOR_V2_KEY_DETAILS[keyDetails];
  if (algorithm === undefined) usage(`Rekor v2 does not accept key details ${keyDetails}`);
  let digest: Uint8Array;
  let signature: Uint8Array;
  if (input.type === "dsse") {
    const parts = dsseParts(input.envelope);
    digest = new Uint8Array(createHash(algorithm.hash).update(parts.pae).digest());
    signature = parts.signature;
  } else {
    digest = input.digest;
    signature = input.signature;
    const size = createHash(algorithm.hash).digest().length;
    if (digest.length !== size) {
      usage(
        `Cannot log to Rekor v2: a ${keyDetails} signature is over a ${size}-byte ${algorithm.hash} digest, not ${digest.length} bytes`,
      );
    }
  }
  if (signature.length === 0) usage("Cannot log to Rekor v2: the signature is empty");
  const request = {
    hashedRekordRequestV002: {
      digest: toBase64(digest),
      signature: {
        content: toBase64(signature),
        verifier: { [v.kind]: { rawBytes: toBase64(v.der) }, keyDetails },
      },
    },
  };
  return {
    request,
    digest,
    algorithm,
    signature,
    keyDetails,
    verifierKind: v.kind,
    verifierBytes: v.der,
  };
}

function at(obj: unknown, ...path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    cur = typeof cur === "object" && cur !== null && !Array.isArray(cur)
      ? (cur as Json)[p]
      : undefined;
  }
  return cur;
}

/** A protojson bytes field, or undefined. */
function bytesAt(obj: unknown, ...path: string[]): Uint8Array | undefined {
  const v = at(obj, ...path);
  return typeof v === "string" ? decodeProtoBytes(v) : undefined;
}

/** The key a verifier's DER names, comparable across encodings (certificate DER, SPKI). */
function sameVerifierBytes(kind: string, a: Uint8Array, b: Uint8Array): boolean {
  if (bytesEqual(a, b)) return true;
  if (kind !== "publicKey") return false;
  try {
    const ka = createPublicKey({ key: Buffer.from(a), format: "der", type: "spki" });
    const kb = createPublicKey({ key: Buffer.from(b), format: "der", type: "spki" });
    return bytesEqual(spkiDer(ka), spkiDer(kb));
  } catch {
    return false;
  }
}

/** The reason `body` does not record `p`, or undefined. */
function bodyMismatch(p: Prepared, body: unknown): string | undefined {
  const found = `${String(at(body, "kind"))} ${String(at(body, "apiVersion"))}`;
  if (found !== "hashedrekord 0.0.2") return `a ${found} entry, not hashedrekord 0.0.2`;
  const spec = at(body, "spec", "hashedRekordV002");
  if (at(spec, "data", "algorithm") !== p.algorithm.proto) {
    return `digest algorithm ${String(at(spec, "data", "algorithm"))}, not ${p.algorithm.proto}`;
  }
  const digest = bytesAt(spec, "data", "digest");
  if (digest === undefined || !bytesEqual(digest, p.digest)) {
    return `another digest (${digest ? toHex(digest) : "none"}, expected ${toHex(p.digest)})`;
  }
  const sig = bytesAt(spec, "signature", "content");
  if (sig === undefined || !bytesEqual(sig, p.signature)) return "another signature";
  const verifier = at(spec, "signature", "verifier");
  const raw = bytesAt(verifier, p.verifierKind, "rawBytes");
  if (raw === undefined || !sameVerifierBytes(p.verifierKind, raw, p.verifierBytes)) {
    return p.verifierKind === "publicKey" ? "another key" : "another certificate";
  }
  if (at(verifier, "keyDetails") !== p.keyDetails) {
    return `key details ${String(at(verifier, "keyDetails"))}, not ${p.keyDetails}`;
  }
  return undefined;
}

function invalid(prefix: string, why: string): never {
  throw new CosignError("TLOG_INVALID", `${prefix}: ${why}`);
}

function int64At(prefix: string, obj: unknown, what: string, ...path: string[]): bigint {
  const v = at(obj, ...path);
  // protojson leaves out zero values.
  if (v === undefined) return 0n;
  if (typeof v !== "string" && typeof v !== "number") invalid(prefix, `${what} is not an integer`);
  return toUint(v, what, "TLOG_INVALID");
}

/**
 * Checks and decodes a `TransparencyLogEntry` answered for `p`.
 * @throws {CosignError} `TLOG_INVALID`, `TLOG_BODY_MISMATCH`, `TLOG_UNTRUSTED`
 */
function checkAnswer(
  p: Prepared,
  answer: unknown,
  url: string,
  trustedRoot: Pick<TrustedRoot, "tlogs"> | undefined,
): RekorV2Entry {
  const prefix = `Rekor v2 at ${url} answered the upload with an entry`;
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) {
    invalid(prefix, "the answer is not a JSON object");
  }
  const body = bytesAt(answer, "canonicalizedBody");
  if (body === undefined || body.length === 0) invalid(prefix, "it has no canonicalized body");
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    invalid(prefix, "its canonicalized body is not JSON");
  }
  const why = bodyMismatch(p, parsed);
  if (why !== undefined) {
    throw new CosignError("TLOG_BODY_MISMATCH", `${prefix} that records ${why}`);
  }
  const kind = at(answer, "kindVersion", "kind");
  const version = at(answer, "kindVersion", "version");
  if (kind !== "hashedrekord" || version !== "0.0.2") {
    invalid(
      prefix,
      `its kindVersion is ${String(kind)} ${String(version)}, its body hashedrekord 0.0.2`,
    );
  }
  const logId = bytesAt(answer, "logId", "keyId");
  if (logId === undefined || logId.length === 0) invalid(prefix, "it has no log ID");
  const logIndex = int64At(prefix, answer, "log index", "logIndex");
  const proofJson = at(answer, "inclusionProof");
  if (proofJson === undefined) invalid(prefix, "it has no inclusion proof");
  const proofIndex = int64At(prefix, proofJson, "inclusion proof log index", "logIndex");
  const treeSize = int64At(prefix, proofJson, "inclusion proof tree size", "treeSize");
  const rootHash = bytesAt(proofJson, "rootHash");
  const hashesJson = at(proofJson, "hashes") ?? [];
  const hashes = Array.isArray(hashesJson)
    ? hashesJson.map((h) => typeof h === "string" ? decodeProtoBytes(h) : undefined)
    : [undefined];
  const checkpoint = at(proofJson, "checkpoint", "envelope");
  if (rootHash === undefined) invalid(prefix, "its inclusion proof has no root hash");
  if (hashes.some((h) => h === undefined)) {
    invalid(prefix, "its inclusion proof hashes are not base64");
  }
  if (typeof checkpoint !== "string" || checkpoint === "") {
    invalid(prefix, "its inclusion proof has no checkpoint");
  }
  if (proofIndex !== logIndex) {
    invalid(prefix, `its log index ${logIndex} is not its inclusion proof's ${proofIndex}`);
  }
  const proof = { logIndex, rootHash, treeSize, hashes: hashes as Uint8Array[], checkpoint };
  try {
    verifyInclusion(leafHash(body), logIndex, treeSize, proof.hashes, rootHash);
    const cp = trustedRoot === undefined
      ? parseCheckpoint(parseSignedNote(checkpoint).text)
      : verifyCheckpoint(checkpoint, findTlog(trustedRoot, logId));
    checkCheckpointMatchesProof(cp, { treeSize, rootHash });
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    throw new CosignError(e.code, `${prefix} that does not verify: ${e.message}`);
  }
  return {
    url,
    logIndex,
    logId,
    kindVersion: { kind, version },
    integratedTime: 0,
    inclusionProof: proof,
    canonicalizedBody: body,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function firstLine(text: string): string {
  const line = text.trim().split("\n")[0] ?? "";
  return line.length > 200 ? line.slice(0, 200) + "…" : line;
}

/** The message of a grpc-gateway error answer (`{code, message}`), else the first line. */
function errorText(text: string): string {
  try {
    const j = JSON.parse(text);
    if (typeof j?.message === "string" && j.message !== "") return firstLine(j.message);
  } catch {
    // not JSON
  }
  return firstLine(text);
}

/**
 * Logs a signature in a Rekor v2 log and returns the checked entry.
 * @param options the log URL, an optional `fetch`, and the trusted root naming the log
 * @param request a signature over a digest, or a DSSE envelope
 * @returns the entry, checked: it records `request`, its inclusion proof leads to its
 *   checkpoint, and with `options.trustedRoot` the checkpoint is signed by the log
 * @throws {CosignError} `USAGE` for a key or digest Rekor v2 does not take; `TLOG_UNAVAILABLE`
 *   when the log cannot be reached or refuses the entry (after retries on 429/5xx);
 *   `TLOG_BODY_MISMATCH` when the answer records something else; `TLOG_INVALID` for a
 *   malformed answer, a proof or checkpoint that does not verify; `TLOG_UNTRUSTED` for a log
 *   the trusted root does not list
 * @example
 * ```ts
 * import { bundleV03Json, loadSigner, parseTrustedRoot, uploadRekorV2 } from "@cosign-deno/cosign";
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const blob = await Deno.readFile("app.tar.gz");
 * const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", blob));
 * const signature = await signer.sign(blob);
 * const trustedRoot = parseTrustedRoot(await Deno.readFile("trusted_root.json"));
 * const entry = await uploadRekorV2({ url: "https://log2025-1.rekor.sigstore.dev", trustedRoot }, {
 *   type: "hashedrekord",
 *   digest,
 *   signature,
 *   verifier: { publicKeyPem: await signer.publicKeyPem() },
 * });
 * bundleV03Json({
 *   content: { type: "messageSignature", digest: { algorithm: "sha256", bytes: digest }, signature },
 *   verificationMaterial: { type: "publicKey", publicKeyPem: await signer.publicKeyPem() },
 *   tlogEntryV2: entry,
 * });
 * ```
 */
export async function uploadRekorV2(
  options: RekorV2UploadOptions,
  request: RekorV2Request,
): Promise<RekorV2Entry> {
  const prepared = prepare(request);
  const base = options.url.replace(/\/+$/, "");
  const endpoint = base + REKOR_V2_ENTRIES_PATH;
  const doFetch = options.fetch ?? fetch;
  const attempts = Math.max(1, options.attempts ?? 3);
  let delay = options.retryDelayMs ?? 250;
  const payload = JSON.stringify(prepared.request);
  let last = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) {
      await sleep(delay);
      delay *= 2;
    }
    let res: Response;
    try {
      res = await doFetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: payload,
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (e) {
      if (e instanceof CosignError) throw e; // the command's deadline passed
      last = e instanceof Error ? e.message : String(e);
      continue;
    }
    const text = await res.text();
    if (res.status === 201 || res.status === 200) {
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        throw new CosignError(
          "TLOG_INVALID",
          `Rekor v2 at ${base} sent an answer that is not JSON`,
        );
      }
      return checkAnswer(prepared, answer, base, options.trustedRoot);
    }
    last = `HTTP ${res.status}${errorText(text) ? ` ${errorText(text)}` : ""}`;
    if (res.status === 409) {
      const index = res.headers.get("x-log-index");
      throw new CosignError(
        "TLOG_UNAVAILABLE",
        `Rekor v2 at ${base} already holds this entry${
          index ? ` (log index ${index})` : ""
        } and does not return existing entries: sign again`,
      );
    }
    if (res.status !== 429 && res.status < 500) {
      throw new CosignError("TLOG_UNAVAILABLE", `Rekor v2 at ${base} refused the entry: ${last}`);
    }
  }
  throw new CosignError(
    "TLOG_UNAVAILABLE",
    `Cannot upload to Rekor v2 at ${base} (${attempts} attempts): ${last}`,
  );
}

/**
 * The leaf hash of an entry (hex), its identity in the log.
 * @example
 * ```ts
 * import { rekorV2LeafHashHex } from "@cosign-deno/cosign";
 * const body = new TextEncoder().encode('{"apiVersion":"0.0.2","kind":"hashedrekord"}');
 * rekorV2LeafHashHex({ canonicalizedBody: body }); // SHA-256 of 0x00 || body, hex
 * ```
 */
export function rekorV2LeafHashHex(entry: Pick<RekorV2Entry, "canonicalizedBody">): string {
  return toHex(leafHash(entry.canonicalizedBody));
}
