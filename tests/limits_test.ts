/**
 * Bounded memory and disk against hostile registries and layouts (issue 20 items 2, 3, 7, 8;
 * issue 19 item 7). Each test rebuilds an attack on loopback or on disk and runs the real CLI
 * as a child whose peak resident memory is sampled from /proc: every memory case stays under
 * 300 MB, and nothing partial or unverified is written.
 */
import { createHash } from "node:crypto";
import {
  endlessBody,
  gzipBomb,
  type MeasuredRun,
  runMeasured,
  startHostileRegistry,
} from "./harness/hostile.ts";
import { assert, assertEquals, KEYS, tempDir } from "./helpers.ts";

const ENV = { HOME: "/nonexistent" };
const PEAK_LIMIT_KIB = 300 * 1024;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const enc = new TextEncoder();

/** The run failed with `code`, one message matching `pattern`, and stayed under 300 MB. */
function assertBounded(r: MeasuredRun, code: number, pattern: RegExp): void {
  assert(!r.killed, `the child was killed (peak ${r.peakKiB} KiB): ${r.stderr}`);
  assertEquals(r.code, code, r.stderr);
  assert(pattern.test(r.stderr), `stderr ${JSON.stringify(r.stderr)} should match ${pattern}`);
  assert(r.peakKiB > 0, "the child's memory was sampled");
  if (Deno.env.get("LIMITS_DEBUG")) console.error(`peak ${r.peakKiB} KiB`);
  assert(r.peakKiB < PEAK_LIMIT_KIB, `peak RSS ${r.peakKiB} KiB, over ${PEAK_LIMIT_KIB} KiB`);
  assert(!r.stderr.includes("\x1b"), "no escape byte on stderr");
}

function sha256Sync(bytes: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

function json(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(v));
}

const CONFIG = json({ architecture: "amd64", os: "linux" });
const CONFIG_DESC = { mediaType: OCI_CONFIG, digest: sha256Sync(CONFIG), size: CONFIG.length };

/** An image manifest with these layers. */
function image(layers: unknown[], extra: Record<string, unknown> = {}): Uint8Array {
  return json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: CONFIG_DESC, layers, ...extra });
}

function manifestResponse(req: Request, bytes: Uint8Array, mediaType: string): Response {
  const headers = {
    "content-type": mediaType,
    "docker-content-digest": sha256Sync(bytes),
    "content-length": String(bytes.length),
  };
  return new Response(req.method === "HEAD" ? null : bytes as Uint8Array<ArrayBuffer>, {
    headers,
  });
}

/** The `.sig`/`.sbom` tag of a digest. */
function attachmentTag(digest: string, kind: string): string {
  return `sha256-${digest.slice(7)}.${kind}`;
}

Deno.test("limits: a registry error body is read only to 64 KiB, endless or a gzip bomb", async () => {
  const bomb = await gzipBomb();
  await using reg = startHostileRegistry((_req, url) => {
    if (url.pathname.endsWith("/manifests/endless")) {
      return new Response(endlessBody(), { status: 404 });
    }
    if (url.pathname.endsWith("/manifests/bomb")) {
      return new Response(bomb as Uint8Array<ArrayBuffer>, {
        status: 404,
        headers: { "content-encoding": "gzip" },
      });
    }
  });
  for (const tag of ["endless", "bomb"]) {
    const r = await runMeasured(["cosign", "triangulate", `${reg.host}/evil/img:${tag}`], {
      env: ENV,
    });
    assertBounded(r, 1, /not found/);
    assertEquals(r.out, "");
  }
});

