/**
 * Hostile and malformed cosign v3 referrers (issue 11 "Bad input"; cosign-spec §3.7, §13):
 * referrer manifests, bundles and fallback indexes built by hand with curl and openssl (nothing
 * here imports `lib/`), then `cosign verify`. Each bad referrer must be skipped and its reason
 * listed on stderr, never accepted and never a crash (exit 3); a good signature beside it still
 * verifies; only bad ones is exit 12.
 *
 * Forgeries attack the verifier: a bundle signed for image A re-pushed as a referrer of B; a
 * manifest annotation that lies about the predicate type; `-a` pairs only in the manifest.
 */
import { pushBlob, putManifest } from "./harness/raw.ts";
import {
  type FaultProxy,
  type PushedImage,
  pushImage,
  type Registry,
  startFaultProxy,
  startRegistry,
} from "./harness/mod.ts";
import { b64, execOk, pemToDer, sha256Hex } from "./harness/util.ts";
import { assert, assertEquals, cosign, type RunResult, tempDir } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const enc = new TextEncoder();
const PW = "referrers-bad-pw";
const BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";
const BUNDLE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
const INTOTO = "application/vnd.in-toto+json";
const SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";
const ANN_CONTENT = "dev.sigstore.bundle.content";
const ANN_PREDICATE = "dev.sigstore.bundle.predicateType";

const hexOf = (d: string) => d.replace(/^sha256:/, "");
const indexTag = (d: string) => d.replace(":", "-");
const at = (host: string, img: PushedImage) => `${host}/${img.repo}@${img.digest}`;

// ---------------------------------------------------------------------------------------------
// Keys (openssl), and the same key imported for cosign (for the legacy .sig)

interface Keys {
  dir: string;
  /** openssl private key PEM (signs the hand-built envelopes). */
  pem: string;
  /** Public key PEM (what `verify --key` gets). */
  pub: string;
  /** The same key as a cosign key file. */
  cosignKey: string;
  hint: string;
  /** An unrelated public key. */
  otherPub: string;
}

async function makeKeys(dir: string): Promise<Keys> {
  const gen = async (name: string) => {
    await execOk("openssl", [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      `${dir}/${name}.pem`,
    ]);
    await execOk("openssl", [
      "pkey",
      "-in",
      `${dir}/${name}.pem`,
      "-pubout",
      "-out",
      `${dir}/${name}.pub`,
    ]);
  };
  await gen("k");
  await gen("other");
  const r = await cosign(
    ["import-key-pair", "--key", `${dir}/k.pem`, "--output-key-prefix", `${dir}/imp`],
    { env: env(dir) },
  );
  assertEquals(r.code, 0, r.stderr);
  const der = pemToDer(await Deno.readTextFile(`${dir}/k.pub`));
  const hint = b64(new Uint8Array(await crypto.subtle.digest("SHA-256", der)));
  return {
    dir,
    pem: `${dir}/k.pem`,
    pub: `${dir}/k.pub`,
    cosignKey: `${dir}/imp.key`,
    hint,
    otherPub: `${dir}/other.pub`,
  };
}

function env(dir: string): Record<string, string> {
  return { COSIGN_PASSWORD: PW, HOME: dir };
}

function verify(k: Keys, ref: string, extra: string[] = []): Promise<RunResult> {
  return cosign(["verify", "--key", k.pub, "--insecure-ignore-tlog", ...extra, ref], {
    env: env(k.dir),
  });
}

/** Not a crash, no stack trace, one Error line when it failed. */
function sane(r: RunResult, what: string): void {
  assert(r.code !== 3, `${what}: a crash (exit 3): ${r.stderr}`);
  assert(!/\n\s+at /.test(r.stderr), `${what}: stack trace: ${r.stderr}`);
  if (r.code !== 0) {
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("Error:"));
    assertEquals(errors.length, 1, `${what}: one Error line: ${r.stderr}`);
  }
}

async function verifyOk(k: Keys, ref: string, what: string, extra: string[] = []) {
  const r = await verify(k, ref, extra);
  sane(r, what);
  assertEquals(r.code, 0, `${what}: verify ${ref}: ${r.stderr}`);
  return { r, arr: JSON.parse(r.out) as Any[] };
}

