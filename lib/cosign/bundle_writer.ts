/**
 * Writes Sigstore bundles v0.3 (cosign-spec §5.3, the protojson of `dev.sigstore.bundle.v1.Bundle`
 * with media type `application/vnd.dev.sigstore.bundle.v0.3+json`), as cosign's
 * `sign-blob --new-bundle-format` and `attest-blob --new-bundle-format` write them.
 *
 * The output follows Go's protojson: lowerCamel field names in the proto declaration order
 * (`mediaType`, `verificationMaterial`, then `messageSignature` or `dsseEnvelope`), `bytes` as
 * standard base64, int64 as JSON strings, and fields holding their default value (0, "", empty
 * lists) left out. Rekor's v1 API gives the inclusion proof's `rootHash` and `hashes` in hex and
 * the log ID in hex; the bundle carries them as bytes (base64).
 *
 * A v0.3 bundle requires an inclusion proof (with its checkpoint) for each transparency-log
 * entry; {@link withInclusionProof} fetches one when the upload answer had none. No I/O here:
 * the fetch is injected.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";
import { toBase64 } from "../crypto/encoding.ts";
import { type KeyAlgorithm, parsePublicKeyPem, spkiDer } from "../crypto/keys.ts";
import type { DigestAlgorithm } from "../crypto/prehashed.ts";
import type { RekorEntry } from "../tlog/rekor.ts";
import type { RekorV2Entry } from "../tlog/rekor_v2.ts";
import { parseEnvelope } from "./dsse.ts";

/** The media type of the bundles this module writes. */
export const BUNDLE_V03_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

/** The signed content of a bundle to write. */
export type BundleWriterContent =
  | {
    /** A signature over the artifact itself (blobs). */
    readonly type: "messageSignature";
    /** The artifact digest the signature is over (`messageDigest`). */
    readonly digest: { readonly algorithm: DigestAlgorithm; readonly bytes: Uint8Array };
    /** The signature bytes (DER for ECDSA). */
    readonly signature: Uint8Array;
  }
  | {
    /** A DSSE envelope (attestations). */
    readonly type: "dsseEnvelope";
    /** The envelope JSON bytes as signed (what `signEnvelope` returns). */
    readonly envelope: Uint8Array;
  };

/** The key material a bundle to write names. */
export type BundleWriterMaterial =
  | {
    /** A public key, named by cosign's hint. */
    readonly type: "publicKey";
    /** The key's PKIX PEM; the hint written is base64(sha256(PKIX DER)). */
    readonly publicKeyPem: string;
  }
  | {
    /** The signing certificate. */
    readonly type: "certificate";
    /** The leaf certificate, DER. */
    readonly der: Uint8Array;
  };

/** A log entry a bundle can record: from Rekor v1 (`RekorClient`) or Rekor v2 (`uploadRekorV2`). */
export type BundleLogEntry = RekorEntry | RekorV2Entry;

/**
 * Whether `entry` came from a Rekor v2 log (it has no UUID, and its body is bytes).
 * @example
 * ```ts
 * import { type BundleLogEntry, isRekorV2Entry } from "@cosign-deno/cosign";
 * const describe = (e: BundleLogEntry) =>
 *   isRekorV2Entry(e) ? `Rekor v2 index ${e.logIndex}` : `Rekor v1 entry ${e.uuid}`;
 * ```
 */
export function isRekorV2Entry(entry: BundleLogEntry): entry is RekorV2Entry {
  return "canonicalizedBody" in entry && entry.canonicalizedBody instanceof Uint8Array;
}

/** Everything a v0.3 bundle holds. */
export interface BundleWriterInput {
  /** The signed content. */
  readonly content: BundleWriterContent;
  /** The key or certificate. */
  readonly verificationMaterial: BundleWriterMaterial;
  /**
   * The log entry as Rekor returned it; it must carry an inclusion proof with a checkpoint.
   * `undefined` without a transparency-log upload (the bundle then has no `tlogEntries`).
   */
  readonly tlogEntry?: RekorEntry | undefined;
  /**
   * Instead of {@link tlogEntry}: a Rekor v2 entry (from `uploadRekorV2`), written as it came
   * (no integrated time, no SET).
   */
  readonly tlogEntryV2?: RekorV2Entry | undefined;
  /**
   * Instead of the two above: every entry the signature was recorded under, one per log (a
   * signing config with the `ALL` selector names several), Rekor v1 or v2, in this order.
   */
  readonly tlogEntries?: readonly BundleLogEntry[] | undefined;
  /** RFC 3161 signed timestamps (DER `TimeStampResp` bytes). */
  readonly rfc3161Timestamps?: readonly Uint8Array[];
}

