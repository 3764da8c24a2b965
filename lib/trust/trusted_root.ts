/**
 * Sigstore trusted roots (`trusted_root.json`, protojson of `dev.sigstore.trustroot.v1.TrustedRoot`):
 * transparency logs, CT logs, certificate authorities and timestamp authorities, each with a
 * validity window, parsed into typed objects holding `node:crypto` keys and certificates.
 *
 * Log IDs appear base64 in the file and in bundles (`logId.keyId`) and hex in Rekor's SET
 * payload and API; {@link findTlog} accepts either. Validity windows are closed intervals:
 * a key is valid at its `start` and at its `end` (sigstore's `TimeRange`).
 * @module
 */

import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { CosignError } from "../errors.ts";
import { decodeProtoBytes, toHex } from "../crypto/encoding.ts";
import { noteKeyId } from "../crypto/note_key.ts";
import { oneLine } from "../text/escape.ts";

/** The trusted-root media types this parser accepts. */
export const TRUSTED_ROOT_MEDIA_TYPES: readonly string[] = [
  "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/** A validity window; a missing bound is open. Both bounds are inclusive. */
export interface ValidityPeriod {
  /** First instant the material is valid. */
  readonly start?: Date | undefined;
  /** Last instant the material is valid (inclusive). */
  readonly end?: Date | undefined;
}

/** A transparency log (Rekor) or certificate-transparency log. */
export interface TransparencyLog {
  /** The log's base URL, e.g. `https://rekor.sigstore.dev`. */
  readonly baseUrl: string;
  /** The Merkle tree hash algorithm, e.g. `SHA2_256`. */
  readonly hashAlgorithm: string;
  /** The log's public key. */
  readonly publicKey: KeyObject;
  /** The key bytes as the file gives them (PKIX DER, or PKCS#1 for `PKCS1_*` key details). */
  readonly publicKeyBytes: Uint8Array;
  /** The key details enum string, e.g. `PKIX_ECDSA_P256_SHA_256`, or `""` when absent. */
  readonly keyDetails: string;
  /** The key's validity window. */
  readonly validFor: ValidityPeriod;
  /** The log ID (Rekor v1: SHA-256 of the PKIX DER key; Rekor v2: its note key ID). */
  readonly logId: Uint8Array;
  /** The log ID as lowercase hex, the form Rekor's SET payload uses. */
  readonly logIdHex: string;
  /**
   * The key ID on the log's checkpoint signatures (first 4 bytes = key hint): the file's
   * `checkpointKeyId` when present, else computed by `noteKeyId` from the key and
   * {@link checkpointOrigin}.
   */
  readonly checkpointKeyId: Uint8Array;
  /**
   * For Ed25519 logs (Rekor v2): the checkpoint origin, the host name of {@link baseUrl}.
   * `undefined` for other logs.
   */
  readonly checkpointOrigin: string | undefined;
}

/** One certificate of a chain: its DER and the parsed certificate. */
export interface TrustedCertificate {
  /** The DER bytes. */
  readonly der: Uint8Array;
  /** The parsed certificate. */
  readonly x509: X509Certificate;
}

/** A certificate authority (Fulcio) or timestamp authority. */
export interface CertificateAuthority {
  /** The distinguished-name parts the file gives. */
  readonly subject: { readonly organization?: string; readonly commonName?: string };
  /** The authority's URI. */
  readonly uri: string;
  /** The chain, leaf-most first, root last. */
  readonly certChain: readonly TrustedCertificate[];
  /** The authority's validity window. */
  readonly validFor: ValidityPeriod;
}

/** A parsed trusted root. */
export interface TrustedRoot {
  /** The media type. */
  readonly mediaType: string;
  /** Transparency logs (Rekor). */
  readonly tlogs: readonly TransparencyLog[];
  /** Certificate-transparency logs. */
  readonly ctlogs: readonly TransparencyLog[];
  /** Fulcio certificate authorities. */
  readonly certificateAuthorities: readonly CertificateAuthority[];
  /** RFC 3161 timestamp authorities. */
  readonly timestampAuthorities: readonly CertificateAuthority[];
}

type Json = Record<string, unknown>;

function invalid(message: string): never {
  throw new CosignError("TRUSTED_ROOT_INVALID", message);
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads a protojson field by its JSON name or its proto name; `null` counts as absent. */
function field(obj: Json, jsonName: string, protoName = jsonName): unknown {
  const v = obj[jsonName] ?? obj[protoName];
  return v === null ? undefined : v;
}

function stringField(obj: Json, where: string, jsonName: string, protoName?: string): string {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return "";
  if (typeof v !== "string") invalid(`Invalid trusted root: ${where}.${jsonName} is not a string`);
  return v;
}

function objectField(
  obj: Json,
  where: string,
  jsonName: string,
  protoName?: string,
): Json | undefined {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid(`Invalid trusted root: ${where}.${jsonName} is not an object`);
  return v;
}

function bytesField(obj: Json, where: string, jsonName: string, protoName?: string): Uint8Array {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) invalid(`Invalid trusted root: ${where}.${jsonName} is missing`);
  const bytes = typeof v === "string" ? decodeProtoBytes(v) : undefined;
  if (bytes === undefined || bytes.length === 0) {
    invalid(`Invalid trusted root: ${where}.${jsonName} is not non-empty base64`);
  }
  return bytes;
}

function arrayField(obj: Json, where: string, jsonName: string, protoName?: string): Json[] {
  const v = field(obj, jsonName, protoName);
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every(isObject)) {
    invalid(`Invalid trusted root: ${where}${jsonName} is not an array of objects`);
  }
  return v;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function parseTime(v: unknown, where: string): Date | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !RFC3339.test(v)) {
    invalid(`Invalid trusted root: ${where} is not an RFC 3339 time: ${JSON.stringify(v)}`);
  }
  // Date.parse keeps milliseconds; finer fractions are truncated.
  const ms = Date.parse(v.replace(/(\.\d{3})\d+/, "$1"));
  if (Number.isNaN(ms)) invalid(`Invalid trusted root: ${where} is not a valid time: ${v}`);
  return new Date(ms);
}

