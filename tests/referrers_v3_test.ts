/**
 * Independent acceptance tests for cosign v3 image signatures (issue 11; cosign-spec §3.7, §4.1,
 * §5.3, §13): a Sigstore bundle v0.3 stored as an OCI 1.1 referring manifest of the image, found
 * through the `sha256-<hex>` fallback index tag (the harness's distribution registry has no
 * referrers API).
 *
 * Written from the spec alone: nothing here imports `lib/`. Artifacts are built and read back with
 * curl and openssl only, so our `sign` and `verify` are each checked against a second,
 * independent implementation of the layout.
 */
import { curl, getBlob, pushBlob, putManifest } from "./harness/raw.ts";
import { type PushedImage, pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import { b64, execOk, pemToDer, sha256Hex } from "./harness/util.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  type RunResult,
  sh,
  tempDir,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
type Env = Record<string, string>;

const enc = new TextEncoder();
const dec = new TextDecoder();
const PW = "referrers-v3-pw";

const BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const INTOTO = "application/vnd.in-toto+json";
const STATEMENT_V1 = "https://in-toto.io/Statement/v1";
const SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";
const SLSA_V1 = "https://slsa.dev/provenance/v1";
const ANN_CONTENT = "dev.sigstore.bundle.content";
const ANN_PREDICATE = "dev.sigstore.bundle.predicateType";
const ANN_CREATED = "org.opencontainers.image.created";
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

// ---------------------------------------------------------------------------------------------
// Registry access with curl

/** HTTP status of a GET (no body kept). */
async function httpStatus(url: string, accept = `${OCI_MANIFEST}, ${OCI_INDEX}`): Promise<number> {
  const r = await sh("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-H",
    `Accept: ${accept}`,
    url,
  ]);
  assertEquals(r.code, 0, `curl ${url}: ${r.err}`);
  return Number(dec.decode(r.out));
}

/** GETs a manifest or index by tag or digest with curl; returns its bytes and parsed JSON. */
async function getManifest(
  reg: Registry,
  repo: string,
  ref: string,
  accept = `${OCI_MANIFEST}, ${OCI_INDEX}`,
): Promise<{ bytes: Uint8Array; json: Any; digest: string }> {
  const bytes = await curl(["-H", `Accept: ${accept}`, `${reg.url}/v2/${repo}/manifests/${ref}`]);
  return { bytes, json: JSON.parse(dec.decode(bytes)), digest: `sha256:${await sha256Hex(bytes)}` };
}

/** Whether `repo:tag` exists (200) or not (404); any other answer fails the test. */
async function tagExists(reg: Registry, repo: string, tag: string): Promise<boolean> {
  const s = await httpStatus(`${reg.url}/v2/${repo}/manifests/${tag}`);
  assert(s === 200 || s === 404, `GET ${repo}:${tag} answered ${s}`);
  return s === 200;
}

const hexOf = (digest: string) => digest.replace(/^sha256:/, "");
const indexTag = (digest: string) => `sha256-${hexOf(digest)}`;
const byDigest = (reg: Registry, img: PushedImage) => `${reg.host}/${img.repo}@${img.digest}`;

// ---------------------------------------------------------------------------------------------
// DSSE and the bundle, by hand (spec §4.1, §5.3)

/** DSSE pre-authentication encoding. */
function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const head = enc.encode(
    `DSSEv1 ${enc.encode(payloadType).length} ${payloadType} ${payload.length} `,
  );
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** `openssl dgst -sha256 -sign` over `data`: a DER ECDSA signature. */
async function opensslSign(keyPem: string, data: Uint8Array): Promise<Uint8Array> {
  return (await execOk("openssl", ["dgst", "-sha256", "-sign", keyPem], { stdin: data })).out;
}

/** `openssl dgst -sha256 -verify` of a DER signature over `data`. */
async function opensslVerify(dir: string, pubPem: string, sig: Uint8Array, data: Uint8Array) {
  const sigPath = `${dir}/sig.der`, dataPath = `${dir}/pae.bin`;
  await Deno.writeFile(sigPath, sig);
  await Deno.writeFile(dataPath, data);
  const r = await sh("openssl", [
    "dgst",
    "-sha256",
    "-verify",
    pubPem,
    "-signature",
    sigPath,
    dataPath,
  ]);
  assertEquals(r.code, 0, `openssl verify of the DSSE signature: ${r.err} ${dec.decode(r.out)}`);
  assert(dec.decode(r.out).includes("Verified OK"), "openssl says Verified OK");
}

