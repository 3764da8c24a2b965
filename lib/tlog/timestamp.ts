/**
 * RFC 3161 signed timestamps, verified offline: parses a TimeStampToken (a CMS SignedData,
 * RFC 5652, whose content is a TSTInfo) or a whole TimeStampResp (status + token, as legacy
 * cosign stores it), and checks it against the timestamp authorities of a trusted root the way
 * sigstore-go (`pkg/verify/tsa.go`) and sigstore's timestamp-authority verification do:
 *
 * 1. the token is well formed: one SignerInfo with signed attributes, `contentType` =
 *    id-ct-TSTInfo and `messageDigest` = the hash of the TSTInfo bytes;
 * 2. the message imprint is the hash of the timestamped bytes (the signature);
 * 3. a trusted TSA whose `validFor` window contains genTime vouches for the signer: the signing
 *    certificate (embedded in the token, else found in the TSA's chain) is the TSA's leaf when
 *    the trusted root lists one, chains to the TSA's certificates at genTime (not now: a chain
 *    that has expired since still verifies old timestamps), carries the critical
 *    timeStamping EKU, and its key verifies the signature over the signed attributes.
 * @module
 */

import { constants, createHash, type KeyObject, verify as verifySignature } from "node:crypto";
import { CosignError } from "../errors.ts";
import type { DerElement } from "../crypto/der.ts";
import { toHex } from "../crypto/encoding.ts";
import {
  content,
  DerError,
  encoded,
  expectTag,
  kids,
  readBoolean,
  readOid,
  readString,
  readWhole,
  TAG,
} from "../x509/_der.ts";
import { type Certificate, parseCertificate } from "../x509/certificate.ts";
import { verifyCertificateChain } from "../x509/chain.ts";
import { bytesEqual } from "./bytes.ts";
import {
  type CertificateAuthority,
  isValidAt,
  type ValidityPeriod,
} from "../trust/trusted_root.ts";

/** The hash algorithms a message imprint may use. */
export type TimestampHashAlgorithm = "sha256" | "sha384" | "sha512";

/** What a TSTInfo says: when, over which hash, under which policy, by whom. */
export interface TimestampInfo {
  /** The time the TSA vouches for (millisecond precision; finer fractions are truncated). */
  readonly genTime: Date;
  /** The hash algorithm of the message imprint. */
  readonly hashAlgorithm: TimestampHashAlgorithm;
  /** The hash of the timestamped bytes. */
  readonly messageImprint: Uint8Array;
  /** The token's serial number: lowercase hex of the INTEGER content, sign padding dropped. */
  readonly serialHex: string;
  /** The requester's nonce, when the token carries one. */
  readonly nonce?: bigint;
  /** The TSA policy OID, dotted. */
  readonly policy: string;
  /** The TSA's name (`tsa` field), rendered as text, when present. */
  readonly tsaName?: string;
  /** The accuracy of genTime in milliseconds (seconds, millis and micros summed), when given. */
  readonly accuracyMs?: number;
}

/** How the SignerInfo names its certificate. */
export type SignerIdentifier =
  | {
    readonly kind: "issuerAndSerialNumber";
    readonly issuerDer: Uint8Array;
    readonly serialHex: string;
  }
  | { readonly kind: "subjectKeyIdentifier"; readonly keyId: Uint8Array };

/** The ESS signing-certificate attribute (RFC 2634 / RFC 5035): a hash of the signer's cert. */
export interface SigningCertificateRef {
  /** The hash algorithm (`sha1` for the v1 attribute). */
  readonly hashAlgorithm: "sha1" | TimestampHashAlgorithm;
  /** The hash of the signing certificate's DER. */
  readonly certHash: Uint8Array;
}

/** The single SignerInfo of a TimeStampToken. */
export interface TimestampSigner {
  /** Which certificate signed. */
  readonly id: SignerIdentifier;
  /** The digest algorithm for `messageDigest` and (for RSA and plain EC keys) the signature. */
  readonly digestAlgorithm: TimestampHashAlgorithm;
  /** The signed attributes, DER with the SET tag (0x31): the bytes the signature covers. */
  readonly signedAttributes: Uint8Array;
  /** The `contentType` signed attribute, dotted. */
  readonly contentType: string;
  /** The `messageDigest` signed attribute. */
  readonly messageDigest: Uint8Array;
  /** The first ESS signing-certificate reference, when the attributes carry one. */
  readonly signingCertificate?: SigningCertificateRef;
  /** The signature algorithm OID, dotted. */
  readonly signatureAlgorithm: string;
  /** The signature bytes. */
  readonly signature: Uint8Array;
}

/** A parsed timestamp: the TSTInfo, its signer and the certificates the token embeds. */
export interface ParsedTimestamp {
  /** The TSTInfo fields. */
  readonly info: TimestampInfo;
  /** The DER of the TSTInfo (the signed content). */
  readonly tstInfo: Uint8Array;
  /** The DER of the TimeStampToken (ContentInfo), also when the input was a TimeStampResp. */
  readonly token: Uint8Array;
  /** The PKIStatus of the TimeStampResp (0 granted, 1 granted with mods); absent for a bare token. */
  readonly status?: number;
  /** The certificates embedded in SignedData.certificates, DER, in token order. */
  readonly certificates: readonly Uint8Array[];
  /** The signer. */
  readonly signer: TimestampSigner;
}

