import { assert, assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { OID, parseCertificate } from "./certificate.ts";
import {
  checkBundleChain,
  MAX_ISSUER_CANDIDATES,
  MAX_PATH_LENGTH,
  verifyCertificateChain,
} from "./chain.ts";
import {
  authority,
  buildCertificate,
  bundleCertificates,
  bundleLeaf,
  CONFORMANCE,
  crossSignedWeb,
  ecKey,
  ext,
  INTERMEDIATE_NAME,
  testPki,
} from "./_test_certs.ts";

const production = parseTrustedRoot(
  Deno.readTextFileSync(CONFORMANCE + "trusted_root.production.json"),
);
const cas = production.certificateAuthorities;

Deno.test("chain: a real Fulcio leaf chains to the production 2022 authority at signing time", () => {
  for (const name of ["happy-path-v0.3", "happy-path-v0.1", "integrated-time-in-future_fail"]) {
    const leaf = bundleLeaf(name);
    const { authority: ca, path } = verifyCertificateChain(leaf, [], cas, leaf.notBefore);
    assertEquals(ca, cas[1], name);
    assertEquals(path.map((c) => c.subject), [
      "",
      "O=sigstore.dev, CN=sigstore-intermediate",
      "O=sigstore.dev, CN=sigstore",
    ]);
    // The last instant of the leaf's validity is still inside (closed interval).
    verifyCertificateChain(leaf, [], cas, leaf.notAfter);
  }
});

Deno.test("chain: real leaf outside its validity, outside the CA window, or for another EKU", () => {
  const leaf = bundleLeaf("happy-path-v0.3");
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], cas, new Date("2025-01-01T00:00:00Z")),
    "CERTIFICATE_EXPIRED",
    /expired at 2024-03-19T17:36:26Z, signing time 2025-01-01T00:00:00Z/,
  );
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], cas, new Date(leaf.notAfter.getTime() + 1000)),
    "CERTIFICATE_EXPIRED",
  );
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], cas, new Date(leaf.notBefore.getTime() - 1000)),
    "CERTIFICATE_EXPIRED",
    /not yet valid: valid from 2024-03-19T17:26:26Z/,
  );
  // The authority that issued it does not start until 2022-04-13.
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], cas, new Date("2022-01-01T00:00:00Z")),
    "CERTIFICATE_UNTRUSTED",
    /outside the validity window of its certificate authority https:\/\/fulcio\.sigstore\.dev/,
  );
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], cas, leaf.notBefore, { extKeyUsage: OID.timeStamping }),
    "CERTIFICATE_UNTRUSTED",
    /does not include time stamping/,
  );
  // Only the 2021 authority: it did not issue this leaf.
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], [cas[0]!], leaf.notBefore),
    "CERTIFICATE_UNTRUSTED",
  );
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], [], leaf.notBefore),
    "CERTIFICATE_UNTRUSTED",
    /no certificate authorities/,
  );
});

Deno.test("chain: a leaf from a custom root is not trusted by production, and vice versa", () => {
  const custom = parseTrustedRoot(
    Deno.readTextFileSync(CONFORMANCE + "public/intoto-with-custom-trust-root/trusted_root.json"),
  );
  const leaf = bundleLeaf("intoto-with-custom-trust-root");
  verifyCertificateChain(leaf, [], custom.certificateAuthorities, leaf.notBefore);
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], cas, leaf.notBefore),
    "CERTIFICATE_UNTRUSTED",
    /no trusted certificate authority issued the certificate \(issuer CN=sigstore, O=sigstore\.mock\)/,
  );
  const real = bundleLeaf("happy-path-v0.3");
  assertThrowsCode(
    () => verifyCertificateChain(real, [], custom.certificateAuthorities, real.notBefore),
    "CERTIFICATE_UNTRUSTED",
  );
});

Deno.test("chain: a tampered leaf does not chain", () => {
  const der = bundleCertificates("happy-path-v0.3")[0]!.slice();
  der[der.length - 3]! ^= 0x01; // inside the issuer's signature
  const leaf = parseCertificate(der);
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], cas, leaf.notBefore),
    "CERTIFICATE_UNTRUSTED",
    /no trusted certificate authority issued/,
  );
});

