/**
 * Sigstore bundles (cosign-spec §5.3: protojson of `dev.sigstore.bundle.v1.Bundle`, media types
 * v0.1, v0.2 and v0.3) and legacy cosign bundles (`LocalSignedPayload`, §5.2), parsed into one
 * shape, and their verification with a public key (§5.4, §6.5–6.7). No I/O.
 *
 * Parsing follows protojson: lowerCamel or proto field names, int64 as strings (or numbers),
 * `bytes` as standard or URL-safe base64. Certificates are returned unverified: checking the
 * chain and identity is the caller's job.
 *
 * Verification with a key ({@link verifyBundleWithKey}):
 * - content: a message signature must verify over the artifact (or over its digest when only
 *   the digest is given) and the bundle's `messageDigest` must equal the artifact's digest; a
 *   DSSE envelope must verify (PAE) and, for in-toto, a subject digest must equal the artifact's;
 * - transparency log: every tlog entry must verify against the trusted root, by its SET and/or
 *   its inclusion proof with a signed checkpoint (both when both are present), its log key must
 *   be valid at the integrated time, the integrated time must not be in the future, and the
 *   canonicalized body must describe this content: same digest, signature and key
 *   (hashedrekord 0.0.1/0.0.2, dsse 0.0.1, intoto 0.0.1/0.0.2). As in sigstore-go, one bad entry
 *   fails the bundle, and at least one entry is required.
 *
 * For DSSE entries the envelope hash (sha256 of the envelope bytes as uploaded, §14 gotcha 9)
 * is only checked when the bundle carries those exact bytes (legacy bundles); a protojson bundle
 * holds a re-serialised envelope, so, like sigstore-js, only the payload hash, signatures and
 * keys are compared.
 * @module
 */

import { createHash, type KeyObject } from "node:crypto";
import { CosignError, type ErrorCode } from "../errors.ts";
import { toBase64, toHex } from "../crypto/encoding.ts";
import { certificateSpki } from "../crypto/der.ts";
import { decodePem } from "../crypto/pem.ts";
import { parsePublicKeyPem } from "../crypto/keys.ts";
import { type DigestAlgorithm, verifyPrehashed } from "../crypto/prehashed.ts";
import type { Verifier } from "../crypto/signer.ts";
import { decodeProtoBytes } from "../tlog/bytes.ts";
import { leafHash, verifyInclusion } from "../tlog/merkle.ts";
import { verifySet } from "../tlog/set.ts";
import { checkCheckpointMatchesProof, verifyCheckpoint } from "../tlog/checkpoint.ts";
import { findTlog, type TransparencyLog, type TrustedRoot } from "../tlog/trusted_root.ts";
import { type Envelope, parseEnvelope, verifyEnvelope } from "./dsse.ts";
import { hasSubjectDigest, parseStatement, type Statement } from "./intoto.ts";

/** Sigstore bundle media types and the bundle version each denotes. */
export const BUNDLE_MEDIA_TYPES: Readonly<Record<string, BundleFormat>> = {
  "application/vnd.dev.sigstore.bundle+json;version=0.1": "v0.1",
  "application/vnd.dev.sigstore.bundle+json;version=0.2": "v0.2",
  "application/vnd.dev.sigstore.bundle+json;version=0.3": "v0.3",
  "application/vnd.dev.sigstore.bundle.v0.3+json": "v0.3",
};

/** Which kind of bundle was parsed. */
export type BundleFormat = "v0.1" | "v0.2" | "v0.3" | "legacy";

/** A message digest: algorithm and bytes. */
export interface Digest {
  /** The hash algorithm. */
  readonly algorithm: DigestAlgorithm;
  /** The digest bytes. */
  readonly bytes: Uint8Array;
}

/** A signature over the artifact itself (blobs, `messageSignature`). */
export interface MessageSignatureContent {
  /** Discriminator. */
  readonly type: "messageSignature";
  /** The bundle's `messageDigest`; `undefined` in legacy bundles, which carry none. */
  readonly digest: Digest | undefined;
  /** The signature bytes. */
  readonly signature: Uint8Array;
}

/** A DSSE envelope (attestations, `dsseEnvelope`). */
export interface DsseContent {
  /** Discriminator. */
  readonly type: "dsseEnvelope";
  /** The parsed envelope. */
  readonly envelope: Envelope;
  /**
   * The envelope JSON bytes exactly as signed and uploaded, when the bundle carries them (legacy
   * bundles: `base64Signature` is base64 of the envelope); `undefined` for protojson bundles.
   */
  readonly envelopeBytes: Uint8Array | undefined;
}

/** What the bundle proves. */
export type BundleContent = MessageSignatureContent | DsseContent;