Deno.test("limits: a token server's response is capped at 1 MiB, endless or a gzip bomb", async () => {
  const bomb = await gzipBomb();
  let realm = "";
  await using reg = startHostileRegistry((_req, url) => {
    if (url.pathname === "/token/endless") return new Response(endlessBody());
    if (url.pathname === "/token/bomb") {
      return new Response(bomb as Uint8Array<ArrayBuffer>, {
        headers: { "content-encoding": "gzip", "content-type": "application/json" },
      });
    }
    const which = url.pathname.includes("/bomb/") ? "bomb" : "endless";
    return new Response("{}", {
      status: 401,
      headers: {
        "www-authenticate": `Bearer realm="${realm}/token/${which}",service="evil"`,
      },
    });
  });
  realm = reg.url;
  for (const which of ["endless", "bomb"]) {
    const r = await runMeasured(["cosign", "triangulate", `${reg.host}/evil/${which}:v1`], {
      env: ENV,
    });
    assertBounded(r, 1, /Token server for .* over the 1048576-byte limit/);
    assertEquals(r.out, "");
  }
});

Deno.test("limits: download sbom needs the layer's size, holds it to the cap and to its size", async () => {
  const img = image([]);
  const imgDigest = sha256Sync(img);
  const blob = enc.encode("an SBOM nobody will see");
  const blobDigest = sha256Sync(blob);
  const bomb = await gzipBomb();
  const sboms: Record<string, unknown[]> = {
    nosize: [{ mediaType: "text/spdx+json", digest: blobDigest }],
    huge: [{ mediaType: "text/spdx+json", digest: blobDigest, size: 2 ** 40 }],
    lying: [{ mediaType: "text/spdx+json", digest: blobDigest, size: blob.length }],
    gzip: [{ mediaType: "text/spdx+json", digest: blobDigest, size: blob.length }],
  };
  await using reg = startHostileRegistry((req, url) => {
    const m = /^\/v2\/evil\/(\w+)\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    if (!m) return undefined;
    const [, repo, kind, id] = m;
    if (kind === "manifests" && (id === "v1" || id === imgDigest)) {
      return manifestResponse(req, img, OCI_MANIFEST);
    }
    if (kind === "manifests" && id === attachmentTag(imgDigest, "sbom")) {
      return manifestResponse(req, image(sboms[repo!] ?? []), OCI_MANIFEST);
    }
    if (kind === "blobs" && repo === "gzip") {
      return new Response(bomb as Uint8Array<ArrayBuffer>, {
        headers: { "content-encoding": "gzip" },
      });
    }
    if (kind === "blobs") return new Response(endlessBody());
  });
  const cases: [string, RegExp, number][] = [
    ["nosize", /SBOM layer sha256:\w+ of .* has no size/, 0],
    ["huge", /is 1099511627776 bytes, over the 134217728-byte limit/, 0],
    ["lying", /more bytes than the 23 expected/, 1],
    ["gzip", /Content-Encoding "gzip"; blobs must be served as stored/, 1],
  ];
  for (const [repo, pattern, fetches] of cases) {
    const r = await runMeasured(["cosign", "download", "sbom", `${reg.host}/evil/${repo}:v1`], {
      env: ENV,
    });
    assertBounded(r, 1, pattern);
    assertEquals(r.out, "", `${repo}: nothing reaches stdout`);
    assertEquals(reg.count("GET", new RegExp(`/evil/${repo}/blobs/`)), fetches, repo);
  }
});

