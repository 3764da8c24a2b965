/**
 * Sigstore bundles (cosign-spec §5.3: protojson of `dev.sigstore.bundle.v1.Bundle`, media types
 * v0.1, v0.2 and v0.3) and legacy cosign bundles (`LocalSignedPayload`, §5.2), parsed into one
 * shape. No I/O.
 *
 * Parsing follows protojson: lowerCamel or proto field names, int64 as strings (or numbers),
 * `bytes` as standard or URL-safe base64. Certificates are returned unverified; verification is
 * in `verify_bundle.ts` (re-exported here).
 * @module
 */

import type { KeyObject } from "node:crypto";
import { CosignError, type ErrorCode } from "../errors.ts";
import { toHex } from "../crypto/encoding.ts";
import { decodePem } from "../crypto/pem.ts";
import { parsePublicKeyPem, spkiDer } from "../crypto/keys.ts";
import type { DigestAlgorithm } from "../crypto/prehashed.ts";
import { decodeProtoBytes } from "../tlog/bytes.ts";
import { type Envelope, parseEnvelope } from "./dsse.ts";
import { DIGEST_SIZE, PROTO_HASH } from "./digests.ts";
import { oneLine } from "../text/escape.ts";

export * from "./verify_bundle.ts";

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
  /**
   * The bytes the timestamps imprint when they are not the signature: cosign's legacy `.att`
   * layers timestamp the whole envelope (the layer payload; cosign `VerifyRFC3161Timestamp`
   * uses the payload when the signature annotation is empty). Never set by the bundle parser.
   */
  readonly timestampedContent?: Uint8Array | undefined;
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

/**
 * The fields of each protojson message of a bundle, as `[jsonName, protoName]`. Go's protojson,
 * which sigstore-go parses bundles with, refuses unknown fields; so do we, and a field given under
 * both of its names, so that no part of a bundle can say two things (a case-variant
 * `DsseEnvelope` beside the signed `dsseEnvelope`, legacy fields beside Sigstore ones).
 */
const MESSAGE_FIELDS = {
  bundle: [
    ["mediaType", "media_type"],
    ["verificationMaterial", "verification_material"],
    ["messageSignature", "message_signature"],
    ["dsseEnvelope", "dsse_envelope"],
  ],
  verificationMaterial: [
    ["publicKey", "public_key"],
    ["x509CertificateChain", "x509_certificate_chain"],
    ["certificate", "certificate"],
    ["tlogEntries", "tlog_entries"],
    ["timestampVerificationData", "timestamp_verification_data"],
  ],
  publicKey: [["hint", "hint"]],
  certificate: [["rawBytes", "raw_bytes"]],
  certificateChain: [["certificates", "certificates"]],
  tlogEntry: [
    ["logIndex", "log_index"],
    ["logId", "log_id"],
    ["kindVersion", "kind_version"],
    ["integratedTime", "integrated_time"],
    ["inclusionPromise", "inclusion_promise"],
    ["inclusionProof", "inclusion_proof"],
    ["canonicalizedBody", "canonicalized_body"],
  ],
  logId: [["keyId", "key_id"]],
  kindVersion: [["kind", "kind"], ["version", "version"]],
  inclusionPromise: [["signedEntryTimestamp", "signed_entry_timestamp"]],
  inclusionProof: [
    ["logIndex", "log_index"],
    ["rootHash", "root_hash"],
    ["treeSize", "tree_size"],
    ["hashes", "hashes"],
    ["checkpoint", "checkpoint"],
  ],
  checkpoint: [["envelope", "envelope"]],
  timestampVerificationData: [["rfc3161Timestamps", "rfc3161_timestamps"]],
  rfc3161Timestamp: [["signedTimestamp", "signed_timestamp"]],
  messageSignature: [["messageDigest", "message_digest"], ["signature", "signature"]],
  hashOutput: [["algorithm", "algorithm"], ["digest", "digest"]],
  envelope: [["payload", "payload"], ["payloadType", "payload_type"], [
    "signatures",
    "signatures",
  ]],
  signature: [["sig", "sig"], ["keyid", "keyid"]],
  // cosign's LocalSignedPayload and its RekorBundle, as cosign writes them.
  legacy: [["base64Signature", "base64Signature"], ["cert", "cert"], [
    "rekorBundle",
    "rekorBundle",
  ]],
  rekorBundle: [["SignedEntryTimestamp", "SignedEntryTimestamp"], ["Payload", "Payload"]],
  rekorPayload: [
    ["body", "body"],
    ["integratedTime", "integratedTime"],
    ["logIndex", "logIndex"],
    ["logID", "logID"],
  ],
} as const satisfies Record<string, readonly (readonly [string, string])[]>;

