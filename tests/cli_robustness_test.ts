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
