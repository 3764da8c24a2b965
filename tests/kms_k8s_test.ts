/**
 * `k8s://NAMESPACE/SECRET` key pairs end to end (cosign-spec §8) against a loopback HTTPS
 * Kubernetes API server that checks the bearer token (tests/harness/fake_k8s.ts), reached
 * through a kubeconfig: generate-key-pair writes cosign.key/cosign.pub/cosign.password into
 * the Secret (immutable, other data kept on update), public-key, sign-blob/verify-blob with
 * the secret's password (no prompt) verified by openssl too, image sign/verify in the registry;
 * failures are one line naming the provider, the secret and the cause; malformed references
 * fail before any request.
 */
import { startFakeK8s } from "./harness/fake_k8s.ts";
import { DENO_DIR, exists, opensslVerify } from "./harness/kms_keys.ts";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

type Env = Record<string, string>;
const TOKEN = "fake-service-account-token";
const PW = "k8s-secret-password";
const dec = new TextDecoder();
const field = (v: string | undefined) => dec.decode(Uint8Array.fromBase64(v ?? ""));

function k8sEnv(kubeconfig: string, home: string, extra: Env = {}): Env {
  return { HOME: home, DENO_DIR, KUBECONFIG: kubeconfig, ...extra };
}

Deno.test("k8s: generate-key-pair writes the secret; public-key, sign-blob, verify-blob, image sign/verify", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using k8s = await startFakeK8s({ dir: p, token: TOKEN });
  await using reg = await startRegistry({ mode: "noauth" });
  const env = k8sEnv(k8s.kubeconfig, p);
  const ref = "k8s://signing/cosign-keys";

  let r = await cosign(["generate-key-pair", ref, "--output-key-prefix", `${p}/k`], {
    env: { ...env, COSIGN_PASSWORD: PW },
  });
  assertEquals(r.code, 0, r.stderr);
  assert(
    r.stderr.includes("Successfully created secret cosign-keys in namespace signing"),
    r.stderr,
  );
  assertEquals(k8s.calls.map((c) => `${c.method} ${c.path} ${c.status}`), [
    "GET /version 200",
    "GET /api/v1/namespaces/signing/secrets/cosign-keys 404",
    "POST /api/v1/namespaces/signing/secrets 201",
  ]);
  const s = k8s.secrets.get("signing/cosign-keys")!;
  assertEquals(Object.keys(s.data).sort(), ["cosign.key", "cosign.password", "cosign.pub"]);
  assertEquals(field(s.data["cosign.password"]), PW);
  assert(field(s.data["cosign.key"]).includes("ENCRYPTED SIGSTORE PRIVATE KEY"), "encrypted key");
  assertEquals(s.immutable, true);
  const pub = await Deno.readTextFile(`${p}/k.pub`);
  assertEquals(pub, field(s.data["cosign.pub"]));

  r = await cosign(["public-key", "--key", ref], { env });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.out, pub);

  // Signing takes the password from the secret: no COSIGN_PASSWORD, no prompt.
  const blob = new TextEncoder().encode("signed with a key from a secret");
  await Deno.writeFile(`${p}/blob`, blob);
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
  const sig = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/sig`)).trim());
  assert((await opensslVerify(`${p}/k.pub`, blob, sig, "sha256")).ok, "openssl verifies");
  r = await cosign(
    ["verify-blob", "--key", ref, "--signature", `${p}/sig`, "--insecure-ignore-tlog", `${p}/blob`],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);

  const img = await pushImage(reg, "kms/k8s:v1");
  const imageRef = `${reg.host}/kms/k8s@${img.digest}`;
  r = await cosign(
    ["sign", "--new-bundle-format=false", "--key", ref, "--tlog-upload=false", imageRef],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", ref, "--insecure-ignore-tlog", imageRef], { env });
  assertEquals(r.code, 0, r.stderr);
  r = await cosign(["verify", "--key", `${p}/k.pub`, "--insecure-ignore-tlog", imageRef], { env });
  assertEquals(r.code, 0, r.stderr);
  assert(
    k8s.calls.every((c) => c.authorization === `Bearer ${TOKEN}`),
    "every request carries the kubeconfig's token",
  );
});

Deno.test("k8s: an existing secret is updated keeping its other data; an immutable one is refused", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using k8s = await startFakeK8s({ dir: p, token: TOKEN });
  const env = k8sEnv(k8s.kubeconfig, p, { COSIGN_PASSWORD: PW });
  k8s.secrets.set("ns/existing", {
    metadata: { name: "existing", namespace: "ns", resourceVersion: "7" },
    data: { other: btoa("keep me") },
    type: "Opaque",
  });
  let r = await cosign(
    ["generate-key-pair", "k8s://ns/existing", "--output-key-prefix", `${p}/a`],
    {
      env,
    },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(k8s.calls.at(-1)!.method, "PUT");
  const s = k8s.secrets.get("ns/existing")!;
  assertEquals(Object.keys(s.data).sort(), [
    "cosign.key",
    "cosign.password",
    "cosign.pub",
    "other",
  ]);
  assertEquals(field(s.data.other), "keep me");
  // It is now immutable: generating again fails, naming the secret, and writes no .pub.
  r = await cosign(["generate-key-pair", "k8s://ns/existing", "--output-key-prefix", `${p}/b`], {
    env,
  });
  assertFails(
    r,
    1,
    /Cannot use key k8s:\/\/ns\/existing \(Kubernetes\): updating the secret: HTTP 422/,
  );
  assert(!(await exists(`${p}/b.pub`)), "no public key written");
});

Deno.test("k8s: failures are one line naming the provider, the secret and the cause; malformed references", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using k8s = await startFakeK8s({ dir: p, token: TOKEN });
  k8s.forbidden.add("locked");
  const kc = await Deno.readTextFile(k8s.kubeconfig);
  await Deno.writeTextFile(`${p}/wrong-token`, kc.replace(`token: ${TOKEN}`, "token: wrong"));
  await Deno.writeTextFile(`${p}/unreachable`, kc.replace(k8s.url, "https://127.0.0.1:9"));
  await Deno.writeFile(`${p}/blob`, new TextEncoder().encode("x"));
  const cases: [string, Env, RegExp][] = [
    [
      "k8s://ns/missing",
      k8sEnv(k8s.kubeconfig, p),
      /secret not found \(reading the secret: HTTP 404/,
    ],
    ["k8s://ns/any", k8sEnv(`${p}/wrong-token`, p), /permission denied \(.*HTTP 401: Unauthorized/],
    [
      "k8s://locked/any",
      k8sEnv(k8s.kubeconfig, p),
      /permission denied \(.*HTTP 403: secrets is forbidden/,
    ],
    ["k8s://ns/any", k8sEnv(`${p}/unreachable`, p), /cannot reach 127\.0\.0\.1:9/],
    ["k8s://ns/any", k8sEnv(`${p}/none`, p), /no cluster configuration/],
  ];
  for (const [ref, env, cause] of cases) {
    const r = await cosign(
      ["sign-blob", "--key", ref, "--tlog-upload=false", "--timeout", "5s", `${p}/blob`],
      { env },
    );
    assertFails(
      r,
      1,
      new RegExp(`Cannot use key ${ref.replaceAll("/", "\\/")} \\(Kubernetes\\): `),
    );
    assert(cause.test(r.stderr), `${ref}: ${r.stderr}`);
  }
  const before = k8s.calls.length;
  for (const ref of ["k8s://ns", "k8s://ns/a/b", "k8s://NS/x", "k8s:///x", "k8s://ns/"]) {
    const r = await cosign(["verify-blob", "--key", ref, "--signature", "AAAA", `${p}/blob`], {
      env: k8sEnv(k8s.kubeconfig, p),
    });
    assertFails(r, 2, /Invalid key reference .*expected k8s:\/\/NAMESPACE\/SECRET/);
  }
  assertEquals(k8s.calls.length, before, "no request for a malformed reference");
});
