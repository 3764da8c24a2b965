/**
 * Builds the standalone `cosign` and `sget` executables with `deno compile` (`deno task compile`).
 *
 * ```
 * deno task compile                      # host target: dist/cosign, dist/sget
 * deno task compile --target T [...]     # dist/T/cosign, dist/T/sget (.exe on Windows)
 * deno task compile --all-targets        # every release target, each in dist/T/
 * deno task compile --out-dir DIR        # instead of dist/
 * ```
 *
 * `deno compile` appends the program to a prebuilt Deno runtime, `denort`. It takes that runtime
 * from `DENORT_BIN` when set (a local denort binary; Deno uses it for every target, so this
 * script passes it on only for the target it was built for, judged from its executable header),
 * else from its cache (`DENO_DIR/dl/release/vX/denort-T.zip`), else it downloads it from
 * dl.deno.land. Where that host cannot be reached `deno compile` either fails at once (no DNS) or
 * waits forever (a firewall or proxy that drops the connection), and leaves a half-written
 * `OUT.tmp-…` file when killed. So before compiling this script checks, within
 * {@link PROBE_TIMEOUT_MS}, that every runtime it needs can be had, and fails with one line
 * naming the target otherwise; each `deno compile` runs under a time limit, in a staging folder
 * whose executables are moved into place only when all of a target's programs were built (and,
 * for the host target, answered `--help`), so a failure never leaves a partial executable.
 * @module
 */

import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** The release targets (`--all-targets`). */
export const RELEASE_TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** The executables: each is `cli.ts` with this first argument baked in. */
export const PROGRAMS = ["cosign", "sget"] as const;

/**
 * Permissions baked into the executables: the narrowest set the commands need today (files,
 * environment, network for registries, Rekor, Fulcio, KMS and sget; `--allow-sys` for the AWS
 * and Azure SDKs, which read the OS release and CA store; `--allow-run` for KMS plugins,
 * `sigstore-kms-SCHEME` from PATH). `--no-prompt` makes a missing permission an error instead of
 * a Deno prompt that would read the user's stdin. PIV tokens (Deno FFI) will need `--allow-ffi`:
 * add it here when they land (tests/compile_test.ts and tests/kms_permissions_test.ts check
 * this set).
 */
export const PERMISSIONS = [
  "--no-prompt",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net",
  "--allow-sys",
  "--allow-run",
] as const;

/** How long the reachability check of dl.deno.land may take. */
export const PROBE_TIMEOUT_MS = 15_000;
/** How long one `deno compile` (including a runtime download) may take. */
export const COMPILE_TIMEOUT_MS = 10 * 60_000;
/** How long the built host executable may take to answer `--help`. */
const SMOKE_TIMEOUT_MS = 30_000;

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DOWNLOAD_HOST = "https://dl.deno.land/";

/** A failure with a one-line message and an exit code. */
class CompileError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** The target of an executable, judged from its header (ELF, Mach-O or PE), if it is one. */
export function executableTarget(head: Uint8Array): string | undefined {
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 20 && dv.getUint32(0, false) === 0x7f454c46) {
    const machine = dv.getUint16(18, head[5] !== 2);
    if (machine === 62) return "x86_64-unknown-linux-gnu";
    if (machine === 183) return "aarch64-unknown-linux-gnu";
    return undefined;
  }
  if (head.length >= 8 && dv.getUint32(0, true) === 0xfeedfacf) {
    const cpu = dv.getUint32(4, true);
    if (cpu === 0x01000007) return "x86_64-apple-darwin";
    if (cpu === 0x0100000c) return "aarch64-apple-darwin";
    return undefined;
  }
  if (head.length >= 64 && head[0] === 0x4d && head[1] === 0x5a) {
    const pe = dv.getUint32(0x3c, true);
    if (pe + 6 <= head.length && dv.getUint32(pe, true) === 0x00004550) {
      const machine = dv.getUint16(pe + 4, true);
      if (machine === 0x8664) return "x86_64-pc-windows-msvc";
      if (machine === 0xaa64) return "aarch64-pc-windows-msvc";
    }
  }
  return undefined;
}

/** The one-line message for a runtime that cannot be had. */
export function denortUnavailable(target: string, reason: string): string {
  return `the Deno runtime (denort) for target ${target} could not be downloaded from ` +
    `${DOWNLOAD_HOST} (${reason}); set DENORT_BIN to a local denort binary for ${target}, ` +
    `or run where dl.deno.land is reachable`;
}

interface Options {
  targets: string[];
  /** Host build without --target: executables directly in outDir. */
  flat: boolean;
  outDir: string;
}

const USAGE = "usage: deno task compile [--target T]... [--all-targets] [--out-dir DIR]";

