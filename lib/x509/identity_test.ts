import { assert, assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { utf8 } from "../crypto/encoding.ts";
import { OID, parseCertificate } from "./certificate.ts";
import {
  checkIdentityPolicy,
  compileGoRegexp,
  fulcioExtensions,
  verifyIdentity,
} from "./identity.ts";
import {
  bundleLeaf,
  CONFORMANCE_IDENTITY,
  CONFORMANCE_ISSUER,
  ext,
  LEAF_URI,
  testPki,
} from "./_test_certs.ts";

const GOOGLE = "https://accounts.google.com";
const SA = "untrusted-sa@sigstore-conformance.iam.gserviceaccount.com";

Deno.test("identity: Fulcio extensions of a real GitHub Actions certificate", () => {
  const e = fulcioExtensions(bundleLeaf("happy-path-v0.3"));
  assertEquals(e.issuer, CONFORMANCE_ISSUER);
  assertEquals(e.issuerV1, CONFORMANCE_ISSUER);
  assertEquals(e.issuerV2, CONFORMANCE_ISSUER);
  assertEquals(e.githubWorkflowTrigger, "workflow_dispatch");
  assertEquals(e.githubWorkflowSha, "c7b3dfb335f051e1c86bda4c716fac97df62ad81");
  assertEquals(e.githubWorkflowName, "Extremely dangerous OIDC beacon");
  assertEquals(
    e.githubWorkflowRepository,
    "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
  );
  assertEquals(e.githubWorkflowRef, "refs/heads/main");
  assertEquals(e.buildSignerUri, CONFORMANCE_IDENTITY);
  assertEquals(e.buildSignerDigest, "c7b3dfb335f051e1c86bda4c716fac97df62ad81");
  assertEquals(e.runnerEnvironment, "github-hosted");
  assertEquals(
    e.sourceRepositoryUri,
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon",
  );
  assertEquals(e.sourceRepositoryRef, "refs/heads/main");
  assertEquals(e.sourceRepositoryIdentifier, "632596897");
  assertEquals(e.sourceRepositoryOwnerUri, "https://github.com/sigstore-conformance");
  assertEquals(e.sourceRepositoryOwnerIdentifier, "131804563");
  assertEquals(e.buildConfigUri, CONFORMANCE_IDENTITY);
  assertEquals(e.buildTrigger, "workflow_dispatch");
  assertEquals(
    e.runInvocationUri,
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/actions/runs/8347481628/attempts/1",
  );
  assertEquals(e.sourceRepositoryVisibilityAtSigning, "public");
  assertEquals(e.deploymentEnvironment, undefined);
});

Deno.test("identity: the conformance default identity and issuer match exactly", () => {
  for (const name of ["happy-path-v0.3", "happy-path-v0.1"]) {
    assertEquals(
      verifyIdentity(bundleLeaf(name), {
        identity: CONFORMANCE_IDENTITY,
        issuer: CONFORMANCE_ISSUER,
        githubWorkflowTrigger: "workflow_dispatch",
        githubWorkflowRepository: "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
        githubWorkflowRef: "refs/heads/main",
      }),
      { subject: CONFORMANCE_IDENTITY, issuer: CONFORMANCE_ISSUER },
    );
  }
});

Deno.test("identity: mismatches say what was expected and what the certificate holds", () => {
  const leaf = bundleLeaf("happy-path-v0.3");
  assertThrowsCode(
    () => verifyIdentity(leaf, { identity: "https://github.com/x", issuer: CONFORMANCE_ISSUER }),
    "CERTIFICATE_IDENTITY_MISMATCH",
    new RegExp(
      "^none of the expected identities matched what was in the certificate, got subjects \\[" +
        "https://github\\.com/sigstore-conformance/.*@refs/heads/main\\] with issuer " +
        'https://token\\.actions\\.githubusercontent\\.com \\(expected identity "https://github\\.com/x", ' +
        'issuer "https://token\\.actions\\.githubusercontent\\.com"\\)$',
    ),
  );
  assertThrowsCode(
    () => verifyIdentity(leaf, { identity: CONFORMANCE_IDENTITY, issuer: GOOGLE }),
    "CERTIFICATE_IDENTITY_MISMATCH",
    /expected identity .*, issuer "https:\/\/accounts\.google\.com"/,
  );
  // Exact means exact: a prefix or a different case does not match.
  assertThrowsCode(
    () =>
      verifyIdentity(leaf, {
        identity: CONFORMANCE_IDENTITY.replace("@refs/heads/main", ""),
        issuer: CONFORMANCE_ISSUER,
      }),
    "CERTIFICATE_IDENTITY_MISMATCH",
  );
  assertThrowsCode(
    () =>
      verifyIdentity(leaf, { identity: CONFORMANCE_IDENTITY, issuer: CONFORMANCE_ISSUER + "/" }),
    "CERTIFICATE_IDENTITY_MISMATCH",
  );
  assertThrowsCode(
    () =>
      verifyIdentity(leaf, {
        identity: CONFORMANCE_IDENTITY,
        issuer: CONFORMANCE_ISSUER,
        githubWorkflowTrigger: "push",
      }),
    "CERTIFICATE_IDENTITY_MISMATCH",
    /expected GitHub Workflow Trigger not found in certificate: expected "push", found "workflow_dispatch"/,
  );
  assertThrowsCode(
    () =>
      verifyIdentity(leaf, {
        identity: CONFORMANCE_IDENTITY,
        issuer: CONFORMANCE_ISSUER,
        githubWorkflowSha: "0000",
      }),
    "CERTIFICATE_IDENTITY_MISMATCH",
    /GitHub Workflow SHA/,
  );
});

Deno.test("identity: regular expressions are unanchored, like Go's MatchString", () => {
  const leaf = bundleLeaf("happy-path-v0.3");
  const ok = (identityRegexp: string, issuerRegexp = "githubusercontent") =>
    verifyIdentity(leaf, { identityRegexp, issuerRegexp });
  assertEquals(ok("extremely-dangerous").subject, CONFORMANCE_IDENTITY);
  ok("^https://github\\.com/sigstore-conformance/.*@refs/heads/main$");
  ok("(?i)EXTREMELY-DANGEROUS");
  ok("(?P<org>sigstore-conformance)");
  ok("\\Ahttps://github\\.com/.*main\\z");
  assertThrowsCode(
    () => ok("^extremely-dangerous"),
    "CERTIFICATE_IDENTITY_MISMATCH",
    /expected identity matching "\^extremely-dangerous", issuer matching "githubusercontent"/,
  );
  assertThrowsCode(() => ok(".*", "^https://accounts"), "CERTIFICATE_IDENTITY_MISMATCH");
  // A regexp takes precedence over the exact value, as in cosign.
  verifyIdentity(leaf, {
    identity: "something else",
    identityRegexp: "sigstore-conformance",
    issuer: "wrong",
    issuerRegexp: "^https://token\\.actions\\.githubusercontent\\.com$",
  });
  assertThrowsCode(
    () => ok("(unclosed"),
    "USAGE",
    /^Invalid --certificate-identity-regexp "\(unclosed": missing closing \)$/,
  );
});

