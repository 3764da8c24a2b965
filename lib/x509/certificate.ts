/**
 * X.509 certificates as keyless verification needs them: a strict DER parser (RFC 5280
 * structure, no trailing bytes, v3 extensions with unknown critical ones refused), readable
 * names, validity, basic constraints, key usages, name constraints, subject alternative
 * names (including Fulcio's otherName SAN), key identifiers, and signature checks of one
 * certificate by another (ECDSA P-256/P-384/P-521, RSA PKCS#1 v1.5 and PSS, Ed25519).
 *
 * Parsing does no I/O and no network access; a certificate's self-signature is checked only
 * when its subject equals its issuer.
 * @module
 */

import { Buffer } from "node:buffer";
import { constants, createPublicKey, type KeyObject, verify } from "node:crypto";
import { CosignError } from "../errors.ts";
import { decodePem } from "../crypto/pem.ts";
import { toHex } from "../crypto/encoding.ts";
import { type NameConstraints, parseNameConstraints } from "./name_constraints.ts";
import type { DerElement } from "../crypto/der.ts";
import {
  ascii,
  content,
  DerError,
  encoded,
  expectTag,
  kids,
  readBitStringBytes,
  readBoolean,
  readOid,
  readSmallInteger,
  readString,
  readWhole,
  TAG,
} from "./_der.ts";

/** One certificate extension. */
export interface CertificateExtension {
  /** The extension OID, dotted. */
  readonly oid: string;
  /** Whether the extension is marked critical. */
  readonly critical: boolean;
  /** The extnValue OCTET STRING's contents (the extension's own DER, or raw bytes). */
  readonly value: Uint8Array;
}

/** One subject alternative name. */
export interface SubjectAlternativeName {
  /** The GeneralName form. `otherName` is Fulcio's OID 1.3.6.1.4.1.57264.1.7 only. */
  readonly type: "email" | "uri" | "dns" | "ip" | "otherName";
  /** The name as text (an IP address in its usual textual form). */
  readonly value: string;
}

/** A parsed X.509 certificate. */
export interface Certificate {
  /** The whole certificate, DER. */
  readonly der: Uint8Array;
  /** The TBSCertificate element bytes (header included): what the issuer signed. */
  readonly tbs: Uint8Array;
  /** The serial number as lowercase hex of its DER INTEGER content. */
  readonly serialHex: string;
  /** The issuer Name element bytes. */
  readonly issuerDer: Uint8Array;
  /** The subject Name element bytes. */
  readonly subjectDer: Uint8Array;
  /** The subject, readable, in DER order, e.g. `O=sigstore.dev, CN=sigstore-intermediate`. */
  readonly subject: string;
  /** The issuer, readable, in DER order. */
  readonly issuer: string;
  /** Start of the validity period (inclusive). */
  readonly notBefore: Date;
  /** End of the validity period (inclusive). */
  readonly notAfter: Date;
  /** The SubjectPublicKeyInfo element bytes. */
  readonly spki: Uint8Array;
  /** The subject public key. */
  readonly publicKey: KeyObject;
  /** The signature algorithm OID, dotted. */
  readonly signatureAlgorithm: string;
  /** The signature algorithm's parameters element bytes, when present (RSA-PSS). */
  readonly signatureAlgorithmParameters: Uint8Array | undefined;
  /** The signature bytes (DER for ECDSA). */
  readonly signature: Uint8Array;
  /** All extensions, in certificate order. */
  readonly extensions: readonly CertificateExtension[];
  /** basicConstraints cA, or `undefined` when the extension is absent. */
  readonly isCa: boolean | undefined;
  /** basicConstraints pathLenConstraint, when present. */
  readonly pathLength: number | undefined;
  /** Key usages by name (e.g. `digitalSignature`, `keyCertSign`), or `undefined` when absent. */
  readonly keyUsage: readonly string[] | undefined;
  /** Extended key usage OIDs, or `undefined` when absent. */
  readonly extKeyUsage: readonly string[] | undefined;
  /** Subject alternative names, in certificate order. */
  readonly subjectAlternativeNames: readonly SubjectAlternativeName[];
  /** The subjectKeyIdentifier, when present. */
  readonly subjectKeyId: Uint8Array | undefined;
  /** The authorityKeyIdentifier keyIdentifier, when present. */
  readonly authorityKeyId: Uint8Array | undefined;
  /**
   * The nameConstraints extension, critical or not, when present (enforced on CA certificates
   * by path validation, see `name_constraints.ts`).
   */
  readonly nameConstraints: NameConstraints | undefined;
  /** True when subject equals issuer and the signature verifies with the certificate's own key. */
  readonly selfSigned: boolean;
}

