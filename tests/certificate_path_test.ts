/**
 * Certificate path rules end to end (issue 19, items 6 and 8), offline with network access
 * denied: a keyless Sigstore bundle whose chain holds 40 intermediates that cross-sign each
 * other (names A↔B) is refused by `verify-blob` with one line naming the search limit, while
 * the honest chain with the same web beside it verifies; a trusted intermediate's name
 * constraints (here not critical, once ignored) refuse a leaf outside them.
 */
import { createHash, type KeyObject, sign } from "node:crypto";
import { assert, assertEquals, assertFails, cosignOffline, tempDir } from "./helpers.ts";
import { toBase64 } from "../lib/crypto/encoding.ts";
import { OID } from "../lib/x509/certificate.ts";
import { crossSignedWeb, ext, LEAF_URI, testPki } from "../lib/x509/_test_certs.ts";

const DAY = 86_400_000;
const ISSUER = "https://token.actions.githubusercontent.com";
const ARTIFACT = new TextEncoder().encode("hello\n");

/** Validity around the current time (without a log entry the certificate is checked now). */
function around(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - days * DAY), notAfter: new Date(now + days * DAY) };
}

/** A folder with the artifact, a trusted root of `chain` (root last), and a bundle writer. */
async function workspace(chain: Uint8Array[]) {
  const d = await tempDir();
  await Deno.writeFile(`${d.path}/artifact`, ARTIFACT);
  await Deno.writeTextFile(
    `${d.path}/trusted_root.json`,
    JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
      tlogs: [],
      certificateAuthorities: [{
        subject: { organization: "test", commonName: "test-root" },
        uri: "https://fulcio.test",
        certChain: { certificates: chain.map((der) => ({ rawBytes: toBase64(der) })) },
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
            digest: toBase64(new Uint8Array(createHash("sha256").update(ARTIFACT).digest())),
          },
          signature: toBase64(new Uint8Array(sign("sha256", ARTIFACT, key))),
        },
      }),
    );
    return `${d.path}/${name}`;
  };
  const verify = (bundle: string, identity = LEAF_URI) =>
    cosignOffline([
      "verify-blob",
      "--bundle",
      bundle,
      "--trusted-root",
      `${d.path}/trusted_root.json`,
      "--certificate-identity",
      identity,
      "--certificate-oidc-issuer",
      ISSUER,
      "--insecure-ignore-tlog",
      "--insecure-ignore-sct",
      `${d.path}/artifact`,
    ]);
  return { dir: d, writeBundle, verify };
}

Deno.test("verify-blob --bundle: 40 cross-signed intermediates are refused at the path-search limit; the honest chain verifies", async () => {
  const pki = testPki({ root: around(365), intermediate: around(30), leaf: around(1) });
  const web = crossSignedWeb(new Date(), 40);
  const { dir, writeBundle, verify } = await workspace([pki.root]);
  await using _ = dir;
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

Deno.test("verify-blob --bundle: a trusted intermediate's non-critical name constraints refuse a leaf outside them", async () => {
  const leafFor = (email: string) => ({
    ...around(1),
    extensions: [
      ext.keyUsage("digitalSignature"),
      ext.extKeyUsage(OID.codeSigning),
      ext.subjectAltName(ext.email(email)),
      ext.fulcio(1, ISSUER),
      ext.fulcio(8, ISSUER),
    ],
  });
  const intermediate = {
    ...around(30),
    extensions: [
      ext.basicConstraints(true, 0),
      ext.keyUsage("keyCertSign"),
      ext.nameConstraints({ permitted: [ext.email("acme.com")] }, false),
    ],
  };
  for (const [email, allowed] of [["alice@acme.com", true], ["mallory@evil.com", false]] as const) {
    const pki = testPki({ root: around(365), intermediate, leaf: leafFor(email) });
    const { dir, writeBundle, verify } = await workspace([pki.intermediate, pki.root]);
    await using _ = dir;
    const r = await verify(await writeBundle("b.json", [pki.leaf], pki.leafKey.privateKey), email);
    if (allowed) {
      assertEquals(r.code, 0, r.stderr);
      assert(r.stderr.includes("Verified OK"), r.stderr);
    } else {
      assertFails(
        r,
        1,
        /^Error: Untrusted signing certificate \(mallory@evil\.com\): the name constraints of the intermediate certificate "O=test, CN=test-intermediate" refuse it: email address "mallory@evil\.com" is not permitted by any constraint$/,
      );
    }
  }
});