type Json = Record<string, unknown>;

const PROTO_HASH: Record<DigestAlgorithm, string> = {
  sha256: "SHA2_256",
  sha384: "SHA2_384",
  sha512: "SHA2_512",
};

const DIGEST_SIZE: Record<DigestAlgorithm, number> = { sha256: 32, sha384: 48, sha512: 64 };

/**
 * cosign's public-key hint: standard base64 of the SHA-256 of the key's PKIX DER.
 * @param publicKeyPem a PKIX `PUBLIC KEY` PEM (or a certificate: its key is used)
 * @throws {CosignError} `PEM_INVALID`, `KEY_PARSE` for a PEM that holds no key
 * @example
 * ```ts ignore
 * publicKeyHint(await signer.publicKeyPem()); // "TLMsSDfG3ajPsWge+z/vX5T/zluXnmvbkTkwLIV68Tk="
 * ```
 */
export function publicKeyHint(publicKeyPem: string): string {
  const der = spkiDer(parsePublicKeyPem(publicKeyPem, "the signing key"));
  return toBase64(new Uint8Array(createHash("sha256").update(der).digest()));
}

/**
 * The message digest a blob signature by a key of `algorithm` is over, as cosign v3 records it
 * in `messageDigest` and in the `hashedrekord` entry: SHA-384 for P-384, SHA-512 for P-521,
 * SHA-256 otherwise.
 */
export function messageDigestAlgorithm(algorithm: KeyAlgorithm): DigestAlgorithm {
  return algorithm === "ecdsa-p384" ? "sha384" : algorithm === "ecdsa-p521" ? "sha512" : "sha256";
}

function invalidEntry(entry: RekorEntry, why: string): CosignError {
  return new CosignError(
    "TLOG_INVALID",
    `Cannot put log entry ${entry.uuid} in a bundle: ${why}`,
  );
}

function hexBytes(entry: RekorEntry, hex: string, what: string): Uint8Array {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw invalidEntry(entry, `${what} is not hex`);
  }
  return Uint8Array.fromHex(hex.toLowerCase());
}

function base64Bytes(entry: RekorEntry, text: string, what: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(text);
  } catch {
    throw invalidEntry(entry, `${what} is not base64`);
  }
}

/** Sets `obj[name]` to the int64 `n` as a protojson string, leaving out 0 (the default). */
function setInt64(obj: Json, name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} is not an int64: ${n}`);
  if (n !== 0) obj[name] = String(n);
}

/** The entry's kind and version, read from its canonicalized body (`kind`, `apiVersion`). */
function kindVersion(entry: RekorEntry, body: Uint8Array): { kind: string; version: string } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw invalidEntry(entry, "its body is not JSON");
  }
  const j = (typeof json === "object" && json !== null ? json : {}) as Json;
  if (typeof j.kind !== "string" || j.kind === "") {
    throw invalidEntry(entry, "its body has no kind");
  }
  if (typeof j.apiVersion !== "string" || j.apiVersion === "") {
    throw invalidEntry(entry, "its body has no apiVersion");
  }
  return { kind: j.kind, version: j.apiVersion };
}

/**
 * The protojson `TransparencyLogEntry` of a Rekor v1 log entry, fields in proto order.
 * @throws {CosignError} `TLOG_PROOF_MISSING` when the entry has no inclusion proof or no
 *   checkpoint (a v0.3 bundle requires both); `TLOG_INVALID` for a malformed entry
 */
export function tlogEntryJson(entry: RekorEntry): Json {
  const proof = entry.inclusionProof;
  if (proof === undefined) {
    throw new CosignError(
      "TLOG_PROOF_MISSING",
      `Log entry ${entry.uuid} (index ${entry.logIndex}) has no inclusion proof, which a v0.3 bundle requires`,
    );
  }
  if (proof.checkpoint === undefined || proof.checkpoint === "") {
    throw new CosignError(
      "TLOG_PROOF_MISSING",
      `The inclusion proof of log entry ${entry.uuid} (index ${entry.logIndex}) has no checkpoint, which a v0.3 bundle requires`,
    );
  }
  const body = base64Bytes(entry, entry.body, "its body");
  const out: Json = {};
  setInt64(out, "logIndex", entry.logIndex);
  out.logId = { keyId: toBase64(hexBytes(entry, entry.logID, "its log ID")) };
  out.kindVersion = kindVersion(entry, body);
  setInt64(out, "integratedTime", entry.integratedTime);
  if (entry.signedEntryTimestamp) {
    const set = base64Bytes(entry, entry.signedEntryTimestamp, "its signed entry timestamp");
    out.inclusionPromise = { signedEntryTimestamp: toBase64(set) };
  }
  const p: Json = {};
  setInt64(p, "logIndex", proof.logIndex);
  p.rootHash = toBase64(hexBytes(entry, proof.rootHash, "the inclusion proof's root hash"));
  setInt64(p, "treeSize", proof.treeSize);
  if (proof.hashes.length > 0) {
    p.hashes = proof.hashes.map((h, i) =>
      toBase64(hexBytes(entry, h, `the inclusion proof's hashes[${i}]`))
    );
  }
  p.checkpoint = { envelope: proof.checkpoint };
  out.inclusionProof = p;
  out.canonicalizedBody = toBase64(body);
  return out;
}