/** Well-known OIDs used by the X.509 modules. */
export const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  nameConstraints: "2.5.29.30",
  /** RFC 6962 embedded SCT list. */
  sctList: "1.3.6.1.4.1.11129.2.4.2",
  /** Fulcio's otherName SAN type. */
  fulcioOtherName: "1.3.6.1.4.1.57264.1.7",
  /** Extended key usage: code signing. */
  codeSigning: "1.3.6.1.5.5.7.3.3",
  /** Extended key usage: time stamping. */
  timeStamping: "1.3.6.1.5.5.7.3.8",
  /** Extended key usage: any. */
  anyExtendedKeyUsage: "2.5.29.37.0",
} as const;

/** Extensions this module understands, so they may be critical. */
const HANDLED_EXTENSIONS = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.subjectKeyId,
  OID.authorityKeyId,
  OID.nameConstraints,
]);

const KEY_USAGE_NAMES = [
  "digitalSignature",
  "contentCommitment",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
];

const NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "SERIALNUMBER",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.17": "POSTALCODE",
  "2.5.4.42": "GN",
  "1.2.840.113549.1.9.1": "emailAddress",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
};

function fail(what: string, reason: string, cause?: unknown): never {
  throw new CosignError(
    "CERTIFICATE_INVALID",
    `Invalid ${what}: ${reason}`,
    cause === undefined ? {} : { cause },
  );
}

/** Renders a Name (SEQUENCE OF RDN) in DER order, `, `-separated, multi-valued RDNs with `+`. */
function readableName(buf: Uint8Array, name: DerElement, what: string): string {
  const parts: string[] = [];
  for (const rdn of kids(buf, expectTag(name, TAG.SEQUENCE, what), what)) {
    const atvs = kids(buf, expectTag(rdn, TAG.SET, `${what} RDN`), `${what} RDN`);
    if (atvs.length === 0) throw new DerError(`${what} has an empty RDN`);
    parts.push(
      atvs.map((atv) => {
        const [type, value, extra] = kids(
          buf,
          expectTag(atv, TAG.SEQUENCE, `${what} attribute`),
          `${what} attribute`,
        );
        if (!value || extra) throw new DerError(`${what} attribute is not a type and a value`);
        const oid = readOid(buf, type, `${what} attribute type`);
        return `${NAME_ATTRIBUTES[oid] ?? oid}=${readString(buf, value, `${what} ${oid}`)}`;
      }).join("+"),
    );
  }
  return parts.join(", ");
}

/** Reads UTCTime (years 1950–2049) or GeneralizedTime, both in the `Z` form DER requires. */
function readTime(buf: Uint8Array, el: DerElement | undefined, what: string): Date {
  if (!el) throw new DerError(`${what} is missing`);
  const text = ascii(content(buf, el), what);
  let m: RegExpExecArray | null;
  let year: number;
  if (el.tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!m) throw new DerError(`${what} is not a DER UTCTime: ${JSON.stringify(text)}`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (el.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!m) throw new DerError(`${what} is not a DER GeneralizedTime: ${JSON.stringify(text)}`);
    year = Number(m[1]);
  } else {
    throw new DerError(`${what} is neither UTCTime nor GeneralizedTime`);
  }
  const [mon, day, h, min, s] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, mon - 1, day, h, min, s));
  date.setUTCFullYear(year); // Date.UTC maps years 0–99 to 1900–1999
  if (
    date.getUTCMonth() !== mon - 1 || date.getUTCDate() !== day || date.getUTCHours() !== h ||
    date.getUTCMinutes() !== min || date.getUTCSeconds() !== s
  ) {
    throw new DerError(`${what} is not a valid date: ${text}`);
  }
  return date;
}

