/**
 * Benchmark of keyless `sign-blob` against sigstore-js (`deno run --allow-all
 * scripts/bench_keyless.ts`, part of `deno task bench`).
 *
 * Both sides sign the same blob keylessly against the same loopback services, started here: the
 * OpenID Connect provider (a real `oidc-provider`; the token comes from its device flow, the bench
 * acting as the user), the checking Fulcio front with its TSA (tests/harness/keyless.ts), and the
 * fake Rekor v1 (tests/harness/rekor.ts). Each run is a whole process with the token given:
 *
 * - ours: `deno run … cli.ts cosign sign-blob --use-signing-config=false --fulcio-url …
 *   --rekor-url … --timestamp-server-url … --trusted-root … --identity-token … -y
 *   --new-bundle-format --bundle out.json blob` (it also checks Fulcio's chain and SCT against the
 *   trusted root before signing, which the peer does not);
 * - the peer: `npm:@sigstore/sign@5.1.0` under the `node` on PATH (`MessageSignatureBundleBuilder`
 *   with a `FulcioSigner`, a `RekorWitness` and a `TSAWitness`), installed pinned into
 *   `.bench-cache/sigstore-sign/` (gitignored) on first use.
 *
 * Before timing, each side's bundle must verify with our `verify-blob` for the identity (so
 * neither is timed doing less). Requests to Fulcio, Rekor and the TSA are counted for one run of
 * each. Timing: ROUNDS rounds alternating which side goes first, median wall time, process start
 * included. Target (the keyless signing issue): at most the peer's requests and at most 1.5x its
 * wall time.
 *
 * Prints a plain-text table and a markdown section for BENCHMARKS.md (between
 * `<!-- keyless:begin -->` and `<!-- keyless:end -->`), also written to /tmp/bench_keyless.md.
 * @module
 */

import { fileURLToPath } from "node:url";
import { startKeylessServices } from "../tests/harness/keyless.ts";
import { startRekor } from "../tests/harness/rekor.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLI = ROOT + "cli.ts";
const CONFIG = ROOT + "deno.json";
const CACHE = ROOT + ".bench-cache/sigstore-sign/";
const PEER_SCRIPT = CACHE + "sign.mjs";
const MARKDOWN_OUT = "/tmp/bench_keyless.md";
const PEER_VERSION = "5.1.0";
const ROUNDS = 10;
const TIME_TARGET = 1.5;

const PEER_SOURCE = `
import { readFileSync, writeFileSync } from "node:fs";
import {
  FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, TSAWitness,
} from "@sigstore/sign";
import { bundleToJSON } from "@sigstore/bundle";
const [fulcio, rekor, tsa, token, blob, out] = process.argv.slice(2);
const signer = new FulcioSigner({
  fulcioBaseURL: fulcio,
  identityProvider: { getToken: () => Promise.resolve(token) },
});
const builder = new MessageSignatureBundleBuilder({
  signer,
  witnesses: [new RekorWitness({ rekorBaseURL: rekor }), new TSAWitness({ tsaBaseURL: tsa })],
});
const bundle = await builder.create({ data: readFileSync(blob) });
writeFileSync(out, JSON.stringify(bundleToJSON(bundle)));
`;

function fail(message: string): never {
  console.error(`bench_keyless: ${message}`);
  Deno.exit(2);
}

async function run(cmd: string[], env?: Record<string, string>): Promise<
  { code: number; stderr: string; ms: number }
> {
  const start = performance.now();
  const r = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdout: "null",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).output();
  const ms = performance.now() - start;
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr), ms };
}

