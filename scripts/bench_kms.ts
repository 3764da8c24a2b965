/**
 * KMS signing start-up (`deno run --allow-all scripts/bench_kms.ts [--runs N]`, part of
 * `deno task bench`): cold `sign-blob` (a new process each time) with `awskms://` (the AWS SDK)
 * and `hashivault://` (`fetch`) against their loopback fakes from `tests/harness/`, against the
 * same with an encrypted key file: the time from spawning the process to the provider's first
 * request, and the total wall time. The import cost of each cloud SDK is reported separately
 * (`deno run` of a file that only imports it, against an empty file). Every run must exit 0.
 * Prints a markdown section for BENCHMARKS.md (between `<!-- kms:begin -->` and
 * `<!-- kms:end -->`), also written to /tmp/bench_kms.md. Skipped when `BENCH_ONLY` is set
 * without `kms`.
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  AWS_ACCESS_KEY,
  AWS_REGION,
  AWS_SECRET_KEY,
  startFakeAwsKms,
} from "../tests/harness/fake_aws_kms.ts";
import { startFakeVault } from "../tests/harness/fake_vault.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(Deno.args[runsArg + 1]) : 10;
const MARKDOWN_OUT = "/tmp/bench_kms.md";
const SDKS = [
  ["@aws-sdk/client-kms", "npm:@aws-sdk/client-kms@3.1178.0"],
  [
    "@azure/keyvault-keys + @azure/identity",
    "npm:@azure/keyvault-keys@4.10.2",
    "npm:@azure/identity@4.14.1",
  ],
] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const load = async () => (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];

/** Runs a command; returns its wall time in ms; fails the bench on a non-zero exit. */
async function timed(
  args: string[],
  env: Record<string, string>,
): Promise<{ start: number; ms: number }> {
  const start = performance.now() + performance.timeOrigin;
  const r = await new Deno.Command(args[0]!, {
    args: args.slice(1),
    env,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  const end = performance.now() + performance.timeOrigin;
  if (r.code !== 0) {
    console.error(
      `bench_kms: ${args.slice(-4).join(" ")} failed:\n${new TextDecoder().decode(r.stderr)}`,
    );
    Deno.exit(2);
  }
  return { start, ms: end - start };
}

async function main(): Promise<void> {
  const only = (Deno.env.get("BENCH_ONLY") ?? "").trim();
  if (only && !only.split(",").map((s) => s.trim()).includes("kms")) return;
  const dir = await Deno.makeTempDir({ prefix: "cosign-bench-kms-" });
  const startLoad = await load();
  try {
    const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
    const base = { HOME: dir, DENO_DIR: denoDir, PATH: Deno.env.get("PATH") ?? "" };
    const cosign = (...a: string[]) => [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      "cosign",
      ...a,
    ];
    await Deno.writeTextFile(`${dir}/blob`, "benchmark blob\n");
    await using aws = await startFakeAwsKms({ dir });
    await aws.addKey("ec-p256", { alias: "alias/bench" });
    await using vault = await startFakeVault({ dir, token: "bench-token" });
    await vault.addKey("bench", "ec-p256");
    const pw = { ...base, COSIGN_PASSWORD: "bench" };
    await timed(cosign("generate-key-pair", "--output-key-prefix", `${dir}/k`), pw);

    // Time to first request: when the fake saw it, from the process's spawn.
    const awsFirst: number[] = [];
    const vaultFirst: number[] = [];
    const origAws = aws.calls.push.bind(aws.calls);
    let awsT = 0;
    aws.calls.push = (...items) => {
      if (awsT === 0) awsT = performance.now() + performance.timeOrigin;
      return origAws(...items);
    };
    const origVault = vault.calls.push.bind(vault.calls);
    let vaultT = 0;
    vault.calls.push = (...items) => {
      if (vaultT === 0) vaultT = performance.now() + performance.timeOrigin;
      return origVault(...items);
    };
    const cases = {
      file: {
        args: cosign("sign-blob", "--key", `${dir}/k.key`, "--tlog-upload=false", `${dir}/blob`),
        env: pw,
      },
      aws: {
        args: cosign(
          "sign-blob",
          "--key",
          "awskms:///alias/bench",
          "--tlog-upload=false",
          `${dir}/blob`,
        ),
        env: {
          ...base,
          AWS_ACCESS_KEY_ID: AWS_ACCESS_KEY,
          AWS_SECRET_ACCESS_KEY: AWS_SECRET_KEY,
          AWS_REGION,
          AWS_ENDPOINT_URL_KMS: aws.url,
          AWS_EC2_METADATA_DISABLED: "true",
        },
      },
      vault: {
        args: cosign(
          "sign-blob",
          "--key",
          "hashivault://bench",
          "--tlog-upload=false",
          `${dir}/blob`,
        ),
        env: { ...base, VAULT_ADDR: vault.url, VAULT_TOKEN: "bench-token" },
      },
    };
    const times: Record<keyof typeof cases, number[]> = { file: [], aws: [], vault: [] };
    // One warm-up each (module cache), then alternate.
    for (const c of Object.values(cases)) await timed(c.args, c.env);
    for (let i = 0; i < RUNS; i++) {
      for (
        const [name, c] of Object.entries(cases) as [keyof typeof cases, (typeof cases)["file"]][]
      ) {
        awsT = 0;
        vaultT = 0;
        const t = await timed(c.args, c.env);
        times[name].push(t.ms);
        if (name === "aws") awsFirst.push(awsT - t.start);
        if (name === "vault") vaultFirst.push(vaultT - t.start);
      }
    }
    // SDK import cost.
    const empty = `${dir}/empty.ts`;
    await Deno.writeTextFile(empty, "");
    const imports: [string, number][] = [];
    const emptyTimes: number[] = [];
    for (const [name, ...specs] of SDKS) {
      const f = `${dir}/import-${imports.length}.ts`;
      await Deno.writeTextFile(f, specs.map((s) => `import "${s}";\n`).join(""));
      await timed([Deno.execPath(), "run", "--quiet", "--allow-all", "--no-config", f], base);
      const xs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        xs.push(
          (await timed([Deno.execPath(), "run", "--quiet", "--allow-all", "--no-config", f], base))
            .ms,
        );
        emptyTimes.push(
          (await timed([Deno.execPath(), "run", "--quiet", "--no-config", empty], base)).ms,
        );
      }
      imports.push([name, median(xs)]);
    }
    const emptyMs = median(emptyTimes);
    const md = [
      "<!-- kms:begin -->",
      "## KMS signing start-up",
      "",
      `Cold \`cosign sign-blob --tlog-upload=false\` (a new process each run; medians of ${RUNS}, ` +
      "alternating), against the loopback fakes of `tests/harness/` (`scripts/bench_kms.ts`). " +
      `Load average ${startLoad} at the start, ${await load()} at the end.`,
      "",
      "| key | first KMS request after spawn | total |",
      "| --- | ----------------------------- | ----- |",
      `| encrypted key file (scrypt N=65536) | - | ${ms(median(times.file))} |`,
      `| \`awskms://\` (@aws-sdk/client-kms) | ${ms(median(awsFirst))} | ${
        ms(median(times.aws))
      } |`,
      `| \`hashivault://\` (fetch) | ${ms(median(vaultFirst))} | ${ms(median(times.vault))} |`,
      "",
      `SDK import cost (\`deno run\` of a file that only imports it; an empty file takes ${
        ms(emptyMs)
      }):`,
      "",
      "| SDK | import | over an empty file |",
      "| --- | ------ | ------------------ |",
      ...imports.map(([n, t]) => `| ${n} | ${ms(t)} | ${ms(t - emptyMs)} |`),
      "",
      "GCP goes over `fetch` (its SDK's import measured 1.1 s here; see `kms/gcp.ts`).",
      "<!-- kms:end -->",
    ].join("\n");
    console.log("\n" + md);
    await Deno.writeTextFile(MARKDOWN_OUT, md + "\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

await main();
