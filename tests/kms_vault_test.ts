/**
 * `hashivault://` and `openbao://` transit keys end to end (cosign-spec §8) against a loopback
 * transit engine that checks `X-Vault-Token` (tests/harness/fake_vault.ts): generate-key-pair
 * --kms, public-key, sign-blob/verify-blob, attest-blob, image sign/verify in the registry;
 * openssl verifies every signature and openssl's signatures verify through the reference;
 * the digest (prehashed) is sent, never the blob; failures are one line naming the provider,
 * the key and the cause, with nothing written; malformed references fail before any request.
 */
import { startFakeVault } from "./harness/fake_vault.ts";
import { DENO_DIR, exists, opensslSign, opensslVerify } from "./harness/kms_keys.ts";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { createHash } from "node:crypto";

type Env = Record<string, string>;
const TOKEN = "hvs.fake-root-token-for-tests";

function vaultEnv(url: string, home: string, extra: Env = {}): Env {
  return { HOME: home, DENO_DIR, VAULT_ADDR: url, VAULT_TOKEN: TOKEN, ...extra };
}

Deno.test("hashivault: generate-key-pair, public-key, sign-blob, verify-blob, attest-blob; openssl both ways", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using vault = await startFakeVault({ dir: p, token: TOKEN });
  const env = vaultEnv(vault.url, p);
  const ref = "hashivault://release";

  let r = await cosign(["generate-key-pair", "--kms", ref, "--output-key-prefix", `${p}/k`], {
    env,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(vault.calls.map((c) => `${c.method} ${c.path} ${c.status}`), [
    "GET /v1/transit/keys/release 404",
    "POST /v1/transit/keys/release 204",
    "GET /v1/transit/keys/release 200",
  ]);
  assertEquals(vault.calls[1]!.body, { type: "ecdsa-p256" });
  const key = vault.keys.get("release")!.key!;
  assertEquals(await Deno.readTextFile(`${p}/k.pub`), key.publicPem);
  r = await cosign(["public-key", "--key", ref], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.out, key.publicPem);

  const blob = new TextEncoder().encode("signed in vault ".repeat(100));
  await Deno.writeFile(`${p}/blob`, blob);
  vault.calls.length = 0;
  r = await cosign(
    [
      "sign-blob",
      "--key",
      ref,
      "--tlog-upload=false",
      "--output-signature",
      `${p}/sig`,
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(vault.calls.map((c) => `${c.method} ${c.path}`), [
    "GET /v1/transit/keys/release",
    "POST /v1/transit/sign/release/sha2-256",
  ]);
  const sign = vault.calls[1]!.body;
  assertEquals(sign.prehashed, true);
  assertEquals(sign.input, createHash("sha256").update(blob).digest().toString("base64"));
  const sig = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/sig`)).trim());
  assert((await opensslVerify(`${p}/k.pub`, blob, sig, "sha256")).ok, "openssl verifies");

  vault.calls.length = 0;
  r = await cosign(
    ["verify-blob", "--key", ref, "--signature", `${p}/sig`, "--insecure-ignore-tlog", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(vault.calls.map((c) => c.path), ["/v1/transit/keys/release"]);
  await Deno.writeFile(`${p}/ossl.sig`, await opensslSign(key, blob, "sha256"));
  r = await cosign(
    [
      "verify-blob",
      "--key",
      ref,
      "--signature",
      `${p}/ossl.sig`,
      "--insecure-ignore-tlog",
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);

  // attest-blob: the DSSE envelope is signed through Vault and verifies through Vault.
  await Deno.writeTextFile(`${p}/pred.json`, '{"builder":"vault"}');
  r = await cosign([
    "attest-blob",
    "--key",
    ref,
    "--predicate",
    `${p}/pred.json`,
    "--type",
    "custom",
    "--tlog-upload=false",
    "--output-signature",
    `${p}/att.json`,
    `${p}/blob`,
  ], { env });
  assertEquals(r.code, 0, r.stderr);
  r = await cosign([
    "verify-blob-attestation",
    "--key",
    ref,
    "--signature",
    `${p}/att.json`,
    "--type",
    "custom",
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ], { env });
  assertEquals(r.code, 0, r.stderr);
});

Deno.test("openbao: BAO_ADDR/BAO_TOKEN, another mount, P-384 (SHA-384) and RSA keys; image sign/verify", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using vault = await startFakeVault({ dir: p, token: TOKEN, mount: "signing" });
  await using reg = await startRegistry({ mode: "noauth" });
  const img = await pushImage(reg, "kms/vault:v1");
  const env: Env = {
    HOME: p,
    DENO_DIR,
    BAO_ADDR: vault.url,
    BAO_TOKEN: TOKEN,
    TRANSIT_SECRET_ENGINE_PATH: "signing",
  };
  const p384 = (await vault.addKey("p384", "ec-p384")).key!;
  const rsa = (await vault.addKey("rsa", "rsa-2048")).key!;
  const blob = new TextEncoder().encode("bao");
  await Deno.writeFile(`${p}/blob`, blob);
  for (const [name, key, hash] of [["p384", p384, "sha384"], ["rsa", rsa, "sha256"]] as const) {
    vault.calls.length = 0;
    const r = await cosign(
      ["sign-blob", "--key", `openbao://${name}`, "--tlog-upload=false", `${p}/blob`],
      { env },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(vault.calls[1]!.path, `/v1/signing/sign/${name}/sha2-${hash.slice(3)}`);
    const v = await opensslVerify(key.publicPath, blob, Uint8Array.fromBase64(r.out.trim()), hash);
    assert(v.ok, `${name}: ${v.out}`);
  }
  const imageRef = `${reg.host}/kms/vault@${img.digest}`;
  let r = await cosign(
    [
      "sign",
      "--new-bundle-format=false",
      "--key",
      "openbao://p384",
      "--tlog-upload=false",
      imageRef,
    ],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", "openbao://p384", "--insecure-ignore-tlog", imageRef], {
    env,
  });
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", "openbao://rsa", "--insecure-ignore-tlog", imageRef], {
    env,
  });
  assertEquals(r.code, 12, `another key does not verify: ${r.stderr}`);
});

