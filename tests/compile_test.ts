/**
 * `deno task compile` (scripts/compile.ts). This machine cannot download Deno's `denort`
 * runtime, so the tests check that the script then fails fast with one clear line and leaves no
 * executable behind, also when the network swallows connections instead of refusing them. A
 * real build is tested only when `DENORT_BIN` names a real denort.
 * @module
 */

import { assert, assertEquals, ROOT, tempDir } from "./helpers.ts";
import { executableTarget, PERMISSIONS, RELEASE_TARGETS } from "../scripts/compile.ts";

/** The time within which a build that cannot get its runtime must have failed. */
const BOUND_MS = 60_000;

interface ScriptRun {
  code: number;
  stdout: string;
  /** stderr without `deno task`'s own `Task compile …` line. */
  stderr: string;
  ms: number;
}

/** Runs the compile script (through `deno task` when `task`), killed if it outlives the bound. */
async function compile(
  args: string[],
  opts: { env?: Record<string, string>; task?: boolean; denoDir?: string },
): Promise<ScriptRun> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (k !== "DENORT_BIN" && !/^(https?_proxy|no_proxy|all_proxy)$/i.test(k)) env[k] = v;
  }
  // An empty DENO_DIR: no denort cached from an earlier download.
  if (opts.denoDir !== undefined) env.DENO_DIR = opts.denoDir;
  Object.assign(env, { NO_COLOR: "1" }, opts.env ?? {});
  const cmdArgs = opts.task
    ? ["task", "--config", ROOT + "deno.json", "compile", ...args]
    : ["run", "--allow-all", ROOT + "scripts/compile.ts", ...args];
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: cmdArgs,
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, BOUND_MS + 30_000);
  try {
    const r = await child.output();
    const dec = new TextDecoder();
    // deno's own lines: the task it runs, npm packages it fetches for the project's config
    const stderr = dec.decode(r.stderr).split("\n")
      .filter((l) => !/^(Task compile |Download https:\/\/registry\.npmjs\.org\/)/.test(l))
      .join("\n");
    return { code: r.code, stdout: dec.decode(r.stdout), stderr, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** Every path under `dir` (relative), or null when it does not exist. */
async function tree(dir: string): Promise<string[] | null> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for await (const e of Deno.readDir(dir + rel)) {
      out.push(rel + e.name);
      if (e.isDirectory) await walk(rel + e.name + "/");
    }
  }
  try {
    await walk("/");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return out.sort();
}

/** Asserts the single-line "cannot download denort" failure for `target`. */
function assertDenortFailure(r: ScriptRun, target: string): void {
  assert(r.code === 1, `exit ${r.code}, expected 1; stderr: ${r.stderr}`);
  assert(r.ms < BOUND_MS, `took ${Math.round(r.ms)} ms, more than ${BOUND_MS} ms`);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 1, `one line expected on stderr: ${r.stderr}`);
  const line = lines[0]!;
  const expect = new RegExp(
    `^error: the Deno runtime \\(denort\\) for target ${target} could not be downloaded .*` +
      `set DENORT_BIN to a local denort binary.*or run where dl\\.deno\\.land is reachable`,
  );
  assert(expect.test(line), `unexpected message: ${line}`);
  assertEquals(r.stdout, "", "nothing on stdout");
}

/** Whether deno's cache already holds the runtime for the host (then a build would work). */
async function hostRuntimeCached(): Promise<boolean> {
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  const dir = (JSON.parse(new TextDecoder().decode(info.stdout)) as { denoDir: string }).denoDir;
  const zip = `${dir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  return (await Deno.stat(zip).catch(() => null)) !== null;
}

/** Whether `host` has an address (within 5 s). */
async function resolves(host: string): Promise<boolean> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    return (await Deno.resolveDns(host, "A", { signal: ctl.signal })).length > 0;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "compile: without DENORT_BIN, deno task compile fails fast and writes nothing",
  // Skipped only where deno has the host's denort cached: then compiling succeeds and there is
  // no failure to observe (never the case on a fresh machine here, which cannot download it).
  ignore: await hostRuntimeCached(),
  async fn() {
    // As a user runs it here: deno task, the project's dist/, the usual DENO_DIR. Where the
    // download host resolves, a proxy that refuses connections stands in for this machine.
    const env: Record<string, string> = {};
    if (await resolves("dl.deno.land")) {
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const proxy = `http://127.0.0.1:${closed.addr.port}`;
      closed.close();
      Object.assign(env, { HTTPS_PROXY: proxy, https_proxy: proxy });
    }
    const dist = ROOT + "dist";
    const before = await tree(dist);
    const r = await compile([], { task: true, env });
    assertDenortFailure(r, Deno.build.target);
    assertEquals(await tree(dist), before, "dist/ changed");
  },
});

