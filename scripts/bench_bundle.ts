/**
 * Benchmark of Sigstore bundle verification against sigstore-js
 * (`deno run --allow-all scripts/bench_bundle.ts`, also the last part of `deno task bench`).
 *
 * Two conformance cases (`../shared/fixtures/conformance/`), each verified fully offline from
 * a trusted root, as a whole process, warm (hyperfine; 4 rounds of 10 runs per side, the order
 * alternating, pooled), median wall time:
 *
 * - `happy-path-v0.3`: a Fulcio-certificate bundle, with the identity/issuer policy, against the
 *   production trusted root. Until our CLI verifies certificate bundles, ours is reported as not
 *   measurable yet (with the CLI's error line) and only the peer is timed.
 * - `managed-key-and-trusted-root`: a key-signed bundle, with `--key key.pub` and its own root.
 *
 * Ours: `deno run --quiet --allow-all --config deno.json cli.ts cosign verify-blob --bundle …`,
 * the arguments of the conformance runner (`tests/harness/conformance.ts`). The peer:
 * `npm:@sigstore/verify@4.1.3` (the version the conformance README cross-checks) under the
 * `node` on PATH, driven by a small ES module written next to it that takes the same flags.
 * The packages are installed with npm into `.bench-cache/sigstore-verify/` (gitignored) on
 * first use, at pinned versions. Before timing, each command must verify its case (exit 0) and
 * reject a wrong artifact (exit 1), so neither side is timed doing nothing.
 *
 * Prints a plain-text table, then a markdown section for BENCHMARKS.md (between
 * `<!-- bundle:begin -->` and `<!-- bundle:end -->`), also written to /tmp/bench_bundle.md.
 * Every ratio is ours / peer (lower is better). Exits 0 when it measured, whether or not the
 * target (ours under 150 ms) is met; 1 when ours cannot verify the key-based case; 2 when a
 * tool is missing or a check fails.
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  CONFORMANCE_DIR,
  type ConformanceCase,
  loadCases,
  reasonLine,
  verifyArgs,
} from "../tests/harness/conformance.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CONFIG = ROOT + "deno.json";
const CLI = ROOT + "cli.ts";
const CACHE = ROOT + ".bench-cache/sigstore-verify/";
const PEER_SCRIPT = CACHE + "verify.mjs";
const MARKDOWN_OUT = "/tmp/bench_bundle.md";

/** The peer and its dependencies, pinned (the ones @sigstore/verify 4.1.3 resolved to). */
const PEER_PACKAGES: Record<string, string> = {
  "@sigstore/verify": "4.1.3",
  "@sigstore/bundle": "5.0.1",
  "@sigstore/core": "4.0.1",
  "@sigstore/protobuf-specs": "0.5.2",
};

/** Target from the project brief: a warm bundle verification under 150 ms. */
const TARGET_MS = 150;
/**
 * hyperfine invocations per case, alternating which command goes first, so that load from
 * other work on the machine falls on both sides alike; their times are pooled.
 */
const ROUNDS = 4;
const WARMUP = 3;
const RUNS_PER_ROUND = 10;

/**
 * The cases timed. `required`: ours must verify it today (the bench exits 1 otherwise, after
 * printing what it measured); certificate verification is still being built.
 */
const CASES: { name: string; label: string; required: boolean }[] = [
  {
    name: "happy-path-v0.3",
    label: "certificate + identity policy, production root",
    required: false,
  },
  { name: "managed-key-and-trusted-root", label: "key.pub, own trusted root", required: true },
];

/**
 * The peer: verifies one bundle with @sigstore/verify from the same flags as ours. Exit 0 and
 * `Verified OK` on success, exit 1 and `Error: …` when verification fails.
 */
const PEER_SOURCE =
  `// Written by scripts/bench_bundle.ts: one bundle verification with @sigstore/verify.
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const { bundleFromJSON } = require("@sigstore/bundle");
const { TrustedRoot } = require("@sigstore/protobuf-specs");
const { toSignedEntity, toTrustMaterial, Verifier } = require(
  "@sigstore/verify",
);

const { values: f, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    bundle: { type: "string" },
    "trusted-root": { type: "string" },
    key: { type: "string" },
    "certificate-identity": { type: "string" },
    "certificate-oidc-issuer": { type: "string" },
  },
});
const json = (path) => JSON.parse(readFileSync(path, "utf8"));
try {
  const root = TrustedRoot.fromJSON(json(f["trusted-root"]));
  let trust, policy;
  if (f.key) {
    const publicKey = createPublicKey(readFileSync(f.key));
    trust = toTrustMaterial(root, () => ({ publicKey, validFor: () => true }));
  } else {
    trust = toTrustMaterial(root);
    policy = {
      subjectAlternativeName: f["certificate-identity"],
      extensions: { issuer: f["certificate-oidc-issuer"] },
    };
  }
  const entity = toSignedEntity(
    bundleFromJSON(json(f.bundle)),
    readFileSync(positionals[0]),
  );
  new Verifier(trust).verify(entity, policy);
  process.stderr.write("Verified OK\\n");
} catch (e) {
  process.stderr.write("Error: " + (e && e.message || e) + "\\n");
  process.exitCode = 1;
}
`;