/**
 * Refuses a member that is not a field of the message, and a field given under both its JSON
 * and its proto name.
 */
function checkFields(obj: Json, where: string, message: keyof typeof MESSAGE_FIELDS): void {
  const fields: readonly (readonly [string, string])[] = MESSAGE_FIELDS[message];
  for (const key of Object.keys(obj)) {
    if (!fields.some(([json, proto]) => key === json || key === proto)) {
      invalid(`${where || "the bundle "}has an unknown field ${JSON.stringify(key)}`);
    }
  }
  for (const [json, proto] of fields) {
    if (json !== proto && json in obj && proto in obj) {
      invalid(`${where}${json} is given twice (as ${json} and ${proto})`);
    }
  }
}

/** Reads a protojson field by JSON or proto name; `null` counts as absent. */
function field(obj: Json, jsonName: string, protoName = jsonName): unknown {
  const v = obj[jsonName] ?? obj[protoName];
  return v === null ? undefined : v;
}

function objectAt(
  obj: Json,
  where: string,
  message: keyof typeof MESSAGE_FIELDS,
  jsonName: string,
  protoName?: string,
): Json | undefined {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid(`${where}${jsonName} is not an object`);
  checkFields(v, `${where}${jsonName}.`, message);
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

function parseJsonInput(input: unknown, what: string): unknown {
  if (typeof input !== "string" && !(input instanceof Uint8Array)) return input;
  const text = typeof input === "string" ? input : new TextDecoder().decode(input);
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail("BUNDLE_INVALID", `Invalid ${what}: not JSON (${oneLine((e as Error).message)})`);
  }
}