/** The key material the bundle names. Certificates are not verified here. */
export type VerificationMaterial =
  | {
    /** A public key, named by a hint (cosign: base64 of the SHA-256 of its PKIX DER). */
    readonly type: "publicKey";
    /** The hint (`publicKey.hint`); `undefined` when absent. */
    readonly hint: string | undefined;
    /** The PKIX DER key, when the bundle carries it (a legacy bundle's `cert` holding a key). */
    readonly spki: Uint8Array | undefined;
  }
  | {
    /** Certificates, leaf first. */
    readonly type: "certificate";
    /** DER certificates, leaf first. */
    readonly certificates: readonly Uint8Array[];
    /** True when they came from `x509CertificateChain` (v0.1/v0.2) rather than `certificate`. */
    readonly chain: boolean;
  }
  | {
    /** No key material (a legacy bundle without `cert`). */
    readonly type: "none";
  };

/** An inclusion proof with its checkpoint. */
export interface BundleInclusionProof {
  /** The leaf index within the shard's tree (not the global log index). */
  readonly logIndex: bigint;
  /** The tree size the proof is for. */
  readonly treeSize: bigint;
  /** The root hash. */
  readonly rootHash: Uint8Array;
  /** The audit path, leaf to root. */
  readonly hashes: readonly Uint8Array[];
  /** The signed checkpoint (note text); `undefined` when absent. */
  readonly checkpoint: string | undefined;
}

/** A transparency-log entry of a bundle. */
export interface BundleTlogEntry {
  /** The global log index (the one the SET covers). */
  readonly logIndex: bigint;
  /** The log ID bytes. */
  readonly logId: Uint8Array;
  /** The log ID as lowercase hex. */
  readonly logIdHex: string;
  /** The entry kind, e.g. `hashedrekord`. */
  readonly kind: string;
  /** The entry version, e.g. `0.0.1`. */
  readonly version: string;
  /** The integrated time (Unix seconds); `undefined` when absent or 0 (Rekor v2). */
  readonly integratedTime: bigint | undefined;
  /** The SET (`inclusionPromise.signedEntryTimestamp`), DER ECDSA. */
  readonly signedEntryTimestamp: Uint8Array | undefined;
  /** The inclusion proof. */
  readonly inclusionProof: BundleInclusionProof | undefined;
  /** The canonicalized entry body bytes (the Merkle leaf). */
  readonly canonicalizedBody: Uint8Array;
}

/** A parsed bundle, whatever its format. */
export interface Bundle {
  /** Which format it was. */
  readonly format: BundleFormat;
  /** The media type (`undefined` for legacy bundles). */
  readonly mediaType: string | undefined;
  /** The signed content. */
  readonly content: BundleContent;
  /** The key material. */
  readonly verificationMaterial: VerificationMaterial;
  /** The transparency-log entries. */
  readonly tlogEntries: readonly BundleTlogEntry[];
  /** RFC 3161 signed timestamps (DER `TimeStampResp`/token bytes), unverified. */
  readonly rfc3161Timestamps: readonly Uint8Array[];
}

type Json = Record<string, unknown>;

function fail(code: ErrorCode, message: string): never {
  throw new CosignError(code, message);
}