/**
 * The protojson `TransparencyLogEntry` of a Rekor v2 entry, fields in proto order: no
 * integrated time and no SET (Rekor v2 gives neither), the inclusion proof with its checkpoint.
 * @example
 * ```ts
 * import { loadSigner, tlogEntryJsonV2, uploadRekorV2 } from "@cosign-deno/cosign";
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const blob = await Deno.readFile("app.tar.gz");
 * const entry = await uploadRekorV2({ url: "https://log2025-1.rekor.sigstore.dev" }, {
 *   type: "hashedrekord",
 *   digest: new Uint8Array(await crypto.subtle.digest("SHA-256", blob)),
 *   signature: await signer.sign(blob),
 *   verifier: { publicKeyPem: await signer.publicKeyPem() },
 * });
 * console.log(JSON.stringify(tlogEntryJsonV2(entry)));
 * ```
 */
export function tlogEntryJsonV2(entry: RekorV2Entry): Record<string, unknown> {
  const out: Json = {};
  const int64 = (obj: Json, name: string, n: bigint) => {
    if (n < 0n) throw new RangeError(`${name} is not an int64: ${n}`);
    if (n !== 0n) obj[name] = String(n);
  };
  int64(out, "logIndex", entry.logIndex);
  out.logId = { keyId: toBase64(entry.logId) };
  out.kindVersion = { kind: entry.kindVersion.kind, version: entry.kindVersion.version };
  const proof = entry.inclusionProof;
  const p: Json = {};
  int64(p, "logIndex", proof.logIndex);
  p.rootHash = toBase64(proof.rootHash);
  int64(p, "treeSize", proof.treeSize);
  if (proof.hashes.length > 0) p.hashes = proof.hashes.map((h) => toBase64(h));
  p.checkpoint = { envelope: proof.checkpoint };
  out.inclusionProof = p;
  out.canonicalizedBody = toBase64(entry.canonicalizedBody);
  return out;
}

function contentJson(content: BundleWriterContent): [string, Json] {
  if (content.type === "messageSignature") {
    const { algorithm, bytes } = content.digest;
    if (bytes.length !== DIGEST_SIZE[algorithm]) {
      throw new CosignError(
        "BUNDLE_INVALID",
        `Cannot write a bundle: a ${algorithm} digest has ${
          DIGEST_SIZE[algorithm]
        } bytes, not ${bytes.length}`,
      );
    }
    return ["messageSignature", {
      messageDigest: { algorithm: PROTO_HASH[algorithm], digest: toBase64(bytes) },
      signature: toBase64(content.signature),
    }];
  }
  const env = parseEnvelope(content.envelope);
  if (env.signatures.length === 0) {
    throw new CosignError("DSSE_INVALID", "Cannot write a bundle: the envelope has no signatures");
  }
  const dsse: Json = {};
  if (env.payload.length > 0) dsse.payload = toBase64(env.payload);
  if (env.payloadType !== "") dsse.payloadType = env.payloadType;
  dsse.signatures = env.signatures.map((s) => {
    const sig: Json = { sig: toBase64(s.sig) };
    if (s.keyid !== "") sig.keyid = s.keyid;
    return sig;
  });
  return ["dsseEnvelope", dsse];
}

