/**
 * Test support (not exported by `mod.ts`): builds X.509 certificates with chosen names,
 * validity, extensions and keys, signed with `node:crypto`, and reads the conformance
 * fixtures' certificates.
 * @module
 */

import { Buffer } from "node:buffer";
import { generateKeyPairSync, type KeyObject, sign, X509Certificate } from "node:crypto";
import { FIXTURES } from "../../tests/helpers.ts";
import { concatBytes, utf8 } from "../crypto/encoding.ts";
import type { CertificateAuthority, ValidityPeriod } from "../trust/trusted_root.ts";
import { encodeElement } from "./_der.ts";
import { type Certificate, OID, parseCertificate } from "./certificate.ts";

/** Encodes a dotted OID as a DER element. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const body: number[] = [];
  const push = (n: number): void => {
    const bytes = [n & 0x7f];
    for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) bytes.unshift(0x80 | (n & 0x7f));
    body.push(...bytes);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return encodeElement(0x06, new Uint8Array(body));
}

/** A DER SEQUENCE of the parts. */
export function seq(...parts: Uint8Array[]): Uint8Array {
  return encodeElement(0x30, concatBytes(...parts));
}

/** A DER UTF8String. */
export function utf8String(text: string): Uint8Array {
  return encodeElement(0x0c, utf8(text));
}

/** A DER OCTET STRING. */
export function octets(bytes: Uint8Array): Uint8Array {
  return encodeElement(0x04, bytes);
}

function integer(n: number): Uint8Array {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || bytes[0]! & 0x80) bytes.unshift(0);
  return encodeElement(0x02, new Uint8Array(bytes));
}

const ATTRS: Record<string, string> = { CN: "2.5.4.3", O: "2.5.4.10", C: "2.5.4.6" };

/** A Name from `[["O", "x"], ["CN", "y"]]`. */
export function name(parts: ReadonlyArray<readonly [string, string]>): Uint8Array {
  return seq(
    ...parts.map(([k, v]) => encodeElement(0x31, seq(oid(ATTRS[k]!), utf8String(v)))),
  );
}

function time(d: Date): Uint8Array {
  const iso = d.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "");
  const year = d.getUTCFullYear();
  if (year >= 1950 && year < 2050) return encodeElement(0x17, utf8(digits.slice(2) + "Z"));
  return encodeElement(0x18, utf8(digits + "Z"));
}

/** One extension to put in a built certificate. */
export interface ExtensionSpec {
  oid: string;
  critical?: boolean;
  /** The extnValue contents. */
  value: Uint8Array;
}

