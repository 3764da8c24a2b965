/**
 * Differential test: our hand-written X.509 parser (`lib/x509/certificate.ts`, and
 * `fulcioExtensions` in `lib/x509/identity.ts`) against `@peculiar/x509` and its ASN.1 layer
 * `@peculiar/asn1-x509`, on every certificate in the shared fixtures (bundles, trusted roots,
 * the certificates RFC 3161 tokens embed), a few built here from the fixture keys (RSA,
 * Ed25519, P-384/P-521, every SAN form), and seeded mutations of all of them (bit flips,
 * truncations, field edits that keep the DER well formed).
 *
 * Both sides must agree on validity (parses or not) and, when both parse, on every field:
 * serial, issuer and subject, validity, public key, signature algorithm and value, the
 * extensions (OID, criticality, value), basic constraints, key usage, extended key usage, SANs,
 * key identifiers and the Fulcio extensions. A disagreement passes only when one rule of
 * {@link KNOWN_DIFFERENCES} explains it: each gives the reason ours is right and checks that
 * reason on the peer's own parse, so that a rule cannot cover a different bug. Any other
 * disagreement fails the test, naming the input and the mutation.
 *
 * The peer is lenient by design (BER, schema-bending, trailing bytes); RFC 5280 and Go's
 * crypto/x509, which sigstore-go and cosign use, are strict. Most known differences are that.
 * @module
 */
import { asn1js, AsnConvert, asnX509, ed25519, x509 } from "./harness/peers.ts";
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { CosignError } from "../lib/errors.ts";
import { type Certificate, parseCertificate } from "../lib/x509/certificate.ts";
import { fulcioExtensions } from "../lib/x509/identity.ts";
import { buildCertificate, ext } from "../lib/x509/_test_certs.ts";
import { p256, p384, p521 } from "../lib/crypto/deps_curves.ts";
import { fixtureCorpus, mutants, Rng } from "./harness/differential.ts";
import { assert, assertEquals, KEYS } from "./helpers.ts";

const hex = (b: ArrayBuffer | Uint8Array): string =>
  Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");

/** Everything compared, in one comparable shape. */
interface CertView {
  serial: string;
  issuer: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  spki: string;
  signatureAlgorithm: string;
  signature: string;
  extensions: string[];
  basicConstraints: string | null;
  keyUsage: string[] | null;
  extKeyUsage: string[] | null;
  subjectAltNames: string[];
  subjectKeyId: string | null;
  authorityKeyId: string | null;
  fulcio: Record<string, string> | "invalid";
}

type Side = { ok: true; view: CertView } | { ok: false; error: string };

const OIDS = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  nameConstraints: "2.5.29.30",
} as const;

// ---------------------------------------------------------------------------------------------
// Ours

function oursView(c: Certificate): CertView {
  let fulcio: CertView["fulcio"];
  try {
    fulcio = { ...fulcioExtensions(c) } as Record<string, string>;
    delete fulcio.issuer; // derived from issuerV1/issuerV2, compared through them
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    fulcio = "invalid";
  }
  return {
    serial: c.serialHex,
    issuer: c.issuer,
    subject: c.subject,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    spki: hex(c.spki),
    signatureAlgorithm: c.signatureAlgorithm,
    signature: hex(c.signature),
    extensions: c.extensions.map((e) => `${e.oid} ${e.critical} ${hex(e.value)}`),
    basicConstraints: c.extensions.some((e) => e.oid === OIDS.basicConstraints)
      ? `ca=${c.isCa} pathLen=${c.pathLength ?? "-"}`
      : null,
    keyUsage: c.keyUsage ? [...c.keyUsage] : null,
    extKeyUsage: c.extKeyUsage ? [...c.extKeyUsage] : null,
    subjectAltNames: c.subjectAlternativeNames.map((s) => `${s.type}:${s.value}`),
    subjectKeyId: c.subjectKeyId ? hex(c.subjectKeyId) : null,
    authorityKeyId: c.authorityKeyId ? hex(c.authorityKeyId) : null,
    fulcio,
  };
}

function ours(der: Uint8Array): Side {
  try {
    return { ok: true, view: oursView(parseCertificate(der)) };
  } catch (e) {
    if (!(e instanceof CosignError)) throw e; // an internal error is a bug, never a difference
    return { ok: false, error: e.message };
  }
}

// ---------------------------------------------------------------------------------------------
// Theirs: @peculiar/x509 (serial, names, validity, key, signature, the extension classes) on
// top of @peculiar/asn1-x509 (its ASN.1 model, also read directly for names, the algorithm OID
// and SANs: the extension class throws on Fulcio's otherName SAN)

