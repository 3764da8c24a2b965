import { assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { OID, parseCertificate } from "./certificate.ts";
import { verifyCertificateChain } from "./chain.ts";
import { parseMailbox } from "./name_constraints.ts";
import {
  authority,
  ext,
  type ExtensionSpec,
  INTERMEDIATE_NAME,
  LEAF_URI,
  testPki,
} from "./_test_certs.ts";

const CA_EXTENSIONS = [ext.basicConstraints(true, 0), ext.keyUsage("keyCertSign")];

/**
 * Verifies a leaf with `sans` under a trusted intermediate (or root) carrying `constraints`;
 * returns undefined when it verifies, else the error message after
 * `Untrusted signing certificate (<first SAN>): `.
 */
function verifyUnder(
  constraints: ExtensionSpec,
  sans: Uint8Array[],
  on: "intermediate" | "root" = "intermediate",
): string | undefined {
  const pki = testPki({
    ...(on === "intermediate"
      ? { intermediate: { extensions: [...CA_EXTENSIONS, constraints] } }
      : {
        root: {
          extensions: [ext.basicConstraints(true, 1), ext.keyUsage("keyCertSign"), constraints],
        },
      }),
    leaf: {
      issuer: INTERMEDIATE_NAME,
      extensions: [ext.extKeyUsage(OID.codeSigning), ext.subjectAltName(...sans)],
    },
  });
  try {
    verifyCertificateChain(
      parseCertificate(pki.leaf),
      [],
      [authority([pki.intermediate, pki.root])],
      pki.at,
      { what: "signing certificate" },
    );
    return undefined;
  } catch (e) {
    const err = e as { code?: string; message: string };
    assertEquals(err.code, "CERTIFICATE_UNTRUSTED", err.message);
    const prefix = /^Untrusted signing certificate \([^)]*\): /;
    assertEquals(prefix.test(err.message), true, err.message);
    return err.message.replace(prefix, "");
  }
}

const ACME = { permitted: [ext.email("acme.com")] };

Deno.test("name constraints: a permitted email subtree, critical and not, on a trusted intermediate", () => {
  for (const critical of [true, false]) {
    const nc = ext.nameConstraints(ACME, critical);
    assertEquals(verifyUnder(nc, [ext.email("alice@acme.com")]), undefined, `critical ${critical}`);
    assertEquals(verifyUnder(nc, [ext.email("Alice@ACME.com")]), undefined);
    assertEquals(
      verifyUnder(nc, [ext.email("mallory@evil.com")]),
      "the name constraints of the intermediate certificate " +
        '"O=test, CN=test-intermediate" refuse it: email address "mallory@evil.com" is not ' +
        "permitted by any constraint",
    );
    // A host constraint is that host only (RFC 5280); subdomains need ".acme.com".
    assertEquals(
      verifyUnder(nc, [ext.email("bob@mail.acme.com")]),
      "the name constraints of the intermediate certificate " +
        '"O=test, CN=test-intermediate" refuse it: email address "bob@mail.acme.com" is not ' +
        "permitted by any constraint",
    );
    // Every name must be permitted, not just one.
    assertEquals(
      typeof verifyUnder(nc, [ext.email("alice@acme.com"), ext.email("mallory@evil.com")]),
      "string",
    );
  }
  const subdomains = ext.nameConstraints({ permitted: [ext.email(".acme.com")] });
  assertEquals(verifyUnder(subdomains, [ext.email("bob@mail.acme.com")]), undefined);
  assertEquals(typeof verifyUnder(subdomains, [ext.email("alice@acme.com")]), "string");
  const mailbox = ext.nameConstraints({ permitted: [ext.email("alice@acme.com")] });
  assertEquals(verifyUnder(mailbox, [ext.email("alice@ACME.COM")]), undefined);
  assertEquals(typeof verifyUnder(mailbox, [ext.email("Alice@acme.com")]), "string");
});

Deno.test("name constraints: the root's constraints apply too", () => {
  const nc = ext.nameConstraints(ACME, false);
  assertEquals(verifyUnder(nc, [ext.email("alice@acme.com")], "root"), undefined);
  assertEquals(
    verifyUnder(nc, [ext.email("mallory@evil.com")], "root"),
    "the name constraints of the root certificate " +
      '"O=test, CN=test-root" refuse it: email address "mallory@evil.com" is not permitted by ' +
      "any constraint",
  );
});

