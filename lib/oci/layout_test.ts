import { assert, assertEquals, sh, tempDir } from "../../tests/helpers.ts";
import { CosignError, type ErrorCode } from "../errors.ts";
import { sha256Digest } from "./digest.ts";
import { OciLayout, REF_NAME_ANNOTATION } from "./layout.ts";
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST } from "./media_types.ts";
import type { Reference } from "./reference.ts";

const REPO = { registry: "example.com", repository: "ignored/by/layouts" };
const tagRef = (tag: string): Reference => ({ ...REPO, tag });
const digestRef = (digest: string): Reference => ({ ...REPO, digest });
const enc = new TextEncoder();
const dec = new TextDecoder();
const LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function rejects(p: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof CosignError, `CosignError expected, got ${e}`);
    assertEquals(e.code, code, e.message);
    if (pattern) assert(pattern.test(e.message), `${e.message} does not match ${pattern}`);
    return e;
  }
  throw new Error(`expected a ${code} rejection`);
}

async function ok(cmd: string, args: string[]): Promise<Uint8Array> {
  const r = await sh(cmd, args);
  assert(r.code === 0, `${cmd} ${args.join(" ")} failed (${r.code}): ${r.err}`);
  return r.out;
}

function skopeo(...args: string[]): Promise<Uint8Array> {
  return ok("skopeo", ["--insecure-policy", ...args]);
}

/** A real gzip'd tar layer and a config for it, stored in `layout`; returns the manifest bytes. */
async function putImage(layout: OciLayout, work: string, text: string): Promise<Uint8Array> {
  await Deno.mkdir(`${work}/rootfs`, { recursive: true });
  await Deno.writeTextFile(`${work}/rootfs/hello.txt`, text);
  await ok("tar", ["-C", `${work}/rootfs`, "-cf", `${work}/layer.tar`, "."]);
  const diffId = sha256Digest(await Deno.readFile(`${work}/layer.tar`));
  await ok("gzip", ["-n", `${work}/layer.tar`]);
  const layer = await layout.uploadBlobFile(REPO, `${work}/layer.tar.gz`);
  const config = await layout.uploadBlob(
    REPO,
    enc.encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/hello"] },
      rootfs: { type: "layers", diff_ids: [diffId] },
    })),
  );
  return enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { ...config, mediaType: OCI_CONFIG },
    layers: [{ ...layer, mediaType: LAYER_GZIP }],
  }));
}

/** Reads every blob a manifest names through `fetchBlob` (which verifies them). */
async function readImage(layout: OciLayout, ref: Reference): Promise<Record<string, unknown>> {
  const m = await layout.getManifest(ref);
  assertEquals(m.mediaType, OCI_MANIFEST);
  const json = m.json as {
    config: { digest: string; size: number };
    layers: { digest: string; size: number }[];
  };
  const config = await readAll(await layout.fetchBlob(REPO, json.config.digest, json.config.size));
  for (const l of json.layers) {
    const bytes = await readAll(await layout.fetchBlob(REPO, l.digest, l.size));
    assertEquals(sha256Digest(bytes), l.digest);
  }
  return JSON.parse(dec.decode(config));
}

