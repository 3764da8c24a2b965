/**
 * Signers "on different hosts" racing to sign one image: N `cosign sign` processes at once, each
 * with its own lock folder (TMPDIR, HOME and XDG_RUNTIME_DIR of its own, so the machine-wide lock
 * cannot order them), all through a proxy that adds a random latency to every request, in front
 * of the real registry. Counts the signatures lost: a signer that exited 0 whose signature is not
 * in the `.sig` image at the end. Used by `tests/registry_writes_test.ts` (3 runs) and
 * `scripts/bench_signers.ts` (10 runs).
 * @module
 */

import { startFaultProxy } from "./fault_proxy.ts";
import { pushImage } from "./images.ts";
import { startRegistry } from "./registry.ts";
import { TEST_DENO_DIR } from "../helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SIG_ANNOTATION = "dev.cosignproject.cosign/signature";

/** Options for {@link signerRace}. */
export interface SignerRaceOptions {
  /** Images signed, one after the other. */
  runs: number;
  /** Signers per image, all at once. */
  signers: number;
  /** Latency the proxy adds to every request: uniform in [min, max] ms. */
  latencyMs: [number, number];
  /** A scratch folder (keys and the signers' private folders go below it). */
  workDir: string;
  /** Told about each run as it ends. */
  onRun?: (run: SignerRun) => void;
  /**
   * `legacy`: the `.sig` image (`--new-bundle-format=false`); `v3` (cosign v3's default): one
   * bundle referrer each, listed in the `sha256-<hex>` fallback index. Default legacy.
   */
  format?: "legacy" | "v3";
}

/** One image signed by all signers at once. */
export interface SignerRun {
  /** 1-based. */
  run: number;
  /** Signers that exited 0. */
  succeeded: number;
  /** Signers that exited 0 and whose signature is missing at the end. */
  lost: number;
  /** Signers that exited non-zero, with the first line of their error. */
  failed: string[];
  /** Wall time of the run, ms (all signers started to the last one done). */
  ms: number;
}

/** Runs the race; returns every run. Stops the registry and proxy it started. */
export async function signerRace(opts: SignerRaceOptions): Promise<SignerRun[]> {
  await using reg = await startRegistry();
  const [min, max] = opts.latencyMs;
  await using proxy = await startFaultProxy(reg, {
    keepAlive: true,
    latencyMs: () => min + Math.random() * (max - min),
  });
  const password = "race";
  const keys = await Promise.all(
    Array.from({ length: opts.signers }, async (_, i) => {
      const dir = `${opts.workDir}/signer${i}`;
      for (const sub of ["tmp", "home", "run"]) {
        await Deno.mkdir(`${dir}/${sub}`, { recursive: true, mode: 0o700 });
      }
      const env = {
        COSIGN_PASSWORD: password,
        TMPDIR: `${dir}/tmp`,
        HOME: `${dir}/home`,
        XDG_RUNTIME_DIR: `${dir}/run`,
      };
      const g = await cli(["generate-key-pair", "--output-key-prefix", `${dir}/k`], env);
      if (g.code !== 0) throw new Error(`generate-key-pair failed: ${g.stderr}`);
      return { dir, key: `${dir}/k.key`, env };
    }),
  );
  const runs: SignerRun[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    const layerBytes = new TextEncoder().encode(`signer race ${run} ${crypto.randomUUID()}\n`);
    const img = await pushImage(reg, `race/r${run}:v1`, { layerBytes });
    const t0 = performance.now();
    const v3 = opts.format === "v3";
    const results = await Promise.all(keys.map((k) =>
      cli([
        "sign",
        `--new-bundle-format=${v3}`,
        "--key",
        k.key,
        "--tlog-upload=false",
        "--output-signature",
        `${k.dir}/sig${run}.b64`,
        `${proxy.host}/race/r${run}@${img.digest}`,
      ], k.env)
    ));
    const ms = Math.round(performance.now() - t0);
    const kept = v3
      ? await bundleSignatures(reg.url, `race/r${run}`, img.digest)
      : await layerSignatures(reg.url, `race/r${run}`, img.digest);
    // Each signer's --output-signature is the base64 signature it added.
    const written = await Promise.all(
      keys.map((k, i) =>
        results[i]!.code === 0 ? Deno.readTextFile(`${k.dir}/sig${run}.b64`) : undefined
      ),
    );
    const ok = results.filter((r) => r.code === 0);
    const lost = written.filter((s) => s !== undefined && !kept.has(s.trim())).length;
    const failed = results.filter((r) => r.code !== 0).map((r) =>
      `exit ${r.code}: ${r.stderr.trim().split("\n").at(-1)}`
    );
    const one = { run, succeeded: ok.length, lost, failed, ms };
    opts.onRun?.(one);
    runs.push(one);
  }
  return runs;
}

/** The signatures of the `.sig` image's layers. */
async function layerSignatures(url: string, repo: string, digest: string): Promise<Set<unknown>> {
  const res = await fetch(`${url}/v2/${repo}/manifests/sha256-${digest.slice(7)}.sig`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  const manifest = res.ok ? await res.json() : { layers: [] };
  return new Set(
    (manifest.layers as { annotations?: Record<string, string> }[]).map((l) =>
      l.annotations?.[SIG_ANNOTATION]
    ),
  );
}

/** The envelope signatures of the bundles the fallback index lists. */
async function bundleSignatures(url: string, repo: string, digest: string): Promise<Set<unknown>> {
  const res = await fetch(`${url}/v2/${repo}/manifests/sha256-${digest.slice(7)}`, {
    headers: { accept: "application/vnd.oci.image.index.v1+json" },
  });
  const index = res.ok ? await res.json() : { manifests: [] };
  const sigs = new Set<unknown>();
  for (const entry of index.manifests as { digest: string }[]) {
    const m = await (await fetch(`${url}/v2/${repo}/manifests/${entry.digest}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    })).json();
    const bundle = await (await fetch(`${url}/v2/${repo}/blobs/${m.layers[0].digest}`)).json();
    sigs.add(bundle.dsseEnvelope?.signatures?.[0]?.sig);
  }
  return sigs;
}

async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; stderr: string }> {
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("COSIGN_")) cleanEnv[k] = v;
  }
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      "cosign",
      ...args,
    ],
    env: { ...cleanEnv, DENO_DIR: TEST_DENO_DIR, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}
