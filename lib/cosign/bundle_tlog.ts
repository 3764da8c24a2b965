/**
 * The transparency-log entries of a bundle, verified offline (cosign-spec §6.5–6.7): each entry's
 * canonicalized body must describe the bundle's content (same digest, signature and key:
 * hashedrekord 0.0.1/0.0.2, dsse 0.0.1, intoto 0.0.1/0.0.2), and its SET and/or inclusion proof
 * with a signed checkpoint must verify against a log of the trusted root.
 *
 * For DSSE entries the envelope hash (sha256 of the envelope bytes as uploaded, §14 gotcha 9)
 * is only checked when the bundle carries those exact bytes (legacy bundles); a protojson bundle
 * holds a re-serialised envelope, so, like sigstore-js, only the payload hash, signatures and
 * keys are compared.
 * @module
 */

import { CosignError, type ErrorCode } from "../errors.ts";
import { toHex } from "../crypto/encoding.ts";
import { certificateSpki } from "../crypto/der.ts";
import { parsePublicKeyPem, spkiDer } from "../crypto/keys.ts";
import type { DigestAlgorithm } from "../crypto/prehashed.ts";
import { bytesEqual, decodeProtoBytes } from "../tlog/bytes.ts";
import { leafHash, verifyInclusion } from "../tlog/merkle.ts";
import { verifySet } from "../tlog/set.ts";
import { checkCheckpointMatchesProof, verifyCheckpoint } from "../tlog/checkpoint.ts";
import { findTlog, type TransparencyLog, type TrustedRoot } from "../trust/trusted_root.ts";
import type { BundleContent, BundleTlogEntry } from "./bundle.ts";
import { pae } from "./dsse.ts";
import { digestOf, PROTO_HASH } from "./digests.ts";
import { oneLine } from "../text/escape.ts";

/** What was verified about one tlog entry. */
export interface TlogEntryCheck {
  /** The global log index. */
  readonly logIndex: bigint;
  /** The log's base URL from the trusted root. */
  readonly logUrl: string;
  /** The entry kind and version, e.g. `hashedrekord/0.0.1`. */
  readonly kindVersion: string;
  /** The integrated time, when the entry has one. */
  readonly integratedTime: Date | undefined;
  /** The SET verified. */
  readonly setVerified: boolean;
  /** The inclusion proof and its signed checkpoint verified. */
  readonly inclusionProofVerified: boolean;
}