Deno.test("layout: open creates a layout, refuses a missing or foreign one", async () => {
  await using tmp = await tempDir();
  const dir = `${tmp.path}/a/b/layout`;
  await rejects(OciLayout.open(dir), "FILE_NOT_FOUND", /oci-layout.*not an OCI image layout/);
  const layout = await OciLayout.open(dir, { create: true });
  assertEquals(layout.dir, dir);
  assertEquals(await Deno.readTextFile(`${dir}/oci-layout`), '{"imageLayoutVersion":"1.0.0"}');
  assertEquals(await Deno.readTextFile(`${dir}/index.json`), '{"schemaVersion":2,"manifests":[]}');
  assert((await Deno.stat(`${dir}/blobs/sha256`)).isDirectory, "blobs/sha256 made");
  assertEquals(await layout.listTags(), []);
  assertEquals(await layout.index(), []);
  await OciLayout.open(dir); // reopens
  await OciLayout.open(dir, { create: true }); // and create keeps it

  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"2.0.0"}');
  await rejects(OciLayout.open(dir), "MANIFEST_INVALID", /"2\.0\.0".*only "1\.0\.0"/);
  await rejects(OciLayout.open(dir, { create: true }), "MANIFEST_INVALID");
  await Deno.writeTextFile(`${dir}/oci-layout`, "nope");
  await rejects(OciLayout.open(dir), "MANIFEST_INVALID", /oci-layout is not JSON/);
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeTextFile(`${dir}/index.json`, '{"manifests":{}}');
  await rejects(OciLayout.open(dir), "MANIFEST_INVALID", /index\.json.*not an array/);
  await Deno.writeTextFile(
    `${dir}/index.json`,
    '{"manifests":[{"mediaType":"x","digest":"sha256:../../etc/passwd","size":1}]}',
  );
  await rejects(OciLayout.open(dir), "MANIFEST_INVALID", /manifests\[0\] has an invalid digest/);
  await Deno.remove(`${dir}/index.json`);
  await rejects(OciLayout.open(dir), "FILE_NOT_FOUND", /index\.json/);
  await OciLayout.open(dir, { create: true }); // restores an empty index
  assertEquals(await (await OciLayout.open(dir)).index(), []);
});

Deno.test("layout: round trip of blobs and a tagged manifest; re-tag replaces", async () => {
  await using tmp = await tempDir();
  const layout = await OciLayout.open(`${tmp.path}/l`, { create: true });
  const data = enc.encode("hello blob");
  const d = await layout.uploadBlob(REPO, data);
  assertEquals(d, { mediaType: "application/octet-stream", digest: sha256Digest(data), size: 10 });
  assert(await layout.blobExists(REPO, d.digest), "blob exists");
  assert(!(await layout.blobExists(REPO, sha256Digest(enc.encode("other")))), "no other blob");
  assertEquals(await readAll(await layout.fetchBlob(REPO, d.digest)), data);
  assertEquals(await readAll(await layout.fetchBlob(REPO, d.digest, 10)), data);
  await rejects(layout.fetchBlob(REPO, d.digest, 11), "DIGEST_MISMATCH", /10 bytes, expected 11/);
  await rejects(
    layout.fetchBlob(REPO, sha256Digest(enc.encode("other"))),
    "BLOB_UNKNOWN",
    /not found in OCI layout/,
  );
  assertEquals(await layout.uploadBlob(REPO, data), d); // idempotent

  const m1 = await putImage(layout, `${tmp.path}/w1`, "one\n");
  const d1 = await layout.putManifest(tagRef("v1"), m1, OCI_MANIFEST);
  assertEquals(d1, sha256Digest(m1));
  for (const ref of [tagRef("v1"), digestRef(d1)]) {
    const got = await layout.getManifest(ref);
    assertEquals(got.bytes, m1);
    assertEquals(got.digest, d1);
    assertEquals(got.mediaType, OCI_MANIFEST);
  }
  assertEquals((await readImage(layout, tagRef("v1"))).architecture, "amd64");
  assertEquals(await layout.listTags(REPO), ["v1"]);
  assertEquals(await layout.index(), [
    {
      mediaType: OCI_MANIFEST,
      digest: d1,
      size: m1.length,
      annotations: { [REF_NAME_ANNOTATION]: "v1" },
    },
  ]);
  await rejects(layout.getManifest(tagRef("v2")), "MANIFEST_UNKNOWN", /tag "v2".*not found/);
  await rejects(
    layout.getManifest({ ...REPO }),
    "MANIFEST_UNKNOWN",
    /tag "latest" in OCI layout/,
  );
  const absent = sha256Digest(enc.encode("absent"));
  await rejects(layout.getManifest(digestRef(absent)), "MANIFEST_UNKNOWN", new RegExp(absent));

  // A second tag, then v1 moved to another manifest: the entry is replaced in place.
  const m2 = await putImage(layout, `${tmp.path}/w2`, "two\n");
  await layout.putManifest(tagRef("latest"), m1, OCI_MANIFEST);
  const d2 = await layout.putManifest(tagRef("v1"), m2, OCI_MANIFEST);
  assertEquals(await layout.listTags(), ["v1", "latest"]);
  assertEquals((await layout.getManifest(tagRef("v1"))).digest, d2);
  assertEquals((await layout.getManifest(tagRef("latest"))).digest, d1);
  assertEquals((await layout.getManifest(digestRef(d1))).bytes, m1); // the old blob stays
  assertEquals((await layout.index()).map((e) => e.digest), [d2, d1]);

  // A put by digest with the wrong bytes is refused.
  await rejects(layout.putManifest(digestRef(d1), m2, OCI_MANIFEST), "DIGEST_MISMATCH");
  // Tag lookups take the last entry of duplicated ref names written by other tools.
  const raw = JSON.parse(await Deno.readTextFile(`${layout.dir}/index.json`));
  raw.manifests.push({ ...raw.manifests[0], digest: d1, size: m1.length });
  await Deno.writeTextFile(`${layout.dir}/index.json`, JSON.stringify(raw));
  assertEquals((await layout.getManifest(tagRef("v1"))).digest, d1);
  assertEquals(await layout.listTags(), ["v1", "latest"]);
  // …and re-tagging collapses them into one entry.
  await layout.putManifest(tagRef("v1"), m2, OCI_MANIFEST);
  assertEquals((await layout.index()).map((e) => e.digest), [d2, d1]);
  // No temporary files are left behind.
  const names = [];
  for await (const e of Deno.readDir(`${layout.dir}/blobs/sha256`)) names.push(e.name);
  for await (const e of Deno.readDir(layout.dir)) names.push(e.name);
  assert(!names.some((n) => n.startsWith(".tmp-")), `temporary files left: ${names}`);
});