async function verifyFails(k: Keys, ref: string, what: string, extra: string[] = []) {
  const r = await verify(k, ref, extra);
  sane(r, what);
  assertEquals(r.code, 12, `${what}: exit 12 expected: ${r.stderr}`);
  assertEquals(r.out, "", `${what}: nothing on stdout`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Hand-built statements, bundles, referrers, indexes

function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const head = enc.encode(
    `DSSEv1 ${enc.encode(payloadType).length} ${payloadType} ${payload.length} `,
  );
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

function statement(
  digest: string,
  opts: { predicateType?: string; annotations?: Record<string, string> } = {},
): Uint8Array {
  return enc.encode(JSON.stringify({
    _type: "https://in-toto.io/Statement/v1",
    subject: [{
      digest: { sha256: hexOf(digest) },
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    }],
    predicateType: opts.predicateType ?? SIGN_PREDICATE,
    predicate: {},
  }));
}

/** A keyed bundle (DSSE over `st`, signed with openssl). */
async function bundle(k: Keys, st: Uint8Array, mediaType = BUNDLE_V03): Promise<Uint8Array> {
  const sig = (await execOk("openssl", ["dgst", "-sha256", "-sign", k.pem], {
    stdin: pae(INTOTO, st),
  })).out;
  return enc.encode(JSON.stringify({
    mediaType,
    verificationMaterial: { publicKey: { hint: k.hint }, tlogEntries: [] },
    dsseEnvelope: {
      payload: b64(st),
      payloadType: INTOTO,
      signatures: [{ sig: b64(sig), keyid: "" }],
    },
  }));
}

interface Entry {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Pushes a referrer manifest (by digest) with these layers; returns its index entry. */
async function referrer(
  reg: Registry,
  repo: string,
  subject: PushedImage,
  layers: { mediaType: string; bytes: Uint8Array }[],
  annotations: Record<string, string> = {
    [ANN_CONTENT]: "dsse-envelope",
    [ANN_PREDICATE]: SIGN_PREDICATE,
  },
): Promise<Entry> {
  const config = await pushBlob(reg, repo, enc.encode("{}"));
  const descs = [];
  for (const l of layers) {
    descs.push({ mediaType: l.mediaType, ...await pushBlob(reg, repo, l.bytes) });
  }
  const bytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE_V03,
    config: { mediaType: OCI_EMPTY, ...config },
    layers: descs,
    subject: {
      mediaType: subject.mediaType,
      digest: subject.digest,
      size: subject.manifest.length,
    },
    annotations,
  }));
  const digest = `sha256:${await sha256Hex(bytes)}`;
  await putManifest(reg, repo, digest, bytes, OCI_MANIFEST);
  return {
    mediaType: OCI_MANIFEST,
    digest,
    size: bytes.length,
    artifactType: BUNDLE_V03,
    annotations,
  };
}

async function writeIndex(reg: Registry, img: PushedImage, entries: Entry[]): Promise<void> {
  const bytes = enc.encode(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }),
  );
  await putManifest(reg, img.repo, indexTag(img.digest), bytes, OCI_INDEX);
}

/** A good signature of `img` by `k`, as a referrer. */
async function goodReferrer(reg: Registry, k: Keys, img: PushedImage): Promise<Entry> {
  return referrer(reg, img.repo, img, [{
    mediaType: BUNDLE_V03,
    bytes: await bundle(k, statement(img.digest)),
  }]);
}

const uniqueImage = (reg: Registry, repoTag: string) =>
  pushImage(reg, repoTag, { layerBytes: crypto.getRandomValues(new Uint8Array(64)) });

// ---------------------------------------------------------------------------------------------
// 3. Bad referrers: skipped with their reason

interface BadCase {
  name: string;
  /** Builds the bad referrer of `img` (in its repository). */
  build(reg: Registry, k: Keys, img: PushedImage, other: PushedImage): Promise<Entry>;
  /** The reason listed on stderr. */
  reason: RegExp;
}

const CASES: BadCase[] = [
  {
    name: "zero layers",
    build: (reg, _k, img) => referrer(reg, img.repo, img, []),
    reason: /has 0 layers; a Sigstore bundle referrer has exactly one/,
  },
  {
    name: "two layers",
    build: async (reg, k, img) => {
      const b = await bundle(k, statement(img.digest));
      return referrer(reg, img.repo, img, [
        { mediaType: BUNDLE_V03, bytes: b },
        { mediaType: BUNDLE_V03, bytes: enc.encode("{}") },
      ]);
    },
    reason: /has 2 layers; a Sigstore bundle referrer has exactly one/,
  },
  {
    name: "a layer of another media type",
    build: async (reg, k, img) =>
      referrer(reg, img.repo, img, [{
        mediaType: "application/json",
        bytes: await bundle(k, statement(img.digest)),
      }]),
    reason: /application\/json.*not a Sigstore bundle/,
  },
  {
    name: "a bundle that is not JSON",
    build: (reg, _k, img) =>
      referrer(reg, img.repo, img, [{ mediaType: BUNDLE_V03, bytes: enc.encode("not json {") }]),
    reason: /Invalid bundle: not JSON/,
  },
  {
    name: "a v0.1 bundle",
    build: async (reg, k, img) =>
      referrer(reg, img.repo, img, [{
        mediaType: BUNDLE_V01,
        bytes: await bundle(k, statement(img.digest), BUNDLE_V01),
      }]),
    reason: /a v0\.1 bundle; cosign v3 referrers need v0\.3/,
  },
  {
    name: "a statement for another digest (signed with the key)",
    build: async (reg, k, img, other) =>
      referrer(reg, img.repo, img, [{
        mediaType: BUNDLE_V03,
        bytes: await bundle(k, statement(other.digest)),
      }]),
    reason: /no matching subject digest/,
  },
  {
    name: "a referrer whose subject is another image",
    build: async (reg, k, img, other) =>
      // Correctly signed for `other` and naming `other` as its subject, listed in img's index.
      referrer(reg, img.repo, other, [{
        mediaType: BUNDLE_V03,
        bytes: await bundle(k, statement(other.digest)),
      }]),
    reason: /refers to sha256:[0-9a-f]{64}, not sha256:/,
  },
];

