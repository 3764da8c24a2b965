/**
 * Embedded Signed Certificate Timestamps (RFC 6962 §3.2–3.3): the SCT list extension
 * (OID 1.3.6.1.4.1.11129.2.4.2) of a Fulcio leaf, checked against the trusted root's
 * certificate-transparency logs. Each SCT signs the *precertificate*: the leaf's TBS with the
 * SCT extension removed, bound to the issuer by the SHA-256 of the issuer's
 * SubjectPublicKeyInfo.
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, type KeyObject, verify } from "node:crypto";
import { CosignError } from "../errors.ts";
import { concatBytes, toHex } from "../crypto/encoding.ts";
import { findLog, type TransparencyLog } from "../trust/trusted_root.ts";
import { type Certificate, formatTime, OID } from "./certificate.ts";
import { content, DerError, encoded, encodeElement, kids, readWhole, TAG } from "./_der.ts";

/** One verified SCT. */
export interface SctCheck {
  /** The CT log ID, lowercase hex (SHA-256 of the log's PKIX key). */
  readonly logId: string;
  /** When the log promised to include the precertificate. */
  readonly timestamp: Date;
  /** The log's base URL from the trusted root. */
  readonly logUrl: string;
}

/** Options for {@link verifyEmbeddedScts}. */
export interface SctOptions {
  /** How many SCTs must verify (default 1). */
  threshold?: number | undefined;
}

/** One SCT as it appears in the list. */
export interface EmbeddedSct {
  /** SCT version (0 is v1). */
  readonly version: number;
  /** The log ID (32 bytes). */
  readonly logId: Uint8Array;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  /** The SCT's extensions (opaque). */
  readonly extensions: Uint8Array;
  /** TLS HashAlgorithm (4 = SHA-256, 5 = SHA-384, 6 = SHA-512). */
  readonly hashAlgorithm: number;
  /** TLS SignatureAlgorithm (1 = RSA, 3 = ECDSA, 7 = Ed25519). */
  readonly signatureAlgorithm: number;
  /** The signature (DER for ECDSA). */
  readonly signature: Uint8Array;
}

function invalid(message: string): never {
  throw new CosignError("SCT_INVALID", message);
}

/** A cursor over TLS-encoded bytes. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Uint8Array, private readonly what: string) {}
  get remaining(): number {
    return this.buf.length - this.at;
  }
  uint(n: number): number {
    if (this.remaining < n) invalid(`Invalid SCT list: ${this.what} is truncated`);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.buf[this.at++]!;
    return v;
  }
  bytes(n: number): Uint8Array {
    if (this.remaining < n) invalid(`Invalid SCT list: ${this.what} is truncated`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

/**
 * Parses the SCT-list extension value (an OCTET STRING holding a TLS
 * `SignedCertificateTimestampList`).
 * @throws {CosignError} `SCT_INVALID` when it is malformed or empty
 */
export function parseSctList(extensionValue: Uint8Array): EmbeddedSct[] {
  let list: Uint8Array;
  try {
    list = content(extensionValue, readWhole(extensionValue, "SCT list", TAG.OCTET_STRING));
  } catch (e) {
    invalid(`Invalid SCT list: ${(e as Error).message}`);
  }
  const outer = new Reader(list, "SCT list");
  const total = outer.uint(2);
  if (total !== outer.remaining) {
    invalid(
      `Invalid SCT list: length ${total} does not match the ${outer.remaining} bytes present`,
    );
  }
  const out: EmbeddedSct[] = [];
  while (outer.remaining > 0) {
    const r = new Reader(outer.bytes(outer.uint(2)), `SCT ${out.length + 1}`);
    const version = r.uint(1);
    const logId = r.bytes(32);
    const timestamp = r.uint(8);
    const extensions = r.bytes(r.uint(2));
    const hashAlgorithm = r.uint(1);
    const signatureAlgorithm = r.uint(1);
    const signature = r.bytes(r.uint(2));
    if (r.remaining !== 0) invalid(`Invalid SCT list: SCT ${out.length + 1} has trailing bytes`);
    out.push({
      version,
      logId,
      timestamp,
      extensions,
      hashAlgorithm,
      signatureAlgorithm,
      signature,
    });
  }
  if (out.length === 0) invalid("Invalid SCT list: the list is empty");
  return out;
}