/** A timestamp that verified: the time and the trusted authority that vouches for it. */
export interface TimestampCheck {
  /** The verified genTime. */
  readonly time: Date;
  /** The timestamp authority of the trusted root that verified it. */
  readonly authority: CertificateAuthority;
}

const OID = {
  signedData: "1.2.840.113549.1.7.2",
  tstInfo: "1.2.840.113549.1.9.16.1.4",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingCertificate: "1.2.840.113549.1.9.16.2.12",
  signingCertificateV2: "1.2.840.113549.1.9.16.2.47",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  extKeyUsage: "2.5.29.37",
  sha1: "1.3.14.3.2.26",
} as const;

const HASH_OIDS: Readonly<Record<string, TimestampHashAlgorithm>> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/** Signature algorithms: key type and hash (`undefined` = the signer's digest algorithm). */
const SIGNATURE_OIDS: Readonly<
  Record<string, { key: "ec" | "rsa" | "ed25519"; hash?: TimestampHashAlgorithm | null }>
> = {
  "1.2.840.10045.4.3.2": { key: "ec", hash: "sha256" },
  "1.2.840.10045.4.3.3": { key: "ec", hash: "sha384" },
  "1.2.840.10045.4.3.4": { key: "ec", hash: "sha512" },
  "1.2.840.10045.2.1": { key: "ec" }, // id-ecPublicKey: hash from digestAlgorithm
  "1.2.840.113549.1.1.1": { key: "rsa" }, // rsaEncryption: hash from digestAlgorithm
  "1.2.840.113549.1.1.11": { key: "rsa", hash: "sha256" },
  "1.2.840.113549.1.1.12": { key: "rsa", hash: "sha384" },
  "1.2.840.113549.1.1.13": { key: "rsa", hash: "sha512" },
  "1.3.101.112": { key: "ed25519", hash: null },
};

const NAME_ATTRIBUTES: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "1.2.840.113549.1.9.1": "emailAddress",
};

function invalid(message: string): never {
  throw new CosignError("TIMESTAMP_INVALID", message);
}

