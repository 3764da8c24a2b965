/**
 * Benchmark of the image commands against their peers, side by side in one run
 * (`deno run --allow-all scripts/bench_images.ts`):
 *
 * 1. Requests sent by `cosign sign` and `cosign verify` of a tagged image on a token-auth
 *    registry (the real CNCF distribution registry of `tests/harness/`), counted at a fault
 *    proxy in front of it (every registry request, in order, with its status) plus the token
 *    server's own log. Cold is a fresh HOME (no remembered registry); warm is a second run
 *    with the same HOME. Two layouts: the legacy `.sig` image (`sign --new-bundle-format=false`,
 *    then `verify` of that image), whose peer is the request sequence go-containerregistry-based
 *    cosign v2 sends for the same command ({@link GGCR_SIGN}, {@link GGCR_VERIFY}); and the v3
 *    layout (`sign` by default: a Sigstore bundle as an OCI 1.1 referrer, found through the
 *    `sha256-<hex>` fallback tag since distribution has no referrers API), whose peer is cosign
 *    v3's sequence ({@link GGCR_SIGN_V3}, {@link GGCR_VERIFY_V3}). All are derived from sources.
 * 2. `cosign verify` of an image carrying 100 signatures against one carrying 1 signature, on
 *    the same no-auth registry: median wall time (hyperfine). The `.sig` images are built here
 *    with openssl signatures and pushed with plain `fetch` (no product code).
 * 3. `sget` of an artifact (BENCH_SIZE_MB MiB, default 1024) by digest after
 *    `cosign upload blob`, against `curl -s URL | sha256sum` of the same blob URL: median wall
 *    time, and sget's peak RSS (GNU time).
 * 4. Start-up: `sget --help` and `cosign --help`, warm (hyperfine medians).
 * 5. Memory: `cosign verify` of an image whose `.sig` holds 24 layers of 64 MiB, each signed by
 *    the key over its bytes (so every signature is checked over all 64 MiB) and each refused
 *    after that because its payload is no simple-signing JSON: peak RSS (GNU time) against
 *    300 MB (issue 19.7). The layers are made as they are served by a small registry in this
 *    process, so 1.5 GB is neither stored nor pushed.
 * 6. `cosign verify` of an image with 100 v3 referrers (Sigstore bundles in the fallback index)
 *    against one with 1, on the same no-auth registry: median wall time (hyperfine). The bundles
 *    are built in this process (node:crypto signatures over the DSSE PAE of cosign's statement
 *    with the subject annotation `n` = 0…99,
 *    `bundleV03Json`, `referrerManifest`) and pushed once with plain `fetch`, index included.
 *
 * Every ratio printed is ours / peer (lower is better). It prints a plain-text table, then a
 * markdown section for BENCHMARKS.md (between `<!-- images:begin -->` and
 * `<!-- images:end -->`), also written to /tmp/bench_images.md. `BENCH_ONLY` (comma list of
 * `requests`, `verify`, `sget`, `startup`, `bigsigs`, `referrers`) runs a subset. Temporary files live in one
 * `cosign-bench-images-*` folder under the system temp directory; it and every registry started
 * are removed at the end, also on failure or Ctrl-C. Commands under test run with a HOME inside
 * that folder, so the user's own registry cache and credentials are neither read nor written.
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type FaultProxy,
  type ProxyLogEntry,
  pushImage,
  type Registry,
  startFaultProxy,
  startRegistry,
  type TokenRequest,
} from "../tests/harness/mod.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CONFIG = ROOT + "deno.json";
const CLI = ROOT + "cli.ts";
const PASSWORD = "bench-images-password";
const GNU_TIME = "/usr/bin/time";
const MARKDOWN_OUT = "/tmp/bench_images.md";

/** Targets from the project brief. */
const TARGET = {
  /** Requests (registry + token), ours / go-containerregistry's cosign v2 (legacy `.sig`). */
  requestRatio: 0.7,
  /** Requests (registry + token), ours / cosign v3's (v3 referrers): at most its count. */
  requestRatioV3: 1,
  /** verify with 100 signatures / verify with 1. */
  manySigRatio: 2,
  /** sget / `curl | sha256sum`. */
  sgetRatio: 1.5,
  rssMB: 150,
  sgetHelpMs: 100,
  /** `cosign verify` of BIG_LAYERS signature layers of BIG_LAYER_MIB MiB: peak RSS. */
  bigSigsRssMB: 300,
};

const BIG_LAYERS = 24;
const BIG_LAYER_MIB = 64;

const MANY = 100;
const VERIFY_RUNS = 5;
const SGET_RUNS = 5;
const RSS_RUNS = 3;
const STARTUP_MIN_RUNS = 20;

type Section = "requests" | "verify" | "sget" | "startup" | "bigsigs" | "referrers";
const SECTIONS: Section[] = ["requests", "verify", "sget", "startup", "bigsigs", "referrers"];

// ---------------------------------------------------------------------------------------------
// The peer: what go-containerregistry-based cosign v2 sends, derived from its sources

/** One request of a derived sequence. */
interface PeerStep {
  kind: "registry" | "token";
  request: string;
  /** Where the request comes from. */
  source: string;
}

/**
 * `cosign sign --key k --tlog-upload=false REG/REPO:TAG` (image not signed yet), token auth.
 * cosign v2.4.1 with go-containerregistry ≥ v0.15.2.
 */
const GGCR_SIGN: PeerStep[] = [
  {
    kind: "registry",
    request: "GET /v2/ → 401",
    source: "ping of option set A's Puller: `sign.go` SignCmd `regOpts.ClientOpts(ctx)` → " +
      "`options/registry.go` GetRegistryClientOpts (`remote.NewPusher`/`NewPuller` + " +
      "`remote.Reuse`); `pkg/oci/remote/remote.go` SignedEntity → `remote.Get` → " +
      "`puller.go` fetcher → `descriptor.go` makeFetcher → `transport/transport.go` " +
      "NewWithContext → `transport/ping.go`",
  },
  {
    kind: "token",
    request: "GET token (pull)",
    source: "`transport.go` NewWithContext: bearer challenge → `bearer.go` refresh " +
      "(refreshBasic, Basic creds), scope `repository:R:pull` (makeFetcher)",
  },
  {
    kind: "registry",
    request: "GET manifests/<tag> → 200",
    source: "SignedEntity `remote.Get` (`descriptor.go` fetchManifest)",
  },
  {
    kind: "registry",
    request: "GET manifests/<sig tag> → 404",
    source: "`pkg/oci/remote/write.go` WriteSignatures → `se.Signatures()` on the entity " +
      "`sign.go` signDigest made with `mutate.AttachSignatureToEntity` (`pkg/oci/mutate` " +
      "signedImage.Signatures: the existing signatures, then the dupe detector) → " +
      "`remote.go` signatures → `signatures.go` Signatures → `remote.Image`; option set A's " +
      "Puller, already authenticated for the repository: no new ping",
  },
  {
    kind: "registry",
    request: "GET /v2/ → 401",
    source: "signDigest builds a second option set, `walkOpts := " +
      "signOpts.Registry.ClientOpts(ctx)` (a new Pusher); WriteSignatures → `remote.Write` → " +
      "`pusher.go` writer → `write.go` makeWriter → NewWithContext → ping",
  },
  {
    kind: "token",
    request: "GET token (push,pull)",
    source: "`write.go` makeWriter, scopes from scopesForUploadingImage (push scope first)",
  },
  {
    kind: "registry",
    request: "HEAD manifests/<sig tag> → 404",
    source: "`pusher.go` writeManifest → manifestExists (tag push)",
  },
  ...["signature layer", "config"].flatMap((blob): PeerStep[] => [
    {
      kind: "registry",
      request: `HEAD blobs/<${blob}> → 404`,
      source: "`write.go` uploadOne → checkExistingBlob (`pusher.go` writeLayers runs the " +
        "layer and the config in parallel)",
    },
    {
      kind: "registry",
      request: "POST blobs/uploads/ → 202",
      source: "`write.go` initiateUpload (no `mount`/`from`: not a MountableLayer)",
    },
    { kind: "registry", request: "PATCH <location> → 202", source: "`write.go` streamBlob" },
    {
      kind: "registry",
      request: "PUT <location>?digest= → 201",
      source: "`write.go` commitBlob",
    },
  ]),
  {
    kind: "registry",
    request: "PUT manifests/<sig tag> → 201",
    source: "`write.go` commitManifest",
  },
];