/** Short names as our parser prints them, so that the peer's names can be rendered alike. */
const SHORT_NAMES: Record<string, string> = {
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

/**
 * A name as our parser renders it. The peer's AttributeValue keeps the string types its
 * DirectoryString lacks (NumericString, VisibleString, UniversalString, …) as opaque bytes;
 * those are decoded with asn1js, the BER library under the peer.
 */
function nameText(name: asnX509.Name): string {
  return name.map((rdn) =>
    rdn.map((atv) => {
      let text: string;
      if (atv.value.anyValue) {
        const { result, offset } = asn1js.fromBER(atv.value.anyValue);
        const block = result as unknown as { valueBlock: { value?: unknown } };
        const isTime = result instanceof asn1js.UTCTime || result instanceof asn1js.GeneralizedTime;
        if (offset === -1 || isTime || !(result instanceof asn1js.BaseStringBlock)) {
          throw new Error(`name attribute ${atv.type} is not a string`);
        }
        text = String(block.valueBlock.value);
      } else {
        text = atv.value.toString();
      }
      return `${SHORT_NAMES[atv.type] ?? atv.type}=${text}`;
    }).join("+")
  ).join(", ");
}

const KEY_USAGE_BITS: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "contentCommitment"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
  [x509.KeyUsageFlags.encipherOnly, "encipherOnly"],
  [x509.KeyUsageFlags.decipherOnly, "decipherOnly"],
];

const FULCIO_ARC = "1.3.6.1.4.1.57264.1.";
/**
 * Fulcio's extensions by number (names as `fulcioExtensions` returns them; OIDs from Fulcio's
 * oid-info, as listed in sigstore-go's `pkg/fulcio/certificate` and cosign's `bundle inspect`):
 * `.1`–`.6` hold raw UTF-8, `.8`–`.24` a DER string.
 */
const FULCIO_NAMES: Record<number, string> = {
  1: "issuerV1",
  2: "githubWorkflowTrigger",
  3: "githubWorkflowSha",
  4: "githubWorkflowName",
  5: "githubWorkflowRepository",
  6: "githubWorkflowRef",
  8: "issuerV2",
  9: "buildSignerUri",
  10: "buildSignerDigest",
  11: "runnerEnvironment",
  12: "sourceRepositoryUri",
  13: "sourceRepositoryDigest",
  14: "sourceRepositoryRef",
  15: "sourceRepositoryIdentifier",
  16: "sourceRepositoryOwnerUri",
  17: "sourceRepositoryOwnerIdentifier",
  18: "buildConfigUri",
  19: "buildConfigDigest",
  20: "buildTrigger",
  21: "runInvocationUri",
  22: "sourceRepositoryVisibilityAtSigning",
  23: "deploymentEnvironment",
  24: "subject",
};

function fulcioTheirs(exts: readonly asnX509.Extension[]): CertView["fulcio"] {
  const out: Record<string, string> = {};
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  try {
    for (const e of exts) {
      if (!e.extnID.startsWith(FULCIO_ARC)) continue;
      const n = Number(e.extnID.slice(FULCIO_ARC.length));
      const name = FULCIO_NAMES[n];
      if (!name) continue;
      const value = e.extnValue.buffer;
      out[name] = n <= 6
        ? utf8.decode(value)
        : AsnConvert.parse(value, asnX509.DirectoryString).toString();
    }
  } catch {
    return "invalid";
  }
  return out;
}

function sanTheirs(value: ArrayBuffer): string[] {
  const out: string[] = [];
  for (const gn of AsnConvert.parse(value, asnX509.SubjectAlternativeName)) {
    if (gn.rfc822Name !== undefined) out.push(`email:${gn.rfc822Name}`);
    else if (gn.dNSName !== undefined) out.push(`dns:${gn.dNSName}`);
    else if (gn.uniformResourceIdentifier !== undefined) {
      out.push(`uri:${gn.uniformResourceIdentifier}`);
    } else if (gn.iPAddress !== undefined) out.push(`ip:${gn.iPAddress}`);
    else if (gn.otherName?.typeId === FULCIO_ARC + "7") {
      out.push(`otherName:${AsnConvert.parse(gn.otherName.value, asnX509.DirectoryString)}`);
    }
  }
  return out;
}

/** The peer's parse: the certificate object and its ASN.1 model, when it got that far. */
interface Peer {
  readonly cert?: x509.X509Certificate;
  readonly asn?: asnX509.Certificate;
  readonly side: Side;
}

/** Builds the peer's view; `skip` leaves one extension uninterpreted (for rules). */
function theirsView(
  cert: x509.X509Certificate,
  asn: asnX509.Certificate,
  skip?: string,
): CertView {
  const exts = asn.tbsCertificate.extensions ?? [];
  const raw = (oid: string) => exts.find((e) => e.extnID === oid);
  const make = <T>(oid: string, type: new (raw: ArrayBuffer) => T): T | undefined => {
    const e = oid === skip ? undefined : raw(oid);
    return e ? new type(AsnConvert.serialize(e)) : undefined;
  };
  const bc = make(OIDS.basicConstraints, x509.BasicConstraintsExtension);
  const ku = make(OIDS.keyUsage, x509.KeyUsagesExtension);
  const eku = make(OIDS.extKeyUsage, x509.ExtendedKeyUsageExtension);
  const ski = make(OIDS.subjectKeyId, x509.SubjectKeyIdentifierExtension);
  const aki = make(OIDS.authorityKeyId, x509.AuthorityKeyIdentifierExtension);
  const san = skip === OIDS.subjectAltName ? undefined : raw(OIDS.subjectAltName);
  return {
    serial: cert.serialNumber,
    issuer: nameText(asn.tbsCertificate.issuer),
    subject: nameText(asn.tbsCertificate.subject),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    spki: hex(cert.publicKey.rawData),
    signatureAlgorithm: asn.signatureAlgorithm.algorithm,
    signature: hex(cert.signature),
    extensions: exts.map((e) => `${e.extnID} ${e.critical} ${hex(e.extnValue.buffer)}`),
    basicConstraints: bc ? `ca=${bc.ca} pathLen=${bc.pathLength ?? "-"}` : null,
    keyUsage: ku ? KEY_USAGE_BITS.filter(([bit]) => ku.usages & bit).map(([, n]) => n) : null,
    extKeyUsage: eku ? eku.usages.map(String) : null,
    subjectAltNames: san ? sanTheirs(san.extnValue.buffer) : [],
    subjectKeyId: ski ? ski.keyId : null,
    authorityKeyId: aki?.keyId ?? null,
    fulcio: fulcioTheirs(exts),
  };
}

