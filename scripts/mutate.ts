/**
 * Mutation testing of the verification rules (`deno task mutate [--filter TEXT] [--list]`).
 *
 * Each mutant of `scripts/mutants.ts` (a file, an exact original snippet, its replacement, the
 * test files to run) is applied to a temporary copy of the repository (the files `git ls-files`
 * lists, tracked and new but not ignored, beside a link to `../shared`), never to the working
 * tree. The mutated file is
 * type-checked (`deno check`); the mutant's tests then run (`deno test --no-check`, the copy
 * having been type-checked once unmutated). A mutant is:
 * - `killed` when a test fails (or the run times out),
 * - `survived` when every test passes: a rule no test defends, unless the mutant is documented
 *   as equivalent (`equivalent: reason`), then `equivalent`,
 * - `did-not-compile` when `deno check` rejects it,
 * - `stale` when its original snippet is no longer in the file, or not exactly once: the code
 *   moved on and the mutant must be rewritten, never silently skipped.
 *
 * Before any mutant, the tests of the selected mutants run once on the unmutated copy; if they
 * fail there the run stops (a broken test would "kill" every mutant).
 *
 * Prints one line per mutant, then the counts and the score: killed / (compiled − equivalent).
 * Exits 0 when no mutant survived and none is stale, 1 otherwise, 2 on a usage error.
 * Two mutants run at a time (`--jobs`), each in its own copy.
 * @module
 */

import { parseArgs } from "node:util";
import { type Mutant, MUTANTS } from "./mutants.ts";

const USAGE =
  "Usage: deno task mutate [--filter TEXT]... [--list] [--jobs N] [--timeout SECONDS]\n" +
  "  --filter TEXT  only mutants whose id, file or description contains TEXT (repeatable)\n" +
  "  --list         list the selected mutants and their tests; run nothing\n" +
  "  --jobs N       mutants run at once, each in its own copy (default 2)\n" +
  "  --timeout S    seconds a mutant's tests may run before it counts as killed (default 300)\n";

/** The repository root. */
const ROOT = new URL("../", import.meta.url).pathname;

/** What happened to a mutant. */
type Outcome = "killed" | "survived" | "equivalent" | "did-not-compile" | "stale";

interface Result {
  readonly mutant: Mutant;
  readonly outcome: Outcome;
  /** Why: the first failing test, the type error, the reason it is equivalent or stale. */
  readonly detail: string;
  readonly seconds: number;
}

interface CommandResult {
  readonly code: number;
  readonly output: string;
  readonly timedOut: boolean;
}

async function runCommand(
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<CommandResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutMs);
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, output: text, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Copies the tracked (and new, not ignored) files into `<dir>/repo`, links `<dir>/shared` to the
 * fixtures' home and `.bench-cache` to the installed peers.
 */