/** Extension builders. */
export const ext = {
  basicConstraints(ca: boolean, pathLen?: number): ExtensionSpec {
    const parts = ca ? [encodeElement(0x01, new Uint8Array([0xff]))] : [];
    if (pathLen !== undefined) parts.push(integer(pathLen));
    return { oid: OID.basicConstraints, critical: true, value: seq(...parts) };
  },
  keyUsage(...names: string[]): ExtensionSpec {
    const all = [
      "digitalSignature",
      "contentCommitment",
      "keyEncipherment",
      "dataEncipherment",
      "keyAgreement",
      "keyCertSign",
      "cRLSign",
    ];
    let bits = 0;
    for (const n of names) bits |= 0x80 >> all.indexOf(n);
    return {
      oid: OID.keyUsage,
      critical: true,
      value: encodeElement(0x03, new Uint8Array([0, bits])),
    };
  },
  extKeyUsage(...oids: string[]): ExtensionSpec {
    return { oid: OID.extKeyUsage, value: seq(...oids.map(oid)) };
  },
  /** SAN from `[[tag, bytes]]` GeneralNames already encoded, or helpers below. */
  subjectAltName(...names: Uint8Array[]): ExtensionSpec {
    return { oid: OID.subjectAltName, critical: true, value: seq(...names) };
  },
  uri: (v: string): Uint8Array => encodeElement(0x86, utf8(v)),
  email: (v: string): Uint8Array => encodeElement(0x81, utf8(v)),
  dns: (v: string): Uint8Array => encodeElement(0x82, utf8(v)),
  ip: (bytes: number[]): Uint8Array => encodeElement(0x87, new Uint8Array(bytes)),
  otherName: (typeOid: string, value: string): Uint8Array =>
    encodeElement(0xa0, concatBytes(oid(typeOid), encodeElement(0xa0, utf8String(value)))),
  /** An iPAddress name-constraint subtree base: address bytes then mask bytes. */
  ipRange: (address: number[], mask: number[]): Uint8Array =>
    encodeElement(0x87, new Uint8Array([...address, ...mask])),
  /** A directoryName GeneralName. */
  directoryName: (parts: ReadonlyArray<readonly [string, string]>): Uint8Array =>
    encodeElement(0xa4, name(parts)),
  /**
   * nameConstraints from GeneralNames (each becomes one subtree); `critical` defaults to true,
   * as RFC 5280 asks.
   */
  nameConstraints(
    subtrees: { permitted?: Uint8Array[]; excluded?: Uint8Array[] },
    critical = true,
  ): ExtensionSpec {
    const list = (tag: number, names: Uint8Array[] | undefined): Uint8Array[] =>
      names === undefined ? [] : [encodeElement(tag, concatBytes(...names.map((n) => seq(n))))];
    return {
      oid: OID.nameConstraints,
      critical,
      value: seq(...list(0xa0, subtrees.permitted), ...list(0xa1, subtrees.excluded)),
    };
  },
  /** A Fulcio extension: raw for `.1`–`.6`, DER UTF8String for `.8`+. */
  fulcio(n: number, value: string): ExtensionSpec {
    return {
      oid: `1.3.6.1.4.1.57264.1.${n}`,
      value: n <= 6 ? utf8(value) : utf8String(value),
    };
  },
};

/** What to build. */
export interface CertSpec {
  subject: ReadonlyArray<readonly [string, string]>;
  /** The issuer's subject; defaults to `subject` (self-issued). */
  issuer?: ReadonlyArray<readonly [string, string]>;
  notBefore: Date;
  notAfter: Date;
  /** The certified public key. */
  publicKey: KeyObject;
  /** The issuer's private key. */
  signingKey: KeyObject;
  serial?: number;
  extensions?: ExtensionSpec[];
  /** Signature hash for ECDSA/RSA keys (default sha256). */
  hash?: "sha256" | "sha384";
}

const SIG_OIDS: Record<string, Record<string, string>> = {
  ec: { sha256: "1.2.840.10045.4.3.2", sha384: "1.2.840.10045.4.3.3" },
  rsa: { sha256: "1.2.840.113549.1.1.11", sha384: "1.2.840.113549.1.1.12" },
};

function algorithmIdentifier(key: KeyObject, hash: string): Uint8Array {
  const type = key.asymmetricKeyType!;
  if (type === "ed25519") return seq(oid("1.3.101.112"));
  if (type === "rsa") return seq(oid(SIG_OIDS.rsa![hash]!), encodeElement(0x05, new Uint8Array()));
  return seq(oid(SIG_OIDS[type]![hash]!));
}

/** The TBSCertificate bytes of `spec`. */
export function buildTbs(spec: CertSpec): Uint8Array {
  const hash = spec.hash ?? "sha256";
  const exts = spec.extensions ?? [];
  const spki = new Uint8Array(spec.publicKey.export({ type: "spki", format: "der" }));
  return seq(
    encodeElement(0xa0, integer(2)),
    integer(spec.serial ?? 1),
    algorithmIdentifier(spec.signingKey, hash),
    name(spec.issuer ?? spec.subject),
    seq(time(spec.notBefore), time(spec.notAfter)),
    name(spec.subject),
    spki,
    ...(exts.length === 0 ? [] : [
      encodeElement(
        0xa3,
        seq(
          ...exts.map((e) =>
            seq(
              oid(e.oid),
              ...(e.critical ? [encodeElement(0x01, new Uint8Array([0xff]))] : []),
              octets(e.value),
            )
          ),
        ),
      ),
    ]),
  );
}