/** An EC P-256 key made by openssl: private PEM (for signing) and public PEM (for --key). */
async function opensslKeyPair(dir: string, name: string): Promise<{ key: string; pub: string }> {
  const key = `${dir}/${name}.pem`, pub = `${dir}/${name}.pub`;
  await execOk("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    key,
  ]);
  await execOk("openssl", ["pkey", "-in", key, "-pubout", "-out", pub]);
  return { key, pub };
}

/** The hint cosign puts in a keyed bundle: base64(sha256(PKIX DER of the public key)). */
async function keyHint(pubPem: string): Promise<string> {
  const der = pemToDer(await Deno.readTextFile(pubPem));
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return b64(h);
}

/**
 * Builds a v3 image signature by hand and stores it as cosign v3 does on a registry without the
 * referrers API: bundle blob, empty config, referrer manifest (by digest), fallback index tag.
 * Returns the referrer manifest's digest.
 */
async function pushHandmadeSignature(
  reg: Registry,
  img: PushedImage,
  keyPem: string,
  hint: string,
): Promise<string> {
  const statement = enc.encode(JSON.stringify({
    _type: STATEMENT_V1,
    subject: [{ digest: { sha256: hexOf(img.digest) } }],
    predicateType: SIGN_PREDICATE,
    predicate: {},
  }));
  const sig = await opensslSign(keyPem, pae(INTOTO, statement));
  const bundle = enc.encode(JSON.stringify({
    mediaType: BUNDLE_V03,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [] },
    dsseEnvelope: {
      payload: b64(statement),
      payloadType: INTOTO,
      signatures: [{ sig: b64(sig), keyid: "" }],
    },
  }));
  const layer = await pushBlob(reg, img.repo, bundle);
  const config = await pushBlob(reg, img.repo, enc.encode("{}"));
  assertEquals(config.digest, EMPTY_DIGEST, "the empty config's digest");
  const annotations = {
    [ANN_CONTENT]: "dsse-envelope",
    [ANN_PREDICATE]: SIGN_PREDICATE,
    [ANN_CREATED]: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE_V03,
    config: { mediaType: OCI_EMPTY, digest: config.digest, size: config.size },
    layers: [{ mediaType: BUNDLE_V03, digest: layer.digest, size: layer.size }],
    subject: { mediaType: img.mediaType, digest: img.digest, size: img.manifest.length },
    annotations,
  }));
  const mDigest = `sha256:${await sha256Hex(manifest)}`;
  await putManifest(reg, img.repo, mDigest, manifest, OCI_MANIFEST);
  const index = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{
      mediaType: OCI_MANIFEST,
      digest: mDigest,
      size: manifest.length,
      artifactType: BUNDLE_V03,
      annotations,
    }],
  }));
  await putManifest(reg, img.repo, indexTag(img.digest), index, OCI_INDEX);

  // The artifacts really are in the registry, as another client sees them.
  const m = await getManifest(reg, img.repo, mDigest, OCI_MANIFEST);
  assertEquals(dec.decode(m.bytes), dec.decode(manifest), "referrer manifest stored verbatim");
  const ix = await getManifest(reg, img.repo, indexTag(img.digest), OCI_INDEX);
  assertEquals(ix.json.manifests[0].digest, mDigest, "fallback index lists the referrer");
  assertEquals(
    dec.decode(await getBlob(reg, img.repo, layer.digest)),
    dec.decode(bundle),
    "bundle blob stored",
  );
  return mDigest;
}

// ---------------------------------------------------------------------------------------------
// Reading our own output back with curl

interface Referrer {
  /** The referrer manifest's digest. */
  digest: string;
  /** The fallback index's descriptor of it. */
  descriptor: Any;
  manifest: Any;
  bundle: Any;
  /** The decoded DSSE payload bytes. */
  payload: Uint8Array;
  statement: Any;
}

/**
 * Reads every referrer listed in the fallback index tag of `img` and checks what all cosign v3
 * referrers share: descriptor shape, manifest layout (§3.7), subject, bundle v0.3 with a DSSE
 * envelope, statement about this image.
 */