/**
 * A `TimeRange`. Its `start` is required: protobuf-specs make only `end` optional ("a period
 * that has started but has no known end"), so a missing `end` means still valid and a missing
 * `start` makes the root malformed; it never means "valid since forever". A missing range
 * (`obj` undefined) is refused when `required`, else open: sigstore-go requires it on log keys
 * and not on certificate and timestamp authorities, whose certificates still bound them.
 * sigstore-go reads a range without `start` on an authority as open at the start; we refuse it.
 */
function parseValidity(obj: Json | undefined, where: string, required: boolean): ValidityPeriod {
  if (obj === undefined) {
    if (required) invalid(`Invalid trusted root: ${where} is missing`);
    return {};
  }
  const start = parseTime(field(obj, "start"), `${where}.start`);
  if (start === undefined) {
    invalid(`Invalid trusted root: ${where}.start is missing (only end is optional)`);
  }
  const end = parseTime(field(obj, "end"), `${where}.end`);
  if (start && end && end < start) {
    invalid(`Invalid trusted root: ${where} ends (${end.toISOString()}) before it starts`);
  }
  return { start, end };
}

const EXPECTED_KEY: Array<[RegExp, string, string | undefined]> = [
  [/ECDSA_P256/, "ec", "prime256v1"],
  [/ECDSA_P384/, "ec", "secp384r1"],
  [/ECDSA_P521/, "ec", "secp521r1"],
  [/ED25519/, "ed25519", undefined],
  [/RSA/, "rsa", undefined],
];

function parseKey(bytes: Uint8Array, keyDetails: string, where: string): KeyObject {
  const type = keyDetails.startsWith("PKCS1_") ? "pkcs1" : "spki";
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(bytes), format: "der", type });
  } catch {
    invalid(
      `Invalid trusted root: ${where} is not a ${type === "spki" ? "PKIX" : "PKCS#1"} public key${
        keyDetails ? ` (key details ${keyDetails})` : ""
      }`,
    );
  }
  for (const [pattern, keyType, curve] of EXPECTED_KEY) {
    if (!pattern.test(keyDetails)) continue;
    const foundCurve = key.asymmetricKeyDetails?.namedCurve;
    if (key.asymmetricKeyType !== keyType || (curve !== undefined && foundCurve !== curve)) {
      invalid(
        `Invalid trusted root: ${where} key details say ${keyDetails}, but the key is ${key.asymmetricKeyType}${
          foundCurve ? ` ${foundCurve}` : ""
        }`,
      );
    }
    break;
  }
  return key;
}

