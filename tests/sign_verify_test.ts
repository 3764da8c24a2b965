/**
 * `cosign sign` / `cosign verify` with keys against the real registry (cosign-spec §2, §3.1–3.4,
 * §11.4–11.5): round trips by tag and digest, `-a` claims (string versus number),
 * `COSIGN_REPOSITORY`, Docker media types, multi-arch `--recursive`, an independent check of what
 * we write (skopeo, curl, openssl) and of what we read (a `.sig` image built by hand as cosign
 * writes it), the exit codes 10/11/12 and 1, bad layers, dedupe, concurrent signers and
 * counter-signing a `.sig` image.
 */
import {
  getBlob,
  goConfig,
  opensslSign,
  pushBlob,
  putManifest,
  skopeoDigest,
  tagExists,
} from "./harness/raw.ts";
import {
  inspectRaw,
  pushImage,
  type Registry,
  startFaultProxy,
  startRegistry,
} from "./harness/mod.ts";
import { sha256Hex } from "./harness/util.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  type RunResult,
  sh,
  tempDir,
} from "./helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PW = "sign-verify-pw";
const SIG_ANNOTATION = "dev.cosignproject.cosign/signature";
const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";

type Env = Record<string, string>;

interface KeyPair {
  /** cosign's encrypted private key. */
  key: string;
  pub: string;
  /** Unencrypted PEM for openssl (keys made with {@link opensslKey} only). */
  pem?: string;
}

interface ManifestJson {
  schemaVersion: number;
  mediaType: string;
  config: { mediaType: string; size: number; digest: string };
  layers: {
    mediaType: string;
    size: number;
    digest: string;
    annotations?: Record<string, string>;
  }[];
  annotations?: unknown;
}

// ---------------------------------------------------------------------------------------------
// CLI helpers

function baseEnv(home: string, extra: Env = {}): Env {
  return { COSIGN_PASSWORD: PW, HOME: home, ...extra };
}