function invalid(message: string): never {
  fail("BUNDLE_INVALID", `Invalid bundle: ${message}`);
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads a protojson field by JSON or proto name; `null` counts as absent. */
function field(obj: Json, jsonName: string, protoName = jsonName): unknown {
  const v = obj[jsonName] ?? obj[protoName];
  return v === null ? undefined : v;
}

function objectAt(
  obj: Json,
  where: string,
  jsonName: string,
  protoName?: string,
): Json | undefined {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid(`${where}${jsonName} is not an object`);
  return v;
}

function stringAt(obj: Json, where: string, jsonName: string, protoName?: string): string {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return "";
  if (typeof v !== "string") invalid(`${where}${jsonName} is not a string`);
  return v;
}

function bytesAt(obj: Json, where: string, jsonName: string, protoName?: string): Uint8Array {
  const v = field(obj, jsonName, protoName);
  if (v === undefined || v === "") invalid(`${where}${jsonName} is missing`);
  const bytes = typeof v === "string" ? decodeProtoBytes(v) : undefined;
  if (bytes === undefined) invalid(`${where}${jsonName} is not base64`);
  return bytes;
}

function arrayAt(obj: Json, where: string, jsonName: string, protoName?: string): unknown[] {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return [];
  if (!Array.isArray(v)) invalid(`${where}${jsonName} is not an array`);
  return v;
}

/** A protojson int64 (string or number); absent → `undefined`. Negative values are refused. */
function int64At(
  obj: Json,
  where: string,
  jsonName: string,
  protoName?: string,
): bigint | undefined {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return undefined;
  let n: bigint | undefined;
  if (typeof v === "string" && /^-?[0-9]+$/.test(v)) n = BigInt(v);
  else if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  if (n === undefined) invalid(`${where}${jsonName} is not an integer: ${JSON.stringify(v)}`);
  if (n < 0n) invalid(`${where}${jsonName} is negative (${n})`);
  return n;
}

const PROTO_HASH: Record<string, DigestAlgorithm> = {
  SHA2_256: "sha256",
  SHA2_384: "sha384",
  SHA2_512: "sha512",
};

const DIGEST_SIZE: Record<DigestAlgorithm, number> = { sha256: 32, sha384: 48, sha512: 64 };

function hash(algorithm: DigestAlgorithm, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

function parseJsonInput(input: unknown, what: string): unknown {
  if (typeof input !== "string" && !(input instanceof Uint8Array)) return input;
  const text = typeof input === "string" ? input : new TextDecoder().decode(input);
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail("BUNDLE_INVALID", `Invalid ${what}: not JSON (${(e as Error).message})`);
  }
}

function parseMessageSignature(ms: Json): MessageSignatureContent {
  const signature = bytesAt(ms, "messageSignature.", "signature");
  const md = objectAt(ms, "messageSignature.", "messageDigest", "message_digest");
  let digest: Digest | undefined;
  if (md !== undefined) {
    const alg = stringAt(md, "messageSignature.messageDigest.", "algorithm");
    const algorithm = PROTO_HASH[alg];
    if (algorithm === undefined) {
      invalid(`unsupported message digest algorithm ${JSON.stringify(alg)}`);
    }
    const bytes = bytesAt(md, "messageSignature.messageDigest.", "digest");
    if (bytes.length !== DIGEST_SIZE[algorithm]) {
      invalid(`the ${alg} message digest is ${bytes.length} bytes`);
    }
    digest = { algorithm, bytes };
  }
  return { type: "messageSignature", digest, signature };
}

function parseDsse(env: Json): DsseContent {
  const payloadType = stringAt(env, "dsseEnvelope.", "payloadType", "payload_type");
  const payloadText = field(env, "payload");
  const payload = payloadText === undefined || payloadText === ""
    ? new Uint8Array()
    : typeof payloadText === "string"
    ? decodeProtoBytes(payloadText)
    : undefined;
  if (payload === undefined) invalid("dsseEnvelope.payload is not base64");
  const signatures = arrayAt(env, "dsseEnvelope.", "signatures").map((s, i) => {
    if (!isObject(s)) invalid(`dsseEnvelope.signatures[${i}] is not an object`);
    return {
      keyid: stringAt(s, `dsseEnvelope.signatures[${i}].`, "keyid"),
      sig: bytesAt(s, `dsseEnvelope.signatures[${i}].`, "sig"),
    };
  });
  if (signatures.length === 0) invalid("dsseEnvelope has no signatures");
  return {
    type: "dsseEnvelope",
    envelope: { payloadType, payload, signatures },
    envelopeBytes: undefined,
  };
}

function parseMaterial(vm: Json, format: BundleFormat): VerificationMaterial {
  const pk = objectAt(vm, "verificationMaterial.", "publicKey", "public_key");
  const cert = objectAt(vm, "verificationMaterial.", "certificate");
  const chain = objectAt(
    vm,
    "verificationMaterial.",
    "x509CertificateChain",
    "x509_certificate_chain",
  );
  const count = [pk, cert, chain].filter((x) => x !== undefined).length;
  if (count !== 1) {
    invalid(
      `verificationMaterial must hold exactly one of publicKey, certificate, ` +
        `x509CertificateChain, found ${count}`,
    );
  }
  if (pk !== undefined) {
    const hint = stringAt(pk, "verificationMaterial.publicKey.", "hint");
    return { type: "publicKey", hint: hint === "" ? undefined : hint, spki: undefined };
  }
  if (cert !== undefined) {
    if (format === "v0.1") invalid("a v0.1 bundle cannot hold verificationMaterial.certificate");
    return {
      type: "certificate",
      certificates: [bytesAt(cert, "verificationMaterial.certificate.", "rawBytes", "raw_bytes")],
      chain: false,
    };
  }
  const list = arrayAt(chain!, "verificationMaterial.x509CertificateChain.", "certificates");
  if (list.length === 0) invalid("verificationMaterial.x509CertificateChain is empty");
  const certificates = list.map((c, i) => {
    const at = `verificationMaterial.x509CertificateChain.certificates[${i}].`;
    if (!isObject(c)) invalid(`${at.slice(0, -1)} is not an object`);
    return bytesAt(c, at, "rawBytes", "raw_bytes");
  });
  return { type: "certificate", certificates, chain: true };
}

function parseTlogEntry(e: unknown, i: number, format: BundleFormat): BundleTlogEntry {
  const at = `verificationMaterial.tlogEntries[${i}].`;
  if (!isObject(e)) invalid(`${at.slice(0, -1)} is not an object`);
  const logIndex = int64At(e, at, "logIndex", "log_index") ?? 0n;
  const logIdObj = objectAt(e, at, "logId", "log_id");
  if (logIdObj === undefined) invalid(`${at}logId is missing`);
  const logId = bytesAt(logIdObj, `${at}logId.`, "keyId", "key_id");
  const kv = objectAt(e, at, "kindVersion", "kind_version");
  if (kv === undefined) invalid(`${at}kindVersion is missing`);
  const kind = stringAt(kv, `${at}kindVersion.`, "kind");
  const version = stringAt(kv, `${at}kindVersion.`, "version");
  if (kind === "" || version === "") invalid(`${at}kindVersion is incomplete`);
  const time = int64At(e, at, "integratedTime", "integrated_time");
  const promise = objectAt(e, at, "inclusionPromise", "inclusion_promise");
  const signedEntryTimestamp = promise === undefined
    ? undefined
    : bytesAt(promise, `${at}inclusionPromise.`, "signedEntryTimestamp", "signed_entry_timestamp");
  const p = objectAt(e, at, "inclusionProof", "inclusion_proof");
  let inclusionProof: BundleInclusionProof | undefined;
  if (p !== undefined) {
    const pat = `${at}inclusionProof.`;
    const treeSize = int64At(p, pat, "treeSize", "tree_size");
    if (treeSize === undefined) invalid(`${pat}treeSize is missing`);
    const cp = objectAt(p, pat, "checkpoint");
    const envelope = cp === undefined ? "" : stringAt(cp, `${pat}checkpoint.`, "envelope");
    inclusionProof = {
      logIndex: int64At(p, pat, "logIndex", "log_index") ?? 0n,
      treeSize,
      rootHash: bytesAt(p, pat, "rootHash", "root_hash"),
      hashes: arrayAt(p, pat, "hashes").map((h, j) => {
        const bytes = typeof h === "string" ? decodeProtoBytes(h) : undefined;
        if (bytes === undefined) invalid(`${pat}hashes[${j}] is not base64`);
        return bytes;
      }),
      checkpoint: envelope === "" ? undefined : envelope,
    };
  }
  if (format === "v0.1" && signedEntryTimestamp === undefined) {
    invalid(`${at}inclusionPromise is required in a v0.1 bundle`);
  }
  if (format !== "v0.1" && inclusionProof === undefined) {
    invalid(`${at}inclusionProof is required in a ${format} bundle`);
  }
  return {
    logIndex,
    logId,
    logIdHex: toHex(logId),
    kind,
    version,
    integratedTime: time === 0n ? undefined : time,
    signedEntryTimestamp,
    inclusionProof,
    canonicalizedBody: bytesAt(e, at, "canonicalizedBody", "canonicalized_body"),
  };
}

function parseSigstoreBundle(json: Json): Bundle {
  const mediaType = stringAt(json, "", "mediaType", "media_type");
  const format = BUNDLE_MEDIA_TYPES[mediaType];
  if (format === undefined) {
    invalid(`unsupported media type ${JSON.stringify(mediaType)}`);
  }
  const vm = objectAt(json, "", "verificationMaterial", "verification_material");
  if (vm === undefined) invalid("verificationMaterial is missing");
  const ms = objectAt(json, "", "messageSignature", "message_signature");
  const env = objectAt(json, "", "dsseEnvelope", "dsse_envelope");
  if ((ms === undefined) === (env === undefined)) {
    invalid("expected exactly one of messageSignature and dsseEnvelope");
  }
  const content = ms !== undefined ? parseMessageSignature(ms) : parseDsse(env!);
  const tvd = objectAt(
    vm,
    "verificationMaterial.",
    "timestampVerificationData",
    "timestamp_verification_data",
  );
  const rfc3161Timestamps = tvd === undefined
    ? []
    : arrayAt(tvd, "timestampVerificationData.", "rfc3161Timestamps", "rfc3161_timestamps").map(
      (t, i) => {
        const at = `timestampVerificationData.rfc3161Timestamps[${i}].`;
        if (!isObject(t)) invalid(`${at.slice(0, -1)} is not an object`);
        return bytesAt(t, at, "signedTimestamp", "signed_timestamp");
      },
    );
  return {
    format,
    mediaType,
    content,
    verificationMaterial: parseMaterial(vm, format),
    tlogEntries: arrayAt(vm, "verificationMaterial.", "tlogEntries", "tlog_entries").map((e, i) =>
      parseTlogEntry(e, i, format)
    ),
    rfc3161Timestamps,
  };
}

function stdBase64(v: unknown, what: string): Uint8Array {
  const bytes = typeof v === "string" ? decodeProtoBytes(v) : undefined;
  if (bytes === undefined || bytes.length === 0) invalid(`${what} is not base64`);
  return bytes;
}

function parseLegacyMaterial(cert: unknown): VerificationMaterial {
  if (cert === undefined || cert === null || cert === "") return { type: "none" };
  if (typeof cert !== "string") invalid("cert is not a string");
  const pem = cert.includes("-----BEGIN")
    ? cert
    : new TextDecoder().decode(stdBase64(cert, "cert"));
  let block;
  try {
    block = decodePem(pem, "the bundle's cert");
  } catch (e) {
    invalid(`cert is neither a PEM certificate nor a PEM public key (${(e as Error).message})`);
  }
  if (block.type === "CERTIFICATE") {
    return { type: "certificate", certificates: [block.bytes], chain: false };
  }
  let key: KeyObject;
  try {
    key = parsePublicKeyPem(pem, "the bundle's cert");
  } catch (e) {
    invalid(`cert is neither a PEM certificate nor a PEM public key (${(e as Error).message})`);
  }
  return { type: "publicKey", hint: undefined, spki: spkiOf(key) };
}

function parseLegacyBundle(json: Json): Bundle {
  const raw = stdBase64(json.base64Signature, "base64Signature");
  let content: BundleContent;
  if (raw[0] === 0x7b /* { */) {
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(raw);
    } catch (e) {
      invalid(`base64Signature holds JSON that is not a DSSE envelope (${(e as Error).message})`);
    }
    content = { type: "dsseEnvelope", envelope, envelopeBytes: raw };
  } else {
    content = { type: "messageSignature", digest: undefined, signature: raw };
  }
  const tlogEntries: BundleTlogEntry[] = [];
  const rb = json.rekorBundle;
  if (rb !== undefined && rb !== null) {
    if (!isObject(rb)) invalid("rekorBundle is not an object");
    const payload = rb.Payload;
    if (!isObject(payload)) invalid("rekorBundle.Payload is missing");
    const body = stdBase64(payload.body, "rekorBundle.Payload.body");
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(body));
    } catch {
      invalid("rekorBundle.Payload.body is not JSON");
    }
    const kind = isObject(parsed) && typeof parsed.kind === "string" ? parsed.kind : "";
    const version = isObject(parsed) && typeof parsed.apiVersion === "string"
      ? parsed.apiVersion
      : "";
    const logIdHex = payload.logID;
    if (typeof logIdHex !== "string" || !/^[0-9a-fA-F]{64}$/.test(logIdHex)) {
      invalid("rekorBundle.Payload.logID is not 64 hex digits");
    }
    const logIndex = int64At(payload, "rekorBundle.Payload.", "logIndex");
    const integratedTime = int64At(payload, "rekorBundle.Payload.", "integratedTime");
    if (logIndex === undefined) invalid("rekorBundle.Payload.logIndex is missing");
    if (integratedTime === undefined) invalid("rekorBundle.Payload.integratedTime is missing");
    tlogEntries.push({
      logIndex,
      logId: Uint8Array.fromHex(logIdHex),
      logIdHex: logIdHex.toLowerCase(),
      kind,
      version,
      integratedTime,
      signedEntryTimestamp: stdBase64(
        rb.SignedEntryTimestamp,
        "rekorBundle.SignedEntryTimestamp",
      ),
      inclusionProof: undefined,
      canonicalizedBody: body,
    });
  }
  return {
    format: "legacy",
    mediaType: undefined,
    content,
    verificationMaterial: parseLegacyMaterial(json.cert),
    tlogEntries,
    rfc3161Timestamps: [],
  };
}