/** `cosign verify --key k.pub --insecure-ignore-tlog REG/REPO:TAG` with one signature. */
const GGCR_VERIFY: PeerStep[] = [
  {
    kind: "registry",
    request: "GET /v2/ → 401",
    source: "ping of the one option set (`verify.go` `c.ClientOpts(ctx)` → " +
      "co.RegistryClientOpts, with `remote.Reuse`); `pkg/cosign/verify.go` " +
      "VerifyImageSignatures → `pkg/oci/remote` ResolveDigest → `remote.Get` → `puller.go`",
  },
  {
    kind: "token",
    request: "GET token (pull)",
    source: "`transport.go` NewWithContext → `bearer.go` refresh",
  },
  {
    kind: "registry",
    request: "GET manifests/<tag> → 200",
    source: "ResolveDigest (`remote.Get`)",
  },
  {
    kind: "registry",
    request: "GET manifests/<sig tag> → 200",
    source: "SignatureTag (digest ref: no request) + `signatures.go` Signatures → `remote.Image`",
  },
  {
    kind: "registry",
    request: "GET blobs/<signature layer> → 200",
    source: "`verify.go` verifySignatures → `static.Copy(sig)` → `sig.Payload()` (one GET per " +
      "signature; later Payload() calls read the copy)",
  },
];

const GGCR_ASSUMPTIONS = [
  "Sources read: sigstore/cosign `cmd/cosign/cli/sign/sign.go`, " +
  "`cmd/cosign/cli/options/registry.go`, `pkg/oci/remote/{remote,signatures,write}.go`, " +
  "ResolveDigest, `pkg/cosign/verify.go`; google/go-containerregistry " +
  "`pkg/v1/remote/{descriptor,puller,pusher,write,options}.go`, " +
  "`pkg/v1/remote/transport/{transport,ping}.go`. The stored copies are of v2 and v3 HEAD " +
  "commits, not the v2.4.1 tag; the parts used here (two `ClientOpts` calls in sign, one in " +
  "verify, `remote.Reuse` since cosign PR #2929, `static.Copy` since v2.2.3) are the same in " +
  "all v2 versions that have them.",
  "`remote.Reuse(puller)` shares one ping and one token per option set and repository " +
  "(`puller.go` readers map). Since go-containerregistry PR #1701 (v0.15.2) a Puller no " +
  "longer borrows the Pusher's transport, so reads use a pull token and writes a push token.",
  "Sign builds two option sets (`opts` in SignCmd, `walkOpts` in signDigest), so the write " +
  "pays a second ping and token exchange. Nothing is kept between processes: cold = warm.",
  "On a plain-HTTP registry (127.0.0.1) ggcr's ping tries https first (`ping.go`); that TLS " +
  "attempt is no HTTP request and is not counted. No retries, no errors.",
  "`--tlog-upload=false` makes ShouldUploadToTlog return before its `remote.Get` (sign.go); " +
  "`--insecure-ignore-tlog` makes no Rekor or TUF requests (not registry requests anyway).",
];

/**
 * `cosign sign --key k --tlog-upload=false REG/REPO:TAG` with cosign v3 (new bundle format, the
 * default), token auth, a registry without the referrers API, the image not signed yet.
 * sigstore/cosign v3 HEAD with go-containerregistry HEAD.
 */
const GGCR_SIGN_V3: PeerStep[] = [
  {
    kind: "registry",
    request: "GET /v2/ → 401",
    source: "ping of option set A's Puller: `sign.go` SignCmd `regOpts.ClientOpts(ctx)` " +
      "(`options/registry.go` GetRegistryClientOpts: `remote.Reuse` of a new Pusher and " +
      "Puller); `ociremote.SignedEntity` → `remote.Get` → `puller.go` fetcher → " +
      "`transport.NewWithContext` → `ping.go`",
  },
  {
    kind: "token",
    request: "GET token (pull)",
    source: "`transport.go` NewWithContext → `bearer.go` refresh, scope `repository:R:pull`",
  },
  {
    kind: "registry",
    request: "GET manifests/<tag> → 200",
    source: "SignedEntity `remote.Get`; `walk.SignedEntity` calls the function once for an " +
      "image and its digest comes from that manifest (no request); `GetAttachedImageRef` with " +
      "no attachment and `ShouldUploadToTlog` with `--tlog-upload=false` send nothing",
  },
  {
    kind: "registry",
    request: "GET /v2/ → 401",
    source: "signDigestBundle builds a second option set, `ociremoteOpts := " +
      "regOpts.ClientOpts(ctx)` (new Pusher and Puller); WriteAttestationNewBundleFormat → " +
      "`pkg/oci/remote/write.go` WriteReferrer → `remoteHead` (`remote.Head`) → Puller B's " +
      "fetcher → ping",
  },
  {
    kind: "token",
    request: "GET token (pull)",
    source: "Puller B's transport (`bearer.go` refresh), scope pull",
  },
  {
    kind: "registry",
    request: "HEAD manifests/<digest> → 200",
    source: "WriteReferrer `remoteHead(ref)`: the subject descriptor (media type, digest, size)",
  },
  {
    kind: "registry",
    request: "GET /v2/ → 401",
    source: "writeEmptyConfigLayer → `remoteWriteLayer` (`remote.WriteLayer`) → Pusher B " +
      "`Upload` → `pusher.go` writer → repoWriter.init → `write.go` makeWriter → " +
      "NewWithContext → ping (once for Pusher B: the bundle layer and the manifest reuse it)",
  },
  {
    kind: "token",
    request: "GET token (push,pull)",
    source: "makeWriter, scopes from scopesForUploadingImage(repo, nil) (push scope first)",
  },
  ...[
    ["empty config `{}`", "writeEmptyConfigLayer (the image's config is not `{}`)"],
    ["bundle layer", "WriteReferrer's layer loop, after the config (one at a time)"],
  ].flatMap(([blob, why]): PeerStep[] => [
    {
      kind: "registry",
      request: `HEAD blobs/<digest> → 404`,
      source: `${blob}: ${why}; \`pusher.go\` writeLayer → \`write.go\` uploadOne → ` +
        "checkExistingBlob",
    },
    {
      kind: "registry",
      request: "POST blobs/uploads/ → 202",
      source: "`write.go` initiateUpload (a static layer is no MountableLayer: no `from`)",
    },
    { kind: "registry", request: "PATCH <location> → 202", source: "`write.go` streamBlob" },
    {
      kind: "registry",
      request: "PUT <location>?digest= → 201",
      source: "`write.go` commitBlob",
    },
  ]),
  {
    kind: "registry",
    request: "PUT manifests/<digest> → 201",
    source: "WriteReferrer `remotePut` (`remote.Put` → `Pusher.Put` → writer.commitManifest: " +
      "no existence HEAD) to `repo@<manifest digest>` (referrerManifest.targetRef)",
  },
  {
    kind: "registry",
    request: "GET referrers/<digest> → 404",
    source: "`write.go` commitManifest: the manifest has a `subject`, so commitSubjectReferrers " +
      "probes the referrers API (it does not look at an `OCI-Subject` header)",
  },
  {
    kind: "registry",
    request: "GET manifests/<referrers tag> → 404",
    source: "commitSubjectReferrers, `referrersTagFallback` on by default (`options.go`): GET " +
      "of the fallback tag `sha256-<hex>` (not found: a new index with the one descriptor)",
  },
  {
    kind: "registry",
    request: "PUT manifests/<referrers tag> → 201",
    source: "commitSubjectReferrers → commitManifest of the sorted index (it has no subject: " +
      "nothing more)",
  },
];

/**
 * `cosign verify --key k.pub --insecure-ignore-tlog REG/REPO:TAG` of an image with one v3
 * referrer (found through the fallback tag), cosign v3 HEAD, token auth.
 */
const GGCR_VERIFY_V3: PeerStep[] = [
  {
    kind: "registry",
    request: "GET /v2/ → 401",
    source: "ping of the one option set (`verify.go` Exec `c.ClientOpts(ctx)`, with " +
      "`remote.Reuse`); first use: the format detection, `--new-bundle-format` defaults to " +
      "true (`options/verify.go`), so Exec calls `cosign.GetBundles` → `ResolveDigest` → " +
      "`remote.Get` → `puller.go`",
  },
  {
    kind: "token",
    request: "GET token (pull)",
    source: "`transport.go` NewWithContext → `bearer.go` refresh",
  },
  ...[
    "format detection (`verify.go` Exec)",
    "`VerifyImageAttestations` → " +
    "verifyImageAttestationsSigstoreBundle (same puller: no new ping or token)",
  ].flatMap(
    (call): PeerStep[] => [
      {
        kind: "registry",
        request: "GET manifests/<tag> → 200",
        source: `GetBundles of the ${call}: \`ResolveDigest\` (\`remote.Get\`)`,
      },
      {
        kind: "registry",
        request: "GET referrers/<digest> → 404",
        source: "GetBundles → `ociremote.Referrers` → `remote.Referrers` → " +
          "`referrers.go` fetchReferrers",
      },
      {
        kind: "registry",
        request: "GET manifests/<referrers tag> → 200",
        source: "fetchReferrers: not 200 → fetchManifest of the fallback tag (no pagination)",
      },
      {
        kind: "registry",
        request: "GET manifests/<digest> → 200",
        source: "GetBundles, per index entry: `ociremote.Bundle` → `remote.Image` " +
          "(`remote.Get`)",
      },
      {
        kind: "registry",
        request: "GET blobs/<digest> → 200",
        source: "Bundle: `layers[0].Uncompressed()` → remoteImageLayer.Compressed → " +
          "fetchBlobURL (its media type comes from the manifest: no request)",
      },
    ],
  ),
];