Deno.test("compile: a network that swallows connections still fails within the bound", async () => {
  // A proxy that accepts connections and never answers: deno compile alone waits forever here.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of listener) held.push(c);
    } catch { /* closed */ }
  })();
  try {
    await using denoDir = await tempDir();
    await using out = await tempDir();
    const proxy = `http://127.0.0.1:${listener.addr.port}`;
    const r = await compile(["--all-targets", "--out-dir", out.path + "/dist"], {
      denoDir: denoDir.path,
      env: { HTTPS_PROXY: proxy, https_proxy: proxy, HTTP_PROXY: proxy, http_proxy: proxy },
    });
    assertDenortFailure(r, RELEASE_TARGETS[0]);
    assert(/no answer within/.test(r.stderr), `reason should be the time-out: ${r.stderr}`);
    assertEquals(await tree(out.path), [], "nothing written");
  } finally {
    listener.close();
    await accepting;
    for (const c of held) c.close();
  }
});

Deno.test("compile: a DENORT_BIN that is missing or not an executable is refused", async () => {
  await using denoDir = await tempDir();
  await using out = await tempDir();
  for (
    const [bin, message] of [
      [out.path + "/no-such-denort", /^error: DENORT_BIN=.*no-such-denort cannot be read/],
      [ROOT + "deno.json", /^error: DENORT_BIN=.*deno\.json is not a denort executable$/],
    ] as const
  ) {
    const r = await compile(["--out-dir", out.path + "/dist"], {
      denoDir: denoDir.path,
      env: { DENORT_BIN: bin },
    });
    assert(r.code === 1, `exit ${r.code}; stderr: ${r.stderr}`);
    assert(r.ms < BOUND_MS, `took ${Math.round(r.ms)} ms`);
    assert(message.test(r.stderr.trim()), `unexpected message: ${r.stderr}`);
    assertEquals(await tree(out.path), [], "nothing written");
  }
});

Deno.test("compile: a DENORT_BIN that is not denort leaves no executable", async () => {
  // The deno CLI itself is an executable for this target but not a runtime: the built files
  // would start deno, not cosign. The script must notice and keep nothing.
  await using denoDir = await tempDir();
  await using out = await tempDir();
  const r = await compile(["--out-dir", out.path + "/dist"], {
    denoDir: denoDir.path,
    env: { DENORT_BIN: Deno.execPath() },
  });
  assert(r.code === 1, `exit ${r.code}; stderr: ${r.stderr}`);
  assert(/does not run as cosign/.test(r.stderr), `unexpected message: ${r.stderr}`);
  assertEquals(await tree(out.path), ["/dist", "/dist/.gitignore"], "only dist/.gitignore");
});

