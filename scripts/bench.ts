/**
 * Performance benchmark of this cosign against real peers, run side by side on the same
 * machine and the same inputs (`deno task bench`):
 *
 * 1. `cosign sign-blob` of a large file (BENCH_SIZE_MB, default 1024 MiB) against
 *    `openssl dgst -sha256 -sign` with the same P-256 key: median wall time (hyperfine) and our
 *    peak RSS (GNU time).
 * 2. `cosign verify-blob` of that file against `openssl dgst -sha256 -verify` of the same
 *    signature: median wall time and our peak RSS.
 * 3. Decryption of a cosign key (scrypt N=65536, r=8, p=1): `decryptPrivateKey` timed in this
 *    process, and `cosign public-key` as a whole process, against `openssl kdf … SCRYPT` with
 *    the key's own salt and parameters.
 * 4. `cosign verify-blob` of a 1 KiB file with a warm cache against `openssl dgst -verify`,
 *    and a check, through the V8 inspector (`Debugger.scriptParsed`), that the modules it
 *    actually executes include nothing under `kms/` or `piv/` and no cloud SDK package.
 *
 * Every ratio printed is ours / peer (lower is better). Temporary files live in one folder
 * under the system temp directory and are removed at the end, also on Ctrl-C.
 * @module
 */

import { scryptSync } from "node:crypto";
import { fileURLToPath } from "node:url";
import { decryptPrivateKey } from "../lib/crypto/encrypted_key.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CONFIG = ROOT + "deno.json";
const CLI = ROOT + "cli.ts";
const PASSWORD = "bench-password";
const GNU_TIME = "/usr/bin/time";

/** Targets from the project brief. */
const TARGET = {
  blobRatio: 1.75,
  rssMB: 150,
  kdfRatio: 1.3,
  smallVerifyMs: 150,
};

const BIG_RUNS = 5;
const RSS_RUNS = 3;
const KDF_PROCESS_RUNS = 10;
const KDF_INPROCESS_RUNS = 9;
const SMALL_MIN_RUNS = 30;

// ---------------------------------------------------------------------------------------------
// Small helpers

class BenchError extends Error {}

function sizeMiB(): number {
  const raw = Deno.env.get("BENCH_SIZE_MB") ?? "1024";
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1) {
    throw new BenchError(`BENCH_SIZE_MB must be a positive whole number of MiB, got "${raw}"`);
  }
  return n;
}

