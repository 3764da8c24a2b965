/**
 * A keyless bundle's certificate is checked at every verified signing time: the integrated time
 * of each log entry and each RFC 3161 timestamp. A certificate valid at one of them and expired
 * at another fails, whatever the order of the times.
 */
import { assert, assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { authority, LEAF_URI, testPki } from "../x509/_test_certs.ts";
import {
  type CertificatePolicy,
  parseBundleCertificates,
  verifySigningCertificate,
} from "./bundle_certificate.ts";

const MINUTE = 60_000;
const POLICY: CertificatePolicy = {
  identity: { identity: LEAF_URI, issuer: "https://token.actions.githubusercontent.com" },
  ignoreSct: true,
};

function setup() {
  const pki = testPki();
  const root: TrustedRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [],
    ctlogs: [],
    certificateAuthorities: [authority([pki.intermediate, pki.root])],
    timestampAuthorities: [],
  };
  const certs = parseBundleCertificates([pki.leaf]);
  // The leaf is valid for five minutes either side of `at`.
  const inside = pki.at;
  const alsoInside = new Date(pki.at.getTime() + 4 * MINUTE);
  const after = new Date(pki.at.getTime() + 10 * MINUTE);
  const before = new Date(pki.at.getTime() - 10 * MINUTE);
  return { root, certs, inside, alsoInside, after, before };
}

function expiredError(fn: () => unknown): CosignError {
  try {
    fn();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    return e;
  }
  throw new Error("expected the certificate to be refused");
}

Deno.test("bundle_certificate: valid at every signing time verifies, and reports every time", () => {
  const { root, certs, inside, alsoInside } = setup();
  const check = verifySigningCertificate(certs, root, [inside, alsoInside], POLICY);
  assertEquals(check.subject, LEAF_URI);
  assertEquals(check.verifiedAt.map((t) => t.toISOString()), [
    inside.toISOString(),
    alsoInside.toISOString(),
  ]);
});

Deno.test("bundle_certificate: valid at the first signing time, expired at a later one, fails", () => {
  const { root, certs, inside, after } = setup();
  const e = expiredError(() => verifySigningCertificate(certs, root, [inside, after], POLICY));
  assertEquals(e.code, "CERTIFICATE_EXPIRED", e.message);
});

Deno.test("bundle_certificate: expired at the first signing time, valid at a later one, fails", () => {
  const { root, certs, inside, after } = setup();
  const e = expiredError(() => verifySigningCertificate(certs, root, [after, inside], POLICY));
  assertEquals(e.code, "CERTIFICATE_EXPIRED", e.message);
});

Deno.test("bundle_certificate: not yet valid at one of three signing times fails", () => {
  const { root, certs, inside, alsoInside, before } = setup();
  const e = expiredError(() =>
    verifySigningCertificate(certs, root, [inside, before, alsoInside], POLICY)
  );
  assertEquals(e.code, "CERTIFICATE_EXPIRED", e.message);
});

Deno.test("bundle_certificate: no signing time at all is refused, never checked at now", () => {
  const { root, certs } = setup();
  const e = expiredError(() => verifySigningCertificate(certs, root, [], POLICY));
  assertEquals(e.code, "TIMESTAMP_MISSING", e.message);
});