Deno.test("layout: digest-only entries and extra annotations (cosign save's kind)", async () => {
  await using tmp = await tempDir();
  const layout = await OciLayout.open(`${tmp.path}/l`, { create: true });
  const m = enc.encode('{"schemaVersion":2,"mediaType":"' + OCI_INDEX + '","manifests":[]}');
  const d = sha256Digest(m);
  assertEquals(await layout.putManifest(digestRef(d), m, OCI_INDEX), d);
  await layout.putManifest(digestRef(d), m, OCI_INDEX); // no duplicate
  assertEquals(await layout.index(), [{ mediaType: OCI_INDEX, digest: d, size: m.length }]);
  assertEquals(await layout.listTags(), []);
  const kind = { kind: "dev.cosignproject.cosign/imageIndex" };
  await layout.putManifest(digestRef(d), m, OCI_INDEX, kind);
  assertEquals(await layout.index(), [
    { mediaType: OCI_INDEX, digest: d, size: m.length, annotations: kind },
  ]);
  const got = await layout.getManifest(digestRef(d));
  assertEquals(got.mediaType, OCI_INDEX);
  // A tag with annotations; a digest-only put of a tagged manifest adds nothing.
  await layout.putManifest(tagRef("t"), m, OCI_INDEX, { kind: "x", [REF_NAME_ANNOTATION]: "no" });
  await layout.putManifest(digestRef(d), m, OCI_INDEX);
  assertEquals((await layout.index())[1]?.annotations, { kind: "x", [REF_NAME_ANNOTATION]: "t" });
  assertEquals((await layout.index()).length, 2);
  // Unknown fields of index.json and its entries survive updates.
  const raw = JSON.parse(await Deno.readTextFile(`${layout.dir}/index.json`));
  raw.annotations = { top: "level" };
  raw.manifests[0].platform = { architecture: "arm64", os: "linux" };
  raw.manifests[0].urls = ["https://example.com/x"];
  await Deno.writeTextFile(`${layout.dir}/index.json`, JSON.stringify(raw));
  await layout.putManifest(tagRef("u"), m, OCI_INDEX);
  const after = JSON.parse(await Deno.readTextFile(`${layout.dir}/index.json`));
  assertEquals(after.annotations, { top: "level" });
  assertEquals(after.manifests[0].urls, ["https://example.com/x"]);
  assertEquals((await layout.index())[0]?.platform, { architecture: "arm64", os: "linux" });
});