class BenchError extends Error {}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], opts: { cwd?: string } = {}): Promise<Output> {
  const [cmd, ...args] = argv;
  const out = await new Deno.Command(cmd!, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function log(msg: string): void {
  console.error(`bench_bundle: ${msg}`);
}

function which(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return d !== "" && Deno.statSync(`${d}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function fmtMs(seconds: number): string {
  return `${(seconds * 1000).toFixed(1)} ms`;
}

/** The installed version of `pkg` in the cache, if any. */
async function installedVersion(pkg: string): Promise<string | undefined> {
  try {
    const j = JSON.parse(await Deno.readTextFile(`${CACHE}node_modules/${pkg}/package.json`));
    return typeof j.version === "string" ? j.version : undefined;
  } catch {
    return undefined;
  }
}

/** Installs the pinned peer packages into the cache (once) and writes the peer script. */
async function preparePeer(): Promise<void> {
  const stale = [];
  for (const [pkg, version] of Object.entries(PEER_PACKAGES)) {
    if (await installedVersion(pkg) !== version) stale.push(pkg);
  }
  if (stale.length) {
    log(
      `installing ${Object.entries(PEER_PACKAGES).map(([p, v]) => `${p}@${v}`).join(" ")} ` +
        `into ${CACHE}`,
    );
    await Deno.mkdir(CACHE, { recursive: true });
    await Deno.writeTextFile(
      CACHE + "package.json",
      JSON.stringify({ private: true, dependencies: PEER_PACKAGES }, null, 2) + "\n",
    );
    // Node 20 is below the packages' declared engines (^22.22.2); npm warns, it still runs.
    const r = await run(
      ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
      { cwd: CACHE },
    );
    if (r.code !== 0) throw new BenchError(`npm install failed:\n${r.stderr}${r.stdout}`);
    for (const [pkg, version] of Object.entries(PEER_PACKAGES)) {
      const got = await installedVersion(pkg);
      if (got !== version) throw new BenchError(`npm installed ${pkg}@${got}, wanted ${version}`);
    }
  }
  await Deno.writeTextFile(PEER_SCRIPT, PEER_SOURCE);
}

function ours(c: ConformanceCase, artifact = c.artifact): string[] {
  const args = verifyArgs(c, "path");
  args[args.length - 1] = artifact;
  return [Deno.execPath(), "run", "--quiet", "--allow-all", "--config", CONFIG, CLI, "cosign"]
    .concat(args);
}

function peer(c: ConformanceCase, artifact = c.artifact): string[] {
  const args = verifyArgs(c, "path").slice(1); // the same flags, without "verify-blob"
  args[args.length - 1] = artifact;
  return ["node", PEER_SCRIPT, ...args];
}

interface Timing {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** Wall times (seconds) of each command, from one hyperfine invocation (no shell, warm). */
async function hyperfineTimes(dir: string, cmds: string[][]): Promise<number[][]> {
  const json = `${dir}/hyperfine.json`;
  const r = await run([
    "hyperfine",
    "-N",
    "--style",
    "basic",
    "--warmup",
    String(WARMUP),
    "--runs",
    String(RUNS_PER_ROUND),
    "--export-json",
    json,
    ...cmds.map((c) => c.map(shellQuote).join(" ")),
  ]);
  if (r.code !== 0) throw new BenchError(`hyperfine failed:\n${r.stderr}${r.stdout}`);
  const data = JSON.parse(await Deno.readTextFile(json)) as { results: { times?: number[] }[] };
  const times = data.results.map((t) => t.times ?? []);
  if (times.length !== cmds.length || times.some((t) => t.length === 0)) {
    throw new BenchError("hyperfine: missing results");
  }
  return times;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Times the commands in {@link ROUNDS} hyperfine invocations, the order reversed each round;
 * one {@link Timing} per command over all its runs.
 */
async function timeAll(dir: string, cmds: string[][]): Promise<Timing[]> {
  const pooled: number[][] = cmds.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = cmds.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    const times = await hyperfineTimes(dir, order.map((i) => cmds[i]!));
    order.forEach((i, k) => pooled[i]!.push(...times[k]!));
  }
  return pooled.map((t) => ({
    median: median(t),
    min: Math.min(...t),
    max: Math.max(...t),
    runs: t.length,
  }));
}

/** One measured case. */
interface Result {
  name: string;
  label: string;
  required: boolean;
  /** Ours, or why it could not be measured. */
  ours: Timing | { notMeasurable: string };
  peer: Timing;
}

/** Checks that `argv` verifies (exit 0) and rejects a wrong artifact (exit 1). */
async function check(who: string, good: string[], bad: string[]): Promise<Output> {
  const ok = await run(good);
  if (ok.code !== 0) return ok;
  const no = await run(bad);
  if (no.code !== 1) {
    throw new BenchError(
      `${who} accepted a wrong artifact or crashed (exit ${no.code}): ${reasonLine(no.stderr)}`,
    );
  }
  return ok;
}

async function measure(dir: string): Promise<Result[]> {
  const all = await loadCases();
  const wrong = CONFORMANCE_DIR + "README.md";
  const results: Result[] = [];
  for (const { name, label, required } of CASES) {
    const c = all.find((x) => x.name === name);
    if (!c) throw new BenchError(`conformance case ${name} not found`);
    const p = await check("@sigstore/verify", peer(c), peer(c, wrong));
    if (p.code !== 0) {
      throw new BenchError(`@sigstore/verify failed on ${name}: ${reasonLine(p.stderr)}`);
    }
    const o = await check("cosign (Deno)", ours(c), ours(c, wrong));
    const cmds = o.code === 0 ? [ours(c), peer(c)] : [peer(c)];
    log(
      `timing ${name} (${cmds.length === 2 ? "ours and @sigstore/verify" : "peer only"}, ` +
        `${ROUNDS} rounds of ${RUNS_PER_ROUND} runs after ${WARMUP} warmup runs)`,
    );
    const t = await timeAll(dir, cmds);
    results.push({
      name,
      label,
      required,
      ours: o.code === 0 ? t[0]! : { notMeasurable: `exit ${o.code}: ${reasonLine(o.stderr)}` },
      peer: t[t.length - 1]!,
    });
  }
  return results;
}

interface Row {
  measure: string;
  ours: string;
  peer: string;
  ratio: string;
  target: string;
  /** "yes", "no" or "-". */
  met: string;
}

function rowsOf(results: Result[]): Row[] {
  return results.map((r) => {
    const measured = "median" in r.ours;
    const o = r.ours as Timing;
    return {
      measure: `verify bundle \`${r.name}\` (${r.label}), warm: wall (median)`,
      ours: measured ? fmtMs(o.median) : "not measurable yet",
      peer: `${fmtMs(r.peer.median)} (@sigstore/verify ${PEER_PACKAGES["@sigstore/verify"]}, node)`,
      ratio: measured ? `${(o.median / r.peer.median).toFixed(2)}x` : "-",
      target: `< ${TARGET_MS} ms`,
      met: measured ? (o.median * 1000 < TARGET_MS ? "yes" : "no") : "-",
    };
  });
}