function formatIp(bytes: Uint8Array, what: string): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) throw new DerError(`${what} is ${bytes.length} bytes, not 4 or 16`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // IPv4-mapped addresses print as dotted quads, as Go's net.IP does.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return Array.from(bytes.subarray(12)).join(".");
  }
  // RFC 5952: compress the longest run (length >= 2) of zero groups.
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

function parseSubjectAltNames(value: Uint8Array): SubjectAlternativeName[] {
  const what = "subjectAltName";
  const seq = readWhole(value, what, TAG.SEQUENCE);
  const out: SubjectAlternativeName[] = [];
  for (const gn of kids(value, seq, what)) {
    const c = content(value, gn);
    switch (gn.tag) {
      case 0x81:
        out.push({ type: "email", value: ascii(c, `${what} email`) });
        break;
      case 0x82:
        out.push({ type: "dns", value: ascii(c, `${what} DNS name`) });
        break;
      case 0x86:
        out.push({ type: "uri", value: ascii(c, `${what} URI`) });
        break;
      case 0x87:
        out.push({ type: "ip", value: formatIp(c, `${what} IP address`) });
        break;
      case 0xa0: {
        const [typeId, wrapped, extra] = kids(value, gn, `${what} otherName`);
        if (!wrapped || extra || wrapped.tag !== 0xa0) {
          throw new DerError(`${what} otherName is not a type and an explicit [0] value`);
        }
        const oid = readOid(value, typeId, `${what} otherName type`);
        if (oid !== OID.fulcioOtherName) break; // other otherName forms are not names we match
        const [inner, more] = kids(value, wrapped, `${what} otherName value`);
        if (!inner || more) throw new DerError(`${what} otherName value is not one element`);
        expectTag(inner, TAG.UTF8_STRING, `${what} otherName value`);
        out.push({ type: "otherName", value: readString(value, inner, `${what} otherName`) });
        break;
      }
      default:
        break; // directoryName, registeredID, x400Address, ediPartyName: not identities here
    }
  }
  return out;
}

interface ParsedExtensions {
  isCa: boolean | undefined;
  pathLength: number | undefined;
  keyUsage: string[] | undefined;
  extKeyUsage: string[] | undefined;
  subjectAlternativeNames: SubjectAlternativeName[];
  subjectKeyId: Uint8Array | undefined;
  authorityKeyId: Uint8Array | undefined;
  nameConstraints: NameConstraints | undefined;
}

function interpretExtensions(extensions: readonly CertificateExtension[]): ParsedExtensions {
  const out: ParsedExtensions = {
    isCa: undefined,
    pathLength: undefined,
    keyUsage: undefined,
    extKeyUsage: undefined,
    subjectAlternativeNames: [],
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    nameConstraints: undefined,
  };
  for (const ext of extensions) {
    const v = ext.value;
    switch (ext.oid) {
      case OID.basicConstraints: {
        const what = "basicConstraints";
        const items = kids(v, readWhole(v, what, TAG.SEQUENCE), what);
        let i = 0;
        out.isCa = false;
        if (items[i]?.tag === TAG.BOOLEAN) out.isCa = readBoolean(v, items[i++]!, `${what} cA`);
        if (items[i]) out.pathLength = readSmallInteger(v, items[i++], `${what} pathLen`);
        if (items[i]) throw new DerError(`${what} has unexpected fields`);
        break;
      }
      case OID.keyUsage: {
        const what = "keyUsage";
        const el = readWhole(v, what, TAG.BIT_STRING);
        const bits = content(v, el);
        if (bits.length === 0 || bits[0]! > 7) throw new DerError(`${what} is not a bit string`);
        // DER (X.690 11.2.1): the unused bits are zero, and an empty bit string has none. Go's
        // crypto/x509 refuses such a keyUsage; reading the padding would grant usages.
        const unused = bits[0]!;
        if ((bits.length === 1 && unused !== 0) || (bits.at(-1)! & ((1 << unused) - 1)) !== 0) {
          throw new DerError(`${what} has unused bits that are not zero`);
        }
        out.keyUsage = KEY_USAGE_NAMES.filter((_, i) => {
          const byte = bits[1 + (i >> 3)];
          return byte !== undefined && ((byte >> (7 - (i & 7))) & 1) === 1;
        });
        break;
      }
      case OID.extKeyUsage: {
        const what = "extKeyUsage";
        out.extKeyUsage = kids(v, readWhole(v, what, TAG.SEQUENCE), what).map((el) =>
          readOid(v, el, `${what} purpose`)
        );
        break;
      }
      case OID.subjectAltName:
        out.subjectAlternativeNames = parseSubjectAltNames(v);
        break;
      case OID.subjectKeyId:
        out.subjectKeyId = content(v, readWhole(v, "subjectKeyIdentifier", TAG.OCTET_STRING));
        break;
      case OID.authorityKeyId: {
        const what = "authorityKeyIdentifier";
        const items = kids(v, readWhole(v, what, TAG.SEQUENCE), what);
        const keyId = items.find((el) => el.tag === 0x80);
        if (keyId) out.authorityKeyId = content(v, keyId);
        break;
      }
      case OID.nameConstraints:
        out.nameConstraints = parseNameConstraints(v, ext.critical);
        break;
    }
  }
  return out;
}

