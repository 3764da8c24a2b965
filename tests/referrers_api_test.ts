/**
 * cosign v3 signatures over the OCI 1.1 referrers API and the fallback index (issue 11;
 * cosign-spec §3.7, §13), end to end through the CLI.
 *
 * The harness's distribution registry has no referrers API and none that installs here serves
 * one, so the API is served by the harness fault proxy (`startFaultProxy(reg, { referrers })`)
 * over the real registry's storage, indexing the manifests pushed through it. Everything
 * written is checked from outside (fetch against the registry directly, the proxy's log).
 *
 * - the API answer is used and no fallback tag is written; pagination (`Link`) is followed; an
 *   unfiltered answer holding other artifacts is filtered by us;
 * - a failing or throttled listing is an error (never "unsigned"); an HTML answer falls back;
 * - a 10,000-entry fallback index is read without fetching the other artifacts, and sign appends
 *   to it (sorted, deduplicated);
 * - 8 concurrent signers on one image lose no referrer.
 */
import { type FaultProxy, type PushedImage, pushImage, type Registry } from "./harness/mod.ts";
import { startFaultProxy, startRegistry } from "./harness/mod.ts";
import { pushBlob } from "./harness/raw.ts";
import { sha256Hex } from "./harness/util.ts";
import { assert, assertEquals, cosign, type RunResult } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const enc = new TextEncoder();
const PW = "referrers-api-pw";
const BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
const SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";
const REFERRERS = /\/referrers\//;

const indexTag = (digest: string) => digest.replace(":", "-");
const at = (host: string, img: PushedImage) => `${host}/${img.repo}@${img.digest}`;
const uniqueImage = (reg: Registry, repoTag: string) =>
  pushImage(reg, repoTag, { layerBytes: crypto.getRandomValues(new Uint8Array(64)) });

// ---------------------------------------------------------------------------------------------
// Keys: 8 cosign key pairs, made once for the whole file.

let keysDir: string | undefined;
let keysMade: Promise<{ key: string; pub: string }[]> | undefined;

function env(): Record<string, string> {
  return { COSIGN_PASSWORD: PW, HOME: keysDir! };
}

function keys(): Promise<{ key: string; pub: string }[]> {
  keysMade ??= (async () => {
    keysDir = await Deno.makeTempDir({ prefix: "cosign-referrers-keys-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(keysDir!, { recursive: true }));
    const out: { key: string; pub: string }[] = [];
    for (let i = 0; i < 8; i += 2) {
      await Promise.all([i, i + 1].map(async (j) => {
        const prefix = `${keysDir}/k${j}`;
        const r = await cosign(["generate-key-pair", "--output-key-prefix", prefix], {
          env: env(),
        });
        assertEquals(r.code, 0, r.stderr);
        out[j] = { key: `${prefix}.key`, pub: `${prefix}.pub` };
      }));
    }
    return out;
  })();
  return keysMade;
}

async function sign(key: string, ref: string): Promise<void> {
  const r = await cosign(["sign", "--key", key, "--tlog-upload=false", ref], { env: env() });
  assertEquals(r.code, 0, `sign ${ref}: ${r.stderr}`);
}

function verify(pub: string, ref: string, extra: string[] = []): Promise<RunResult> {
  return cosign(["verify", "--key", pub, "--insecure-ignore-tlog", ...extra, ref], { env: env() });
}

async function verifyOk(pub: string, ref: string): Promise<Any[]> {
  const r = await verify(pub, ref);
  assertEquals(r.code, 0, `verify --key ${pub} ${ref}: ${r.stderr}`);
  const arr: Any[] = JSON.parse(r.out);
  assert(
    arr.some((p) => p?.critical?.type === SIGN_PREDICATE),
    `a v3 signature was verified: ${r.out}`,
  );
  return arr;
}

// ---------------------------------------------------------------------------------------------
// Registry access without our client

async function status(reg: Registry, repo: string, ref: string): Promise<number> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
  });
  await r.body?.cancel();
  return r.status;
}

async function fallbackIndex(reg: Registry, img: PushedImage): Promise<Any> {
  const r = await fetch(`${reg.url}/v2/${img.repo}/manifests/${indexTag(img.digest)}`, {
    headers: { accept: OCI_INDEX },
  });
  assertEquals(r.status, 200, `GET the fallback index of ${img.repo}`);
  return await r.json();
}

