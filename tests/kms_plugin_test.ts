/**
 * KMS plugins (`SCHEME://REF` → `sigstore-kms-SCHEME` on PATH, sigstore's CLI plugin protocol
 * v1) end to end with a plugin the tests provide (tests/harness/kms_plugin.ts):
 * generate-key-pair --kms, public-key, sign-blob/verify-blob and image sign/verify; only the
 * digest is sent (empty stdin); openssl verifies every signature and openssl's signatures
 * verify through the reference; a missing, failing, garbled or hanging plugin is one line
 * naming the plugin, the key and the cause.
 */
import { installPlugin } from "./harness/kms_plugin.ts";
import { DENO_DIR, exists, makeKey, opensslSign, opensslVerify } from "./harness/kms_keys.ts";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { createHash } from "node:crypto";

type Env = Record<string, string>;

interface LogLine {
  version: string;
  req: {
    initOptions: { keyResourceID: string; hashFunc: number; protocolVersion: string };
    methodName: string;
    signMessage?: { signOptions: { messageOptions: { digest: string; hashFunc: number } } };
  };
  stdin: number;
}

async function readLog(key: string): Promise<LogLine[]> {
  const text = await Deno.readTextFile(`${key}.log`).catch(() => "");
  return text.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

async function setup(p: string): Promise<Env> {
  await Deno.mkdir(`${p}/bin`);
  await installPlugin(`${p}/bin`, "testkms");
  return { HOME: p, DENO_DIR, PATH: `${p}/bin:${Deno.env.get("PATH")}` };
}

Deno.test("plugin: generate-key-pair, public-key, sign-blob (digest only), verify-blob, image; openssl both ways", async () => {
  await using d = await tempDir();
  const p = d.path;
  const env = await setup(p);
  const keyPath = `${p}/key.pem`;
  const ref = `testkms://${keyPath}`;

  let r = await cosign(["generate-key-pair", "--kms", ref, "--output-key-prefix", `${p}/k`], {
    env,
  });
  assertEquals(r.code, 0, r.stderr);
  let log = await readLog(keyPath);
  assertEquals(log.map((l) => l.req.methodName), ["defaultAlgorithm", "createKey"]);
  assertEquals(log[0]!.version, "v1");
  assertEquals(log[0]!.req.initOptions.keyResourceID, keyPath);
  const pub = await Deno.readTextFile(`${p}/k.pub`);
  r = await cosign(["public-key", "--key", ref], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.out, pub);

  const blob = new TextEncoder().encode("signed by a plugin ".repeat(30));
  await Deno.writeFile(`${p}/blob`, blob);
  await Deno.remove(`${keyPath}.log`);
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
  log = await readLog(keyPath);
  assertEquals(log.map((l) => l.req.methodName), ["publicKey", "signMessage"]);
  const mo = log[1]!.req.signMessage!.signOptions.messageOptions;
  assertEquals(mo.digest, createHash("sha256").update(blob).digest().toString("base64"));
  assertEquals([mo.hashFunc, log[1]!.req.initOptions.hashFunc, log[1]!.stdin], [5, 5, 0]);
  const sig = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/sig`)).trim());
  assert((await opensslVerify(`${p}/k.pub`, blob, sig, "sha256")).ok, "openssl verifies");

  await Deno.remove(`${keyPath}.log`);
  r = await cosign(
    ["verify-blob", "--key", ref, "--signature", `${p}/sig`, "--insecure-ignore-tlog", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals((await readLog(keyPath)).map((l) => l.req.methodName), ["publicKey"]);
  const key = {
    kind: "ec-p256" as const,
    privatePath: keyPath,
    publicPath: `${p}/k.pub`,
    publicPem: pub,
    spkiDer: new Uint8Array(),
  };
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

  await using reg = await startRegistry({ mode: "noauth" });
  const img = await pushImage(reg, "kms/plugin:v1");
  const imageRef = `${reg.host}/kms/plugin@${img.digest}`;
  r = await cosign(
    ["sign", "--new-bundle-format=false", "--key", ref, "--tlog-upload=false", imageRef],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", ref, "--insecure-ignore-tlog", imageRef], { env });
  assertEquals(r.code, 0, r.stderr);
});

Deno.test("plugin: a P-384 key signs SHA-384 digests (hashFunc 6)", async () => {
  await using d = await tempDir();
  const p = d.path;
  const env = await setup(p);
  const key = await makeKey(p, "ec-p384");
  const blob = new TextEncoder().encode("p-384 through a plugin");
  await Deno.writeFile(`${p}/blob`, blob);
  const r = await cosign(
    ["sign-blob", "--key", `testkms://${key.privatePath}`, "--tlog-upload=false", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  const sign = (await readLog(key.privatePath)).find((l) => l.req.methodName === "signMessage")!;
  assertEquals(sign.req.signMessage!.signOptions.messageOptions.hashFunc, 6);
  const v = await opensslVerify(
    key.publicPath,
    blob,
    Uint8Array.fromBase64(r.out.trim()),
    "sha384",
  );
  assert(v.ok, v.out);
});

Deno.test("plugin: missing, failing, garbled and hanging plugins fail in one line; nothing is written", async () => {
  await using d = await tempDir();
  const p = d.path;
  const env = await setup(p);
  const key = await makeKey(p, "ec-p256");
  await Deno.writeFile(`${p}/blob`, new TextEncoder().encode("x"));
  const out = `${p}/out.sig`;
  const signBlob = (ref: string, e: Env) =>
    cosign(
      [
        "sign-blob",
        "--key",
        ref,
        "--tlog-upload=false",
        "--output-signature",
        out,
        "--timeout",
        "3s",
        `${p}/blob`,
      ],
      { env: e },
    );
  const ok = `testkms://${key.privatePath}`;
  const cases: [string, Env, RegExp][] = [
    [
      "nosuchkms://k",
      env,
      /no built-in provider for nosuchkms:\/\/ and no plugin sigstore-kms-nosuchkms on PATH/,
    ],
    [
      `testkms://${p}/missing.pem`,
      env,
      /\(plugin sigstore-kms-testkms\): publicKey: key .* not found/,
    ],
    [
      ok,
      { ...env, KMS_PLUGIN_FAULT: "error" },
      /\(plugin sigstore-kms-testkms\): publicKey: the HSM is on fire/,
    ],
    [
      ok,
      { ...env, KMS_PLUGIN_FAULT: "garbage" },
      /publicKey: the plugin's output is not a JSON answer/,
    ],
    [ok, { ...env, KMS_PLUGIN_FAULT: "hang" }, /publicKey: no answer within the 3 s deadline/],
  ];
  for (const [ref, e, cause] of cases) {
    const r = await signBlob(ref, e);
    assertFails(r, 1, cause);
    assert(r.stderr.includes(`Cannot use key ${ref}`), r.stderr);
    assert(!(await exists(out)), "no signature file written");
  }
  const bad = await cosign(["public-key", "--key", "b@d://x"], { env });
  assertFails(bad, 2, /Invalid key reference b@d:\/\/x: expected SCHEME:\/\/REF/);
});