const GGCR_ASSUMPTIONS_V3 = [
  "Sources read (cosign v3 HEAD, go-containerregistry HEAD): sigstore/cosign " +
  "`cmd/cosign/cli/sign/sign.go` (SignCmd, signDigestBundle), " +
  "`cmd/cosign/cli/signcommon/common.go` (ShouldUploadToTlog), " +
  "`cmd/cosign/cli/verify/verify.go` (Exec), `cmd/cosign/cli/options/{registry,verify}.go`, " +
  "`pkg/oci/remote/{write,referrers,signatures,digest,remote}.go`, `pkg/cosign/verify.go` " +
  "(GetBundles, VerifyImageAttestations); google/go-containerregistry " +
  "`pkg/v1/remote/{write,pusher,puller,referrers,image,options}.go`, `pkg/v1/partial/compressed.go`.",
  "Sign builds two option sets (SignCmd's `opts`, signDigestBundle's `ociremoteOpts`); the " +
  "second one's Puller (the subject HEAD) and Pusher (blobs, manifest, fallback index) each " +
  "ping and fetch a token: 3 pings and 3 tokens.",
  "Verify of a v3 image calls GetBundles twice (format detection, then verification) with " +
  "nothing cached between them: the tag, the referrers probe, the fallback index, the " +
  "referrer manifest and the bundle are each fetched twice. 1 signature here; each more " +
  "referrer adds 2 × (manifest GET + blob GET).",
  "The registry has no referrers API (distribution answers 404), so go-containerregistry " +
  "uses the fallback tag; with the API, sign sends no fallback GET/PUT and verify no fallback GET.",
];

function peerCounts(steps: PeerStep[]): { registry: number; token: number; total: number } {
  const token = steps.filter((s) => s.kind === "token").length;
  return { registry: steps.length - token, token, total: steps.length };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

class BenchError extends Error {}

function sections(): Section[] {
  const only = (Deno.env.get("BENCH_ONLY") ?? "").trim();
  if (only === "") return SECTIONS;
  const picked = only.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const s of picked) {
    if (!SECTIONS.includes(s as Section)) {
      throw new BenchError(`BENCH_ONLY: unknown section "${s}" (${SECTIONS.join(", ")})`);
    }
  }
  return picked as Section[];
}

function sizeMiB(): number {
  const raw = Deno.env.get("BENCH_SIZE_MB") ?? "1024";
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1) {
    throw new BenchError(`BENCH_SIZE_MB must be a positive whole number of MiB, got "${raw}"`);
  }
  return n;
}

function which(name: string): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "").map((d) => `${d}/${name}`);
  for (const path of candidates) {
    try {
      const st = Deno.statSync(path);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // not there: try the next one
    }
  }
  return undefined;
}

/** Child processes still running (stopped on Ctrl-C / SIGTERM). */
const children = new Set<Deno.ChildProcess>();
let interrupted = false;