/** Turns the DER helpers' errors into `TIMESTAMP_INVALID`. */
function parsing<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DerError) invalid(`Invalid RFC 3161 timestamp: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// DER readers for the pieces X.509 does not need

function readInteger(buf: Uint8Array, el: DerElement | undefined, what: string): bigint {
  const c = content(buf, expectTag(el, TAG.INTEGER, what));
  if (c.length === 0) throw new DerError(`${what} is an empty integer`);
  if (c.length > 1 && ((c[0] === 0 && !(c[1]! & 0x80)) || (c[0] === 0xff && c[1]! & 0x80))) {
    throw new DerError(`${what} is not minimally encoded`);
  }
  let n = BigInt("0x" + toHex(c));
  if (c[0]! & 0x80) n -= 1n << BigInt(c.length * 8);
  return n;
}

/** A serial number as `Certificate.serialHex` has it: the INTEGER content, sign padding dropped. */
function serialHex(buf: Uint8Array, el: DerElement | undefined, what: string): string {
  readInteger(buf, el, what);
  return toHex(content(buf, el!)).replace(/^00(?=[89a-f])/, "") || "00";
}

function readHashAlgorithm(buf: Uint8Array, el: DerElement | undefined, what: string): string {
  const [oid, params, ...rest] = kids(buf, expectTag(el, TAG.SEQUENCE, what), what);
  const dotted = readOid(buf, oid, `${what} algorithm`);
  if (rest.length > 0 || (params && (params.tag !== TAG.NULL || params.end !== params.start))) {
    throw new DerError(`${what} has unexpected parameters`);
  }
  return dotted;
}

function knownHash(oid: string, what: string): TimestampHashAlgorithm {
  const name = HASH_OIDS[oid];
  if (!name) throw new DerError(`${what} ${oid} is not supported (expected SHA-256/384/512)`);
  return name;
}

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/;

function readGeneralizedTime(buf: Uint8Array, el: DerElement | undefined, what: string): Date {
  const text = new TextDecoder().decode(content(buf, expectTag(el, TAG.GENERALIZED_TIME, what)));
  const m = GENERALIZED_TIME.exec(text);
  if (!m) throw new DerError(`${what} ${JSON.stringify(text)} is not a UTC GeneralizedTime`);
  const parts = m.slice(1, 7).map(Number);
  const frac = m[7];
  const ms = frac ? Number(frac.padEnd(3, "0").slice(0, 3)) : 0;
  const [y, mo, d, h, mi, sec] = parts as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, sec, ms));
  const back = [
    date.getUTCFullYear(),
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
  ];
  if (back.some((v, i) => v !== parts[i])) {
    throw new DerError(`${what} ${JSON.stringify(text)} is not a valid time`);
  }
  return date;
}

function formatName(buf: Uint8Array, name: DerElement): string {
  const parts: string[] = [];
  for (const rdn of kids(buf, expectTag(name, TAG.SEQUENCE, "TSA name"), "TSA name")) {
    for (const atv of kids(buf, expectTag(rdn, TAG.SET, "TSA name RDN"), "TSA name RDN")) {
      const [type, value] = kids(buf, expectTag(atv, TAG.SEQUENCE, "TSA name attribute"), "name");
      const oid = readOid(buf, type, "TSA name attribute type");
      if (!value) throw new DerError("TSA name attribute has no value");
      let text: string;
      try {
        text = readString(buf, value, "TSA name attribute value");
      } catch {
        text = "#" + toHex(encoded(buf, value));
      }
      parts.push(`${NAME_ATTRIBUTES[oid] ?? oid}=${text}`);
    }
  }
  return parts.join(", ");
}

/** Renders a GeneralName (the TSTInfo `tsa` field): directory names as `O=…, CN=…`. */
function formatGeneralName(buf: Uint8Array, el: DerElement): string {
  const ascii = () => new TextDecoder("latin1").decode(content(buf, el));
  switch (el.tag) {
    case 0x81: // rfc822Name
    case 0x82: // dNSName
    case 0x86: // uniformResourceIdentifier
      return ascii();
    case 0xa4: { // directoryName [4] EXPLICIT Name
      const [name] = kids(buf, el, "TSA directory name");
      if (!name) throw new DerError("TSA directory name is empty");
      return formatName(buf, name);
    }
    default:
      return "#" + toHex(encoded(buf, el));
  }
}

/**
 * Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] OPTIONAL, micros [1] OPTIONAL }:
 * each at most once, in that order (as Go's encoding/asn1 reads it for digitorus/timestamp).
 */
function readAccuracyMs(buf: Uint8Array, el: DerElement): number {
  const units: [number, number][] = [[TAG.INTEGER, 1000], [0x80, 1], [0x81, 0.001]];
  let ms = 0;
  let next = 0;
  for (const part of kids(buf, el, "TSTInfo accuracy")) {
    const at = units.findIndex(([tag]) => tag === part.tag);
    if (at < next) {
      throw new DerError(
        at < 0
          ? "TSTInfo accuracy has an unknown field"
          : "TSTInfo accuracy repeats a field or has them out of order",
      );
    }
    next = at + 1;
    ms += units[at]![1] *
      Number(readInteger(buf, { ...part, tag: TAG.INTEGER }, "TSTInfo accuracy"));
  }
  return ms;
}

/** TSTInfo extensions [1] IMPLICIT Extensions: each a SEQUENCE { OID, BOOLEAN?, OCTET STRING }. */
function checkTstExtensions(buf: Uint8Array, el: DerElement): void {
  const list = kids(buf, el, "TSTInfo extensions");
  if (list.length === 0) throw new DerError("TSTInfo extensions list is empty");
  for (const ext of list) {
    const [id, second, third, more] = kids(
      buf,
      expectTag(ext, TAG.SEQUENCE, "TSTInfo extension"),
      "TSTInfo extension",
    );
    readOid(buf, id, "TSTInfo extension ID");
    const value = second?.tag === TAG.BOOLEAN ? third : second;
    if (second?.tag === TAG.BOOLEAN) readBoolean(buf, second, "TSTInfo extension critical flag");
    expectTag(value, TAG.OCTET_STRING, "TSTInfo extension value");
    if ((second?.tag === TAG.BOOLEAN ? more : third) !== undefined) {
      throw new DerError("TSTInfo extension has unexpected fields");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TSTInfo

function parseTstInfo(buf: Uint8Array): TimestampInfo {
  const top = readWhole(buf, "TSTInfo", TAG.SEQUENCE);
  const fields = kids(buf, top, "TSTInfo");
  let i = 0;
  const version = readInteger(buf, fields[i++], "TSTInfo version");
  if (version !== 1n) throw new DerError(`TSTInfo version is ${version}, expected 1`);
  const policy = readOid(buf, fields[i++], "TSTInfo policy");
  const imprintEl = expectTag(fields[i++], TAG.SEQUENCE, "TSTInfo messageImprint");
  const [algEl, hashEl, ...extra] = kids(buf, imprintEl, "TSTInfo messageImprint");
  if (extra.length > 0) throw new DerError("TSTInfo messageImprint has extra fields");
  const hashAlgorithm = knownHash(
    readHashAlgorithm(buf, algEl, "messageImprint hashAlgorithm"),
    "messageImprint hash algorithm",
  );
  const messageImprint = content(buf, expectTag(hashEl, TAG.OCTET_STRING, "hashedMessage"))
    .slice();
  const expectedLength = { sha256: 32, sha384: 48, sha512: 64 }[hashAlgorithm];
  if (messageImprint.length !== expectedLength) {
    throw new DerError(
      `messageImprint has ${messageImprint.length} bytes, expected ${expectedLength} for ${hashAlgorithm}`,
    );
  }
  const serial = serialHex(buf, fields[i++], "TSTInfo serialNumber");
  const genTime = readGeneralizedTime(buf, fields[i++], "TSTInfo genTime");
  // The optional fields, in order: accuracy, ordering, nonce, tsa [0], extensions [1].
  const optional = fields.slice(i);
  let at = 0;
  const next = (tag: number) => optional[at]?.tag === tag ? optional[at++] : undefined;
  const accuracyEl = next(TAG.SEQUENCE);
  const orderingEl = next(TAG.BOOLEAN);
  const nonceEl = next(TAG.INTEGER);
  const tsaEl = next(0xa0);
  const extensionsEl = next(0xa1);
  if (at !== optional.length) {
    throw new DerError(
      `TSTInfo has an unexpected field with tag 0x${optional[at]!.tag.toString(16)}`,
    );
  }
  if (orderingEl) readBoolean(buf, orderingEl, "TSTInfo ordering");
  if (extensionsEl) checkTstExtensions(buf, extensionsEl);
  const nonce = nonceEl && readInteger(buf, nonceEl, "TSTInfo nonce");
  const accuracyMs = accuracyEl && readAccuracyMs(buf, accuracyEl);
  let tsaName: string | undefined;
  if (tsaEl) {
    const [gn] = kids(buf, tsaEl, "TSTInfo tsa");
    if (!gn) throw new DerError("TSTInfo tsa is empty");
    tsaName = formatGeneralName(buf, gn);
  }
  return {
    genTime,
    hashAlgorithm,
    messageImprint,
    serialHex: serial,
    policy,
    ...(nonce === undefined ? {} : { nonce }),
    ...(tsaName === undefined ? {} : { tsaName }),
    ...(accuracyMs === undefined ? {} : { accuracyMs }),
  };
}

// ---------------------------------------------------------------------------------------------
// CMS SignedData

function parseSignerId(buf: Uint8Array, el: DerElement | undefined): SignerIdentifier {
  if (el?.tag === 0x80) return { kind: "subjectKeyIdentifier", keyId: content(buf, el).slice() };
  const [issuer, serial, ...rest] = kids(
    buf,
    expectTag(el, TAG.SEQUENCE, "SignerInfo sid"),
    "SignerInfo sid",
  );
  if (rest.length > 0) throw new DerError("SignerInfo issuerAndSerialNumber has extra fields");
  return {
    kind: "issuerAndSerialNumber",
    issuerDer: encoded(buf, expectTag(issuer, TAG.SEQUENCE, "SignerInfo issuer")).slice(),
    serialHex: serialHex(buf, serial, "SignerInfo serialNumber"),
  };
}

function parseSigningCertificate(
  buf: Uint8Array,
  value: DerElement,
  v2: boolean,
): SigningCertificateRef | undefined {
  const what = v2 ? "signingCertificateV2" : "signingCertificate";
  const [certs] = kids(buf, expectTag(value, TAG.SEQUENCE, what), what);
  const [first] = kids(buf, expectTag(certs, TAG.SEQUENCE, `${what} certs`), `${what} certs`);
  if (!first) return undefined;
  const parts = kids(buf, expectTag(first, TAG.SEQUENCE, `${what} ESSCertID`), what);
  let hashAlgorithm: SigningCertificateRef["hashAlgorithm"] = v2 ? "sha256" : "sha1";
  let at = 0;
  if (v2 && parts[0]?.tag === TAG.SEQUENCE) {
    hashAlgorithm = knownHash(readHashAlgorithm(buf, parts[0], `${what} hash`), `${what} hash`);
    at = 1;
  }
  const certHash = content(buf, expectTag(parts[at], TAG.OCTET_STRING, `${what} certHash`));
  return { hashAlgorithm, certHash: certHash.slice() };
}

function parseSignerInfo(buf: Uint8Array, el: DerElement): TimestampSigner {
  const fields = kids(buf, expectTag(el, TAG.SEQUENCE, "SignerInfo"), "SignerInfo");
  const version = readInteger(buf, fields[0], "SignerInfo version");
  if (version !== 1n && version !== 3n) {
    throw new DerError(`SignerInfo version is ${version}, expected 1 or 3`);
  }
  const id = parseSignerId(buf, fields[1]);
  const digestAlgorithm = knownHash(
    readHashAlgorithm(buf, fields[2], "SignerInfo digestAlgorithm"),
    "SignerInfo digest algorithm",
  );
  const attrsEl = fields[3];
  if (attrsEl?.tag !== 0xa0) throw new DerError("SignerInfo has no signed attributes");
  let contentType: string | undefined;
  let messageDigest: Uint8Array | undefined;
  let signingCertificate: SigningCertificateRef | undefined;
  const seen = new Set<string>();
  for (const attr of kids(buf, attrsEl, "signed attributes")) {
    const [typeEl, valuesEl] = kids(buf, expectTag(attr, TAG.SEQUENCE, "attribute"), "attribute");
    const type = readOid(buf, typeEl, "attribute type");
    if (seen.has(type)) throw new DerError(`signed attribute ${type} appears twice`);
    seen.add(type);
    const values = kids(buf, expectTag(valuesEl, TAG.SET, `attribute ${type}`), type);
    const single = () => {
      if (values.length !== 1) throw new DerError(`signed attribute ${type} must have one value`);
      return values[0]!;
    };
    if (type === OID.contentType) {
      contentType = readOid(buf, single(), "contentType attribute");
    } else if (type === OID.messageDigest) {
      messageDigest = content(buf, expectTag(single(), TAG.OCTET_STRING, "messageDigest"))
        .slice();
    } else if (type === OID.signingCertificateV2 || type === OID.signingCertificate) {
      signingCertificate ??= parseSigningCertificate(
        buf,
        single(),
        type === OID.signingCertificateV2,
      );
    }
  }
  if (contentType === undefined) throw new DerError("signed attributes lack contentType");
  if (messageDigest === undefined) throw new DerError("signed attributes lack messageDigest");
  const signedAttributes = encoded(buf, attrsEl).slice();
  signedAttributes[0] = TAG.SET; // the signature covers the attributes as a SET OF (RFC 5652 5.4)
  const sigAlgEl = expectTag(fields[4], TAG.SEQUENCE, "SignerInfo signatureAlgorithm");
  const signatureAlgorithm = readOid(buf, kids(buf, sigAlgEl, "signatureAlgorithm")[0], "alg");
  const signature = content(buf, expectTag(fields[5], TAG.OCTET_STRING, "SignerInfo signature"))
    .slice();
  if (fields.length > 7 || (fields[6] && fields[6].tag !== 0xa1)) {
    throw new DerError("SignerInfo has unexpected trailing fields");
  }
  return {
    id,
    digestAlgorithm,
    signedAttributes,
    contentType,
    messageDigest,
    ...(signingCertificate ? { signingCertificate } : {}),
    signatureAlgorithm,
    signature,
  };
}

function parseToken(buf: Uint8Array, el: DerElement): Omit<ParsedTimestamp, "status"> {
  const [typeEl, wrapped, ...rest] = kids(buf, el, "ContentInfo");
  const type = readOid(buf, typeEl, "ContentInfo contentType");
  if (type !== OID.signedData) {
    throw new DerError(`ContentInfo has content type ${type}, expected SignedData`);
  }
  if (rest.length > 0 || wrapped?.tag !== 0xa0) throw new DerError("ContentInfo is malformed");
  const [sd, ...more] = kids(buf, wrapped, "ContentInfo content");
  if (!sd || more.length > 0) throw new DerError("ContentInfo content is malformed");
  const fields = kids(buf, expectTag(sd, TAG.SEQUENCE, "SignedData"), "SignedData");
  readInteger(buf, fields[0], "SignedData version");
  // DigestAlgorithmIdentifiers ::= SET OF AlgorithmIdentifier: not used (the SignerInfo names
  // its digest), but read as Go's digitorus/pkcs7 reads it.
  for (
    const alg of kids(buf, expectTag(fields[1], TAG.SET, "digestAlgorithms"), "digestAlgorithms")
  ) {
    const [oid] = kids(buf, expectTag(alg, TAG.SEQUENCE, "digestAlgorithm"), "digestAlgorithm");
    readOid(buf, oid, "digestAlgorithms algorithm");
  }
  const [eType, eWrapped, ...eRest] = kids(
    buf,
    expectTag(fields[2], TAG.SEQUENCE, "encapContentInfo"),
    "encapContentInfo",
  );
  const eContentType = readOid(buf, eType, "eContentType");
  if (eContentType !== OID.tstInfo) {
    throw new DerError(`eContentType is ${eContentType}, expected id-ct-TSTInfo ${OID.tstInfo}`);
  }
  if (eRest.length > 0 || eWrapped?.tag !== 0xa0) throw new DerError("eContent is missing");
  const [octets] = kids(buf, eWrapped, "eContent");
  const tstInfo = content(buf, expectTag(octets, TAG.OCTET_STRING, "eContent")).slice();
  let at = 3;
  const certificates: Uint8Array[] = [];
  if (fields[at]?.tag === 0xa0) {
    for (const c of kids(buf, fields[at]!, "SignedData certificates")) {
      if (c.tag === TAG.SEQUENCE) certificates.push(encoded(buf, c).slice());
    }
    at++;
  }
  if (fields[at]?.tag === 0xa1) at++; // crls
  const signerInfos = kids(
    buf,
    expectTag(fields[at], TAG.SET, "SignedData signerInfos"),
    "signerInfos",
  );
  if (at + 1 !== fields.length) throw new DerError("SignedData has unexpected trailing fields");
  if (signerInfos.length !== 1) {
    throw new DerError(`SignedData has ${signerInfos.length} SignerInfos, expected exactly 1`);
  }
  return {
    info: parseTstInfo(tstInfo),
    tstInfo,
    token: encoded(buf, el).slice(),
    certificates,
    signer: parseSignerInfo(buf, signerInfos[0]!),
  };
}

/**
 * Parses an RFC 3161 TimeStampToken (CMS ContentInfo with SignedData), or a TimeStampResp
 * holding one (its status must be granted or grantedWithMods).
 * @param der the DER bytes, e.g. a bundle's `rfc3161Timestamps[].signedTimestamp`
 * @throws {CosignError} `TIMESTAMP_INVALID` naming the malformed part, or the TSA's refusal
 * @example
 * ```ts ignore
 * const { info } = parseTimestamp(der);
 * console.log(info.genTime.toISOString(), info.hashAlgorithm);
 * ```
 */
export function parseTimestamp(der: Uint8Array): ParsedTimestamp {
  return parsing(() => {
    const top = readWhole(der, "timestamp", TAG.SEQUENCE);
    const [first, second, ...rest] = kids(der, top, "timestamp");
    if (first?.tag !== TAG.SEQUENCE) return parseToken(der, top); // a bare ContentInfo
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
    // PKIStatusInfo ::= SEQUENCE { status, statusString SEQUENCE OPTIONAL, failInfo BIT STRING
    // OPTIONAL }
    const statusFields = kids(der, first, "TimeStampResp status");
    const status = Number(readInteger(der, statusFields[0], "PKIStatus"));
    let more = 1;
    if (statusFields[more]?.tag === TAG.SEQUENCE) more++;
    if (statusFields[more]?.tag === TAG.BIT_STRING) more++;
    if (more !== statusFields.length) throw new DerError("PKIStatusInfo has unexpected fields");
    if (status !== 0 && status !== 1) {
      const text = statusFields[1]?.tag === TAG.SEQUENCE
        ? kids(der, statusFields[1], "statusString")
          .map((s) => readString(der, s, "statusString")).join(" ")
        : "";
      invalid(
        `Invalid RFC 3161 timestamp: the TSA response has status ${status}, expected 0 (granted)${
          text ? ` (${JSON.stringify(text)})` : ""
        }`,
      );
    }
    if (!second || rest.length > 0) throw new DerError("TimeStampResp holds no token");
    return { ...parseToken(der, expectTag(second, TAG.SEQUENCE, "TimeStampToken")), status };
  });
}

// ---------------------------------------------------------------------------------------------
// Verification

function hash(algorithm: string, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

function describe(ts: ParsedTimestamp): string {
  return `RFC 3161 timestamp (serial ${ts.info.serialHex}, genTime ${ts.info.genTime.toISOString()})`;
}

function describeSigner(id: SignerIdentifier): string {
  return id.kind === "subjectKeyIdentifier"
    ? `subject key ID ${toHex(id.keyId)}`
    : `serial ${id.serialHex}`;
}

/** True when `cert` is the certificate the SignerInfo names. */
function isSignerCertificate(cert: Certificate, id: SignerIdentifier): boolean {
  if (id.kind === "subjectKeyIdentifier") {
    return cert.subjectKeyId !== undefined && bytesEqual(cert.subjectKeyId, id.keyId);
  }
  return bytesEqual(cert.issuerDer, id.issuerDer) && cert.serialHex === id.serialHex;
}

/** Checks the SignerInfo signature with `key`; returns a reason on failure. */
function signatureProblem(signer: TimestampSigner, key: KeyObject): string | undefined {
  const alg = SIGNATURE_OIDS[signer.signatureAlgorithm];
  if (!alg) return `signature algorithm ${signer.signatureAlgorithm} is not supported`;
  if (key.asymmetricKeyType !== alg.key) {
    return `signature algorithm ${signer.signatureAlgorithm} needs a ${alg.key} key, the certificate has ${key.asymmetricKeyType}`;
  }
  const digest = alg.hash === undefined ? signer.digestAlgorithm : alg.hash;
  let ok = false;
  try {
    ok = verifySignature(
      digest,
      signer.signedAttributes,
      alg.key === "rsa" ? { key, padding: constants.RSA_PKCS1_PADDING } : key,
      signer.signature,
    );
  } catch {
    ok = false;
  }
  return ok ? undefined : "the signature over the signed attributes does not verify";
}

/** Checks the ESS signing-certificate hash, when the token carries one. */
function essProblem(signer: TimestampSigner, cert: Certificate): string | undefined {
  const ref = signer.signingCertificate;
  if (!ref || bytesEqual(hash(ref.hashAlgorithm, cert.der), ref.certHash)) return undefined;
  return "the signing-certificate attribute does not hash to the signing certificate";
}

function validityText(v: ValidityPeriod): string {
  return `${v.start?.toISOString() ?? "open"} to ${v.end?.toISOString() ?? "open"}`;
}

function authorityName(a: CertificateAuthority, index: number): string {
  return `TSA ${a.subject.commonName || a.uri || `#${index}`}`;
}

/** Certificates of an authority's chain, parsed once per authority object. */
const chainCache = new WeakMap<CertificateAuthority, Certificate[]>();

function authorityCertificates(a: CertificateAuthority): Certificate[] {
  let certs = chainCache.get(a);
  if (!certs) {
    certs = a.certChain.map((c, i) => parseCertificate(c.der, `TSA chain certificate ${i}`));
    chainCache.set(a, certs);
  }
  return certs;
}

/** A failed check against one authority: why, and whether the token itself is at fault. */
interface Rejection {
  readonly reason: string;
  readonly badSignature: boolean;
}

function checkAuthority(
  ts: ParsedTimestamp,
  embedded: readonly Certificate[],
  embeddedSigner: Certificate | undefined,
  authority: CertificateAuthority,
): Rejection | undefined {
  const genTime = ts.info.genTime;
  const chain = authorityCertificates(authority);
  // sigstore-go: the first chain certificate is the TSA's own (leaf) unless it is a CA.
  const tsaLeaf = chain[0] && !chain[0].isCa ? chain[0] : undefined;
  const signerCert = embeddedSigner ?? chain.find((c) => isSignerCertificate(c, ts.signer.id));
  if (!signerCert) {
    return {
      reason: `no certificate for the signer (${
        describeSigner(ts.signer.id)
      }) is embedded or in its chain`,
      badSignature: false,
    };
  }
  if (tsaLeaf && !bytesEqual(tsaLeaf.der, signerCert.der)) {
    return {
      reason: `the signing certificate (serial ${signerCert.serialHex}) is not its TSA certificate`,
      badSignature: false,
    };
  }
  if (!embeddedSigner) {
    const problem = signatureProblem(ts.signer, signerCert.publicKey) ??
      essProblem(ts.signer, signerCert);
    if (problem) return { reason: problem, badSignature: true };
  }
  const eku = signerCert.extensions.find((e) => e.oid === OID.extKeyUsage);
  if (!eku || !signerCert.extKeyUsage?.includes(OID.timeStamping)) {
    return { reason: "the signing certificate lacks the timeStamping EKU", badSignature: false };
  }
  if (!eku.critical) {
    return {
      reason: "the signing certificate's extended key usage is not critical (RFC 3161 2.3)",
      badSignature: false,
    };
  }
  if (genTime < signerCert.notBefore || genTime > signerCert.notAfter) {
    return {
      reason:
        `genTime is outside the signing certificate's validity (${signerCert.notBefore.toISOString()} to ${signerCert.notAfter.toISOString()})`,
      badSignature: false,
    };
  }
  try {
    verifyCertificateChain(
      signerCert,
      embedded.filter((c) => c !== signerCert),
      [authority],
      genTime,
      { extKeyUsage: OID.timeStamping, what: "TSA signing certificate" },
    );
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    return { reason: e.message, badSignature: false };
  }
  return undefined;
}