function parseExtensions(buf: Uint8Array, wrapper: DerElement): CertificateExtension[] {
  const [seq, extra] = kids(buf, wrapper, "extensions");
  if (!seq || extra) throw new DerError("extensions [3] does not hold exactly one SEQUENCE");
  const list = kids(buf, expectTag(seq, TAG.SEQUENCE, "extensions"), "extensions");
  if (list.length === 0) throw new DerError("extensions list is empty");
  const seen = new Set<string>();
  return list.map((ext) => {
    const fields = kids(buf, expectTag(ext, TAG.SEQUENCE, "extension"), "extension");
    const oid = readOid(buf, fields[0], "extension ID");
    if (seen.has(oid)) throw new DerError(`extension ${oid} appears twice`);
    seen.add(oid);
    let i = 1;
    let critical = false;
    if (fields[i]?.tag === TAG.BOOLEAN) {
      critical = readBoolean(buf, fields[i++]!, `extension ${oid} critical flag`);
    }
    const value = content(buf, expectTag(fields[i++], TAG.OCTET_STRING, `extension ${oid} value`));
    if (fields[i]) throw new DerError(`extension ${oid} has unexpected fields`);
    if (critical && !HANDLED_EXTENSIONS.has(oid)) {
      throw new DerError(`unsupported critical extension ${oid}`);
    }
    return { oid, critical, value };
  });
}

/**
 * The key's AlgorithmIdentifier parameters, which `node:crypto` does not look at, as Go's
 * crypto/x509 checks them: exactly NULL for RSA (RFC 3279 2.3.1), absent for Ed25519
 * (RFC 8410 3). EC keys name their curve there, which the key import checks.
 */
function checkKeyAlgorithm(der: Uint8Array, spkiEl: DerElement): void {
  const [algEl] = kids(der, spkiEl, "subjectPublicKeyInfo");
  const what = "public key algorithm";
  const [oidEl, params, extra] = kids(der, expectTag(algEl, TAG.SEQUENCE, what), what);
  const oid = readOid(der, oidEl, what);
  if (extra) throw new DerError(`${what} has unexpected fields`);
  if (oid === "1.2.840.113549.1.1.1" && (params?.tag !== TAG.NULL || params.end !== params.start)) {
    throw new DerError("the RSA public key's algorithm parameters are not NULL");
  }
  if (oid === "1.3.101.112" && params) {
    throw new DerError("the Ed25519 public key has algorithm parameters");
  }
}