/** GETs of the fallback tag `sha256-<hex>` seen by the proxy. */
const fallbackGets = (px: FaultProxy, img: PushedImage) =>
  px.count("GET", new RegExp(`/manifests/${indexTag(img.digest)}$`)) +
  px.count("HEAD", new RegExp(`/manifests/${indexTag(img.digest)}$`));

/** A non-Sigstore referrer (an SPDX document, say) of `img`, pushed through the proxy. */
async function pushOtherReferrer(px: FaultProxy, img: PushedImage, note: string): Promise<string> {
  const post = async (data: Uint8Array<ArrayBuffer>) => {
    const digest = `sha256:${await sha256Hex(data)}`;
    const p = await fetch(`${px.url}/v2/${img.repo}/blobs/uploads/`, { method: "POST" });
    await p.body?.cancel();
    const put = await fetch(`${p.headers.get("location")!}&digest=${digest}`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: data,
    });
    await put.body?.cancel();
    assertEquals(put.status, 201, "blob PUT");
    return { digest, size: data.length };
  };
  const empty = await post(enc.encode("{}"));
  const doc = await post(enc.encode(JSON.stringify({ spdxVersion: "SPDX-2.3", name: note })));
  const bytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: "application/spdx+json",
    config: { mediaType: OCI_EMPTY, ...empty },
    layers: [{ mediaType: "application/spdx+json", ...doc }],
    subject: { mediaType: img.mediaType, digest: img.digest, size: img.manifest.length },
  }));
  const digest = `sha256:${await sha256Hex(bytes)}`;
  const r = await fetch(`${px.url}/v2/${img.repo}/manifests/${digest}`, {
    method: "PUT",
    headers: { "content-type": OCI_MANIFEST },
    body: bytes,
  });
  await r.body?.cancel();
  assertEquals(r.status, 201, "referrer PUT");
  return digest;
}

/**
 * Pushes `n` distinct empty artifacts (type application/example, subject `img`) straight to the
 * registry, a few at a time; returns their index entries.
 */
async function pushExampleReferrers(reg: Registry, img: PushedImage, n: number): Promise<Any[]> {
  const empty = await pushBlob(reg, img.repo, enc.encode("{}"));
  const out: Any[] = new Array(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const bytes = enc.encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: "application/example",
        config: { mediaType: OCI_EMPTY, ...empty },
        layers: [],
        subject: { mediaType: img.mediaType, digest: img.digest, size: img.manifest.length },
        annotations: { "example.number": String(i) },
      }));
      const digest = `sha256:${await sha256Hex(bytes)}`;
      const r = await fetch(`${reg.url}/v2/${img.repo}/manifests/${digest}`, {
        method: "PUT",
        headers: { "content-type": OCI_MANIFEST },
        body: bytes,
      });
      await r.body?.cancel();
      assertEquals(r.status, 201, `example referrer ${i}`);
      out[i] = {
        mediaType: OCI_MANIFEST,
        digest,
        size: bytes.length,
        artifactType: "application/example",
      };
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. The referrers API path

Deno.test("referrers API: sign writes no fallback tag, verify reads the API answer", async () => {
  const [k] = await keys();
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { referrers: {} });
  const img = await uniqueImage(reg, "api/app:v1");
  await sign(k!.key, at(px.host, img));

  assertEquals(
    await status(reg, img.repo, indexTag(img.digest)),
    404,
    "a registry with the referrers API gets no fallback tag",
  );
  const listed = px.referrersIndexed(img.repo, img.digest);
  assertEquals(listed.length, 1, "one referrer pushed");
  assertEquals(listed[0]!.artifactType, BUNDLE_V03, "its artifactType");
  assertEquals(await status(reg, img.repo, listed[0]!.digest), 200, "stored in the registry");

  px.reset();
  await verifyOk(k!.pub, at(px.host, img));
  assert(px.count("GET", REFERRERS) >= 1, "verify asked the referrers API");
  assertEquals(fallbackGets(px, img), 0, "verify did not read the fallback tag");
  assert(
    px.log.some((e) => e.method === "GET" && e.path.endsWith(`/manifests/${listed[0]!.digest}`)),
    "the listed referrer manifest was fetched",
  );
  // By tag through the proxy too.
  await verifyOk(k!.pub, `${px.host}/${img.repo}:${img.tag}`);
});