Deno.test("chain: intermediates may come from the bundle, roots only from the trusted root", () => {
  const pki = testPki();
  const [leaf, intermediate] = [pki.leaf, pki.intermediate].map((d) => parseCertificate(d));
  const full = authority([pki.intermediate, pki.root]);
  const rootOnly = authority([pki.root]);
  assertEquals(verifyCertificateChain(leaf!, [], [full], pki.at).path.length, 3);
  assertEquals(verifyCertificateChain(leaf!, [intermediate!], [rootOnly], pki.at).path.length, 3);
  assertThrowsCode(
    () => verifyCertificateChain(leaf!, [], [rootOnly], pki.at),
    "CERTIFICATE_UNTRUSTED",
    /issuer O=test, CN=test-intermediate/,
  );
  // A bundle "intermediate" that is really a self-signed root is no trust anchor.
  const other = testPki();
  const fakeRoot = parseCertificate(other.root);
  assertThrowsCode(
    () => verifyCertificateChain(parseCertificate(other.leaf), [fakeRoot], [full], pki.at),
    "CERTIFICATE_UNTRUSTED",
  );
  // Authorities outside their window are skipped.
  assertThrowsCode(
    () =>
      verifyCertificateChain(leaf!, [], [
        authority([pki.intermediate, pki.root], { end: new Date(pki.at.getTime() - 1) }),
      ], pki.at),
    "CERTIFICATE_UNTRUSTED",
    /outside the validity window/,
  );
  verifyCertificateChain(
    leaf!,
    [],
    [authority([pki.intermediate, pki.root], { end: pki.at })],
    pki.at,
  );
});

Deno.test("chain: CA, key usage, path length and extended key usage rules", () => {
  const cases: Array<[string, Parameters<typeof testPki>[0], RegExp]> = [
    [
      "intermediate is not a CA",
      {
        intermediate: {
          extensions: [ext.basicConstraints(false), ext.extKeyUsage(OID.codeSigning)],
        },
      },
      /intermediate certificate "O=test, CN=test-intermediate", is not a CA/,
    ],
    [
      "intermediate without basicConstraints",
      { intermediate: { extensions: [ext.keyUsage("keyCertSign")] } },
      /is not a CA/,
    ],
    [
      "intermediate may not sign certificates",
      {
        intermediate: {
          extensions: [ext.basicConstraints(true), ext.keyUsage("digitalSignature")],
        },
      },
      /lacks keyCertSign/,
    ],
    [
      "root allows no intermediates",
      { root: { extensions: [ext.basicConstraints(true, 0), ext.keyUsage("keyCertSign")] } },
      /allows 0 intermediate certificate\(s\) below it, the path has 1/,
    ],
    [
      "intermediate restricted to time stamping",
      {
        intermediate: {
          extensions: [ext.basicConstraints(true, 0), ext.extKeyUsage(OID.timeStamping)],
        },
      },
      /restricts extended key usage to \[1\.3\.6\.1\.5\.5\.7\.3\.8\]/,
    ],
    [
      "leaf without code signing",
      { leaf: { extensions: [ext.subjectAltName(ext.email("a@example.com"))] } },
      /extended key usage does not include code signing \(1\.3\.6\.1\.5\.5\.7\.3\.3\) \(it has none\)/,
    ],
    [
      "leaf is a CA",
      { leaf: { extensions: [ext.basicConstraints(true), ext.extKeyUsage(OID.codeSigning)] } },
      /it is a CA certificate, not a leaf/,
    ],
  ];
  for (const [label, overrides, pattern] of cases) {
    const pki = testPki(overrides);
    assertThrowsCode(
      () =>
        verifyCertificateChain(
          parseCertificate(pki.leaf),
          [],
          [
            authority([pki.intermediate, pki.root]),
          ],
          pki.at,
          { what: "signing certificate" },
        ),
      "CERTIFICATE_UNTRUSTED",
      pattern,
      label,
    );
  }
});

Deno.test("chain: every certificate of the path must be valid at the signing time", () => {
  const expiredIntermediate = testPki({
    intermediate: { notAfter: new Date("2030-06-01T11:59:59Z") },
  });
  assertThrowsCode(
    () =>
      verifyCertificateChain(parseCertificate(expiredIntermediate.leaf), [], [
        authority([expiredIntermediate.intermediate, expiredIntermediate.root]),
      ], expiredIntermediate.at),
    "CERTIFICATE_EXPIRED",
    /intermediate certificate "O=test, CN=test-intermediate" expired at 2030-06-01T11:59:59Z, signing time 2030-06-01T12:00:00Z/,
  );
  const futureRoot = testPki({ root: { notBefore: new Date("2030-06-01T12:00:01Z") } });
  assertThrowsCode(
    () =>
      verifyCertificateChain(parseCertificate(futureRoot.leaf), [], [
        authority([futureRoot.intermediate, futureRoot.root]),
      ], futureRoot.at),
    "CERTIFICATE_EXPIRED",
    /root certificate "O=test, CN=test-root" is not yet valid/,
  );
});

