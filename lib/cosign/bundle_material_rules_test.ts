/**
 * Issue 14, "v0.3 bundles carry a single certificate or a public key": a v0.3 bundle holding
 * `x509CertificateChain` is malformed. sigstore-go refuses it ("verification material cannot be
 * X.509 certificate chain (for bundle v0.3)"); sigstore-java accepts it and uses the leaf. We
 * follow sigstore-go (see `parseMaterial` in bundle.ts).
 */
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { parseBundle } from "./bundle.ts";
import { verifyBundle } from "./verify_bundle.ts";

const CONF = `${FIXTURES}conformance/`;
const POLICY = {
  identity: {
    identity:
      "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
    issuer: "https://token.actions.githubusercontent.com",
  },
};

/** happy-path-v0.3 with its `certificate` moved into a one-certificate `x509CertificateChain`. */
function asChain(mediaType: string) {
  const json = JSON.parse(
    Deno.readTextFileSync(`${CONF}public/happy-path-v0.3/bundle.sigstore.json`),
  );
  const vm = json.verificationMaterial;
  vm.x509CertificateChain = { certificates: [vm.certificate] };
  delete vm.certificate;
  json.mediaType = mediaType;
  return json;
}

for (
  const mediaType of [
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
  ]
) {
  Deno.test(`material rules: a v0.3 bundle holding x509CertificateChain is refused (${mediaType})`, () => {
    let error: unknown;
    try {
      parseBundle(asChain(mediaType));
    } catch (e) {
      error = e;
    }
    assert(error instanceof CosignError, `refused: ${error}`);
    assertEquals(error.code, "BUNDLE_INVALID", error.message);
    assert(
      /v0\.3 bundle cannot hold verificationMaterial\.x509CertificateChain/.test(error.message),
      error.message,
    );
  });
}

Deno.test("material rules: the same chain in a v0.2 bundle verifies (the rule is v0.3's)", async () => {
  const bundle = parseBundle(asChain("application/vnd.dev.sigstore.bundle+json;version=0.2"));
  const root = parseTrustedRoot(await Deno.readFile(`${CONF}trusted_root.production.json`));
  const r = await verifyBundle(
    bundle,
    { bytes: await Deno.readFile(`${CONF}public/a.txt`) },
    root,
    { certificate: POLICY },
  );
  assertEquals(r.certificate?.subject, POLICY.identity.identity);
});
