import { createHash, type KeyObject, sign } from "node:crypto";
import { assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { encodePem } from "../crypto/pem.ts";
import { toBase64 } from "../crypto/encoding.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { authority, crossSignedWeb, LEAF_URI, type TestPki, testPki } from "../x509/_test_certs.ts";
import { CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION } from "./attachments.ts";
import { layerAsBundle } from "./layer_bundle.ts";
import { parseBundle } from "./bundle.ts";
import { verifyBundle } from "./verify_bundle.ts";
import { parseBundleCertificates, verifySigningCertificate } from "./bundle_certificate.ts";

const POLICY = {
  identity: { identity: LEAF_URI, issuer: "https://token.actions.githubusercontent.com" },
  ignoreSct: true,
};

/** A trusted root whose only Fulcio CA is the test PKI's root alone (intermediates come along). */
function rootOnly(pki: TestPki): TrustedRoot {
  return {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [],
    ctlogs: [],
    certificateAuthorities: [authority([pki.root])],
    timestampAuthorities: [],
  };
}

/** The keyless path of a `.sig` layer: its certificate and `chain` annotations, as a bundle. */
function checkLayer(leaf: Uint8Array, chain: Uint8Array[], root: TrustedRoot, at: Date) {
  const bundle = layerAsBundle({
    descriptor: {
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      size: 2,
      digest: "",
    },
    annotations: {
      [SIGNATURE_ANNOTATION]: toBase64(new Uint8Array(64).fill(1)),
      [CERTIFICATE_ANNOTATION]: encodePem("CERTIFICATE", leaf),
      [CHAIN_ANNOTATION]: chain.map((der) => encodePem("CERTIFICATE", der)).join(""),
    },
    payload: new TextEncoder().encode("{}"),
  });
  const material = bundle.verificationMaterial;
  if (material.type !== "certificate") throw new Error("expected certificate material");
  const certs = parseBundleCertificates(material.certificates);
  return verifySigningCertificate(certs, root, [at], POLICY);
}

Deno.test("bundle certificate: cross-signed intermediates in a layer's chain annotation are refused at the search limit", () => {
  const pki = testPki();
  const web = crossSignedWeb(pki.at, 40);
  assertThrowsCode(
    () => checkLayer(web.leaf, web.intermediates, rootOnly(pki), pki.at),
    "CERTIFICATE_UNTRUSTED",
    /^Untrusted signing certificate: certificate path building stopped at its limit of 100 candidate issuer certificates without reaching a trusted certificate authority \(40 intermediate certificate\(s\) supplied\)$/,
  );
  // The honest intermediate in the same annotation, beside the web, still leads to the root.
  const check = checkLayer(
    pki.leaf,
    [...web.intermediates, pki.intermediate],
    rootOnly(pki),
    pki.at,
  );
  assertEquals(check.subject, LEAF_URI);
  assertEquals(check.authorityUri, "https://fulcio.test");
});

Deno.test("bundle certificate: a Sigstore bundle whose chain holds 40 cross-signed intermediates is refused at the search limit", async () => {
  const pki = testPki();
  const web = crossSignedWeb(pki.at, 40);
  const artifact = new TextEncoder().encode("hello\n");
  const bundleOf = (certs: Uint8Array[], key: KeyObject) =>
    parseBundle(JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.2",
      verificationMaterial: {
        x509CertificateChain: {
          certificates: certs.map((der) => ({ rawBytes: toBase64(der) })),
        },
        tlogEntries: [],
      },
      messageSignature: {
        messageDigest: {
          algorithm: "SHA2_256",
          digest: toBase64(new Uint8Array(createHash("sha256").update(artifact).digest())),
        },
        signature: toBase64(new Uint8Array(sign("sha256", artifact, key))),
      },
    }));
  const bundle = bundleOf([web.leaf, ...web.intermediates], web.leafKey);
  const verify = (material: typeof bundle) =>
    verifyBundle(material, { bytes: artifact }, rootOnly(pki), { certificate: POLICY }, {
      ignoreTlog: true,
      now: pki.at,
    });
  const err = await verify(bundle).then(() => undefined, (e) => e);
  if (!(err instanceof CosignError)) throw new Error(`expected a CosignError, got ${err}`);
  assertEquals(err.code, "CERTIFICATE_UNTRUSTED");
  assertEquals(
    err.message,
    "Untrusted signing certificate: certificate path building stopped at its limit of 100 " +
      "candidate issuer certificates without reaching a trusted certificate authority " +
      "(40 intermediate certificate(s) supplied)",
  );
  assertEquals(err.exitCode, 1);
  // The honest leaf, its intermediate and the same web in one chain: verified.
  const honest = await verify(
    bundleOf([pki.leaf, ...web.intermediates, pki.intermediate], pki.leafKey.privateKey),
  );
  assertEquals(honest.certificate?.subject, LEAF_URI);
});