/**
 * Verifies an RFC 3161 timestamp over `signedData` against trusted timestamp authorities.
 * @param der the TimeStampToken or TimeStampResp DER
 * @param signedData the timestamped bytes (the signature: bundle `messageSignature.signature`
 *   or the DSSE envelope's `signatures[0].sig`), whose hash the token must imprint
 * @param authorities the trusted root's `timestampAuthorities`
 * @returns genTime and the authority that vouches for it (the first that verifies)
 * @throws {CosignError} `TIMESTAMP_INVALID` when the token is malformed, its signed attributes
 *   or signature are wrong, or it imprints other bytes; `TIMESTAMP_UNTRUSTED` when no authority
 *   verifies it (unknown signer, chain or EKU failure, genTime outside the authority's
 *   `validFor` or the signing certificate's validity)
 * @example
 * ```ts ignore
 * const { time } = verifyTimestamp(tokenDer, signatureBytes, root.timestampAuthorities);
 * ```
 */
export function verifyTimestamp(
  der: Uint8Array,
  signedData: Uint8Array,
  authorities: readonly CertificateAuthority[],
): TimestampCheck {
  const ts = parseTimestamp(der);
  const what = describe(ts);
  const { signer, info } = ts;
  if (signer.contentType !== OID.tstInfo) {
    invalid(`Invalid ${what}: contentType attribute is ${signer.contentType}, expected TSTInfo`);
  }
  if (!bytesEqual(hash(signer.digestAlgorithm, ts.tstInfo), signer.messageDigest)) {
    invalid(
      `Invalid ${what}: messageDigest attribute does not match the ${signer.digestAlgorithm} of the TSTInfo`,
    );
  }
  const imprint = hash(info.hashAlgorithm, signedData);
  if (!bytesEqual(imprint, info.messageImprint)) {
    invalid(
      `Invalid ${what}: message imprint ${info.hashAlgorithm}:${
        toHex(info.messageImprint)
      } does not match the timestamped bytes (${info.hashAlgorithm}:${toHex(imprint)})`,
    );
  }
  const embedded = ts.certificates.map((c, i) => {
    try {
      return parseCertificate(c, `embedded TSA certificate ${i}`);
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      invalid(`Invalid ${what}: ${e.message}`);
    }
  });
  const embeddedSigner = embedded.find((c) => isSignerCertificate(c, signer.id));
  if (embeddedSigner) {
    const problem = signatureProblem(signer, embeddedSigner.publicKey) ??
      essProblem(signer, embeddedSigner);
    if (problem) invalid(`Invalid ${what}: ${problem} (embedded signing certificate)`);
  }
  if (authorities.length === 0) {
    throw new CosignError(
      "TIMESTAMP_UNTRUSTED",
      `Untrusted ${what}: the trusted root has no timestamp authorities`,
    );
  }
  const reasons: string[] = [];
  let badSignature = false;
  for (const [i, authority] of authorities.entries()) {
    const name = authorityName(authority, i);
    if (!isValidAt(authority.validFor, info.genTime)) {
      reasons.push(`${name}: genTime outside its validity (${validityText(authority.validFor)})`);
      continue;
    }
    let rejection: Rejection | undefined;
    try {
      rejection = checkAuthority(ts, embedded, embeddedSigner, authority);
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      rejection = { reason: e.message, badSignature: false };
    }
    if (!rejection) return { time: info.genTime, authority };
    badSignature ||= rejection.badSignature;
    reasons.push(`${name}: ${rejection.reason}`);
  }
  throw new CosignError(
    badSignature ? "TIMESTAMP_INVALID" : "TIMESTAMP_UNTRUSTED",
    `${badSignature ? "Invalid" : "Untrusted"} ${what}: ${reasons.join("; ")}`,
  );
}