interface RunOptions {
  /** The complete environment of the program (default: inherited). */
  env?: Record<string, string>;
  /** "null" sends stdout to /dev/null. Default "piped". */
  stdout?: "piped" | "null";
  allowFail?: boolean;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; throws with its output when it fails (unless `allowFail`). */
async function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new BenchError("empty command");
  if (interrupted) throw new BenchError("interrupted");
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: opts.stdout ?? "piped",
    stderr: "piped",
    ...(opts.env ? { env: opts.env, clearEnv: true } : {}),
  }).spawn();
  children.add(child);
  let res: RunResult;
  try {
    const [status, out, err] = await Promise.all([
      child.status,
      opts.stdout === "null" ? Promise.resolve("") : new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    res = { code: status.code, stdout: out, stderr: err };
  } finally {
    children.delete(child);
  }
  if (interrupted) throw new BenchError("interrupted");
  if (res.code !== 0 && !opts.allowFail) {
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

/** The argv that runs this repository's CLI (`cosign …` or `sget …`), as users run it. */
function cli(program: "cosign" | "sget", ...args: string[]): string[] {
  return [Deno.execPath(), "run", "--quiet", "--allow-all", "--config", CONFIG, CLI, program]
    .concat(args);
}

let denoDir = "";

/**
 * The environment for commands under test: inherited, minus anything that points at the
 * user's registry credentials, caches or cosign settings; HOME and the XDG folders inside
 * `home`; Deno's own module cache kept (so nothing is downloaded).
 */
function cliEnv(home: string, tmp: string, extra: Record<string, string> = {}) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (
      k.startsWith("COSIGN_") || k.startsWith("XDG_") || k.startsWith("DOCKER_") ||
      k.startsWith("REGISTRY_") || k === "HOME" || k === "TMPDIR" || k === "DENO_DIR"
    ) continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    XDG_CACHE_HOME: `${home}/.cache`,
    XDG_CONFIG_HOME: `${home}/.config`,
    XDG_RUNTIME_DIR: home,
    DENO_DIR: denoDir,
    TMPDIR: tmp,
    NO_COLOR: "1",
    ...extra,
  };
}

function fmtTime(seconds: number): string {
  return seconds >= 1 ? `${seconds.toFixed(2)} s` : `${(seconds * 1000).toFixed(1)} ms`;
}

function fmtRatio(r: number): string {
  return `${r.toFixed(2)}x`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function sha256File(path: string): Promise<string> {
  const r = await run(["sha256sum", path]);
  return r.stdout.split(/\s+/)[0]!;
}

interface HyperfineResult {
  command: string;
  median: number;
  min: number;
  max: number;
  times: number[];
}

/** Runs hyperfine without a shell (`-N`); returns one result per command, in order. */
async function hyperfine(
  jsonPath: string,
  commands: { name: string; argv: string[] }[],
  runs: { warmup: number; runs?: number; minRuns?: number },
  env: Record<string, string>,
): Promise<HyperfineResult[]> {
  const args = ["hyperfine", "-N", "--warmup", String(runs.warmup), "--export-json", jsonPath];
  if (runs.runs !== undefined) args.push("--runs", String(runs.runs));
  if (runs.minRuns !== undefined) args.push("--min-runs", String(runs.minRuns));
  args.push("--style", "basic");
  for (const c of commands) args.push("--command-name", c.name, shellLine(c.argv));
  await run(args, { env });
  const json = JSON.parse(await Deno.readTextFile(jsonPath)) as {
    results: { command: string; median?: number; min: number; max: number; times?: number[] }[];
  };
  return json.results.map((r) => {
    const times = r.times ?? [];
    return {
      command: r.command,
      median: r.median ?? median(times),
      min: r.min,
      max: r.max,
      times,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  measure: string;
  ours: string;
  peer: string;
  ratio: string;
  target: string;
  /** true / false, or undefined for an informational row. */
  met?: boolean;
}

const rows: Row[] = [];
const notes: string[] = [];
const mdExtra: string[] = [];

// ---------------------------------------------------------------------------------------------
// 1. Request counts

/** One request seen (registry at the proxy, or the token server), in arrival order. */
type Seen = { kind: "registry"; e: ProxyLogEntry } | { kind: "token"; t: TokenRequest };

/** Makes every entry the proxy and the token server log also land in `into`, in order. */
function recordOrder(proxy: FaultProxy, tokenRequests: TokenRequest[], into: Seen[]): void {
  const plog = proxy.log;
  const pushP = plog.push.bind(plog);
  plog.push = (...items: ProxyLogEntry[]) => {
    for (const e of items) into.push({ kind: "registry", e });
    return pushP(...items);
  };
  const pushT = tokenRequests.push.bind(tokenRequests);
  tokenRequests.push = (...items: TokenRequest[]) => {
    for (const t of items) into.push({ kind: "token", t });
    return pushT(...items);
  };
}

/** A request written without repository names and digests. */
function describe(s: Seen): string {
  if (s.kind === "token") {
    const actions = [...new Set(s.t.scope.map((x) => x.split(":").at(-1) ?? ""))].join(" ");
    return `${s.t.method} token (${actions}) → ${s.t.status}`;
  }
  const { method, path, url, status } = s.e;
  let what = path;
  const m = /^\/v2\/(.+?)\/(manifests|blobs|referrers)\/(.*)$/.exec(path);
  if (path === "/v2/") what = "/v2/";
  else if (m) {
    const [, , kind, rest] = m;
    if (kind === "referrers") {
      what = "referrers/<digest>";
    } else if (kind === "manifests") {
      what = /^sha256-[0-9a-f]{64}\.sig$/.test(rest!)
        ? "manifests/<sig tag>"
        : /^sha256-[0-9a-f]{64}$/.test(rest!)
        ? "manifests/<referrers tag>"
        : /^sha256:[0-9a-f]{64}$/.test(rest!)
        ? "manifests/<digest>"
        : "manifests/<tag>";
    } else if (rest === "uploads/") {
      what = "blobs/uploads/";
    } else if (rest!.startsWith("uploads/")) {
      what = url.includes("digest=") ? "<location>?digest=" : "<location>";
    } else {
      what = "blobs/<digest>";
    }
  }
  return `${method} ${what} → ${status}`;
}

interface Counted {
  name: string;
  seen: Seen[];
  registry: number;
  token: number;
  total: number;
}

/** A derived sequence as a numbered markdown list with its heading. */
function peerList(title: string, steps: PeerStep[], tail: string): string[] {
  const c = peerCounts(steps);
  return [
    `${title}, ${c.total} requests (${c.registry} registry + ${c.token} token)${tail}:`,
    "",
    ...steps.map((s, i) => `${i + 1}. \`${s.request}\`: ${s.source}`),
    "",
  ];
}

async function measureRequests(root: string): Promise<void> {
  console.error("\n== 1. Requests: sign and verify of a tagged image, token-auth registry ==");
  const keys = `${root}/keys`;
  await Deno.mkdir(keys);
  const tmp = `${root}/tmp`;
  await run(cli("cosign", "generate-key-pair", "--output-key-prefix", `${keys}/k`), {
    env: cliEnv(`${root}/home-keys`, tmp, { COSIGN_PASSWORD: PASSWORD }),
  });

  await using reg = await startRegistry({ mode: "token" });
  await using proxy = await startFaultProxy(reg);
  const tokens = reg.tokenServer!;
  for (const repo of ["sign-cold", "sign-warm", "v3-cold", "v3-warm"]) {
    await pushImage(reg, `bench/${repo}:v1`);
  }
  const seen: Seen[] = [];
  recordOrder(proxy, tokens.requests, seen);

  const creds = ["--registry-username", reg.username!, "--registry-password", reg.password!];
  const at = (repo: string) => `${proxy.host}/bench/${repo}:v1`;

  const measure = async (name: string, argv: string[], home: string): Promise<Counted> => {
    const start = seen.length;
    await run(argv, { env: cliEnv(home, tmp, { COSIGN_PASSWORD: PASSWORD }) });
    const mine = seen.slice(start);
    const token = mine.filter((s) => s.kind === "token").length;
    const c = { name, seen: mine, registry: mine.length - token, token, total: mine.length };
    console.error(`${name}: ${c.total} requests (${c.registry} registry + ${c.token} token)`);
    for (const s of mine) console.error(`    ${describe(s)}`);
    return c;
  };
  const signArgs = (ref: string, ...extra: string[]) =>
    cli("cosign", "sign", "--key", `${keys}/k.key`, "--tlog-upload=false", ...extra, ...creds, ref);
  const verifyArgs = (ref: string) =>
    cli("cosign", "verify", "--key", `${keys}/k.pub`, "--insecure-ignore-tlog", ...creds, ref);
  const legacy = "--new-bundle-format=false";

  // Cold: a fresh HOME. Warm: the same HOME again, signing another unsigned image, so that
  // the two runs differ only by what the first one remembered. Each layout has its own HOMEs.
  const groups: { results: Counted[]; sign: PeerStep[]; verify: PeerStep[]; v3: boolean }[] = [
    {
      v3: false,
      sign: GGCR_SIGN,
      verify: GGCR_VERIFY,
      results: [
        await measure("legacy .sig: sign, cold", signArgs(at("sign-cold"), legacy), `${root}/hs2`),
        await measure("legacy .sig: sign, warm", signArgs(at("sign-warm"), legacy), `${root}/hs2`),
        await measure("legacy .sig: verify, cold", verifyArgs(at("sign-cold")), `${root}/hv2`),
        await measure("legacy .sig: verify, warm", verifyArgs(at("sign-cold")), `${root}/hv2`),
      ],
    },
    {
      v3: true,
      sign: GGCR_SIGN_V3,
      verify: GGCR_VERIFY_V3,
      results: [
        await measure("v3 referrer: sign, cold", signArgs(at("v3-cold")), `${root}/hs3`),
        await measure("v3 referrer: sign, warm", signArgs(at("v3-warm")), `${root}/hs3`),
        await measure("v3 referrer: verify, cold", verifyArgs(at("v3-cold")), `${root}/hv3`),
        await measure("v3 referrer: verify, warm", verifyArgs(at("v3-cold")), `${root}/hv3`),
      ],
    },
  ];
  const lists: string[] = [];
  for (const g of groups) {
    const target = g.v3 ? TARGET.requestRatioV3 : TARGET.requestRatio;
    for (const c of g.results) {
      const peer = peerCounts(c.name.includes(": sign") ? g.sign : g.verify);
      const ratio = c.total / peer.total;
      rows.push({
        measure: `${c.name}: requests (registry + token)`,
        ours: `${c.total} (${c.registry} + ${c.token})`,
        peer: `${peer.total} (${peer.registry} + ${peer.token}) (ggcr cosign ${
          g.v3 ? "v3" : "v2"
        }, derived)`,
        ratio: fmtRatio(ratio),
        target: `<= ${fmtRatio(target)}`,
        met: ratio <= target + 1e-9,
      });
      lists.push(
        `- ${c.name} (${c.total}): ${c.seen.map((s) => `\`${describe(s)}\``).join(" · ")}`,
      );
    }
  }
  const peerVerify = peerCounts(GGCR_VERIFY);
  // What no implementation can avoid in a fresh process without a token cached on disk.
  const floorVerify = 4;
  notes.push(
    `legacy verify needs at least ${floorVerify} requests in a process that starts without a ` +
      `token (token, GET tag, GET .sig, GET layer): ${
        fmtRatio(floorVerify / peerVerify.total)
      } of ggcr cosign v2's ${peerVerify.total}, so a ${
        fmtRatio(TARGET.requestRatio)
      } target for verify is out of reach unless tokens are kept between runs. Our verify ` +
      "also looks for v3 referrers (referrers API, then the fallback tag), which cosign v2 " +
      "never reads.",
  );

  mdExtra.push(
    "### Requests sent, in order",
    "",
    "Counted at the fault proxy (`tests/harness/fault_proxy.ts`) in front of a token-auth " +
      "registry without the referrers API (CNCF distribution), plus the token server's own " +
      "log, interleaved in arrival order. Credentials `--registry-username/--registry-password`; " +
      "the sign runs sign images that carry no signature yet (warm signs a second, also " +
      "unsigned image with the same HOME). Legacy: `sign --new-bundle-format=false`, then " +
      "`verify` of that image; v3: `sign` (new bundle format by default), then `verify` of " +
      "that image.",
    "",
    ...lists,
    "",
    "### go-containerregistry-based cosign v2: derived sequences",
    "",
    ...peerList(
      "`cosign sign --key k --tlog-upload=false REG/R:TAG` (image not signed yet)",
      GGCR_SIGN,
      ", cold and warm alike",
    ),
    ...peerList(
      "`cosign verify --key k.pub --insecure-ignore-tlog REG/R:TAG` (1 signature)",
      GGCR_VERIFY,
      "",
    ),
    "Assumptions:",
    "",
    ...GGCR_ASSUMPTIONS.map((a) => `- ${a}`),
    "",
    "### go-containerregistry-based cosign v3 (Sigstore bundle referrers): derived sequences",
    "",
    ...peerList(
      "`cosign sign --key k --tlog-upload=false REG/R:TAG` (new bundle format, image not " +
        "signed yet, registry without the referrers API)",
      GGCR_SIGN_V3,
      ", cold and warm alike",
    ),
    ...peerList(
      "`cosign verify --key k.pub --insecure-ignore-tlog REG/R:TAG` (1 v3 referrer in the " +
        "fallback index)",
      GGCR_VERIFY_V3,
      "",
    ),
    "Assumptions (besides the v2 ones on pings, tokens and `remote.Reuse`, which hold here too):",
    "",
    ...GGCR_ASSUMPTIONS_V3.map((a) => `- ${a}`),
    "",
  );
}

// ---------------------------------------------------------------------------------------------
// 2. verify with 100 signatures against 1

const enc = new TextEncoder();
const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const SIG_ANNOTATION = "dev.cosignproject.cosign/signature";

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Monolithic upload (POST, then PUT with the body) straight to the registry. */
async function putBlob(reg: Registry, repo: string, data: Uint8Array): Promise<string> {
  const digest = `sha256:${await sha256Hex(data)}`;
  const post = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await post.body?.cancel();
  const loc = post.headers.get("location");
  if (post.status !== 202 || !loc) throw new BenchError(`blob upload start: HTTP ${post.status}`);
  const url = new URL(loc, reg.url);
  url.searchParams.set("digest", digest);
  const put = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: new Uint8Array(data),
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new BenchError(`blob upload: HTTP ${put.status}`);
  return digest;
}

/** One hand-made signature layer. */
interface SigLayer {
  digest: string;
  size: number;
  payload: Uint8Array;
  /** DER ECDSA signature. */
  signature: Uint8Array;
}

/**
 * Pushes a `.sig` image as cosign writes it: one simple-signing layer per payload (payload
 * `optional` = {"n": i}), each signed by openssl with `pem`.
 */
async function pushSigImage(
  reg: Registry,
  repo: string,
  imageDigest: string,
  count: number,
  pem: string,
  dir: string,
): Promise<SigLayer[]> {
  const layers: SigLayer[] = [];
  const one = async (i: number) => {
    const payload = enc.encode(
      `{"critical":{"identity":{"docker-reference":"${reg.host}/${repo}"},"image":` +
        `{"docker-manifest-digest":"${imageDigest}"},"type":"cosign container image signature"},` +
        `"optional":{"n":"${i}"}}`,
    );
    const file = `${dir}/payload-${repo.replaceAll("/", "_")}-${i}.json`;
    await Deno.writeFile(file, payload);
    await run(["openssl", "dgst", "-sha256", "-sign", pem, "-out", `${file}.sig`, file]);
    const signature = await Deno.readFile(`${file}.sig`);
    const digest = await putBlob(reg, repo, payload);
    layers[i] = { digest, size: payload.length, payload, signature };
  };
  for (let i = 0; i < count; i += 8) {
    await Promise.all(
      Array.from({ length: Math.min(8, count - i) }, (_, k) => one(i + k)),
    );
  }
  const config = enc.encode(JSON.stringify({
    architecture: "",
    created: "0001-01-01T00:00:00Z",
    history: layers.map(() => ({ created: "0001-01-01T00:00:00Z" })),
    os: "",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    config: {},
  }));
  const configDigest = await putBlob(reg, repo, config);
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest },
    layers: layers.map((l) => ({
      mediaType: SIMPLE_SIGNING,
      size: l.size,
      digest: l.digest,
      annotations: { [SIG_ANNOTATION]: l.signature.toBase64() },
    })),
  }));
  const tag = `${imageDigest.replace(":", "-")}.sig`;
  const put = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    headers: { "content-type": OCI_MANIFEST },
    body: manifest,
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new BenchError(`manifest upload: HTTP ${put.status}`);
  return layers;
}

async function measureManySignatures(root: string): Promise<void> {
  console.error(`\n== 2. verify: ${MANY} signatures against 1, no-auth registry ==`);
  const dir = `${root}/many`;
  await Deno.mkdir(dir);
  const tmp = `${root}/tmp`;
  const pem = `${dir}/key.pem`, pub = `${dir}/key.pub`;
  await run([
    "openssl",
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    pem,
  ]);
  await run(["openssl", "pkey", "-in", pem, "-pubout", "-out", pub]);

  await using reg = await startRegistry({ mode: "noauth" });
  const one = await pushImage(reg, "bench/one:v1");
  const many = await pushImage(reg, "bench/many:v1");
  const t0 = performance.now();
  await pushSigImage(reg, "bench/one", one.digest, 1, pem, dir);
  const manyLayers = await pushSigImage(reg, "bench/many", many.digest, MANY, pem, dir);
  console.error(
    `built and pushed the .sig images (1 + ${MANY} openssl signatures) in ${
      fmtTime((performance.now() - t0) / 1000)
    }`,
  );

  const home = `${root}/home-many`;
  const env = cliEnv(home, tmp);
  const verify = (img: string) =>
    cli("cosign", "verify", "--key", pub, "--insecure-ignore-tlog", img);
  for (const [img, n] of [[one.ref, 1], [many.ref, MANY]] as const) {
    const r = await run(verify(img), { env });
    const payloads = JSON.parse(r.stdout) as unknown[];
    if (payloads.length !== n) {
      throw new BenchError(`verify ${img}: ${payloads.length} signatures verified, expected ${n}`);
    }
  }
  // What the registry alone costs: the same 100 layer GETs by curl, 10 at a time, in one
  // process (the layers cosign, ours and ggcr's alike, must fetch one by one).
  const curlLayers = [
    "curl",
    "-sS",
    "--fail",
    "-Z",
    "--parallel-max",
    "10",
    ...manyLayers.flatMap((l) => ["-o", "/dev/null", `${reg.url}/v2/bench/many/blobs/${l.digest}`]),
  ];
  const [r1, r100, rCurl] = await hyperfine(
    `${dir}/verify.json`,
    [
      { name: "verify, 1 signature", argv: verify(one.ref) },
      { name: `verify, ${MANY} signatures`, argv: verify(many.ref) },
      { name: `curl: the ${MANY} layer GETs`, argv: curlLayers },
    ],
    { warmup: 1, runs: VERIFY_RUNS },
    env,
  );
  const ratio = r100!.median / r1!.median;
  rows.push({
    measure: `verify, ${MANY} signatures vs 1: wall (median of ${VERIFY_RUNS})`,
    ours: fmtTime(r100!.median),
    peer: `${fmtTime(r1!.median)} (same verify, 1 signature)`,
    ratio: fmtRatio(ratio),
    target: `<= ${fmtRatio(TARGET.manySigRatio)}`,
    met: ratio <= TARGET.manySigRatio,
  });
  notes.push(
    `verify spread (min-max of ${VERIFY_RUNS}): ${MANY} signatures ${fmtTime(r100!.min)}-${
      fmtTime(r100!.max)
    }, 1 signature ${fmtTime(r1!.min)}-${fmtTime(r1!.max)}.`,
  );
  // Where the extra time goes: the registry's layer GETs, and the signature checks.
  const { loadVerifier } = await import("../lib/cosign/keyref.ts");
  const verifier = await loadVerifier(pub);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    for (const l of manyLayers) {
      if (!(await verifier.verify(l.payload, l.signature))) {
        throw new BenchError("KeyVerifier rejected a signature openssl made");
      }
    }
    best = Math.min(best, performance.now() - t);
  }
  notes.push(
    `Extra time for ${MANY - 1} more signatures: ${fmtTime(r100!.median - r1!.median)}. ` +
      `The registry alone serves the ${MANY} layer GETs in ${
        fmtTime(rCurl!.median)
      } (curl, 10 in parallel, one process, median of ${VERIFY_RUNS}); checking the ${MANY} ` +
      `signatures in process (\`KeyVerifier.verify\`, node:crypto, one after another) takes ` +
      `${fmtTime(best / 1000)} (best of 5). The registry's part alone is ${
        fmtRatio(rCurl!.median / r1!.median)
      } of a whole 1-signature verify${
        rCurl!.median > (TARGET.manySigRatio - 1) * r1!.median
          ? `, more than the ${
            fmtRatio(TARGET.manySigRatio - 1)
          } of extra time the target allows: no client that fetches each layer can meet it ` +
            "on this registry and machine"
          : ""
      }.`,
  );
}

// ---------------------------------------------------------------------------------------------
// 3. sget of a large artifact against curl | sha256sum

async function measureSget(root: string, mib: number): Promise<void> {
  console.error(`\n== 3. sget of a ${mib} MiB artifact by digest, no-auth registry ==`);
  const dir = `${root}/sget`;
  await Deno.mkdir(dir);
  const tmp = `${root}/tmp`;
  const file = `${dir}/artifact.bin`;
  await run(["bash", "-c", `head -c ${mib * 1048576} /dev/urandom > ${shellQuote(file)}`]);
  const hex = await sha256File(file);

  await using reg = await startRegistry({ mode: "noauth" });
  const home = `${root}/home-sget`;
  const env = cliEnv(home, tmp);
  const up = await run(
    cli("cosign", "upload", "blob", "-f", file, `${reg.host}/bench/artifact:v1`),
    { env },
  );
  const ref = up.stdout.trim();
  const url = /is available directly at \[([^\]]+)\]/.exec(up.stderr)?.[1];
  if (!/@sha256:[0-9a-f]{64}$/.test(ref) || !url) {
    throw new BenchError(`cosign upload blob printed no digest reference or URL:\n${up.stderr}`);
  }
  if (!url.endsWith(`sha256:${hex}`)) {
    throw new BenchError(`upload blob's URL ${url} does not name the file's digest ${hex}`);
  }

  const sget = cli("sget", ref);
  const sgetCmd = `${shellLine(sget)} > /dev/null`;
  const curlCmd = `curl -s ${shellQuote(url)} | sha256sum`;
  // Both tools must hand over the right bytes.
  const check = await run(["bash", "-o", "pipefail", "-c", `${shellLine(sget)} | sha256sum`], {
    env,
  });
  if (!check.stdout.startsWith(hex)) throw new BenchError("sget's output has the wrong digest");
  const checkCurl = await run(["bash", "-o", "pipefail", "-c", curlCmd], { env });
  if (!checkCurl.stdout.startsWith(hex)) throw new BenchError("curl's output has the wrong digest");

  const [rs, rc] = await hyperfine(
    `${dir}/sget.json`,
    [
      { name: "sget", argv: ["bash", "-c", sgetCmd] },
      { name: "curl | sha256sum", argv: ["bash", "-c", curlCmd] },
    ],
    { warmup: 1, runs: SGET_RUNS },
    env,
  );
  const ratio = rs!.median / rc!.median;
  rows.push({
    measure: `sget ${mib} MiB by digest: wall (median of ${SGET_RUNS})`,
    ours: fmtTime(rs!.median),
    peer: `${fmtTime(rc!.median)} (curl -s URL \\| sha256sum)`,
    ratio: fmtRatio(ratio),
    target: `<= ${fmtRatio(TARGET.sgetRatio)}`,
    met: ratio <= TARGET.sgetRatio,
  });
  notes.push(
    `sget spread (min-max of ${SGET_RUNS}): ours ${fmtTime(rs!.min)}-${fmtTime(rs!.max)}, ` +
      `curl | sha256sum ${fmtTime(rc!.min)}-${fmtTime(rc!.max)}.`,
  );

  let rssKiB = 0;
  for (let i = 0; i < RSS_RUNS; i++) {
    const out = `${dir}/rss-${i}.txt`;
    await run([GNU_TIME, "-f", "%M", "-o", out, ...sget], { env, stdout: "null" });
    rssKiB = Math.max(rssKiB, Number((await Deno.readTextFile(out)).trim().split("\n").at(-1)));
  }
  const rssMB = rssKiB * 1024 / 1e6;
  rows.push({
    measure: `sget ${mib} MiB: peak RSS (max of ${RSS_RUNS})`,
    ours: `${rssMB.toFixed(1)} MB`,
    peer: "-",
    ratio: "-",
    target: `< ${TARGET.rssMB} MB`,
    met: rssMB < TARGET.rssMB,
  });
}

// ---------------------------------------------------------------------------------------------
// 4. Start-up

async function measureStartup(root: string): Promise<void> {
  console.error("\n== 4. Start-up: sget --help and cosign --help ==");
  const env = cliEnv(`${root}/home-startup`, `${root}/tmp`);
  const [s, c] = await hyperfine(
    `${root}/startup.json`,
    [
      { name: "sget --help", argv: cli("sget", "--help") },
      { name: "cosign --help", argv: cli("cosign", "--help") },
    ],
    { warmup: 3, minRuns: STARTUP_MIN_RUNS },
    env,
  );
  rows.push({
    measure: `start-up: \`sget --help\`, warm (median of ${s!.times.length})`,
    ours: fmtTime(s!.median),
    peer: "-",
    ratio: "-",
    target: `< ${TARGET.sgetHelpMs} ms`,
    met: s!.median * 1000 < TARGET.sgetHelpMs,
  });
  rows.push({
    measure: `start-up: \`cosign --help\`, warm (median of ${c!.times.length})`,
    ours: fmtTime(c!.median),
    peer: "-",
    ratio: "-",
    target: "(info)",
  });
}

// ---------------------------------------------------------------------------------------------
// Report

function metText(r: Row): string {
  return r.met === undefined ? "-" : r.met ? "yes" : "**no**";
}

function textTable(): string {
  const head = ["Measure", "cosign (Deno)", "Peer", "Ratio", "Target", "Met"];
  const body = rows.map((r) => [
    r.measure,
    r.ours,
    r.peer.replaceAll("\\|", "|"),
    r.ratio,
    r.target,
    r.met === undefined ? "-" : r.met ? "yes" : "NO",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

async function machine(): Promise<string[]> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown CPU";
  const mem = Deno.systemMemoryInfo().total / 2 ** 30;
  const first = async (argv: string[]) =>
    (await run(argv, { allowFail: true })).stdout.split("\n")[0]?.trim() ?? "";
  return [
    `${cpu}, ${navigator.hardwareConcurrency} cores, ${
      mem.toFixed(1)
    } GiB RAM, ${Deno.build.os} ${Deno.build.arch}`,
    `deno ${Deno.version.deno}; ${await first(["hyperfine", "--version"])}; ${
      (await first(["curl", "--version"])).split(" ").slice(0, 2).join(" ")
    }; ${await first(["openssl", "version"])}`,
  ];
}

/** The 1-minute load average (other work on the machine skews timings). */
async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0] ?? "?";
}

function markdown(mib: number, seconds: number, ran: Section[], env: string[]): string {
  const missed = rows.filter((r) => r.met === false).map((r) => r.measure);
  return [
    "<!-- images:begin -->",
    "## Image commands: requests, many signatures, sget, start-up",
    "",
    `Measured ${
      new Date().toISOString().slice(0, 10)
    } with \`deno run --allow-all scripts/bench_images.ts\`` +
    ` (${mib} MiB artifact; sections: ${ran.join(", ")}; the bench ran ${
      seconds.toFixed(0)
    } s). Every ratio is **ours / peer**, lower is better.`,
    "",
    ...env.map((e) => `- ${e}`),
    "",
    "| Measure | cosign (Deno) | Peer | Ratio ours/peer | Target | Met |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.measure} | ${r.ours} | ${r.peer} | ${r.ratio} | ${r.target} | ${metText(r)} |`
    ),
    "",
    ...notes.map((n) => `- ${n}`),
    "",
    missed.length
      ? `**Missed (${missed.length}):** ${missed.join("; ")}.`
      : "All targets measured here are met.",
    "",
    ...mdExtra,
    "### Method",
    "",
    "- Commands run as users run them: `deno run --quiet --allow-all --config deno.json cli.ts " +
    "cosign|sget …`, each with its own HOME (and XDG folders) inside the bench's temporary " +
    "folder; Deno's module cache is shared, so nothing is downloaded. Cold = fresh HOME; warm " +
    "= the same HOME again (the CLI remembers each registry's scheme, and nothing else, in " +
    "`$HOME/.cache/cosign-deno/registries.json`; no auth challenge is replayed, so on a " +
    "token registry warm = cold).",
    `- ${MANY} signatures: one P-256 key from \`openssl genpkey\`; ${MANY} payloads that differ ` +
    "only by `optional.n`, each signed with `openssl dgst -sha256 -sign`, pushed as one " +
    "`.sig` image (one layer each) with plain HTTP requests. The 1-signature image is built " +
    "the same way. Both sit in the same no-auth registry; both commands run in one hyperfine " +
    `invocation (\`-N --warmup 1 --runs ${VERIFY_RUNS}\`).`,
    `- sget: \`head -c … /dev/urandom\`, then \`cosign upload blob\`; sget fetches the ` +
    "manifest digest it prints, curl the blob URL it prints on stderr. Both outputs are " +
    "checked against the file's SHA-256 before timing; both timed commands run under " +
    "`bash -c` (`sget REF > /dev/null`, `curl -s URL | sha256sum`) in one hyperfine " +
    `invocation (\`-N --warmup 1 --runs ${SGET_RUNS}\`). Peak RSS: \`/usr/bin/time -f %M\` ` +
    "(KiB, shown in decimal MB), stdout to /dev/null.",
    `- Start-up: hyperfine \`-N --warmup 3 --min-runs ${STARTUP_MIN_RUNS}\`.`,
    "<!-- images:end -->",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// 5. Memory: verify of a .sig with 24 layers of 64 MiB

/** Layer `i` of the big `.sig`: BIG_LAYER_MIB MiB, 1 MiB chunks of a byte that depends on i. */
function bigLayer(i: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(1 << 20).fill(0x80 + i);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === BIG_LAYER_MIB) return controller.close();
      sent++;
      controller.enqueue(chunk);
    },
  });
}

async function measureBigSignatures(root: string): Promise<void> {
  console.error(
    `\n== 5. verify: ${BIG_LAYERS} signature layers of ${BIG_LAYER_MIB} MiB, peak RSS ==`,
  );
  const dir = `${root}/bigsigs`;
  await Deno.mkdir(dir);
  const pem = `${dir}/key.pem`, pub = `${dir}/key.pub`;
  await run([
    "openssl",
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    pem,
  ]);
  await run(["openssl", "pkey", "-in", pem, "-pubout", "-out", pub]);
  const { createHash, createSign } = await import("node:crypto");
  const key = await Deno.readTextFile(pem);
  const layers: { digest: string; signature: string }[] = [];
  for (let i = 0; i < BIG_LAYERS; i++) {
    const hash = createHash("sha256");
    const sign = createSign("sha256");
    for await (const c of bigLayer(i)) {
      hash.update(c);
      sign.update(c);
    }
    layers.push({ digest: `sha256:${hash.digest("hex")}`, signature: sign.sign(key, "base64") });
  }
  const config = enc.encode("{}");
  const configDesc = {
    mediaType: OCI_CONFIG,
    size: config.length,
    digest: `sha256:${await sha256Hex(config)}`,
  };
  const image = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: configDesc,
    layers: [],
  }));
  const imageDigest = `sha256:${await sha256Hex(image)}`;
  const sig = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: configDesc,
    layers: layers.map((l) => ({
      mediaType: SIMPLE_SIGNING,
      size: BIG_LAYER_MIB << 20,
      digest: l.digest,
      annotations: { [SIG_ANNOTATION]: l.signature },
    })),
  }));
  const sigTag = `${imageDigest.replace(":", "-")}.sig`;
  let layerGets = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const manifest = path === `/v2/bench/big/manifests/${imageDigest}`
      ? image
      : path === `/v2/bench/big/manifests/${sigTag}`
      ? sig
      : undefined;
    if (manifest) {
      return new Response(req.method === "HEAD" ? null : manifest, {
        headers: { "content-type": OCI_MANIFEST, "content-length": String(manifest.length) },
      });
    }
    const i = layers.findIndex((l) => path === `/v2/bench/big/blobs/${l.digest}`);
    if (i >= 0) {
      layerGets++;
      return new Response(bigLayer(i), {
        headers: { "content-length": String(BIG_LAYER_MIB << 20) },
      });
    }
    if (path === "/v2/") return new Response("{}");
    return new Response('{"errors":[{"code":"NOT_FOUND"}]}', { status: 404 });
  });
  try {
    const env = cliEnv(`${root}/home-bigsigs`, `${root}/tmp`);
    const out = `${dir}/rss.txt`;
    const ref = `127.0.0.1:${server.addr.port}/bench/big@${imageDigest}`;
    const t = performance.now();
    const r = await run(
      [
        GNU_TIME,
        "-f",
        "%M",
        "-o",
        out,
        ...cli("cosign", "verify", "--key", pub, "--insecure-ignore-tlog", ref),
      ],
      { env, allowFail: true },
    );
    const wall = (performance.now() - t) / 1000;
    // Exit 12: every signature checked over its 64 MiB, every payload then refused (not JSON).
    const refused = (r.stderr.match(/payload is not JSON/g) ?? []).length;
    if (r.code !== 12 || refused !== BIG_LAYERS) {
      throw new BenchError(
        `verify of the big .sig: exit ${r.code}, ${refused} layers refused as not JSON ` +
          `(expected exit 12 and ${BIG_LAYERS}):\n${r.stderr.slice(0, 2000)}`,
      );
    }
    const rssKiB = Number((await Deno.readTextFile(out)).trim().split("\n").at(-1));
    const rssMB = rssKiB * 1024 / 1e6;
    rows.push({
      measure: `verify, ${BIG_LAYERS} signature layers of ${BIG_LAYER_MIB} MiB: peak RSS`,
      ours: `${rssMB.toFixed(1)} MB`,
      peer: "-",
      ratio: "-",
      target: `< ${TARGET.bigSigsRssMB} MB`,
      met: rssMB < TARGET.bigSigsRssMB,
    });
    notes.push(
      `Big .sig: ${BIG_LAYERS} layers of ${BIG_LAYER_MIB} MiB (${layerGets} layer GETs), each ` +
        `signature verified over its bytes and the layer then refused (its payload is not ` +
        `JSON), in ${fmtTime(wall)}; layers are fetched as they are verified, a few ahead, ` +
        "with at most 64 MiB of layers held at once.",
    );
  } finally {
    await server.shutdown();
  }
}