function notesOf(results: Result[]): string[] {
  return results.map((r) =>
    "median" in r.ours
      ? `${r.name}: ours ${r.ours.runs} runs, ${fmtMs(r.ours.min)}-${fmtMs(r.ours.max)} ` +
        `(min-max); @sigstore/verify ${r.peer.runs} runs, ` +
        `${fmtMs(r.peer.min)}-${fmtMs(r.peer.max)}.`
      : `${r.name}: ours is not measurable yet (the CLI does not verify it: ` +
        `\`${r.ours.notMeasurable}\`); @sigstore/verify ${r.peer.runs} runs, ` +
        `${fmtMs(r.peer.min)}-${fmtMs(r.peer.max)} (min-max).`
  );
}

function textTable(rows: Row[]): string {
  const head: Row = {
    measure: "measure",
    ours: "cosign (Deno)",
    peer: "peer",
    ratio: "ours/peer",
    target: "target",
    met: "met",
  };
  const keys = ["measure", "ours", "peer", "ratio", "target", "met"] as const;
  const all = [head, ...rows];
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row) => keys.map((k, i) => r[k].padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function markdown(rows: Row[], notes: string[], env: string[], seconds: number): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    "<!-- bundle:begin -->",
    "## Bundle verification against @sigstore/verify",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} with ` +
    `\`deno run --allow-all scripts/bench_bundle.ts\` (the bench ran ${seconds.toFixed(0)} s). ` +
    "Every ratio is **ours / peer**, lower is better.",
    "",
    ...env.map((e) => `- ${e}`),
    "",
    "| Measure | cosign (Deno) | Peer | Ratio ours/peer | Target | Met |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${esc(r.measure)} | ${r.ours} | ${esc(r.peer)} | ${r.ratio} | ${r.target} | ${
        r.met === "no" ? "**no**" : r.met
      } |`
    ),
    "",
    ...notes.map((n) => `- ${n}`),
    "",
    "### Method",
    "",
    "- Cases from `../shared/fixtures/conformance/` (`cases.json`), PATH mode (the artifact " +
    "`a.txt` is hashed by each side). Everything offline: the trusted root comes from a file.",
    "- Ours: `deno run --quiet --allow-all --config deno.json cli.ts cosign verify-blob " +
    "--bundle B (--certificate-identity ID --certificate-oidc-issuer ISS | --key key.pub) " +
    "--trusted-root ROOT a.txt`, the conformance runner's arguments.",
    "- Peer: `node verify.mjs` with the same flags, a module the bench writes into " +
    "`.bench-cache/sigstore-verify/` beside `npm install`ed " +
    `${Object.entries(PEER_PACKAGES).map(([p, v]) => `\`${p}@${v}\``).join(", ")}. ` +
    "It reads the root with `TrustedRoot.fromJSON`, builds `toTrustMaterial(root)` (for a key, " +
    "with a key finder that returns the `key.pub` key), parses the bundle with " +
    "`bundleFromJSON`, and calls `new Verifier(trust).verify(toSignedEntity(bundle, artifact), " +
    "policy)` with default thresholds (1 tlog entry, 1 SCT for certificates, 1 timestamp) and, " +
    "for certificates, the exact SAN and issuer policy.",
    "- Both are whole processes, start-up included. Before timing, each side must verify the " +
    "case (exit 0) and reject a wrong artifact (exit 1). hyperfine " +
    `\`-N --warmup ${WARMUP} --runs ${RUNS_PER_ROUND}\` with both commands of a case, ` +
    `${ROUNDS} times, alternating which goes first (the machine is shared: load from other ` +
    "work then falls on both sides alike); the median over all runs is reported.",
    "<!-- bundle:end -->",
    "",
  ].join("\n");
}