function hostName(baseUrl: string): string | undefined {
  try {
    return new URL(baseUrl).hostname || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A transparency or CT log. Required, as sigstore-go's `ParseTransparencyLogs` requires them:
 * `hashAlgorithm` (SHA2_256, the only Merkle hash in use), `publicKey` with `rawBytes`,
 * `keyDetails` and `validFor.start`, and `logId.keyId`.
 */
function parseLog(obj: Json, where: string): TransparencyLog {
  const baseUrl = stringField(obj, where, "baseUrl", "base_url");
  const hashAlgorithm = stringField(obj, where, "hashAlgorithm", "hash_algorithm");
  if (hashAlgorithm === "") invalid(`Invalid trusted root: ${where}.hashAlgorithm is missing`);
  if (hashAlgorithm !== "SHA2_256") {
    invalid(
      `Invalid trusted root: ${where}.hashAlgorithm is ${hashAlgorithm}, only SHA2_256 is supported`,
    );
  }
  const pk = objectField(obj, where, "publicKey", "public_key");
  if (pk === undefined) invalid(`Invalid trusted root: ${where}.publicKey is missing`);
  const keyDetails = stringField(pk, `${where}.publicKey`, "keyDetails", "key_details");
  if (keyDetails === "") invalid(`Invalid trusted root: ${where}.publicKey.keyDetails is missing`);
  const publicKeyBytes = bytesField(pk, `${where}.publicKey`, "rawBytes", "raw_bytes");
  const publicKey = parseKey(publicKeyBytes, keyDetails, `${where}.publicKey`);
  const validFor = parseValidity(
    objectField(pk, `${where}.publicKey`, "validFor", "valid_for"),
    `${where}.publicKey.validFor`,
    true,
  );
  const logIdObj = objectField(obj, where, "logId", "log_id");
  if (logIdObj === undefined) invalid(`Invalid trusted root: ${where}.logId is missing`);
  const logId = bytesField(logIdObj, `${where}.logId`, "keyId", "key_id");
  const checkpointOrigin = publicKey.asymmetricKeyType === "ed25519"
    ? hostName(baseUrl)
    : undefined;
  const cpIdObj = objectField(obj, where, "checkpointKeyId", "checkpoint_key_id");
  let checkpointKeyId: Uint8Array;
  if (cpIdObj !== undefined) {
    checkpointKeyId = bytesField(cpIdObj, `${where}.checkpointKeyId`, "keyId", "key_id");
  } else if (publicKey.asymmetricKeyType === "ed25519" && checkpointOrigin === undefined) {
    // Without a base URL the origin is unknown; fall back to the log ID, which is the note
    // key ID for Rekor v2 logs.
    checkpointKeyId = logId;
  } else {
    checkpointKeyId = noteKeyId(publicKey, checkpointOrigin);
  }
  return {
    baseUrl,
    hashAlgorithm,
    publicKey,
    publicKeyBytes,
    keyDetails,
    validFor,
    logId,
    logIdHex: toHex(logId),
    checkpointKeyId,
    checkpointOrigin,
  };
}

function parseAuthority(obj: Json, where: string): CertificateAuthority {
  const subj = objectField(obj, where, "subject") ?? {};
  const organization = stringField(subj, `${where}.subject`, "organization");
  const commonName = stringField(subj, `${where}.subject`, "commonName", "common_name");
  const subject = {
    ...(organization ? { organization } : {}),
    ...(commonName ? { commonName } : {}),
  };
  const uri = stringField(obj, where, "uri");
  const chainObj = objectField(obj, where, "certChain", "cert_chain");
  if (chainObj === undefined) invalid(`Invalid trusted root: ${where}.certChain is missing`);
  const certs = arrayField(chainObj, `${where}.certChain.`, "certificates");
  if (certs.length === 0) {
    invalid(`Invalid trusted root: ${where}.certChain.certificates is empty`);
  }
  const certChain = certs.map((c, i): TrustedCertificate => {
    const at = `${where}.certChain.certificates[${i}]`;
    const der = bytesField(c, at, "rawBytes", "raw_bytes");
    try {
      return { der, x509: new X509Certificate(Buffer.from(der)) };
    } catch {
      invalid(`Invalid trusted root: ${at} is not a DER X.509 certificate`);
    }
  });
  const validFor = parseValidity(
    objectField(obj, where, "validFor", "valid_for"),
    `${where}.validFor`,
    false,
  );
  return { subject, uri, certChain, validFor };
}

/**
 * Parses a trusted root.
 * @param input the JSON text (string or bytes) or the already-parsed JSON value
 * @throws {CosignError} `TRUSTED_ROOT_INVALID` naming the first malformed part (bad JSON, an
 *   unsupported media type, a missing required field such as a log's `logId`, key details,
 *   hash algorithm or `publicKey.validFor.start`, an authority's `certChain`, or the `start` of
 *   any `validFor` given; an unparsable key or certificate, a key that contradicts its key
 *   details, a malformed time)
 * @example
 * ```ts
 * import { parseTrustedRoot } from "@cosign-deno/cosign";
 * const root = parseTrustedRoot(await Deno.readFile("trusted_root.json"));
 * console.log(root.tlogs.length, root.certificateAuthorities.length);
 * ```
 */
export function parseTrustedRoot(input: string | Uint8Array | unknown): TrustedRoot {
  let json: unknown = input;
  if (typeof input === "string" || input instanceof Uint8Array) {
    const text = typeof input === "string" ? input : new TextDecoder().decode(input);
    try {
      json = JSON.parse(text);
    } catch (e) {
      invalid(`Invalid trusted root: not JSON (${oneLine((e as Error).message)})`);
    }
  }
  if (!isObject(json)) invalid("Invalid trusted root: expected a JSON object");
  const mediaType = stringField(json, "", "mediaType", "media_type");
  if (!TRUSTED_ROOT_MEDIA_TYPES.includes(mediaType)) {
    invalid(
      `Invalid trusted root: expected media type ${TRUSTED_ROOT_MEDIA_TYPES[0]}, found ${
        JSON.stringify(mediaType)
      }`,
    );
  }
  return {
    mediaType,
    tlogs: arrayField(json, "", "tlogs").map((t, i) => parseLog(t, `tlogs[${i}]`)),
    ctlogs: arrayField(json, "", "ctlogs").map((t, i) => parseLog(t, `ctlogs[${i}]`)),
    certificateAuthorities: arrayField(
      json,
      "",
      "certificateAuthorities",
      "certificate_authorities",
    ).map((c, i) => parseAuthority(c, `certificateAuthorities[${i}]`)),
    timestampAuthorities: arrayField(json, "", "timestampAuthorities", "timestamp_authorities")
      .map((c, i) => parseAuthority(c, `timestampAuthorities[${i}]`)),
  };
}

/** True when `time` lies in the closed window `period` (a missing bound is open). */
export function isValidAt(period: ValidityPeriod, time: Date): boolean {
  const t = time.getTime();
  if (period.start !== undefined && t < period.start.getTime()) return false;
  if (period.end !== undefined && t > period.end.getTime()) return false;
  return true;
}

/**
 * Normalizes a log ID given as bytes, 64-digit hex (Rekor API, SET payload) or base64 (trusted
 * root, bundle `logId.keyId`). Exactly 64 hex digits are read as hex (a 32-byte ID in base64 is
 * 44 characters, so the two forms cannot be confused).
 * @throws {CosignError} `TLOG_INVALID` when the string is neither
 */
export function logIdBytes(id: Uint8Array | string): Uint8Array {
  if (typeof id !== "string") return id;
  if (/^[0-9a-fA-F]{64}$/.test(id)) return Uint8Array.fromHex(id);
  const bytes = decodeProtoBytes(id);
  if (bytes === undefined || bytes.length === 0) {
    throw new CosignError(
      "TLOG_INVALID",
      `Invalid log ID: expected hex or base64, found ${JSON.stringify(id)}`,
    );
  }
  return bytes;
}

function describe(time: Date | undefined): string {
  return time === undefined ? "open" : time.toISOString();
}

/**
 * Finds the log with `logId` among `logs`; with `time`, the log's key must also be valid then
 * (closed interval; for several entries with the same ID, the first valid one wins).
 * @param logs `root.tlogs` or `root.ctlogs`
 * @param logId bytes, hex or base64
 * @param time the instant the key must be valid at (e.g. the entry's integrated time)
 * @param kind what the logs are, for messages (default "transparency log")
 * @throws {CosignError} `TLOG_UNTRUSTED` when no log has the ID, or none is valid at `time`
 */
export function findLog(
  logs: readonly TransparencyLog[],
  logId: Uint8Array | string,
  time?: Date,
  kind = "transparency log",
): TransparencyLog {
  const id = logIdBytes(logId);
  const hex = toHex(id);
  const matches = logs.filter((l) => l.logIdHex === hex);
  if (matches.length === 0) {
    throw new CosignError(
      "TLOG_UNTRUSTED",
      `Untrusted ${kind}: log ID ${hex} is not in the trusted root (it lists ${
        logs.length === 0 ? "none" : logs.map((l) => l.logIdHex.slice(0, 8) + "…").join(", ")
      })`,
    );
  }
  if (time === undefined) return matches[0]!;
  const valid = matches.find((l) => isValidAt(l.validFor, time));
  if (valid === undefined) {
    const windows = matches.map((l) =>
      `${describe(l.validFor.start)} to ${describe(l.validFor.end)}`
    ).join("; ");
    throw new CosignError(
      "TLOG_UNTRUSTED",
      `Untrusted ${kind} ${matches[0]!.baseUrl || hex}: key not valid at ${time.toISOString()} ` +
        `(valid ${windows})`,
    );
  }
  return valid;
}

/**
 * Finds a transparency log (Rekor) of `root` by log ID; see {@link findLog}.
 * @throws {CosignError} `TLOG_UNTRUSTED`
 */
export function findTlog(
  root: Pick<TrustedRoot, "tlogs">,
  logId: Uint8Array | string,
  time?: Date,
): TransparencyLog {
  return findLog(root.tlogs, logId, time, "transparency log");
}
