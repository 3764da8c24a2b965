/**
 * `deno task cosign|sget ARGS` from another directory with `--config`: relative paths resolve
 * against the caller's directory, stdout carries only the command's output, and the exit code
 * is the CLI's.
 */
import { assert, assertEquals, ROOT, tempDir } from "./helpers.ts";

/**
 * Runs `deno task` as a user's shell would: `deno task` keeps an INIT_CWD it inherits (so tasks
 * nested in tasks see the outer caller's folder), and this suite itself may run under
 * `deno task test`, so the child must not inherit ours.
 */
async function task(cwd: string, args: string[], env: Record<string, string> = {}) {
  const inherited = Deno.env.toObject();
  delete inherited.INIT_CWD;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", ROOT + "deno.json", ...args],
    cwd,
    env: { ...inherited, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("deno task cosign: runs from any directory; relative paths are the caller's", async () => {
  await using d = await tempDir();
  const env = { COSIGN_PASSWORD: "pw" };
  const g = await task(d.path, ["cosign", "generate-key-pair", "--output-key-prefix", "rel"], env);
  assertEquals(g.code, 0, g.err);
  assertEquals(g.out, "", "stdout carries only the command's output");
  assert((await Deno.stat(`${d.path}/rel.key`)).isFile, "key written in the caller's directory");
  await Deno.writeTextFile(`${d.path}/blob.txt`, "task");
  const s = await task(d.path, [
    "cosign",
    "sign-blob",
    "--key",
    "rel.key",
    "--tlog-upload=false",
    "blob.txt",
  ], env);
  assertEquals(s.code, 0, s.err);
  assert(
    /^[A-Za-z0-9+/=]+\n$/.test(s.out),
    `stdout is exactly the signature: ${JSON.stringify(s.out)}`,
  );
  const v = await task(d.path, [
    "cosign",
    "verify-blob",
    "--key",
    "rel.pub",
    "--signature",
    s.out.trim(),
    "--insecure-ignore-tlog",
    "blob.txt",
  ]);
  assertEquals(v.code, 0, v.err);
  const bad = await task(d.path, [
    "cosign",
    "verify-blob",
    "--key",
    "rel.pub",
    "--signature",
    "x",
    "blob.txt",
  ]);
  assertEquals(bad.code, 1, "the CLI's exit code comes through");
  const usage = await task(d.path, ["cosign", "sign-blob"]);
  assertEquals(usage.code, 2, "usage exit code comes through");
});

Deno.test("deno task sget: runs the sget program", async () => {
  await using d = await tempDir();
  const v = await task(d.path, ["sget", "version", "--json"]);
  assertEquals(v.code, 0, v.err);
  assertEquals(JSON.parse(v.out).denoVersion, Deno.version.deno);
  const h = await task(d.path, ["sget", "--help"]);
  assertEquals(h.code, 0, h.err);
  assert(h.out.startsWith("sget"), h.out);
  const f = await task(d.path, ["sget", "localhost:5000/x@sha256:" + "0".repeat(64)]);
  assertEquals(f.code, 1, "downloading is refused until the registry client exists");
  assertEquals(f.out, "", "nothing on stdout");
});

Deno.test("deno task install: puts working cosign and sget commands in the install root", async () => {
  await using d = await tempDir();
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", ROOT + "deno.json", "install"],
    cwd: d.path,
    env: { DENO_INSTALL_ROOT: d.path },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  const v = await new Deno.Command(`${d.path}/bin/cosign`, {
    args: ["version", "--json"],
    stdout: "piped",
  }).output();
  assertEquals(v.code, 0);
  assertEquals(JSON.parse(new TextDecoder().decode(v.stdout)).denoVersion, Deno.version.deno);
  const s = await new Deno.Command(`${d.path}/bin/sget`, { args: ["--help"], stdout: "piped" })
    .output();
  assertEquals(s.code, 0);
  assert(new TextDecoder().decode(s.stdout).startsWith("sget"), "the sget command runs sget");
});