/** At most this many RFC 3161 timestamps are verified (sigstore-go's `MaxAllowedTimestamps`). */
export const MAX_TIMESTAMPS = 32;

/** Options for {@link verifyTimestamps}. */
export interface VerifyTimestampsOptions {
  /**
   * How many timestamps, from distinct authorities, must verify (default 1). 0 accepts a set
   * of which none verifies (the caller then has no time from them).
   */
  readonly threshold?: number;
  /** A timestamp whose genTime is after this instant does not verify (default: none checked). */
  readonly now?: Date;
}

/** The result of {@link verifyTimestamps}. */
export interface TimestampsCheck {
  /** The timestamps that verified, one per timestamp authority, in input order. */
  readonly verified: readonly TimestampCheck[];
  /**
   * The timestamps that were skipped, with the reason (did not verify, or a second one from an
   * authority already counted), in input order.
   */
  readonly skipped: readonly { readonly index: number; readonly error: CosignError }[];
}

/**
 * Verifies a set of RFC 3161 timestamps and counts them toward a threshold, as sigstore-go's
 * `VerifySignedTimestampWithThreshold` (pkg/verify/tsa.go) does:
 * - each timestamp is verified on its own ({@link verifyTimestamp}); one that does not verify
 *   (it imprints other bytes, its TSA is not trusted, its genTime is outside the TSA's
 *   validity or after `now`) is reported in `skipped` and does not count;
 * - timestamps from the same authority count once (sigstore-go compares the authorities'
 *   URIs, so one TSA, or a timestamp given twice, cannot meet a threshold alone);
 * - verification fails only when fewer than `threshold` timestamps count.
 *
 * The protobuf-specs would have two authorities of the same `operator` count once; sigstore-go
 * does not read `operator`, and neither do we.
 * @param tokens the DER timestamps (TimeStampToken or TimeStampResp), at most {@link MAX_TIMESTAMPS}
 * @param signedData the timestamped bytes (the signature)
 * @param authorities the trusted root's `timestampAuthorities`
 * @param options `threshold` (default 1), `now`
 * @throws {CosignError} when more than {@link MAX_TIMESTAMPS} are given (`TIMESTAMP_INVALID`), or
 *   fewer than `threshold` count: the first skipped timestamp's code (`TIMESTAMP_INVALID`,
 *   `TIMESTAMP_UNTRUSTED`), or `TIMESTAMP_MISSING` when none was skipped, naming each reason
 * @example
 * ```ts ignore
 * const { verified, skipped } = verifyTimestamps(tokens, signature, root.timestampAuthorities);
 * ```
 */