Deno.test("referrers API: pagination (Link rel=next) is followed to the last page", async () => {
  const ks = (await keys()).slice(0, 5);
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { referrers: { pageSize: 2 } });
  const img = await uniqueImage(reg, "paged/app:v1");
  for (const k of ks) await sign(k.key, at(px.host, img));
  assertEquals(px.referrersIndexed(img.repo, img.digest).length, 5, "5 referrers");
  assertEquals(await status(reg, img.repo, indexTag(img.digest)), 404, "no fallback tag");

  px.reset();
  // The 5th signature is alone on page 3.
  await verifyOk(ks[4]!.pub, at(px.host, img));
  assertEquals(px.count("GET", REFERRERS), 3, "three pages read");
  assertEquals(fallbackGets(px, img), 0, "no fallback tag read");
  px.reset();
  await verifyOk(ks[0]!.pub, at(px.host, img));
});

Deno.test("referrers API: an unfiltered answer with other artifacts is filtered by us", async () => {
  const [k] = await keys();
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { referrers: { filter: false } });
  const img = await uniqueImage(reg, "unfiltered/app:v1");
  const others = [
    await pushOtherReferrer(px, img, "a"),
    await pushOtherReferrer(px, img, "b"),
  ];
  await sign(k!.key, at(px.host, img));
  const listed = px.referrersIndexed(img.repo, img.digest);
  assertEquals(listed.length, 3, "two SBOMs and the signature listed");
  assertEquals(await status(reg, img.repo, indexTag(img.digest)), 404, "no fallback tag");

  px.reset();
  const arr = await verifyOk(k!.pub, at(px.host, img));
  assertEquals(arr.length, 1, "one signature verified; the SBOMs are not signatures");
  for (const d of others) {
    assertEquals(px.count("GET", new RegExp(`/manifests/${d}$`)), 0, `${d} not fetched`);
  }
});

// ---------------------------------------------------------------------------------------------
// 2. A failing listing is an error; HTML falls back

Deno.test("referrers API: 429 and 500 on the listing are errors, never 'unsigned'", async () => {
  const [k] = await keys();
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { referrers: {} });
  const img = await uniqueImage(reg, "throttled/app:v1");
  await sign(k!.key, at(px.host, img));

  for (const code of [429, 500]) {
    px.reset();
    px.inject({
      method: "GET",
      path: REFERRERS,
      times: 100,
      fault: { status: code, headers: { "retry-after": "0" }, body: "try later" },
    });
    const r = await verify(k!.pub, at(px.host, img));
    assert(r.code !== 0, `${code}: verify failed`);
    assert(r.code !== 10, `${code}: not "no signatures" (exit 10): ${r.stderr}`);
    assert(r.code !== 3, `${code}: not a crash (exit 3): ${r.stderr}`);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("Error:"));
    assertEquals(errors.length, 1, `${code}: one Error line: ${r.stderr}`);
    assert(!/\n\s+at /.test(r.stderr), `${code}: no stack trace: ${r.stderr}`);
    assert(/referrers/i.test(errors[0]!), `${code}: the error names the referrers: ${errors[0]}`);
    assert(
      errors[0]!.includes(px.host) || errors[0]!.includes(img.repo),
      `${code}: the error names the registry: ${errors[0]}`,
    );
    assert(px.count("GET", REFERRERS) >= 2, `${code}: retried`);
    assertEquals(r.out, "", "nothing on stdout");
  }
});

Deno.test("referrers API: an HTML answer falls back to the tag", async () => {
  const [k, other] = await keys();
  await using reg = await startRegistry();
  const img = await uniqueImage(reg, "html/app:v1");
  {
    // Signed where there is no referrers API: the fallback index is written.
    await using plain = await startFaultProxy(reg);
    await sign(k!.key, at(plain.host, img));
  }
  assertEquals(await status(reg, img.repo, indexTag(img.digest)), 200, "fallback index written");
  await using px = await startFaultProxy(reg, { referrers: {} });
  px.inject({
    method: "GET",
    path: REFERRERS,
    times: 100,
    fault: { status: 200, headers: { "content-type": "text/html" }, body: "<html>hi</html>" },
  });
  await verifyOk(k!.pub, at(px.host, img));
  assert(px.count("GET", REFERRERS) >= 1, "the API was asked");
  assert(fallbackGets(px, img) >= 1, "the fallback tag was read");
  // The fallback is not "anything goes": another key still fails with 12.
  const bad = await verify(other!.pub, at(px.host, img));
  assertEquals(bad.code, 12, bad.stderr);
});

