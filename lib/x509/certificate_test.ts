import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { Buffer } from "node:buffer";
import { assert, assertEquals, KEYS, sh, tempDir } from "../../tests/helpers.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { certificateSpki } from "../crypto/der.ts";
import { encodePem } from "../crypto/pem.ts";
import { toHex, utf8 } from "../crypto/encoding.ts";
import { encodeElement } from "./_der.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { isSignedBy, OID, parseCertificate, parseCertificatePem } from "./certificate.ts";
import {
  buildCertificate,
  buildTbs,
  bundleCertificates,
  bundleLeaf,
  CONFORMANCE,
  CONFORMANCE_IDENTITY,
  ecKey,
  ext,
  oid,
  seq,
  signTbs,
  testPki,
} from "./_test_certs.ts";
import { derEncode, type DerNode, derTree } from "../../tests/harness/differential.ts";

const production = parseTrustedRoot(
  Deno.readTextFileSync(CONFORMANCE + "trusted_root.production.json"),
);
// The 2022 Fulcio authority: [intermediate, root].
const fulcio = production.certificateAuthorities[1]!;
const intermediate = parseCertificate(fulcio.certChain[0]!.der);
const root = parseCertificate(fulcio.certChain[1]!.der);

Deno.test("certificate: a real Fulcio leaf parses into the fields keyless verification reads", () => {
  const der = bundleCertificates("happy-path-v0.3")[0]!;
  const leaf = parseCertificate(der);
  const node = new X509Certificate(Buffer.from(der));
  assertEquals(leaf.subject, "");
  assertEquals(leaf.issuer, "O=sigstore.dev, CN=sigstore-intermediate");
  assertEquals(leaf.notBefore.toISOString(), "2024-03-19T17:26:26.000Z");
  assertEquals(leaf.notAfter.toISOString(), "2024-03-19T17:36:26.000Z");
  assertEquals(leaf.serialHex, node.serialNumber.toLowerCase());
  assertEquals(leaf.signatureAlgorithm, "1.2.840.10045.4.3.3");
  assertEquals(leaf.subjectAlternativeNames, [{ type: "uri", value: CONFORMANCE_IDENTITY }]);
  assertEquals(leaf.extKeyUsage, [OID.codeSigning]);
  assertEquals(leaf.keyUsage, ["digitalSignature"]);
  assertEquals(leaf.isCa, undefined);
  assertEquals(leaf.pathLength, undefined);
  assertEquals(toHex(leaf.subjectKeyId!), "16fd520b388428ddab472ae37959456d22e0d7f4");
  assertEquals(toHex(leaf.authorityKeyId!), "dfd3e9cf56241196f9a8d8e92855a2c62e18643f");
  assertEquals(toHex(leaf.spki), toHex(certificateSpki(der)!));
  assertEquals(leaf.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assertEquals(leaf.selfSigned, false);
  const san = leaf.extensions.find((e) => e.oid === OID.subjectAltName);
  assert(san?.critical === true, "Fulcio marks the SAN critical, and it is accepted");
  assert(leaf.extensions.some((e) => e.oid === OID.sctList), "the SCT list extension is kept");
  assertEquals(
    toHex(leaf.tbs),
    toHex(der.subarray(4, 4 + leaf.tbs.length)),
    "tbs is the first element",
  );
});

Deno.test("certificate: production Fulcio root and intermediate, and who signed whom", () => {
  assertEquals(root.subject, "O=sigstore.dev, CN=sigstore");
  assertEquals(root.selfSigned, true);
  assertEquals(root.isCa, true);
  assertEquals(root.keyUsage, ["keyCertSign", "cRLSign"]);
  assertEquals(intermediate.isCa, true);
  assertEquals(intermediate.pathLength, 0);
  assertEquals(intermediate.selfSigned, false);
  const leaf = bundleLeaf("happy-path-v0.3");
  assert(isSignedBy(leaf, intermediate), "the intermediate signed the leaf");
  assert(isSignedBy(intermediate, root), "the root signed the intermediate");
  assert(!isSignedBy(leaf, root), "the root did not sign the leaf (name differs)");
  // The staging intermediate has the same name but a different key.
  const staging = parseTrustedRoot(
    Deno.readTextFileSync(
      CONFORMANCE + "public/rekor2-timestamp-without-embedded-cert/trusted_root.json",
    ),
  );
  const stagingIntermediate = parseCertificate(
    staging.certificateAuthorities[0]!.certChain[0]!.der,
  );
  assertEquals(stagingIntermediate.subject, intermediate.subject);
  assert(!isSignedBy(leaf, stagingIntermediate), "same name, other key: not the issuer");
});

Deno.test("certificate: tampered, truncated and padded certificates", () => {
  const der = bundleCertificates("happy-path-v0.3")[0]!;
  const tampered = der.slice();
  const at = new TextDecoder("latin1").decode(der).indexOf("extremely-dangerous");
  tampered[at] = "X".charCodeAt(0);
  const t = parseCertificate(tampered);
  assert(t.subjectAlternativeNames[0]!.value.includes("Xxtremely"), "the tampered SAN is read");
  assert(!isSignedBy(t, intermediate), "a tampered TBS does not verify");

  assertThrowsCode(
    () => parseCertificate(new Uint8Array([...der, 0]), "signing certificate"),
    "CERTIFICATE_INVALID",
    /^Invalid signing certificate: .*1 trailing bytes/,
  );
  assertThrowsCode(
    () => parseCertificate(der.subarray(0, der.length - 1)),
    "CERTIFICATE_INVALID",
    /not valid DER/,
  );
  assertThrowsCode(() => parseCertificate(new Uint8Array()), "CERTIFICATE_INVALID");
  assertThrowsCode(
    () => parseCertificate(new TextEncoder().encode("not a certificate")),
    "CERTIFICATE_INVALID",
  );
  // An extra field after the signature.
  const inner = der.subarray(4);
  const extra = seq(inner, new Uint8Array([0x05, 0x00]));
  assertThrowsCode(() => parseCertificate(extra), "CERTIFICATE_INVALID", /not \{ tbsCertificate/);
});

Deno.test("certificate: unknown critical extensions are refused, other oddities too", () => {
  const key = ecKey();
  const base = {
    subject: [["CN", "x"]] as const,
    notBefore: new Date("2030-01-01T00:00:00Z"),
    notAfter: new Date("2030-01-02T00:00:00Z"),
    publicKey: key.publicKey,
    signingKey: key.privateKey,
  };
  const unknown = { oid: "1.2.3.4", value: new Uint8Array([5, 0]) };
  const ok = parseCertificate(buildCertificate({ ...base, extensions: [unknown] }));
  assertEquals(ok.extensions.map((e) => [e.oid, e.critical]), [["1.2.3.4", false]]);
  assertEquals(ok.selfSigned, true);
  assertThrowsCode(
    () =>
      parseCertificate(buildCertificate({ ...base, extensions: [{ ...unknown, critical: true }] })),
    "CERTIFICATE_INVALID",
    /unsupported critical extension 1\.2\.3\.4/,
  );
  assertThrowsCode(
    () => parseCertificate(buildCertificate({ ...base, extensions: [unknown, unknown] })),
    "CERTIFICATE_INVALID",
    /appears twice/,
  );
  // Inner and outer signature algorithms differ: sign with SHA-384, label the outside SHA-256.
  const tbs = buildTbs({ ...base, hash: "sha384" });
  const mixed = signTbs(tbs, key.privateKey, "sha256");
  assertThrowsCode(() => parseCertificate(mixed), "CERTIFICATE_INVALID", /algorithms differ/);
  // A malformed basicConstraints.
  assertThrowsCode(
    () =>
      parseCertificate(
        buildCertificate({
          ...base,
          extensions: [{ oid: OID.basicConstraints, value: new Uint8Array([0x30, 0x03, 1, 1, 1]) }],
        }),
      ),
    "CERTIFICATE_INVALID",
    /basicConstraints/,
  );
});

Deno.test("certificate: DER details found by the differential test (tests/differential_x509_test.ts)", () => {
  const key = ecKey();
  const base = {
    subject: [["CN", "x"]] as const,
    notBefore: new Date("2030-01-01T00:00:00Z"),
    notAfter: new Date("2030-01-02T00:00:00Z"),
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    extensions: [ext.keyUsage("digitalSignature"), ext.basicConstraints(false)],
  };
  const resigned = (edit: (tbs: DerNode) => void) => {
    const tbs = derTree(buildTbs(base));
    edit(tbs);
    return signTbs(derEncode(tbs), key.privateKey);
  };
  assertEquals(parseCertificate(resigned(() => {})).keyUsage, ["digitalSignature"]);
  // keyUsage 03 02 07 FE: seven unused bits that are not zero. Reading them granted every
  // usage up to cRLSign; DER requires them to be zero and Go's crypto/x509 refuses the keyUsage.
  const padded = { oid: OID.keyUsage, critical: true, value: new Uint8Array([3, 2, 7, 0xfe]) };
  assertThrowsCode(
    () => parseCertificate(buildCertificate({ ...base, extensions: [padded] })),
    "CERTIFICATE_INVALID",
    /keyUsage has unused bits that are not zero/,
  );
  const emptyPadded = { ...padded, value: new Uint8Array([3, 1, 1]) };
  assertThrowsCode(
    () => parseCertificate(buildCertificate({ ...base, extensions: [emptyPadded] })),
    "CERTIFICATE_INVALID",
    /keyUsage has unused bits/,
  );
  // The serial number is a DER INTEGER: not empty (it read as "00"), not padded.
  assertThrowsCode(
    () => parseCertificate(resigned((t) => t.children![1]!.content = new Uint8Array())),
    "CERTIFICATE_INVALID",
    /serial number is empty/,
  );
  assertThrowsCode(
    () => parseCertificate(resigned((t) => t.children![1]!.content = new Uint8Array([0, 1]))),
    "CERTIFICATE_INVALID",
    /serial number is not minimally encoded/,
  );
  assertEquals(
    parseCertificate(resigned((t) => t.children![1]!.content = new Uint8Array([0, 0x80])))
      .serialHex,
    "80",
  );
  // The extensions [3] retagged as a constructed [1]: not an issuerUniqueID (a primitive BIT
  // STRING in DER), so not skipped as one, which dropped every extension.
  assertThrowsCode(
    () => parseCertificate(resigned((t) => t.children![7]!.tag = 0xa1)),
    "CERTIFICATE_INVALID",
    /unexpected trailing fields/,
  );
  // Name strings are checked as Go's crypto/x509 checks them.
  const subject = (tag: number, text: string) => (t: DerNode) =>
    t.children![5] = derTree(
      seq(encodeElement(0x31, seq(oid("2.5.4.3"), encodeElement(tag, utf8(text))))),
    );
  assertEquals(parseCertificate(resigned(subject(0x12, "12 34"))).subject, "CN=12 34");
  assertEquals(parseCertificate(resigned(subject(0x13, "A-Z (*.x) &'+,/:=?"))).subject.length, 21);
  assertThrowsCode(
    () => parseCertificate(resigned(subject(0x12, "sigstore"))),
    "CERTIFICATE_INVALID",
    /subject 2\.5\.4\.3 is not a valid NumericString/,
  );
  assertThrowsCode(
    () => parseCertificate(resigned(subject(0x13, "a@b"))),
    "CERTIFICATE_INVALID",
    /is not a valid PrintableString/,
  );
});

Deno.test("certificate: key algorithm parameters are checked as Go checks them", () => {
  const rsa = createPrivateKey(Deno.readTextFileSync(KEYS + "validrsa.pem"));
  const ed = createPrivateKey(Deno.readTextFileSync(KEYS + "ed25519key.pem"));
  const build = (key: KeyObject, edit: (algorithm: DerNode) => void) => {
    const tbs = derTree(buildTbs({
      subject: [["CN", "x"]],
      notBefore: new Date("2030-01-01T00:00:00Z"),
      notAfter: new Date("2030-01-02T00:00:00Z"),
      publicKey: createPublicKey(key),
      signingKey: ed,
    }));
    edit(tbs.children![6]!.children![0]!);
    return signTbs(derEncode(tbs), ed);
  };
  assertEquals(parseCertificate(build(rsa, () => {})).publicKey.asymmetricKeyType, "rsa");
  assertEquals(parseCertificate(build(ed, () => {})).publicKey.asymmetricKeyType, "ed25519");
  // node:crypto ignores these parameters; RFC 3279 wants NULL for RSA, RFC 8410 none for Ed25519.
  const notNull = [
    (a: DerNode) => a.children![1]!.content = new Uint8Array([0x39]),
    (a: DerNode) => a.children!.pop(),
    (a: DerNode) => a.children![1]!.tag = 0x17,
  ];
  for (const edit of notNull) {
    assertThrowsCode(
      () => parseCertificate(build(rsa, edit)),
      "CERTIFICATE_INVALID",
      /the RSA public key's algorithm parameters are not NULL/,
    );
  }
  assertThrowsCode(
    () =>
      parseCertificate(build(ed, (a) => a.children!.push({ tag: 5, content: new Uint8Array() }))),
    "CERTIFICATE_INVALID",
    /the Ed25519 public key has algorithm parameters/,
  );
});

Deno.test("certificate: SAN forms, Fulcio otherName, times on both sides of 2050", () => {
  const key = ecKey();
  const cert = parseCertificate(buildCertificate({
    subject: [["O", "acme"], ["CN", "signer"]],
    issuer: [["CN", "ca"]],
    notBefore: new Date("1999-12-31T23:59:59Z"),
    notAfter: new Date("2051-01-01T00:00:00Z"),
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    extensions: [
      ext.subjectAltName(
        ext.email("me@example.com"),
        ext.dns("example.com"),
        ext.ip([192, 0, 2, 1]),
        ext.ip([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ext.otherName("1.3.6.1.4.1.57264.1.7", "alice!example.org"),
        ext.otherName("1.2.3.4", "ignored"),
        ext.uri("https://example.com/x"),
      ),
    ],
  }));
  assertEquals(cert.subjectAlternativeNames, [
    { type: "email", value: "me@example.com" },
    { type: "dns", value: "example.com" },
    { type: "ip", value: "192.0.2.1" },
    { type: "ip", value: "2001:db8::1" },
    { type: "otherName", value: "alice!example.org" },
    { type: "uri", value: "https://example.com/x" },
  ]);
  assertEquals(cert.subject, "O=acme, CN=signer");
  assertEquals(cert.issuer, "CN=ca");
  assertEquals(cert.notBefore.toISOString(), "1999-12-31T23:59:59.000Z");
  assertEquals(cert.notAfter.toISOString(), "2051-01-01T00:00:00.000Z");
  assertEquals(cert.selfSigned, false, "subject differs from issuer");
});

Deno.test("certificate: PEM bundles", () => {
  const text = encodePem("CERTIFICATE", fulcio.certChain[0]!.der) +
    "comment between blocks\n" + encodePem("CERTIFICATE", fulcio.certChain[1]!.der);
  const certs = parseCertificatePem(text, "chain.pem");
  assertEquals(certs.map((c) => c.subject), [intermediate.subject, root.subject]);
  assertThrowsCode(() => parseCertificatePem("", "chain.pem"), "CERTIFICATE_INVALID", /chain\.pem/);
  assertThrowsCode(
    () => parseCertificatePem(encodePem("PUBLIC KEY", root.spki), "chain.pem"),
    "CERTIFICATE_INVALID",
    /expected a PEM "CERTIFICATE" block, found "PUBLIC KEY"/,
  );
  assertThrowsCode(
    () => parseCertificatePem(encodePem("CERTIFICATE", new Uint8Array([0x30, 0x00])), "c.pem"),
    "CERTIFICATE_INVALID",
    /Invalid c\.pem/,
  );
});

Deno.test("certificate: openssl-made RSA, RSA-PSS and Ed25519 certificates", async () => {
  await using dir = await tempDir();
  const p = (f: string) => `${dir.path}/${f}`;
  const run = async (...args: string[]) => {
    const r = await sh("openssl", args, { cwd: dir.path });
    assert(r.code === 0, `openssl ${args.join(" ")}: ${r.err}`);
  };
  // RSA CA, then a leaf signed with RSA-PSS; an Ed25519 self-signed certificate.
  await run(
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
    "-out",
    p("ca.key"),
  );
  await run(
    "req",
    "-x509",
    "-new",
    "-key",
    p("ca.key"),
    "-subj",
    "/O=acme/CN=rsa-ca",
    "-days",
    "2",
    "-sha256",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-out",
    p("ca.pem"),
  ); // deno-fmt-ignore
  await run("genpkey", "-algorithm", "ED25519", "-out", p("leaf.key"));
  await run("req", "-new", "-key", p("leaf.key"), "-subj", "/CN=leaf", "-out", p("leaf.csr"));
  await Deno.writeTextFile(
    p("leaf.ext"),
    "subjectAltName=critical,email:a@example.com,DNS:example.com,IP:10.0.0.1,URI:https://e.x/\n" +
      "extendedKeyUsage=codeSigning\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    p("leaf.csr"),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-set_serial",
    "4660",
    "-days",
    "1",
    "-sha384",
    "-sigopt",
    "rsa_padding_mode:pss",
    "-sigopt",
    "rsa_pss_saltlen:32",
    "-extfile",
    p("leaf.ext"),
    "-out",
    p("leaf.pem"),
  ); // deno-fmt-ignore
  await run(
    "req", "-x509", "-new", "-key", p("leaf.key"), "-subj", "/CN=ed", "-days", "1",
    "-out", p("ed.pem"),
  ); // deno-fmt-ignore
  const [ca] = parseCertificatePem(await Deno.readTextFile(p("ca.pem")));
  const [leaf] = parseCertificatePem(await Deno.readTextFile(p("leaf.pem")));
  const [ed] = parseCertificatePem(await Deno.readTextFile(p("ed.pem")));
  assert(ca && leaf && ed, "three certificates");
  assertEquals(ca.selfSigned, true, "RSA PKCS#1 v1.5 self-signature");
  assertEquals(ca.isCa, true);
  assertEquals(leaf.signatureAlgorithm, "1.2.840.113549.1.1.10");
  assert(isSignedBy(leaf, ca), "RSA-PSS signature verifies");
  assertEquals(leaf.serialHex, "1234");
  assertEquals(leaf.publicKey.asymmetricKeyType, "ed25519");
  assertEquals(leaf.subjectAlternativeNames, [
    { type: "email", value: "a@example.com" },
    { type: "dns", value: "example.com" },
    { type: "ip", value: "10.0.0.1" },
    { type: "uri", value: "https://e.x/" },
  ]);
  assertEquals(ed.selfSigned, true, "Ed25519 self-signature");
  const forged = parseCertificate(
    (() => {
      const d = leaf.der.slice();
      d[d.length - 1]! ^= 1;
      return d;
    })(),
  );
  assert(!isSignedBy(forged, ca), "a flipped RSA-PSS signature bit fails");
  assert(!isSignedBy(leaf, ed), "wrong issuer");
});

Deno.test("certificate: a CA-built test chain links up", () => {
  const pki = testPki();
  const [r, i, l] = [pki.root, pki.intermediate, pki.leaf].map((d) => parseCertificate(d));
  assert(r!.selfSigned && isSignedBy(i!, r!) && isSignedBy(l!, i!), "chain signatures verify");
  assert(!isSignedBy(l!, r!), "leaf is not signed by the root");
});
