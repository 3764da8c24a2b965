/**
 * The CLI as a new user meets it (issue 15): secrets stay with their own kind, help and exit
 * codes, user mistakes are one-line errors (never exit 3), and messages that say how to go on.
 */
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

Deno.test("login: COSIGN_PASSWORD (the key password) is never taken as --password", async () => {
  await using d = await tempDir();
  const env = { COSIGN_PASSWORD: "key-password-secret", DOCKER_CONFIG: `${d.path}/docker` };
  const r = await cosign(["login", "-u", "alice", "registry.example"], { env });
  assertFails(r, 2, /--password or --password-stdin/);
  let written = "";
  try {
    written = await Deno.readTextFile(`${d.path}/docker/config.json`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const leaked = new TextEncoder().encode("alice:key-password-secret").toBase64();
  assert(!written.includes(leaked), "the key password is not in config.json");
  // -p and --password-stdin still work, and the file holds exactly what was given.
  const ok = await cosign(["login", "-u", "alice", "--password-stdin", "registry.example"], {
    env,
    stdin: "registry-pw\n",
  });
  assertEquals(ok.code, 0, ok.stderr);
  const config = JSON.parse(await Deno.readTextFile(`${d.path}/docker/config.json`));
  assertEquals(
    config.auths["registry.example"].auth,
    new TextEncoder().encode("alice:registry-pw").toBase64(),
  );
});

Deno.test("attach signature: a value naming no file must be base64 of a signature; a directory is a clean error", async () => {
  await using d = await tempDir();
  // Nothing listens on port 1: an error about the registry would mean the value was accepted.
  const ref = "127.0.0.1:1/app/img:v1";
  const attach = (sig: string) => cosign(["attach", "signature", "--signature", sig, ref]);
  assertFails(
    await attach(`${d.path}/nosuchfile.sig`),
    1,
    /--signature ".*nosuchfile\.sig" is neither a file \(no such file\) nor a signature in base64 \(not valid base64\)/,
  );
  // Valid base64, but of 6 bytes that are no signature.
  assertFails(
    await attach("abcd1234"),
    1,
    /--signature "abcd1234" is neither a file \(no such file\) nor a signature in base64 \(it decodes to 6 bytes that are not a DER signature\)/,
  );
  assertFails(await attach(d.path), 1, /Cannot read signature .*: it is a directory/);
  await Deno.writeFile(`${d.path}/empty.sig`, new Uint8Array());
  assertFails(await attach(`${d.path}/empty.sig`), 1, /Signature file .*empty\.sig is empty/);
});

Deno.test("messages: an unreachable token realm is named as the token server, not as the registry", async () => {
  // A port nothing listens on, for the realm.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const realmHost = `127.0.0.1:${l.addr.port}`;
  l.close();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response('{"errors":[{"code":"UNAUTHORIZED"}]}', {
        status: 401,
        headers: {
          "www-authenticate": `Bearer realm="http://${realmHost}/token",service="registry.test"`,
        },
      }),
  );
  const registry = `127.0.0.1:${server.addr.port}`;
  const r = await cosign(["triangulate", `${registry}/app/img:v1`], {
    env: { DOCKER_CONFIG: "/nonexistent", COSIGN_DENO_NO_CACHE: "1" },
  });
  assertFails(
    r,
    1,
    new RegExp(
      `Cannot reach token server ${realmHost}: .*\\(the token server ${registry} named in its authentication challenge\\)`,
    ),
  );
  assert(!r.stderr.includes(`registry ${realmHost}`), r.stderr);
});

Deno.test("messages: SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY with a log serving HTML names the log's key, not SIGSTORE_REKOR_PUBLIC_KEY", async () => {
  await using d = await tempDir();
  const env = { COSIGN_PASSWORD: "pw" };
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/k`], { env });
  assertEquals(g.code, 0, g.stderr);
  await Deno.writeTextFile(`${d.path}/blob`, "blob");
  const s = await cosign(
    ["sign-blob", "--key", `${d.path}/k.key`, "--tlog-upload=false", `${d.path}/blob`],
    { env },
  );
  assertEquals(s.code, 0, s.stderr);
  await Deno.writeTextFile(`${d.path}/blob.sig`, s.out.trim());
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response("<html><body>Welcome</body></html>", {
        headers: { "content-type": "text/html" },
      }),
  );
  const log = `http://127.0.0.1:${server.addr.port}`;
  const r = await cosign([
    "verify-blob",
    "--key",
    `${d.path}/k.pub`,
    "--signature",
    `${d.path}/blob.sig`,
    "--rekor-url",
    log,
    `${d.path}/blob`,
  ], { env: { SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY: "1" }, unset: ["SIGSTORE_REKOR_PUBLIC_KEY"] });
  assertFails(
    r,
    1,
    new RegExp(`the public key ${log} serves \\(SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY\\)`),
  );
  assert(!r.stderr.includes("SIGSTORE_REKOR_PUBLIC_KEY:"), r.stderr);
});

Deno.test("help: command groups print their help with exit 0; bare cosign prints help with exit 0", async () => {
  const subcommands: Record<string, string[]> = {
    attach: ["signature", "attestation", "sbom"],
    download: ["signature", "attestation", "sbom"],
    upload: ["blob", "wasm"],
  };
  for (const [group, subs] of Object.entries(subcommands)) {
    for (const argv of [[group, "--help"], [group, "-h"], [group], ["help", group]]) {
      const r = await cosign(argv);
      assertEquals(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
      assert(r.out.includes(`Usage: cosign ${group} COMMAND`), r.out);
      for (const s of subs) assert(new RegExp(`^  ${s}\\s`, "m").test(r.out), `${s} in ${r.out}`);
      assertEquals(r.stderr, "");
    }
  }
  const bare = await cosign([]);
  assertEquals(bare.code, 0, bare.stderr);
  assert(bare.out.includes("Usage: cosign COMMAND"), bare.out);
  assertFails(await cosign(["attach", "nope"]), 2, /unknown command "attach nope"/);
});

Deno.test("tlog: when the default upload cannot reach the log, the error names --tlog-upload=false", async () => {
  await using d = await tempDir();
  const env = { COSIGN_PASSWORD: "pw" };
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/k`], { env });
  assertEquals(g.code, 0, g.stderr);
  await Deno.writeTextFile(`${d.path}/blob`, "blob");
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const log = `http://127.0.0.1:${l.addr.port}`;
  l.close(); // nothing listens there
  const r = await cosign(
    ["sign-blob", "--key", `${d.path}/k.key`, "--rekor-url", log, `${d.path}/blob`],
    { env },
  );
  assertFails(r, 1, /Cannot upload to the transparency log .*; .*pass --tlog-upload=false/);
  assertEquals(r.out, "", "no signature printed");
});
