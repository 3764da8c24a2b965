/**
 * Signers on different hosts (`deno run --allow-all scripts/bench_signers.ts`, part of
 * `deno task bench`): BENCH_SIGNER_RUNS (default 10) images, each signed by 6 `cosign sign`
 * processes at once, each with its own lock folder (so the machine-wide lock cannot order them,
 * as on separate machines), through a proxy adding 75–225 ms to every request in front of the
 * real CNCF distribution registry (`tests/harness/signer_race.ts`). Reports the signatures lost
 * (a signer exited 0 but its signature is not in the `.sig` image at the end), the failures, and
 * the wall time per run. Prints a markdown section for BENCHMARKS.md (between
 * `<!-- signers:begin -->` and `<!-- signers:end -->`), also written to /tmp/bench_signers.md.
 * Skipped when `BENCH_ONLY` is set without `signers`. Temporary files live in one
 * `cosign-bench-signers-*` folder, removed at the end with the registry and proxy.
 * @module
 */

import { signerRace, type SignerRun } from "../tests/harness/signer_race.ts";

const MARKDOWN_OUT = "/tmp/bench_signers.md";
const SIGNERS = 6;
const LATENCY: [number, number] = [75, 225];

async function main(): Promise<void> {
  const only = Deno.env.get("BENCH_ONLY");
  if (only && !only.split(",").map((s) => s.trim()).includes("signers")) return;
  const runs = Number(Deno.env.get("BENCH_SIGNER_RUNS") ?? 10);
  const dir = await Deno.makeTempDir({ prefix: "cosign-bench-signers-" });
  const load = () => Deno.loadavg()[0]!.toFixed(2);
  const startLoad = load();
  let results: SignerRun[];
  try {
    console.log(
      `signers: ${runs} runs of ${SIGNERS} signers, ${LATENCY[0]}-${LATENCY[1]} ms per request`,
    );
    results = await signerRace({
      runs,
      signers: SIGNERS,
      latencyMs: LATENCY,
      workDir: dir,
      onRun: (r) =>
        console.log(
          `  run ${r.run}: ${r.succeeded}/${SIGNERS} exited 0, ${r.lost} lost, ` +
            `${r.failed.length} failed, ${(r.ms / 1000).toFixed(1)} s` +
            (r.failed.length ? `\n    ${r.failed.join("\n    ")}` : ""),
        ),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const total = runs * SIGNERS;
  const lost = results.reduce((n, r) => n + r.lost, 0);
  const failed = results.reduce((n, r) => n + r.failed.length, 0);
  const times = results.map((r) => r.ms).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const md = [
    "<!-- signers:begin -->",
    "## Signers on different hosts",
    "",
    `${runs} images, each signed by ${SIGNERS} \`cosign sign\` processes at once, each with its own`,
    "lock folder (as on separate machines), through a proxy adding a uniform " +
    `${LATENCY[0]}–${LATENCY[1]} ms`,
    "to every request in front of the real distribution registry (`scripts/bench_signers.ts`).",
    `Load average ${startLoad} at the start, ${load()} at the end.`,
    "",
    "| signatures | lost (exit 0, missing) | failed (non-zero exit) | loss rate | median run |",
    "| ---------- | ---------------------- | ---------------------- | --------- | ---------- |",
    `| ${total} | ${lost} | ${failed} | ${(100 * lost / total).toFixed(1)} % | ${
      (median / 1000).toFixed(1)
    } s |`,
    "<!-- signers:end -->",
  ].join("\n");
  console.log("\n" + md);
  await Deno.writeTextFile(MARKDOWN_OUT, md + "\n");
  if (lost > 0) Deno.exitCode = 1;
}

await main();
