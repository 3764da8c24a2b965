/**
 * cosign's persistent root flags: `-d/--verbose` (a request and decision trace on stderr with
 * every credential redacted) and `--output-file` (stdout goes to a file), before or after the
 * command name and from `COSIGN_VERBOSE` / `COSIGN_OUTPUT_FILE`, against the real registry with
 * Basic and Bearer-token auth.
 */
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

/** Every form a credential of this test could leak in. */
function leaks(stderr: string, user: string, pass: string): string[] {
  const found: string[] = [];
  if (stderr.includes(pass)) found.push("the password");
  if (stderr.includes(btoa(`${user}:${pass}`))) found.push("Basic user:password");
  if (/eyJ[A-Za-z0-9_-]{10,}/.test(stderr)) found.push("a JWT");
  if (/authorization: (Basic|Bearer) /i.test(stderr)) found.push("an Authorization value");
  return found;
}

for (const mode of ["htpasswd", "token"] as const) {
  Deno.test(`-d/--verbose (${mode}): requests and decisions traced, credentials redacted`, async () => {
    await using reg = await startRegistry({ mode });
    await using d = await tempDir();
    const img = await pushImage(reg, "test/verbose:v1");
    const creds = ["--registry-username", reg.username!, "--registry-password", reg.password!];
    const ref = `${reg.host}/test/verbose:v1`;
    const env = { HOME: d.path };

    const r = await cosign(["-d", "triangulate", "--type", "digest", ...creds, ref], { env });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.out, `${reg.host}/test/verbose@${img.digest}\n`, "stdout is unchanged");
    const trace = r.stderr;
    assert(trace.includes(`--> GET http://${reg.host}/v2/test/verbose/manifests/v1`), trace);
    assert(/<-- 401 GET/.test(trace) && /<-- 200 GET/.test(trace), trace);
    assert(/authorization: <redacted>/.test(trace), `the credential header is shown redacted`);
    assert(trace.includes("auth: " + reg.host + ": username and password from flags"), trace);
    assert(
      new RegExp(`401 with a ${mode === "token" ? "bearer" : "basic"} challenge`).test(trace),
      trace,
    );
    assert(trace.includes(`manifest ${ref}: ${img.digest}`), trace);
    assert(trace.includes("flags set: verbose, type, registry-username, registry-password"), trace);
    assertEquals(leaks(trace, reg.username!, reg.password!), []);

    // The same after the command name, and from COSIGN_VERBOSE; without it, no trace at all.
    const after = await cosign(["triangulate", "--type", "digest", ...creds, ref, "--verbose"], {
      env,
    });
    assertEquals(after.code, 0, after.stderr);
    assert(after.stderr.includes("DEBUG --> GET"), after.stderr);
    assertEquals(leaks(after.stderr, reg.username!, reg.password!), []);
    const fromEnv = await cosign(["triangulate", "--type", "digest", ...creds, ref], {
      env: { ...env, COSIGN_VERBOSE: "true" },
    });
    assert(fromEnv.stderr.includes("DEBUG --> GET"), fromEnv.stderr);
    const quiet = await cosign(["triangulate", "--type", "digest", ...creds, ref], { env });
    assertEquals(quiet.stderr, "");

    if (mode !== "htpasswd") return;
    // Credentials from docker's config.json: where they came from is traced, never what.
    await Deno.writeTextFile(
      `${d.path}/config.json`,
      JSON.stringify({ auths: { [reg.host]: { auth: btoa(`${reg.username}:${reg.password}`) } } }),
    );
    const cfg = await cosign(["triangulate", "-d", "--type", "digest", ref], {
      env: { HOME: d.path, DOCKER_CONFIG: d.path },
    });
    assertEquals(cfg.code, 0, cfg.stderr);
    assert(cfg.stderr.includes(`from auths["${reg.host}"] in ${d.path}/config.json`), cfg.stderr);
    assertEquals(leaks(cfg.stderr, reg.username!, reg.password!), []);
  });
}

Deno.test("--output-file: stdout goes to the file, before or after the command name", async () => {
  await using d = await tempDir();
  const before = await cosign(["--output-file", `${d.path}/a.txt`, "version", "--json"]);
  assertEquals(before.code, 0, before.stderr);
  assertEquals(before.out, "");
  const json = JSON.parse(await Deno.readTextFile(`${d.path}/a.txt`));
  assert(typeof json.gitVersion === "string", JSON.stringify(json));

  // After the name, with `=`, truncating what was there; a non-registry command with a file.
  await Deno.writeTextFile(`${d.path}/b.txt`, "x".repeat(10_000));
  await Deno.writeTextFile(`${d.path}/blob`, "hello");
  const after = await cosign([
    "triangulate",
    "--type",
    "digest",
    "example.com/a@sha256:" + "a".repeat(64),
    `--output-file=${d.path}/b.txt`,
  ]);
  assertEquals(after.code, 0, after.stderr);
  assertEquals(after.out, "");
  assertEquals(
    await Deno.readTextFile(`${d.path}/b.txt`),
    "example.com/a@sha256:" + "a".repeat(64) + "\n",
  );

  const env = await cosign(["version"], { env: { COSIGN_OUTPUT_FILE: `${d.path}/c.txt` } });
  assertEquals(env.code, 0, env.stderr);
  assertEquals(env.out, "");
  assert((await Deno.readTextFile(`${d.path}/c.txt`)).length > 0, "COSIGN_OUTPUT_FILE");

  assertFails(
    await cosign(["version", "--output-file", `${d.path}/no/such/dir/x`]),
    1,
    /--output-file .*no such/,
  );
  assertFails(await cosign(["version", "--output-file", d.path]), 1, /--output-file .*directory/);
});

Deno.test("global flags appear in every command's help and the program's", async () => {
  const h = await cosign(["sign-blob", "--help"]);
  assertEquals(h.code, 0);
  assert(/Global flags:\n\s+-d, --verbose\s+trace/.test(h.out), h.out);
  assert(/--output-file FILE/.test(h.out), h.out);
  const p = await cosign(["--help"]);
  assert(/Global flags:/.test(p.out) && /-d, --verbose/.test(p.out), p.out);
  // A global flag before an unknown command still names the command.
  assertFails(await cosign(["-d", "nosuch"]), 2, /unknown command "nosuch"/);
});