Deno.test("layout: concurrent puts in one process all reach index.json", async () => {
  await using tmp = await tempDir();
  const layout = await OciLayout.open(`${tmp.path}/l`, { create: true });
  const tags = Array.from({ length: 20 }, (_, i) => `t${i}`);
  await Promise.all(tags.map((t) =>
    layout.putManifest(
      tagRef(t),
      enc.encode(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","annotations":{"t":"${t}"}}`),
      OCI_MANIFEST,
    )
  ));
  assertEquals((await layout.listTags()).sort(), [...tags].sort());
});

Deno.test("layout: skopeo reads a layout we write, and copies it", async () => {
  await using tmp = await tempDir();
  const ours = `${tmp.path}/ours`;
  const layout = await OciLayout.open(ours, { create: true });
  const m = await putImage(layout, `${tmp.path}/w`, "hello from ours\n");
  const d = await layout.putManifest(tagRef("v1"), m, OCI_MANIFEST);
  // A digest-only entry beside it must not confuse skopeo.
  await layout.putManifest(digestRef(sha256Digest(m)), m, OCI_MANIFEST, { kind: "k" });
  assertEquals(await skopeo("inspect", "--raw", `oci:${ours}:v1`), m);
  const info = JSON.parse(dec.decode(await skopeo("inspect", `oci:${ours}:v1`)));
  assertEquals(info.Digest, d);
  await skopeo("copy", `oci:${ours}:v1`, `oci:${tmp.path}/other:v1`);
  const other = await OciLayout.open(`${tmp.path}/other`);
  assertEquals((await other.getManifest(tagRef("v1"))).digest, d); // same bytes, same digest
});

Deno.test("layout: we read layouts skopeo writes", async () => {
  await using tmp = await tempDir();
  const ours = await OciLayout.open(`${tmp.path}/ours`, { create: true });
  const m = await putImage(ours, `${tmp.path}/w`, "round trip\n");
  await ours.putManifest(tagRef("src"), m, OCI_MANIFEST);
  const theirs = `${tmp.path}/theirs`;
  await skopeo("copy", `oci:${ours.dir}:src`, `oci:${theirs}:copied`);
  await skopeo("copy", `oci:${ours.dir}:src`, `oci:${theirs}:second`);
  const layout = await OciLayout.open(theirs);
  assertEquals((await layout.listTags()).sort(), ["copied", "second"]);
  const config = await readImage(layout, tagRef("copied"));
  assertEquals(config.os, "linux");
  const got = await layout.getManifest(tagRef("second"));
  assertEquals((await layout.getManifest(digestRef(got.digest))).bytes, got.bytes);

  // The hand-built layouts of test-environment.md §2 (an image, and an index of two).
  const script = `${tmp.path}/make-oci-layout.sh`;
  await Deno.writeTextFile(script, MAKE_OCI_LAYOUT);
  await ok("bash", [script, `${tmp.path}/single`, "amd64"]);
  await ok("bash", [script, `${tmp.path}/multi`, "amd64", "arm64"]);
  const single = await OciLayout.open(`${tmp.path}/single`);
  assertEquals((await readImage(single, tagRef("latest"))).architecture, "amd64");
  assertEquals( // the digest the document promises: the script was copied verbatim
    (await single.getManifest(tagRef("latest"))).digest,
    "sha256:3ae56bb25ce73920b48d9946d4666cc9ad4b057a903dc167b6dd4e9be97c9dd5",
  );
  const multi = await OciLayout.open(`${tmp.path}/multi`);
  const index = await multi.getManifest(tagRef("latest"));
  assertEquals(index.mediaType, OCI_INDEX);
  const entries = index.json.manifests as { digest: string; platform: { architecture: string } }[];
  assertEquals(entries.map((e) => e.platform.architecture), ["amd64", "arm64"]);
  for (const e of entries) {
    const c = await readImage(multi, digestRef(e.digest));
    assertEquals(c.architecture, e.platform.architecture);
  }
  // skopeo copies the index from one of those into a layout of ours, and we read it back.
  await skopeo("copy", "--all", `oci:${multi.dir}:latest`, `oci:${ours.dir}:multi`);
  assertEquals((await ours.getManifest(tagRef("multi"))).digest, index.digest);
  assertEquals(await ours.listTags(), ["src", "multi"]);
});

Deno.test("layout: corruption on disk is detected", async () => {
  await using tmp = await tempDir();
  const layout = await OciLayout.open(`${tmp.path}/l`, { create: true });
  const data = new Uint8Array(3 << 20 >> 1).map((_, i) => (i * 2654435761) >>> 24);
  const blob = await layout.uploadBlob(REPO, data);
  const m = enc.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...blob, mediaType: OCI_CONFIG },
      layers: [],
    }),
  );
  const d = await layout.putManifest(tagRef("v1"), m, OCI_MANIFEST);
  const flip = async (digest: string, at: number) => {
    const path = layout.blobPath(digest);
    const bytes = await Deno.readFile(path);
    bytes[at] = bytes[at]! ^ 1;
    await Deno.writeFile(path, bytes);
  };
  await flip(blob.digest, 1_000_000);
  for (const size of [undefined, blob.size]) {
    const stream = await layout.fetchBlob(REPO, blob.digest, size);
    await rejects(readAll(stream), "DIGEST_MISMATCH", /in OCI layout.*does not match/);
  }
  await flip(d, 10);
  await rejects(layout.getManifest(digestRef(d)), "DIGEST_MISMATCH", /is corrupt/);
  await rejects(layout.getManifest(tagRef("v1")), "DIGEST_MISMATCH", /is corrupt/);
  // A truncated manifest: the index entry's size and the digest disagree.
  await Deno.writeFile(layout.blobPath(d), m.subarray(0, 5));
  await rejects(layout.getManifest(tagRef("v1")), "DIGEST_MISMATCH");
  // A missing manifest blob listed in index.json.
  await Deno.remove(layout.blobPath(d));
  await rejects(layout.getManifest(tagRef("v1")), "MANIFEST_UNKNOWN", /its blob is missing/);
});