/** The leaf's TBS with the SCT-list extension removed, lengths re-encoded (RFC 6962 §3.2). */
export function precertificateTbs(leaf: Certificate): Uint8Array {
  const tbs = leaf.tbs;
  try {
    const tbsEl = readWhole(tbs, "tbsCertificate", TAG.SEQUENCE);
    const fields = kids(tbs, tbsEl, "tbsCertificate");
    const wrapper = fields[fields.length - 1];
    if (!wrapper || wrapper.tag !== 0xa3) throw new DerError("the certificate has no extensions");
    const [extSeq] = kids(tbs, wrapper, "extensions");
    if (!extSeq) throw new DerError("the extensions wrapper is empty");
    const kept = kids(tbs, extSeq, "extensions").filter((ext) => {
      const [oid] = kids(tbs, ext, "extension");
      return !oid || toHex(content(tbs, oid)) !== SCT_OID_HEX;
    });
    const extensions = encodeElement(
      0xa3,
      encodeElement(TAG.SEQUENCE, concatBytes(...kept.map((e) => encoded(tbs, e)))),
    );
    const before = fields.slice(0, -1).map((f) => encoded(tbs, f));
    return encodeElement(TAG.SEQUENCE, concatBytes(...before, extensions));
  } catch (e) {
    if (e instanceof DerError) invalid(`Cannot rebuild the precertificate: ${e.message}`);
    throw e;
  }
}

/** DER content of OID 1.3.6.1.4.1.11129.2.4.2. */
const SCT_OID_HEX = "2b06010401d679020402";

const TLS_HASHES: Record<number, string> = { 4: "sha256", 5: "sha384", 6: "sha512" };

/** The bytes an SCT over a precertificate signs (RFC 6962 §3.2 `digitally-signed` struct). */
export function sctSignedData(
  sct: Pick<EmbeddedSct, "version" | "timestamp" | "extensions">,
  issuerKeyHash: Uint8Array,
  precertTbs: Uint8Array,
): Uint8Array {
  const header = new Uint8Array(12);
  const view = new DataView(header.buffer);
  header[0] = sct.version;
  header[1] = 0; // signature_type: certificate_timestamp
  view.setBigUint64(2, BigInt(sct.timestamp));
  view.setUint16(10, 1); // entry_type: precert_entry
  const tbsLen = precertTbs.length;
  return concatBytes(
    header,
    issuerKeyHash,
    new Uint8Array([(tbsLen >> 16) & 0xff, (tbsLen >> 8) & 0xff, tbsLen & 0xff]),
    precertTbs,
    new Uint8Array([(sct.extensions.length >> 8) & 0xff, sct.extensions.length & 0xff]),
    sct.extensions,
  );
}

function verifySctSignature(sct: EmbeddedSct, key: KeyObject, data: Uint8Array): boolean {
  const sig = Buffer.from(sct.signature);
  const msg = Buffer.from(data);
  try {
    if (sct.signatureAlgorithm === 7) {
      return key.asymmetricKeyType === "ed25519" && verify(null, msg, key, sig);
    }
    const hash = TLS_HASHES[sct.hashAlgorithm];
    if (!hash) return false;
    if (sct.signatureAlgorithm === 3) {
      return key.asymmetricKeyType === "ec" &&
        verify(hash, msg, { key, dsaEncoding: "der" }, sig);
    }
    if (sct.signatureAlgorithm === 1) {
      return key.asymmetricKeyType === "rsa" && verify(hash, msg, key, sig);
    }
    return false;
  } catch {
    return false;
  }
}

/**
 * Verifies the SCTs embedded in `leaf` against `ctlogs`: each SCT's log must be in the trusted
 * root and valid at the SCT's timestamp, and its signature over the precertificate must
 * verify. SCTs from unknown logs are skipped, as sigstore-go does; at least `threshold` must
 * verify.
 * @param leaf the signing certificate
 * @param issuer the certificate that issued `leaf` (its SPKI hash is part of what is signed)
 * @param ctlogs the trusted root's certificate-transparency logs
 * @param options `threshold` (default 1)
 * @returns the SCTs that verified
 * @throws {CosignError} `SCT_MISSING` when `leaf` has no SCT-list extension; `SCT_INVALID`
 *   when the list is malformed or fewer than `threshold` SCTs verify (the message lists why
 *   each failed)
 * @example
 * ```ts ignore
 * const [sct] = verifyEmbeddedScts(leaf, path[1]!, root.ctlogs);
 * ```
 */
export function verifyEmbeddedScts(
  leaf: Certificate,
  issuer: Certificate,
  ctlogs: readonly TransparencyLog[],
  options: SctOptions = {},
): SctCheck[] {
  const threshold = options.threshold ?? 1;
  const ext = leaf.extensions.find((e) => e.oid === OID.sctList);
  if (!ext) {
    throw new CosignError(
      "SCT_MISSING",
      `The certificate has no embedded signed certificate timestamp (extension ${OID.sctList})`,
    );
  }
  const scts = parseSctList(ext.value);
  const issuerKeyHash = createHash("sha256").update(issuer.spki).digest();
  const tbs = precertificateTbs(leaf);
  const verified: SctCheck[] = [];
  const reasons: string[] = [];
  for (const sct of scts) {
    const logId = toHex(sct.logId);
    const timestamp = new Date(sct.timestamp);
    if (sct.version !== 0) {
      reasons.push(`SCT from log ${logId} has unsupported version ${sct.version}`);
      continue;
    }
    let log: TransparencyLog;
    try {
      log = findLog(ctlogs, sct.logId, timestamp, "certificate transparency log");
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      reasons.push(e.message);
      continue;
    }
    const data = sctSignedData(sct, issuerKeyHash, tbs);
    if (!verifySctSignature(sct, log.publicKey, data)) {
      reasons.push(
        `the SCT signature from ${log.baseUrl || logId} (${
          formatTime(timestamp)
        }) does not verify with the log's key`,
      );
      continue;
    }
    verified.push({ logId, timestamp, logUrl: log.baseUrl });
  }
  if (verified.length < threshold) {
    invalid(
      `Invalid signed certificate timestamp: ${verified.length} of ${scts.length} verified, ` +
        `${threshold} required (${reasons.join("; ")})`,
    );
  }
  return verified;
}