async function readReferrers(reg: Registry, img: PushedImage): Promise<Referrer[]> {
  const ix = await getManifest(reg, img.repo, indexTag(img.digest), OCI_INDEX);
  assertEquals(ix.json.mediaType, OCI_INDEX, "fallback tag holds an OCI image index");
  assertEquals(ix.json.schemaVersion, 2, "index schemaVersion");
  const digests = ix.json.manifests.map((d: Any) => d.digest);
  assertEquals(digests, [...digests].sort(), "index entries sorted by digest");
  assertEquals(new Set(digests).size, digests.length, "index entries deduplicated");
  const out: Referrer[] = [];
  for (const d of ix.json.manifests) {
    assertEquals(d.mediaType, OCI_MANIFEST, "descriptor mediaType");
    assertEquals(d.artifactType, BUNDLE_V03, "descriptor artifactType");
    const m = await getManifest(reg, img.repo, d.digest, OCI_MANIFEST);
    assertEquals(m.digest, d.digest, "manifest digest matches the descriptor");
    assertEquals(m.bytes.length, d.size, "manifest size matches the descriptor");
    const man = m.json;
    assertEquals(man.schemaVersion, 2, "referrer schemaVersion");
    assertEquals(man.mediaType, OCI_MANIFEST, "referrer mediaType");
    assertEquals(man.artifactType, BUNDLE_V03, "referrer artifactType");
    assertEquals(
      [man.config.mediaType, man.config.digest, man.config.size],
      [OCI_EMPTY, EMPTY_DIGEST, 2],
      "empty config descriptor",
    );
    assertEquals(
      [man.subject?.mediaType, man.subject?.digest, man.subject?.size],
      [img.mediaType, img.digest, img.manifest.length],
      "subject is the signed manifest",
    );
    assertEquals(man.layers.length, 1, "exactly one layer");
    assertEquals(man.layers[0].mediaType, BUNDLE_V03, "layer media type");
    assertEquals(man.annotations?.[ANN_CONTENT], "dsse-envelope", "content annotation");
    assert(
      RFC3339.test(man.annotations?.[ANN_CREATED] ?? ""),
      `created annotation is RFC 3339: ${JSON.stringify(man.annotations)}`,
    );
    assertEquals(
      d.annotations?.[ANN_PREDICATE],
      man.annotations?.[ANN_PREDICATE],
      "index descriptor carries the manifest's predicateType annotation",
    );
    const blob = await getBlob(reg, img.repo, man.layers[0].digest);
    assertEquals(blob.length, man.layers[0].size, "layer size");
    const bundle = JSON.parse(dec.decode(blob));
    assertEquals(bundle.mediaType, BUNDLE_V03, "bundle mediaType");
    const env = bundle.dsseEnvelope;
    assert(env, `bundle holds a dsseEnvelope: ${dec.decode(blob)}`);
    assertEquals(env.payloadType, INTOTO, "DSSE payloadType");
    assertEquals(env.signatures.length, 1, "one DSSE signature");
    const payload = Uint8Array.fromBase64(env.payload);
    const statement = JSON.parse(dec.decode(payload));
    assert(
      statement.subject.some((s: Any) => s.digest?.sha256 === hexOf(img.digest)),
      `statement subject is the image digest: ${JSON.stringify(statement.subject)}`,
    );
    assertEquals(
      statement.predicateType,
      man.annotations?.[ANN_PREDICATE],
      "predicateType annotation = the statement's",
    );
    out.push({ digest: d.digest, descriptor: d, manifest: man, bundle, payload, statement });
  }
  return out;
}

/** Checks a referrer's DSSE signature over the PAE bytes with openssl and the public key. */
async function checkSignature(dir: string, ref: Referrer, pubPem: string): Promise<void> {
  const sig = Uint8Array.fromBase64(ref.bundle.dsseEnvelope.signatures[0].sig);
  await opensslVerify(dir, pubPem, sig, pae(INTOTO, ref.payload));
}

// ---------------------------------------------------------------------------------------------
// CLI

function env(home: string): Env {
  return { COSIGN_PASSWORD: PW, HOME: home };
}