/**
 * Parses a Sigstore bundle (v0.1–v0.3) or a legacy cosign bundle
 * (`{"base64Signature","cert"?,"rekorBundle"?}`) into one shape. A legacy bundle whose
 * `base64Signature` decodes to JSON is read as a DSSE envelope (`attest-blob --bundle`).
 * @param input the JSON text (string or bytes) or the parsed JSON value
 * @throws {CosignError} `BUNDLE_INVALID` naming the malformed or missing part
 */
export function parseBundle(input: string | Uint8Array | unknown): Bundle {
  const json = parseJsonInput(input, "bundle");
  if (!isObject(json)) invalid("expected a JSON object");
  if (field(json, "mediaType", "media_type") !== undefined) return parseSigstoreBundle(json);
  if ("base64Signature" in json) return parseLegacyBundle(json);
  invalid("neither a Sigstore bundle (no mediaType) nor a cosign bundle (no base64Signature)");
}

/**
 * Checks that the bundle can be verified the way the user asked: a bundle signed with a public
 * key needs a key (`--key`); a certificate-based bundle with a key is allowed (its certificate
 * must then hold that key, which {@link verifyBundleWithKey} checks).
 * @param bundle the parsed bundle
 * @param haveKey whether a verification key was given
 * @throws {CosignError} `BUNDLE_KEY_REQUIRED` for a key-signed bundle and no key
 */