/** The bytes a detached SCT over a certificate signs (RFC 6962 §3.2, `x509_entry`). */
export function x509SctSignedData(
  sct: Pick<EmbeddedSct, "version" | "timestamp" | "extensions">,
  certificateDer: Uint8Array,
): Uint8Array {
  const header = new Uint8Array(12);
  const view = new DataView(header.buffer);
  header[0] = sct.version;
  header[1] = 0; // signature_type: certificate_timestamp
  view.setBigUint64(2, BigInt(sct.timestamp));
  view.setUint16(10, 0); // entry_type: x509_entry
  const n = certificateDer.length;
  return concatBytes(
    header,
    new Uint8Array([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]),
    certificateDer,
    new Uint8Array([(sct.extensions.length >> 8) & 0xff, sct.extensions.length & 0xff]),
    sct.extensions,
  );
}

/**
 * Parses a detached SCT: the JSON of an RFC 6962 `add-chain` response (`sct_version`, `id`,
 * `timestamp`, `extensions`, `signature`; byte fields base64), as Fulcio returned it and
 * cosign's `--sct` reads it.
 * @throws {CosignError} `SCT_INVALID` when it is not such a JSON object
 */
export function parseDetachedSct(json: Uint8Array): EmbeddedSct {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch {
    invalid("Invalid detached SCT: not JSON (an RFC 6962 add-chain response is expected)");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    invalid("Invalid detached SCT: not a JSON object");
  }
  const b64 = (name: string): Uint8Array => {
    const s = v[name] ?? "";
    if (typeof s !== "string") invalid(`Invalid detached SCT: ${name} is not a base64 string`);
    try {
      return Uint8Array.fromBase64(s);
    } catch {
      invalid(`Invalid detached SCT: ${name} is not base64`);
    }
  };
  const version = v.sct_version;
  const timestamp = v.timestamp;
  if (typeof version !== "number" || !Number.isInteger(version)) {
    invalid("Invalid detached SCT: sct_version is not a number");
  }
  if (typeof timestamp !== "number" || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    invalid("Invalid detached SCT: timestamp is not a number of milliseconds");
  }
  const logId = b64("id");
  if (logId.length !== 32) invalid(`Invalid detached SCT: id is ${logId.length} bytes, not 32`);
  const r = new Reader(b64("signature"), "detached SCT signature");
  const hashAlgorithm = r.uint(1);
  const signatureAlgorithm = r.uint(1);
  const signature = r.bytes(r.uint(2));
  if (r.remaining !== 0) invalid("Invalid detached SCT: the signature has trailing bytes");
  return {
    version,
    logId,
    timestamp,
    extensions: b64("extensions"),
    hashAlgorithm,
    signatureAlgorithm,
    signature,
  };
}

/**
 * Verifies a detached SCT (cosign's `--sct`) over `leaf` itself (an `x509_entry`, as a CT log
 * signs a final certificate): its log must be in the trusted root and valid at the SCT's time.
 * @throws {CosignError} `SCT_INVALID` when it is malformed, from an unknown log, or its
 *   signature does not verify
 */
export function verifyDetachedSct(
  leaf: Certificate,
  json: Uint8Array,
  ctlogs: readonly TransparencyLog[],
): SctCheck {
  const sct = parseDetachedSct(json);
  const logId = toHex(sct.logId);
  const timestamp = new Date(sct.timestamp);
  if (sct.version !== 0) invalid(`Invalid detached SCT: unsupported version ${sct.version}`);
  let log: TransparencyLog;
  try {
    log = findLog(ctlogs, sct.logId, timestamp, "certificate transparency log");
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    invalid(`Invalid detached SCT: ${e.message}`);
  }
  if (!verifySctSignature(sct, log.publicKey, x509SctSignedData(sct, leaf.der))) {
    invalid(
      `Invalid detached SCT: its signature from ${log.baseUrl || logId} (${
        formatTime(timestamp)
      }) does not verify over this certificate with the log's key`,
    );
  }
  return { logId, timestamp, logUrl: log.baseUrl };
}