/** Signs `tbs` as `spec` says and wraps it into a certificate. */
export function signTbs(tbs: Uint8Array, signingKey: KeyObject, hash = "sha256"): Uint8Array {
  const type = signingKey.asymmetricKeyType;
  const sig = type === "ed25519"
    ? sign(null, tbs, signingKey)
    : type === "ec"
    ? sign(hash, tbs, { key: signingKey, dsaEncoding: "der" })
    : sign(hash, tbs, signingKey);
  return seq(
    tbs,
    algorithmIdentifier(signingKey, hash),
    encodeElement(0x03, concatBytes(new Uint8Array([0]), new Uint8Array(sig))),
  );
}

/** Builds and signs a certificate (DER). */
export function buildCertificate(spec: CertSpec): Uint8Array {
  return signTbs(buildTbs(spec), spec.signingKey, spec.hash ?? "sha256");
}

/** A fresh ECDSA P-256 key pair. */
export function ecKey(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" });
}

/** Wraps certificates (leaf-most first, root last) as a trusted-root certificate authority. */
export function authority(
  chain: readonly Uint8Array[],
  validFor: ValidityPeriod = {},
  uri = "https://fulcio.test",
): CertificateAuthority {
  return {
    subject: {},
    uri,
    certChain: chain.map((der) => ({ der, x509: new X509Certificate(Buffer.from(der)) })),
    validFor,
  };
}

const DAY = 86_400_000;

/** A small test PKI: root → intermediate → code-signing leaf, all valid around `at`. */
export interface TestPki {
  at: Date;
  rootKey: { publicKey: KeyObject; privateKey: KeyObject };
  intermediateKey: { publicKey: KeyObject; privateKey: KeyObject };
  leafKey: { publicKey: KeyObject; privateKey: KeyObject };
  root: Uint8Array;
  intermediate: Uint8Array;
  leaf: Uint8Array;
}

/** Subject of the test root. */
export const ROOT_NAME = [["O", "test"], ["CN", "test-root"]] as const;
/** Subject of the test intermediate. */
export const INTERMEDIATE_NAME = [["O", "test"], ["CN", "test-intermediate"]] as const;
/** The test leaf's SAN URI. */
export const LEAF_URI = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