function parseOptions(args: string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        target: { type: "string", multiple: true },
        "all-targets": { type: "boolean" },
        "out-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new CompileError(`${(e as Error).message}; ${USAGE}`, 2);
  }
  const v = parsed.values;
  if (v.help) return "help";
  const host = Deno.build.target;
  const known: string[] = [...RELEASE_TARGETS, host];
  const requested = v["all-targets"] ? [...RELEASE_TARGETS, ...(v.target ?? [])] : v.target ?? [];
  for (const t of requested) {
    if (!known.includes(t)) {
      throw new CompileError(`unknown target ${t}; known: ${[...new Set(known)].join(", ")}`, 2);
    }
  }
  const base = Deno.env.get("INIT_CWD") || Deno.cwd();
  const outDir = v["out-dir"] === undefined
    ? join(ROOT, "dist")
    : isAbsolute(v["out-dir"])
    ? v["out-dir"]
    : resolve(base, v["out-dir"]);
  return {
    targets: requested.length ? [...new Set(requested)] : [host],
    flat: requested.length === 0,
    outDir,
  };
}

/** Where `deno compile` takes a target's runtime from. */
type RuntimeSource = { kind: "denort-bin"; path: string } | { kind: "cache" | "download" };

async function denoDir(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const info = JSON.parse(new TextDecoder().decode(r.stdout)) as { denoDir?: unknown };
    return typeof info.denoDir === "string" ? info.denoDir : undefined;
  } catch {
    return undefined;
  }
}

function runtimeUrl(target: string): string {
  return `${DOWNLOAD_HOST}release/v${Deno.version.deno}/denort-${target}.zip`;
}

async function isFile(path: string): Promise<boolean> {
  return (await Deno.stat(path).catch(() => null))?.isFile ?? false;
}

/** Answers why a runtime cannot be downloaded, or undefined when it can. */
async function probe(target: string): Promise<string | undefined> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), PROBE_TIMEOUT_MS);
  try {
    const res = await fetch(runtimeUrl(target), { method: "HEAD", signal: ctl.signal });
    await res.body?.cancel();
    return res.ok ? undefined : `HTTP ${res.status}`;
  } catch (e) {
    if (ctl.signal.aborted) return `no answer within ${PROBE_TIMEOUT_MS / 1000} s`;
    let cause: unknown = e;
    while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    const msg = (cause instanceof Error ? cause.message : String(cause)).split("\n")[0] ?? "";
    return msg.replace(/^error sending request for url \([^)]*\): /, "") || "request failed";
  } finally {
    clearTimeout(timer);
  }
}

/** Decides, for every target, where its runtime comes from; fails when one cannot be had. */
async function resolveRuntimes(targets: string[]): Promise<Map<string, RuntimeSource>> {
  const sources = new Map<string, RuntimeSource>();
  const denortBin = Deno.env.get("DENORT_BIN") || undefined;
  let denortTarget: string | undefined;
  if (denortBin !== undefined) {
    let head: Uint8Array;
    try {
      using f = await Deno.open(denortBin, { read: true });
      if (!(await f.stat()).isFile) throw new Error("not a file");
      const buf = new Uint8Array(4096);
      let n = 0;
      for (;;) {
        const r = await f.read(buf.subarray(n));
        if (r === null || r === 0) break;
        n += r;
        if (n === buf.length) break;
      }
      head = buf.subarray(0, n);
    } catch (e) {
      throw new CompileError(`DENORT_BIN=${denortBin} cannot be read: ${(e as Error).message}`);
    }
    denortTarget = executableTarget(head);
    if (denortTarget === undefined) {
      throw new CompileError(`DENORT_BIN=${denortBin} is not a denort executable`);
    }
  }
  const dir = await denoDir();
  const toProbe: string[] = [];
  for (const t of targets) {
    const cached = dir !== undefined &&
      await isFile(join(dir, "dl", "release", `v${Deno.version.deno}`, `denort-${t}.zip`));
    if (denortBin !== undefined && denortTarget === t) {
      sources.set(t, { kind: "denort-bin", path: denortBin });
    } else if (cached) {
      sources.set(t, { kind: "cache" });
    } else {
      sources.set(t, { kind: "download" });
      toProbe.push(t);
    }
  }
  const reasons = await Promise.all(toProbe.map(probe));
  for (const [i, t] of toProbe.entries()) {
    const reason = reasons[i];
    if (reason === undefined) continue;
    const note = denortBin !== undefined
      ? ` (DENORT_BIN=${denortBin} is a denort for ${denortTarget}, not ${t})`
      : "";
    throw new CompileError(denortUnavailable(t, reason) + note);
  }
  return sources;
}

/** Runs a command with a time limit; kills it when the limit passes. */
async function runLimited(
  cmd: string,
  args: string[],
  opts: { env: Record<string, string>; cwd: string; timeoutMs: number },
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  running.add(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, opts.timeoutMs);
  try {
    const r = await child.output();
    const dec = new TextDecoder();
    return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr), timedOut };
  } finally {
    clearTimeout(timer);
    running.delete(child);
  }
}

const running = new Set<Deno.ChildProcess>();
const staging = new Set<string>();

function exeName(program: string, target: string): string {
  return target.includes("windows") ? `${program}.exe` : program;
}

