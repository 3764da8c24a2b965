/**
 * Test helpers: run the real CLI as a subprocess, temporary folders, fixture paths.
 * @module
 */

/** The repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;
/** `../shared/fixtures/` beside the repository (read-only input). */
export const FIXTURES = new URL("../../shared/fixtures/", import.meta.url).pathname;
/** The cosign key fixtures folder. */
export const KEYS = FIXTURES + "keys/";

/** What a CLI run produced. */
export interface RunResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
  /** stdout decoded as UTF-8. */
  out: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Bytes for stdin; when absent stdin is empty (not a TTY). */
  stdin?: Uint8Array | string;
  /** Remove these variables from the environment (COSIGN_PASSWORD is always removed unless set in env). */
  unset?: string[];
}

/**
 * The Deno cache of the test run. Deno keeps its caches (transpiled modules, V8 code cache,
 * dependency analysis) under `$HOME/.cache/deno` unless `DENO_DIR` says otherwise, so a CLI run
 * with a HOME of its own would start from an empty cache: every module transpiled again and
 * several SQLite caches written, seconds of CPU per run. Child processes get this one instead,
 * unless a test sets `DENO_DIR` itself.
 */
export const TEST_DENO_DIR: string = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/deno`;

/**
 * The command that runs `cli.ts ARGS` (first arg `cosign` or `sget`): this environment without
 * `COSIGN_*` variables and `opts.unset`, plus `opts.env`, in `opts.cwd` (default the repository).
 * `DENO_DIR` stays the test run's ({@link TEST_DENO_DIR}) unless `opts.env` sets it.
 */
export function cliCommand(
  args: string[],
  opts: RunOptions,
  stdin: "piped" | "null",
): Deno.Command {
  const env: Record<string, string> = { ...Deno.env.toObject() };
  for (const k of Object.keys(env)) if (k.startsWith("COSIGN_")) delete env[k];
  for (const k of opts.unset ?? []) delete env[k];
  env.DENO_DIR = TEST_DENO_DIR;
  Object.assign(env, opts.env ?? {});
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      ...args,
    ],
    cwd: opts.cwd ?? ROOT,
    env,
    clearEnv: true,
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs `cli.ts` with `args` (first arg `cosign` or `sget`) as a real subprocess. */
export async function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = cliCommand(args, opts, "piped").spawn();
  const feed = (async () => {
    const w = child.stdin.getWriter();
    if (opts.stdin !== undefined) {
      await w.write(
        typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
      );
    }
    await w.close();
  })().catch((e) => {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e; // the child exited without reading
  });
  const [r] = await Promise.all([child.output(), feed]);
  return {
    code: r.code,
    stdout: r.stdout,
    out: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

/** Runs `cosign ARGS`. */
export function cosign(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(["cosign", ...args], opts);
}

/** Runs an external program; returns its exit code and output. */
export async function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; stdin?: Uint8Array } = {},
): Promise<{ code: number; out: Uint8Array; err: string }> {
  const c = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd ?? ".",
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin) {
    const w = c.stdin.getWriter();
    await w.write(opts.stdin);
    await w.close();
  }
  const r = await c.output();
  return { code: r.code, out: r.stdout, err: new TextDecoder().decode(r.stderr) };
}

/** A temporary folder removed when the returned disposable is disposed. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "cosign-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** Asserts with a message. */
export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error("assertion failed: " + msg);
}

/** Asserts strict equality. */
export function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) {
    throw new Error(`assertion failed${msg ? ": " + msg : ""}\n  actual:   ${a}\n  expected: ${e}`);
  }
}

/** Asserts that a CLI run failed with `code` and a single-line `Error:` on stderr. */
export function assertFails(r: RunResult, code: number, pattern?: RegExp): void {
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("Error:"));
  assert(r.code === code, `exit code ${r.code}, expected ${code}; stderr: ${r.stderr}`);
  assert(lines.length === 1, `exactly one Error line expected; stderr: ${r.stderr}`);
  assert(!/\n\s+at /.test(r.stderr), `no stack trace expected; stderr: ${r.stderr}`);
  if (pattern) assert(pattern.test(lines[0]!), `stderr ${lines[0]} does not match ${pattern}`);
}

/**
 * Runs `cosign ARGS` with read and env permissions only and the network denied, so a test can
 * prove that a verification makes no request at all.
 */
export async function cosignOffline(
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-env",
      "--deny-net",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      "cosign",
      ...args,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  return {
    code: r.code,
    stdout: r.stdout,
    out: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}