async function installPeer(): Promise<void> {
  const pkg = `${CACHE}node_modules/@sigstore/sign/package.json`;
  try {
    if (JSON.parse(await Deno.readTextFile(pkg)).version === PEER_VERSION) {
      await Deno.writeTextFile(PEER_SCRIPT, PEER_SOURCE);
      return;
    }
  } catch {
    // not installed yet
  }
  await Deno.mkdir(CACHE, { recursive: true });
  await Deno.writeTextFile(
    CACHE + "package.json",
    JSON.stringify({
      private: true,
      type: "module",
      dependencies: { "@sigstore/sign": PEER_VERSION },
    }),
  );
  const r = await new Deno.Command("npm", {
    args: ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
    cwd: CACHE,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (r.code !== 0) {
    fail(`npm install @sigstore/sign failed: ${new TextDecoder().decode(r.stderr)}`);
  }
  await Deno.writeTextFile(PEER_SCRIPT, PEER_SOURCE);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  await installPeer();
  await using svc = await startKeylessServices();
  await using rekor = await startRekor();
  const dir = await Deno.makeTempDir({ prefix: "cosign-bench-keyless-" });
  try {
    const root = `${dir}/trusted_root.json`;
    const trusted = svc.trustedRoot(rekor.publicKeyPem) as { tlogs: { baseUrl: string }[] };
    trusted.tlogs[0]!.baseUrl = rekor.url;
    await Deno.writeTextFile(root, JSON.stringify(trusted));
    const blob = `${dir}/blob.txt`;
    await Deno.writeTextFile(blob, "a release artifact to sign keylessly\n".repeat(1000));
    const token = await svc.deviceFlowToken("bench");
    const tsaBase = svc.tsaUrl.replace(/\/api\/v1\/timestamp$/, "");
    const ours = (out: string) => [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      CONFIG,
      CLI,
      "cosign",
      "sign-blob",
      "--use-signing-config=false",
      `--fulcio-url=${svc.fulcioUrl}`,
      `--rekor-url=${rekor.url}`,
      `--timestamp-server-url=${svc.tsaUrl}`,
      `--trusted-root=${root}`,
      `--identity-token=${token}`,
      "-y",
      "--new-bundle-format",
      `--bundle=${out}`,
      blob,
    ];
    const peer = (out: string) => [
      "node",
      PEER_SCRIPT,
      svc.fulcioUrl,
      rekor.url,
      tsaBase,
      token,
      blob,
      out,
    ];
    // No ambient token may stand in for the one given.
    const env = { SIGSTORE_ID_TOKEN: "" };
    const sides = { ours, peer } as const;
    const requests: Record<string, { fulcio: number; rekor: number; tsa: number }> = {};
    for (const [name, cmd] of Object.entries(sides)) {
      const out = `${dir}/${name}.sigstore.json`;
      const before = { f: svc.fulcioLog.length, r: rekor.requests.length, t: svc.tsaRequests };
      const r = await run(cmd(out), env);
      if (r.code !== 0) fail(`${name} could not sign: ${r.stderr.trim().split("\n").at(-1)}`);
      requests[name] = {
        fulcio: svc.fulcioLog.length - before.f,
        rekor: rekor.requests.length - before.r,
        tsa: svc.tsaRequests - before.t,
      };
      const v = await run([
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-all",
        "--config",
        CONFIG,
        CLI,
        "cosign",
        "verify-blob",
        `--bundle=${out}`,
        `--trusted-root=${root}`,
        "--certificate-identity=bench@example.com",
        `--certificate-oidc-issuer=${svc.issuer}`,
        blob,
      ]);
      if (v.code !== 0) fail(`${name}'s bundle does not verify: ${v.stderr.trim()}`);
    }
    const times: Record<string, number[]> = { ours: [], peer: [] };
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? ["ours", "peer"] as const : ["peer", "ours"] as const;
      for (const name of order) {
        const r = await run(sides[name](`${dir}/${name}-${i}.json`), env);
        if (r.code !== 0) fail(`${name} failed in round ${i}: ${r.stderr.trim()}`);
        times[name]!.push(r.ms);
      }
    }
    const o = median(times.ours!), p = median(times.peer!);
    const total = (x: { fulcio: number; rekor: number; tsa: number }) => x.fulcio + x.rekor + x.tsa;
    const ro = requests.ours!, rp = requests.peer!;
    const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ")
      .slice(0, 3).join(" ");
    const date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const lines = [
      "<!-- keyless:begin -->",
      "### Keyless sign-blob (loopback OIDC, Fulcio, Rekor v1, TSA) vs sigstore-js",
      "",
      `Measured ${date}, load ${load}; ${ROUNDS} runs per side, alternating, median; process start included.`,
      "",
      "| | ours | @sigstore/sign " + PEER_VERSION + " (Node) | ratio |",
      "| --- | --- | --- | --- |",
      `| wall time | ${o.toFixed(0)} ms | ${p.toFixed(0)} ms | ${(o / p).toFixed(2)}x |`,
      `| requests (Fulcio + Rekor + TSA) | ${ro.fulcio} + ${ro.rekor} + ${ro.tsa} = ${
        total(ro)
      } | ${rp.fulcio} + ${rp.rekor} + ${rp.tsa} = ${total(rp)} | ${
        (total(ro) / total(rp)).toFixed(2)
      }x |`,
      "",
      `Target: at most the peer's requests (${
        total(ro) <= total(rp) ? "met" : "missed"
      }) and at most ${TIME_TARGET}x its wall time (${
        o / p <= TIME_TARGET ? "met" : "missed"
      }). Ours also checks Fulcio's chain and SCT against the trusted root before signing; the peer does not.`,
      "<!-- keyless:end -->",
    ];
    const md = lines.join("\n");
    console.log(
      `keyless sign-blob: ours ${o.toFixed(0)} ms, peer ${p.toFixed(0)} ms (${
        (o / p).toFixed(2)
      }x); requests ours ${total(ro)}, peer ${total(rp)}`,
    );
    console.log(md);
    await Deno.writeTextFile(MARKDOWN_OUT, md + "\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