async function genKey(dir: string, name: string): Promise<KeyPair> {
  const r = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/${name}`], {
    env: baseEnv(dir),
  });
  assertEquals(r.code, 0, r.stderr);
  return { key: `${dir}/${name}.key`, pub: `${dir}/${name}.pub` };
}

/** A P-256 key made by openssl (so openssl can sign with it) and imported into cosign. */
async function opensslKey(dir: string, name: string): Promise<Required<KeyPair>> {
  const pem = `${dir}/${name}.pem`;
  const g = await sh("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    pem,
  ]);
  assertEquals(g.code, 0, g.err);
  const r = await cosign(
    ["import-key-pair", "--key", pem, "--output-key-prefix", `${dir}/${name}`],
    { env: baseEnv(dir) },
  );
  assertEquals(r.code, 0, r.stderr);
  return { pem, key: `${dir}/${name}.key`, pub: `${dir}/${name}.pub` };
}

function sign(key: string, ref: string, env: Env, extra: string[] = []): Promise<RunResult> {
  return cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    key,
    "--tlog-upload=false",
    ...extra,
    ref,
  ], { env });
}

async function signOk(key: string, ref: string, env: Env, extra: string[] = []) {
  const r = await sign(key, ref, env, extra);
  assertEquals(r.code, 0, `sign ${ref}: ${r.stderr}`);
  return r;
}

function verify(pub: string, ref: string, env: Env, extra: string[] = []): Promise<RunResult> {
  return cosign(["verify", "--key", pub, "--insecure-ignore-tlog", ...extra, ref], { env });
}

/** Verifies; checks exit 0 and returns the parsed JSON array printed on stdout. */
async function verifyOk(
  pub: string,
  ref: string,
  env: Env,
  extra: string[] = [],
): Promise<{ r: RunResult; payloads: Record<string, unknown>[] }> {
  const r = await verify(pub, ref, env, extra);
  assertEquals(r.code, 0, `verify ${ref} with ${pub}: ${r.stderr}`);
  assert(r.out.startsWith("\n["), `stdout starts with a newline and a JSON array: ${r.out}`);
  return { r, payloads: JSON.parse(r.out) };
}

function hasLine(text: string, line: string): boolean {
  return text.split("\n").includes(line);
}

function errorLine(r: RunResult): string {
  return r.stderr.split("\n").find((l) => l.startsWith("Error:")) ?? "";
}

/** `critical.image.docker-manifest-digest` of a printed payload. */
function digestOf(p: Record<string, unknown>): unknown {
  const c = p.critical as { image?: Record<string, unknown> } | undefined;
  return c?.image?.["docker-manifest-digest"];
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---------------------------------------------------------------------------------------------
// Independent registry / crypto helpers (skopeo, curl, openssl; no product code)

/** The simple-signing payload exactly as cosign (Go `json.Marshal`) writes it. */
function goPayload(repo: string, digest: string, optional = "null"): Uint8Array<ArrayBuffer> {
  return enc.encode(
    `{"critical":{"identity":{"docker-reference":"${repo}"},"image":{"docker-manifest-digest":` +
      `"${digest}"},"type":"cosign container image signature"},"optional":${optional}}`,
  );
}

async function sigManifest(reg: Registry, repo: string, digest: string): Promise<ManifestJson> {
  return JSON.parse(dec.decode(await inspectRaw(reg, `${repo}:${sigTag(digest)}`)));
}

function sigTag(digest: string): string {
  return `${digest.replace(":", "-")}.sig`;
}

async function opensslVerify(
  dir: string,
  pub: string,
  data: Uint8Array,
  sig: Uint8Array,
): Promise<boolean> {
  await Deno.writeFile(`${dir}/ov.data`, data);
  await Deno.writeFile(`${dir}/ov.sig`, sig);
  const r = await sh("openssl", [
    "dgst",
    "-sha256",
    "-verify",
    pub,
    "-signature",
    `${dir}/ov.sig`,
    `${dir}/ov.data`,
  ]);
  return r.code === 0 && dec.decode(r.out).trim() === "Verified OK";
}

interface HandLayer {
  payload: Uint8Array;
  /** The value of the signature annotation. */
  signature: string;
  /** More layer annotations. */
  annotations?: Record<string, string>;
}

/** Pushes a signature image built to the spec with curl; returns the manifest bytes. */
async function pushSigImage(
  reg: Registry,
  repo: string,
  tag: string,
  layers: HandLayer[],
): Promise<Uint8Array> {
  const descs = [];
  for (const l of layers) descs.push(await pushBlob(reg, repo, l.payload));
  const config = await pushBlob(reg, repo, enc.encode(goConfig(descs.map((d) => d.digest))));
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.size, digest: config.digest },
    layers: descs.map((d, i) => ({
      mediaType: SIMPLE_SIGNING,
      size: d.size,
      digest: d.digest,
      annotations: { [SIG_ANNOTATION]: layers[i]!.signature, ...layers[i]!.annotations },
    })),
  }));
  await putManifest(reg, repo, tag, manifest, OCI_MANIFEST);
  return manifest;
}

/** `payload` signed by openssl with `key`, as a hand-built layer. */
async function opensslLayer(key: Required<KeyPair>, payload: Uint8Array): Promise<HandLayer> {
  return { payload, signature: (await opensslSign(key.pem, payload)).toBase64() };
}

// ---------------------------------------------------------------------------------------------
// 1. Round trips

Deno.test("sign/verify: by tag and by digest, with the tag warning, the repository and the check lines", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const img = await pushImage(reg, "test/single:v1");
  const [k1, k2] = await Promise.all([genKey(tmp.path, "k1"), genKey(tmp.path, "k2")]);
  const repo = `${reg.host}/test/single`;
  const byDigest = `${repo}@${img.digest}`;

  const s1 = await signOk(k1.key, img.ref, env);
  assert(
    s1.stderr.includes(
      `WARNING: Image reference ${img.ref} uses a tag, not a digest, to identify the image to sign.`,
    ),
    `tag warning: ${s1.stderr}`,
  );
  assert(hasLine(s1.stderr, `Pushing signature to: ${repo}`), s1.stderr);
  assertEquals(s1.out, "", "nothing on stdout");

  const s2 = await signOk(k2.key, byDigest, env);
  assert(!s2.stderr.includes("WARNING: Image reference"), `no tag warning: ${s2.stderr}`);
  assert(hasLine(s2.stderr, `Pushing signature to: ${repo}`), s2.stderr);
  assertEquals((await sigManifest(reg, "test/single", img.digest)).layers.length, 2);

  const expected = dec.decode(goPayload(repo, img.digest));
  for (
    const [key, ref] of [[k1, img.ref], [k1, byDigest], [k2, img.ref], [k2, byDigest]] as const
  ) {
    const { r, payloads } = await verifyOk(key.pub, ref, env);
    assertEquals(r.out, `\n[${expected}]\n`, `exactly one payload, Go formatting (${ref})`);
    assertEquals(digestOf(payloads[0]!), img.digest);
    for (
      const line of [
        `Verification for ${ref} --`,
        "The following checks were performed on each of these signatures:",
        "  - The cosign claims were validated",
        "  - The signatures were verified against the specified public key",
      ]
    ) assert(hasLine(r.stderr, line), `stderr has "${line}": ${r.stderr}`);
    assert(!r.stderr.includes("The specified annotations were verified."), r.stderr);
    assert(r.stderr.includes("\n\nVerification for"), "the header starts with an empty line");
  }

  // -o text prints the raw payload (one line a signature) on stdout.
  const t = await verify(k2.pub, byDigest, env, ["--output", "text"]);
  assertEquals(t.code, 0, t.stderr);
  assertEquals(t.out, expected + "\n");
});

// ---------------------------------------------------------------------------------------------
// 2. Annotations

Deno.test("sign/verify: -a annotations are checked as strings; a JSON number never matches", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const img = await pushImage(reg, "test/ann:v1");
  const [k, o] = await Promise.all([genKey(tmp.path, "k"), opensslKey(tmp.path, "o")]);
  await signOk(k.key, img.ref, env, ["-a", "foo=bar", "-a", "n=1"]);

  const m = await verifyOk(k.pub, img.ref, env, ["-a", "foo=bar"]);
  assert(hasLine(m.r.stderr, "  - The specified annotations were verified."), m.r.stderr);
  assertEquals(m.payloads[0]!.optional, { foo: "bar", n: "1" });
  await verifyOk(k.pub, img.ref, env, ["-a", "n=1", "-a", "foo=bar"]);
  assertFails(await verify(k.pub, img.ref, env, ["-a", "nope=x"]), 12, /nope/);
  assertFails(await verify(k.pub, img.ref, env, ["-a", "foo=baz"]), 12, /foo/);

  // A payload whose optional holds the JSON number 1, signed with openssl, attached by hand.
  const num = await pushImage(reg, "test/num:v1");
  const payload = goPayload(`${reg.host}/test/num`, num.digest, '{"n":1}');
  await pushSigImage(reg, "test/num", sigTag(num.digest), [await opensslLayer(o, payload)]);
  const plain = await verifyOk(o.pub, num.ref, env);
  assertEquals(plain.payloads[0]!.optional, { n: 1 });
  assertFails(await verify(o.pub, num.ref, env, ["-a", "n=1"]), 12, /\bn\b/);
});

// ---------------------------------------------------------------------------------------------
// 3. Where and how signatures are stored

Deno.test("sign/verify: COSIGN_REPOSITORY puts the .sig tag in the other repository", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const img = await pushImage(reg, "test/single:v1");
  const k = await genKey(tmp.path, "k");
  const env = baseEnv(tmp.path, { COSIGN_REPOSITORY: `${reg.host}/other/sigs` });
  const s = await signOk(k.key, img.ref, env);
  assert(hasLine(s.stderr, `Pushing signature to: ${reg.host}/other/sigs`), s.stderr);
  assert(await tagExists(reg, `other/sigs:${sigTag(img.digest)}`), "sig tag in other/sigs");
  assert(!(await tagExists(reg, `test/single:${sigTag(img.digest)}`)), "no sig tag next to image");
  const { payloads } = await verifyOk(k.pub, img.ref, env);
  assertEquals(digestOf(payloads[0]!), img.digest);
  assertEquals(
    (payloads[0]!.critical as { identity: unknown }).identity,
    { "docker-reference": `${reg.host}/test/single` },
    "the payload still names the image's repository",
  );
  // Without COSIGN_REPOSITORY the signatures are not where verify looks.
  assertFails(await verify(k.pub, img.ref, baseEnv(tmp.path)), 10);
});

Deno.test("sign/verify: OCI media types by default, Docker ones with COSIGN_DOCKER_MEDIA_TYPES=1", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const k = await genKey(tmp.path, "k");
  const [oci, docker] = await Promise.all([
    pushImage(reg, "test/oci:v1"),
    pushImage(reg, "test/docker:v1"),
  ]);
  await signOk(k.key, oci.ref, baseEnv(tmp.path));
  await signOk(k.key, docker.ref, baseEnv(tmp.path, { COSIGN_DOCKER_MEDIA_TYPES: "1" }));
  const mo = await sigManifest(reg, "test/oci", oci.digest);
  assertEquals([mo.mediaType, mo.config.mediaType], [OCI_MANIFEST, OCI_CONFIG]);
  const md = await sigManifest(reg, "test/docker", docker.digest);
  assertEquals([md.mediaType, md.config.mediaType], [DOCKER_MANIFEST, DOCKER_CONFIG]);
  assertEquals(md.layers.map((l) => l.mediaType), [SIMPLE_SIGNING]);
  await verifyOk(k.pub, oci.ref, baseEnv(tmp.path));
  await verifyOk(k.pub, docker.ref, baseEnv(tmp.path));
});

Deno.test("sign/verify: multi-arch index, with and without --recursive", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const k = await genKey(tmp.path, "k");
  const arches = ["amd64", "arm64"];
  const [multi, multi2] = await Promise.all([
    pushImage(reg, "test/multi:v1", { arches }),
    pushImage(reg, "test/multi2:v1", { arches }),
  ]);
  assertEquals(multi.mediaType, OCI_INDEX);
  assertEquals(multi.images.length, 2);

  await signOk(k.key, multi.ref, env, ["--recursive"]);
  const idx = await verifyOk(k.pub, multi.ref, env);
  assertEquals(digestOf(idx.payloads[0]!), multi.digest, "the index digest is signed");
  for (const child of multi.images) {
    const ref = `${reg.host}/test/multi@${child.digest}`;
    const { payloads } = await verifyOk(k.pub, ref, env);
    assertEquals(payloads.map(digestOf), [child.digest], `child ${child.arch}`);
  }

  await signOk(k.key, multi2.ref, env);
  const idx2 = await verifyOk(k.pub, multi2.ref, env);
  assertEquals(digestOf(idx2.payloads[0]!), multi2.digest);
  for (const child of multi2.images) {
    const r = await verify(k.pub, `${reg.host}/test/multi2@${child.digest}`, env);
    assertFails(r, 10, /no signatures/i);
  }
});

// ---------------------------------------------------------------------------------------------
// 4. Independent checks of what we write and what we read

Deno.test("sign/verify: the .sig image checks out with skopeo, curl and openssl; a hand-built one verifies", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const img = await pushImage(reg, "test/single:v1");
  const [k, o] = await Promise.all([genKey(tmp.path, "k"), opensslKey(tmp.path, "o")]);
  await signOk(k.key, img.ref, env);

  const digest = await skopeoDigest(reg, "test/single:v1");
  assertEquals(digest, img.digest);
  const raw = await inspectRaw(reg, `test/single:${sigTag(digest)}`);
  const m: ManifestJson = JSON.parse(dec.decode(raw));
  assertEquals(Object.keys(m), ["schemaVersion", "mediaType", "config", "layers"], "ggcr order");
  assertEquals([m.schemaVersion, m.mediaType, m.config.mediaType], [2, OCI_MANIFEST, OCI_CONFIG]);
  assertEquals(m.layers.length, 1);
  const layer = m.layers[0]!;
  assertEquals(layer.mediaType, SIMPLE_SIGNING);
  assertEquals(Object.keys(layer.annotations ?? {}), [SIG_ANNOTATION]);
  const payload = await getBlob(reg, "test/single", layer.digest);
  assertEquals(layer.size, payload.length);
  const p = JSON.parse(dec.decode(payload));
  assertEquals(p.critical.image["docker-manifest-digest"], digest);
  assertEquals(p.critical.identity["docker-reference"], `${reg.host}/test/single`);
  assertEquals(p.critical.type, "cosign container image signature");
  assertEquals(p.optional, null);
  assertEquals(dec.decode(payload), dec.decode(goPayload(`${reg.host}/test/single`, digest)));
  const sig = Uint8Array.fromBase64(layer.annotations![SIG_ANNOTATION]!);
  assert(await opensslVerify(tmp.path, k.pub, payload, sig), "openssl verifies the signature");
  assert(
    !(await opensslVerify(tmp.path, o.pub, payload, sig)),
    "openssl rejects it with another key",
  );
  const config = await getBlob(reg, "test/single", m.config.digest);
  assertEquals(m.config.size, config.length);
  assertEquals(dec.decode(config), goConfig([layer.digest]), "config blob as ggcr writes it");

  // A .sig image built by hand as cosign writes it verifies with ours.
  const hand = await pushImage(reg, "test/hand:v1");
  const handPayload = goPayload(`${reg.host}/test/hand`, hand.digest);
  await pushSigImage(reg, "test/hand", sigTag(hand.digest), [await opensslLayer(o, handPayload)]);
  const v = await verifyOk(o.pub, hand.ref, env);
  assertEquals(v.r.out, `\n[${dec.decode(handPayload)}]\n`);
  assertFails(await verify(k.pub, hand.ref, env), 12);

  // Go's decoder matches JSON object keys case-insensitively (the spec's own example writes
  // "Docker-manifest-digest").
  const ci = await pushImage(reg, "test/case:v1");
  const ciPayload = enc.encode(
    `{"Critical":{"Identity":{"docker-reference":"${reg.host}/test/case"},"Image":` +
      `{"Docker-manifest-digest":"${ci.digest}"},"Type":"cosign container image signature"},` +
      `"Optional":null}`,
  );
  await pushSigImage(reg, "test/case", sigTag(ci.digest), [await opensslLayer(o, ciPayload)]);
  const civ = await verifyOk(o.pub, ci.ref, env);
  assertEquals(civ.payloads.map(digestOf), [ci.digest]);
});

// ---------------------------------------------------------------------------------------------
// 5. Failures

Deno.test("sign/verify: failures exit 12/10/11 with a reason; an unreachable registry is 1, never 10", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, k2] = await Promise.all([genKey(tmp.path, "k"), genKey(tmp.path, "k2")]);
  const [a, b, tamper] = await Promise.all([
    pushImage(reg, "test/pair:a"),
    pushImage(reg, "test/pair:b", { arches: ["arm64"] }),
    pushImage(reg, "test/tamper:v1"),
    pushImage(reg, "test/unsigned:v1"),
  ]);
  assert(a.digest !== b.digest, "two different images");
  await signOk(k.key, a.ref, env);
  await signOk(k.key, tamper.ref, env);

  // Wrong key.
  assertFails(await verify(k2.pub, a.ref, env), 12, /signature/i);

  // Tampered payload: the manifest points at a modified payload, the signature is the old one.
  const tm = await sigManifest(reg, "test/tamper", tamper.digest);
  const orig = await getBlob(reg, "test/tamper", tm.layers[0]!.digest);
  const forged = enc.encode(dec.decode(orig).replace('"optional":null', '"optional":{"x":"y"}'));
  assert(forged.length !== orig.length, "payload modified");
  const fd = await pushBlob(reg, "test/tamper", forged);
  tm.layers[0] = { ...tm.layers[0]!, digest: fd.digest, size: fd.size };
  await putManifest(
    reg,
    "test/tamper",
    sigTag(tamper.digest),
    enc.encode(JSON.stringify(tm)),
    tm.mediaType,
  );
  assertFails(await verify(k.pub, tamper.ref, env), 12, /signature/i);

  // A's signature copied to B's .sig tag: the payload names A's digest, not B's.
  const aSig = await inspectRaw(reg, `test/pair:${sigTag(a.digest)}`);
  await putManifest(reg, "test/pair", sigTag(b.digest), aSig, OCI_MANIFEST);
  const other = await verify(k.pub, b.ref, env);
  assertFails(other, 12);
  const why = errorLine(other);
  assert(why.includes(a.digest) && why.includes(b.digest), `reason names both digests: ${why}`);

  // Unsigned image, missing tag, missing repository.
  assertFails(await verify(k.pub, `${reg.host}/test/unsigned:v1`, env), 10, /no signatures/i);
  assertFails(await verify(k.pub, `${reg.host}/test/pair:nope`, env), 11, /not found/i);
  assertFails(await verify(k.pub, `${reg.host}/test/none:v1`, env), 11, /not found/i);

  // Could not look is not "unsigned", and could not read is not "no match": a registry that
  // keeps failing on the signature tag or on the layer, or refuses access to it.
  {
    await using proxy = await startFaultProxy(reg);
    const via = `${proxy.host}/test/pair:a`;
    await verifyOk(k.pub, via, env); // through the proxy it verifies
    const sigPath = /\/manifests\/sha256-[0-9a-f]{64}\.sig$/;
    proxy.inject({ path: sigPath, times: 5, fault: { status: 503, body: "down" } });
    const r503 = await verify(k.pub, via, env);
    assertFails(r503, 1, /503/);
    assert(proxy.count("GET", sigPath) + proxy.count("HEAD", sigPath) >= 5, "retried");
    proxy.reset();
    proxy.inject({
      path: sigPath,
      times: 1,
      fault: {
        status: 403,
        headers: { "content-type": "application/json" },
        body:
          '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
      },
    });
    assertFails(await verify(k.pub, via, env), 1, /denied|403/i);
    proxy.reset();
    proxy.inject({ path: /\/blobs\/sha256:/, times: 5, fault: { status: 503, body: "down" } });
    assertFails(await verify(k.pub, via, env), 1, /503/);
  }

  // Could not connect at all: the registry stopped (by tag, and by digest so that the signature
  // tag lookup itself fails), and a port nobody listens on.
  await reg.stop();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  const [byTag, byDigest, signDown, closedPort] = await Promise.all([
    verify(k.pub, a.ref, env),
    verify(k.pub, `${reg.host}/test/pair@${a.digest}`, env),
    sign(k.key, a.ref, env),
    verify(k.pub, `${closed}/test/pair@${a.digest}`, env),
  ]);
  const hostRe = new RegExp(escapeRe(reg.host));
  assertFails(byTag, 1, hostRe);
  assertFails(byDigest, 1, hostRe);
  assertFails(signDown, 1, hostRe);
  assertFails(closedPort, 1, new RegExp(escapeRe(closed)));
});

Deno.test("sign: a missing image is a one-line error with exit 1 (only verify uses 10/11/12)", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const k = await genKey(tmp.path, "k");
  await pushImage(reg, "test/single:v1");
  const [tag, digest] = await Promise.all([
    sign(k.key, `${reg.host}/test/single:nope`, env),
    sign(k.key, `${reg.host}/test/single@sha256:${"0".repeat(64)}`, env),
  ]);
  assertFails(tag, 1, /test\/single:nope.*not found/);
  assertFails(digest, 1, /not found/);
  assert(!(await tagExists(reg, `test/single:${sigTag(`sha256:${"0".repeat(64)}`)}`)), "no .sig");
});

// ---------------------------------------------------------------------------------------------
// 6. Bad layers

Deno.test("sign/verify: bad layers are reported and never accepted; one good layer is enough", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, o] = await Promise.all([genKey(tmp.path, "k"), opensslKey(tmp.path, "o")]);
  const [b64, notjson, big, index, mixed] = await Promise.all([
    pushImage(reg, "test/b64:v1"),
    pushImage(reg, "test/notjson:v1"),
    pushImage(reg, "test/big:v1"),
    pushImage(reg, "test/index:v1"),
    pushImage(reg, "test/mixed:v1"),
  ]);

  // Bad base64 in the signature annotation.
  await pushSigImage(reg, "test/b64", sigTag(b64.digest), [
    { payload: goPayload(`${reg.host}/test/b64`, b64.digest), signature: "%%% not base64 %%%" },
  ]);
  assertFails(await verify(o.pub, b64.ref, env), 12, /base64/i);

  // A correctly signed payload that is not JSON: only the claims check can reject it.
  const junk = enc.encode("this is not JSON {");
  await pushSigImage(reg, "test/notjson", sigTag(notjson.digest), [await opensslLayer(o, junk)]);
  assertFails(await verify(o.pub, notjson.ref, env), 12, /JSON/);
  const nc = await verify(o.pub, notjson.ref, env, ["--check-claims=false"]);
  assertEquals(nc.code, 0, `--check-claims=false still verifies the signature: ${nc.stderr}`);

  // A layer over COSIGN_MAX_ATTACHMENT_SIZE.
  await signOk(k.key, big.ref, env);
  const small = baseEnv(tmp.path, { COSIGN_MAX_ATTACHMENT_SIZE: "100" });
  assertFails(await verify(k.pub, big.ref, small), 12, /limit/i);
  await verifyOk(k.pub, big.ref, env);

  // The .sig tag points at an index.
  const idx = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest: index.digest, size: index.manifest.length }],
  }));
  await putManifest(reg, "test/index", sigTag(index.digest), idx, OCI_INDEX);
  assertFails(await verify(k.pub, index.ref, env), 12, /index/i);

  // One good layer and one bad one: verifies, and says that another signature did not.
  const good = await opensslLayer(o, goPayload(`${reg.host}/test/mixed`, mixed.digest));
  const badSig = (await opensslSign(o.pem, enc.encode("something else"))).toBase64();
  await pushSigImage(reg, "test/mixed", sigTag(mixed.digest), [
    {
      payload: goPayload(`${reg.host}/test/mixed`, mixed.digest, '{"bad":"yes"}'),
      signature: badSig,
    },
    good,
  ]);
  const mv = await verifyOk(o.pub, mixed.ref, env);
  assertEquals(mv.payloads.length, 1);
  assertEquals(mv.payloads[0]!.optional, null, "only the good layer is printed");
  assert(
    /other signature.*did not verify/i.test(mv.r.stderr),
    `mentions the other: ${mv.r.stderr}`,
  );
});

// ---------------------------------------------------------------------------------------------
// 7. Dedupe

Deno.test("sign/verify: signing twice with one key adds one layer; another key adds a second", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const img = await pushImage(reg, "test/dup:v1");
  const [k1, k2] = await Promise.all([genKey(tmp.path, "k1"), genKey(tmp.path, "k2")]);
  await signOk(k1.key, img.ref, env);
  const first = await inspectRaw(reg, `test/dup:${sigTag(img.digest)}`);
  await signOk(k1.key, `${reg.host}/test/dup@${img.digest}`, env);
  const second = await inspectRaw(reg, `test/dup:${sigTag(img.digest)}`);
  assertEquals(JSON.parse(dec.decode(second)).layers.length, 1, "TestDuplicateSign: one layer");
  assertEquals(dec.decode(second), dec.decode(first), "the .sig image is unchanged");
  await signOk(k2.key, img.ref, env);
  const m = await sigManifest(reg, "test/dup", img.digest);
  assertEquals(m.layers.length, 2);
  assertEquals(m.layers[0]!.digest, m.layers[1]!.digest, "same payload, two signatures");
  for (const k of [k1, k2]) {
    const { payloads } = await verifyOk(k.pub, img.ref, env);
    assertEquals(payloads.length, 1);
  }

  // The dedupe rule is "the existing signature verifies over the same payload", not "same
  // signature bytes": a layer signed by openssl (randomised ECDSA) with the same key counts.
  const o = await opensslKey(tmp.path, "o");
  const other = await pushImage(reg, "test/dup2:v1");
  const payload = goPayload(`${reg.host}/test/dup2`, other.digest);
  const hand = await pushSigImage(reg, "test/dup2", sigTag(other.digest), [
    await opensslLayer(o, payload),
  ]);
  await signOk(o.key, other.ref, env);
  const after = await inspectRaw(reg, `test/dup2:${sigTag(other.digest)}`);
  assertEquals(dec.decode(after), dec.decode(hand), "no layer added, nothing rewritten");
});

Deno.test("sign: an existing signature with more annotations (a Rekor bundle) is still a duplicate", async () => {
  // cosign's DupeDetector: every annotation of the NEW signature (other than the signature) must
  // be on the existing layer; extra annotations on the existing layer do not matter.
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const o = await opensslKey(tmp.path, "o");
  const img = await pushImage(reg, "test/bundled:v1");
  const layer = await opensslLayer(o, goPayload(`${reg.host}/test/bundled`, img.digest));
  layer.annotations = {
    "dev.sigstore.cosign/bundle":
      '{"SignedEntryTimestamp":"AAAA","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}',
  };
  const hand = await pushSigImage(reg, "test/bundled", sigTag(img.digest), [layer]);
  await signOk(o.key, img.ref, env);
  const after = await inspectRaw(reg, `test/bundled:${sigTag(img.digest)}`);
  assertEquals(
    JSON.parse(dec.decode(after)).layers.length,
    1,
    "signing again with the same key adds no layer",
  );
  assertEquals(dec.decode(after), dec.decode(hand));
});

// ---------------------------------------------------------------------------------------------
// 8. Concurrent signers

Deno.test("sign/verify: 12 concurrent signers with 12 keys on one image (token auth) lose no layer", async () => {
  await using reg = await startRegistry({ mode: "token" });
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const creds = ["--registry-username", reg.username!, "--registry-password", reg.password!];
  const img = await pushImage(reg, "test/many:v1");
  const n = 12;
  const keys = await Promise.all(Array.from({ length: n }, (_, i) => genKey(tmp.path, `k${i}`)));
  const t0 = Date.now();
  const signs = await Promise.all(keys.map((k) => sign(k.key, img.ref, env, creds)));
  for (const s of signs) assertEquals(s.code, 0, s.stderr);
  const took = Date.now() - t0;
  const m = await sigManifest(reg, "test/many", img.digest);
  assertEquals(m.layers.length, n, `all ${n} signatures kept (signing took ${took} ms)`);
  const sigs = new Set(m.layers.map((l) => l.annotations?.[SIG_ANNOTATION]));
  assertEquals(sigs.size, n, "12 distinct signatures");
  for (let i = 0; i < n; i += 4) {
    const batch = await Promise.all(
      keys.slice(i, i + 4).map((k) => verify(k.pub, img.ref, env, creds)),
    );
    for (const v of batch) {
      assertEquals(v.code, 0, v.stderr);
      assertEquals(JSON.parse(v.out).length, 1);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 9. Counter-signing

Deno.test("sign/verify: the .sig image itself can be signed and verified", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const img = await pushImage(reg, "test/single:v1");
  const [k1, k2] = await Promise.all([genKey(tmp.path, "k1"), genKey(tmp.path, "k2")]);
  await signOk(k1.key, img.ref, env);
  const sigRef = `${reg.host}/test/single:${sigTag(img.digest)}`;
  const before = await inspectRaw(reg, `test/single:${sigTag(img.digest)}`);
  const sigDigest = `sha256:${await sha256Hex(before)}`;

  await signOk(k2.key, sigRef, env);
  const after = await inspectRaw(reg, `test/single:${sigTag(img.digest)}`);
  assertEquals(dec.decode(after), dec.decode(before), "counter-signing leaves the .sig alone");
  assert(await tagExists(reg, `test/single:${sigTag(sigDigest)}`), "the .sig's own .sig tag");

  const { payloads } = await verifyOk(k2.pub, sigRef, env);
  assertEquals(payloads.map(digestOf), [sigDigest]);
  assertFails(await verify(k1.pub, sigRef, env), 12);
  const orig = await verifyOk(k1.pub, img.ref, env);
  assertEquals(orig.payloads.map(digestOf), [img.digest]);
  assertFails(await verify(k2.pub, img.ref, env), 12);
});