Deno.test("layout: malformed digests are refused before touching the file system", async () => {
  await using tmp = await tempDir();
  const layout = await OciLayout.open(`${tmp.path}/l`, { create: true });
  const bad = [
    "sha256:../../etc/passwd",
    "sha256:" + "a".repeat(63) + "/",
    "sha256:" + "A".repeat(64),
    "sha512:" + "a".repeat(64),
    "sha256:" + "a".repeat(64) + "\n",
    "../" + "a".repeat(64),
    "",
  ];
  for (const digest of bad) {
    await rejects(layout.fetchBlob(REPO, digest), "REF_INVALID", /Invalid digest/);
    await rejects(layout.blobExists(REPO, digest), "REF_INVALID");
    await rejects(layout.getManifest(digestRef(digest)), "REF_INVALID");
  }
});

Deno.test("layout: uploadBlobFile of 20 MiB matches sha256sum", async () => {
  await using tmp = await tempDir();
  const layout = await OciLayout.open(`${tmp.path}/l`, { create: true });
  const path = `${tmp.path}/big.bin`;
  const size = 20 << 20;
  {
    using f = await Deno.open(path, { write: true, create: true });
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 20; i++) {
      for (let o = 0; o < chunk.length; o += 65536) {
        crypto.getRandomValues(chunk.subarray(o, o + 65536));
      }
      let off = 0;
      while (off < chunk.length) off += await f.write(chunk.subarray(off));
    }
  }
  const want = "sha256:" + dec.decode(await ok("sha256sum", [path])).split(" ")[0];
  const d = await layout.uploadBlobFile(REPO, path);
  assertEquals(d, { mediaType: "application/octet-stream", digest: want, size });
  assertEquals((await Deno.stat(layout.blobPath(want))).size, size);
  assertEquals(
    "sha256:" + dec.decode(await ok("sha256sum", [layout.blobPath(want)])).split(" ")[0],
    want,
  );
  // Again (the blob exists): same descriptor, no temporary file left behind.
  assertEquals(await layout.uploadBlobFile(REPO, path), d);
  const names = [];
  for await (const e of Deno.readDir(`${layout.dir}/blobs/sha256`)) names.push(e.name);
  assertEquals(names, [want.slice(7)]);
  // Streamed back and verified.
  let n = 0;
  for await (const c of await layout.fetchBlob(REPO, want, size)) n += c.length;
  assertEquals(n, size);
  await rejects(layout.uploadBlobFile(REPO, `${tmp.path}/absent`), "FILE_NOT_FOUND");
});

