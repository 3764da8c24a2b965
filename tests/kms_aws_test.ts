/**
 * `awskms://` keys end to end (cosign-spec §8) against a loopback AWS KMS that checks SigV4 as
 * AWS does (tests/harness/fake_aws_kms.ts): generate-key-pair --kms, public-key, sign-blob and
 * verify-blob, sign and verify of an image in the real registry; every KMS signature checked by
 * `openssl dgst -verify`, and openssl's signatures verified through the KMS reference; RSA keys
 * sign with the first algorithm AWS lists (PSS); failures are one line naming the provider, the
 * key and the cause, with nothing written; malformed references fail before any request.
 */
import {
  AWS_ACCESS_KEY,
  AWS_REGION,
  AWS_SECRET_KEY,
  type FakeAwsKms,
  startFakeAwsKms,
} from "./harness/fake_aws_kms.ts";
import { DENO_DIR, exists, opensslSign, opensslVerify } from "./harness/kms_keys.ts";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { makeTls } from "./harness/registry.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { createHash } from "node:crypto";

type Env = Record<string, string>;

function awsEnv(kms: { url: string }, home: string, extra: Env = {}): Env {
  return {
    HOME: home,
    DENO_DIR,
    AWS_ACCESS_KEY_ID: AWS_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET_KEY,
    AWS_REGION,
    AWS_ENDPOINT_URL_KMS: kms.url,
    AWS_CONFIG_FILE: `${home}/no-aws-config`,
    AWS_SHARED_CREDENTIALS_FILE: `${home}/no-aws-credentials`,
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
}

const targets = (kms: FakeAwsKms) => kms.calls.map((c) => c.target);

Deno.test("awskms: generate-key-pair, public-key, sign-blob, verify-blob; openssl agrees both ways", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using kms = await startFakeAwsKms({ dir: p });
  const env = awsEnv(kms, p);
  const ref = "awskms:///alias/release";

  // generate-key-pair creates the key and the alias, then reuses them.
  let r = await cosign(["generate-key-pair", "--kms", ref, "--output-key-prefix", `${p}/k`], {
    env,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(targets(kms), ["GetPublicKey", "CreateKey", "CreateAlias", "GetPublicKey"]);
  const create = kms.calls[1]!.body;
  assertEquals([create.KeySpec, create.KeyUsage], ["ECC_NIST_P256", "SIGN_VERIFY"]);
  const key = kms.keys.get(kms.aliases.get("alias/release")!)!;
  const pub = await Deno.readTextFile(`${p}/k.pub`);
  assertEquals(pub, key.key!.publicPem);
  assert(!(await exists(`${p}/k.key`)), "no private key file for a KMS key");
  kms.calls.length = 0;
  r = await cosign(["generate-key-pair", "--kms", ref, "--output-key-prefix", `${p}/k2`], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(targets(kms), ["GetPublicKey"]);
  assertEquals(await Deno.readTextFile(`${p}/k2.pub`), pub);

  r = await cosign(["public-key", "--key", ref], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.out, pub);

  // sign-blob: one GetPublicKey, one Sign of the SHA-256 digest (MessageType DIGEST).
  const blob = new TextEncoder().encode("a blob that never leaves this machine ".repeat(50));
  await Deno.writeFile(`${p}/blob`, blob);
  kms.calls.length = 0;
  r = await cosign([
    "sign-blob",
    "--key",
    ref,
    "--tlog-upload=false",
    "--output-signature",
    `${p}/blob.sig`,
    `${p}/blob`,
  ], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(targets(kms), ["GetPublicKey", "Sign"]);
  const sign = kms.calls[1]!;
  assertEquals(sign.body.MessageType, "DIGEST");
  assertEquals(sign.body.SigningAlgorithm, "ECDSA_SHA_256");
  assertEquals(
    sign.body.Message,
    createHash("sha256").update(blob).digest().toString("base64"),
  );
  assert(!sign.raw.includes(blob.subarray(0, 30).toBase64()), "the blob is not sent");
  const sig = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/blob.sig`)).trim());
  const v = await opensslVerify(`${p}/k.pub`, blob, sig, "sha256");
  assert(v.ok, `openssl dgst -verify: ${v.out}`);

  // verify-blob with the KMS reference: the public key once, then local verification.
  kms.calls.length = 0;
  r = await cosign([
    "verify-blob",
    "--key",
    ref,
    "--signature",
    `${p}/blob.sig`,
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ], { env });
  assertEquals(r.code, 0, r.stderr);
  assert(r.stderr.includes("Verified OK"), r.stderr);
  assertEquals(targets(kms), ["GetPublicKey"]);

  // A signature openssl made with the key's private half verifies through the reference...
  await Deno.writeFile(`${p}/openssl.sig`, await opensslSign(key.key!, blob, "sha256"));
  r = await cosign([
    "verify-blob",
    "--key",
    ref,
    "--signature",
    `${p}/openssl.sig`,
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ], { env });
  assertEquals(r.code, 0, r.stderr);
  // ...and one over other bytes does not.
  await Deno.writeFile(`${p}/other`, new TextEncoder().encode("other"));
  r = await cosign([
    "verify-blob",
    "--key",
    ref,
    "--signature",
    `${p}/openssl.sig`,
    "--insecure-ignore-tlog",
    `${p}/other`,
  ], { env });
  assertEquals(r.code, 1, r.stderr);
  assertEquals(kms.badSignatures, 0);
});

Deno.test("awskms: RSA signs with the first algorithm AWS lists (PSS), P-384 with SHA-384; key id and ARN forms", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using kms = await startFakeAwsKms({ dir: p });
  const env = awsEnv(kms, p);
  const rsa = await kms.addKey("rsa-2048");
  const p384 = await kms.addKey("ec-p384");
  const blob = new TextEncoder().encode("rsa and p-384");
  await Deno.writeFile(`${p}/blob`, blob);
  const cases = [
    { ref: `awskms:///${rsa.keyId}`, key: rsa, hash: "sha256" as const, pss: true },
    { ref: `awskms:///${p384.arn}`, key: p384, hash: "sha384" as const, pss: false },
  ];
  for (const c of cases) {
    kms.calls.length = 0;
    const r = await cosign(["sign-blob", "--key", c.ref, "--tlog-upload=false", `${p}/blob`], {
      env,
    });
    assertEquals(r.code, 0, r.stderr);
    const sign = kms.calls.find((x) => x.target === "Sign")!;
    assertEquals(sign.body.SigningAlgorithm, c.key.signingAlgorithms[0]);
    assertEquals(sign.body.Message, createHash(c.hash).update(blob).digest().toString("base64"));
    const sig = Uint8Array.fromBase64(r.out.trim());
    const v = await opensslVerify(c.key.key!.publicPath, blob, sig, c.hash, c.pss);
    assert(v.ok, `${c.ref}: openssl dgst -verify: ${v.out}`);
    if (c.pss) {
      const pkcs1 = await opensslVerify(c.key.key!.publicPath, blob, sig, c.hash, false);
      assert(!pkcs1.ok, "an RSA signature here is PSS, not PKCS#1 v1.5");
    }
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
    assertEquals(v2.code, 0, `${c.ref}: ${v2.stderr}`);
  }
});

Deno.test("awskms: image sign and verify in the registry; cosign's https://HOST:PORT form", async () => {
  await using d = await tempDir();
  const p = d.path;
  const tls = await makeTls(p);
  await using kms = await startFakeAwsKms({
    dir: p,
    tls: { cert: await Deno.readTextFile(tls.cert), key: await Deno.readTextFile(tls.key) },
  });
  await using reg = await startRegistry({ mode: "noauth" });
  const img = await pushImage(reg, "kms/aws:v1");
  await kms.addKey("ec-p256", { alias: "alias/images" });
  // The endpoint comes from the reference (https://127.0.0.1:PORT), not from the environment.
  const env = awsEnv({ url: "http://127.0.0.1:1" }, p, { NODE_EXTRA_CA_CERTS: tls.caCert });
  const ref = `awskms://${kms.host}/alias/images`;
  const imageRef = `${reg.host}/kms/aws@${img.digest}`;
  let r = await cosign(
    ["sign", "--new-bundle-format=false", "--key", ref, "--tlog-upload=false", imageRef],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", ref, "--insecure-ignore-tlog", imageRef], { env });
  assertEquals(r.code, 0, r.stderr);
  const [payload] = JSON.parse(r.out) as {
    critical: { image: { "docker-manifest-digest": string } };
  }[];
  assertEquals(payload!.critical.image["docker-manifest-digest"], img.digest);
  assertEquals(targets(kms), ["GetPublicKey", "Sign", "GetPublicKey"]);
  assertEquals(kms.badSignatures, 0);
});

Deno.test("awskms: failures are one line naming the provider, the key and the cause; nothing is written", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using kms = await startFakeAwsKms({ dir: p });
  await Deno.writeFile(`${p}/blob`, new TextEncoder().encode("x"));
  await kms.addKey("ec-p256", { alias: "alias/ok" });
  await kms.addKey("symmetric", { alias: "alias/symmetric" });
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
  const cases: [string, Env, RegExp, string[]?][] = [
    ["awskms:///alias/missing", awsEnv(kms, p), /key not found/],
    ["awskms:///alias/symmetric", awsEnv(kms, p), /not an asymmetric signing key/],
    [
      "awskms:///alias/ok",
      awsEnv(kms, p, { AWS_SECRET_ACCESS_KEY: "wrong" }),
      /permission denied \(InvalidSignatureException/,
    ],
    [
      "awskms:///alias/ok",
      awsEnv({ url: "http://127.0.0.1:9" }, p),
      /cannot reach the endpoint|no answer/,
      ["--timeout", "8s"],
    ],
  ];
  for (const [ref, env, cause, extra] of cases) {
    const r = await signBlob(ref, env, extra);
    assertFails(r, 1, new RegExp(`Cannot use key ${ref.replaceAll("/", "\\/")} \\(AWS KMS\\): `));
    assert(cause.test(r.stderr), `${ref}: ${r.stderr}`);
    assert(!(await exists(out)), "no signature file written");
  }
  assert(kms.badSignatures >= 1, "the wrong secret was caught by the SigV4 check");

  // Denied by policy (HTTP 400 AccessDeniedException, as AWS answers).
  kms.deny = true;
  let r = await signBlob("awskms:///alias/ok", awsEnv(kms, p));
  assertFails(r, 1, /\(AWS KMS\): GetPublicKey: permission denied \(AccessDeniedException/);
  kms.deny = false;

  // Throttled: retried with backoff, then a clear failure within the deadline.
  kms.calls.length = 0;
  kms.throttle(Infinity);
  r = await signBlob("awskms:///alias/ok", awsEnv(kms, p), ["--timeout", "20s"]);
  assertFails(r, 1, /\(AWS KMS\): GetPublicKey: ThrottlingException/);
  assert(kms.calls.length > 1, `retried: ${kms.calls.length} requests`);
  assert(!(await exists(out)), "no signature file written");
  // A short throttle is ridden out.
  kms.throttle(2);
  r = await signBlob("awskms:///alias/ok", awsEnv(kms, p));
  assertEquals(r.code, 0, r.stderr);

  // generate-key-pair --kms on a key-id reference (no alias) is refused; no .pub written.
  r = await cosign(
    [
      "generate-key-pair",
      "--kms",
      `awskms:///${crypto.randomUUID()}`,
      "--output-key-prefix",
      `${p}/g`,
    ],
    { env: awsEnv(kms, p) },
  );
  assertFails(r, 2, /creating a key needs an alias/);
  assert(!(await exists(`${p}/g.pub`)), "no public key written");
});

Deno.test("awskms: malformed references are usage errors giving the form, before any request", async () => {
  await using d = await tempDir();
  await using kms = await startFakeAwsKms({ dir: d.path });
  const env = awsEnv(kms, d.path);
  for (const ref of ["awskms://", "awskms:///", "awskms:///not-a-key-id", "awskms://host"]) {
    const r = await cosign(["public-key", "--key", ref], { env });
    assertFails(r, 2, /Invalid key reference .*: expected awskms:\/\/\[ENDPOINT\]\/KEY-ID/);
  }
  assertEquals(kms.calls.length, 0);
});