export function checkVerificationMaterial(bundle: Bundle, haveKey: boolean): void {
  const vm = bundle.verificationMaterial;
  if (!haveKey && vm.type === "publicKey") {
    fail(
      "BUNDLE_KEY_REQUIRED",
      `The bundle is signed with a public key${
        vm.hint === undefined ? "" : ` (hint ${vm.hint})`
      }, but no key was given: verify it with --key`,
    );
  }
  if (!haveKey && vm.type === "none") {
    fail("BUNDLE_KEY_REQUIRED", "The bundle holds no certificate: verify it with --key");
  }
}

/** The artifact a bundle is verified against: its bytes, or only its digest. */
export type BundleArtifact =
  | { readonly bytes: Uint8Array }
  | { readonly digest: { readonly alg: DigestAlgorithm; readonly hex: string } };

/** Options for {@link verifyBundleWithKey}. */
export interface VerifyBundleOptions {
  /** Skip the transparency log (`--insecure-ignore-tlog`). */
  readonly ignoreTlog?: boolean;
  /** For in-toto envelopes, check that a subject matches the artifact (default true). */
  readonly checkClaims?: boolean;
  /** The current time, for the "integrated time is not in the future" check. */
  readonly now?: Date;
}

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

/** The summary of a successful {@link verifyBundleWithKey}, for the CLI's check lines. */
export interface BundleVerification {
  /** The bundle's format. */
  readonly format: BundleFormat;
  /** `messageSignature` or `dsseEnvelope`. */
  readonly contentType: BundleContent["type"];
  /** The signature (or an envelope signature) verified with the key. */
  readonly signatureVerified: true;
  /** The artifact digest the bundle was checked against (hex). */
  readonly artifactDigest: { readonly alg: DigestAlgorithm; readonly hex: string } | undefined;
  /** The bundle's `messageDigest` was compared with the artifact. */
  readonly messageDigestMatched: boolean;
  /** An in-toto subject digest matched the artifact. */
  readonly claimsVerified: boolean;
  /** The in-toto statement, for DSSE content with an in-toto payload. */
  readonly statement: Statement | undefined;
  /** The public-key hint equals cosign's hint for the key (`undefined` when there is none). */
  readonly keyHintMatched: boolean | undefined;
  /** The transparency log was verified offline from the bundle (false with `ignoreTlog`). */
  readonly tlogVerifiedOffline: boolean;
  /** Per-entry details. */
  readonly tlogEntries: readonly TlogEntryCheck[];
  /** The earliest integrated time, the signing time for certificate checks. */
  readonly integratedTime: Date | undefined;
}