/**
 * test-environment.md §2's `make-oci-layout.sh`, verbatim except that each "$\{" stands for
 * "${" (which a template literal would substitute).
 */
const MAKE_OCI_LAYOUT = String.raw`#!/bin/bash
# Usage: make-oci-layout.sh <outdir> [arch ...]   -> OCI image layout; 1 arch => image manifest, >1 => index
set -euo pipefail
OUT=$\{1:?outdir}; shift; ARCHES=("$\{@:-amd64}")
rm -rf "$OUT"; mkdir -p "$OUT/blobs/sha256"; TMP=$(mktemp -d)
put() { local f=$1 d; d=$(sha256sum "$f" | cut -d' ' -f1); cp "$f" "$OUT/blobs/sha256/$d"; echo "$d $(stat -c %s "$f")"; }
MANIFESTS=()
for arch in "$\{ARCHES[@]}"; do
  mkdir -p "$TMP/$arch/rootfs"; echo "hello from $arch" > "$TMP/$arch/rootfs/hello.txt"
  tar --sort=name --mtime='2020-01-01' --owner=0 --group=0 --numeric-owner -C "$TMP/$arch/rootfs" -cf "$TMP/$arch/layer.tar" .
  diffid=$(sha256sum "$TMP/$arch/layer.tar" | cut -d' ' -f1)
  gzip -n -c "$TMP/$arch/layer.tar" > "$TMP/$arch/layer.tar.gz"
  read -r ld ls < <(put "$TMP/$arch/layer.tar.gz")
  printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$arch" "$diffid" > "$TMP/$arch/config.json"
  read -r cd cs < <(put "$TMP/$arch/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" > "$TMP/$arch/manifest.json"
  read -r md ms < <(put "$TMP/$arch/manifest.json")
  MANIFESTS+=("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":$ms,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}}")
done
if [ $\{#ARCHES[@]} -gt 1 ]; then
  (IFS=,; printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$\{MANIFESTS[*]}") > "$TMP/index-inner.json"
  read -r id is < <(put "$TMP/index-inner.json")
  TOP="{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:$id\",\"size\":$is,\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}"
else
  TOP=$(echo "$\{MANIFESTS[0]}" | sed 's/}$/,"annotations":{"org.opencontainers.image.ref.name":"latest"}}/')
fi
echo '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
printf '{"schemaVersion":2,"manifests":[%s]}' "$TOP" > "$OUT/index.json"
rm -rf "$TMP"; echo "$TOP"
`.replaceAll("$\\{", "${");

Deno.test("layout: a writer removes temporaries whose writer is gone or that are an hour old; a reader leaves them", async () => {
  await using d = await tempDir();
  await OciLayout.open(d.path, { create: true });
  const blobs = `${d.path}/blobs/sha256`;
  // A process id that is not running: the highest pid possible is below 2^22 on Linux.
  const dead = 4_194_304 + 7;
  const names = {
    dead: `.tmp-${dead}-a`,
    live: `.tmp-${Deno.pid}-b`,
    oldUnnamed: ".tmp-0b9d2c1e-old",
    freshUnnamed: ".tmp-7f3a9e22-fresh",
  };
  for (const n of Object.values(names)) await Deno.writeTextFile(`${blobs}/${n}`, "partial");
  await Deno.writeTextFile(`${d.path}/.tmp-${dead}-index`, "partial");
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  await Deno.utime(`${blobs}/${names.oldUnnamed}`, twoHoursAgo, twoHoursAgo);
  const list = () =>
    [...Deno.readDirSync(blobs)].map((e) => e.name).filter((n) => n.startsWith(".tmp-")).sort();
  await OciLayout.open(d.path); // reading: nothing removed
  assertEquals(list().length, 4);
  await OciLayout.open(d.path, { create: true });
  const expected = Deno.build.os === "linux"
    ? [names.freshUnnamed, names.live].sort()
    : [names.dead, names.freshUnnamed, names.live].sort();
  assertEquals(list(), expected);
  assert(
    Deno.build.os !== "linux" ||
      ![...Deno.readDirSync(d.path)].some((e) => e.name.startsWith(".tmp-")),
    "the top folder's stale temporaries too",
  );
});
