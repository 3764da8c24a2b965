/**
 * The registry requests `cosign sign` (v3 default: a Sigstore bundle as an OCI 1.1 referrer) and
 * `cosign verify` of a v3-signed tagged image send, counted at the harness fault proxy in front
 * of a token-auth distribution registry (no referrers API, so the `sha256-<hex>` fallback tag is
 * used), plus the token server's log. No timing: the exact multiset of requests is asserted, so
 * a regression that adds one (the tag resolved twice, a bundle fetched twice, a second token
 * exchange) fails here. Issue 11, "Performance"; the counts are compared with cosign v3's in
 * `scripts/bench_images.ts` (BENCH_ONLY=requests).
 *
 * Uploads and the `.sig`/referrers lookups run in parallel, so their order is free; the order
 * that matters (manifest before the fallback index, probe before the fallback read) is checked
 * separately.
 */
import {
  type FaultProxy,
  type ProxyLogEntry,
  pushImage,
  startFaultProxy,
  startRegistry,
} from "./harness/mod.ts";
import { assert, assertEquals, cosign, type RunResult, tempDir } from "./helpers.ts";

const PW = "referrers-requests-pw";

/** A request without repository names, digests or upload ids: `METHOD what → status`. */
function describe(e: ProxyLogEntry, tag: string): string {
  let what = e.path;
  const m = /^\/v2\/(.+?)\/(manifests|blobs|referrers)\/(.*)$/.exec(e.path);
  if (e.path === "/v2/") what = "/v2/";
  else if (m) {
    const [, , kind, rest] = m as unknown as [string, string, string, string];
    if (kind === "referrers") {
      what = /^sha256:[0-9a-f]{64}$/.test(rest) ? "referrers/<digest>" : `referrers/${rest}`;
    } else if (kind === "manifests") {
      what = rest === tag
        ? "manifests/<tag>"
        : /^sha256-[0-9a-f]{64}\.sig$/.test(rest)
        ? "manifests/<sig tag>"
        : /^sha256-[0-9a-f]{64}$/.test(rest)
        ? "manifests/<referrers tag>"
        : /^sha256:[0-9a-f]{64}$/.test(rest)
        ? "manifests/<digest>"
        : `manifests/${rest}`;
    } else if (rest === "uploads/") {
      what = "blobs/uploads/";
    } else if (rest.startsWith("uploads/")) {
      what = e.url.includes("digest=") ? "<location>?digest=" : "<location>";
    } else {
      what = /^sha256:[0-9a-f]{64}$/.test(rest) ? "blobs/<digest>" : `blobs/${rest}`;
    }
  }
  return `${e.method} ${what} → ${e.status}`;
}

/** Multiset equality of request descriptions, with both lists in the failure message. */
function assertSameRequests(actual: string[], expected: string[], what: string): void {
  assertEquals(
    [...actual].sort(),
    [...expected].sort(),
    `${what}: requests sent (in order: ${actual.join(" · ")})`,
  );
}

interface Setup {
  proxy: FaultProxy;
  tokens: { scope: string[] }[];
  ref: string;
  home: string;
  dir: string;
  creds: string[];
}

/** Runs `cosign ARGS` and returns its result with the requests and token exchanges it caused. */
async function counted(
  s: Setup,
  args: string[],
): Promise<{ r: RunResult; requests: string[]; tokens: string[] }> {
  s.proxy.reset();
  const tokensBefore = s.tokens.length;
  const r = await cosign([...args, ...s.creds, s.ref], {
    env: { HOME: s.home, COSIGN_PASSWORD: PW },
  });
  assertEquals(r.code, 0, `cosign ${args[0]}: ${r.stderr}`);
  return {
    r,
    requests: s.proxy.log.map((e) => describe(e, "v1")),
    tokens: s.tokens.slice(tokensBefore).map((t) =>
      [...new Set(t.scope.map((x) => x.split(":").at(-1) ?? ""))].join(" ")
    ),
  };
}

function index(list: string[], item: string): number {
  const i = list.indexOf(item);
  assert(i >= 0, `${item} was sent (requests: ${list.join(" · ")})`);
  return i;
}