// ---------------------------------------------------------------------------------------------
// 5. A fallback index of 10,000 entries

Deno.test("fallback index of 10,000 entries: verify reads only the signature; sign appends", async () => {
  const [k1, k2] = await keys();
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg);
  const img = await uniqueImage(reg, "big/app:v1");
  await sign(k1!.key, at(reg.host, img));
  const real = (await fallbackIndex(reg, img)).manifests;
  assertEquals(real.length, 1, "one signature");

  // 10,000 other referrers of the image (the registry checks that an index's entries exist, so
  // each is pushed: an empty artifact of type application/example), one listed twice, unsorted.
  const fake = await pushExampleReferrers(reg, img, 10_000);
  const manifests = [fake[5000], ...real, ...[...fake].reverse()];
  const index = enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  const put = await fetch(`${reg.url}/v2/${img.repo}/manifests/${indexTag(img.digest)}`, {
    method: "PUT",
    headers: { "content-type": OCI_INDEX },
    body: index,
  });
  assertEquals(put.status, 201, `index PUT: ${(await put.text()).slice(0, 300)}`);

  const started = performance.now();
  await verifyOk(k1!.pub, at(px.host, img));
  const ms = performance.now() - started;
  const manifestGets = px.count("GET", /\/manifests\//);
  assert(manifestGets < 10, `manifest GETs ${manifestGets} (the other entries are not fetched)`);
  assert(ms < 60_000, `verify took ${Math.round(ms)} ms`);
  assertEquals((await verify(k2!.pub, at(px.host, img))).code, 12, "k2 has not signed yet");

  // Sign appends: 10,000 + 2 entries, sorted by digest, each once.
  await sign(k2!.key, at(reg.host, img));
  const after = (await fallbackIndex(reg, img)).manifests as Any[];
  const digests = after.map((m) => m.digest as string);
  assertEquals(after.length, 10_002, "10,000 others and 2 signatures");
  assertEquals(new Set(digests).size, digests.length, "no duplicates");
  assertEquals(digests, [...digests].sort(), "sorted by digest");
  assert(digests.includes(real[0].digest), "the first signature is kept");
  assertEquals(after.filter((m) => m.artifactType === BUNDLE_V03).length, 2, "two bundles");
  const kept = after.find((m) => m.digest === fake[0].digest);
  assertEquals(kept, fake[0], "existing entries kept as they were");
  px.reset();
  await verifyOk(k2!.pub, at(px.host, img));
  await verifyOk(k1!.pub, at(px.host, img));
  assert(px.count("GET", /\/manifests\//) < 20, "still only the signatures fetched");
});

// ---------------------------------------------------------------------------------------------
// 6. Concurrent signers

Deno.test("8 concurrent signers on one image lose no referrer (3 rounds)", async () => {
  const ks = await keys();
  await using reg = await startRegistry();
  for (let round = 1; round <= 3; round++) {
    const img = await uniqueImage(reg, `race${round}/app:v1`);
    await Promise.all(ks.map((k) => sign(k.key, at(reg.host, img))));
    const index = await fallbackIndex(reg, img);
    const bundles = (index.manifests as Any[]).filter((m) => m.artifactType === BUNDLE_V03);
    assertEquals(bundles.length, 8, `round ${round}: the fallback index lists 8 bundles`);
    const digests = bundles.map((m) => m.digest);
    assertEquals(new Set(digests).size, 8, `round ${round}: 8 distinct referrers`);
    for (let i = 0; i < ks.length; i += 2) {
      const rs = await Promise.all(
        ks.slice(i, i + 2).map((k) => verify(k.pub, at(reg.host, img))),
      );
      for (const [j, r] of rs.entries()) {
        assertEquals(r.code, 0, `round ${round}: key ${i + j} verifies: ${r.stderr}`);
      }
    }
  }
});
