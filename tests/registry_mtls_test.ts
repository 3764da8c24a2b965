/**
 * Registry mutual TLS (`--registry-client-cert`, `--registry-client-key`) and
 * `--registry-server-name`, against the real CNCF distribution registry demanding client
 * certificates (`http.tls.clientcas`), and `--k8s-keychain`, which is refused with its reason.
 */
import { pushImage, startRegistry } from "./harness/mod.ts";
import { makeClientCert, makeTls } from "./harness/registry.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { cosignProgram } from "../lib/cli/cosign.ts";

const PW = "mtls-pw";

Deno.test("mTLS: sign and verify through a registry that demands a client certificate", async () => {
  await using reg = await startRegistry({ mode: "tls", clientCerts: true });
  await using d = await tempDir();
  const env = { HOME: d.path, COSIGN_PASSWORD: PW };
  const pushed = await pushImage(reg, "test/mtls:v1"); // skopeo, with the pair in its cert dir
  const ref = `${reg.host}/test/mtls@${pushed.digest}`;
  const tls = [
    "--registry-cacert",
    reg.caCertPath!,
    "--registry-client-cert",
    reg.clientCertPath!,
    "--registry-client-key",
    reg.clientKeyPath!,
  ];

  // Without a client certificate the handshake fails, and the error says what to pass.
  const tagged = `${reg.host}/test/mtls:v1`;
  const bare = await cosign(
    ["triangulate", "--type", "digest", "--registry-cacert", reg.caCertPath!, tagged],
    { env },
  );
  assertFails(bare, 1, /refused a connection without a client certificate.*--registry-client-cert/);

  const gen = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/k`], { env });
  assertEquals(gen.code, 0, gen.stderr);
  const sign = await cosign([
    "sign",
    "--key",
    `${d.path}/k.key`,
    "--tlog-upload=false",
    "--new-bundle-format=false",
    ...tls,
    ref,
  ], { env });
  assertEquals(sign.code, 0, sign.stderr);
  const verify = await cosign([
    "verify",
    "--key",
    `${d.path}/k.pub`,
    "--insecure-ignore-tlog",
    ...tls,
    ref,
  ], { env });
  assertEquals(verify.code, 0, verify.stderr);
  assert(verify.out.includes(pushed.digest), verify.out);

  // A certificate from another CA is refused by the registry: named as ours being refused.
  await Deno.mkdir(`${d.path}/other`);
  await makeTls(`${d.path}/other`);
  const foreign = await makeClientCert(`${d.path}/other`, "foreign");
  const wrong = await cosign([
    "triangulate",
    "--type",
    "digest",
    "--registry-cacert",
    reg.caCertPath!,
    "--registry-client-cert",
    foreign.cert,
    "--registry-client-key",
    foreign.key,
    tagged,
  ], { env });
  assertFails(wrong, 1, /refused our client certificate/);
});

Deno.test("--registry-server-name: the certificate is checked against the name given", async () => {
  await using reg = await startRegistry({
    mode: "tls",
    clientCerts: true,
    serverName: "registry.test",
  });
  await using d = await tempDir();
  await Deno.writeTextFile(`${d.path}/hello.txt`, "hello\n");
  const base = [
    "--registry-cacert",
    reg.caCertPath!,
    "--registry-client-cert",
    reg.clientCertPath!,
    "--registry-client-key",
    reg.clientKeyPath!,
  ];
  const env = { HOME: d.path };
  const upload = (extra: string[]) =>
    cosign(
      ["upload", "blob", "-f", `${d.path}/hello.txt`, ...base, ...extra, `${reg.host}/t/b:v1`],
      {
        env,
      },
    );
  // The certificate names registry.test only: 127.0.0.1 does not match it.
  assertFails(await upload([]), 1, /not valid for 127\.0\.0\.1.*--registry-server-name/);
  assertFails(
    await upload(["--registry-server-name", "other.test"]),
    1,
    /not valid for other\.test/,
  );
  const ok = await upload(["--registry-server-name", "registry.test"]);
  assertEquals(ok.code, 0, ok.stderr);
  const digest = ok.out.trim().split("@")[1]!;
  const t = await cosign([
    "triangulate",
    "--type",
    "digest",
    ...base,
    "--registry-server-name",
    "registry.test",
    `${reg.host}/t/b:v1`,
  ], { env });
  assertEquals(t.code, 0, t.stderr);
  assertEquals(t.out, `${reg.host}/t/b@${digest}\n`);
});

Deno.test("mTLS flags: bad pairs are usage errors before any request", async () => {
  await using d = await tempDir();
  const tls = await makeTls(d.path);
  const client = await makeClientCert(d.path);
  const ref = "127.0.0.1:9/none/x:v1"; // nothing listens there: a request would fail differently
  const run = (flags: string[]) =>
    cosign(["triangulate", ...flags, ref], { env: { HOME: d.path } });
  assertFails(
    await run(["--registry-client-cert", client.cert]),
    2,
    /--registry-client-cert and --registry-client-key go together/,
  );
  assertFails(
    await run(["--registry-client-cert", client.cert, "--registry-client-key", tls.key]),
    2,
    /is not the key of --registry-client-cert/,
  );
  assertFails(
    await run(["--registry-client-cert", client.key, "--registry-client-key", client.key]),
    2,
    /not a PEM certificate/,
  );
  assertFails(
    await run(["--registry-client-cert", client.cert, "--registry-client-key", client.cert]),
    2,
    /not an unencrypted PEM private key/,
  );
  assertFails(
    await run([
      "--registry-client-cert",
      `${d.path}/nope.crt`,
      "--registry-client-key",
      client.key,
    ]),
    1,
    /nope\.crt: no such file/,
  );
  assertFails(await run(["--registry-server-name", "bad name"]), 2, /--registry-server-name/);
});

Deno.test("--k8s-keychain: refused with its reason, from the flag and from COSIGN_K8S_KEYCHAIN", async () => {
  const r = await cosign(["triangulate", "--k8s-keychain", "example.com/a:b"]);
  assertFails(r, 2, /^Error: --k8s-keychain is not supported: .*credHelpers/);
  const e = await cosign(["triangulate", "example.com/a:b"], {
    env: { COSIGN_K8S_KEYCHAIN: "true" },
  });
  assertFails(e, 2, /--k8s-keychain is not supported/);
  const help = await cosign(["copy", "--help"]);
  assert(/--k8s-keychain\s+not supported:/.test(help.out), help.out);
});

Deno.test("every registry command takes the mTLS, server-name, k8s and tag-prefix flags", async () => {
  const want = [
    "registry-client-cert",
    "registry-client-key",
    "registry-server-name",
    "k8s-keychain",
    "attachment-tag-prefix",
  ];
  let registryCommands = 0;
  for (const [name, c] of Object.entries(cosignProgram.commands)) {
    const { spec } = await c.load();
    if (!("registry-cacert" in spec.flags)) continue;
    registryCommands++;
    for (const f of want) assert(f in spec.flags, `${name} lacks --${f}`);
  }
  assert(registryCommands >= 19, `only ${registryCommands} registry commands found`);
});