async function environment(): Promise<string[]> {
  const first = async (argv: string[]) => (await run(argv)).stdout.split("\n")[0]?.trim() ?? "";
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown CPU";
  return [
    `${cpu}, ${navigator.hardwareConcurrency} cores, ${Deno.build.os} ${Deno.build.arch}`,
    `deno ${Deno.version.deno}; node ${await first(["node", "--version"])}; ${await first([
      "hyperfine",
      "--version",
    ])}`,
  ];
}

async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0] ?? "?";
}

async function main(): Promise<number> {
  const started = performance.now();
  const missing = ["hyperfine", "node", "npm"].filter((t) => !which(t));
  if (missing.length) {
    console.error(`Missing tools: ${missing.join(", ")}. Install them and run again.`);
    return 2;
  }
  await preparePeer();
  const env = await environment();
  const loadBefore = await loadAverage();
  const dir = await Deno.makeTempDir({ prefix: "cosign-bench-bundle-" });
  let results: Result[];
  try {
    results = await measure(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  env.push(
    `1-minute load average: ${loadBefore} at the start, ${await loadAverage()} at the end ` +
      `(${navigator.hardwareConcurrency} cores; other work on the machine skews the timings)`,
  );
  const rows = rowsOf(results);
  const notes = notesOf(results);
  console.log("\n" + textTable(rows));
  for (const n of notes) console.log(`- ${n}`);
  const md = markdown(rows, notes, env, (performance.now() - started) / 1000);
  await Deno.writeTextFile(MARKDOWN_OUT, md);
  console.log(`\n${md}`);
  console.error(`(markdown also written to ${MARKDOWN_OUT})`);
  const broken = results.filter((r) => r.required && !("median" in r.ours)).map((r) => r.name);
  if (broken.length) {
    console.error(`bench_bundle: ours must verify ${broken.join(", ")} but does not`);
    return 1;
  }
  return 0;
}

let code: number;
try {
  code = await main();
} catch (e) {
  console.error(e instanceof BenchError ? `bench_bundle: ${e.message}` : e);
  code = 2;
}
Deno.exit(code);