/** Builds a {@link TestPki}; `overrides` replace parts of each certificate's spec. */
export function testPki(
  overrides: {
    root?: Partial<CertSpec>;
    intermediate?: Partial<CertSpec>;
    leaf?: Partial<CertSpec>;
  } = {},
): TestPki {
  const at = new Date("2030-06-01T12:00:00Z");
  const rootKey = ecKey(), intermediateKey = ecKey(), leafKey = ecKey();
  const root = buildCertificate({
    subject: ROOT_NAME,
    notBefore: new Date(at.getTime() - 365 * DAY),
    notAfter: new Date(at.getTime() + 365 * DAY),
    publicKey: rootKey.publicKey,
    signingKey: rootKey.privateKey,
    extensions: [ext.basicConstraints(true, 1), ext.keyUsage("keyCertSign", "cRLSign")],
    ...overrides.root,
  });
  const intermediate = buildCertificate({
    subject: INTERMEDIATE_NAME,
    issuer: ROOT_NAME,
    notBefore: new Date(at.getTime() - 30 * DAY),
    notAfter: new Date(at.getTime() + 30 * DAY),
    publicKey: intermediateKey.publicKey,
    signingKey: rootKey.privateKey,
    serial: 2,
    extensions: [
      ext.basicConstraints(true, 0),
      ext.keyUsage("keyCertSign", "cRLSign"),
      ext.extKeyUsage(OID.codeSigning),
    ],
    ...overrides.intermediate,
  });
  const leaf = buildCertificate({
    subject: [],
    issuer: INTERMEDIATE_NAME,
    notBefore: new Date(at.getTime() - 5 * 60_000),
    notAfter: new Date(at.getTime() + 5 * 60_000),
    publicKey: leafKey.publicKey,
    signingKey: intermediateKey.privateKey,
    serial: 3,
    extensions: [
      ext.keyUsage("digitalSignature"),
      ext.extKeyUsage(OID.codeSigning),
      ext.subjectAltName(ext.uri(LEAF_URI)),
      ext.fulcio(1, "https://token.actions.githubusercontent.com"),
      ext.fulcio(8, "https://token.actions.githubusercontent.com"),
    ],
    ...overrides.leaf,
  });
  return { at, rootKey, intermediateKey, leafKey, root, intermediate, leaf };
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** The conformance folder. */
export const CONFORMANCE = FIXTURES + "conformance/";

/** Reads a JSON file under the conformance folder. */
export function conformanceJson(path: string): Any {
  return JSON.parse(Deno.readTextFileSync(CONFORMANCE + path));
}

/** The DER certificates of a conformance case's bundle (leaf first). */
export function bundleCertificates(caseName: string): Uint8Array[] {
  const vm = conformanceJson(`public/${caseName}/bundle.sigstore.json`).verificationMaterial;
  const raw: string[] = vm.certificate
    ? [vm.certificate.rawBytes]
    : (vm.x509CertificateChain?.certificates ?? []).map((c: Any) => c.rawBytes);
  return raw.map((b) => Uint8Array.fromBase64(b));
}

/** The parsed leaf of a conformance case's bundle. */
export function bundleLeaf(caseName: string): Certificate {
  const [der] = bundleCertificates(caseName);
  if (!der) throw new Error(`${caseName} has no certificate`);
  return parseCertificate(der, `${caseName} leaf`);
}

/** The default identity of the conformance cases. */
export const CONFORMANCE_IDENTITY =
  "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
/** The default issuer of the conformance cases. */
export const CONFORMANCE_ISSUER = "https://token.actions.githubusercontent.com";

/** Certificates made to exhaust a path search (see {@link crossSignedWeb}). */
export interface CrossSignedWeb {
  /** A code-signing leaf issued by "A". */
  leaf: Uint8Array;
  /** The intermediates: half named "A" issued by "B", half named "B" issued by "A". */
  intermediates: Uint8Array[];
  /** The leaf's private key. */
  leafKey: KeyObject;
}

/** Subject of the "A" side of a cross-signed web. */
export const WEB_A = [["O", "web"], ["CN", "A"]] as const;
/** Subject of the "B" side of a cross-signed web. */
export const WEB_B = [["O", "web"], ["CN", "B"]] as const;

/**
 * `n` CA certificates that cross-sign each other (names A↔B, one key per name, so every "B"
 * verifies as the issuer of every "A" and back), and a leaf under "A". None leads to a trust
 * anchor. With `distinctSans` each carries its own subjectAltName, so no two are the same CA to
 * Go's loop check, and the number of paths through them grows exponentially with `n`.
 */
export function crossSignedWeb(at: Date, n: number, distinctSans = true): CrossSignedWeb {
  const a = ecKey(), b = ecKey(), leafKey = ecKey();
  const intermediates: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const isA = i % 2 === 0;
    intermediates.push(buildCertificate({
      subject: isA ? WEB_A : WEB_B,
      issuer: isA ? WEB_B : WEB_A,
      notBefore: new Date(at.getTime() - 30 * DAY),
      notAfter: new Date(at.getTime() + 30 * DAY),
      publicKey: (isA ? a : b).publicKey,
      signingKey: (isA ? b : a).privateKey,
      serial: 100 + i,
      extensions: [
        ext.basicConstraints(true),
        ext.keyUsage("keyCertSign"),
        ...(distinctSans ? [ext.subjectAltName(ext.dns(`ca${i}.web.test`))] : []),
      ],
    }));
  }
  const leaf = buildCertificate({
    subject: [],
    issuer: WEB_A,
    notBefore: new Date(at.getTime() - 5 * 60_000),
    notAfter: new Date(at.getTime() + 5 * 60_000),
    publicKey: leafKey.publicKey,
    signingKey: a.privateKey,
    serial: 99,
    extensions: [
      ext.keyUsage("digitalSignature"),
      ext.extKeyUsage(OID.codeSigning),
      ext.subjectAltName(ext.uri(LEAF_URI)),
    ],
  });
  return { leaf, intermediates, leafKey: leafKey.privateKey };
}
