/**
 * Certificate path building under hostile bundles (issue 19, item 6), end to end: a keyless
 * Sigstore bundle whose chain holds 40 intermediates that cross-sign each other (names A↔B) is
 * refused by `verify-blob` with one line naming the search limit, while the honest chain from
 * the same test PKI, with the same web beside it, verifies. Offline: network access is denied.
 */
import { createHash, type KeyObject, sign } from "node:crypto";
import { assert, assertEquals, assertFails, cosignOffline, tempDir } from "./helpers.ts";
import { toBase64 } from "../lib/crypto/encoding.ts";
import { crossSignedWeb, LEAF_URI, testPki } from "../lib/x509/_test_certs.ts";

const DAY = 86_400_000;

Deno.test("verify-blob --bundle: 40 cross-signed intermediates are refused at the path-search limit; the honest chain verifies", async () => {
  // Valid now: without a log entry or timestamp the certificate is checked at the current time.
  const now = Date.now();
  const around = (days: number) => ({
    notBefore: new Date(now - days * DAY),
    notAfter: new Date(now + days * DAY),
  });
  const pki = testPki({ root: around(365), intermediate: around(30), leaf: around(1) });
  const web = crossSignedWeb(new Date(now), 40);
  await using d = await tempDir();
  const artifact = new TextEncoder().encode("hello\n");
  await Deno.writeFile(`${d.path}/artifact`, artifact);
  await Deno.writeTextFile(
    `${d.path}/trusted_root.json`,
    JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
      tlogs: [],
      certificateAuthorities: [{
        subject: { organization: "test", commonName: "test-root" },
        uri: "https://fulcio.test",
        certChain: { certificates: [{ rawBytes: toBase64(pki.root) }] },
        validFor: { start: "2020-01-01T00:00:00Z" },
      }],
      ctlogs: [],
      timestampAuthorities: [],
    }),
  );
  const writeBundle = async (name: string, certs: Uint8Array[], key: KeyObject) => {
    await Deno.writeTextFile(
      `${d.path}/${name}`,
      JSON.stringify({
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
      }),
    );
    return `${d.path}/${name}`;
  };
  const verify = (bundle: string) =>
    cosignOffline([
      "verify-blob",
      "--bundle",
      bundle,
      "--trusted-root",
      `${d.path}/trusted_root.json`,
      "--certificate-identity",
      LEAF_URI,
      "--certificate-oidc-issuer",
      "https://token.actions.githubusercontent.com",
      "--insecure-ignore-tlog",
      "--insecure-ignore-sct",
      `${d.path}/artifact`,
    ]);

  const hostile = await verify(
    await writeBundle("hostile.json", [web.leaf, ...web.intermediates], web.leafKey),
  );
  assertFails(
    hostile,
    1,
    /^Error: Untrusted signing certificate: certificate path building stopped at its limit of 100 candidate issuer certificates without reaching a trusted certificate authority \(40 intermediate certificate\(s\) supplied\)$/,
  );
  assert(!hostile.stderr.includes("Verified OK"), hostile.stderr);

  const honest = await verify(
    await writeBundle(
      "honest.json",
      [pki.leaf, ...web.intermediates, pki.intermediate],
      pki.leafKey.privateKey,
    ),
  );
  assertEquals(honest.code, 0, honest.stderr);
  assert(honest.stderr.includes("Verified OK"), honest.stderr);
});