async function makeCopy(dir: string): Promise<string> {
  const repo = `${dir}/repo`;
  const ls = await new Deno.Command("git", {
    // tracked files, and new files not yet committed (.gitignore respected)
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (ls.code !== 0) throw new Error(`git ls-files failed: ${new TextDecoder().decode(ls.stderr)}`);
  const files = new TextDecoder().decode(ls.stdout).split("\0").filter((f) => f !== "");
  const made = new Set<string>();
  for (const file of files) {
    const slash = file.lastIndexOf("/");
    const parent = slash < 0 ? repo : `${repo}/${file.slice(0, slash)}`;
    if (!made.has(parent)) {
      await Deno.mkdir(parent, { recursive: true });
      made.add(parent);
    }
    try {
      await Deno.copyFile(`${ROOT}${file}`, `${repo}/${file}`);
    } catch (e) {
      // a tracked file deleted in the working tree is not part of the copy
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  // tests/helpers.ts finds the fixtures at ../../shared/fixtures from itself.
  await Deno.symlink(await Deno.realPath(`${ROOT}../shared`), `${dir}/shared`);
  // The installed peers (sigstore-js under Node, scripts/setup.sh) that tests hold us to.
  try {
    await Deno.symlink(await Deno.realPath(`${ROOT}.bench-cache`), `${repo}/.bench-cache`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return repo;
}

/** The lines that say why a run failed: failing test names and error lines, shortened. */
function firstProblem(output: string): string {
  const lines = output.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const pick = lines.find((l) => /\bFAILED\b/.test(l) && !/^FAILED \|/.test(l)) ??
    lines.find((l) => /^(error|TS\d+|\[ERROR\])/i.test(l)) ?? lines[0] ?? "";
  return pick.length > 160 ? pick.slice(0, 157) + "..." : pick;
}

function countOccurrences(text: string, snippet: string): number {
  let n = 0;
  for (let i = text.indexOf(snippet); i >= 0; i = text.indexOf(snippet, i + 1)) n++;
  return n;
}

async function runMutant(repo: string, mutant: Mutant, timeoutMs: number): Promise<Result> {
  const started = performance.now();
  const done = (outcome: Outcome, detail: string): Result => ({
    mutant,
    outcome,
    detail,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  });
  const path = `${repo}/${mutant.file}`;
  let original: string;
  try {
    original = await Deno.readTextFile(path);
  } catch {
    return done("stale", `${mutant.file} does not exist`);
  }
  const found = countOccurrences(original, mutant.original);
  if (found !== 1) {
    return done(
      "stale",
      found === 0
        ? "the original snippet is not in the file"
        : `the original snippet is in the file ${found} times, not once`,
    );
  }
  await Deno.writeTextFile(path, original.replace(mutant.original, () => mutant.replacement));
  try {
    const check = await runCommand(["check", "--quiet", mutant.file], repo, timeoutMs);
    if (check.code !== 0) return done("did-not-compile", firstProblem(check.output));
    const test = await runCommand(
      ["test", "--allow-all", "--quiet", "--no-check", ...mutant.tests],
      repo,
      timeoutMs,
    );
    if (test.timedOut) return done("killed", `timed out after ${timeoutMs / 1000} s`);
    if (test.code !== 0) return done("killed", firstProblem(test.output));
    if (mutant.equivalent !== undefined) return done("equivalent", mutant.equivalent);
    return done("survived", "every test passed");
  } finally {
    await Deno.writeTextFile(path, original);
  }
}

function formatResult(r: Result): string {
  const tag = r.outcome.toUpperCase().padEnd(15);
  return `${tag} ${r.mutant.id} (${r.mutant.file}, ${r.seconds} s): ${r.mutant.description}\n` +
    `                ${r.detail}`;
}

/** The mutants matching any of `filters` (all without filters). */
function selectMutants(filters: readonly string[] | undefined): Mutant[] {
  if (filters === undefined || filters.length === 0) return [...MUTANTS];
  const wanted = filters.map((f) => f.toLowerCase());
  return MUTANTS.filter((m) =>
    [m.id, m.file, m.description].some((s) => wanted.some((f) => s.toLowerCase().includes(f)))
  );
}

/** Checks the list itself: unique ids, a test file for every mutant. */
function listProblems(mutants: readonly Mutant[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const m of mutants) {
    if (ids.has(m.id)) problems.push(`mutant id ${m.id} appears twice`);
    ids.add(m.id);
    if (m.tests.length === 0) problems.push(`mutant ${m.id} names no test files`);
    if (m.original === m.replacement) problems.push(`mutant ${m.id} changes nothing`);
  }
  return problems;
}

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseArgs({
      args: argv,
      options: {
        filter: { type: "string", multiple: true },
        list: { type: "boolean" },
        jobs: { type: "string", default: "2" },
        timeout: { type: "string", default: "300" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE.trimEnd());
    return 0;
  }
  const jobs = Number(options.jobs);
  const timeoutSeconds = Number(options.timeout);
  if (!Number.isInteger(jobs) || jobs < 1 || !(timeoutSeconds > 0)) {
    console.error(`--jobs must be a positive integer and --timeout a positive number\n${USAGE}`);
    return 2;
  }
  const problems = listProblems(MUTANTS);
  if (problems.length > 0) {
    console.error(`scripts/mutants.ts is inconsistent:\n  ${problems.join("\n  ")}`);
    return 2;
  }
  const mutants = selectMutants(options.filter);
  if (mutants.length === 0) {
    console.error(`No mutant id, file or description contains "${options.filter?.join('", "')}".`);
    return 2;
  }
  if (options.list) {
    for (const m of mutants) {
      console.log(`${m.id} (${m.file}): ${m.description}`);
      console.log(`    tests: ${m.tests.join(" ")}`);
      if (m.equivalent !== undefined) console.log(`    equivalent: ${m.equivalent}`);
    }
    console.log(`${mutants.length} mutants`);
    return 0;
  }

  const timeoutMs = timeoutSeconds * 1000;
  const workers = Math.min(jobs, mutants.length);
  const tmp = await Deno.makeTempDir({ prefix: "cosign-mutate-" });
  try {
    console.log(`Copying the tracked files into ${tmp} (${workers} copies)...`);
    const copies = await Promise.all(
      Array.from({ length: workers }, (_, i) => makeCopy(`${tmp}/${i}`)),
    );
    // Baseline: the selected tests must pass (and type-check) unmutated.
    const allTests = [...new Set(mutants.flatMap((m) => m.tests))].sort();
    console.log(`Baseline: ${allTests.length} test files on the unmutated copy...`);
    const baseline = await runCommand(
      ["test", "--allow-all", "--quiet", ...allTests],
      copies[0]!,
      timeoutMs * 2,
    );
    if (baseline.code !== 0) {
      console.error(
        `The tests fail without any mutant; fix them first:\n${baseline.output.slice(-4000)}`,
      );
      return 1;
    }
    // Every copy holds the same files, all type-checked by the baseline; a mutant's own file is
    // checked before its tests run, so the tests run with --no-check.
    const results: Result[] = [];
    let next = 0;
    await Promise.all(copies.map(async (repo) => {
      while (next < mutants.length) {
        const mutant = mutants[next++]!;
        const r = await runMutant(repo, mutant, timeoutMs);
        results.push(r);
        console.log(formatResult(r));
      }
    }));
    return summarize(results);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

function summarize(results: readonly Result[]): number {
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const killed = count("killed");
  const survived = count("survived");
  const equivalent = count("equivalent");
  const notCompiled = count("did-not-compile");
  const stale = count("stale");
  const scored = killed + survived;
  console.log("");
  for (const o of ["survived", "stale", "did-not-compile"] as const) {
    const list = results.filter((r) => r.outcome === o);
    if (list.length > 0) console.log(`${o}: ${list.map((r) => r.mutant.id).join(", ")}`);
  }
  console.log(
    `${results.length} mutants: ${killed} killed, ${survived} survived, ${equivalent} equivalent, ` +
      `${notCompiled} did not compile, ${stale} stale`,
  );
  const score = scored === 0 ? "n/a" : `${Math.floor((killed / scored) * 1000) / 10}%`;
  console.log(`Mutation score: ${score} (${killed} of ${scored} compiled, non-equivalent)`);
  return survived > 0 || stale > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
