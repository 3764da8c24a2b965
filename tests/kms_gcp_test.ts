/**
 * `gcpkms://` keys end to end (cosign-spec §8) against a loopback Cloud KMS (REST) and token
 * endpoint (tests/harness/fake_gcp_kms.ts) that checks the service account's JWT and then the
 * bearer token: generate-key-pair --kms (key ring and key), public-key, sign-blob/verify-blob,
 * image sign/verify in the registry; digest + CRC32C in both directions (a wrong checksum is
 * refused); openssl verifies every signature and openssl's signatures verify through the
 * reference; failures are one line naming the provider, the key and the cause.
 */
import { crc32c } from "../kms/gcp.ts";
import { crc32cBitwise, startFakeGcpKms } from "./harness/fake_gcp_kms.ts";
import { DENO_DIR, exists, opensslSign, opensslVerify } from "./harness/kms_keys.ts";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { createHash } from "node:crypto";

type Env = Record<string, string>;
const KEY = "projects/test-project/locations/global/keyRings/ring/cryptoKeys";

function gcpEnv(fake: { url: string; credentialsPath: string }, home: string, extra: Env = {}) {
  return {
    HOME: home,
    DENO_DIR,
    GOOGLE_APPLICATION_CREDENTIALS: fake.credentialsPath,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS: fake.url,
    GCE_METADATA_HOST: "127.0.0.1:9",
    ...extra,
  };
}

Deno.test("gcpkms: CRC32C matches the standard check value and a bitwise implementation", () => {
  assertEquals(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  const data = crypto.getRandomValues(new Uint8Array(1000));
  assertEquals(crc32c(data), crc32cBitwise(data));
  assertEquals(crc32c(new Uint8Array()), 0);
});

Deno.test("gcpkms: generate-key-pair, public-key, sign-blob, verify-blob; CRC32C both ways; openssl both ways", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using gcp = await startFakeGcpKms({ dir: p });
  const env = gcpEnv(gcp, p);
  const ref = `gcpkms://${KEY.replace("/ring/", "/new-ring/")}/release`;

  let r = await cosign(["generate-key-pair", "--kms", ref, "--output-key-prefix", `${p}/k`], {
    env,
  });
  assertEquals(r.code, 0, r.stderr);
  const posts = gcp.calls.filter((c) => c.method === "POST").map((c) => c.path);
  assertEquals(posts, [
    "/token",
    "/v1/projects/test-project/locations/global/keyRings?keyRingId=new-ring",
    "/v1/projects/test-project/locations/global/keyRings/new-ring/cryptoKeys?cryptoKeyId=release",
  ]);
  const key = gcp.keys.get(ref.slice("gcpkms://".length))!.versions[0]!.key!;
  assertEquals(await Deno.readTextFile(`${p}/k.pub`), key.publicPem);
  r = await cosign(["public-key", "--key", ref], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.out, key.publicPem);

  const blob = new TextEncoder().encode("signed in cloud kms ".repeat(64));
  await Deno.writeFile(`${p}/blob`, blob);
  gcp.calls.length = 0;
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
  const sign = gcp.calls.find((c) => c.path.endsWith(":asymmetricSign"))!;
  const digest = createHash("sha256").update(blob).digest();
  assertEquals(sign.body, {
    digest: { sha256: digest.toString("base64") },
    digestCrc32c: String(crc32cBitwise(digest)),
  });
  assertEquals(gcp.calls.filter((c) => c.path === "/token").length, 1, "one token a process");
  const sig = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/sig`)).trim());
  assert((await opensslVerify(`${p}/k.pub`, blob, sig, "sha256")).ok, "openssl verifies");

  gcp.calls.length = 0;
  r = await cosign(
    ["verify-blob", "--key", ref, "--signature", `${p}/sig`, "--insecure-ignore-tlog", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  assert(!gcp.calls.some((c) => c.method === "POST" && c.path !== "/token"), "verified locally");
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

Deno.test("gcpkms: P-384 (SHA-384), RSA-PSS, an explicit version; image sign/verify", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using gcp = await startFakeGcpKms({ dir: p });
  await using reg = await startRegistry({ mode: "noauth" });
  const env = gcpEnv(gcp, p);
  const p384 = (await gcp.addKey(`${KEY}/p384`, "ec-p384")).versions[0]!.key!;
  const pss = (await gcp.addKey(`${KEY}/pss`, "rsa-2048", { pss: true })).versions[0]!.key!;
  const blob = new TextEncoder().encode("gcp");
  await Deno.writeFile(`${p}/blob`, blob);
  const cases = [
    { ref: `gcpkms://${KEY}/p384/versions/1`, key: p384, hash: "sha384" as const, pss: false },
    {
      ref: `gcpkms://${KEY}/pss/cryptoKeyVersions/1`,
      key: pss,
      hash: "sha256" as const,
      pss: true,
    },
  ];
  for (const c of cases) {
    const r = await cosign(["sign-blob", "--key", c.ref, "--tlog-upload=false", `${p}/blob`], {
      env,
    });
    assertEquals(r.code, 0, r.stderr);
    const sig = Uint8Array.fromBase64(r.out.trim());
    const v = await opensslVerify(c.key.publicPath, blob, sig, c.hash, c.pss);
    assert(v.ok, `${c.ref}: ${v.out}`);
    await Deno.writeFile(`${p}/sig`, sig);
    const v2 = await cosign(
      [
        "verify-blob",
        "--key",
        c.ref,
        "--signature",
        `${p}/sig`,
        "--insecure-ignore-tlog",
        `${p}/blob`,
      ],
      { env },
    );
    assertEquals(v2.code, 0, v2.stderr);
  }
  const img = await pushImage(reg, "kms/gcp:v1");
  const imageRef = `${reg.host}/kms/gcp@${img.digest}`;
  const ref = `gcpkms://${KEY}/p384`;
  let r = await cosign(
    ["sign", "--new-bundle-format=false", "--key", ref, "--tlog-upload=false", imageRef],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", ref, "--insecure-ignore-tlog", imageRef], { env });
  assertEquals(r.code, 0, r.stderr);
});