/** The deepest cause in a `deno compile` error report. */
function lastCause(stderr: string): string {
  // deno colours its output when it believes the terminal can take it
  // deno-lint-ignore no-control-regex
  const plain = stderr.replace(/\x1b\[[0-9;]*m/g, "");
  const causes = plain.split("\n").map((l) => /^\s*\d+: (.*)$/.exec(l)?.[1]).filter(Boolean);
  return causes.at(-1) ?? plain.split("\n").find((l) => l.startsWith("error:")) ?? "failed";
}

/** Builds every program for one target into `dest`; nothing lands there unless all succeed. */
async function buildTarget(
  target: string,
  source: RuntimeSource,
  dest: string,
  outDir: string,
): Promise<string[]> {
  const stage = await Deno.makeTempDir({ dir: outDir, prefix: ".staging-" });
  staging.add(stage);
  try {
    const env = Deno.env.toObject();
    // deno uses DENORT_BIN for any target: pass it on only for the one it was built for.
    if (source.kind === "denort-bin") env.DENORT_BIN = source.path;
    else delete env.DENORT_BIN;
    env.NO_COLOR = "1";
    for (const program of PROGRAMS) {
      const out = join(stage, exeName(program, target));
      const r = await runLimited(Deno.execPath(), [
        "compile",
        "--quiet",
        "--config",
        join(ROOT, "deno.json"),
        ...PERMISSIONS,
        "--target",
        target,
        "--output",
        out,
        join(ROOT, "cli.ts"),
        program,
      ], { env, cwd: ROOT, timeoutMs: COMPILE_TIMEOUT_MS });
      if (r.timedOut) {
        const limit = `deno compile did not finish within ${COMPILE_TIMEOUT_MS / 1000} s`;
        throw new CompileError(
          source.kind === "download"
            ? denortUnavailable(target, limit)
            : `${limit} (${program}, target ${target})`,
        );
      }
      if (r.code !== 0) {
        if (/Setting up base binary|dl\.deno\.land/.test(r.stderr)) {
          throw new CompileError(denortUnavailable(target, lastCause(r.stderr)));
        }
        if (/Could not find denort/.test(r.stderr)) {
          throw new CompileError(`DENORT_BIN: ${lastCause(r.stderr)}`);
        }
        await Deno.stderr.write(new TextEncoder().encode(r.stderr));
        throw new CompileError(`deno compile ${program} for ${target} failed (exit ${r.code})`);
      }
    }
    if (target === Deno.build.target) await smokeTest(stage, target, source);
    await Deno.mkdir(dest, { recursive: true });
    const written: string[] = [];
    for (const program of PROGRAMS) {
      const name = exeName(program, target);
      await Deno.rename(join(stage, name), join(dest, name));
      written.push(join(dest, name));
    }
    return written;
  } finally {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    staging.delete(stage);
  }
}

/** Checks that the built host executables run as cosign and sget. */
async function smokeTest(stage: string, target: string, source: RuntimeSource): Promise<void> {
  // Run outside the project: a plain deno (not denort) would pick up its deno.json.
  const cwd = await Deno.makeTempDir({ prefix: "cosign-compile-smoke-" });
  try {
    const env = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("COSIGN_")),
    );
    for (const program of PROGRAMS) {
      const exe = join(stage, exeName(program, target));
      const r = await runLimited(exe, ["--help"], { env, cwd, timeoutMs: SMOKE_TIMEOUT_MS });
      if (r.code !== 0 || !r.stdout.includes(`Usage: ${program} `)) {
        const hint = source.kind === "denort-bin"
          ? `; is DENORT_BIN=${source.path} really a denort ${Deno.version.deno} runtime?`
          : "";
        throw new CompileError(
          `the built ${program} does not run as ${program} (\`${program} --help\` exit ` +
            `${r.code}${r.timedOut ? ", timed out" : ""})${hint}`,
        );
      }
    }
  } finally {
    await Deno.remove(cwd, { recursive: true }).catch(() => {});
  }
}

/** Ends running children and removes staging folders (on Ctrl-C or a kill). */
function onSignal(): void {
  for (const c of running) {
    try {
      c.kill("SIGKILL");
    } catch { /* already gone */ }
  }
  for (const s of staging) {
    try {
      Deno.removeSync(s, { recursive: true });
    } catch { /* already gone */ }
  }
  Deno.exit(130);
}

async function main(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  if (opts === "help") {
    console.log(USAGE);
    return 0;
  }
  const sources = await resolveRuntimes(opts.targets);
  await Deno.mkdir(opts.outDir, { recursive: true });
  // dist/ is build output: keep it out of git without touching the project's .gitignore.
  const ignore = join(opts.outDir, ".gitignore");
  if (!(await isFile(ignore))) await Deno.writeTextFile(ignore, "*\n");
  for (const target of opts.targets) {
    const dest = opts.flat ? opts.outDir : join(opts.outDir, target);
    const written = await buildTarget(target, sources.get(target)!, dest, opts.outDir);
    for (const w of written) console.log(`Compiled ${w} (${target})`);
  }
  return 0;
}

if (import.meta.main) {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(sig, onSignal);
    } catch { /* not supported on this platform */ }
  }
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`error: ${msg.split("\n")[0]}`);
    code = e instanceof CompileError ? e.exitCode : 1;
  }
  Deno.exit(code);
}
