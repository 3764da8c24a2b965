/**
 * A certificate is issued by a CA only when its issuer name is the CA's subject name, byte for
 * byte, and the CA's key verifies its signature: a signature by the right key under another
 * issuer name does not make it the CA's.
 */
import { assert } from "../../tests/helpers.ts";
import { isSignedBy, parseCertificate } from "./certificate.ts";
import { buildCertificate, ext, testPki } from "./_test_certs.ts";

Deno.test("certificate rules: the issuer name must be the CA's subject, not just its key", () => {
  const pki = testPki();
  const intermediate = parseCertificate(pki.intermediate);
  const spec = {
    subject: [["CN", "leaf"]] as const,
    notBefore: pki.at,
    notAfter: new Date(pki.at.getTime() + 600_000),
    publicKey: pki.leafKey.publicKey,
    // signed with the intermediate's key in both cases
    signingKey: pki.intermediateKey.privateKey,
    serial: 11,
    extensions: [ext.keyUsage("digitalSignature")],
  };
  const named = parseCertificate(
    buildCertificate({ ...spec, issuer: [["O", "test"], ["CN", "test-intermediate"]] }),
  );
  const misnamed = parseCertificate(
    buildCertificate({ ...spec, issuer: [["O", "test"], ["CN", "someone-else"]] }),
  );
  assert(isSignedBy(named, intermediate), "issued by the intermediate");
  assert(!isSignedBy(misnamed, intermediate), "another issuer name: not the intermediate's");
});