/**
 * The v0.3 bundle JSON (compact, no trailing newline), as cosign writes it with
 * `--new-bundle-format --bundle FILE`.
 * @param input content, key material, log entry and timestamps
 * @returns the bundle text
 * @throws {CosignError} `TLOG_PROOF_MISSING` when the log entry has no inclusion proof (fetch
 *   one first with {@link withInclusionProof}); `TLOG_INVALID` for a malformed log entry;
 *   `DSSE_INVALID` for an envelope that does not parse; `BUNDLE_INVALID` for a digest of the
 *   wrong size; `PEM_INVALID`/`KEY_PARSE` for a public key that does not parse
 * @example
 * ```ts
 * import { bundleV03Json, loadSigner } from "@cosign-deno/cosign";
 * const blob = await Deno.readFile("app.tar.gz");
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const text = bundleV03Json({
 *   content: {
 *     type: "messageSignature",
 *     digest: { algorithm: "sha256", bytes: new Uint8Array(await crypto.subtle.digest("SHA-256", blob)) },
 *     signature: await signer.sign(blob),
 *   },
 *   verificationMaterial: { type: "publicKey", publicKeyPem: await signer.publicKeyPem() },
 * });
 * await Deno.writeTextFile("app.tar.gz.sigstore.json", text);
 * ```
 */
export function bundleV03Json(input: BundleWriterInput): string {
  const [contentName, content] = contentJson(input.content);
  const vm: Json = {};
  const m = input.verificationMaterial;
  if (m.type === "publicKey") vm.publicKey = { hint: publicKeyHint(m.publicKeyPem) };
  else {
    if (m.der.length === 0) {
      throw new CosignError("BUNDLE_INVALID", "Cannot write a bundle: the certificate is empty");
    }
    vm.certificate = { rawBytes: toBase64(m.der) };
  }
  const given = [input.tlogEntry, input.tlogEntryV2, input.tlogEntries].filter((e) =>
    e !== undefined
  );
  if (given.length > 1) {
    throw new CosignError(
      "BUNDLE_INVALID",
      "Cannot write a bundle: give one of tlogEntry, tlogEntryV2 and tlogEntries",
    );
  }
  const entries: readonly BundleLogEntry[] = input.tlogEntries ??
    (input.tlogEntry ? [input.tlogEntry] : input.tlogEntryV2 ? [input.tlogEntryV2] : []);
  if (entries.length > 0) {
    vm.tlogEntries = entries.map((e) => isRekorV2Entry(e) ? tlogEntryJsonV2(e) : tlogEntryJson(e));
  }
  const stamps = input.rfc3161Timestamps ?? [];
  if (stamps.length > 0) {
    vm.timestampVerificationData = {
      rfc3161Timestamps: stamps.map((t) => ({ signedTimestamp: toBase64(t) })),
    };
  }
  return JSON.stringify({
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: vm,
    [contentName]: content,
  });
}

/**
 * Returns `entry` if it has an inclusion proof with a checkpoint; otherwise the same entry
 * fetched again by its UUID (Rekor attaches the proof once the entry is in the tree).
 * @param entry the log entry from the upload
 * @param fetchByUuid fetches an entry by UUID (e.g. `RekorClient.getByUuid`); `undefined` when
 *   the client cannot
 * @throws {CosignError} `TLOG_PROOF_MISSING` when neither has a proof;
 *   `TLOG_INVALID` when the fetched entry is another one
 */
export async function withInclusionProof(
  entry: RekorEntry,
  fetchByUuid?: (uuid: string) => Promise<RekorEntry>,
): Promise<RekorEntry> {
  const complete = (e: RekorEntry) => !!e.inclusionProof?.checkpoint;
  if (complete(entry)) return entry;
  if (fetchByUuid === undefined) {
    throw new CosignError(
      "TLOG_PROOF_MISSING",
      `Log entry ${entry.uuid} (index ${entry.logIndex}) came without an inclusion proof, which a v0.3 bundle requires`,
    );
  }
  const again = await fetchByUuid(entry.uuid);
  if (again.body !== entry.body || again.logIndex !== entry.logIndex) {
    throw new CosignError(
      "TLOG_INVALID",
      `The transparency log returned another entry for UUID ${entry.uuid}`,
    );
  }
  if (!complete(again)) {
    throw new CosignError(
      "TLOG_PROOF_MISSING",
      `Log entry ${entry.uuid} (index ${entry.logIndex}) has no inclusion proof${
        again.inclusionProof ? " checkpoint" : ""
      } even when fetched again; a v0.3 bundle requires one`,
    );
  }
  return { ...entry, ...again, uuid: entry.uuid };
}