Deno.test("limits: sget of a blob by digest: --max-size, a huge Content-Length, Content-Encoding", async () => {
  const bomb = await gzipBomb();
  const digest = sha256Sync(enc.encode("the blob the user wanted"));
  await using reg = startHostileRegistry((req, url) => {
    const m = /^\/v2\/evil\/(\w+)\/blobs\/(.+)$/.exec(url.pathname);
    if (!m) return undefined;
    if (req.method === "HEAD") return new Response(null, { status: 200 });
    if (m[1] === "endless") return new Response(endlessBody());
    if (m[1] === "huge") {
      // Claims 20 GiB, sends at most 64 MiB: refused from the header, before reading.
      return new Response(endlessBody(64 << 20), {
        headers: { "content-length": String(20 * 1024 ** 3) },
      });
    }
    if (m[1] === "gzip") {
      return new Response(bomb as Uint8Array<ArrayBuffer>, {
        headers: { "content-encoding": "gzip" },
      });
    }
  });
  await using dir = await tempDir();
  const out = `${dir.path}/artifact`;
  const cases: [string, string[], RegExp][] = [
    ["endless", ["--max-size", "8MiB"], /is larger, over the 8388608-byte limit/],
    ["huge", [], /is 21474836480 bytes \(Content-Length\), over the 10737418240-byte limit/],
    ["gzip", [], /Content-Encoding "gzip"; blobs must be served as stored/],
  ];
  for (const [repo, flags, pattern] of cases) {
    for (const toFile of [true, false]) {
      const r = await runMeasured(
        ["sget", ...flags, ...(toFile ? ["-o", out] : []), `${reg.host}/evil/${repo}@${digest}`],
        { env: { ...ENV, TMPDIR: dir.path } },
      );
      assertBounded(r, 1, pattern);
      assertEquals(r.stdout.length, 0, `${repo}: nothing on stdout`);
      // No output file, and no spool left behind (the spool goes beside -o, or in TMPDIR).
      assertEquals([...Deno.readDirSync(dir.path)].map((e) => e.name), [], repo);
    }
  }
  const bad = await runMeasured(["sget", "--max-size", "lots", `${reg.host}/evil/x@${digest}`], {
    env: ENV,
  });
  assertBounded(bad, 2, /Invalid --max-size "lots"/);
});

/** Index `i` of a chain whose child is `child`, padded to about `pad` bytes. */
function chainIndex(child: { digest: string; size: number; mediaType: string }, pad: number) {
  return json({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [child],
    annotations: { pad: "x".repeat(pad) },
  });
}

/** A chain of `depth` indexes over one image; returns the digests and a lookup of bytes. */
function indexChain(depth: number, pad: number) {
  const bottom = image([]);
  const chain: { digest: string; size: number }[] = [];
  let child = { digest: sha256Sync(bottom), size: bottom.length, mediaType: OCI_MANIFEST };
  const children: (typeof child)[] = [];
  for (let i = 0; i < depth; i++) {
    const bytes = chainIndex(child, pad);
    children.push(child);
    child = { digest: sha256Sync(bytes), size: bytes.length, mediaType: OCI_INDEX };
    chain.push({ digest: child.digest, size: child.size });
  }
  // Bytes are made again on request, so 800 levels of padding are never all held here.
  const byDigest = new Map(chain.map((c, i) => [c.digest, i]));
  return {
    top: chain[chain.length - 1]!,
    bottom,
    bytesOf(digest: string): Uint8Array | undefined {
      if (digest === sha256Sync(bottom)) return bottom;
      const i = byDigest.get(digest);
      return i === undefined ? undefined : chainIndex(children[i]!, pad);
    },
  };
}

Deno.test("limits: copy/save refuse indexes nested over 8 deep or holding over 1000 manifests", async () => {
  const deep = indexChain(800, 512 << 10);
  const wide = json({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: Array.from({ length: 1001 }, (_, i) => ({
      mediaType: OCI_MANIFEST,
      digest: sha256Sync(enc.encode(`child ${i}`)),
      size: 100,
    })),
  });
  await using reg = startHostileRegistry((req, url) => {
    const m = /^\/v2\/evil\/(\w+)\/manifests\/(.+)$/.exec(url.pathname);
    if (!m) return undefined;
    if (m[1] === "deep") {
      const bytes = m[2] === "v1" ? deep.bytesOf(deep.top.digest) : deep.bytesOf(m[2]!);
      if (bytes) return manifestResponse(req, bytes, OCI_INDEX);
    }
    if (m[1] === "wide" && (m[2] === "v1" || m[2] === sha256Sync(wide))) {
      return manifestResponse(req, wide, OCI_INDEX);
    }
  });
  await using dir = await tempDir();
  const deepSave = await runMeasured(
    ["cosign", "save", "--dir", `${dir.path}/deep`, `${reg.host}/evil/deep:v1`],
    { env: ENV },
  );
  assertBounded(deepSave, 1, /nests indexes more than 8 levels deep/);
  assert(reg.count("GET", /\/evil\/deep\/manifests\//) <= 12, "stopped at the depth bound");
  const deepCopy = await runMeasured(
    ["cosign", "copy", `${reg.host}/evil/deep:v1`, `${reg.host}/evil/copied:v1`],
    { env: ENV },
  );
  assertBounded(deepCopy, 1, /nests indexes more than 8 levels deep/);
  assertEquals(reg.count("PUT", /./), 0, "nothing written");
  const wideSave = await runMeasured(
    ["cosign", "save", "--dir", `${dir.path}/wide`, `${reg.host}/evil/wide:v1`],
    { env: ENV },
  );
  assertBounded(wideSave, 1, /brings the manifests to copy over 1000/);
  assertEquals(reg.count("GET", /\/evil\/wide\/manifests\/sha256:/), 0, "no child fetched");
});

/** Writes a layout whose image entry is `entry` and whose blobs are `blobs`. */
async function writeLayout(
  dir: string,
  entry: { mediaType: string; digest: string; size: number; kind: string },
  blobs: Record<string, Uint8Array>,
  more: Record<string, unknown>[] = [],
): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeFile(
    `${dir}/index.json`,
    json({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{
        mediaType: entry.mediaType,
        digest: entry.digest,
        size: entry.size,
        annotations: { kind: entry.kind },
      }, ...more],
    }),
  );
  for (const [digest, bytes] of Object.entries(blobs)) {
    await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
  }
}