function parseDer(der: Uint8Array): Certificate {
  const cert = readWhole(der, "certificate", TAG.SEQUENCE);
  const [tbsEl, outerAlg, sigEl, extra] = kids(der, cert, "certificate");
  if (!tbsEl || !outerAlg || !sigEl || extra) {
    throw new DerError("certificate is not { tbsCertificate, signatureAlgorithm, signature }");
  }
  expectTag(tbsEl, TAG.SEQUENCE, "tbsCertificate");
  const fields = kids(der, tbsEl, "tbsCertificate");
  let i = 0;
  let version = 1;
  if (fields[0]?.tag === 0xa0) {
    const [v, more] = kids(der, fields[0], "version");
    if (more) throw new DerError("version holds more than one element");
    version = readSmallInteger(der, v, "version") + 1;
    if (version < 2 || version > 3) throw new DerError(`unsupported version ${version}`);
    i = 1;
  }
  const serialEl = expectTag(fields[i++], TAG.INTEGER, "serial number");
  const serial = content(der, serialEl);
  // X.690 8.3: an INTEGER has at least one content byte, in the shortest form (as Go's
  // crypto/x509 reads the serial: "malformed serial number").
  if (serial.length === 0) throw new DerError("serial number is empty");
  if (
    serial.length > 1 &&
    ((serial[0] === 0 && !(serial[1]! & 0x80)) || (serial[0] === 0xff && serial[1]! & 0x80))
  ) {
    throw new DerError("serial number is not minimally encoded");
  }
  const innerAlg = expectTag(fields[i++], TAG.SEQUENCE, "tbsCertificate signature algorithm");
  const issuerEl = expectTag(fields[i++], TAG.SEQUENCE, "issuer");
  const validity = expectTag(fields[i++], TAG.SEQUENCE, "validity");
  const subjectEl = expectTag(fields[i++], TAG.SEQUENCE, "subject");
  const spkiEl = expectTag(fields[i++], TAG.SEQUENCE, "subjectPublicKeyInfo");
  // issuerUniqueID [1] and subjectUniqueID [2] are IMPLICIT BIT STRINGs: primitive in DER. A
  // constructed [1] or [2] is not one (and taking it for one would skip the extensions).
  if (fields[i]?.tag === 0x81) i++;
  if (fields[i]?.tag === 0x82) i++;
  let extensions: CertificateExtension[] = [];
  if (fields[i]?.tag === 0xa3) {
    if (version !== 3) throw new DerError(`a version ${version} certificate has extensions`);
    extensions = parseExtensions(der, fields[i++]!);
  }
  if (fields[i]) throw new DerError("tbsCertificate has unexpected trailing fields");

  const outerAlgBytes = encoded(der, outerAlg);
  const innerAlgBytes = encoded(der, innerAlg);
  if (toHex(outerAlgBytes) !== toHex(innerAlgBytes)) {
    throw new DerError("the inner and outer signature algorithms differ");
  }
  const [algOid, algParams, algExtra] = kids(der, outerAlg, "signature algorithm");
  if (algExtra) throw new DerError("signature algorithm has unexpected fields");
  const signatureAlgorithm = readOid(der, algOid, "signature algorithm");
  const signatureAlgorithmParameters = algParams && algParams.tag !== TAG.NULL
    ? encoded(der, algParams)
    : undefined;

  const [notBeforeEl, notAfterEl, validityExtra] = kids(der, validity, "validity");
  if (validityExtra) throw new DerError("validity has unexpected fields");
  const notBefore = readTime(der, notBeforeEl, "notBefore");
  const notAfter = readTime(der, notAfterEl, "notAfter");

  const spki = encoded(der, spkiEl);
  checkKeyAlgorithm(der, spkiEl);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch (e) {
    throw new DerError(`the public key cannot be read (${(e as Error).message})`);
  }

  const parsed = interpretExtensions(extensions);
  const issuerDer = encoded(der, issuerEl);
  const subjectDer = encoded(der, subjectEl);
  const base = {
    der,
    tbs: encoded(der, tbsEl),
    serialHex: toHex(serial).replace(/^00(?=[89a-f])/, ""),
    issuerDer,
    subjectDer,
    subject: readableName(der, subjectEl, "subject"),
    issuer: readableName(der, issuerEl, "issuer"),
    notBefore,
    notAfter,
    spki,
    publicKey,
    signatureAlgorithm,
    signatureAlgorithmParameters,
    signature: readBitStringBytes(der, sigEl, "signature"),
    extensions,
    ...parsed,
    selfSigned: false,
  };
  if (bytesEqual(issuerDer, subjectDer)) base.selfSigned = verifySignature(base, publicKey);
  return base;
}

