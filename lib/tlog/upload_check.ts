/**
 * Checks what Rekor answered to an upload before anything is written (issue 21.3): the entry
 * must be the one proposed, and, with trust material, signed by a trusted log.
 *
 * - **The body records our proposal**: same kind and version, and for the kinds cosign uploads
 *   the same artifact or envelope hashes, the same signatures and the same key or certificate
 *   (`hashedrekord` 0.0.1, `dsse` 0.0.1, `intoto` 0.0.2; Rekor stores a canonicalized form, so
 *   the fields are compared, not the bytes). Another kind must come back byte-for-byte as sent
 *   (RFC 8785 canonical JSON).
 * - **The UUID is the RFC 6962 leaf hash of the body** (the caller checks it: see
 *   `RekorClient`).
 * - **With trust material** (`trustedRoot`), the SET must verify against a Rekor key of the trust
 *   root (an unknown log ID is refused), and an inclusion proof, when present, must lead to its
 *   root hash and its checkpoint must be signed by that log. Without trust material these cannot
 *   be checked; the caller says so.
 *
 * No I/O: the entry and the proposal are handed in.
 * @module
 */

import { CosignError } from "../errors.ts";
import { fromBase64, toHex } from "../crypto/encoding.ts";
import { parsePublicKeyPem, spkiDer } from "../crypto/keys.ts";
import { decodePem } from "../crypto/pem.ts";
import { bytesEqual, decodeProtoBytes, sha256 } from "./bytes.ts";
import { canonicalizeToBytes, type JsonValue } from "./canonical_json.ts";
import { checkCheckpointMatchesProof, verifyCheckpoint } from "./checkpoint.ts";
import { leafHash, verifyInclusion } from "./merkle.ts";
import { verifySet } from "./set.ts";
import { findTlog, logIdBytes, type TrustedRoot } from "../trust/trusted_root.ts";
import type { RekorEntry } from "./rekor.ts";

/** Options of {@link checkUploadedEntry}. */
export interface UploadCheckOptions {
  /**
   * Trust material whose Rekor keys must have signed the entry (SET, checkpoint). Without it
   * only the body is checked against the proposal.
   */
  readonly trustedRoot?: Pick<TrustedRoot, "tlogs"> | undefined;
}

type Json = Record<string, unknown>;

function at(obj: unknown, ...path: (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof p === "number") cur = Array.isArray(cur) ? cur[p] : undefined;
    else {cur = typeof cur === "object" && cur !== null && !Array.isArray(cur)
        ? (cur as Json)[p]
        : undefined;}
  }
  return cur;
}

const dec = new TextDecoder();

/** The base64 bytes at `path`, or undefined. */
function b64At(obj: unknown, ...path: (string | number)[]): Uint8Array | undefined {
  const v = at(obj, ...path);
  return typeof v === "string" ? decodeProtoBytes(v) : undefined;
}

/**
 * The key a PEM (public key or certificate) names, comparable across re-encodings: the DER of a
 * certificate, the SPKI of a public key; undefined when it does not parse.
 */
function keyIdentity(pem: Uint8Array | string | undefined): string | undefined {
  if (pem === undefined) return undefined;
  const text = typeof pem === "string" ? pem : dec.decode(pem);
  try {
    const block = decodePem(text, "key");
    if (block.type === "CERTIFICATE") return "cert:" + toHex(block.bytes);
    return "key:" + toHex(spkiDer(parsePublicKeyPem(text, "key")));
  } catch {
    return undefined;
  }
}

function sameHexHash(body: unknown, path: string[], algorithm: string, hex: string): boolean {
  const value = at(body, ...path, "value");
  return at(body, ...path, "algorithm") === algorithm && typeof value === "string" &&
    value.toLowerCase() === hex.toLowerCase();
}

/** The reason `body` does not record the `hashedrekord` 0.0.1 proposal, or undefined. */
function hashedRekordMismatch(proposed: unknown, body: unknown): string | undefined {
  const hash = ["spec", "data", "hash"];
  if (
    !sameHexHash(
      body,
      hash,
      String(at(proposed, ...hash, "algorithm")),
      String(at(proposed, ...hash, "value")),
    )
  ) return "another artifact digest";
  const sig = b64At(body, "spec", "signature", "content");
  const ours = b64At(proposed, "spec", "signature", "content");
  if (!sig || !ours || !bytesEqual(sig, ours)) return "another signature";
  const key = keyIdentity(b64At(body, "spec", "signature", "publicKey", "content"));
  const ourKey = keyIdentity(b64At(proposed, "spec", "signature", "publicKey", "content"));
  if (key === undefined || key !== ourKey) return "another key";
  return undefined;
}

