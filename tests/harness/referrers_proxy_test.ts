/**
 * Tests of the fault proxy's referrers API (`startFaultProxy(reg, { referrers })`), the harness's
 * stand-in for a registry with the OCI 1.1 referrers API, against the real registry: manifests are
 * pushed through the proxy with fetch and the answers are checked against what was pushed.
 */

import { assert, assertEquals } from "../helpers.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from "./images.ts";
import { type Descriptor, type FaultProxy, startFaultProxy } from "./fault_proxy.ts";
import { b64, sha256Hex } from "./util.ts";

const BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";
const EMPTY = "application/vnd.oci.empty.v1+json";
const SBOM = "application/vnd.example.sbom.v1+json";
const REPO = "test/ref";
const enc = new TextEncoder();

interface Pushed {
  digest: string;
  size: number;
  bytes: Uint8Array<ArrayBuffer>;
}

/** Monolithic blob upload (POST, then PUT `<Location>&digest=`) through `px`. */
async function pushBlob(px: FaultProxy, repo: string, data: Uint8Array<ArrayBuffer>) {
  const digest = `sha256:${await sha256Hex(data)}`;
  const post = await fetch(`${px.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await post.body?.cancel();
  assertEquals(post.status, 202, "blob upload POST");
  const put = await fetch(`${post.headers.get("location")!}&digest=${digest}`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: data,
  });
  await put.body?.cancel();
  assertEquals(put.status, 201, "blob upload PUT");
  return { mediaType: "", digest, size: data.length };
}

async function putManifest(
  px: FaultProxy,
  repo: string,
  ref: string | undefined,
  manifest: Record<string, unknown>,
  contentType = OCI_MANIFEST,
): Promise<Pushed & { status: number }> {
  const bytes = enc.encode(JSON.stringify(manifest));
  const digest = `sha256:${await sha256Hex(bytes)}`;
  const r = await fetch(`${px.url}/v2/${repo}/manifests/${ref ?? digest}`, {
    method: "PUT",
    headers: { "content-type": contentType },
    body: bytes,
  });
  await r.body?.cancel();
  return { digest, size: bytes.length, bytes, status: r.status };
}

/** Pushes a small OCI image (config + one layer) under tag `v1`; returns its manifest. */
async function pushBase(px: FaultProxy, repo = REPO): Promise<Pushed> {
  const config = await pushBlob(
    px,
    repo,
    enc.encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'),
  );
  const layer = await pushBlob(px, repo, crypto.getRandomValues(new Uint8Array(512)));
  const m = await putManifest(px, repo, "v1", {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { ...config, mediaType: OCI_CONFIG },
    layers: [{ ...layer, mediaType: OCI_LAYER_GZIP }],
  });
  assertEquals(m.status, 201, "base manifest PUT");
  return m;
}

/** A referrer of `subject` shaped like cosign v3's bundle manifest (empty config, one layer). */
async function pushReferrer(
  px: FaultProxy,
  subject: Pushed,
  opts: { artifactType?: string; note?: string; repo?: string } = {},
): Promise<Pushed & { annotations: Record<string, string> }> {
  const repo = opts.repo ?? REPO;
  const empty = await pushBlob(px, repo, enc.encode("{}"));
  const bundle = await pushBlob(
    px,
    repo,
    enc.encode(`{"note":${JSON.stringify(opts.note ?? "")}}`),
  );
  const annotations = {
    "dev.sigstore.bundle.content": "dsse-envelope",
    "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
    "org.opencontainers.image.created": "2025-01-01T00:00:00Z",
    "test.note": opts.note ?? "",
  };
  const m = await putManifest(px, repo, undefined, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: opts.artifactType ?? BUNDLE,
    config: { ...empty, mediaType: EMPTY },
    layers: [{ ...bundle, mediaType: opts.artifactType ?? BUNDLE }],
    subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
    annotations,
  });
  assertEquals(m.status, 201, "referrer manifest PUT");
  return { ...m, annotations };
}

async function referrers(px: FaultProxy, path: string, init: RequestInit = {}) {
  const r = await fetch(px.url + path, init);
  const text = await r.text();
  let json: { schemaVersion: number; mediaType: string; manifests: Descriptor[] } | undefined;
  if (r.headers.get("content-type") === OCI_INDEX) json = JSON.parse(text);
  return { status: r.status, headers: r.headers, text, json };
}

const refPath = (digest: string, query = "") => `/v2/${REPO}/referrers/${digest}${query}`;

Deno.test("referrers proxy: lists referrers pushed through it, from the registry's storage", async () => {
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { referrers: {} });
  const base = await pushBase(px);
  const ref = await pushReferrer(px, base, { note: "one" });

  const got = await referrers(px, refPath(base.digest), { headers: { accept: OCI_INDEX } });
  assertEquals(got.status, 200, got.text);
  assertEquals(got.headers.get("content-type"), OCI_INDEX);
  assertEquals(got.headers.get("oci-filters-applied"), null);
  assertEquals(got.headers.get("link"), null);
  const want: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest: ref.digest,
    size: ref.size,
    artifactType: BUNDLE,
    annotations: ref.annotations,
  };
  assertEquals(got.json, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [want] });
  assertEquals(px.referrersIndexed(REPO, base.digest), [want]);

  // The listed digest names the manifest the registry really stores.
  const direct = await fetch(`${reg.url}/v2/${REPO}/manifests/${ref.digest}`, {
    headers: { accept: OCI_MANIFEST },
  });
  assertEquals(direct.headers.get("docker-content-digest"), ref.digest);
  assertEquals(b64(await direct.bytes()), b64(ref.bytes));

  // Logged like any request.
  assertEquals(px.count("GET", /\/referrers\//), 1);
  assertEquals(px.log.at(-1)!.status, 200);

  // Re-pushing the same manifest under a tag lists it once.
  const again = await putManifest(px, REPO, "sig", JSON.parse(new TextDecoder().decode(ref.bytes)));
  assertEquals([again.status, again.digest], [201, ref.digest]);
  assertEquals((await referrers(px, refPath(base.digest))).json!.manifests, [want]);

  // No referrers: an empty list, not 404. A manifest without subject adds nothing.
  const other = await pushBase(px, "test/other");
  const none = await referrers(px, `/v2/test/other/referrers/${other.digest}`);
  assertEquals([none.status, none.json], [200, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [],
  }]);
  assertEquals((await referrers(px, refPath(ref.digest))).json!.manifests, []);

  // A bad digest is 400.
  for (const bad of ["sha256:abc", "latest", "sha512:" + "0".repeat(128)]) {
    assertEquals((await referrers(px, refPath(bad))).status, 400, bad);
  }

  // Without artifactType: config.mediaType; without mediaType field: the request Content-Type.
  const empty = await pushBlob(px, REPO, enc.encode("{}"));
  const sbomConfig = await pushBlob(px, REPO, enc.encode('{"sbom":true}'));
  const plain = await putManifest(px, REPO, undefined, {
    schemaVersion: 2,
    config: { ...sbomConfig, mediaType: SBOM },
    layers: [{ ...empty, mediaType: EMPTY }],
    subject: { mediaType: OCI_MANIFEST, digest: base.digest, size: base.size },
  });
  assertEquals(plain.status, 201);
  assertEquals(px.referrersIndexed(REPO, base.digest).at(-1), {
    mediaType: OCI_MANIFEST,
    digest: plain.digest,
    size: plain.size,
    artifactType: SBOM,
  });

  // A push the registry refuses (missing blob) is not indexed.
  const refused = await putManifest(px, REPO, undefined, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE,
    config: { mediaType: EMPTY, digest: `sha256:${"1".repeat(64)}`, size: 2 },
    layers: [],
    subject: { mediaType: OCI_MANIFEST, digest: base.digest, size: base.size },
  });
  assertEquals(refused.status, 400);
  assertEquals(px.referrersIndexed(REPO, base.digest).length, 2);

  // Faults apply first.
  px.inject({ path: /\/referrers\//, times: 1, fault: { status: 429, body: "slow down" } });
  px.inject({
    path: /\/referrers\//,
    times: 1,
    fault: { status: 200, headers: { "content-type": "text/html" }, body: "<html>" },
  });
  const throttled = await referrers(px, refPath(base.digest));
  assertEquals([throttled.status, throttled.text], [429, "slow down"]);
  const html = await referrers(px, refPath(base.digest));
  assertEquals([html.status, html.text, html.json], [200, "<html>", undefined]);
  const ok = await referrers(px, refPath(base.digest));
  assertEquals(ok.json!.manifests.length, 2);
  assertEquals(px.log.slice(-3).map((e) => [e.status, e.fault ?? ""]), [
    [429, "status"],
    [200, "status"],
    [200, ""],
  ]);
});

Deno.test("referrers proxy: artifactType filtering, on and off", async () => {
  await using reg = await startRegistry();
  for (const filter of [undefined, true, false]) {
    await using px = await startFaultProxy(reg, {
      referrers: filter === undefined ? {} : { filter },
    });
    const base = await pushBase(px);
    const bundle = await pushReferrer(px, base, { note: "b" });
    const sbom = await pushReferrer(px, base, { artifactType: SBOM, note: "s" });
    const got = await referrers(
      px,
      refPath(base.digest, `?artifactType=${encodeURIComponent(BUNDLE)}`),
    );
    assertEquals(got.status, 200);
    const digests = got.json!.manifests.map((d) => d.digest);
    if (filter === false) {
      assertEquals(got.headers.get("oci-filters-applied"), null);
      assertEquals(digests, [bundle.digest, sbom.digest]);
    } else {
      assertEquals(got.headers.get("oci-filters-applied"), "artifactType", String(filter));
      assertEquals(digests, [bundle.digest], String(filter));
      const none = await referrers(px, refPath(base.digest, "?artifactType=application%2Fnone"));
      assertEquals(none.json!.manifests, []);
    }
  }
});

Deno.test("referrers proxy: pagination with Link rel=next", async () => {
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { referrers: { pageSize: 2 } });
  const base = await pushBase(px);
  const pushed: string[] = [];
  for (let i = 0; i < 5; i++) pushed.push((await pushReferrer(px, base, { note: `r${i}` })).digest);
  await pushReferrer(px, base, { artifactType: SBOM, note: "other" });

  for (const query of ["", `?artifactType=${encodeURIComponent(BUNDLE)}`]) {
    const seen: string[] = [];
    const sizes: number[] = [];
    let next: string | undefined = refPath(base.digest, query);
    for (let pages = 0; next; pages++) {
      assert(pages < 10, "Link loop");
      const got = await referrers(px, next);
      assertEquals(got.status, 200, got.text);
      sizes.push(got.json!.manifests.length);
      seen.push(...got.json!.manifests.map((d) => d.digest));
      const link = got.headers.get("link");
      next = undefined;
      if (link) {
        const m = /^<([^>]+)>; rel="next"$/.exec(link);
        assert(m, `Link ${link}`);
        const u = new URL(m[1]!, px.url);
        assertEquals(u.origin + u.pathname, px.url + refPath(base.digest), link);
        if (query) assertEquals(u.searchParams.get("artifactType"), BUNDLE, link);
        next = m[1]!;
      }
    }
    if (query) {
      assertEquals(seen, pushed);
      assertEquals(sizes, [2, 2, 1]);
    } else {
      assertEquals(seen.slice(0, 5), pushed);
      assertEquals(sizes, [2, 2, 2]);
    }
    assertEquals(new Set(seen).size, seen.length, "each referrer once");
  }
});

Deno.test("referrers proxy: deleting a referrer manifest removes it", async () => {
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { referrers: {} });
  const base = await pushBase(px);
  const a = await pushReferrer(px, base, { note: "a" });
  const b = await pushReferrer(px, base, { note: "b" });
  assertEquals(px.referrersIndexed(REPO, base.digest).map((d) => d.digest), [a.digest, b.digest]);

  // A refused delete (by tag) changes nothing.
  const byTag = await fetch(`${px.url}/v2/${REPO}/manifests/v1`, { method: "DELETE" });
  await byTag.body?.cancel();
  assertEquals(byTag.status, 400);

  const del = await fetch(`${px.url}/v2/${REPO}/manifests/${a.digest}`, { method: "DELETE" });
  await del.body?.cancel();
  assertEquals(del.status, 202);
  const got = await referrers(px, refPath(base.digest));
  assertEquals(got.json!.manifests.map((d) => d.digest), [b.digest]);
  assertEquals(px.referrersIndexed(REPO, base.digest).map((d) => d.digest), [b.digest]);
});

Deno.test("referrers proxy: without the option the path is forwarded (distribution: 404)", async () => {
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg);
  const base = await pushBase(px);
  await pushReferrer(px, base);
  const got = await referrers(px, refPath(base.digest));
  assertEquals([got.status, got.text.trim()], [404, "404 page not found"]);
  assertEquals(px.referrersIndexed(REPO, base.digest), []);
  assertEquals(px.count("GET", /\/referrers\//), 1);
});

Deno.test("referrers proxy: the upstream's auth applies (htpasswd)", async () => {
  await using reg: Registry = await startRegistry({ mode: "htpasswd" });
  await using px = await startFaultProxy(reg, { referrers: {} });
  const digest = `sha256:${"a".repeat(64)}`;
  const anon = await referrers(px, refPath(digest));
  assertEquals(anon.status, 401);
  assert(anon.headers.get("www-authenticate")?.startsWith("Basic "), "challenge relayed");
  const auth = "Basic " + b64(enc.encode(`${reg.username}:${reg.password}`));
  const ok = await referrers(px, refPath(digest), { headers: { authorization: auth } });
  assertEquals([ok.status, ok.json?.manifests], [200, []]);
});
