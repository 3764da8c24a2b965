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