function mkfifo(path: string): void {
  const r = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert(r.success, `mkfifo ${path}`);
}

Deno.test("limits: a hostile OCI layout (links to /dev/zero, FIFOs, deep indexes) is refused", async () => {
  await using dir = await tempDir();
  const img = image([{ mediaType: OCI_CONFIG, digest: CONFIG_DESC.digest, size: CONFIG.length }]);
  const imgDigest = sha256Sync(img);
  const entry = {
    mediaType: OCI_MANIFEST,
    digest: imgDigest,
    size: img.length,
    kind: "dev.cosignproject.cosign/image",
  };
  const verify = (d: string) =>
    runMeasured(
      [
        "cosign",
        "verify",
        "--key",
        `${KEYS}cosign-test.pub`,
        "--insecure-ignore-tlog",
        "--local-image",
        d,
      ],
      { env: ENV },
    );
  // index.json a link to /dev/zero, or a FIFO.
  const zeroIndex = `${dir.path}/zero-index`;
  await writeLayout(zeroIndex, entry, { [imgDigest]: img });
  await Deno.remove(`${zeroIndex}/index.json`);
  await Deno.symlink("/dev/zero", `${zeroIndex}/index.json`);
  assertBounded(await verify(zeroIndex), 1, /index\.json: it is a symbolic link; refusing it/);
  const fifoIndex = `${dir.path}/fifo-index`;
  await writeLayout(fifoIndex, entry, { [imgDigest]: img });
  await Deno.remove(`${fifoIndex}/index.json`);
  mkfifo(`${fifoIndex}/index.json`);
  assertBounded(await verify(fifoIndex), 1, /index\.json: it is not a regular file/);
  // The signature image's blob a link to /dev/zero, or a FIFO.
  const sigImage = image([]);
  const sigEntry = {
    mediaType: OCI_MANIFEST,
    digest: sha256Sync(sigImage),
    size: sigImage.length,
    annotations: {
      kind: "dev.cosignproject.cosign/sigs",
      "org.opencontainers.image.ref.name": attachmentTag(imgDigest, "sig"),
    },
  };
  const zeroBlob = `${dir.path}/zero-blob`;
  await writeLayout(zeroBlob, entry, { [imgDigest]: img }, [sigEntry]);
  await Deno.symlink("/dev/zero", `${zeroBlob}/blobs/sha256/${sigEntry.digest.slice(7)}`);
  assertBounded(await verify(zeroBlob), 1, /it is a symbolic link; refusing it/);
  const fifoBlob = `${dir.path}/fifo-blob`;
  await writeLayout(fifoBlob, entry, { [imgDigest]: img }, [sigEntry]);
  mkfifo(`${fifoBlob}/blobs/sha256/${sigEntry.digest.slice(7)}`);
  assertBounded(await verify(fifoBlob), 1, /it is not a regular file/);

  // load: a layer blob that is a FIFO, and indexes nested 12 deep.
  await using reg = startHostileRegistry(() => undefined);
  const fifoLayer = `${dir.path}/fifo-layer`;
  await writeLayout(fifoLayer, entry, { [imgDigest]: img });
  mkfifo(`${fifoLayer}/blobs/sha256/${CONFIG_DESC.digest.slice(7)}`);
  const load = (d: string) =>
    runMeasured(["cosign", "load", "--dir", d, `${reg.host}/evil/loaded`], { env: ENV });
  assertBounded(await load(fifoLayer), 1, /it is not a regular file/);
  const deepLayout = `${dir.path}/deep`;
  const chain = indexChain(12, 16);
  const blobs: Record<string, Uint8Array> = {};
  for (let d: string | undefined = chain.top.digest; d;) {
    const bytes: Uint8Array = chain.bytesOf(d)!;
    blobs[d] = bytes;
    const parsed = JSON.parse(new TextDecoder().decode(bytes));
    d = parsed.manifests?.[0]?.digest;
  }
  await writeLayout(deepLayout, {
    mediaType: OCI_INDEX,
    digest: chain.top.digest,
    size: chain.top.size,
    kind: "dev.cosignproject.cosign/imageIndex",
  }, blobs);
  assertBounded(await load(deepLayout), 1, /nests indexes more than 8 levels deep/);
  assertEquals(reg.count("PUT", /./), 0, "nothing written to the registry");
});