function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: "der", type: "spki" }));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function artifactDigestFor(
  artifact: BundleArtifact,
  algorithm: DigestAlgorithm,
): { alg: DigestAlgorithm; bytes: Uint8Array } {
  if ("bytes" in artifact) return { alg: algorithm, bytes: hash(algorithm, artifact.bytes) };
  const { alg, hex } = artifact.digest;
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== DIGEST_SIZE[alg] * 2) {
    fail("USAGE", `Invalid ${alg} digest: expected ${DIGEST_SIZE[alg] * 2} hex digits`);
  }
  if (alg !== algorithm) {
    fail(
      "ARTIFACT_MISMATCH",
      `The bundle signs a ${algorithm} digest, but the artifact was given as a ${alg} digest`,
    );
  }
  return { alg, bytes: Uint8Array.fromHex(hex) };
}

/** The SPKI of a PEM (public key or certificate), for comparing keys in entry bodies. */
function pemSpki(pemBytes: Uint8Array, what: string): Uint8Array {
  const text = new TextDecoder().decode(pemBytes);
  try {
    return spkiOf(parsePublicKeyPem(text, what));
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
function at(obj: unknown, ...path: (string | number)[]): unknown {
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

function mismatch(entry: BundleTlogEntry, what: string): never {
  fail(
    "TLOG_BODY_MISMATCH",
    `Transparency log entry ${entry.logIndex} (${entry.kind} ${entry.version}) does not match the bundle: ${what}`,
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

interface BodyContext {
  readonly content: BundleContent;
  /** For message signatures: the artifact digest the signature was verified against. */
  readonly digest: { alg: DigestAlgorithm; bytes: Uint8Array } | undefined;
  readonly keySpki: Uint8Array;
}

function checkHashedRekord(entry: BundleTlogEntry, body: unknown, ctx: BodyContext): void {
  if (ctx.content.type !== "messageSignature" || ctx.digest === undefined) {
    mismatch(
      entry,
      "a hashedrekord entry records a message signature, the bundle has a DSSE envelope",
    );
  }
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
  const payloadHash = hash("sha256", envelope.payload);
  const envSigs = envelope.signatures.map((s) => s.sig);
  const key = ctx.keySpki;
  if (entry.kind === "dsse") {
    checkHexHash(entry, body, "payload hash", payloadHash, "spec", "payloadHash");
    if (envelopeBytes !== undefined) {
      checkHexHash(
        entry,
        body,
        "envelope hash",
        hash("sha256", envelopeBytes),
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
        hash("sha256", envelopeBytes),
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
      `Transparency log entry ${entry.logIndex}: ${entry.kind} ${entry.version} entries are not supported yet`,
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

function verifyEntry(
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
  if (proof !== undefined) {
    verifyInclusion(
      leafHash(entry.canonicalizedBody),
      proof.logIndex,
      proof.treeSize,
      proof.hashes,
      proof.rootHash,
    );
    if (proof.checkpoint !== undefined) {
      const checkpoint = verifyCheckpoint(proof.checkpoint, log);
      checkCheckpointMatchesProof(checkpoint, proof);
      inclusionProofVerified = true;
    }
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

/**
 * Verifies a message signature. The signature is over the message hashed with the bundle's
 * digest algorithm, which has been checked against the artifact, so ECDSA and RSA keys verify it
 * over that digest: the artifact bytes and the `sha256:<hex>` form then give the same answer.
 * Ed25519 signs the message itself and needs the bytes; so does a legacy bundle that records no
 * digest algorithm at all (the key's own hash is used).
 */
async function verifySignatureOver(
  artifact: BundleArtifact,
  digest: { alg: DigestAlgorithm; bytes: Uint8Array },
  digestDeclared: boolean,
  signature: Uint8Array,
  verifier: Verifier,
  key: KeyObject,
): Promise<void> {
  const prehashable = key.asymmetricKeyType === "ec" || key.asymmetricKeyType === "rsa";
  let ok: boolean;
  try {
    ok = "bytes" in artifact && (!prehashable || !digestDeclared)
      ? await verifier.verify(artifact.bytes, signature)
      : verifyPrehashed(key, digest.alg, digest.bytes, signature);
  } catch (e) {
    if (e instanceof CosignError && e.code === "SIGNATURE_INVALID_ENCODING") {
      fail("SIGNATURE_MISMATCH", `The bundle's signature does not verify: ${e.message}`);
    }
    throw e;
  }
  if (!ok) {
    fail("SIGNATURE_MISMATCH", "The bundle's signature does not verify with the given key");
  }
}

/**
 * Verifies a bundle with a public key (`verify-blob --key --bundle`, `verify-blob-attestation`).
 * @param bundle the parsed bundle
 * @param artifact the artifact bytes, or its digest (`sha256:<hex>` on the command line)
 * @param verifier the key's verifier (its public key is also compared with the key in the
 *   bundle's certificate, if any, and in the tlog entries)
 * @param trustedRoot the trusted root holding the Rekor keys; required unless `ignoreTlog`
 * @param options `ignoreTlog`, `checkClaims`, `now`
 * @returns what was verified
 * @throws {CosignError} one-line errors: `SIGNATURE_MISMATCH`, `DSSE_INVALID`,
 *   `ARTIFACT_MISMATCH` (digest differs), `ATTESTATION_MISMATCH` (no subject matches),
 *   `BUNDLE_KEY_MISMATCH`, `TLOG_MISSING`, `TRUSTED_ROOT_MISSING`, `TLOG_BODY_MISMATCH`,
 *   `TLOG_INVALID`, `TLOG_UNTRUSTED`, `NOT_IMPLEMENTED` (an unsupported entry kind; Ed25519
 *   with a digest-only artifact)
 */
export async function verifyBundleWithKey(
  bundle: Bundle,
  artifact: BundleArtifact,
  verifier: Verifier,
  trustedRoot: TrustedRoot | undefined,
  options: VerifyBundleOptions = {},
): Promise<BundleVerification> {
  const key = parsePublicKeyPem(await verifier.publicKeyPem(), "the verification key");
  const keySpki = spkiOf(key);
  const vm = bundle.verificationMaterial;
  let keyHintMatched: boolean | undefined;
  if (vm.type === "certificate") {
    const leaf = vm.certificates[0];
    const spki = leaf === undefined ? undefined : certificateSpki(leaf);
    if (spki === undefined) {
      fail("BUNDLE_INVALID", "Invalid bundle: the leaf certificate is not DER");
    }
    if (!bytesEqual(spki, keySpki)) {
      fail("BUNDLE_KEY_MISMATCH", "The bundle's certificate does not hold the given key");
    }
  } else if (vm.type === "publicKey") {
    if (vm.spki !== undefined && !bytesEqual(vm.spki, keySpki)) {
      fail("BUNDLE_KEY_MISMATCH", "The bundle's public key is not the given key");
    }
    if (vm.hint !== undefined) keyHintMatched = vm.hint === toBase64(hash("sha256", keySpki));
  }

  const content = bundle.content;
  let artifactDigest: { alg: DigestAlgorithm; bytes: Uint8Array } | undefined;
  let messageDigestMatched = false;
  let claimsVerified = false;
  let statement: Statement | undefined;
  if (content.type === "messageSignature") {
    const declared = content.digest?.algorithm ?? hashedRekordAlgorithm(bundle);
    const algorithm = declared ?? "sha256";
    artifactDigest = artifactDigestFor(artifact, algorithm);
    if (content.digest !== undefined) {
      if (!bytesEqual(content.digest.bytes, artifactDigest.bytes)) {
        fail(
          "ARTIFACT_MISMATCH",
          `The bundle's message digest ${toHex(content.digest.bytes)} is not the artifact's ` +
            `${algorithm} ${toHex(artifactDigest.bytes)}`,
        );
      }
      messageDigestMatched = true;
    }
    await verifySignatureOver(
      artifact,
      artifactDigest,
      declared !== undefined,
      content.signature,
      verifier,
      key,
    );
  } else {
    await verifyEnvelope(content.envelope, verifier);
    try {
      statement = parseStatement(content.envelope.payload);
    } catch (e) {
      if (options.checkClaims !== false) throw e;
    }
    if (options.checkClaims !== false) {
      artifactDigest = artifactDigestFor(artifact, "sha256");
      if (!hasSubjectDigest(statement!, "sha256", toHex(artifactDigest.bytes))) {
        fail(
          "ATTESTATION_MISMATCH",
          `no matching subject digest found: no subject has sha256 ${toHex(artifactDigest.bytes)}`,
        );
      }
      claimsVerified = true;
    }
  }

  const checks: TlogEntryCheck[] = [];
  if (!options.ignoreTlog) {
    if (bundle.tlogEntries.length === 0) {
      fail(
        "TLOG_MISSING",
        "The bundle has no transparency log entry (use --insecure-ignore-tlog to skip the log)",
      );
    }
    if (trustedRoot === undefined) {
      fail(
        "TRUSTED_ROOT_MISSING",
        "No trusted root to verify the bundle's transparency log entries (pass --trusted-root, " +
          "or --insecure-ignore-tlog to skip the log)",
      );
    }
    const now = options.now ?? new Date();
    const ctx: BodyContext = {
      content,
      digest: artifactDigest,
      keySpki,
    };
    for (const entry of bundle.tlogEntries) checks.push(verifyEntry(entry, ctx, trustedRoot, now));
  }
  const times = checks.map((c) => c.integratedTime).filter((t): t is Date => t !== undefined);
  return {
    format: bundle.format,
    contentType: content.type,
    signatureVerified: true,
    artifactDigest: artifactDigest === undefined
      ? undefined
      : { alg: artifactDigest.alg, hex: toHex(artifactDigest.bytes) },
    messageDigestMatched,
    claimsVerified,
    statement,
    keyHintMatched,
    tlogVerifiedOffline: checks.length > 0,
    tlogEntries: checks,
    integratedTime: times.length === 0
      ? undefined
      : new Date(Math.min(...times.map((t) => t.getTime()))),
  };
}

/** For legacy message signatures (no `messageDigest`): the hash algorithm the entry records. */
function hashedRekordAlgorithm(bundle: Bundle): DigestAlgorithm | undefined {
  for (const e of bundle.tlogEntries) {
    if (e.kind !== "hashedrekord") continue;
    try {
      const body = JSON.parse(new TextDecoder().decode(e.canonicalizedBody));
      const alg = at(body, "spec", "data", "hash", "algorithm");
      if (alg === "sha256" || alg === "sha384" || alg === "sha512") return alg;
    } catch {
      // the body check reports it
    }
  }
  return undefined;
}