interface Envelope {
  payload: Uint8Array;
  payloadType: string;
  sigs: Uint8Array[];
}

function parseEnvelopeText(text: string): Envelope | undefined {
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch {
    return undefined;
  }
  const payload = typeof at(e, "payload") === "string"
    ? decodeProtoBytes(at(e, "payload") as string)
    : undefined;
  const sigs = Array.isArray(at(e, "signatures")) ? at(e, "signatures") as unknown[] : [];
  const decoded = sigs.map((s) => b64At(s, "sig"));
  if (payload === undefined || decoded.some((s) => s === undefined)) return undefined;
  return {
    payload,
    payloadType: String(at(e, "payloadType")),
    sigs: decoded as Uint8Array[],
  };
}

/** Every signature of `found` is one of ours, as many as ours, and `ourKey` signed one. */
function signaturesMismatch(
  found: { sig: Uint8Array | undefined; key: string | undefined }[],
  ours: Uint8Array[],
  ourKey: string | undefined,
): string | undefined {
  if (found.length !== ours.length) {
    return `${found.length} signatures, the envelope has ${ours.length}`;
  }
  if (found.some((f) => !f.sig || !ours.some((s) => bytesEqual(s, f.sig!)))) {
    return "another signature";
  }
  if (ourKey === undefined || !found.some((f) => f.key === ourKey)) return "another key";
  return undefined;
}

/** The reason `body` does not record the `dsse` 0.0.1 proposal, or undefined. */
function dsseMismatch(proposed: unknown, body: unknown): string | undefined {
  const text = at(proposed, "spec", "proposedContent", "envelope");
  const env = typeof text === "string" ? parseEnvelopeText(text) : undefined;
  if (typeof text !== "string" || env === undefined) return "the proposal has no envelope";
  if (
    !sameHexHash(body, ["spec", "envelopeHash"], "sha256", toHex(sha256(utf8(text)))) ||
    !sameHexHash(body, ["spec", "payloadHash"], "sha256", toHex(sha256(env.payload)))
  ) return "another envelope";
  const sigs = at(body, "spec", "signatures");
  const found = (Array.isArray(sigs) ? sigs : []).map((s) => ({
    sig: typeof at(s, "signature") === "string"
      ? decodeProtoBytes(at(s, "signature") as string)
      : undefined,
    key: keyIdentity(b64At(s, "verifier")),
  }));
  return signaturesMismatch(
    found,
    env.sigs,
    keyIdentity(b64At(proposed, "spec", "proposedContent", "verifiers", 0)),
  );
}