async function genKey(dir: string, name: string): Promise<{ key: string; pub: string }> {
  const r = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/${name}`], {
    env: env(dir),
  });
  assertEquals(r.code, 0, r.stderr);
  return { key: `${dir}/${name}.key`, pub: `${dir}/${name}.pub` };
}

async function signOk(dir: string, key: string, ref: string, extra: string[] = []) {
  const r = await cosign(["sign", "--key", key, "--tlog-upload=false", ...extra, ref], {
    env: env(dir),
  });
  assertEquals(r.code, 0, `sign ${extra.join(" ")} ${ref}: ${r.stderr}`);
}

function verify(dir: string, pub: string, ref: string, extra: string[] = []): Promise<RunResult> {
  return cosign(["verify", "--key", pub, "--insecure-ignore-tlog", ...extra, ref], {
    env: env(dir),
  });
}

/** `verify` that must succeed; returns the JSON array printed on stdout. */
async function verifyOk(dir: string, pub: string, ref: string, extra: string[] = []) {
  const r = await verify(dir, pub, ref, extra);
  assertEquals(r.code, 0, `verify --key ${pub} ${ref}: ${r.stderr}`);
  assert(r.out.startsWith("\n["), `stdout is a newline and a JSON array: ${r.out}`);
  const arr: Any[] = JSON.parse(r.out);
  assert(arr.length >= 1, "at least one verified signature printed");
  return arr;
}

/** The v3 shape of `verify -o json`: the statement re-shaped as simple signing. */
function assertV3Shape(arr: Any[], digest: string): void {
  assert(
    arr.some((p) =>
      p?.critical?.type === SIGN_PREDICATE &&
      p?.critical?.image?.["docker-manifest-digest"] === digest
    ),
    `a payload with critical.type ${SIGN_PREDICATE} and the digest ${digest}: ${
      JSON.stringify(arr)
    }`,
  );
}

// ---------------------------------------------------------------------------------------------

Deno.test("v3: a signature built by hand (statement, PAE, bundle, referrer, fallback index) verifies", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  const img = await pushImage(reg, "hand/app:v1");
  const k = await opensslKeyPair(d.path, "k");
  const other = await opensslKeyPair(d.path, "other");
  await pushHandmadeSignature(reg, img, k.key, await keyHint(k.pub));
  assertEquals(await tagExists(reg, img.repo, `${indexTag(img.digest)}.sig`), false, "no .sig");
  // The reader used on our own output below accepts this hand-built layout (checks both halves
  // of this file against each other before our CLI is involved).
  const refs = await readReferrers(reg, img);
  assertEquals(refs.length, 1, "one referrer");
  await checkSignature(d.path, refs[0]!, k.pub);

  // By digest and by tag; --output json is the default, and explicit here.
  const arr = await verifyOk(d.path, k.pub, byDigest(reg, img), ["--output", "json"]);
  assertV3Shape(arr, img.digest);
  assertV3Shape(await verifyOk(d.path, k.pub, img.ref), img.digest);

  // Another key: the signature is found but does not verify.
  const bad = await verify(d.path, other.pub, byDigest(reg, img));
  assertFails(bad, 12);
  assert(/signature/i.test(bad.stderr), `a reason is given: ${bad.stderr}`);
  assertEquals(bad.out, "", "nothing on stdout");
});

Deno.test("v3: our sign output reads back independently (curl + openssl)", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  const img = await pushImage(reg, "ours/app:v1");
  const k = await genKey(d.path, "k");
  await signOk(d.path, k.key, byDigest(reg, img));

  assertEquals(
    await tagExists(reg, img.repo, `${indexTag(img.digest)}.sig`),
    false,
    "v3 default writes no legacy .sig tag",
  );
  const refs = await readReferrers(reg, img);
  assertEquals(refs.length, 1, "one referrer");
  const r = refs[0]!;
  assertEquals(r.manifest.annotations[ANN_PREDICATE], SIGN_PREDICATE, "predicateType annotation");
  assertEquals(r.statement._type, STATEMENT_V1, "statement _type");
  assertEquals(r.statement.predicateType, SIGN_PREDICATE, "statement predicateType");
  assertEquals(r.statement.subject.length, 1, "one subject");
  assertEquals(r.statement.subject[0].digest, { sha256: hexOf(img.digest) }, "subject digest");
  assertEquals(
    r.bundle.verificationMaterial?.publicKey?.hint,
    await keyHint(k.pub),
    "bundle carries the key hint",
  );
  await checkSignature(d.path, r, k.pub);

  // --new-bundle-format=false: the legacy .sig tag, no fallback index.
  const legacy = await pushImage(reg, "legacy/app:v1");
  await signOk(d.path, k.key, byDigest(reg, legacy), ["--new-bundle-format=false"]);
  assertEquals(await tagExists(reg, legacy.repo, `${indexTag(legacy.digest)}.sig`), true, ".sig");
  assertEquals(await tagExists(reg, legacy.repo, indexTag(legacy.digest)), false, "no index tag");
});

Deno.test("v3: attest --type slsaprovenance1 writes a referrer with the SLSA v1 predicate type", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  const img = await pushImage(reg, "att/app:v1");
  const k = await genKey(d.path, "k");
  const predicate = `${d.path}/slsa1.json`;
  await Deno.writeTextFile(
    predicate,
    JSON.stringify({
      buildDefinition: {
        buildType: "https://example.com/buildtypes/make@v1",
        externalParameters: { target: "all" },
        internalParameters: {},
        resolvedDependencies: [{
          uri: "git+https://example.com/repo@refs/heads/main",
          digest: { gitCommit: "0123456789abcdef0123456789abcdef01234567" },
        }],
      },
      runDetails: {
        builder: { id: "https://example.com/builder@v1" },
        metadata: {
          invocationID: "build-1",
          startedOn: "2025-01-01T00:00:00Z",
          finishedOn: "2025-01-01T00:01:00Z",
        },
      },
    }),
  );
  const a = await cosign([
    "attest",
    "--key",
    k.key,
    "--tlog-upload=false",
    "--type",
    "slsaprovenance1",
    "--predicate",
    predicate,
    byDigest(reg, img),
  ], { env: env(d.path) });
  assertEquals(a.code, 0, `attest: ${a.stderr}`);

  assertEquals(await tagExists(reg, img.repo, `${indexTag(img.digest)}.att`), false, "no .att");
  const refs = await readReferrers(reg, img);
  assertEquals(refs.length, 1, "one referrer");
  const r = refs[0]!;
  assertEquals(r.descriptor.annotations?.[ANN_PREDICATE], SLSA_V1, "index entry predicateType");
  assertEquals(r.manifest.annotations[ANN_PREDICATE], SLSA_V1, "manifest predicateType");
  assertEquals(r.statement.predicateType, SLSA_V1, "statement predicateType");
  assertEquals(
    r.statement.predicate.runDetails.builder.id,
    "https://example.com/builder@v1",
    "the predicate is carried",
  );
  await checkSignature(d.path, r, k.pub);

  const va = (type: string) =>
    cosign([
      "verify-attestation",
      "--key",
      k.pub,
      "--insecure-ignore-tlog",
      "--type",
      type,
      byDigest(reg, img),
    ], { env: env(d.path) });
  const ok = await va("slsaprovenance1");
  assertEquals(ok.code, 0, `verify-attestation --type slsaprovenance1: ${ok.stderr}`);
  const lines = ok.out.trim().split("\n");
  assertEquals(lines.length, 1, "one envelope printed");
  const printed = JSON.parse(lines[0]!);
  assertEquals(
    JSON.parse(dec.decode(Uint8Array.fromBase64(printed.payload))).predicateType,
    SLSA_V1,
    "printed envelope's statement",
  );

  // Another type: not silently dropped; the error names what was found. Spec §4.4: this is
  // `none of the attestations matched…` with exit 1 (the special codes are only for `verify`).
  const miss = await va("spdxjson");
  assertFails(miss, 1, /none of the attestations matched the predicate type/);
  assert(miss.stderr.includes(SLSA_V1), `stderr names ${SLSA_V1}: ${miss.stderr}`);
  assertEquals(miss.out, "", "nothing on stdout");
});

Deno.test("v3: a legacy .sig and a v3 referrer both verify, and each alone too", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  const a = await genKey(d.path, "a");
  const b = await genKey(d.path, "b");

  // Both on one image: key A legacy, key B v3.
  const both = await pushImage(reg, "both/app:v1");
  await signOk(d.path, a.key, byDigest(reg, both), ["--new-bundle-format=false"]);
  await signOk(d.path, b.key, byDigest(reg, both));
  assertEquals(await tagExists(reg, both.repo, `${indexTag(both.digest)}.sig`), true, ".sig");
  assertEquals((await readReferrers(reg, both)).length, 1, "one referrer");
  await verifyOk(d.path, a.pub, byDigest(reg, both));
  assertV3Shape(await verifyOk(d.path, b.pub, byDigest(reg, both)), both.digest);
  await verifyOk(d.path, a.pub, both.ref);
  await verifyOk(d.path, b.pub, both.ref);

  // Only a legacy .sig.
  const legacy = await pushImage(reg, "legacy/app:v1");
  await signOk(d.path, a.key, byDigest(reg, legacy), ["--new-bundle-format=false"]);
  assertEquals(await tagExists(reg, legacy.repo, indexTag(legacy.digest)), false, "no index");
  await verifyOk(d.path, a.pub, byDigest(reg, legacy));
  assertFails(await verify(d.path, b.pub, byDigest(reg, legacy)), 12);

  // Only a v3 referrer.
  const v3 = await pushImage(reg, "v3only/app:v1");
  await signOk(d.path, b.key, byDigest(reg, v3));
  assertEquals(await tagExists(reg, v3.repo, `${indexTag(v3.digest)}.sig`), false, "no .sig");
  assertV3Shape(await verifyOk(d.path, b.pub, byDigest(reg, v3)), v3.digest);
  assertFails(await verify(d.path, a.pub, byDigest(reg, v3)), 12);
});