Deno.test("chain: a time-stamping leaf with the TSA extended key usage", () => {
  const pki = testPki({
    intermediate: {
      extensions: [ext.basicConstraints(true, 0), ext.keyUsage("keyCertSign")],
    },
    leaf: {
      subject: [["CN", "tsa"]],
      issuer: INTERMEDIATE_NAME,
      extensions: [ext.extKeyUsage(OID.timeStamping)],
    },
  });
  const leaf = parseCertificate(pki.leaf);
  const tsa = [authority([pki.intermediate, pki.root])];
  verifyCertificateChain(leaf, [], tsa, pki.at, { extKeyUsage: OID.timeStamping });
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], tsa, pki.at),
    "CERTIFICATE_UNTRUSTED",
    /does not include code signing/,
  );
});

Deno.test("chain: real TSA chains verify with the time-stamping usage", () => {
  const root = parseTrustedRoot(
    Deno.readTextFileSync(
      CONFORMANCE + "public/rekor2-timestamp-with-expired-cert-chain/trusted_root.json",
    ),
  );
  const tsa = root.timestampAuthorities.find((a) => a.certChain.length === 3)!;
  const leaf = parseCertificate(tsa.certChain[0]!.der);
  const { path } = verifyCertificateChain(leaf, [], [tsa], leaf.notBefore, {
    extKeyUsage: OID.timeStamping,
  });
  assertEquals(path.length, 3);
  assertThrowsCode(
    () => verifyCertificateChain(leaf, [], [tsa], new Date(), { extKeyUsage: OID.timeStamping }),
    "CERTIFICATE_EXPIRED",
  );
});

Deno.test("chain: a bundle chain holding a root certificate is refused", () => {
  const certs = bundleCertificates("bundle-with-root-cert_fail").map((d) => parseCertificate(d));
  assertEquals(certs.map((c) => c.subject), [
    "",
    "O=sigstore.dev, CN=sigstore",
    "O=sigstore.dev, CN=sigstore-intermediate",
  ]);
  const err = assertThrowsCode(
    () => checkBundleChain(certs),
    "CERTIFICATE_INVALID",
    /certificate 2 of 3 \("O=sigstore\.dev, CN=sigstore"\) is self-signed/,
  );
  assert(err.exitCode === 1, "a verification failure");
  checkBundleChain([certs[0]!, certs[2]!]); // leaf and intermediate: fine
  checkBundleChain(bundleCertificates("happy-path-v0.1").map((d) => parseCertificate(d)));
});

Deno.test("chain: cross-signed bundle intermediates (A↔B, n=20 and n=40) are refused at the search limit", () => {
  const pki = testPki();
  const honest = [authority([pki.intermediate, pki.root])];
  for (const n of [20, 40]) {
    for (const distinctSans of [true, false]) {
      const web = crossSignedWeb(pki.at, n, distinctSans);
      const stats = { issuerCandidates: 0 };
      const err = assertThrowsCode(
        () =>
          verifyCertificateChain(
            parseCertificate(web.leaf),
            web.intermediates.map((d) => parseCertificate(d)),
            honest,
            pki.at,
            { what: "signing certificate", stats },
          ),
        "CERTIFICATE_UNTRUSTED",
        new RegExp(
          `^Untrusted signing certificate: certificate path building stopped at its limit of ` +
            `100 candidate issuer certificates without reaching a trusted certificate authority ` +
            `\\(${n} intermediate certificate\\(s\\) supplied\\)$`,
        ),
        `n=${n}`,
      );
      assertEquals(err.exitCode, 1);
      assertEquals(stats.issuerCandidates, MAX_ISSUER_CANDIDATES, `n=${n}`);
    }
  }
});