Deno.test("compile: usage errors exit 2", async () => {
  await using denoDir = await tempDir();
  for (const args of [["--target", "sparc-sun-solaris"], ["--bogus"]]) {
    const r = await compile(args, { denoDir: denoDir.path });
    assert(r.code === 2, `${args}: exit ${r.code}; stderr: ${r.stderr}`);
    assertEquals(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
  }
});

Deno.test("compile: executable headers name their target", async () => {
  const head = new Uint8Array(4096);
  const f = await Deno.open(Deno.execPath());
  const n = await f.read(head);
  f.close();
  const own = executableTarget(head.subarray(0, n ?? 0));
  if ((RELEASE_TARGETS as readonly string[]).includes(Deno.build.target)) {
    assertEquals(own, Deno.build.target, "this deno's own target");
  }
  const macho = new Uint8Array(32);
  new DataView(macho.buffer).setUint32(0, 0xfeedfacf, true);
  new DataView(macho.buffer).setUint32(4, 0x0100000c, true);
  assertEquals(executableTarget(macho), "aarch64-apple-darwin", "Mach-O arm64");
  const pe = new Uint8Array(256);
  pe.set([0x4d, 0x5a]);
  new DataView(pe.buffer).setUint32(0x3c, 0x80, true);
  pe.set([0x50, 0x45, 0, 0, 0x64, 0x86], 0x80);
  assertEquals(executableTarget(pe), "x86_64-pc-windows-msvc", "PE x86_64");
  assertEquals(executableTarget(new TextEncoder().encode("{}")), undefined, "not an executable");
});

Deno.test("compile: the executables' permissions are enough for the commands", async () => {
  // The same flags the script bakes in, applied with deno run (with --no-prompt a missing
  // permission is an error, as in the compiled executables).
  await using dir = await tempDir();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("COSIGN_")) env[k] = v;
  }
  env.COSIGN_PASSWORD = "perm-test";
  async function cli(program: string, args: string[]): Promise<Deno.CommandOutput> {
    return await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...PERMISSIONS, "--config", ROOT + "deno.json", ROOT + "cli.ts"]
        .concat(program, args),
      cwd: dir.path,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  }
  const blob = dir.path + "/blob";
  await Deno.writeTextFile(blob, "permissions\n");
  for (
    const [program, args] of [
      ["cosign", ["version"]],
      ["cosign", ["--help"]],
      ["sget", ["--help"]],
      ["cosign", ["generate-key-pair"]],
      ["cosign", ["public-key", "--key", "cosign.key"]],
      ["cosign", ["sign-blob", "--key", "cosign.key", "--tlog-upload=false", "-y", blob]],
    ] as const
  ) {
    const r = await cli(program, [...args]);
    const err = new TextDecoder().decode(r.stderr);
    assert(r.code === 0, `${program} ${args.join(" ")}: exit ${r.code}: ${err}`);
    if (args[0] === "sign-blob") await Deno.writeFile(dir.path + "/blob.sig", r.stdout);
  }
  const v = await cli("cosign", [
    "verify-blob",
    "--key",
    "cosign.pub",
    "--signature",
    "blob.sig",
    "--insecure-ignore-tlog",
    blob,
  ]);
  assert(v.code === 0, `verify-blob: ${new TextDecoder().decode(v.stderr)}`);
});

Deno.test({
  name: "compile: with a real DENORT_BIN the executables sign and verify",
  // Skipped unless DENORT_BIN names a real denort: none can be had on this machine (dl.deno.land
  // is unreachable and no npm package ships denort), and a fake one would prove nothing.
  ignore: !Deno.env.get("DENORT_BIN"),
  async fn() {
    await using denoDir = await tempDir();
    await using out = await tempDir();
    const r = await compile(["--out-dir", out.path], {
      denoDir: denoDir.path,
      env: { DENORT_BIN: Deno.env.get("DENORT_BIN")! },
    });
    assert(r.code === 0, `compile failed: ${r.stderr}`);
    const exe = (name: string) =>
      out.path + "/" + name + (Deno.build.os === "windows" ? ".exe" : "");
    const env = { COSIGN_PASSWORD: "compiled" };
    const run = (name: string, args: string[]) =>
      new Deno.Command(exe(name), { args, cwd: out.path, env, stdin: "null" }).output();
    assert((await run("cosign", ["generate-key-pair"])).code === 0, "generate-key-pair");
    await Deno.writeTextFile(out.path + "/blob", "compiled\n");
    const sig = await run("cosign", [
      "sign-blob",
      "--key",
      "cosign.key",
      "--tlog-upload=false",
      "--output-signature",
      "blob.sig",
      "blob",
    ]);
    assert(sig.code === 0, `sign-blob: ${new TextDecoder().decode(sig.stderr)}`);
    const v = await run("cosign", [
      "verify-blob",
      "--key",
      "cosign.pub",
      "--signature",
      "blob.sig",
      "--insecure-ignore-tlog",
      "blob",
    ]);
    assert(v.code === 0, `verify-blob: ${new TextDecoder().decode(v.stderr)}`);
    assert((await run("sget", ["--help"])).code === 0, "sget --help");
  },
});