// ---------------------------------------------------------------------------------------------
// 6. verify with 100 v3 referrers against 1

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** PUTs a manifest (by tag or digest) straight to the registry. */
async function putManifestRaw(
  reg: Registry,
  repo: string,
  ref: string,
  body: Uint8Array,
  mediaType: string,
): Promise<void> {
  const put = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    headers: { "content-type": mediaType },
    body: new Uint8Array(body),
  });
  const text = await put.text();
  if (put.status !== 201) {
    throw new BenchError(
      `manifest upload ${repo}:${ref}: HTTP ${put.status} ${text.slice(0, 300)}`,
    );
  }
}

/** One v3 referrer pushed by {@link pushReferrers}. */
interface PushedReferrerBlob {
  manifestDigest: string;
  bundleDigest: string;
}

/**
 * Signs `count` v3 image signatures of `image` with the P-256 key `pem` (each over the DSSE PAE
 * of cosign's statement with the subject annotation `n` = its number, as `-a n=<i>` gives), and
 * pushes each
 * as cosign v3 does (bundle blob, empty config, referrer manifest), then one fallback index
 * `sha256-<hex>` listing them all, sorted by digest.
 */
async function pushReferrers(
  reg: Registry,
  image: { repo: string; digest: string; mediaType: string; manifest: Uint8Array },
  count: number,
  pem: string,
  publicKeyPem: string,
): Promise<PushedReferrerBlob[]> {
  const { createSign } = await import("node:crypto");
  const { imageSignatureStatement } = await import("../lib/cosign/image_bundles.ts");
  const { pae, INTOTO_PAYLOAD_TYPE } = await import("../lib/cosign/dsse.ts");
  const { bundleV03Json, BUNDLE_V03_MEDIA_TYPE } = await import("../lib/cosign/bundle_writer.ts");
  const { referrerManifest, EMPTY_CONFIG, BUNDLE_CONTENT_ANNOTATION, CREATED_ANNOTATION } =
    await import("../lib/cosign/referrers.ts");
  const key = await Deno.readTextFile(pem);
  const subject = {
    mediaType: image.mediaType,
    digest: image.digest,
    size: image.manifest.length,
  };
  await putBlob(reg, image.repo, EMPTY_CONFIG);
  const out: { digest: string; size: number; bundleDigest: string; annotations: string }[] = [];
  const one = async (i: number) => {
    // `-a n=<i>`: a subject annotation, so that each statement (and printed payload) differs.
    const statement = imageSignatureStatement(image.digest, { n: String(i) });
    const sig = createSign("sha256").update(pae(INTOTO_PAYLOAD_TYPE, statement)).sign(key);
    const envelope = enc.encode(
      `{"payloadType":"${INTOTO_PAYLOAD_TYPE}","payload":"${statement.toBase64()}",` +
        `"signatures":[{"keyid":"","sig":"${new Uint8Array(sig).toBase64()}"}]}`,
    );
    const bundle = enc.encode(bundleV03Json({
      content: { type: "dsseEnvelope", envelope },
      verificationMaterial: { type: "publicKey", publicKeyPem },
    }));
    const bundleDigest = await putBlob(reg, image.repo, bundle);
    const annotations = {
      [CREATED_ANNOTATION]: "2026-01-01T00:00:00Z",
      [BUNDLE_CONTENT_ANNOTATION]: "dsse-envelope",
      "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
    };
    const manifest = referrerManifest({
      subject,
      artifactType: BUNDLE_V03_MEDIA_TYPE,
      layer: { mediaType: BUNDLE_V03_MEDIA_TYPE, digest: bundleDigest, size: bundle.length },
      annotations,
    });
    const digest = `sha256:${await sha256Hex(manifest)}`;
    await putManifestRaw(reg, image.repo, digest, manifest, OCI_MANIFEST);
    out[i] = {
      digest,
      size: manifest.length,
      bundleDigest,
      annotations: JSON.stringify(annotations),
    };
  };
  for (let i = 0; i < count; i++) await one(i);
  const sorted = [...out].sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);
  const index = enc.encode(
    `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${
      sorted.map((r) =>
        `{"mediaType":"${OCI_MANIFEST}","size":${r.size},"digest":"${r.digest}",` +
        `"annotations":${r.annotations},"artifactType":"${BUNDLE_V03_MEDIA_TYPE}"}`
      ).join(",")
    }]}`,
  );
  await putManifestRaw(reg, image.repo, image.digest.replace(":", "-"), index, OCI_INDEX);
  return out.map((r) => ({ manifestDigest: r.digest, bundleDigest: r.bundleDigest }));
}