/**
 * Parses a DER X.509 certificate, strictly: malformed DER, trailing bytes, mismatched
 * signature algorithms, duplicate extensions and unknown critical extensions are refused
 * (a critical subjectAltName is understood, as Fulcio marks it critical; so are name
 * constraints, critical or not, which path validation enforces).
 * @param der the certificate bytes
 * @param what a name for error messages (default "certificate")
 * @throws {CosignError} `CERTIFICATE_INVALID` naming `what` and the reason
 * @example
 * ```ts
 * import { parseCertificate } from "@cosign-deno/cosign";
 * const cert = parseCertificate(await Deno.readFile("leaf.der"), "signing certificate");
 * console.log(cert.subject, cert.notAfter);
 * ```
 */
export function parseCertificate(der: Uint8Array, what = "certificate"): Certificate {
  try {
    return parseDer(der);
  } catch (e) {
    if (e instanceof DerError) fail(what, e.message, e);
    throw e;
  }
}

/**
 * Parses every `CERTIFICATE` block of a PEM bundle, in order.
 * @param pem PEM text with one or more certificates
 * @param what a name for error messages (default "certificate")
 * @throws {CosignError} `CERTIFICATE_INVALID` when there is no certificate block, a block is
 *   not a certificate, or a certificate is malformed; `PEM_INVALID` for broken PEM
 * @example
 * ```ts
 * import { parseCertificatePem } from "@cosign-deno/cosign";
 * const [leaf, ...intermediates] = parseCertificatePem(Deno.readTextFileSync("chain.pem"));
 * ```
 */
export function parseCertificatePem(pem: string, what = "certificate"): Certificate[] {
  const out: Certificate[] = [];
  let rest = pem;
  for (;;) {
    const begin = rest.indexOf("-----BEGIN ");
    if (begin < 0) break;
    const block = decodePem(rest.slice(begin), what);
    if (block.type !== "CERTIFICATE") {
      fail(what, `expected a PEM "CERTIFICATE" block, found "${block.type}"`);
    }
    out.push(parseCertificate(block.bytes, out.length === 0 ? what : `${what} #${out.length + 1}`));
    const endMarker = `-----END ${block.type}-----`;
    rest = rest.slice(rest.indexOf(endMarker, begin) + endMarker.length);
  }
  if (out.length === 0) fail(what, "no PEM certificate found");
  return out;
}

const HASHES: Record<string, string> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

const SIGNATURE_ALGORITHMS: Record<string, { key: string[]; hash: string | null }> = {
  "1.2.840.10045.4.3.2": { key: ["ec"], hash: "sha256" },
  "1.2.840.10045.4.3.3": { key: ["ec"], hash: "sha384" },
  "1.2.840.10045.4.3.4": { key: ["ec"], hash: "sha512" },
  "1.2.840.113549.1.1.11": { key: ["rsa"], hash: "sha256" },
  "1.2.840.113549.1.1.12": { key: ["rsa"], hash: "sha384" },
  "1.2.840.113549.1.1.13": { key: ["rsa"], hash: "sha512" },
  "1.3.101.112": { key: ["ed25519"], hash: null },
};

const RSA_PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";