/** Finds an executable on PATH (or checks an absolute path). */
function which(name: string): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "").map((d) => `${d}/${name}`);
  for (const path of candidates) {
    try {
      const st = Deno.statSync(path);
      if (st.isFile && (st.mode ?? 0o111) & 0o111) return path;
    } catch {
      // not there: try the next one
    }
  }
  return undefined;
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; throws with its stderr when it fails (unless `allowFail`). */
async function run(argv: string[], allowFail = false): Promise<Output> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new BenchError("empty command");
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  const res = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  if (res.code !== 0 && !allowFail) {
    throw new BenchError(
      `command failed (exit ${res.code}): ${shellLine(argv)}\n${res.stderr}${res.stdout}`,
    );
  }
  return res;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function shellLine(argv: string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** The argv that runs this repository's cosign CLI, as users do. */
function cosign(...args: string[]): string[] {
  return [Deno.execPath(), "run", "--quiet", "--allow-all", "--config", CONFIG, CLI, "cosign"]
    .concat(args);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmtTime(seconds: number): string {
  return seconds < 1 ? `${(seconds * 1000).toFixed(1)} ms` : `${seconds.toFixed(2)} s`;
}

function fmtRatio(r: number): string {
  return `${r.toFixed(2)}x`;
}

/** KiB (GNU time's %M) to decimal megabytes. */
function kibToMB(kib: number): number {
  return kib * 1024 / 1e6;
}

function fmtMB(mb: number): string {
  return `${mb.toFixed(1)} MB`;
}

function log(msg: string): void {
  console.error(`bench: ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// Measuring tools

interface Timing {
  /** Median wall time in seconds. */
  median: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  runs: number;
}

interface HyperfineOptions {
  warmup: number;
  runs?: number;
  minRuns?: number;
}

let hyperfineCount = 0;

/** Times each command with hyperfine; returns one {@link Timing} per command, in order. */
async function hyperfine(dir: string, cmds: string[][], opts: HyperfineOptions): Promise<Timing[]> {
  const json = `${dir}/hyperfine-${++hyperfineCount}.json`;
  const args = ["hyperfine", "--style", "basic", "--warmup", String(opts.warmup)];
  if (opts.runs !== undefined) args.push("--runs", String(opts.runs));
  if (opts.minRuns !== undefined) args.push("--min-runs", String(opts.minRuns));
  args.push("--export-json", json, ...cmds.map(shellLine));
  await run(args);
  const data = JSON.parse(await Deno.readTextFile(json)) as {
    results: {
      mean: number;
      stddev: number | null;
      median: number;
      min: number;
      max: number;
      times?: number[];
    }[];
  };
  const timings = data.results.map((r) => ({
    median: r.median,
    mean: r.mean,
    stddev: r.stddev ?? 0,
    min: r.min,
    max: r.max,
    runs: r.times?.length ?? 0,
  }));
  if (timings.length !== cmds.length) throw new BenchError("hyperfine returned too few results");
  return timings;
}

/** Peak RSS in KiB over `runs` runs of `argv` (the worst one), measured by GNU time. */
async function peakRssKiB(dir: string, argv: string[], runs: number): Promise<number> {
  const file = `${dir}/rss.txt`;
  let peak = 0;
  for (let i = 0; i < runs; i++) {
    await run([GNU_TIME, "-f", "%M", "-o", file, ...argv]);
    const kib = Number((await Deno.readTextFile(file)).trim().split("\n").pop());
    if (!Number.isFinite(kib) || kib <= 0) {
      throw new BenchError(`cannot read peak RSS from ${file}`);
    }
    peak = Math.max(peak, kib);
  }
  return peak;
}

// ---------------------------------------------------------------------------------------------
// Which modules a command really executes

interface ModuleReport {
  /** How the module list was obtained. */
  method: string;
  /** Whether the list is what V8 executed (true) or only the static import graph (false). */
  observed: boolean;
  /** Module URLs (file:// only). */
  modules: string[];
  /** The modules that break the rule (under kms/ or piv/, or a cloud SDK package). */
  forbidden: string[];
  /** Informational: source files the process opened on disk that break the rule (strace). */
  openedForbidden?: string[];
  /** Informational: how many .ts/.js sources the process opened (strace). */
  openedSources?: number;
}

const FORBIDDEN_PACKAGES = /[/:]@aws-sdk\/|[/:]@google-cloud\/|[/:]@azure\//;

/** A module URL for display: repository-relative, or `npm:name@version/file`. */
function shortModule(url: string): string {
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  if (path.startsWith(ROOT)) return path.slice(ROOT.length);
  const npm = /\/npm\/[^/]+\/((?:@[^/]+\/)?[^/@]+)\/([^/]+)\/(.*)$/.exec(path);
  return npm ? `npm:${npm[1]}@${npm[2]}/${npm[3]}` : path;
}

function isForbidden(url: string): boolean {
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  return path.startsWith(ROOT + "kms/") || path.startsWith(ROOT + "piv/") ||
    FORBIDDEN_PACKAGES.test(path);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs `cosign <args>` under `--inspect-brk` and records every script V8 parses
 * (`Debugger.scriptParsed`): the modules the process really loaded, static or dynamic.
 */
async function modulesExecuted(args: string[]): Promise<string[]> {
  const port = freePort();
  const [exe, ...rest] = cosign(...args);
  const runIdx = rest.indexOf("run");
  rest.splice(runIdx + 1, 0, `--inspect-brk=127.0.0.1:${port}`);
  const child = new Deno.Command(exe!, { args: rest, stdout: "piped", stderr: "piped" }).spawn();
  const output = child.output();
  let ws: WebSocket | undefined;
  try {
    let target: string | undefined;
    for (let i = 0; i < 200 && target === undefined; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/json/list`);
        const list = await res.json() as { webSocketDebuggerUrl?: string }[];
        target = list[0]?.webSocketDebuggerUrl;
      } catch {
        await sleep(50);
      }
    }
    if (target === undefined) throw new BenchError("the inspector did not come up");
    const sock = new WebSocket(target);
    ws = sock;
    const urls: string[] = [];
    let id = 0;
    const send = (method: string) => sock.send(JSON.stringify({ id: ++id, method }));
    const closed = new Promise<void>((resolve) => {
      sock.onclose = () => resolve();
      sock.onerror = () => resolve();
    });
    await new Promise<void>((resolve, reject) => {
      sock.onopen = () => resolve();
      sock.onerror = () => reject(new BenchError("cannot connect to the inspector"));
    });
    sock.onmessage = (ev: MessageEvent<string>) => {
      const msg = JSON.parse(ev.data) as { method?: string; params?: { url?: string } };
      if (msg.method === "Debugger.scriptParsed" && msg.params?.url) urls.push(msg.params.url);
      else if (msg.method === "Debugger.paused") send("Debugger.resume");
      // Deno keeps the process alive until the debugger leaves.
      else if (msg.method === "Runtime.executionContextDestroyed") sock.close();
    };
    send("Runtime.enable");
    send("Debugger.enable");
    send("Runtime.runIfWaitingForDebugger");
    const [out] = await Promise.all([output, closed]);
    if (out.code !== 0) {
      throw new BenchError(
        `cosign ${args.join(" ")} failed under the inspector:\n${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
    return [...new Set(urls.filter((u) => u.startsWith("file://")))];
  } catch (e) {
    ws?.close();
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await output.catch(() => undefined);
    throw e;
  }
}

/** The static module graph of cli.ts as `deno info` sees it (fallback only). */
async function staticGraph(): Promise<string[]> {
  const out = await run([Deno.execPath(), "info", "--json", "--config", CONFIG, CLI]);
  const info = JSON.parse(out.stdout) as { modules: { specifier: string }[] };
  return info.modules.map((m) => m.specifier);
}

/** strace: the .ts/.js/.mjs/.cjs files a cosign process opens (read from disk). */
async function sourcesOpened(dir: string, args: string[]): Promise<string[]> {
  const trace = `${dir}/strace.txt`;
  await run(["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", trace, ...cosign(...args)]);
  const text = await Deno.readTextFile(trace);
  const files = new Set<string>();
  for (const m of text.matchAll(/open(?:at)?\([^"]*"([^"]+)"/g)) {
    const path = m[1]!;
    if (/\.(?:ts|js|mjs|cjs)$/.test(path) && !path.includes("/.cache/deno/gen/")) files.add(path);
  }
  return [...files];
}

async function checkModules(dir: string, args: string[], hasStrace: boolean) {
  let report: ModuleReport;
  try {
    const modules = await modulesExecuted(args);
    const mustSee = [ROOT + "lib/cli/blob.ts", ROOT + "lib/crypto/key_signer.ts"];
    const seen = new Set(modules.map((u) => fileURLToPath(u)));
    const missing = mustSee.filter((p) => !seen.has(p));
    if (missing.length > 0) {
      throw new BenchError(`the inspector list misses modules verify-blob must load: ${missing}`);
    }
    report = {
      method: "V8 inspector, Debugger.scriptParsed of the running verify-blob process",
      observed: true,
      modules,
      forbidden: modules.filter(isForbidden),
    };
  } catch (e) {
    log(`inspector check failed (${(e as Error).message}); falling back to deno info`);
    const modules = await staticGraph();
    report = {
      method: "STATIC ONLY: `deno info --json cli.ts` import graph (not observed at run time)",
      observed: false,
      modules,
      forbidden: modules.filter(isForbidden),
    };
  }
  if (hasStrace) {
    const opened = await sourcesOpened(dir, args);
    report.openedSources = opened.length;
    report.openedForbidden = opened.filter(isForbidden);
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// Key material

function pemBody(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) [^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.fromBase64(body);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

interface ScryptParams {
  n: number;
  r: number;
  p: number;
  salt: Uint8Array;
}

/** Reads the scrypt parameters out of a cosign encrypted key. */
function scryptParams(pem: string): ScryptParams {
  const env = JSON.parse(new TextDecoder().decode(pemBody(pem))) as {
    kdf: { params: { N: number; r: number; p: number }; salt: string };
  };
  const { N, r, p } = env.kdf.params;
  return { n: N, r, p, salt: Uint8Array.fromBase64(env.kdf.salt) };
}

// ---------------------------------------------------------------------------------------------
// The benchmark

interface Row {
  name: string;
  ours: string;
  peer: string;
  ratio: string;
  target: string;
  met: "yes" | "NO" | "-";
}

interface Results {
  rows: Row[];
  modules: ModuleReport;
  notes: string[];
}

/** An argv from a fixed space-separated prefix and further arguments. */
function argv(prefix: string, ...rest: string[]): string[] {
  return [...prefix.split(" "), ...rest];
}

function verdict(ok: boolean): "yes" | "NO" {
  return ok ? "yes" : "NO";
}

async function bench(dir: string, sizeMiB: number, hasStrace: boolean): Promise<Results> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const p = (name: string) => `${dir}/${name}`;
  const size = sizeMiB % 1024 === 0 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`;
  const sslSign = (data: string, sig: string) =>
    argv("openssl dgst -sha256 -sign", p("k.pem"), "-out", sig, data);
  const sslVerify = (data: string, sig: string) =>
    argv("openssl dgst -sha256 -verify", p("pub.pem"), "-signature", sig, data);
  const ourSign = (data: string) =>
    cosign("sign-blob", "--key", p("imp.key"), "--tlog-upload=false", data);
  const verifyArgs = (
    data: string,
    sig: string,
  ) => ["verify-blob", "--key", p("imp.pub"), "--signature", sig, "--insecure-ignore-tlog", data];
  const ourVerify = (data: string, sig: string) => cosign(...verifyArgs(data, sig));

  // Keys: one P-256 key, used by openssl as PEM and by cosign after import-key-pair.
  log("generating keys");
  await run(argv("openssl ecparam -name prime256v1 -genkey -noout -out", p("k.pem")));
  await run(argv("openssl pkcs8 -topk8 -nocrypt -in", p("k.pem"), "-out", p("k8.pem")));
  await run(argv("openssl pkey -pubout -in", p("k8.pem"), "-out", p("pub.pem")));
  await run(cosign("import-key-pair", "--key", p("k8.pem"), "--output-key-prefix", p("imp")));
  const [ourPub, sslPub] = [
    await Deno.readTextFile(p("imp.pub")),
    await Deno.readTextFile(p("pub.pem")),
  ];
  if (!sameBytes(pemBody(ourPub), pemBody(sslPub))) {
    throw new BenchError("cosign import-key-pair produced a different public key than openssl");
  }
  await run(cosign("generate-key-pair", "--output-key-prefix", p("gen")));

  log(`creating a ${size} random file`);
  await run(["sh", "-c", 'head -c "$1" /dev/urandom > "$2"', "sh", `${sizeMiB}M`, p("blob")]);
  await run(["sh", "-c", 'head -c 1024 /dev/urandom > "$1"', "sh", p("small")]);

  // Correctness first: each tool accepts the other's signature.
  log("cross-checking signatures");
  await run(sslSign(p("blob"), p("blob.sig")));
  await run(sslSign(p("small"), p("small.sig")));
  const ourSig = await run(ourSign(p("blob")));
  await Deno.writeFile(p("ours.sig"), Uint8Array.fromBase64(ourSig.stdout.trim()));
  await run(sslVerify(p("blob"), p("ours.sig")));
  const check = await run(ourVerify(p("blob"), p("blob.sig")));
  if (!check.stderr.includes("Verified OK")) throw new BenchError("verify-blob did not say OK");

  // 1 and 2. sign-blob and verify-blob of the big file; both verifiers check the same signature.
  const big = [
    { what: "sign-blob", ours: ourSign(p("blob")), peer: sslSign(p("blob"), p("o.sig")) },
    {
      what: "verify-blob",
      ours: ourVerify(p("blob"), p("blob.sig")),
      peer: sslVerify(p("blob"), p("blob.sig")),
    },
  ];
  for (const b of big) {
    const peerName = `openssl dgst -${b.what === "sign-blob" ? "sign" : "verify"}`;
    log(`timing ${b.what} of ${size} (${BIG_RUNS} runs each, 1 warmup)`);
    const [o, q] = await hyperfine(dir, [b.ours, b.peer], { warmup: 1, runs: BIG_RUNS });
    const ratio = o!.median / q!.median;
    rows.push({
      name: `${b.what} ${size}: wall (median of ${o!.runs})`,
      ours: fmtTime(o!.median),
      peer: `${fmtTime(q!.median)} (${peerName})`,
      ratio: fmtRatio(ratio),
      target: `<= ${TARGET.blobRatio}x`,
      met: verdict(ratio <= TARGET.blobRatio),
    });
    notes.push(
      `${b.what} ${size} spread (min-max of ${o!.runs}): ours ${fmtTime(o!.min)}-` +
        `${fmtTime(o!.max)}, openssl ${fmtTime(q!.min)}-${fmtTime(q!.max)}.`,
    );
    log(`peak RSS of ${b.what}`);
    const rss = kibToMB(await peakRssKiB(dir, b.ours, RSS_RUNS));
    const rssPeer = kibToMB(await peakRssKiB(dir, b.peer, 1));
    rows.push({
      name: `${b.what} ${size}: peak RSS (max of ${RSS_RUNS})`,
      ours: fmtMB(rss),
      peer: `${fmtMB(rssPeer)} (openssl)`,
      ratio: fmtRatio(rss / rssPeer),
      target: `< ${TARGET.rssMB} MB`,
      met: verdict(rss < TARGET.rssMB),
    });
  }

  // 3. Key decryption (scrypt), with the generated key's own salt and parameters.
  const keyPem = await Deno.readTextFile(p("gen.key"));
  const kdf = scryptParams(keyPem);
  if (kdf.n !== 65536 || kdf.r !== 8 || kdf.p !== 1) {
    throw new BenchError(`generate-key-pair used scrypt N=${kdf.n} r=${kdf.r} p=${kdf.p}`);
  }
  const opensslKdf = ["openssl", "kdf", "-keylen", "32"];
  for (
    const opt of [
      `pass:${PASSWORD}`,
      `hexsalt:${kdf.salt.toHex()}`,
      `n:${kdf.n}`,
      `r:${kdf.r}`,
      `p:${kdf.p}`,
      "maxmem_bytes:300000000",
    ]
  ) opensslKdf.push("-kdfopt", opt);
  opensslKdf.push("SCRYPT");
  // Same computation: openssl's derived key equals node:crypto's scrypt on the same inputs.
  const peerKey = (await run(opensslKdf)).stdout.trim().replaceAll(":", "").toLowerCase();
  const ourKey = new Uint8Array(
    scryptSync(PASSWORD, kdf.salt, 32, { N: kdf.n, r: kdf.r, p: kdf.p, maxmem: 300_000_000 }),
  ).toHex();
  if (peerKey !== ourKey) throw new BenchError("openssl kdf and node:crypto scrypt disagree");

  log(`timing key decryption in-process (${KDF_INPROCESS_RUNS} runs, 2 warmups)`);
  const times: number[] = [];
  for (let i = 0; i < KDF_INPROCESS_RUNS + 2; i++) {
    const t0 = performance.now();
    const pkcs8 = await decryptPrivateKey(keyPem, PASSWORD);
    const t = (performance.now() - t0) / 1000;
    if (pkcs8.length === 0) throw new BenchError("decryptPrivateKey returned nothing");
    if (i >= 2) times.push(t);
  }
  const inProc = median(times);

  log(`timing key decryption as processes (${KDF_PROCESS_RUNS} runs each, 1 warmup)`);
  const [ko, kp, kv] = await hyperfine(
    dir,
    [cosign("public-key", "--key", p("gen.key")), opensslKdf, cosign("version")],
    { warmup: 1, runs: KDF_PROCESS_RUNS },
  );
  const kdfRatio = inProc / kp!.median;
  const kdfPeer = `${fmtTime(kp!.median)} (openssl kdf SCRYPT, process)`;
  rows.push({
    name:
      `key decryption (scrypt N=65536): in-process decryptPrivateKey (median of ${times.length})`,
    ours: fmtTime(inProc),
    peer: kdfPeer,
    ratio: fmtRatio(kdfRatio),
    target: `<= ${TARGET.kdfRatio}x`,
    met: verdict(kdfRatio <= TARGET.kdfRatio),
  });
  rows.push({
    name: `key decryption: whole process \`cosign public-key\` (median of ${ko!.runs})`,
    ours: fmtTime(ko!.median),
    peer: kdfPeer,
    ratio: fmtRatio(ko!.median / kp!.median),
    target: "(info)",
    met: "-",
  });
  rows.push({
    name: `process start-up: \`cosign version\` (median of ${kv!.runs})`,
    ours: fmtTime(kv!.median),
    peer: "-",
    ratio: "-",
    target: "(info)",
    met: "-",
  });

  // 4. verify-blob of a small file, warm.
  log(`timing verify-blob of 1 KiB (warmup 3, at least ${SMALL_MIN_RUNS} runs)`);
  const [mo, mp] = await hyperfine(
    dir,
    [ourVerify(p("small"), p("small.sig")), sslVerify(p("small"), p("small.sig"))],
    { warmup: 3, minRuns: SMALL_MIN_RUNS },
  );
  rows.push({
    name: `verify-blob 1 KiB, warm: wall (median of ${mo!.runs})`,
    ours: fmtTime(mo!.median),
    peer: `${fmtTime(mp!.median)} (openssl dgst -verify)`,
    ratio: fmtRatio(mo!.median / mp!.median),
    target: `< ${TARGET.smallVerifyMs} ms`,
    met: verdict(mo!.median * 1000 < TARGET.smallVerifyMs),
  });

  log("checking which modules verify-blob executes");
  const modules = await checkModules(dir, verifyArgs(p("small"), p("small.sig")), hasStrace);
  rows.push({
    name: "verify-blob: KMS/PIV/cloud-SDK modules executed",
    ours: `${modules.forbidden.length} of ${modules.modules.length} modules`,
    peer: "-",
    ratio: "-",
    target: "none",
    met: verdict(modules.forbidden.length === 0),
  });
  notes.push(
    `Module check: ${modules.method}; ${modules.modules.length} modules seen` +
      (modules.forbidden.length > 0 ? `; forbidden: ${modules.forbidden.join(", ")}` : "") + ".",
  );
  if (modules.openedSources !== undefined) {
    notes.push(
      `strace cross-check: the process opened ${modules.openedSources} .ts/.js source files, ` +
        `${modules.openedForbidden?.length ?? 0} of them under kms/, piv/ or a cloud SDK package.`,
    );
  }
  return { rows, modules, notes };
}

// ---------------------------------------------------------------------------------------------
// Reporting

function textTable(rows: Row[]): string {
  const keys = ["name", "ours", "peer", "ratio", "target", "met"] as const;
  type Cells = Record<(typeof keys)[number], string>;
  const header: Cells = {
    name: "measure",
    ours: "cosign (Deno)",
    peer: "peer",
    ratio: "ours/peer",
    target: "target",
    met: "met",
  };
  const all: Cells[] = [header, ...rows];
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Cells) => keys.map((k, i) => r[k].padEnd(widths[i]!)).join("  ").trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), sep, ...rows.map(line)].join("\n");
}

