/**
 * `azurekms://` keys end to end (cosign-spec §8) against a loopback Key Vault over TLS that
 * answers with the 401 challenge and then checks the bearer token a managed-identity endpoint
 * issued (tests/harness/fake_azure_kv.ts): generate-key-pair --kms, public-key,
 * sign-blob/verify-blob, image sign/verify in the registry; Key Vault's raw `r‖s` becomes DER
 * (short r or s included), openssl verifies every signature and openssl's signatures verify
 * through the reference; verification is local, so cosign's remote-verify bug (it sends `r‖r`)
 * does not apply; failures are one line naming the provider, the key and the cause.
 */
import { startFakeAzureKv } from "./harness/fake_azure_kv.ts";
import { DENO_DIR, exists, opensslSign, opensslVerify } from "./harness/kms_keys.ts";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { createHash } from "node:crypto";

type Env = Record<string, string>;

function azureEnv(kv: { caPath: string; identityEnv: Env }, home: string, extra: Env = {}): Env {
  return { HOME: home, DENO_DIR, NODE_EXTRA_CA_CERTS: kv.caPath, ...kv.identityEnv, ...extra };
}

/** Reads a DER ECDSA signature's r and s the way Go's `big.Int.Bytes()` gives them (no padding). */
function derIntegers(der: Uint8Array): [Uint8Array, Uint8Array] {
  let at = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const read = () => {
    const len = der[at + 1]!;
    let v = der.subarray(at + 2, at + 2 + len);
    at += 2 + len;
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    return v;
  };
  return [read(), read()];
}

Deno.test("azurekms: challenge and token, generate-key-pair, public-key, sign-blob, verify-blob; openssl both ways", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using kv = await startFakeAzureKv({ dir: p });
  const env = azureEnv(kv, p);
  const ref = `azurekms://${kv.host}/release`;

  let r = await cosign(["generate-key-pair", "--kms", ref, "--output-key-prefix", `${p}/k`], {
    env,
  });
  assertEquals(r.code, 0, r.stderr);
  const first = kv.calls.filter((c) => c.path !== "/msi/token");
  assertEquals([first[0]!.status, first[0]!.authorized], [401, false], "the challenge first");
  assert(first.slice(1).every((c) => c.authorized), "then every request carries the token");
  const create = kv.calls.find((c) => c.path === "/keys/release/create")!;
  assertEquals([create.body.kty, create.body.crv, create.body.tags], ["EC", "P-256", {
    use: "sigstore",
  }]);
  const key = kv.keys.get("release")!.key;
  assertEquals(await Deno.readTextFile(`${p}/k.pub`), key.publicPem);
  r = await cosign(["public-key", "--key", ref], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.out, key.publicPem);

  const blob = new TextEncoder().encode("signed in key vault ".repeat(40));
  await Deno.writeFile(`${p}/blob`, blob);
  kv.calls.length = 0;
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
  const sign = kv.calls.find((c) => c.path.endsWith("/sign"))!;
  assertEquals(sign.body.alg, "ES256");
  assertEquals(
    sign.body.value,
    createHash("sha256").update(blob).digest().toBase64({
      alphabet: "base64url",
      omitPadding: true,
    }),
  );
  const sig = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/sig`)).trim());
  assert((await opensslVerify(`${p}/k.pub`, blob, sig, "sha256")).ok, "openssl verifies");

  kv.calls.length = 0;
  r = await cosign(
    ["verify-blob", "--key", ref, "--signature", `${p}/sig`, "--insecure-ignore-tlog", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  assert(!kv.calls.some((c) => c.path.endsWith("/verify")), "verified locally");
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
});

Deno.test("azurekms: short r or s converts right; cosign's remote verify (r‖r) fails where our local one holds", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using kv = await startFakeAzureKv({ dir: p });
  const env = azureEnv(kv, p);
  const key = (await kv.addKey("ec", "ec-p256")).key;
  const ref = `azurekms://${kv.host}/ec`;
  kv.shortSignatures = true;
  const blob = new TextEncoder().encode("r or s starts with a zero byte");
  await Deno.writeFile(`${p}/blob`, blob);
  let r = await cosign(
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
  const der = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/sig`)).trim());
  const [rr, ss] = derIntegers(der);
  assert(rr.length < 32 || ss.length < 32, "the signature has a short r or s");
  assert((await opensslVerify(key.publicPath, blob, der, "sha256")).ok, "openssl verifies the DER");
  kv.calls.length = 0;
  r = await cosign(
    ["verify-blob", "--key", ref, "--signature", `${p}/sig`, "--insecure-ignore-tlog", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  assert(!kv.calls.some((c) => c.path.endsWith("/verify")), "no remote verify");

  // What cosign's remote verify would send (sigstore's azure signer: rBytes, sBytes := r.Bytes(),
  // r.Bytes()), against what Key Vault expects (r‖s, each padded to 32 bytes).
  const token =
    await (await fetch(`${kv.identityEnv.IDENTITY_ENDPOINT}?resource=https://vault.azure.net`, {
      headers: { "X-IDENTITY-HEADER": kv.identityEnv.IDENTITY_HEADER! },
      client: Deno.createHttpClient({ caCerts: [await Deno.readTextFile(kv.caPath)] }),
    })).json() as { access_token: string };
  const version = kv.keys.get("ec")!.version;
  const digest = createHash("sha256").update(blob).digest();
  const remoteVerify = async (value: Uint8Array) => {
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(kv.caPath)] });
    try {
      const res = await fetch(`https://${kv.host}/keys/ec/${version}/verify?api-version=7.4`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token.access_token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          alg: "ES256",
          digest: digest.toBase64({ alphabet: "base64url", omitPadding: true }),
          value: value.toBase64({ alphabet: "base64url", omitPadding: true }),
        }),
        client,
      });
      return (await res.json() as { value: boolean }).value;
    } finally {
      client.close();
    }
  };
  const pad = (v: Uint8Array) => new Uint8Array([...new Uint8Array(32 - v.length), ...v]);
  assertEquals(await remoteVerify(new Uint8Array([...rr, ...rr])), false, "cosign's r‖r");
  assertEquals(await remoteVerify(new Uint8Array([...pad(rr), ...pad(ss)])), true, "r‖s, padded");
});