/** Reads RSASSA-PSS-params; only MGF1 with the same hash as the message digest is accepted. */
function pssParameters(params: Uint8Array | undefined): { hash: string; saltLength: number } {
  if (!params) throw new DerError("RSA-PSS needs parameters");
  const seq = readWhole(params, "RSA-PSS parameters", TAG.SEQUENCE);
  let hash = "sha1", mgfHash = "sha1", saltLength = 20;
  for (const field of kids(params, seq, "RSA-PSS parameters")) {
    const [inner, extra] = kids(params, field, "RSA-PSS parameter");
    if (!inner || extra) throw new DerError("RSA-PSS parameter is not one element");
    if (field.tag === 0xa0) {
      const [oid] = kids(params, inner, "RSA-PSS hash");
      hash = HASHES[readOid(params, oid, "RSA-PSS hash")] ?? "unsupported";
    } else if (field.tag === 0xa1) {
      const [oid, hashAlg] = kids(params, inner, "RSA-PSS mask generation");
      if (readOid(params, oid, "RSA-PSS mask generation") !== MGF1 || !hashAlg) {
        throw new DerError("RSA-PSS mask generation is not MGF1");
      }
      const [hashOid] = kids(params, hashAlg, "RSA-PSS MGF1 hash");
      mgfHash = HASHES[readOid(params, hashOid, "RSA-PSS MGF1 hash")] ?? "unsupported";
    } else if (field.tag === 0xa2) {
      saltLength = readSmallInteger(params, inner, "RSA-PSS salt length");
    } else if (field.tag === 0xa3) {
      if (readSmallInteger(params, inner, "RSA-PSS trailer field") !== 1) {
        throw new DerError("RSA-PSS trailer field is not 1");
      }
    }
  }
  if (hash === "sha1" || hash === "unsupported" || mgfHash !== hash) {
    throw new DerError("RSA-PSS hash is not SHA-256/384/512 with MGF1 of the same hash");
  }
  return { hash, saltLength };
}

type Signed = Pick<
  Certificate,
  "tbs" | "signature" | "signatureAlgorithm" | "signatureAlgorithmParameters"
>;

/** Verifies `cert`'s signature over its TBS with `key`; false for unsupported algorithms. */
function verifySignature(cert: Signed, key: KeyObject): boolean {
  const data = Buffer.from(cert.tbs);
  const sig = Buffer.from(cert.signature);
  try {
    if (cert.signatureAlgorithm === RSA_PSS) {
      if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss") return false;
      const { hash, saltLength } = pssParameters(cert.signatureAlgorithmParameters);
      return verify(hash, data, {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength,
      }, sig);
    }
    const alg = SIGNATURE_ALGORITHMS[cert.signatureAlgorithm];
    if (!alg || !alg.key.includes(key.asymmetricKeyType ?? "")) return false;
    if (alg.key[0] === "rsa" && cert.signatureAlgorithmParameters !== undefined) return false;
    if (alg.key[0] === "ec") return verify(alg.hash, data, { key, dsaEncoding: "der" }, sig);
    return verify(alg.hash, data, key, sig);
  } catch {
    return false;
  }
}

const signatureCache = new WeakMap<Certificate, WeakMap<Certificate, boolean>>();

/**
 * True when `issuer` issued `cert`: `cert`'s issuer name equals `issuer`'s subject name
 * (byte for byte) and `cert`'s signature over its TBS verifies with `issuer`'s key.
 * Supports ECDSA with SHA-256/384/512, RSA PKCS#1 v1.5 and PSS with SHA-256/384/512, and
 * Ed25519; other algorithms give false. Results are cached per certificate pair.
 * @example
 * ```ts ignore
 * if (!isSignedBy(leaf, intermediate)) throw new Error("not issued by the intermediate");
 * ```
 */
export function isSignedBy(cert: Certificate, issuer: Certificate): boolean {
  if (!bytesEqual(cert.issuerDer, issuer.subjectDer)) return false;
  let byIssuer = signatureCache.get(cert);
  const cached = byIssuer?.get(issuer);
  if (cached !== undefined) return cached;
  const ok = verifySignature(cert, issuer.publicKey);
  if (!byIssuer) signatureCache.set(cert, byIssuer = new WeakMap());
  byIssuer.set(issuer, ok);
  return ok;
}

/** Byte-for-byte equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A short description of a certificate for messages: its subject, else its first SAN. */
export function describeCertificate(cert: Certificate): string {
  if (cert.subject) return cert.subject;
  const san = cert.subjectAlternativeNames[0];
  return san ? san.value : `serial ${cert.serialHex}`;
}

/** Formats a time as RFC 3339 without milliseconds when they are zero. */
export function formatTime(time: Date): string {
  return time.toISOString().replace(/\.000Z$/, "Z");
}