function fail(code: ErrorCode, message: string): never {
  throw new CosignError(code, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The SPKI of a PEM (public key or certificate), for comparing keys in entry bodies. */
function pemSpki(pemBytes: Uint8Array, what: string): Uint8Array {
  const text = new TextDecoder().decode(pemBytes);
  try {
    return spkiDer(parsePublicKeyPem(text, what));
  } catch (e) {
    return fail("TLOG_BODY_MISMATCH", `${what} is not a PEM key or certificate (${errText(e)})`);
  }
}

function derSpki(der: Uint8Array, isCertificate: boolean, what: string): Uint8Array {
  if (!isCertificate) return der;
  const spki = certificateSpki(der);
  if (spki === undefined) fail("TLOG_BODY_MISMATCH", `${what} is not a DER certificate`);
  return spki;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Navigates a parsed body; `undefined` when a step is missing. */
export function at(obj: unknown, ...path: (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof p === "number") cur = Array.isArray(cur) ? cur[p] : undefined;
    else cur = isObject(cur) ? cur[p] : undefined;
  }
  return cur;
}

function bodyString(body: unknown, what: string, ...path: (string | number)[]): string {
  const v = at(body, ...path);
  if (typeof v !== "string" || v === "") {
    fail("TLOG_BODY_MISMATCH", `Transparency log entry body has no ${what}`);
  }
  return v;
}

function bodyBase64(body: unknown, what: string, ...path: (string | number)[]): Uint8Array {
  const bytes = decodeProtoBytes(bodyString(body, what, ...path));
  if (bytes === undefined) {
    fail("TLOG_BODY_MISMATCH", `Transparency log entry ${what} is not base64`);
  }
  return bytes;
}

/** The entry's kind and version as the bundle gives them, fit for one line of a message. */
function kindVersion(entry: BundleTlogEntry): string {
  return oneLine(`${entry.kind} ${entry.version}`, 100);
}

function mismatch(entry: BundleTlogEntry, what: string): never {
  fail(
    "TLOG_BODY_MISMATCH",
    `Transparency log entry ${entry.logIndex} (${
      kindVersion(entry)
    }) does not match the bundle: ${what}`,
  );
}

function checkHexHash(
  entry: BundleTlogEntry,
  body: unknown,
  what: string,
  expected: Uint8Array,
  ...path: string[]
): void {
  const alg = at(body, ...path, "algorithm");
  const value = at(body, ...path, "value");
  if (alg !== "sha256") mismatch(entry, `${what} algorithm is ${JSON.stringify(alg)}, not sha256`);
  if (typeof value !== "string" || value.toLowerCase() !== toHex(expected)) {
    mismatch(entry, `${what} is ${JSON.stringify(value)}, expected ${toHex(expected)}`);
  }
}

/** What a body must describe. */
export interface BodyContext {
  readonly content: BundleContent;
  /** For message signatures: the artifact digest the signature was verified against. */
  readonly digest: { alg: DigestAlgorithm; bytes: Uint8Array } | undefined;
  readonly keySpki: Uint8Array;
}

/**
 * Rekor v2 logs a DSSE envelope as a hashedrekord 0.0.2 entry: the digest of the envelope's PAE
 * and one of its signatures.
 */
function checkHashedRekordOverDsse(entry: BundleTlogEntry, body: unknown, ctx: BodyContext): void {
  if (ctx.content.type !== "dsseEnvelope" || entry.version !== "0.0.2") {
    mismatch(
      entry,
      "a hashedrekord 0.0.1 entry records a message signature, the bundle has a DSSE envelope",
    );
  }
  const { envelope } = ctx.content;
  const spec = at(body, "spec", "hashedRekordV002");
  const algName = String(at(spec, "data", "algorithm"));
  const alg = PROTO_HASH[algName];
  if (alg === undefined) mismatch(entry, `digest algorithm ${algName}`);
  const expected = digestOf(alg, pae(envelope.payloadType, envelope.payload));
  const digest = bodyBase64(spec, "digest", "data", "digest");
  if (!bytesEqual(digest, expected)) {
    mismatch(entry, `PAE digest ${toHex(digest)}, the envelope's is ${toHex(expected)}`);
  }
  const sig = bodyBase64(spec, "signature", "signature", "content");
  if (!envelope.signatures.some((s) => bytesEqual(s.sig, sig))) {
    mismatch(entry, "different signature");
  }
  checkV2Verifier(entry, at(spec, "signature", "verifier"), ctx.keySpki);
}

function checkHashedRekord(entry: BundleTlogEntry, body: unknown, ctx: BodyContext): void {
  if (ctx.content.type === "dsseEnvelope") return checkHashedRekordOverDsse(entry, body, ctx);
  if (ctx.digest === undefined) mismatch(entry, "the artifact digest is unknown");
  const { alg, bytes } = ctx.digest;
  if (entry.version === "0.0.1") {
    const bodyAlg = at(body, "spec", "data", "hash", "algorithm");
    const value = at(body, "spec", "data", "hash", "value");
    if (bodyAlg !== alg) mismatch(entry, `digest algorithm ${JSON.stringify(bodyAlg)}, not ${alg}`);
    if (typeof value !== "string" || value.toLowerCase() !== toHex(bytes)) {
      mismatch(entry, `artifact digest ${JSON.stringify(value)}, expected ${toHex(bytes)}`);
    }
    const sig = bodyBase64(body, "signature", "spec", "signature", "content");
    if (!bytesEqual(sig, ctx.content.signature)) mismatch(entry, "different signature");
    const pem = bodyBase64(body, "public key", "spec", "signature", "publicKey", "content");
    if (!bytesEqual(pemSpki(pem, "the entry's public key"), ctx.keySpki)) {
      mismatch(entry, "signed by a different key");
    }
    return;
  }
  // 0.0.2 (Rekor v2)
  const spec = at(body, "spec", "hashedRekordV002");
  const bodyAlg = PROTO_HASH[String(at(spec, "data", "algorithm"))];
  if (bodyAlg !== alg) mismatch(entry, `digest algorithm ${String(at(spec, "data", "algorithm"))}`);
  const digest = bodyBase64(spec, "digest", "data", "digest");
  if (!bytesEqual(digest, bytes)) mismatch(entry, `artifact digest ${toHex(digest)}`);
  const sig = bodyBase64(spec, "signature", "signature", "content");
  if (!bytesEqual(sig, ctx.content.signature)) mismatch(entry, "different signature");
  checkV2Verifier(entry, at(spec, "signature", "verifier"), ctx.keySpki);
}

function checkV2Verifier(entry: BundleTlogEntry, verifier: unknown, keySpki: Uint8Array): void {
  const keyBytes = at(verifier, "publicKey", "rawBytes");
  const certBytes = at(verifier, "x509Certificate", "rawBytes");
  const isCert = certBytes !== undefined;
  const b64 = isCert ? certBytes : keyBytes;
  const der = typeof b64 === "string" ? decodeProtoBytes(b64) : undefined;
  if (der === undefined) mismatch(entry, "the entry's verifier has no key or certificate");
  if (!bytesEqual(derSpki(der, isCert, "the entry's certificate"), keySpki)) {
    mismatch(entry, "signed by a different key");
  }
}

function checkDsseBody(entry: BundleTlogEntry, body: unknown, ctx: BodyContext): void {
  if (ctx.content.type !== "dsseEnvelope") {
    mismatch(
      entry,
      `a ${entry.kind} entry records a DSSE envelope, the bundle has a message signature`,
    );
  }
  const { envelope, envelopeBytes } = ctx.content;
  const payloadHash = digestOf("sha256", envelope.payload);
  const envSigs = envelope.signatures.map((s) => s.sig);
  const key = ctx.keySpki;
  if (entry.kind === "dsse") {
    checkHexHash(entry, body, "payload hash", payloadHash, "spec", "payloadHash");
    if (envelopeBytes !== undefined) {
      checkHexHash(
        entry,
        body,
        "envelope hash",
        digestOf("sha256", envelopeBytes),
        "spec",
        "envelopeHash",
      );
    }
    const sigs = at(body, "spec", "signatures");
    if (!Array.isArray(sigs) || sigs.length !== envSigs.length) {
      mismatch(
        entry,
        `${Array.isArray(sigs) ? sigs.length : 0} signatures, the envelope has ${envSigs.length}`,
      );
    }
    let signedByKey = false;
    sigs.forEach((_, i) => {
      const sig = bodyBase64(body, "signature", "spec", "signatures", i, "signature");
      if (!envSigs.some((s) => bytesEqual(s, sig))) mismatch(entry, "different signature");
      const pem = bodyBase64(body, "verifier", "spec", "signatures", i, "verifier");
      if (bytesEqual(pemSpki(pem, "the entry's verifier"), key)) signedByKey = true;
    });
    if (!signedByKey) mismatch(entry, "signed by a different key");
    return;
  }
  // intoto
  if (entry.version === "0.0.1") {
    checkHexHash(entry, body, "payload hash", payloadHash, "spec", "content", "payloadHash");
    if (envelopeBytes !== undefined) {
      checkHexHash(
        entry,
        body,
        "envelope hash",
        digestOf("sha256", envelopeBytes),
        "spec",
        "content",
        "hash",
      );
    }
    const pem = bodyBase64(body, "public key", "spec", "publicKey");
    if (!bytesEqual(pemSpki(pem, "the entry's public key"), key)) {
      mismatch(entry, "signed by a different key");
    }
    return;
  }
  // intoto 0.0.2: signatures hold base64 of the base64 signature
  checkHexHash(entry, body, "payload hash", payloadHash, "spec", "content", "payloadHash");
  const sigs = at(body, "spec", "content", "envelope", "signatures");
  if (!Array.isArray(sigs) || sigs.length !== envSigs.length) {
    mismatch(
      entry,
      `${Array.isArray(sigs) ? sigs.length : 0} signatures, the envelope has ${envSigs.length}`,
    );
  }
  let signedByKey = false;
  sigs.forEach((_, i) => {
    const inner = new TextDecoder().decode(
      bodyBase64(body, "signature", "spec", "content", "envelope", "signatures", i, "sig"),
    );
    const sig = decodeProtoBytes(inner);
    if (sig === undefined || !envSigs.some((s) => bytesEqual(s, sig))) {
      mismatch(entry, "different signature");
    }
    const pem = bodyBase64(
      body,
      "public key",
      "spec",
      "content",
      "envelope",
      "signatures",
      i,
      "publicKey",
    );
    if (bytesEqual(pemSpki(pem, "the entry's public key"), key)) signedByKey = true;
  });
  if (!signedByKey) mismatch(entry, "signed by a different key");
}

const SUPPORTED_KINDS = new Set([
  "hashedrekord/0.0.1",
  "hashedrekord/0.0.2",
  "dsse/0.0.1",
  "intoto/0.0.1",
  "intoto/0.0.2",
]);

function checkBody(entry: BundleTlogEntry, ctx: BodyContext): void {
  const kv = `${entry.kind}/${entry.version}`;
  if (!SUPPORTED_KINDS.has(kv)) {
    fail(
      "NOT_IMPLEMENTED",
      `Transparency log entry ${entry.logIndex}: ${
        kindVersion(entry)
      } entries are not supported yet`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry.canonicalizedBody));
  } catch {
    fail("TLOG_BODY_MISMATCH", `Transparency log entry ${entry.logIndex}: the body is not JSON`);
  }
  if (at(body, "kind") !== entry.kind || at(body, "apiVersion") !== entry.version) {
    mismatch(
      entry,
      `the body is a ${String(at(body, "kind"))} ${String(at(body, "apiVersion"))} entry`,
    );
  }
  if (entry.kind === "hashedrekord") checkHashedRekord(entry, body, ctx);
  else checkDsseBody(entry, body, ctx);
}

/**
 * Verifies one entry: its body against the content, then its SET and/or inclusion proof.
 * @throws {CosignError} `TLOG_BODY_MISMATCH`, `TLOG_INVALID`, `TLOG_UNTRUSTED`, `NOT_IMPLEMENTED`
 */
export function verifyEntry(
  entry: BundleTlogEntry,
  ctx: BodyContext,
  root: TrustedRoot,
  now: Date,
): TlogEntryCheck {
  checkBody(entry, ctx);
  const time = entry.integratedTime === undefined
    ? undefined
    : new Date(Number(entry.integratedTime) * 1000);
  if (time !== undefined && time.getTime() > now.getTime()) {
    fail(
      "TLOG_INVALID",
      `Transparency log entry ${entry.logIndex} is integrated in the future (${time.toISOString()})`,
    );
  }
  const log: TransparencyLog = findTlog(root, entry.logId, time);
  let setVerified = false;
  if (entry.signedEntryTimestamp !== undefined) {
    if (entry.integratedTime === undefined) {
      fail(
        "TLOG_INVALID",
        `Transparency log entry ${entry.logIndex} has a SET but no integrated time`,
      );
    }
    verifySet({
      body: entry.canonicalizedBody,
      integratedTime: entry.integratedTime,
      logIndex: entry.logIndex,
      logId: entry.logId,
      signedEntryTimestamp: entry.signedEntryTimestamp,
    }, root);
    setVerified = true;
  }
  let inclusionProofVerified = false;
  const proof = entry.inclusionProof;
  // An inclusion proof is verified only against a signed checkpoint: the root hash and tree
  // size come from a checkpoint whose signature verifies with the log's key, and the proof must
  // reach that root. A proof without one proves nothing and is refused, whatever else the
  // entry carries (sigstore-go: pkg/tlog/entry.go; the parser already drops such a proof from a
  // v0.1 bundle, where it is optional). Go cosign differs outside bundles: for an entry it
  // fetched from Rekor (`VerifyTLogEntryOffline`, pkg/cosign/tlog.go) it checks the proof
  // against the proof's own root hash and trusts the SET; `tlog_search.ts` hands such entries
  // here as v0.1 bundles, so the SET decides and a checkpoint, when Rekor sends one, is verified.
  if (proof !== undefined && proof.checkpoint === undefined) {
    fail(
      "TLOG_INVALID",
      `Transparency log entry ${entry.logIndex}: its inclusion proof has no checkpoint, so no ` +
        `signed tree head vouches for its root hash`,
    );
  }
  // Rekor v2 (`hashedrekord`/`dsse` 0.0.2) has one tree, so the entry's log index is its leaf
  // index, and only the proof authenticates it: the two must agree (sigstore-go checks
  // inclusion at the entry's index), or a copy of the entry could claim any index. Rekor v1
  // shards its log: there the SET signs the global index, the proof the tree's.
  const rekorV2 = entry.version === "0.0.2" &&
    (entry.kind === "hashedrekord" || entry.kind === "dsse");
  if (rekorV2 && proof !== undefined && proof.logIndex !== entry.logIndex) {
    fail(
      "TLOG_INVALID",
      `Transparency log entry ${entry.logIndex}: its inclusion proof is for index ${proof.logIndex}`,
    );
  }
  if (proof?.checkpoint !== undefined) {
    const checkpoint = verifyCheckpoint(proof.checkpoint, log);
    checkCheckpointMatchesProof(checkpoint, proof);
    verifyInclusion(
      leafHash(entry.canonicalizedBody),
      proof.logIndex,
      checkpoint.treeSize,
      proof.hashes,
      checkpoint.rootHash,
    );
    inclusionProofVerified = true;
  }
  if (!setVerified && !inclusionProofVerified) {
    fail(
      "TLOG_INVALID",
      `Transparency log entry ${entry.logIndex} has neither a signed entry timestamp nor an ` +
        `inclusion proof with a checkpoint`,
    );
  }
  return {
    logIndex: entry.logIndex,
    logUrl: log.baseUrl,
    kindVersion: `${entry.kind}/${entry.version}`,
    integratedTime: time,
    setVerified,
    inclusionProofVerified,
  };
}