Deno.test("azurekms: RSA 3072 signs RS384; image sign and verify in the registry", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using kv = await startFakeAzureKv({ dir: p });
  await using reg = await startRegistry({ mode: "noauth" });
  const env = azureEnv(kv, p);
  const rsa = (await kv.addKey("rsa", "rsa-3072")).key;
  await kv.addKey("p384", "ec-p384");
  const blob = new TextEncoder().encode("rsa in key vault");
  await Deno.writeFile(`${p}/blob`, blob);
  let r = await cosign(
    ["sign-blob", "--key", `azurekms://${kv.host}/rsa`, "--tlog-upload=false", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(kv.calls.find((c) => c.path.endsWith("/sign"))!.body.alg, "RS384");
  const v = await opensslVerify(
    rsa.publicPath,
    blob,
    Uint8Array.fromBase64(r.out.trim()),
    "sha384",
  );
  assert(v.ok, v.out);
  const img = await pushImage(reg, "kms/azure:v1");
  const imageRef = `${reg.host}/kms/azure@${img.digest}`;
  const ref = `azurekms://${kv.host}/p384`;
  r = await cosign(
    ["sign", "--new-bundle-format=false", "--key", ref, "--tlog-upload=false", imageRef],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", ref, "--insecure-ignore-tlog", imageRef], { env });
  assertEquals(r.code, 0, r.stderr);
});

Deno.test("azurekms: failures are one line naming the provider, the key and the cause; malformed references", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using kv = await startFakeAzureKv({ dir: p });
  await kv.addKey("ok", "ec-p256");
  await Deno.writeFile(`${p}/blob`, new TextEncoder().encode("x"));
  const out = `${p}/out.sig`;
  const signBlob = (ref: string, env: Env) =>
    cosign(
      [
        "sign-blob",
        "--key",
        ref,
        "--tlog-upload=false",
        "--output-signature",
        out,
        "--timeout",
        "20s",
        `${p}/blob`,
      ],
      { env },
    );
  const env = azureEnv(kv, p);
  const cases: [string, Env, RegExp][] = [
    [`azurekms://${kv.host}/missing`, env, /key not found \(GetKey: HTTP 404 KeyNotFound/],
    ["azurekms://127.0.0.1:9/ok", env, /GetKey: cannot reach the vault/],
  ];
  for (const [ref, e, cause] of cases) {
    const r = await signBlob(ref, e);
    assertFails(
      r,
      1,
      new RegExp(`Cannot use key ${ref.replaceAll("/", "\\/")} \\(Azure Key Vault\\): `),
    );
    assert(cause.test(r.stderr), `${ref}: ${r.stderr}`);
    assert(!(await exists(out)), "no signature file written");
  }
  kv.deny = true;
  const r = await signBlob(`azurekms://${kv.host}/ok`, env);
  assertFails(r, 1, /\(Azure Key Vault\): permission denied \(GetKey: HTTP 403 Forbidden/);
  kv.deny = false;

  for (
    const bad of ["azurekms://host", "azurekms://host/", "azurekms://host/k/v/x", "azurekms:///k"]
  ) {
    const b = await cosign(["public-key", "--key", bad], { env });
    assertFails(b, 2, /Invalid key reference .*expected azurekms:\/\/VAULT-HOST\/KEY\[\/VERSION\]/);
  }
});