Deno.test("gcpkms: failures are one line naming the provider, the key and the cause; nothing is written", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using gcp = await startFakeGcpKms({ dir: p });
  await gcp.addKey(`${KEY}/ok`, "ec-p256");
  await gcp.addKey(`${KEY}/symmetric`, "symmetric");
  const disabled = await gcp.addKey(`${KEY}/disabled`, "ec-p256");
  disabled.versions[0]!.state = "DISABLED";
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
  const env = gcpEnv(gcp, p);
  const cases: [string, Env, RegExp][] = [
    [`gcpkms://${KEY}/missing`, env, /key not found \(GetCryptoKey: HTTP 404 NOT_FOUND/],
    [`gcpkms://${KEY}/symmetric`, env, /purpose is ENCRYPT_DECRYPT, not ASYMMETRIC_SIGN/],
    [`gcpkms://${KEY}/disabled/versions/1`, env, /key version 1 is DISABLED/],
    [`gcpkms://${KEY}/disabled`, env, /the key has no ENABLED version/],
    [
      `gcpkms://${KEY}/ok`,
      gcpEnv(gcp, p, { CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS: "http://127.0.0.1:9/" }),
      /cannot reach 127\.0\.0\.1:9/,
    ],
    [
      `gcpkms://${KEY}/ok`,
      gcpEnv(gcp, p, { GOOGLE_APPLICATION_CREDENTIALS: `${p}/nope.json` }),
      /cannot read GOOGLE_APPLICATION_CREDENTIALS file/,
    ],
  ];
  for (const [ref, e, cause] of cases) {
    const r = await signBlob(ref, e, ["--timeout", "5s"]);
    assertFails(r, 1, new RegExp(`Cannot use key ${ref.replaceAll("/", "\\/")} \\(GCP KMS\\): `));
    assert(cause.test(r.stderr), `${ref}: ${r.stderr}`);
    assert(!(await exists(out)), "no signature file written");
  }
  const ok = `gcpkms://${KEY}/ok`;
  // A signature whose CRC32C does not match is refused.
  gcp.corruptNextSignature = true;
  let r = await signBlob(ok, env);
  assertFails(
    r,
    1,
    /\(GCP KMS\): AsymmetricSign: the answer was corrupted in transit \(CRC32C mismatch\)/,
  );
  assert(!(await exists(out)), "no signature file written");
  // 403.
  gcp.deny = true;
  r = await signBlob(ok, env);
  assertFails(r, 1, /\(GCP KMS\): permission denied \(GetCryptoKey: HTTP 403 PERMISSION_DENIED/);
  gcp.deny = false;
  // 429: retried, then a clear failure within the deadline; a short burst passes.
  gcp.throttle(Infinity);
  gcp.calls.length = 0;
  r = await signBlob(ok, env, ["--timeout", "3s"]);
  assertFails(r, 1, /\(GCP KMS\): throttled \(HTTP 429\)/);
  assert(gcp.calls.filter((c) => c.status === 429).length > 1, "retried");
  gcp.throttle(2);
  r = await signBlob(ok, env);
  assertEquals(r.code, 0, r.stderr);

  // Malformed references: usage errors, no request.
  gcp.calls.length = 0;
  for (
    const bad of [
      "gcpkms://projects/p/locations/l/keyRings/r",
      "gcpkms://projects/p/keyRings/r/cryptoKeys/k",
      `gcpkms://${KEY}/k/versions/`,
      `gcpkms://${KEY}/k/extra/1`,
    ]
  ) {
    const b = await cosign(["public-key", "--key", bad], { env });
    assertFails(b, 2, /Invalid key reference .*expected gcpkms:\/\/projects\/PROJECT\/locations/);
  }
  assertEquals(gcp.calls.length, 0);
});