Deno.test("bad referrers are skipped with their reason; a good one beside them verifies", async (t) => {
  await using d = await tempDir();
  const k = await makeKeys(d.path);
  await using reg = await startRegistry();
  for (const [i, c] of CASES.entries()) {
    await t.step(c.name, async () => {
      const img = await uniqueImage(reg, `bad${i}/app:v1`);
      const other = await uniqueImage(reg, `bad${i}/app:other`);
      const bad = await c.build(reg, k, img, other);

      // Only the bad one: exit 12 with the reason.
      await writeIndex(reg, img, [bad]);
      const r = await verifyFails(k, at(reg.host, img), c.name);
      assert(c.reason.test(r.stderr), `${c.name}: reason ${c.reason} on stderr: ${r.stderr}`);
      assert(r.stderr.includes(bad.digest), `${c.name}: names ${bad.digest}: ${r.stderr}`);

      // With a good one: verifies, and the bad one is still listed with its reason.
      const good = await goodReferrer(reg, k, img);
      await writeIndex(reg, img, [bad, good]);
      const ok = await verifyOk(k, at(reg.host, img), c.name);
      assertEquals(ok.arr.length, 1, `${c.name}: only the good signature printed`);
      assert(c.reason.test(ok.r.stderr), `${c.name}: reason listed: ${ok.r.stderr}`);
    });
  }
});

Deno.test("a fallback tag that is not an index is reported; a legacy .sig still verifies", async () => {
  await using d = await tempDir();
  const k = await makeKeys(d.path);
  await using reg = await startRegistry();
  const img = await uniqueImage(reg, "notindex/app:v1");
  // An image manifest at sha256-<hex> (the image's own manifest bytes, re-tagged).
  await putManifest(reg, img.repo, indexTag(img.digest), img.manifest, img.mediaType);

  const r = await verifyFails(k, at(reg.host, img), "no .sig");
  assert(/not an index/.test(r.stderr), `reason: ${r.stderr}`);

  const s = await cosign([
    "sign",
    "--key",
    k.cosignKey,
    "--tlog-upload=false",
    "--new-bundle-format=false",
    at(reg.host, img),
  ], { env: env(k.dir) });
  assertEquals(s.code, 0, s.stderr);
  const ok = await verifyOk(k, at(reg.host, img), "with a .sig");
  assertEquals(ok.arr.length, 1, "the .sig signature");
  assert(/not an index/.test(ok.r.stderr), `reason still listed: ${ok.r.stderr}`);

  // sign (v3) refuses to overwrite the tag that is not an index, with a clear error.
  const v3 = await cosign(
    ["sign", "--key", k.cosignKey, "--tlog-upload=false", at(reg.host, img)],
    {
      env: env(k.dir),
    },
  );
  sane(v3, "v3 sign over a non-index tag");
  assert(v3.code !== 0, `v3 sign must not overwrite it: ${v3.stderr}`);
  assert(/not an index/.test(v3.stderr), v3.stderr);
});