function markdownTable(rows: Row[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    "| Measure | cosign (Deno) | Peer | Ratio ours/peer | Target | Met |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${esc(r.name)} | ${esc(r.ours)} | ${esc(r.peer)} | ${r.ratio} | ${esc(r.target)} | ${
        r.met === "-" ? "-" : r.met === "yes" ? "yes" : "**no**"
      } |`
    ),
  ].join("\n");
}

async function machine(): Promise<string[]> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown CPU";
  const mem = Deno.systemMemoryInfo();
  const openssl = (await run(["openssl", "version"])).stdout.trim();
  const hf = (await run(["hyperfine", "--version"])).stdout.trim();
  return [
    `CPU: ${cpu}, ${navigator.hardwareConcurrency} cores; RAM ${
      (mem.total / 2 ** 30).toFixed(1)
    } GiB; ${Deno.build.os} ${Deno.build.arch}`,
    `deno ${Deno.version.deno} (v8 ${Deno.version.v8}, typescript ${Deno.version.typescript})`,
    openssl,
    hf,
  ];
}

// ---------------------------------------------------------------------------------------------
// Main

function missingTools(): string[] {
  const problems: string[] = [];
  for (const tool of ["hyperfine", "openssl", "head", "sh"]) {
    if (!which(tool)) problems.push(`${tool} not found: run scripts/setup.sh`);
  }
  if (!which(GNU_TIME)) {
    problems.push(`GNU time (${GNU_TIME}) not found: run scripts/setup.sh`);
  }
  return problems;
}

async function main(): Promise<number> {
  const size = sizeMiB();
  const problems = missingTools();
  if (problems.length === 0) {
    const gnu = await run([GNU_TIME, "--version"], true);
    if (!(gnu.stdout + gnu.stderr).includes("GNU")) {
      problems.push(`${GNU_TIME} is not GNU time (needed for -f %M): run scripts/setup.sh`);
    }
    const kdf = await run(["openssl", "kdf", "-help"], true);
    if (!(kdf.stdout + kdf.stderr).includes("kdfopt")) {
      problems.push("openssl has no `kdf` command (OpenSSL 3 needed): run scripts/setup.sh");
    }
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(`bench: ${p}`);
    return 1;
  }
  const hasStrace = which("strace") !== undefined;
  if (!hasStrace) log("strace not found (optional): skipping the file-open cross-check");

  const dir = await Deno.makeTempDir({ prefix: "cosign-bench-" });
  const cleanup = () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  };
  const onSignal = () => {
    cleanup();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.env.set("COSIGN_PASSWORD", PASSWORD);
  Deno.env.delete("COSIGN_DENO_CALLER_CWD");
  try {
    const started = Date.now();
    const res = await bench(dir, size, hasStrace);
    const env = await machine();
    const elapsed = ((Date.now() - started) / 1000).toFixed(0);
    const date = new Date().toISOString().slice(0, 10);

    console.log("");
    console.log(textTable(res.rows));
    console.log("");
    for (const n of res.notes) console.log(`- ${n}`);
    if (!res.modules.observed) {
      console.log("- NOTE: the module check is static only (the inspector run failed).");
    }
    console.log(`- Modules executed by verify-blob:`);
    for (const m of res.modules.modules) console.log(`    ${shortModule(m)}`);
    console.log("");
    console.log("----- markdown for BENCHMARKS.md -----");
    console.log(`Measured ${date} (bench ran ${elapsed} s).\n`);
    console.log(env.map((e) => `- ${e}`).join("\n"));
    console.log("");
    console.log(markdownTable(res.rows));
    console.log("");
    console.log(res.notes.map((n) => `- ${n}`).join("\n"));
    console.log(
      `- Modules verify-blob executed: ${res.modules.modules.map(shortModule).join(", ")}.`,
    );
    console.log("----- end -----");
    const missed = res.rows.filter((r) => r.met === "NO").length;
    log(missed === 0 ? "all targets met" : `${missed} target(s) missed`);
    return 0;
  } finally {
    cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`bench: ${e instanceof BenchError ? e.message : (e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