Deno.test("name constraints: excluded subtrees", () => {
  for (const critical of [true, false]) {
    const nc = ext.nameConstraints({ excluded: [ext.email("evil.com")] }, critical);
    assertEquals(verifyUnder(nc, [ext.email("alice@acme.com")]), undefined);
    assertEquals(
      verifyUnder(nc, [ext.email("mallory@EVIL.com")]),
      "the name constraints of the intermediate certificate " +
        '"O=test, CN=test-intermediate" refuse it: email address "mallory@EVIL.com" is excluded ' +
        'by constraint "evil.com"',
    );
  }
  // Excluded wins over permitted.
  const both = ext.nameConstraints({
    permitted: [ext.email(".acme.com")],
    excluded: [ext.email(".corp.acme.com")],
  });
  assertEquals(verifyUnder(both, [ext.email("a@eng.acme.com")]), undefined);
  assertEquals(typeof verifyUnder(both, [ext.email("a@x.corp.acme.com")]), "string");
});

Deno.test("name constraints: URI subtrees constrain the URI's host", () => {
  for (const critical of [true, false]) {
    const nc = ext.nameConstraints({ permitted: [ext.uri("github.com")] }, critical);
    assertEquals(verifyUnder(nc, [ext.uri(LEAF_URI)]), undefined);
    assertEquals(verifyUnder(nc, [ext.uri("https://GitHub.com:443/acme/app")]), undefined);
    assertEquals(
      verifyUnder(nc, [ext.uri("https://gitlab.com/acme/app/.gitlab-ci.yml@refs/heads/main")]),
      "the name constraints of the intermediate certificate " +
        '"O=test, CN=test-intermediate" refuse it: URI ' +
        '"https://gitlab.com/acme/app/.gitlab-ci.yml@refs/heads/main" is not permitted by any ' +
        "constraint",
    );
    // The host is what follows the last "@" of the authority, not a look-alike before it.
    assertEquals(
      typeof verifyUnder(nc, [ext.uri("https://github.com@evil.com/acme/app")]),
      "string",
    );
  }
  const excluded = ext.nameConstraints({ excluded: [ext.uri(".evil.com")] });
  assertEquals(verifyUnder(excluded, [ext.uri(LEAF_URI)]), undefined);
  assertEquals(
    verifyUnder(excluded, [ext.uri("https://ci.evil.com/x")]),
    "the name constraints of the intermediate certificate " +
      '"O=test, CN=test-intermediate" refuse it: URI "https://ci.evil.com/x" is excluded by ' +
      'constraint ".evil.com"',
  );
  // As in Go, a URI that cannot be matched (no host, an IP host) is refused under any
  // constraints.
  assertEquals(
    verifyUnder(ext.nameConstraints(ACME), [ext.uri("urn:example:1")])?.endsWith(
      'URI with empty host ("urn:example:1") cannot be matched',
    ),
    true,
  );
  assertEquals(
    verifyUnder(excluded, [ext.uri("https://10.0.0.1/x")])?.endsWith(
      'URI with IP ("https://10.0.0.1/x") cannot be matched against constraints',
    ),
    true,
  );
});

Deno.test("name constraints: DNS and IP subtrees", () => {
  const dns = ext.nameConstraints({ permitted: [ext.dns("example.com")] });
  assertEquals(verifyUnder(dns, [ext.dns("example.com")]), undefined);
  assertEquals(verifyUnder(dns, [ext.dns("a.b.EXAMPLE.com")]), undefined);
  assertEquals(typeof verifyUnder(dns, [ext.dns("badexample.com")]), "string");
  const onlySub = ext.nameConstraints({ permitted: [ext.dns(".example.com")] });
  assertEquals(typeof verifyUnder(onlySub, [ext.dns("example.com")]), "string");
  const wildcard = ext.nameConstraints({ excluded: [ext.dns("secret.example.com")] });
  assertEquals(
    verifyUnder(wildcard, [ext.dns("*.example.com")])?.endsWith(
      'DNS name "*.example.com" is excluded by constraint "secret.example.com"',
    ),
    true,
  );
  const ip = ext.nameConstraints({ permitted: [ext.ipRange([10, 0, 0, 0], [255, 0, 0, 0])] });
  assertEquals(verifyUnder(ip, [ext.ip([10, 1, 2, 3])]), undefined);
  assertEquals(
    verifyUnder(ip, [ext.ip([192, 168, 0, 1])])?.endsWith(
      'IP address "192.168.0.1" is not permitted by any constraint',
    ),
    true,
  );
});

Deno.test("name constraints: other forms, as Go treats them", () => {
  // Fulcio's otherName SAN is no form constraints apply to: an email constraint lets it pass.
  assertEquals(
    verifyUnder(ext.nameConstraints(ACME), [
      ext.otherName(OID.fulcioOtherName, "mallory!evil.com"),
    ]),
    undefined,
  );
  // A directoryName subtree is not enforced: ignored when the extension is not critical...
  const dir = { permitted: [ext.directoryName([["O", "acme"]])] };
  assertEquals(
    verifyUnder(ext.nameConstraints(dir, false), [ext.email("mallory@evil.com")]),
    undefined,
  );
  // ...and the CA is unusable when it is (Go: unhandled critical extension).
  assertEquals(
    verifyUnder(ext.nameConstraints(dir, true), [ext.email("alice@acme.com")]),
    'the intermediate certificate "O=test, CN=test-intermediate"' +
      " has critical name constraints on directoryName names, which cannot be enforced",
  );
});