Deno.test("limits: signature layers are fetched only when verified, once, and within the cap", async () => {
  const img = image([]);
  const imgDigest = sha256Sync(img);
  const blobs = new Map<string, Uint8Array>();
  const blob = (text: string) => {
    const bytes = enc.encode(text.padEnd(1024, "."));
    const d = sha256Sync(bytes);
    blobs.set(d, bytes);
    return { mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: d, size: 1024 };
  };
  const unsigned = blob("no signature annotation");
  const checked = blob("a signature that will not verify");
  const badBase64 = blob("a signature that is not base64");
  const tooBig = { ...blob("declared over the cap"), size: 2 ** 31 };
  const sig = (l: object, s: string) => ({
    ...l,
    annotations: { "dev.cosignproject.cosign/signature": s },
  });
  const sigImage = image([
    unsigned,
    sig(checked, "MEUCIQDbad0="),
    sig(checked, "MEUCIQDbad0="), // an identical copy: checked once
    sig(badBase64, "!!not base64!!"),
    sig(tooBig, "MEUCIQDbad0="),
  ]);
  await using reg = startHostileRegistry((req, url) => {
    const m = /^\/v2\/evil\/app\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    if (!m) return undefined;
    if (m[1] === "manifests" && m[2] === imgDigest) return manifestResponse(req, img, OCI_MANIFEST);
    if (m[1] === "manifests" && m[2] === attachmentTag(imgDigest, "sig")) {
      return manifestResponse(req, sigImage, OCI_MANIFEST);
    }
    const bytes = m[1] === "blobs" ? blobs.get(m[2]!) : undefined;
    if (bytes) return new Response(bytes as Uint8Array<ArrayBuffer>);
  });
  const r = await runMeasured([
    "cosign",
    "verify",
    "--key",
    `${KEYS}cosign-test.pub`,
    "--insecure-ignore-tlog",
    `${reg.host}/evil/app@${imgDigest}`,
  ], { env: ENV });
  assertBounded(r, 12, /no matching signatures/);
  const fetched = (d: { digest: string }) => reg.count("GET", new RegExp(`/blobs/${d.digest}$`));
  assertEquals(fetched(unsigned), 0, "a layer without a signature is never downloaded");
  assertEquals(fetched(badBase64), 0, "a layer whose signature is not base64 is never downloaded");
  assertEquals(fetched(tooBig), 0, "a layer over the cap is never downloaded");
  assertEquals(fetched(checked), 1, "the layer to verify is downloaded once");
  assert(/over the 134217728-byte limit/.test(r.stderr), r.stderr);
});
