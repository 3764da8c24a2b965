/**
 * Test support (not exported by `mod.ts`): RFC 3161 timestamp tokens built here, signed by a
 * throw-away TSA under its own root, over any message, for rules no real token can reach.
 * @module
 */
import { createHash, type KeyObject, sign } from "node:crypto";
import { concatBytes, utf8 } from "../crypto/encoding.ts";
import type { CertificateAuthority, ValidityPeriod } from "../trust/trusted_root.ts";
import { encodeElement } from "../x509/_der.ts";
import { type Certificate, OID as X509_OID, parseCertificate } from "../x509/certificate.ts";
import { authority, buildCertificate, ecKey, ext, octets, oid, seq } from "../x509/_test_certs.ts";

const SHA256 = "2.16.840.1.101.3.4.2.1";
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";
/** id-data, a content type other than TSTInfo. */
export const ID_DATA = "1.2.840.113549.1.7.1";
const TST_INFO = "1.2.840.113549.1.9.16.1.4";
const SIGNED_DATA = "1.2.840.113549.1.7.2";
const CONTENT_TYPE = "1.2.840.113549.1.9.3";
const MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
const SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47";

const DAY = 86_400_000;
/** The genTime of every token built here. */
export const GEN_TIME = new Date("2030-06-01T12:00:00Z");

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

function integer(n: number): Uint8Array {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || bytes[0]! & 0x80) bytes.unshift(0);
  return encodeElement(0x02, new Uint8Array(bytes));
}

const set = (...parts: Uint8Array[]) => encodeElement(0x31, concatBytes(...parts));
const attribute = (type: string, value: Uint8Array) => seq(oid(type), set(value));

/** Options for {@link tsaPki}. */
export interface TsaPkiOptions {
  /** The authority's URI in the trusted root (default `https://fulcio.test`). */
  readonly uri?: string;
  /** The authority's `validFor` (default: from 60 days before {@link GEN_TIME}, no end). */
  readonly validFor?: ValidityPeriod;
}

/** A throw-away TSA: its key, its certificate, another under the same root, its authority. */
export interface TsaPki {
  /** The TSA's key pair. */
  readonly tsaKey: { publicKey: KeyObject; privateKey: KeyObject };
  /** The TSA's certificate (serial 5). */
  readonly tsa: Certificate;
  /** Another timeStamping certificate under the same root (serial 6), with another key. */
  readonly other: Certificate;
  /** The TSA as a trusted root lists it: chain `[tsa, root]`. */
  readonly authorities: CertificateAuthority[];
}

/** A root CA and a TSA certificate under it (critical timeStamping EKU), valid around 2030. */
export function tsaPki(options: TsaPkiOptions = {}): TsaPki {
  const rootKey = ecKey(), tsaKey = ecKey(), otherKey = ecKey();
  // Named after the URI, so that two test TSAs never share an issuer name and serial.
  const name = options.uri ?? "test TSA";
  const rootName = [["O", "test"], ["CN", `${name} root`]] as const;
  const root = buildCertificate({
    subject: rootName,
    notBefore: new Date(GEN_TIME.getTime() - 365 * DAY),
    notAfter: new Date(GEN_TIME.getTime() + 365 * DAY),
    publicKey: rootKey.publicKey,
    signingKey: rootKey.privateKey,
    extensions: [ext.basicConstraints(true, 0), ext.keyUsage("keyCertSign", "cRLSign")],
  });
  const leafSpec = {
    subject: [["O", "test"], ["CN", name]] as const,
    issuer: rootName,
    notBefore: new Date(GEN_TIME.getTime() - 30 * DAY),
    notAfter: new Date(GEN_TIME.getTime() + 30 * DAY),
    signingKey: rootKey.privateKey,
    extensions: [
      ext.keyUsage("digitalSignature"),
      { ...ext.extKeyUsage(X509_OID.timeStamping), critical: true },
    ],
  };
  const tsa = buildCertificate({ ...leafSpec, publicKey: tsaKey.publicKey, serial: 5 });
  const other = buildCertificate({ ...leafSpec, publicKey: otherKey.publicKey, serial: 6 });
  return {
    tsaKey,
    tsa: parseCertificate(tsa),
    other: parseCertificate(other),
    authorities: [
      authority(
        [tsa, root],
        options.validFor ?? { start: new Date(GEN_TIME.getTime() - 60 * DAY) },
        options.uri,
      ),
    ],
  };
}

/** Options for {@link token}. */
export interface TokenOptions {
  /** The signed contentType attribute (default id-ct-TSTInfo). */
  contentType?: string;
  /** The certificate the ESS signingCertificateV2 attribute hashes (default: none). */
  essCertificate?: Uint8Array;
  /** How many (identical) SignerInfos (default 1). */
  signerInfos?: number;
}

/** A bare TimeStampToken (ContentInfo) over `message`, signed by the TSA of `pki`. */
export function token(
  pki: TsaPki,
  message: Uint8Array,
  opts: TokenOptions = {},
): Uint8Array {
  const tstInfo = seq(
    integer(1),
    oid("1.2.3.4.1"),
    seq(seq(oid(SHA256)), octets(sha256(message))),
    integer(42),
    encodeElement(0x18, utf8("20300601120000Z")),
  );
  const attributes = [
    attribute(CONTENT_TYPE, oid(opts.contentType ?? TST_INFO)),
    attribute(MESSAGE_DIGEST, octets(sha256(tstInfo))),
    ...(opts.essCertificate
      ? [attribute(SIGNING_CERTIFICATE_V2, seq(seq(seq(octets(sha256(opts.essCertificate))))))]
      : []),
  ];
  const signature = new Uint8Array(
    sign("sha256", set(...attributes), { key: pki.tsaKey.privateKey, dsaEncoding: "der" }),
  );
  const signerInfo = seq(
    integer(1),
    seq(pki.tsa.issuerDer, integer(5)),
    seq(oid(SHA256)),
    encodeElement(0xa0, concatBytes(...attributes)),
    seq(oid(ECDSA_SHA256)),
    octets(signature),
  );
  const signedData = seq(
    integer(3),
    set(seq(oid(SHA256))),
    seq(oid(TST_INFO), encodeElement(0xa0, octets(tstInfo))),
    set(...Array.from({ length: opts.signerInfos ?? 1 }, () => signerInfo)),
  );
  return seq(oid(SIGNED_DATA), encodeElement(0xa0, signedData));
}