export function verifyTimestamps(
  tokens: readonly Uint8Array[],
  signedData: Uint8Array,
  authorities: readonly CertificateAuthority[],
  options: VerifyTimestampsOptions = {},
): TimestampsCheck {
  const threshold = options.threshold ?? 1;
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw new CosignError("USAGE", `Invalid timestamp threshold ${threshold}`);
  }
  if (tokens.length > MAX_TIMESTAMPS) {
    throw new CosignError(
      "TIMESTAMP_INVALID",
      `The bundle has ${tokens.length} RFC 3161 timestamps, more than ${MAX_TIMESTAMPS}`,
    );
  }
  const verified: TimestampCheck[] = [];
  const skipped: { index: number; error: CosignError }[] = [];
  const counted = new Set<string>();
  for (const [index, token] of tokens.entries()) {
    let check: TimestampCheck;
    try {
      check = verifyTimestamp(token, signedData, authorities);
      if (options.now !== undefined && check.time.getTime() > options.now.getTime()) {
        throw new CosignError(
          "TIMESTAMP_INVALID",
          `The RFC 3161 timestamp is in the future (${check.time.toISOString()})`,
        );
      }
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      skipped.push({ index, error: e });
      continue;
    }
    if (counted.has(check.authority.uri)) {
      skipped.push({
        index,
        error: new CosignError(
          "TIMESTAMP_INVALID",
          `Duplicate RFC 3161 timestamp from the authority ${
            check.authority.uri || "(no URI)"
          }: counted once`,
        ),
      });
      continue;
    }
    counted.add(check.authority.uri);
    verified.push(check);
  }
  if (verified.length < threshold) {
    const reasons = skipped.map((s) => `timestamp ${s.index + 1}: ${s.error.message}`);
    throw new CosignError(
      skipped[0]?.error.code ?? "TIMESTAMP_MISSING",
      `Not enough verified RFC 3161 timestamps: ${verified.length} of ${tokens.length} ` +
        `verified, ${threshold} needed${reasons.length > 0 ? ` (${reasons.join("; ")})` : ""}`,
    );
  }
  return { verified, skipped };
}