/** The reason `body` does not record the `intoto` 0.0.2 proposal, or undefined. */
function intotoMismatch(proposed: unknown, body: unknown): string | undefined {
  const content = ["spec", "content"];
  const payloadText = b64At(proposed, ...content, "envelope", "payload");
  const payload = payloadText ? decodeProtoBytes(dec.decode(payloadText)) : undefined;
  if (payload === undefined) return "the proposal has no envelope";
  if (
    !sameHexHash(
      body,
      [...content, "hash"],
      "sha256",
      String(at(proposed, ...content, "hash", "value")),
    ) ||
    !sameHexHash(body, [...content, "payloadHash"], "sha256", toHex(sha256(payload))) ||
    at(body, ...content, "envelope", "payloadType") !==
      at(proposed, ...content, "envelope", "payloadType")
  ) return "another envelope";
  // `sig` holds base64 of the envelope's base64 signature.
  const inner = (s: unknown) => {
    const outer = b64At(s, "sig");
    return outer ? decodeProtoBytes(dec.decode(outer)) : undefined;
  };
  const ourSigs = at(proposed, ...content, "envelope", "signatures");
  const bodySigs = at(body, ...content, "envelope", "signatures");
  const ours = (Array.isArray(ourSigs) ? ourSigs : []).map(inner);
  if (ours.some((s) => s === undefined)) return "the proposal has no signatures";
  const found = (Array.isArray(bodySigs) ? bodySigs : []).map((s) => ({
    sig: inner(s),
    key: keyIdentity(b64At(s, "publicKey")),
  }));
  return signaturesMismatch(
    found,
    ours as Uint8Array[],
    keyIdentity(b64At(ourSigs, 0, "publicKey")),
  );
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** The reason the body does not record the proposal, or undefined when it does. */
function bodyMismatch(proposed: Record<string, unknown>, body: unknown): string | undefined {
  const kind = `${String(proposed.kind)}/${String(proposed.apiVersion)}`;
  const found = `${String(at(body, "kind"))}/${String(at(body, "apiVersion"))}`;
  if (found !== kind) return `a ${found.replace("/", " ")} entry, not ${kind.replace("/", " ")}`;
  switch (kind) {
    case "hashedrekord/0.0.1":
      return hashedRekordMismatch(proposed, body);
    case "dsse/0.0.1":
      return dsseMismatch(proposed, body);
    case "intoto/0.0.2":
      return intotoMismatch(proposed, body);
    default: {
      const same = bytesEqual(
        canonicalizeToBytes(proposed as JsonValue),
        canonicalizeToBytes(body as JsonValue),
      );
      return same ? undefined : "another body";
    }
  }
}

/**
 * Checks the entry Rekor returned for an upload (201, or the existing entry after a 409): its
 * body records `proposed`, and with `options.trustedRoot` its SET (required) and any inclusion
 * proof and checkpoint verify against a trusted log.
 * @param proposed the proposed entry that was sent
 * @param entry the entry the log returned (its UUID already checked against the body)
 * @param rekorUrl the log's URL, for messages
 * @throws {CosignError} `TLOG_BODY_MISMATCH` when the entry is for something else;
 *   `TLOG_INVALID` for a missing or bad SET, proof or checkpoint; `TLOG_UNTRUSTED` for a log
 *   the trust root does not list
 */
export function checkUploadedEntry(
  proposed: Record<string, unknown>,
  entry: RekorEntry,
  rekorUrl: string,
  options: UploadCheckOptions = {},
): void {
  const prefix = `Rekor at ${rekorUrl} answered the upload with entry ${entry.uuid}`;
  const body = fromBase64(entry.body);
  let parsed: unknown;
  try {
    parsed = body === undefined ? undefined : JSON.parse(dec.decode(body));
  } catch {
    parsed = undefined;
  }
  if (body === undefined || parsed === undefined) {
    throw new CosignError("TLOG_INVALID", `${prefix}, whose body is not base64 JSON`);
  }
  const why = bodyMismatch(proposed, parsed);
  if (why !== undefined) {
    throw new CosignError("TLOG_BODY_MISMATCH", `${prefix}, which records ${why}`);
  }
  const root = options.trustedRoot;
  if (root === undefined) return;
  try {
    const set = entry.signedEntryTimestamp === undefined
      ? undefined
      : fromBase64(entry.signedEntryTimestamp);
    if (set === undefined || set.length === 0) {
      throw new CosignError("TLOG_INVALID", "no signed entry timestamp");
    }
    verifySet({
      body,
      integratedTime: entry.integratedTime,
      logIndex: entry.logIndex,
      logId: logIdBytes(entry.logID),
      signedEntryTimestamp: set,
    }, root);
    const proof = entry.inclusionProof;
    if (proof !== undefined) {
      const hashes = proof.hashes.map((h) =>
        /^[0-9a-f]{64}$/i.test(h) ? Uint8Array.fromHex(h) : undefined
      );
      const rootHash = /^[0-9a-f]{64}$/i.test(proof.rootHash)
        ? Uint8Array.fromHex(proof.rootHash)
        : undefined;
      if (rootHash === undefined || hashes.some((h) => h === undefined)) {
        throw new CosignError("TLOG_INVALID", "the inclusion proof hashes are not hex");
      }
      verifyInclusion(
        leafHash(body),
        proof.logIndex,
        proof.treeSize,
        hashes as Uint8Array[],
        rootHash,
      );
      if (proof.checkpoint !== undefined) {
        const log = findTlog(root, entry.logID);
        checkCheckpointMatchesProof(verifyCheckpoint(proof.checkpoint, log), {
          treeSize: proof.treeSize,
          rootHash,
        });
      }
    }
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    throw new CosignError(e.code, `${prefix} that does not verify: ${e.message}`);
  }
}
