/**
 * RFC 3161 timestamp rules that openssl-made tokens cannot reach, on tokens built here:
 * - the signed contentType attribute must be id-ct-TSTInfo (RFC 5652 5.3: it must equal the
 *   eContentType), so content the TSA signed as something else is no timestamp;
 * - the ESS signing-certificate attribute, when present, must hash to the signing certificate;
 * - a token carries exactly one SignerInfo (sigstore's rule): a second one is refused, not
 *   ignored.
 */
import { createHash, sign } from "node:crypto";
import { assert, assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { concatBytes, utf8 } from "../crypto/encoding.ts";
import { encodeElement } from "../x509/_der.ts";
import { OID as X509_OID, parseCertificate } from "../x509/certificate.ts";
import { authority, buildCertificate, ecKey, ext, octets, oid, seq } from "../x509/_test_certs.ts";
import { verifyTimestamp } from "./timestamp.ts";

const SHA256 = "2.16.840.1.101.3.4.2.1";
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const ID_DATA = "1.2.840.113549.1.7.1";
const TST_INFO = "1.2.840.113549.1.9.16.1.4";
const SIGNED_DATA = "1.2.840.113549.1.7.2";
const CONTENT_TYPE = "1.2.840.113549.1.9.3";
const MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
const SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47";

const DAY = 86_400_000;
const GEN_TIME = new Date("2030-06-01T12:00:00Z");

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

/** A root CA and a TSA certificate under it (critical timeStamping EKU), valid around 2030. */
function tsaPki() {
  const rootKey = ecKey(), tsaKey = ecKey(), otherKey = ecKey();
  const rootName = [["O", "test"], ["CN", "test TSA root"]] as const;
  const root = buildCertificate({
    subject: rootName,
    notBefore: new Date(GEN_TIME.getTime() - 365 * DAY),
    notAfter: new Date(GEN_TIME.getTime() + 365 * DAY),
    publicKey: rootKey.publicKey,
    signingKey: rootKey.privateKey,
    extensions: [ext.basicConstraints(true, 0), ext.keyUsage("keyCertSign", "cRLSign")],
  });
  const leafSpec = {
    subject: [["O", "test"], ["CN", "test TSA"]] as const,
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
    authorities: [authority([tsa, root], { start: new Date(GEN_TIME.getTime() - 60 * DAY) })],
  };
}

interface TokenOptions {
  /** The signed contentType attribute (default id-ct-TSTInfo). */
  contentType?: string;
  /** The certificate the ESS signingCertificateV2 attribute hashes (default: none). */
  essCertificate?: Uint8Array;
  /** How many (identical) SignerInfos (default 1). */
  signerInfos?: number;
}

/** A bare TimeStampToken (ContentInfo) over `message`, signed by the TSA of `pki`. */
function token(pki: ReturnType<typeof tsaPki>, message: Uint8Array, opts: TokenOptions = {}) {
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

function refusal(fn: () => unknown): CosignError {
  try {
    fn();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    return e;
  }
  throw new Error("expected the timestamp to be refused");
}

const MESSAGE = utf8("the signature bytes");

Deno.test("timestamp rules: a token built here verifies (signer from the trusted chain, ESS)", () => {
  const pki = tsaPki();
  const plain = verifyTimestamp(token(pki, MESSAGE), MESSAGE, pki.authorities);
  assertEquals(plain.time.toISOString(), GEN_TIME.toISOString());
  const withEss = token(pki, MESSAGE, { essCertificate: pki.tsa.der });
  assertEquals(verifyTimestamp(withEss, MESSAGE, pki.authorities).time.getTime(), +GEN_TIME);
});

Deno.test("timestamp rules: a contentType attribute other than TSTInfo is refused", () => {
  const pki = tsaPki();
  const e = refusal(() =>
    verifyTimestamp(token(pki, MESSAGE, { contentType: ID_DATA }), MESSAGE, pki.authorities)
  );
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/contentType attribute is 1\.2\.840\.113549\.1\.7\.1/.test(e.message), e.message);
});

Deno.test("timestamp rules: an ESS attribute naming another certificate is refused", () => {
  const pki = tsaPki();
  const e = refusal(() =>
    verifyTimestamp(
      token(pki, MESSAGE, { essCertificate: pki.other.der }),
      MESSAGE,
      pki.authorities,
    )
  );
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/signing-certificate attribute/.test(e.message), e.message);
});

Deno.test("timestamp rules: a token with two SignerInfos is refused", () => {
  const pki = tsaPki();
  const e = refusal(() =>
    verifyTimestamp(token(pki, MESSAGE, { signerInfos: 2 }), MESSAGE, pki.authorities)
  );
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/2 SignerInfos, expected exactly 1/.test(e.message), e.message);
});