function theirs(der: Uint8Array): Peer {
  const refuse = (e: unknown): Side => ({ ok: false, error: String((e as Error)?.message ?? e) });
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der.slice());
  } catch (e) {
    return { side: refuse(e) };
  }
  const asn = (cert as unknown as { asn: asnX509.Certificate }).asn;
  try {
    return { cert, asn, side: { ok: true, view: theirsView(cert, asn) } };
  } catch (e) {
    return { cert, asn, side: refuse(e) };
  }
}

// ---------------------------------------------------------------------------------------------
// The corpus

function privateKey(file: string): KeyObject {
  return createPrivateKey(Deno.readTextFileSync(KEYS + file));
}

/**
 * Certificates built from the fixture keys, deterministic (Ed25519 and RSA PKCS#1 v1.5
 * signatures are), covering what the fixtures lack: RSA and Ed25519 keys and signatures,
 * P-384/P-521 keys, every SAN form, a path length, more key usages, name constraints.
 */
function builtCertificates(): { source: string; der: Uint8Array }[] {
  const ed = privateKey("ed25519key.pem");
  const rsa = privateKey("validrsa.pem");
  const at = new Date("2030-01-01T00:00:00Z");
  const later = new Date("2031-01-01T00:00:00Z");
  const pub = (k: KeyObject) => createPublicKey(k);
  return [
    {
      source: "built: RSA CA signed by Ed25519",
      der: buildCertificate({
        subject: [["O", "built"], ["CN", "rsa-ca"]],
        issuer: [["O", "built"], ["CN", "ed-root"]],
        notBefore: at,
        notAfter: later,
        publicKey: pub(rsa),
        signingKey: ed,
        serial: 0x80,
        extensions: [
          ext.basicConstraints(true, 3),
          ext.keyUsage("keyCertSign", "cRLSign", "digitalSignature", "keyAgreement"),
          ext.nameConstraints({ permitted: [ext.dns("example.com")] }),
        ],
      }),
    },
    {
      source: "built: P-384 leaf with every SAN form, signed by RSA",
      der: buildCertificate({
        subject: [],
        issuer: [["O", "built"], ["CN", "rsa-ca"]],
        notBefore: at,
        notAfter: new Date("2051-01-01T00:00:00Z"),
        publicKey: pub(privateKey("validecp384.pem")),
        signingKey: rsa,
        serial: 123456789,
        hash: "sha384",
        extensions: [
          ext.keyUsage("digitalSignature"),
          ext.extKeyUsage("1.3.6.1.5.5.7.3.3", "1.3.6.1.5.5.7.3.8"),
          ext.subjectAltName(
            ext.email("a@example.com"),
            ext.dns("example.com"),
            ext.uri("https://example.com/x"),
            ext.ip([192, 0, 2, 1]),
            ext.ip([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            ext.otherName(FULCIO_ARC + "7", "user!example.com"),
          ),
          ext.fulcio(1, "https://issuer.example"),
          ext.fulcio(2, "push"),
          ext.fulcio(8, "https://issuer.example"),
          ext.fulcio(12, "https://github.com/acme/app"),
        ],
      }),
    },
    {
      source: "built: Ed25519 self-signed root",
      der: buildCertificate({
        subject: [["CN", "ed-root"], ["O", "built"]],
        notBefore: at,
        notAfter: later,
        publicKey: pub(ed),
        signingKey: ed,
        serial: 2,
        extensions: [ext.basicConstraints(true), ext.keyUsage("keyCertSign")],
      }),
    },
    {
      source: "built: P-521 leaf",
      der: buildCertificate({
        subject: [["C", "DE"], ["CN", "p521"]],
        issuer: [["CN", "ed-root"], ["O", "built"]],
        notBefore: at,
        notAfter: later,
        publicKey: pub(privateKey("validecp521.pem")),
        signingKey: ed,
        extensions: [ext.basicConstraints(false), ext.extKeyUsage("2.5.29.37.0")],
      }),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Known differences

interface Case {
  readonly source: string;
  readonly der: Uint8Array;
  readonly ours: Side;
  readonly theirs: Peer;
}

/** A known difference: when it applies (checked on the peer's parse) and why ours is right. */
interface KnownDifference {
  readonly name: string;
  readonly reason: string;
  readonly applies: (c: Case) => boolean;
}

/** The ASN.1 schema of each extension value the peer can re-encode. */
const EXTENSION_SCHEMAS: Record<string, new () => object> = {
  [OIDS.basicConstraints]: asnX509.BasicConstraints,
  [OIDS.keyUsage]: asnX509.KeyUsage,
  [OIDS.extKeyUsage]: asnX509.ExtendedKeyUsage,
  [OIDS.subjectAltName]: asnX509.SubjectAlternativeName,
  [OIDS.subjectKeyId]: asnX509.SubjectKeyIdentifier,
  [OIDS.authorityKeyId]: asnX509.AuthorityKeyIdentifier,
  [OIDS.nameConstraints]: asnX509.NameConstraints,
};

function sameBytes(a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array): boolean {
  return hex(a) === hex(b);
}

/**
 * True when the peer's own DER encoder, given what the peer decoded, does not reproduce the
 * input (or refuses to encode it): the certificate, or the value of an extension whose schema
 * it knows (the Fulcio DER strings as DirectoryString). Then the input is not the DER encoding
 * of any certificate the peer can represent: it decoded BER, skipped trailing bytes, or bent a
 * field to its schema.
 * (The test checks first that every fixture certificate round-trips exactly.)
 */
function notDer(c: Case): boolean {
  const asn = c.theirs.asn;
  if (!asn) return false;
  const tryRoundTrip = (value: ArrayBuffer, schema: new () => object): boolean => {
    try {
      return sameBytes(AsnConvert.serialize(AsnConvert.parse(value, schema)), value);
    } catch {
      return false; // the peer cannot even decode it
    }
  };
  try {
    if (!sameBytes(AsnConvert.serialize(asn), c.der)) return true;
  } catch {
    return true; // the peer's encoder refuses what its decoder let through
  }
  for (const e of asn.tbsCertificate.extensions ?? []) {
    const n = e.extnID.startsWith(FULCIO_ARC) ? Number(e.extnID.slice(FULCIO_ARC.length)) : 0;
    const schema = n >= 8 && FULCIO_NAMES[n]
      ? asnX509.DirectoryString
      : EXTENSION_SCHEMAS[e.extnID];
    if (schema && !tryRoundTrip(e.extnValue.buffer, schema)) return true;
  }
  return false;
}

/** Why ours may find a Fulcio extension invalid where the peer reads it (see the rule). */
function fulcioExplained(c: Case): boolean {
  return notDer(c) || fulcioStringBad(c) || hasInvalidUtf8(c.der);
}

function isAscii(text: string): boolean {
  return [...text].every((ch) => ch.charCodeAt(0) < 0x80);
}

/** True when a Fulcio .8+ PrintableString, as the peer decoded it, breaks its alphabet. */
function fulcioStringBad(c: Case): boolean {
  return (c.theirs.asn?.tbsCertificate.extensions ?? []).some((e) => {
    const n = Number(e.extnID.startsWith(FULCIO_ARC) ? e.extnID.slice(FULCIO_ARC.length) : 0);
    if (n < 8 || !FULCIO_NAMES[n]) return false;
    const s = AsnConvert.parse(e.extnValue.buffer, asnX509.DirectoryString);
    return s.printableString !== undefined &&
      /[^A-Za-z0-9 '()+,\-./:=?*&]/.test(s.printableString);
  });
}

/**
 * True when asn1js finds a UTF8String that is not UTF-8 anywhere in `der`, looking into OCTET
 * STRINGs that hold BER (extension values) too.
 */
function hasInvalidUtf8(der: ArrayBuffer | Uint8Array): boolean {
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const visit = (block: asn1js.AsnType): boolean => {
    if (block instanceof asn1js.Utf8String) {
      try {
        utf8.decode(block.valueBlock.valueHexView);
        return false;
      } catch {
        return true;
      }
    }
    const inner = (block as { valueBlock?: { value?: unknown } }).valueBlock?.value;
    if (Array.isArray(inner)) return inner.some(visit);
    if (block instanceof asn1js.OctetString && !block.idBlock.isConstructed) {
      const bytes = block.valueBlock.valueHexView;
      const parsed = asn1js.fromBER(bytes);
      if (parsed.offset === bytes.length) return visit(parsed.result);
    }
    return false;
  };
  const top = asn1js.fromBER(der instanceof Uint8Array ? der.slice() : der);
  return top.offset !== -1 && visit(top.result);
}

/** True when the peer, told to leave extension `oid` alone, sees what ours sees. */
function agreesWithout(c: Case, oid: string): boolean {
  const { cert, asn } = c.theirs;
  if (!c.ours.ok || !cert || !asn) return false;
  try {
    const view = { ...theirsView(cert, asn, oid) };
    const mine = { ...c.ours.view };
    if (oid === OIDS.authorityKeyId) view.authorityKeyId = mine.authorityKeyId = null;
    if (oid === OIDS.subjectAltName) view.subjectAltNames = mine.subjectAltNames = [];
    // A Fulcio extension that ours finds invalid for a reason a rule explains (mutations can
    // break two things at once).
    if (mine.fulcio === "invalid" && fulcioExplained(c)) view.fulcio = "invalid";
    return fieldDiffs(mine, view).length === 0;
  } catch {
    return false;
  }
}

const CURVES: Record<string, typeof p256> = {
  "06082a8648ce3d030107": p256,
  "06052b81040022": p384,
  "06052b81040023": p521,
};

/**
 * Whether the peer's public key is usable: an EC or Ed25519 point must be on its curve (checked
 * with @noble/curves: Deno's WebCrypto imports points that are not), an RSA key must have NULL
 * parameters (RFC 3279 2.3.1) and import into WebCrypto, an Ed25519 key no parameters.
 */
async function keyUsable(spki: asnX509.SubjectPublicKeyInfo): Promise<boolean> {
  const oid = spki.algorithm.algorithm;
  try {
    if (oid === "1.2.840.10045.2.1") {
      const params = spki.algorithm.parameters;
      const curve = params ? CURVES[hex(params)] : undefined;
      if (!curve) return false;
      curve.Point.fromHex(new Uint8Array(spki.subjectPublicKey));
      return true;
    }
    if (oid === "1.3.101.112") {
      ed25519.Point.fromHex(new Uint8Array(spki.subjectPublicKey));
      return spki.algorithm.parameters === undefined;
    }
    if (
      oid !== "1.2.840.113549.1.1.1" ||
      hex(spki.algorithm.parameters ?? new Uint8Array()) !== "0500"
    ) {
      return false;
    }
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    await crypto.subtle.importKey("spki", AsnConvert.serialize(spki), alg, true, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

/** Inputs whose public key is unusable, computed before the rules run (it is async). */
const unusableKeys = new WeakSet<Case>();

const HANDLED = new Set<string>(Object.values(OIDS));

const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    name: "not DER",
    reason: "RFC 5280 4.1 requires DER and Go's crypto/x509 (sigstore-go, cosign) parses it " +
      "strictly with cryptobyte; the peer decodes BER and bends fields to its schema. The " +
      "peer's own encoder does not reproduce the input, so the input is not DER.",
    applies: (c) => !c.ours.ok && c.theirs.side.ok && notDer(c),
  },
  {
    name: "fulcio extension not one DER string",
    reason: "sigstore-go's ParseDERString refuses a Fulcio extension .8+ with trailing " +
      "bytes, or a string Go's encoding/asn1 refuses (a PrintableString outside its " +
      "alphabet, a UTF8String that is not UTF-8); the peer ignores trailing bytes and decodes " +
      "leniently. Checked: the peer does not re-encode the value to the same bytes, or the " +
      "string it decoded breaks its type's alphabet.",
    applies: (c) =>
      c.ours.ok && c.theirs.side.ok && c.ours.view.fulcio === "invalid" &&
      c.theirs.side.view.fulcio !== "invalid" && fulcioExplained(c) &&
      fieldDiffs(c.ours.view, c.theirs.side.view).length === 1,
  },
  {
    name: "Fulcio extension in another string type",
    reason: "sigstore-go reads Fulcio extensions .8+ with Go's encoding/asn1, which takes " +
      "IA5String, NumericString, PrintableString, T61String and UTF8String alike; ours does " +
      "the same, the peer's DirectoryString lacks IA5String and NumericString. Checked: " +
      "only the Fulcio extensions differ, and the peer's failing value is such a string.",
    applies: (c) => {
      if (!c.ours.ok || !c.theirs.side.ok || c.theirs.side.view.fulcio !== "invalid") {
        return false;
      }
      const diffs = fieldDiffs(c.ours.view, c.theirs.side.view);
      const values = (c.theirs.asn?.tbsCertificate.extensions ?? [])
        .filter((e) => e.extnID.startsWith(FULCIO_ARC) && Number(e.extnID.split(".").at(-1)) >= 8)
        .map((e) => new Uint8Array(e.extnValue.buffer));
      return diffs.length === 1 && values.some((v) => v[0] === 0x16 || v[0] === 0x12);
    },
  },
  {
    name: "public key unusable",
    reason: "Ours imports the key while parsing (a certificate whose key cannot verify " +
      "anything is refused, as Go's crypto/x509 refuses unknown curves and invalid points); " +
      "the peer keeps the SubjectPublicKeyInfo as bytes. Checked: the peer's EC or Ed25519 " +
      "point is not on its curve (@noble/curves), its RSA parameters are not NULL or " +
      "WebCrypto refuses the RSA key, or an Ed25519 key has parameters (RFC 8410).",
    applies: (c) => !c.ours.ok && c.theirs.side.ok && unusableKeys.has(c),
  },
  {
    name: "inner and outer signature algorithms differ",
    reason: "RFC 5280 4.1.1.2: signatureAlgorithm MUST equal tbsCertificate.signature; Go " +
      "refuses it too. Checked on the peer's two AlgorithmIdentifiers.",
    applies: (c) =>
      !c.ours.ok && !!c.theirs.asn && !sameBytes(
        AsnConvert.serialize(c.theirs.asn.signatureAlgorithm),
        AsnConvert.serialize(c.theirs.asn.tbsCertificate.signature),
      ),
  },
  {
    name: "unrecognised critical extension",
    reason: "RFC 5280 4.2: a certificate with a critical extension the verifier does not " +
      "process MUST be rejected (Go: UnhandledCriticalExtension). Checked: the peer lists a " +
      "critical extension outside the ones ours handles.",
    applies: (c) =>
      !c.ours.ok &&
      (c.theirs.asn?.tbsCertificate.extensions ?? []).some((e) =>
        e.critical && !HANDLED.has(e.extnID)
      ),
  },
  {
    name: "duplicate extension",
    reason: "RFC 5280 4.2: a certificate MUST NOT include more than one instance of an " +
      "extension; Go refuses it. Checked on the peer's extension list.",
    applies: (c) => {
      const ids = (c.theirs.asn?.tbsCertificate.extensions ?? []).map((e) => e.extnID);
      return !c.ours.ok && new Set(ids).size !== ids.length;
    },
  },
  {
    name: "version",
    reason: "RFC 5280 4.1.2.1: v1, v2 or v3, and extensions only in v3; Go refuses other " +
      "versions. Checked on the peer's version field.",
    applies: (c) => {
      const tbs = c.theirs.asn?.tbsCertificate;
      return !c.ours.ok && !!tbs &&
        (tbs.version < 0 || tbs.version > 2 || (tbs.version !== 2 && !!tbs.extensions));
    },
  },
  {
    name: "empty RDN or extension list",
    reason: "X.501 RelativeDistinguishedName and RFC 5280 Extensions are SIZE (1..MAX). " +
      "Checked on the peer's names and extension list.",
    applies: (c) => {
      const tbs = c.theirs.asn?.tbsCertificate;
      return !c.ours.ok && !!tbs &&
        ([...tbs.issuer, ...tbs.subject].some((rdn) => rdn.length === 0) ||
          tbs.extensions?.length === 0);
    },
  },
  {
    name: "empty OBJECT IDENTIFIER",
    reason: "X.690 8.19: an OBJECT IDENTIFIER has at least one subidentifier (two arcs); Go's " +
      "cryptobyte refuses an empty one. Checked: an extension ID, name attribute type, " +
      "extended key usage or SAN otherName type the peer decoded is empty.",
    applies: (c) => {
      const tbs = c.theirs.asn?.tbsCertificate;
      if (c.ours.ok || !tbs) return false;
      const exts = tbs.extensions ?? [];
      const eku = exts.find((e) => e.extnID === OIDS.extKeyUsage);
      const purposes = eku
        ? AsnConvert.parse(eku.extnValue.buffer, asnX509.ExtendedKeyUsage).map(String)
        : [];
      const san = exts.find((e) => e.extnID === OIDS.subjectAltName);
      const otherNames = san
        ? AsnConvert.parse(san.extnValue.buffer, asnX509.SubjectAlternativeName)
          .flatMap((gn) => gn.otherName ? [gn.otherName.typeId] : [])
        : [];
      return [
        ...exts.map((e) => e.extnID),
        ...otherNames,
        ...[...tbs.issuer, ...tbs.subject].flatMap((rdn) => rdn.map((atv) => atv.type)),
        ...purposes,
      ].includes("");
    },
  },
  {
    name: "name attribute Go does not read as a string",
    reason: "Go's crypto/x509 reads name attributes that are T61String, PrintableString, " +
      "UTF8String, BMPString, IA5String or NumericString (ours also VisibleString and " +
      "UniversalString) and refuses other types; the peer keeps any value as opaque bytes. " +
      "Checked: a value the peer kept opaque has another tag.",
    applies: (c) => {
      const tbs = c.theirs.asn?.tbsCertificate;
      if (c.ours.ok || !tbs) return false;
      return [...tbs.issuer, ...tbs.subject].flat().some((atv) => {
        const raw = atv.value.anyValue;
        return raw !== undefined && ![0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e].includes(
          new Uint8Array(raw)[0]!,
        );
      });
    },
  },
  {
    name: "string outside its character set",
    reason: "X.680: IA5String is 7-bit, PrintableString and NumericString have small " +
      "alphabets; Go's crypto/x509 checks all three in names (allowing '*' and '&' in a " +
      "PrintableString) and IA5 in SANs. Checked on the strings the peer decoded (with asn1js " +
      "for the NumericStrings the peer keeps opaque).",
    applies: (c) => {
      const tbs = c.theirs.asn?.tbsCertificate;
      if (c.ours.ok || !tbs) return false;
      const bad: boolean[] = [];
      for (const atv of [...tbs.issuer, ...tbs.subject].flat()) {
        const v = atv.value;
        if (v.printableString !== undefined) {
          bad.push(/[^A-Za-z0-9 '()+,\-./:=?*&]/.test(v.printableString));
        }
        if (v.ia5String !== undefined) bad.push(!isAscii(v.ia5String));
        if (v.anyValue) {
          const r = asn1js.fromBER(v.anyValue).result;
          if (r instanceof asn1js.NumericString) bad.push(/[^0-9 ]/.test(r.valueBlock.value));
        }
      }
      const san = tbs.extensions?.find((e) => e.extnID === OIDS.subjectAltName);
      if (san) {
        for (const gn of AsnConvert.parse(san.extnValue.buffer, asnX509.SubjectAlternativeName)) {
          const text = gn.rfc822Name ?? gn.dNSName ?? gn.uniformResourceIdentifier ?? "";
          bad.push(!isAscii(text));
        }
      }
      return bad.includes(true);
    },
  },
  {
    name: "INTEGER not minimally encoded or out of range",
    reason: "X.690 8.3: an INTEGER has content, and its leading nine bits are not all equal " +
      "(Go refuses an empty or padded serial number); RFC 5280 pathLenConstraint is INTEGER " +
      "(0..MAX). Checked on the peer's serial number bytes and path length.",
    applies: (c) => {
      const tbs = c.theirs.asn?.tbsCertificate;
      if (c.ours.ok || !tbs) return false;
      const serial = new Uint8Array(tbs.serialNumber);
      const padded = serial.length > 1 &&
        ((serial[0] === 0 && !(serial[1]! & 0x80)) ||
          (serial[0] === 0xff && (serial[1]! & 0x80) !== 0));
      const bc = tbs.extensions?.find((e) => e.extnID === OIDS.basicConstraints);
      const pathLen = bc
        ? AsnConvert.parse(bc.extnValue.buffer, asnX509.BasicConstraints).pathLenConstraint
        : undefined;
      return serial.length === 0 || padded || (pathLen !== undefined && pathLen < 0);
    },
  },
  {
    name: "Fulcio otherName SAN not a UTF8String",
    reason: "sigstore-go reads Fulcio's otherName SAN (1.3.6.1.4.1.57264.1.7) as " +
      '`asn1:"utf8,explicit,tag:0"`, so another string type is refused; the peer\'s ' +
      "DirectoryString takes any. Checked with asn1js on the peer's otherName value.",
    applies: (c) => {
      const san = c.theirs.asn?.tbsCertificate.extensions?.find((e) =>
        e.extnID === OIDS.subjectAltName
      );
      if (c.ours.ok || !san) return false;
      return AsnConvert.parse(san.extnValue.buffer, asnX509.SubjectAlternativeName).some((gn) =>
        gn.otherName?.typeId === FULCIO_ARC + "7" &&
        !(asn1js.fromBER(gn.otherName.value).result instanceof asn1js.Utf8String)
      );
    },
  },
  {
    name: "name constraints Go refuses",
    reason: "RFC 5280 4.2.1.10: name constraints MUST NOT be an empty sequence, and Go's " +
      "crypto/x509 refuses empty subtree lists and DNS, email and URI constraints with " +
      "characters outside 0x21–0x7e. Checked on the peer's NameConstraints.",
    applies: (c) => {
      const e = c.theirs.asn?.tbsCertificate.extensions?.find((x) =>
        x.extnID === OIDS.nameConstraints
      );
      if (c.ours.ok || !e) return false;
      const nc = AsnConvert.parse(e.extnValue.buffer, asnX509.NameConstraints);
      const trees = [nc.permittedSubtrees, nc.excludedSubtrees];
      if (trees.every((t) => !t?.length) || trees.some((t) => t?.length === 0)) return true;
      return trees.flatMap((t) => [...(t ?? [])]).some((st) => {
        const b = st.base;
        const text = b.dNSName ?? b.rfc822Name ?? b.uniformResourceIdentifier;
        return text !== undefined && /[^\x21-\x7e]/.test(text);
      });
    },
  },
  {
    name: "UTF8String that is not UTF-8",
    reason: "X.680: a UTF8String holds UTF-8; Go's crypto/x509 and encoding/asn1 refuse " +
      "invalid UTF-8 in names, SANs and Fulcio's extensions. The peer decodes it lossily. " +
      "Checked: asn1js (the peer's BER layer) finds a UTF8String whose bytes are not UTF-8.",
    applies: (c) => !c.ours.ok && hasInvalidUtf8(c.der),
  },
  {
    name: "GeneralizedTime years 0-99",
    reason: "A GeneralizedTime has a four-digit year: 0051 is the year 51. The peer (asn1js) " +
      "builds the date with Date.UTC, which maps years 0-99 to 1900-1999. Checked: only the " +
      "validity differs, ours reads a year below 100 and the peer's date is ours plus 1900 " +
      "years.",
    applies: (c) => {
      const t = c.theirs.side;
      if (!c.ours.ok || !t.ok) return false;
      const diffs = fieldDiffs(c.ours.view, t.view);
      const shifted = (iso: string) => {
        const d = new Date(iso);
        d.setUTCFullYear(d.getUTCFullYear() + 1900);
        return d.toISOString();
      };
      return diffs.length > 0 && (["notBefore", "notAfter"] as const).every((k) => {
        const mine = c.ours.ok ? c.ours.view[k] : "";
        return mine === t.view[k] ||
          (new Date(mine).getUTCFullYear() < 100 && shifted(mine) === t.view[k]);
      }) && diffs.every((d) => /^not(Before|After):/.test(d));
    },
  },
  {
    name: "fractional seconds in validity",
    reason: "RFC 5280 4.1.2.5.2: a certificate's GeneralizedTime MUST NOT include fractional " +
      "seconds; Go refuses them. Checked on the peer's validity times.",
    applies: (c) => {
      const v = c.theirs.asn?.tbsCertificate.validity;
      const times = [v?.notBefore.generalTime, v?.notAfter.generalTime];
      return !c.ours.ok && times.some((t) => t !== undefined && t.getUTCMilliseconds() !== 0);
    },
  },
  {
    name: "keyUsage padding bits",
    reason: "DER (X.690 11.2.1) requires unused bits to be zero, and Go's crypto/x509 " +
      "refuses such a keyUsage; the peer masks them off. Checked on the peer's bit string.",
    applies: (c) => {
      const e = c.theirs.asn?.tbsCertificate.extensions?.find((x) => x.extnID === OIDS.keyUsage);
      if (c.ours.ok || !e) return false;
      const bits = AsnConvert.parse(e.extnValue.buffer, asnX509.KeyUsage);
      const value = new Uint8Array(bits.value);
      return (value.length === 0 && bits.unusedBits !== 0) ||
        (value.length > 0 && (value.at(-1)! & ((1 << bits.unusedBits) - 1)) !== 0);
    },
  },
  {
    name: "authorityKeyIdentifier read as Go reads it",
    reason: "Ours reads only the keyIdentifier [0] of an authorityKeyIdentifier, as Go's " +
      "crypto/x509 does; the peer refuses the certificate when another field breaks its " +
      "schema. Checked: with that extension left aside, the peer sees what ours sees.",
    applies: (c) => !c.theirs.side.ok && agreesWithout(c, OIDS.authorityKeyId),
  },
  {
    name: "SAN forms ignored as Go ignores them",
    reason: "Ours skips GeneralNames that are not email, DNS, URI, IP or Fulcio's otherName, " +
      "as Go's crypto/x509 skips unknown tags; the peer refuses names outside its CHOICE. " +
      "Checked: with the SAN left aside, the peer sees what ours sees.",
    applies: (c) => !c.theirs.side.ok && agreesWithout(c, OIDS.subjectAltName),
  },
];

function fieldDiffs(a: CertView, b: CertView): string[] {
  const out: string[] = [];
  for (const k of Object.keys(a) as (keyof CertView)[]) {
    const x = JSON.stringify(a[k]), y = JSON.stringify(b[k]);
    if (x !== y) out.push(`${k}: ours ${x} theirs ${y}`);
  }
  return out;
}

function describe(c: Case): string {
  const side = (s: Side) => s.ok ? "parses" : `refuses (${s.error})`;
  if (c.ours.ok && c.theirs.side.ok) {
    return `${c.source}: fields differ: ${fieldDiffs(c.ours.view, c.theirs.side.view).join("; ")}`;
  }
  return `${c.source}: ours ${side(c.ours)}, theirs ${side(c.theirs.side)}`;
}

function agree(c: Case): boolean {
  const t = c.theirs.side;
  if (c.ours.ok !== t.ok) return false;
  return !c.ours.ok || !t.ok || fieldDiffs(c.ours.view, t.view).length === 0;
}

const MUTANTS_PER_CERT = Number(Deno.env.get("DIFF_MUTANTS") ?? 80);

Deno.test("differential X.509: ours and @peculiar/x509 agree on the fixtures and mutations", async () => {
  const { certificates } = await fixtureCorpus();
  assert(certificates.length >= 30, `only ${certificates.length} fixture certificates found`);
  const base = [...certificates, ...builtCertificates()];
  // The "not DER" rule rests on the peer re-encoding real DER exactly: check it on every
  // unmutated certificate (and that both sides agree on all of them, with no rule needed).
  for (const b of base) {
    const c: Case = { ...b, ours: ours(b.der), theirs: theirs(b.der) };
    assert(agree(c), `unmutated ${describe(c)}`);
    assert(!notDer(c), `the peer does not re-encode ${b.source} exactly`);
  }
  const rng = new Rng(Number(Deno.env.get("DIFF_SEED") ?? 0x5eed14));
  const inputs = base.flatMap((b) =>
    mutants(b.der, rng, MUTANTS_PER_CERT).map((m) => ({
      source: `${b.source} (${m.what})`,
      der: m.der,
    }))
  );
  const unexplained: string[] = [];
  const explained = new Map<string, number>();
  let both = 0, neither = 0;
  for (const input of inputs) {
    const c: Case = { ...input, ours: ours(input.der), theirs: theirs(input.der) };
    if (agree(c)) {
      if (c.ours.ok) both++;
      else neither++;
      continue;
    }
    if (c.theirs.asn && !c.ours.ok && /public key/.test(c.ours.error)) {
      if (!(await keyUsable(c.theirs.asn.tbsCertificate.subjectPublicKeyInfo))) unusableKeys.add(c);
    }
    const known = KNOWN_DIFFERENCES.find((k) => {
      try {
        return k.applies(c);
      } catch {
        return false; // the peer cannot decode what the rule inspects: the rule does not apply
      }
    });
    if (known) explained.set(known.name, (explained.get(known.name) ?? 0) + 1);
    else unexplained.push(describe(c));
  }
  console.log(
    `X.509: ${base.length} certificates and ${inputs.length} mutants; both parse and agree: ` +
      `${both}; both refuse: ${neither}; known differences: ` +
      ([...explained].map(([k, n]) => `${k} ${n}`).join(", ") || "none"),
  );
  if (Deno.env.get("DIFF_EXPLORE")) console.log(unexplained.join("\n"));
  assert(both > 0 && neither > 0, "the mutants reach both outcomes");
  assertEquals(unexplained.slice(0, 30), [], `${unexplained.length} unexplained disagreements`);
});