/** What one v3 sign sends on a registry without the referrers API (image not yet signed). */
function signRequests(fallbackExists: boolean): string[] {
  return [
    // The tag: the challenge, then one resolution.
    "GET manifests/<tag> → 401",
    "GET manifests/<tag> → 200",
    // The bundle blob and the empty config (monolithic uploads).
    "POST blobs/uploads/ → 202",
    "POST blobs/uploads/ → 202",
    "PUT <location>?digest= → 201",
    "PUT <location>?digest= → 201",
    // The referrer manifest, by digest.
    "PUT manifests/<digest> → 201",
    // The referrers API probe, the fallback index read and write.
    "GET referrers/<digest> → 404",
    `GET manifests/<referrers tag> → ${fallbackExists ? 200 : 404}`,
    "PUT manifests/<referrers tag> → 201",
    // Two re-reads over the settle window (concurrent signers lose no referrer).
    "GET manifests/<referrers tag> → 200",
    "GET manifests/<referrers tag> → 200",
  ];
}

/** What verify of a v3-signed tagged image with `n` referrers (and no `.sig`) sends. */
function verifyRequests(n: number): string[] {
  return [
    "GET manifests/<tag> → 401",
    "GET manifests/<tag> → 200",
    "GET manifests/<sig tag> → 404",
    "GET referrers/<digest> → 404",
    "GET manifests/<referrers tag> → 200",
    ...Array.from({ length: n }, () => ["GET manifests/<digest> → 200", "GET blobs/<digest> → 200"])
      .flat(),
  ];
}

Deno.test("referrer requests: v3 sign and verify of a tagged image send exactly the expected requests", async () => {
  await using reg = await startRegistry({ mode: "token" });
  await pushImage(reg, "test/img:v1");
  await using proxy = await startFaultProxy(reg);
  await using tmp = await tempDir();
  const dir = tmp.path;
  const keyRun = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/k`], {
    env: { HOME: `${dir}/home-keys`, COSIGN_PASSWORD: PW },
  });
  assertEquals(keyRun.code, 0, keyRun.stderr);
  const s: Setup = {
    proxy,
    tokens: reg.tokenServer!.requests,
    ref: `${proxy.host}/test/img:v1`,
    home: `${dir}/home`,
    dir,
    creds: ["--registry-username", reg.username!, "--registry-password", reg.password!],
  };
  const sign = ["sign", "--key", `${dir}/k.key`, "--tlog-upload=false"];
  const verify = ["verify", "--key", `${dir}/k.pub`, "--insecure-ignore-tlog"];

  // First signature: no fallback index yet.
  const s1 = await counted(s, sign);
  assertSameRequests(s1.requests, signRequests(false), "sign (first referrer)");
  assertEquals(s1.tokens, ["push,pull"], "sign: one token exchange");
  const manifestPut = index(s1.requests, "PUT manifests/<digest> → 201");
  const probe = index(s1.requests, "GET referrers/<digest> → 404");
  const fallbackRead = index(s1.requests, "GET manifests/<referrers tag> → 404");
  const fallbackPut = index(s1.requests, "PUT manifests/<referrers tag> → 201");
  assert(
    manifestPut < probe && probe < fallbackRead && fallbackRead < fallbackPut,
    `sign: referrer manifest, then probe, then fallback read and write (${
      s1.requests.join(" · ")
    })`,
  );
  assert(
    s1.requests.slice(fallbackPut + 1).every((d) => d === "GET manifests/<referrers tag> → 200"),
    `sign: only the settle re-reads after the fallback write (${s1.requests.join(" · ")})`,
  );

  const v1 = await counted(s, verify);
  assertSameRequests(v1.requests, verifyRequests(1), "verify (1 referrer)");
  assertEquals(v1.tokens, ["pull"], "verify: one token exchange");
  assertEquals((JSON.parse(v1.r.out) as unknown[]).length, 1, "verify: 1 signature");

  // A second signature: the fallback index exists now and gets a second entry.
  const s2 = await counted(s, sign);
  assertSameRequests(s2.requests, signRequests(true), "sign (second referrer)");
  assertEquals(s2.tokens, ["push,pull"], "second sign: one token exchange");

  // Each referrer: one manifest GET and one bundle GET; the tag and index still read once.
  const v2 = await counted(s, verify);
  assertSameRequests(v2.requests, verifyRequests(2), "verify (2 referrers)");
  assertEquals(v2.tokens, ["pull"], "verify: one token exchange");
  assertEquals((JSON.parse(v2.r.out) as unknown[]).length, 2, "verify: 2 signatures");
});