Deno.test("an HTML referrers answer falls back to the tag; bad entries there are still reported", async () => {
  await using d = await tempDir();
  const k = await makeKeys(d.path);
  await using reg = await startRegistry();
  await using px: FaultProxy = await startFaultProxy(reg, { referrers: {} });
  const img = await uniqueImage(reg, "html/app:v1");
  const bad = await referrer(reg, img.repo, img, []);
  const good = await goodReferrer(reg, k, img);
  await writeIndex(reg, img, [bad, good]);
  px.inject({
    method: "GET",
    path: /\/referrers\//,
    times: 100,
    fault: { status: 200, headers: { "content-type": "text/html" }, body: "<!doctype html>" },
  });
  const ok = await verifyOk(k, at(px.host, img), "html");
  assertEquals(ok.arr.length, 1, "the good signature");
  assert(/0 layers/.test(ok.r.stderr), `the bad one is listed: ${ok.r.stderr}`);
  assert(px.count("GET", /\/referrers\//) >= 1, "the API was asked first");

  // Without the fallback's good entry: 12, not 10 ("unsigned") and not a crash.
  await writeIndex(reg, img, [bad]);
  await verifyFails(k, at(px.host, img), "html, only bad");
});

// ---------------------------------------------------------------------------------------------
// 4. Forgeries

Deno.test("forgery: A's signed bundle re-pushed as a referrer of B does not verify B", async () => {
  await using d = await tempDir();
  const k = await makeKeys(d.path);
  await using reg = await startRegistry();
  const a = await uniqueImage(reg, "forge/app:a");
  const b = await uniqueImage(reg, "forge/app:b");
  const aBundle = await bundle(k, statement(a.digest));
  const forA = await referrer(reg, a.repo, a, [{ mediaType: BUNDLE_V03, bytes: aBundle }]);
  await writeIndex(reg, a, [forA]);
  await verifyOk(k, at(reg.host, a), "A itself"); // the bundle is genuine

  // The same bundle bytes, in a referrer manifest whose subject is B, listed in B's index.
  const forB = await referrer(reg, b.repo, b, [{ mediaType: BUNDLE_V03, bytes: aBundle }]);
  await writeIndex(reg, b, [forB]);
  const r = await verifyFails(k, at(reg.host, b), "A's bundle on B");
  assert(
    /no matching subject digest/.test(r.stderr),
    `reason names the statement subject: ${r.stderr}`,
  );
});

Deno.test("forgery: the predicateType annotation is not trusted; output comes from the statement", async () => {
  await using d = await tempDir();
  const k = await makeKeys(d.path);
  await using reg = await startRegistry();
  const img = await uniqueImage(reg, "ptype/app:v1");
  const OTHER = "https://example.com/not-a-signature/v1";
  const lying = await referrer(
    reg,
    img.repo,
    img,
    [{
      mediaType: BUNDLE_V03,
      bytes: await bundle(k, statement(img.digest, { predicateType: OTHER })),
    }],
    { [ANN_CONTENT]: "dsse-envelope", [ANN_PREDICATE]: SIGN_PREDICATE },
  );
  await writeIndex(reg, img, [lying]);
  const r = await verify(k, at(reg.host, img));
  sane(r, "lying predicateType");
  assertEquals(r.code, 0, r.stderr);
  const arr: Any[] = JSON.parse(r.out);
  assertEquals(arr.length, 1, r.out);
  assertEquals(arr[0]?.critical?.type, OTHER, `critical.type is the signed statement's: ${r.out}`);
  assert(!r.out.includes(SIGN_PREDICATE), `the annotation's claim is never printed: ${r.out}`);
});

Deno.test("forgery: -a pairs must be in the signed statement, not only in the manifest", async () => {
  await using d = await tempDir();
  const k = await makeKeys(d.path);
  await using reg = await startRegistry();
  const img = await uniqueImage(reg, "annot/app:v1");
  const manifestOnly = await referrer(
    reg,
    img.repo,
    img,
    [{ mediaType: BUNDLE_V03, bytes: await bundle(k, statement(img.digest)) }],
    { [ANN_CONTENT]: "dsse-envelope", [ANN_PREDICATE]: SIGN_PREDICATE, foo: "bar" },
  );
  await writeIndex(reg, img, [manifestOnly]);
  const r = await verifyFails(k, at(reg.host, img), "-a only in the manifest", ["-a", "foo=bar"]);
  assert(/foo/.test(r.stderr), `the annotation is named: ${r.stderr}`);
  await verifyOk(k, at(reg.host, img), "no -a"); // the signature itself is fine

  // Control: in the signed statement's subject, -a foo=bar verifies.
  const signed = await referrer(reg, img.repo, img, [{
    mediaType: BUNDLE_V03,
    bytes: await bundle(k, statement(img.digest, { annotations: { foo: "bar" } })),
  }]);
  await writeIndex(reg, img, [manifestOnly, signed]);
  const ok = await verifyOk(k, at(reg.host, img), "-a in the statement", ["-a", "foo=bar"]);
  assertEquals(ok.arr.length, 1, "only the statement carrying foo=bar");
  assertEquals(ok.arr[0].optional, { foo: "bar" }, "optional from the statement");
});