function parseMessageSignature(ms: Json): MessageSignatureContent {
  const signature = bytesAt(ms, "messageSignature.", "signature");
  const md = objectAt(ms, "messageSignature.", "hashOutput", "messageDigest", "message_digest");
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
    checkFields(s, `dsseEnvelope.signatures[${i}].`, "signature");
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
  const pk = objectAt(vm, "verificationMaterial.", "publicKey", "publicKey", "public_key");
  const cert = objectAt(vm, "verificationMaterial.", "certificate", "certificate");
  const chain = objectAt(
    vm,
    "verificationMaterial.",
    "certificateChain",
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
  // v0.3 bundles carry a single certificate (`certificate`) or a public key; the chain was
  // dropped from the spec (protobuf-specs: x509_certificate_chain is for v0.1/v0.2 only).
  // sigstore-go refuses a v0.3 bundle holding a chain ("verification material cannot be X.509
  // certificate chain (for bundle v0.3)", pkg/bundle/bundle.go); sigstore-java accepts it and
  // uses the leaf. We follow sigstore-go: such a bundle is malformed, not read as its leaf, so
  // certificates it carries beside the leaf can never slip into chain building.
  if (format === "v0.3") {
    invalid(
      "a v0.3 bundle cannot hold verificationMaterial.x509CertificateChain (use certificate)",
    );
  }
  const list = arrayAt(chain!, "verificationMaterial.x509CertificateChain.", "certificates");
  if (list.length === 0) invalid("verificationMaterial.x509CertificateChain is empty");
  const certificates = list.map((c, i) => {
    const at = `verificationMaterial.x509CertificateChain.certificates[${i}].`;
    if (!isObject(c)) invalid(`${at.slice(0, -1)} is not an object`);
    checkFields(c, at, "certificate");
    return bytesAt(c, at, "rawBytes", "raw_bytes");
  });
  return { type: "certificate", certificates, chain: true };
}

function parseTlogEntry(e: unknown, i: number, format: BundleFormat): BundleTlogEntry {
  const at = `verificationMaterial.tlogEntries[${i}].`;
  if (!isObject(e)) invalid(`${at.slice(0, -1)} is not an object`);
  checkFields(e, at, "tlogEntry");
  const logIndex = int64At(e, at, "logIndex", "log_index") ?? 0n;
  const logIdObj = objectAt(e, at, "logId", "logId", "log_id");
  if (logIdObj === undefined) invalid(`${at}logId is missing`);
  const logId = bytesAt(logIdObj, `${at}logId.`, "keyId", "key_id");
  const kv = objectAt(e, at, "kindVersion", "kindVersion", "kind_version");
  if (kv === undefined) invalid(`${at}kindVersion is missing`);
  const kind = stringAt(kv, `${at}kindVersion.`, "kind");
  const version = stringAt(kv, `${at}kindVersion.`, "version");
  if (kind === "" || version === "") invalid(`${at}kindVersion is incomplete`);
  const time = int64At(e, at, "integratedTime", "integrated_time");
  const promise = objectAt(e, at, "inclusionPromise", "inclusionPromise", "inclusion_promise");
  const signedEntryTimestamp = promise === undefined
    ? undefined
    : bytesAt(promise, `${at}inclusionPromise.`, "signedEntryTimestamp", "signed_entry_timestamp");
  const p = objectAt(e, at, "inclusionProof", "inclusionProof", "inclusion_proof");
  let inclusionProof: BundleInclusionProof | undefined;
  if (p !== undefined) {
    const pat = `${at}inclusionProof.`;
    const treeSize = int64At(p, pat, "treeSize", "tree_size");
    if (treeSize === undefined) invalid(`${pat}treeSize is missing`);
    const cp = objectAt(p, pat, "checkpoint", "checkpoint");
    const envelope = cp === undefined ? "" : stringAt(cp, `${pat}checkpoint.`, "envelope");
    const proof: BundleInclusionProof = {
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
    // An inclusion proof is verified only against a signed checkpoint (protobuf-specs:
    // `InclusionProof.checkpoint` is REQUIRED): without one, its root hash is whatever the
    // bundle says. From v0.2 on the proof is required, so a proof without a checkpoint makes
    // the bundle malformed. In a v0.1 bundle the SET is required and the proof optional: a
    // proof without a checkpoint is ignored there (dropped: neither trusted nor an error), as
    // sigstore-python does. sigstore-go refuses it in every version (`inclusion proof missing
    // required checkpoint`, pkg/tlog/entry.go); for v0.1 the entry's SET still stands alone here.
    if (proof.checkpoint === undefined && format !== "v0.1") {
      invalid(
        `${pat}checkpoint is missing: an inclusion proof is verified only against a signed checkpoint`,
      );
    }
    if (proof.checkpoint !== undefined) inclusionProof = proof;
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

function parseSigstoreBundle(json: Json, expected: BundleContent["type"] | undefined): Bundle {
  checkFields(json, "", "bundle");
  const mediaType = stringAt(json, "", "mediaType", "media_type");
  const format = BUNDLE_MEDIA_TYPES[mediaType];
  if (format === undefined) {
    invalid(`unsupported media type ${JSON.stringify(mediaType)}`);
  }
  const vm = objectAt(
    json,
    "",
    "verificationMaterial",
    "verificationMaterial",
    "verification_material",
  );
  if (vm === undefined) invalid("verificationMaterial is missing");
  const ms = objectAt(json, "", "messageSignature", "messageSignature", "message_signature");
  const env = objectAt(json, "", "envelope", "dsseEnvelope", "dsse_envelope");
  if ((ms === undefined) === (env === undefined)) {
    invalid("expected exactly one of messageSignature and dsseEnvelope");
  }
  const content = ms !== undefined ? parseMessageSignature(ms) : parseDsse(env!);
  if (expected !== undefined && content.type !== expected) {
    unexpectedContent(content.type);
  }
  const tvd = objectAt(
    vm,
    "verificationMaterial.",
    "timestampVerificationData",
    "timestampVerificationData",
    "timestamp_verification_data",
  );
  const rfc3161Timestamps = tvd === undefined
    ? []
    : arrayAt(tvd, "timestampVerificationData.", "rfc3161Timestamps", "rfc3161_timestamps").map(
      (t, i) => {
        const at = `timestampVerificationData.rfc3161Timestamps[${i}].`;
        if (!isObject(t)) invalid(`${at.slice(0, -1)} is not an object`);
        checkFields(t, at, "rfc3161Timestamp");
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
  return { type: "publicKey", hint: undefined, spki: spkiDer(key) };
}

/** The content a log entry of this kind records. */
const ENTRY_CONTENT: Readonly<Record<string, BundleContent["type"]>> = {
  hashedrekord: "messageSignature",
  dsse: "dsseEnvelope",
  intoto: "dsseEnvelope",
};

/** Refuses content of one kind where the caller verifies the other. */
function unexpectedContent(found: BundleContent["type"]): never {
  return invalid(
    found === "dsseEnvelope"
      ? "it holds a DSSE envelope (an attestation), but a signature was expected"
      : "it holds a signature, but a DSSE envelope (an attestation) was expected",
  );
}

function parseLegacyBundle(json: Json, expected: BundleContent["type"] | undefined): Bundle {
  checkFields(json, "", "legacy");
  const raw = stdBase64(json.base64Signature, "base64Signature");
  const tlogEntries: BundleTlogEntry[] = [];
  const rb = json.rekorBundle;
  if (rb !== undefined && rb !== null) {
    if (!isObject(rb)) invalid("rekorBundle is not an object");
    checkFields(rb, "rekorBundle.", "rekorBundle");
    const payload = rb.Payload;
    if (!isObject(payload)) invalid("rekorBundle.Payload is missing");
    checkFields(payload, "rekorBundle.Payload.", "rekorPayload");
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
  // What base64Signature holds is decided by the caller (a signature for verify-blob, an
  // envelope for verify-blob-attestation) and by the log entry's kind, never by its first byte:
  // a signature may start with "{".
  const recorded = tlogEntries.length === 0 ? undefined : ENTRY_CONTENT[tlogEntries[0]!.kind];
  if (expected !== undefined && recorded !== undefined && recorded !== expected) {
    unexpectedContent(recorded);
  }
  let content: BundleContent;
  if ((expected ?? recorded ?? "messageSignature") === "dsseEnvelope") {
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(raw);
    } catch (e) {
      invalid(`base64Signature is not a DSSE envelope (${(e as Error).message})`);
    }
    content = { type: "dsseEnvelope", envelope, envelopeBytes: raw };
  } else {
    content = { type: "messageSignature", digest: undefined, signature: raw };
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

/** Options for {@link parseBundle}. */
export interface ParseBundleOptions {
  /**
   * The content the caller verifies: `messageSignature` (a signature over the artifact) or
   * `dsseEnvelope` (an attestation). A bundle holding the other is refused. A legacy cosign
   * bundle's `base64Signature` is read as this; when absent, as what its log entry records
   * (hashedrekord: a signature; dsse, intoto: an envelope), else as a signature.
   */
  readonly content?: BundleContent["type"];
}

/**
 * Parses a Sigstore bundle (v0.1–v0.3) or a legacy cosign bundle
 * (`{"base64Signature","cert"?,"rekorBundle"?}`) into one shape. As Go's protojson, unknown
 * fields are refused, and so is a field given twice (JSON and proto name) or a mix of both
 * formats: one bundle says one thing.
 * @param input the JSON text (string or bytes) or the parsed JSON value
 * @param options what the bundle must hold (see {@link ParseBundleOptions.content})
 * @throws {CosignError} `BUNDLE_INVALID` naming the malformed, unknown or missing part
 * @example
 * ```ts
 * import { parseBundle } from "@cosign-deno/cosign";
 * const bundle = parseBundle(await Deno.readFile("app.tar.gz.sigstore.json"));
 * console.log(bundle.format, bundle.content.type, bundle.tlogEntries.length);
 * ```
 */
export function parseBundle(
  input: string | Uint8Array | unknown,
  options: ParseBundleOptions = {},
): Bundle {
  const json = parseJsonInput(input, "bundle");
  if (!isObject(json)) invalid("expected a JSON object");
  if ("mediaType" in json || "media_type" in json) {
    return parseSigstoreBundle(json, options.content);
  }
  if ("base64Signature" in json) return parseLegacyBundle(json, options.content);
  invalid("neither a Sigstore bundle (no mediaType) nor a cosign bundle (no base64Signature)");
}