Deno.test("name constraints: malformed extensions make the certificate invalid", () => {
  const cases: Array<[string, ExtensionSpec, RegExp]> = [
    [
      "'@acme.com' is no mailbox (Go refuses it too)",
      ext.nameConstraints({ permitted: [ext.email("@acme.com")] }),
      /rfc822Name constraint "@acme\.com" is malformed/,
    ],
    [
      "empty",
      ext.nameConstraints({}),
      /nameConstraints has neither permitted nor excluded subtrees/,
    ],
    [
      "an IP URI constraint",
      ext.nameConstraints({ permitted: [ext.uri("10.0.0.1")] }),
      /URI constraint "10\.0\.0\.1" is not a host or domain name/,
    ],
    [
      "a bad IP mask",
      ext.nameConstraints({ permitted: [ext.ipRange([10, 0, 0, 0], [0, 255, 0, 0])] }),
      /iPAddress constraint has a bad mask/,
    ],
    [
      "a trailing period",
      ext.nameConstraints({ excluded: [ext.dns("example.com.")] }),
      /dNSName constraint "example\.com\." is malformed/,
    ],
  ];
  for (const [label, nc, pattern] of cases) {
    const pki = testPki({ intermediate: { extensions: [...CA_EXTENSIONS, nc] } });
    assertThrowsCode(
      () => parseCertificate(pki.intermediate),
      "CERTIFICATE_INVALID",
      pattern,
      label,
    );
    // In a trusted root, such a certificate makes the root invalid.
    assertThrowsCode(
      () =>
        verifyCertificateChain(
          parseCertificate(pki.leaf),
          [],
          [authority([pki.intermediate, pki.root])],
          pki.at,
        ),
      "TRUSTED_ROOT_INVALID",
      pattern,
      label,
    );
  }
});

Deno.test("name constraints: RFC 2821 mailboxes as Go parses them", () => {
  const table: Array<[string, { local: string; domain: string } | undefined]> = [
    ["alice@acme.com", { local: "alice", domain: "acme.com" }],
    ['"a b"@acme.com', { local: "a b", domain: "acme.com" }],
    ['"a\\"b"@acme.com', { local: 'a"b', domain: "acme.com" }],
    ["a\\@b@acme.com", { local: "a@b", domain: "acme.com" }],
    ["first.last@acme.com", { local: "first.last", domain: "acme.com" }],
    ["@acme.com", undefined],
    [".a@acme.com", undefined],
    ["a.@acme.com", undefined],
    ["a..b@acme.com", undefined],
    ["alice", undefined],
    ["alice@", undefined],
    ["alice@acme..com", undefined],
    ["alice@acme.com.", undefined],
    ["a b@acme.com", undefined],
  ];
  for (const [text, want] of table) assertEquals(parseMailbox(text), want, text);
});

Deno.test("name constraints: parsed whether critical or not, with unhandled forms listed", () => {
  const nc = ext.nameConstraints({
    permitted: [ext.email(".acme.com"), ext.otherName(OID.fulcioOtherName, "x")],
    excluded: [ext.ipRange([10, 1, 2, 3], [255, 255, 0, 0]), ext.uri("evil.com")],
  }, false);
  const pki = testPki({ intermediate: { extensions: [...CA_EXTENSIONS, nc] } });
  const parsed = parseCertificate(pki.intermediate).nameConstraints!;
  assertEquals(parsed.critical, false);
  assertEquals(parsed.permitted.map((c) => [c.form, c.value]), [["email", ".acme.com"]]);
  assertEquals(parsed.excluded.map((c) => [c.form, c.value]), [
    ["ip", "10.1.0.0/16"],
    ["uri", "evil.com"],
  ]);
  assertEquals(parsed.unhandledForms, ["otherName"]);
  assertEquals(parseCertificate(pki.leaf).nameConstraints, undefined);
});

Deno.test("name constraints: the comparisons for one path are capped", () => {
  const many = ext.nameConstraints({
    permitted: Array.from({ length: 1000 }, (_, i) => ext.dns(`d${i}.example.com`)),
  });
  const names = (n: number) => Array.from({ length: n }, () => ext.dns("d999.example.com"));
  assertEquals(verifyUnder(many, names(250)), undefined);
  assertEquals(
    verifyUnder(many, names(251)),
    'the name constraints of the intermediate certificate "O=test, CN=test-intermediate" ' +
      "refuse it: checking name constraints needs more than 250000 comparisons",
  );
});