async function measureManyReferrers(root: string): Promise<void> {
  console.error(`\n== 6. verify: ${MANY} v3 referrers against 1, no-auth registry ==`);
  const dir = `${root}/referrers`;
  await Deno.mkdir(dir);
  const tmp = `${root}/tmp`;
  const pem = `${dir}/key.pem`, pub = `${dir}/key.pub`;
  await run([
    "openssl",
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    pem,
  ]);
  await run(["openssl", "pkey", "-in", pem, "-pubout", "-out", pub]);
  const publicKeyPem = await Deno.readTextFile(pub);

  await using reg = await startRegistry({ mode: "noauth" });
  const one = await pushImage(reg, "bench/ref-one:v1");
  const many = await pushImage(reg, "bench/ref-many:v1");
  const t0 = performance.now();
  await pushReferrers(reg, one, 1, pem, publicKeyPem);
  const manyRefs = await pushReferrers(reg, many, MANY, pem, publicKeyPem);
  console.error(
    `built and pushed the referrers (1 + ${MANY} bundles, fallback indexes) in ${
      fmtTime((performance.now() - t0) / 1000)
    }`,
  );

  const env = cliEnv(`${root}/home-referrers`, tmp);
  const verify = (img: string) =>
    cli("cosign", "verify", "--key", pub, "--insecure-ignore-tlog", img);
  for (const [img, n] of [[one.ref, 1], [many.ref, MANY]] as const) {
    const r = await run(verify(img), { env });
    const payloads = JSON.parse(r.stdout) as unknown[];
    if (payloads.length !== n) {
      throw new BenchError(
        `verify ${img}: ${payloads.length} bundles verified, expected ${n}\n${
          r.stderr.slice(0, 3000)
        }`,
      );
    }
  }
  // What the registry alone costs: the 100 referrer manifest GETs and 100 bundle GETs by curl,
  // 10 at a time, in one process.
  const base = `${reg.url}/v2/bench/ref-many`;
  const curlGets = [
    "curl",
    "-sS",
    "--fail",
    "-Z",
    "--parallel-max",
    "10",
    "-H",
    `Accept: ${OCI_MANIFEST}`,
    ...manyRefs.flatMap((r) => [
      "-o",
      "/dev/null",
      `${base}/manifests/${r.manifestDigest}`,
      "-o",
      "/dev/null",
      `${base}/blobs/${r.bundleDigest}`,
    ]),
  ];
  const [r1, r100, rCurl] = await hyperfine(
    `${dir}/verify.json`,
    [
      { name: "verify, 1 v3 referrer", argv: verify(one.ref) },
      { name: `verify, ${MANY} v3 referrers`, argv: verify(many.ref) },
      { name: `curl: the ${2 * MANY} referrer GETs`, argv: curlGets },
    ],
    { warmup: 1, runs: VERIFY_RUNS },
    env,
  );
  const ratio = r100!.median / r1!.median;
  rows.push({
    measure: `verify, ${MANY} v3 referrers vs 1: wall (median of ${VERIFY_RUNS})`,
    ours: fmtTime(r100!.median),
    peer: `${fmtTime(r1!.median)} (same verify, 1 referrer)`,
    ratio: fmtRatio(ratio),
    target: `<= ${fmtRatio(TARGET.manySigRatio)}`,
    met: ratio <= TARGET.manySigRatio,
  });
  notes.push(
    `v3 referrers: verify spread (min-max of ${VERIFY_RUNS}): ${MANY} referrers ${
      fmtTime(r100!.min)
    }-${fmtTime(r100!.max)}, 1 referrer ${fmtTime(r1!.min)}-${fmtTime(r1!.max)}. Extra time ` +
      `for ${MANY - 1} more: ${fmtTime(r100!.median - r1!.median)}; the registry alone serves ` +
      `the ${MANY} referrer manifest GETs and ${MANY} bundle GETs in ${
        fmtTime(rCurl!.median)
      } (curl, 10 in parallel, one process, median of ${VERIFY_RUNS}), ${
        fmtRatio(rCurl!.median / r1!.median)
      } of a whole 1-referrer verify${
        rCurl!.median > (TARGET.manySigRatio - 1) * r1!.median
          ? `, more than the ${
            fmtRatio(TARGET.manySigRatio - 1)
          } of extra time the target allows: no client that fetches each referrer manifest ` +
            "and bundle can meet it on this registry and machine"
          : ""
      }.`,
  );
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const started = performance.now();
  const ran = sections();
  const mib = sizeMiB();

  const needs: [string, string][] = [
    ["hyperfine", "hyperfine"],
    [GNU_TIME, "GNU time (/usr/bin/time)"],
    ["curl", "curl"],
    ["openssl", "openssl"],
    ["skopeo", "skopeo"],
    ["docker-registry", "docker-registry (CNCF distribution)"],
    ["bash", "bash"],
    ["sha256sum", "sha256sum"],
    ["tar", "tar"],
    ["gzip", "gzip"],
  ];
  const missing = needs.filter(([bin]) => !which(bin)).map(([, name]) => name);
  if (!missing.length) {
    const v = await run([GNU_TIME, "--version"], { allowFail: true });
    if (!/GNU/.test(v.stdout + v.stderr)) missing.push("GNU time (/usr/bin/time is not GNU time)");
  }
  if (missing.length) {
    console.error(
      `Missing tools: ${missing.join(", ")}. Install them (scripts/setup.sh) and run again.`,
    );
    return 2;
  }
  const info = JSON.parse((await run([Deno.execPath(), "info", "--json"])).stdout) as {
    denoDir?: string;
  };
  denoDir = info.denoDir ?? "";
  if (!denoDir) throw new BenchError("cannot find Deno's cache folder (deno info --json)");

  const root = await Deno.makeTempDir({ prefix: "cosign-bench-images-" });
  try {
    await Deno.mkdir(`${root}/tmp`);
    const env = await machine();
    const loadBefore = await loadAverage();
    if (ran.includes("requests")) await measureRequests(root);
    if (ran.includes("verify")) await measureManySignatures(root);
    if (ran.includes("sget")) await measureSget(root, mib);
    if (ran.includes("startup")) await measureStartup(root);
    if (ran.includes("bigsigs")) await measureBigSignatures(root);
    if (ran.includes("referrers")) await measureManyReferrers(root);

    const seconds = (performance.now() - started) / 1000;
    env.push(
      `1-minute load average: ${loadBefore} at the start, ${await loadAverage()} at the end ` +
        `(${navigator.hardwareConcurrency} cores; other work on the machine skews the timings)`,
    );
    console.log("\n" + textTable());
    for (const n of notes) console.log(`- ${n}`);
    const md = markdown(mib, seconds, ran, env);
    await Deno.writeTextFile(MARKDOWN_OUT, md);
    console.log(`\n${md}`);
    console.error(`(markdown also written to ${MARKDOWN_OUT})`);
    return 0;
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

const onSignal = () => {
  if (interrupted) Deno.exit(130); // second Ctrl-C: leave now
  interrupted = true;
  console.error("\ninterrupted: stopping commands and registries, removing temporary files…");
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch { /* already exited */ }
  }
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

let code: number;
try {
  code = await main();
} catch (e) {
  console.error(e instanceof BenchError ? `bench: ${e.message}` : e);
  code = interrupted ? 130 : 2;
}
Deno.removeSignalListener("SIGINT", onSignal);
Deno.removeSignalListener("SIGTERM", onSignal);
Deno.exit(interrupted ? 130 : code);
