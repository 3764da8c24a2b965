/**
 * Keyless image verification: a signature layer carrying a mock-Fulcio certificate (attached with
 * `cosign attach signature --certificate`) is verified with `cosign verify
 * --certificate-identity ... --certificate-oidc-issuer ... --trusted-root`: chain, SCT, identity,
 * cosign's exit codes (12 when no signature matches, 13 when no signature has a certificate) and
 * the certificate claims in the JSON output.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { certificatePem, createKeylessTrust } from "./harness/fulcio.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

const ID = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER = "https://token.actions.githubusercontent.com";

Deno.test("keyless: verify checks the certificate of each image signature", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await pushImage(reg, "app/keyless:v1");
  const ref = `${reg.host}/app/keyless:v1`;
  const env = { HOME: p, COSIGN_PASSWORD: "pw" };
  const trust = await createKeylessTrust();
  await Deno.writeTextFile(`${p}/root.json`, JSON.stringify(trust.trustedRoot()));

  const verify = (extra: string[]) =>
    cosign(
      ["verify", "--trusted-root", `${p}/root.json`, "--insecure-ignore-tlog", ...extra, ref],
      { env },
    );
  const identity = ["--certificate-identity", ID, "--certificate-oidc-issuer", ISSUER];

  // A key-signed image has no certificate: cosign's exit code 13.
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  const signed = await cosign(["sign", "--key", `${p}/k.key`, "--tlog-upload=false", ref], {
    env,
  });
  assertEquals(signed.code, 0, signed.stderr);
  assertFails(await verify(identity), 13, /no certificate/);

  // Attach a keyless signature over the image's simple-signing payload.
  const gen = await cosign(["generate", ref], { env });
  assertEquals(gen.code, 0, gen.stderr);
  const payload = new TextEncoder().encode(new TextDecoder().decode(gen.stdout).trimEnd());
  await Deno.writeFile(`${p}/payload.json`, payload);
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const cert = await trust.issue(keys.publicKey, { san: ID, issuer: ISSUER });
  await Deno.writeTextFile(`${p}/cert.pem`, certificatePem(cert));
  await Deno.writeTextFile(`${p}/chain.pem`, certificatePem(trust.rootDer));
  const sig = new Uint8Array(sign("sha256", payload, keys.privateKey)).toBase64();
  const att = await cosign([
    "attach",
    "signature",
    "--payload",
    `${p}/payload.json`,
    "--signature",
    sig,
    "--certificate",
    `${p}/cert.pem`,
    "--certificate-chain",
    `${p}/chain.pem`,
    ref,
  ], { env });
  assertEquals(att.code, 0, att.stderr);

  const ok = await verify(identity);
  assertEquals(ok.code, 0, ok.stderr);
  assert(
    ok.stderr.includes(
      "The code-signing certificate was verified using trusted certificate authority certificates",
    ),
    ok.stderr,
  );
  const stdout = new TextDecoder().decode(ok.stdout);
  const out = JSON.parse(stdout);
  assertEquals(out.length, 1, stdout);
  assertEquals(out[0].optional.Subject, ID);
  assertEquals(out[0].optional.Issuer, ISSUER);
  assertEquals(out[0].optional["1.3.6.1.4.1.57264.1.1"], ISSUER);

  const text = await verify([...identity, "-o", "text"]);
  assertEquals(text.code, 0, text.stderr);
  assert(text.stderr.includes(`Certificate subject: ${ID}`), text.stderr);
  assert(text.stderr.includes(`Certificate issuer URL: ${ISSUER}`), text.stderr);

  // Another identity: no signature matches (12), and the reason names both identities.
  const wrong = await verify([
    "--certificate-identity",
    "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main",
    "--certificate-oidc-issuer",
    ISSUER,
  ]);
  assertFails(wrong, 12, /acme\/other/);
  assert(wrong.stderr.includes(ID), wrong.stderr);

  // A trusted root with another CA: untrusted.
  const other = await createKeylessTrust();
  await Deno.writeTextFile(`${p}/other.json`, JSON.stringify(other.trustedRoot()));
  const untrusted = await cosign(
    ["verify", "--trusted-root", `${p}/other.json`, "--insecure-ignore-tlog", ...identity, ref],
    { env },
  );
  assertFails(untrusted, 12, /no trusted certificate authority/);

  // Keyless needs the CAs.
  const noRoot = await cosign(["verify", "--insecure-ignore-tlog", ...identity, ref], {
    env: { ...env, SIGSTORE_REKOR_PUBLIC_KEY: "" },
  });
  assertFails(noRoot, 2, /trusted-root/);

  // SIGSTORE_ROOT_FILE in place of --trusted-root: the CA only, so the SCT is skipped on request.
  const viaEnv = await cosign(
    ["verify", "--insecure-ignore-tlog", "--insecure-ignore-sct", ...identity, ref],
    { env: { ...env, SIGSTORE_ROOT_FILE: `${p}/chain.pem` } },
  );
  assertEquals(viaEnv.code, 0, viaEnv.stderr);
});