Deno.test("hashivault: failures are one line naming the provider, the key and the cause; nothing is written", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using vault = await startFakeVault({ dir: p, token: TOKEN });
  await vault.addKey("ok", "ec-p256");
  await vault.addKey("aes", "aes256-gcm96");
  await vault.addKey("ed", "ed25519");
  await Deno.writeFile(`${p}/blob`, new TextEncoder().encode("x"));
  const out = `${p}/out.sig`;
  const signBlob = (ref: string, env: Env, extra: string[] = []) =>
    cosign(
      [
        "sign-blob",
        "--key",
        ref,
        "--tlog-upload=false",
        "--output-signature",
        out,
        ...extra,
        `${p}/blob`,
      ],
      { env },
    );
  const cases: [string, Env, RegExp][] = [
    ["hashivault://ok", vaultEnv(vault.url, p, { VAULT_TOKEN: "wrong" }), /permission denied/],
    ["hashivault://missing", vaultEnv(vault.url, p), /key not found/],
    ["hashivault://aes", vaultEnv(vault.url, p), /unsupported key type aes256-gcm96/],
    ["hashivault://ed", vaultEnv(vault.url, p), /Ed25519 keys sign whole messages/],
    ["hashivault://ok", vaultEnv("http://127.0.0.1:9", p), /cannot reach 127\.0\.0\.1:9/],
    [
      "hashivault://ok",
      { HOME: p, DENO_DIR, VAULT_TOKEN: TOKEN },
      /VAULT_ADDR or BAO_ADDR is not set/,
    ],
    ["hashivault://ok", { HOME: p, DENO_DIR, VAULT_ADDR: vault.url }, /no token/],
  ];
  for (const [ref, env, cause] of cases) {
    const r = await signBlob(ref, env, ["--timeout", "5s"]);
    assertFails(r, 1, new RegExp(`Cannot use key ${ref.replaceAll("/", "\\/")} \\(Vault\\): `));
    assert(cause.test(r.stderr), `${ref}: ${r.stderr}`);
    assert(!(await exists(out)), "no signature file written");
  }
  // Throttled (429): retried, then a clear failure within the deadline; a short burst passes.
  vault.calls.length = 0;
  vault.throttle(Infinity);
  let r = await signBlob("hashivault://ok", vaultEnv(vault.url, p), ["--timeout", "3s"]);
  assertFails(r, 1, /\(Vault\): throttled \(HTTP 429\)/);
  assert(vault.calls.length > 1, `retried: ${vault.calls.length}`);
  vault.throttle(2);
  r = await signBlob("hashivault://ok", vaultEnv(vault.url, p));
  assertEquals(r.code, 0, r.stderr);
});

Deno.test("hashivault: malformed references are usage errors giving the form, before any request", async () => {
  await using d = await tempDir();
  await using vault = await startFakeVault({ dir: d.path, token: TOKEN });
  const env = vaultEnv(vault.url, d.path);
  for (const ref of ["hashivault://a/b", "hashivault://", "openbao://-x", "hashivault://a b"]) {
    const r = await cosign(["public-key", "--key", ref], { env });
    assertFails(r, 2, /Invalid key reference .*: expected hashivault:\/\/KEY or openbao:\/\/KEY/);
  }
  assertEquals(vault.calls.length, 0);
});