Deno.test("chain: a small cross-signed web ends without a loop (a CA already on the path is skipped)", () => {
  const pki = testPki();
  // Without distinct SANs, every "A" is the same CA to the loop check: leaf → A (2 candidates),
  // each → B (2 candidates each), and no B may lead back to an A.
  const web = crossSignedWeb(pki.at, 4, false);
  const stats = { issuerCandidates: 0 };
  assertThrowsCode(
    () =>
      verifyCertificateChain(
        parseCertificate(web.leaf),
        web.intermediates.map((d) => parseCertificate(d)),
        [authority([pki.intermediate, pki.root])],
        pki.at,
        { stats },
      ),
    "CERTIFICATE_UNTRUSTED",
    /no trusted certificate authority issued the certificate \(issuer O=web, CN=A\)/,
  );
  assertEquals(stats.issuerCandidates, 2 + 2 * 2);
});

Deno.test("chain: an honest chain still verifies beside a hostile web of intermediates", () => {
  const pki = testPki();
  const web = crossSignedWeb(pki.at, 40);
  const junk = web.intermediates.map((d) => parseCertificate(d));
  const leaf = parseCertificate(pki.leaf);
  const intermediate = parseCertificate(pki.intermediate);
  const stats = { issuerCandidates: 0 };
  // The trusted root holds the intermediate.
  const full = [authority([pki.intermediate, pki.root])];
  assertEquals(verifyCertificateChain(leaf, junk, full, pki.at, { stats }).path.length, 3);
  assertEquals(stats.issuerCandidates, 2);
  // The bundle supplies it among the junk.
  const rootOnly = [authority([pki.root])];
  const { path } = verifyCertificateChain(leaf, [...junk, intermediate], rootOnly, pki.at, {
    stats,
  });
  assertEquals(path.map((c) => c.subject), [
    "",
    "O=test, CN=test-intermediate",
    "O=test, CN=test-root",
  ]);
  assertEquals(stats.issuerCandidates, 2);
});

/** A root, `depth` intermediates in a line below it, and a leaf under the last. */
function linearChain(
  depth: number,
): { at: Date; leaf: Uint8Array; intermediates: Uint8Array[]; root: Uint8Array } {
  const at = new Date("2030-06-01T12:00:00Z");
  const day = 86_400_000;
  const rootKey = ecKey();
  const nameOf = (i: number) => i === 0 ? [["CN", "root"] as const] : [["CN", `ca${i}`] as const];
  const root = buildCertificate({
    subject: nameOf(0),
    notBefore: new Date(at.getTime() - day),
    notAfter: new Date(at.getTime() + day),
    publicKey: rootKey.publicKey,
    signingKey: rootKey.privateKey,
    extensions: [ext.basicConstraints(true), ext.keyUsage("keyCertSign")],
  });
  const intermediates: Uint8Array[] = [];
  let issuerKey = rootKey;
  for (let i = 1; i <= depth; i++) {
    const key = ecKey();
    intermediates.unshift(buildCertificate({
      subject: nameOf(i),
      issuer: nameOf(i - 1),
      notBefore: new Date(at.getTime() - day),
      notAfter: new Date(at.getTime() + day),
      publicKey: key.publicKey,
      signingKey: issuerKey.privateKey,
      serial: i + 1,
      extensions: [ext.basicConstraints(true), ext.keyUsage("keyCertSign")],
    }));
    issuerKey = key;
  }
  const leafKey = ecKey();
  const leaf = buildCertificate({
    subject: [],
    issuer: nameOf(depth),
    notBefore: new Date(at.getTime() - day),
    notAfter: new Date(at.getTime() + day),
    publicKey: leafKey.publicKey,
    signingKey: issuerKey.privateKey,
    serial: 100,
    extensions: [ext.extKeyUsage(OID.codeSigning), ext.subjectAltName(ext.email("a@acme.com"))],
  });
  return { at, leaf, intermediates, root };
}

Deno.test("chain: paths are at most MAX_PATH_LENGTH certificates long", () => {
  const ok = linearChain(MAX_PATH_LENGTH - 2);
  const { path } = verifyCertificateChain(
    parseCertificate(ok.leaf),
    ok.intermediates.map((d) => parseCertificate(d)),
    [authority([ok.root])],
    ok.at,
  );
  assertEquals(path.length, MAX_PATH_LENGTH);
  const tooLong = linearChain(MAX_PATH_LENGTH - 1);
  assertThrowsCode(
    () =>
      verifyCertificateChain(
        parseCertificate(tooLong.leaf),
        tooLong.intermediates.map((d) => parseCertificate(d)),
        [authority([tooLong.root])],
        tooLong.at,
      ),
    "CERTIFICATE_UNTRUSTED",
    /no trusted certificate authority issued/,
  );
});
