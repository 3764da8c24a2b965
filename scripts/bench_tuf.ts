/**
 * Benchmark of TUF default trust (`deno run --allow-all scripts/bench_tuf.ts [--runs N]`):
 * `verify-blob --bundle` with a warm TUF cache (no `--trusted-root`; trust from a loopback TUF
 * repository built by `tests/harness/tuf.ts`, after `cosign initialize`) against the same run
 * with `--trusted-root FILE`. Target (issue 13): the TUF run at most 1.2x the other.
 *
 * The bundle is key-signed against the harness's fake Rekor, whose `trusted_root.json` is both
 * the `--trusted-root` file and the TUF target. Each command must verify (exit 0) before
 * timing, and the warm TUF run must make no request to the mirror. Timed with hyperfine (`-N`,
 * warm), one invocation per round, order alternating, pooled; prints medians and the ratio.
 * Exits 0 when it measured, 2 when a tool is missing or a check fails.
 * @module
 */

import { fileURLToPath } from "node:url";
import { startRekor } from "../tests/harness/rekor.ts";
import { serveTuf, TufRepo } from "../tests/harness/tuf.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const BASE = [
  Deno.execPath(),
  "run",
  "--quiet",
  "--allow-all",
  "--config",
  ROOT + "deno.json",
  ROOT + "cli.ts",
  "cosign",
];
const TARGET_RATIO = 1.2;

const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(Deno.args[runsArg + 1]) : 10;
const ROUNDS = 2;

async function run(cmd: string[], env: Record<string, string> = {}) {
  const r = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

function fail(message: string): never {
  console.error(`bench_tuf: ${message}`);
  Deno.exit(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const shellQuote = (s: string) => /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;

if ((await run(["hyperfine", "--version"]).catch(() => ({ code: 127 }))).code !== 0) {
  fail("hyperfine is not installed");
}
const dir = await Deno.makeTempDir({ prefix: "cosign-bench-tuf-" });
await using rekor = await startRekor();
try {
  // The runner's Deno cache: a HOME of its own would otherwise mean an empty one.
  const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  const env = { COSIGN_PASSWORD: "pw", HOME: dir, DENO_DIR: denoDir };
  const steps: [string, string[]][] = [
    ["generate-key-pair", ["generate-key-pair", "--output-key-prefix", `${dir}/k`]],
  ];
  await Deno.writeTextFile(`${dir}/blob.txt`, "bench\n");
  steps.push(["sign-blob", [
    "sign-blob",
    "--key",
    `${dir}/k.key`,
    "-y",
    "--rekor-url",
    rekor.url,
    "--trusted-root",
    rekor.trustedRootPath,
    "--bundle",
    `${dir}/b.json`,
    `${dir}/blob.txt`,
  ]]);
  for (const [what, args] of steps) {
    const r = await run([...BASE, ...args], env);
    if (r.code !== 0) fail(`${what} failed: ${r.stderr}`);
  }
  await Deno.copyFile(rekor.trustedRootPath, `${dir}/trusted_root.json`);
  const repo = new TufRepo({ "trusted_root.json": await Deno.readFile(rekor.trustedRootPath) });
  await Deno.writeFile(`${dir}/root.json`, repo.initialRoot);
  await using srv = serveTuf(repo);
  const tufEnv = { ...env, TUF_ROOT: `${dir}/tuf` };
  const init = await run(
    [...BASE, "initialize", "--mirror", srv.url, "--root", `${dir}/root.json`],
    tufEnv,
  );
  if (init.code !== 0) fail(`initialize failed: ${init.stderr}`);
  const verify = ["verify-blob", "--key", `${dir}/k.pub`, "--bundle", `${dir}/b.json`];
  const tufCmd = [...BASE, ...verify, `${dir}/blob.txt`];
  const fileCmd = [
    ...BASE,
    ...verify,
    "--trusted-root",
    `${dir}/trusted_root.json`,
    `${dir}/blob.txt`,
  ];
  for (const cmd of [tufCmd, fileCmd]) {
    const r = await run(cmd, tufEnv);
    if (r.code !== 0) fail(`verify-blob failed: ${r.stderr}`);
  }
  const before = srv.requests.length;
  const cmds = [tufCmd, fileCmd];
  const pooled: number[][] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    const json = `${dir}/hyperfine.json`;
    const r = await new Deno.Command("hyperfine", {
      args: [
        "-N",
        "--style",
        "basic",
        "--warmup",
        "1",
        "--runs",
        String(RUNS),
        "--export-json",
        json,
        ...order.map((i) => cmds[i]!.map(shellQuote).join(" ")),
      ],
      env: tufEnv,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (r.code !== 0) fail(`hyperfine failed: ${new TextDecoder().decode(r.stderr)}`);
    const data = JSON.parse(await Deno.readTextFile(json)) as { results: { times: number[] }[] };
    order.forEach((i, k) => pooled[i]!.push(...data.results[k]!.times));
  }
  if (srv.requests.length !== before) {
    fail(`the warm TUF runs made ${srv.requests.length - before} requests to the mirror`);
  }
  const [tuf, file] = pooled.map((t) => median(t) * 1000) as [number, number];
  const ratio = tuf / file;
  console.log("TUF default trust: verify-blob --bundle (key), median wall time");
  console.log(`  warm TUF cache       ${tuf.toFixed(1)} ms  (${pooled[0]!.length} runs)`);
  console.log(`  --trusted-root FILE  ${file.toFixed(1)} ms  (${pooled[1]!.length} runs)`);
  console.log(
    `  ratio ${ratio.toFixed(2)}x (target <= ${TARGET_RATIO}x: ${
      ratio <= TARGET_RATIO ? "met" : "NOT met"
    })`,
  );
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