Deno.test("identity: an email SAN with a Google issuer (integrated-time-in-future_fail)", () => {
  const leaf = bundleLeaf("integrated-time-in-future_fail");
  assertEquals(leaf.subjectAlternativeNames, [{ type: "email", value: SA }]);
  assertEquals(verifyIdentity(leaf, { identity: SA, issuer: GOOGLE }), {
    subject: SA,
    issuer: GOOGLE,
  });
  verifyIdentity(leaf, {
    identityRegexp: "@sigstore-conformance\\.iam\\.gserviceaccount\\.com$",
    issuer: GOOGLE,
  });
  assertThrowsCode(
    () => verifyIdentity(leaf, { identity: CONFORMANCE_IDENTITY, issuer: CONFORMANCE_ISSUER }),
    "CERTIFICATE_IDENTITY_MISMATCH",
    new RegExp(
      `got subjects \\[${SA.replaceAll(".", "\\.")}\\] with issuer https://accounts\\.google\\.com`,
    ),
  );
  assertEquals(fulcioExtensions(leaf).githubWorkflowTrigger, undefined);
  assertThrowsCode(
    () =>
      verifyIdentity(leaf, { identity: SA, issuer: GOOGLE, githubWorkflowRef: "refs/heads/main" }),
    "CERTIFICATE_IDENTITY_MISMATCH",
    /found no such extension/,
  );
});

Deno.test("identity: issuer V2 wins over V1; otherName SANs match; malformed values fail", () => {
  const pki = testPki({
    leaf: {
      extensions: [
        ext.extKeyUsage(OID.codeSigning),
        ext.subjectAltName(ext.otherName("1.3.6.1.4.1.57264.1.7", "alice!example.org")),
        ext.fulcio(1, "https://old.example"),
        ext.fulcio(8, "https://new.example"),
        ext.fulcio(24, "repo:acme/app:ref:refs/heads/main"),
      ],
    },
  });
  const leaf = parseCertificate(pki.leaf);
  const e = fulcioExtensions(leaf);
  assertEquals([e.issuer, e.issuerV1, e.issuerV2], [
    "https://new.example",
    "https://old.example",
    "https://new.example",
  ]);
  assertEquals(e.subject, "repo:acme/app:ref:refs/heads/main");
  verifyIdentity(leaf, { identity: "alice!example.org", issuer: "https://new.example" });
  assertThrowsCode(
    () => verifyIdentity(leaf, { identity: "alice!example.org", issuer: "https://old.example" }),
    "CERTIFICATE_IDENTITY_MISMATCH",
  );
  // Only .1 present: it is the issuer.
  const v1Only = parseCertificate(
    testPki({
      leaf: {
        extensions: [ext.extKeyUsage(OID.codeSigning), ext.fulcio(1, "https://old.example")],
      },
    }).leaf,
  );
  assertEquals(fulcioExtensions(v1Only).issuer, "https://old.example");
  assertThrowsCode(
    () => verifyIdentity(v1Only, { identityRegexp: ".*", issuer: "https://old.example" }),
    "CERTIFICATE_IDENTITY_MISMATCH",
    /got subjects \[\] with issuer https:\/\/old\.example/,
    "no SAN: nothing to match",
  );
  // .8 must be a DER string.
  const bad = parseCertificate(
    testPki({
      leaf: {
        extensions: [{ oid: "1.3.6.1.4.1.57264.1.8", value: utf8("https://raw.example") }],
      },
    }).leaf,
  );
  assertThrowsCode(
    () => fulcioExtensions(bad),
    "CERTIFICATE_INVALID",
    /1\.3\.6\.1\.4\.1\.57264\.1\.8 \(Issuer \(V2\)\) is not a DER string/,
  );
  // The built test leaf from _test_certs carries both issuers.
  assertEquals(
    verifyIdentity(parseCertificate(testPki().leaf), {
      identity: LEAF_URI,
      issuer: CONFORMANCE_ISSUER,
    }),
    { subject: LEAF_URI, issuer: CONFORMANCE_ISSUER },
  );
});

