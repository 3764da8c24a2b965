/**
 * `--certificate-identity-regexp` and `--certificate-oidc-issuer-regexp` have Go's RE2 meaning
 * end to end (issue 19, item 5): `cosign verify-blob` over a keyless bundle from a mock Fulcio
 * CA and a loopback Rekor, with the network denied, and over cosign's real public-good
 * attestation bundle against the production trusted root.
 */
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { bundleV03Json } from "../lib/cosign/bundle_writer.ts";
import { hashedRekordEntry, RekorClient } from "../lib/tlog/rekor.ts";
import { certificatePem, createKeylessTrust, type KeylessTrust } from "./harness/fulcio.ts";
import { type Rekor, startRekor } from "./harness/rekor.ts";
import { assertEquals, assertFails, cosignOffline, FIXTURES, tempDir } from "./helpers.ts";

const ISSUER = "https://accounts.google.com";
const BLOB = new TextEncoder().encode("released by bob\n");
const SHA = createHash("sha256").update(BLOB).digest();
/** The attack of issue 19: before, `\z` inside the alternation meant the letter z. */
const ALICE_OR_BOB = "^alice@acme\\.com\\z|^bob@acme\\.com\\z";

/** A Sigstore bundle for BLOB, signed by a fresh key certified for `san` and logged. */
async function keylessBundle(trust: KeylessTrust, rekor: Rekor, san: string): Promise<string> {
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const certDer = await trust.issue(keys.publicKey, { san, issuer: ISSUER });
  const signature = new Uint8Array(sign("sha256", BLOB, keys.privateKey));
  const client = new RekorClient(rekor.url);
  try {
    const entry = await client.upload(
      hashedRekordEntry(SHA.toString("hex"), signature, certificatePem(certDer)),
    );
    return bundleV03Json({
      content: {
        type: "messageSignature",
        digest: { algorithm: "sha256", bytes: new Uint8Array(SHA) },
        signature,
      },
      verificationMaterial: { type: "certificate", der: certDer },
      tlogEntry: entry,
      rfc3161Timestamps: [],
    });
  } finally {
    client.close();
  }
}

Deno.test("identity regexps: verify-blob gives the flags Go's RE2 meaning", async (t) => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const trust = await createKeylessTrust();
  await Deno.writeFile(`${p}/blob`, BLOB);
  await Deno.writeTextFile(
    `${p}/root.json`,
    JSON.stringify(trust.trustedRoot({ rekorPublicKeyPem: rekor.publicKeyPem })),
  );
  await Deno.writeTextFile(`${p}/bob.json`, await keylessBundle(trust, rekor, "bob@acme.com"));
  await Deno.writeTextFile(
    `${p}/forged.json`,
    await keylessBundle(trust, rekor, "alice@acme.comzebra.net"),
  );
  const verify = (bundle: string, identityRegexp: string, issuerRegexp = "^https://accounts\\.") =>
    cosignOffline([
      "verify-blob",
      "--bundle",
      `${p}/${bundle}`,
      "--trusted-root",
      `${p}/root.json`,
      "--certificate-identity-regexp",
      identityRegexp,
      "--certificate-oidc-issuer-regexp",
      issuerRegexp,
      `${p}/blob`,
    ]);

  await t.step(
    "\\z inside an alternation is end of text: the honest identity verifies",
    async () => {
      const r = await verify("bob.json", ALICE_OR_BOB);
      assertEquals(r.code, 0, r.stderr);
    },
  );
  await t.step("... and an identity that only shares a prefix is refused", async () => {
    const r = await verify("forged.json", ALICE_OR_BOB);
    assertFails(
      r,
      1,
      /none of the expected identities matched.*alice@acme\.comzebra\.net.*\^alice@acme/,
    );
  });
  await t.step("\\A, flags and \\Q…\\E as Go reads them", async () => {
    const ok = await verify(
      "bob.json",
      "(?i)\\ABOB@\\QACME.COM\\E\\z",
      "\\Ahttps://accounts\\.google\\.com\\z",
    );
    assertEquals(ok.code, 0, ok.stderr);
    const anchored = await verify("bob.json", "x|\\Abob@acme\\.co\\z");
    assertFails(anchored, 1, /none of the expected identities matched/);
  });
  await t.step("what RE2 refuses is a usage error naming the flag and the construct", async () => {
    const z = await verify("bob.json", "^bob@acme\\.com\\Z");
    assertFails(
      z,
      2,
      /Invalid --certificate-identity-regexp "\^bob@acme\\\.com\\Z": \\Z is not RE2 syntax/,
    );
    const lookahead = await verify("bob.json", "^bob", "^(?=https)");
    assertFails(
      lookahead,
      2,
      /Invalid --certificate-oidc-issuer-regexp "\^\(\?=https\)": lookahead \(\?= is not RE2 syntax/,
    );
  });
});

Deno.test("identity regexps: cosign's real public-good bundle, production trusted root", async () => {
  const b = `${FIXTURES}bundles/`;
  const verify = (identityRegexp: string) =>
    cosignOffline([
      "verify-blob-attestation",
      "--bundle",
      `${b}oci-attestation.sigstore.json`,
      "--trusted-root",
      `${b}trusted_root_pgi.json`,
      "--certificate-identity-regexp",
      identityRegexp,
      "--certificate-oidc-issuer-regexp",
      "\\Ahttps://github\\.com/login/oauth\\z",
      `${b}empty-image/manifest.json`,
    ]);
  const ok = await verify("(?i)^CODY@SOYLAND\\.COM\\z");
  assertEquals(ok.code, 0, ok.stderr);
  const wrong = await verify("^cody@soyland\\.co\\z|^alice@");
  assertFails(wrong, 1, /cody@soyland\.com/);
  const backreference = await verify("^(cody)\\1");
  assertFails(backreference, 2, /backreference \\1 is not RE2 syntax/);
});