Deno.test("identity: the keyless policy needs an identity and an issuer (cosign's wording)", () => {
  const err = assertThrowsCode(
    () => checkIdentityPolicy({ issuer: GOOGLE }),
    "USAGE",
    /^--certificate-identity or --certificate-identity-regexp is required for verification in keyless mode$/,
  );
  assertEquals(err.exitCode, 2);
  assertThrowsCode(
    () => checkIdentityPolicy({ identityRegexp: ".*" }),
    "USAGE",
    /^--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required/,
  );
  assertThrowsCode(
    () => checkIdentityPolicy({ identity: "", issuer: "" }),
    "USAGE",
    /--certificate-identity/,
  );
  assertThrowsCode(
    () => checkIdentityPolicy({ identity: SA, issuerRegexp: "[" }),
    "USAGE",
    /^Invalid --certificate-oidc-issuer-regexp "\[": missing closing \] in \[$/,
  );
  checkIdentityPolicy({ identity: SA, issuer: GOOGLE });
  checkIdentityPolicy({ identityRegexp: "^.*$", issuerRegexp: "(?i)google" });
});

Deno.test("identity: regexps have Go's RE2 meaning (issue 19: \\z inside an alternation)", () => {
  const leafFor = (email: string) =>
    parseCertificate(
      testPki({
        leaf: {
          extensions: [
            ext.keyUsage("digitalSignature"),
            ext.subjectAltName(ext.email(email)),
            ext.fulcio(8, GOOGLE),
          ],
        },
      }).leaf,
    );
  const policy = {
    identityRegexp: "^alice@acme\\.com\\z|^bob@acme\\.com\\z",
    issuerRegexp: "\\Ahttps://accounts\\.google\\.com\\z",
  };
  // Before: \z there was the letter z, so this forged identity passed.
  assertThrowsCode(
    () => verifyIdentity(leafFor("alice@acme.comzebra.net"), policy),
    "CERTIFICATE_IDENTITY_MISMATCH",
    /got subjects \[alice@acme\.comzebra\.net\]/,
  );
  assertEquals(verifyIdentity(leafFor("bob@acme.com"), policy), {
    subject: "bob@acme.com",
    issuer: GOOGLE,
  });
  assertEquals(
    verifyIdentity(leafFor("Bob@Acme.com"), { ...policy, identityRegexp: "(?i)^bob@acme\\.com$" })
      .subject,
    "Bob@Acme.com",
  );
  assertThrowsCode(
    () =>
      verifyIdentity(leafFor("bob@acme.com"), { ...policy, identityRegexp: "^bob@acme\\.com\\Z" }),
    "USAGE",
    /^Invalid --certificate-identity-regexp "\^bob@acme\\\.com\\Z": \\Z is not RE2 syntax/,
  );
});

Deno.test("identity: Go regexp translation", () => {
  assert(compileGoRegexp("(?i)ABC", "--x").test("xabcx"), "(?i)");
  assert(compileGoRegexp("(?s)a.b", "--x").test("a\nb"), "(?s)");
  assert(!compileGoRegexp("a.b", "--x").test("a\nb"), "no (?s)");
  assert(compileGoRegexp("\\-", "--x").test("-"), "escaped punctuation");
  assert(compileGoRegexp("(?U)a+", "--x").test("aa"), "(?U)");
  assertThrowsCode(
    () => compileGoRegexp("(?=a)", "--x"),
    "USAGE",
    /^Invalid --x "\(\?=a\)": lookahead \(\?= is not RE2 syntax$/,
  );
  assertThrowsCode(
    () => checkIdentityPolicy({ identityRegexp: "(a)\\1", issuer: GOOGLE }),
    "USAGE",
    /^Invalid --certificate-identity-regexp "\(a\)\\1": backreference \\1 is not RE2 syntax$/,
  );
});
