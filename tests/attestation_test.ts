/**
 * Attestations (cosign-spec §4, §3.5): `verify-blob-attestation` against the upstream fixtures
 * (`TestVerifyBlobAttestation`, `NoCheckClaims`, `ParseBlobHashAlgorithm`, `MalformedPayloads`),
 * `attest` / `verify-attestation` of every predicate type on an image in a real registry, an
 * independent check of the stored `.att` layer (skopeo, curl, openssl over PAE bytes computed
 * here), `--replace`, accumulation and concurrent writers, tampering and mismatch failures,
 * `attest-blob` round trips, `attach attestation` / `download attestation`, and
 * `attach sbom` / `download sbom`.
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
import { inspectRaw, pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  FIXTURES,
  type RunResult,
  sh,
  tempDir,
} from "./helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PW = "attest-pw";
const BA = FIXTURES + "blob-attestation/";
const PRED = FIXTURES + "predicates/";
const BLOB_SHA256 = "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24";
const INTOTO = "application/vnd.in-toto+json";
const DSSE_LAYER = "application/vnd.dsse.envelope.v1+json";
const SIG_ANNOTATION = "dev.cosignproject.cosign/signature";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const STATEMENT_V01 = "https://in-toto.io/Statement/v0.1";
const URI = {
  custom: "https://cosign.sigstore.dev/attestation/v1",
  slsa02: "https://slsa.dev/provenance/v0.2",
  spdx: "https://spdx.dev/Document",
  cyclonedx: "https://cyclonedx.org/bom",
  vuln: "https://cosign.sigstore.dev/attestation/vuln/v1",
  testResult: "https://example.com/TestResult/v1",
} as const;
const V03_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";

type Env = Record<string, string>;

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
}

interface EnvelopeJson {
  payloadType: string;
  payload: string;
  signatures: { keyid?: string; sig: string }[];
}

interface StatementJson {
  _type: string;
  predicateType: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicate: unknown;
}

// ---------------------------------------------------------------------------------------------
// Generic helpers (no product code)

function baseEnv(home: string, extra: Env = {}): Env {
  return { COSIGN_PASSWORD: PW, HOME: home, ...extra };
}

function unb64(s: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

function b64(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    s += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** PAE as DSSE defines it: `DSSEv1 <len type> <type> <len payload> <payload>` (byte lengths). */
function pae(payloadType: string, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const t = enc.encode(payloadType);
  return concat(enc.encode(`DSSEv1 ${t.length} `), t, enc.encode(` ${payload.length} `), payload);
}

async function hexDigest(alg: "SHA-256" | "SHA-384" | "SHA-512", data: Uint8Array) {
  const d = new Uint8Array(await crypto.subtle.digest(alg, new Uint8Array(data)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

function envelopeOf(line: string): EnvelopeJson {
  return JSON.parse(line) as EnvelopeJson;
}

function statementOf(env: EnvelopeJson): StatementJson {
  return JSON.parse(dec.decode(unb64(env.payload))) as StatementJson;
}

/** Runs `fn`, prefixing any assertion failure with `label`. */
async function labelled(label: string, fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    throw new Error(`${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Exit 0 and "Verified OK" (verify-blob-attestation). */
function assertVerified(r: RunResult, label: string): void {
  assert(r.code === 0, `${label}: exit ${r.code}; stderr: ${r.stderr}`);
  assert(r.stderr.split("\n").includes("Verified OK"), `${label}: Verified OK; ${r.stderr}`);
  assert(!r.stderr.includes("Error:"), `${label}: no error; ${r.stderr}`);
}

/** A failed verification: exit `code`, one `Error:` line matching `re`, never "Verified OK". */
function assertRejected(r: RunResult, re: RegExp, label: string, code = 1): void {
  assert(!r.stderr.includes("Verified OK"), `${label}: must not print Verified OK; ${r.stderr}`);
  try {
    assertFails(r, code, re);
  } catch (e) {
    throw new Error(`${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and openssl

interface CosignKey {
  key: string;
  pub: string;
}

async function genKey(dir: string, name: string): Promise<CosignKey> {
  const r = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/${name}`], {
    env: baseEnv(dir),
  });
  assertEquals(r.code, 0, r.stderr);
  return { key: `${dir}/${name}.key`, pub: `${dir}/${name}.pub` };
}

interface OpensslKey {
  pem: string;
  pub: string;
}

/** A fresh P-256 key made by openssl: private PEM and PKIX public PEM. */
async function opensslKey(dir: string, name: string): Promise<OpensslKey> {
  const pem = `${dir}/${name}.pem`, pub = `${dir}/${name}.pub`;
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
  const p = await sh("openssl", ["pkey", "-in", pem, "-pubout", "-out", pub]);
  assertEquals(p.code, 0, p.err);
  return { pem, pub };
}

async function opensslVerify(
  dir: string,
  pub: string,
  data: Uint8Array,
  sig: Uint8Array,
): Promise<boolean> {
  const id = crypto.randomUUID();
  await Deno.writeFile(`${dir}/${id}.pae.bin`, data);
  await Deno.writeFile(`${dir}/${id}.sig.der`, sig);
  const r = await sh("openssl", [
    "dgst",
    "-sha256",
    "-verify",
    pub,
    "-signature",
    `${dir}/${id}.sig.der`,
    `${dir}/${id}.pae.bin`,
  ]);
  return r.code === 0 && dec.decode(r.out).trim() === "Verified OK";
}

/** Checks an envelope's signature with openssl over PAE bytes computed here. */
async function opensslChecksEnvelope(dir: string, pub: string, env: EnvelopeJson) {
  assertEquals(env.signatures.length, 1, "one signature");
  const payload = unb64(env.payload);
  const sig = unb64(env.signatures[0]!.sig);
  assert(await opensslVerify(dir, pub, pae(env.payloadType, payload), sig), "openssl: PAE sig");
  // The check is meaningful: the signature is not over the bare payload, nor another type.
  assert(!(await opensslVerify(dir, pub, payload, sig)), "openssl: not over the bare payload");
  assert(!(await opensslVerify(dir, pub, pae("text/plain", payload), sig)), "openssl: type");
}

/**
 * An envelope signed by openssl over PAE(payloadType, payload ?? ""), as JSON bytes;
 * `payload` undefined leaves the field out.
 */
async function handEnvelope(
  pem: string,
  payloadType: string,
  payload: Uint8Array | undefined,
): Promise<{ bytes: Uint8Array; json: Record<string, unknown> }> {
  const sig = await opensslSign(pem, pae(payloadType, payload ?? new Uint8Array()));
  const json: Record<string, unknown> = { payloadType };
  if (payload !== undefined) json.payload = b64(payload);
  json.signatures = [{ keyid: "", sig: b64(sig) }];
  return { bytes: enc.encode(JSON.stringify(json)), json };
}

/**
 * Writes `env` in the three forms verify-blob-attestation reads and returns their flags: a bare
 * `--signature`, a legacy bundle (`base64Signature` = b64 of the envelope) and a v0.3 bundle.
 */
async function threeForms(
  dir: string,
  name: string,
  env: { bytes: Uint8Array; json: Record<string, unknown> },
  pubPem: string,
): Promise<Record<"bare" | "legacy" | "v03", string[]>> {
  const bare = `${dir}/${name}.dsse.json`;
  const legacy = `${dir}/${name}.legacy.json`;
  const v03 = `${dir}/${name}.sigstore.json`;
  await Deno.writeFile(bare, env.bytes);
  await Deno.writeTextFile(
    legacy,
    JSON.stringify({ base64Signature: b64(env.bytes), cert: await Deno.readTextFile(pubPem) }),
  );
  const sigs = (env.json.signatures as { sig: string }[]).map((s) => ({ sig: s.sig }));
  const dsseEnvelope: Record<string, unknown> = {};
  if (env.json.payload !== undefined) dsseEnvelope.payload = env.json.payload;
  dsseEnvelope.payloadType = env.json.payloadType;
  dsseEnvelope.signatures = sigs;
  await Deno.writeTextFile(
    v03,
    JSON.stringify({
      mediaType: V03_BUNDLE,
      verificationMaterial: { publicKey: { hint: "x" } },
      dsseEnvelope,
    }),
  );
  return {
    bare: ["--signature", bare],
    legacy: ["--bundle", legacy],
    v03: ["--bundle", v03, "--new-bundle-format", "--trusted-root", BA + "empty-trusted-root.json"],
  };
}

// ---------------------------------------------------------------------------------------------
// Registry helpers (skopeo and curl; no product code)

function attTag(digest: string): string {
  return `${digest.replace(":", "-")}.att`;
}

async function manifestOf(reg: Registry, repoAndRef: string): Promise<ManifestJson> {
  return JSON.parse(dec.decode(await inspectRaw(reg, repoAndRef))) as ManifestJson;
}

/** Pushes an `.att` image built by hand as cosign writes it (one DSSE layer per envelope). */
async function pushAttImage(
  reg: Registry,
  repo: string,
  tag: string,
  envelopes: { bytes: Uint8Array; predicateType: string }[],
): Promise<void> {
  const descs = [];
  for (const e of envelopes) descs.push(await pushBlob(reg, repo, e.bytes));
  const config = await pushBlob(reg, repo, enc.encode(goConfig(descs.map((d) => d.digest))));
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.size, digest: config.digest },
    layers: descs.map((d, i) => ({
      mediaType: DSSE_LAYER,
      size: d.size,
      digest: d.digest,
      annotations: { [SIG_ANNOTATION]: "", predicateType: envelopes[i]!.predicateType },
    })),
  };
  await putManifest(reg, repo, tag, enc.encode(JSON.stringify(manifest)));
}

// ---------------------------------------------------------------------------------------------
// CLI helpers

function attest(
  k: CosignKey,
  ref: string,
  predicate: string,
  env: Env,
  extra: string[] = [],
): Promise<RunResult> {
  return cosign(
    [
      "attest",
      "--new-bundle-format=false",
      "--key",
      k.key,
      "--predicate",
      predicate,
      "--tlog-upload=false",
      ...extra,
      ref,
    ],
    { env },
  );
}

async function attestOk(
  k: CosignKey,
  ref: string,
  predicate: string,
  env: Env,
  extra: string[] = [],
): Promise<RunResult> {
  const r = await attest(k, ref, predicate, env, extra);
  assertEquals(r.code, 0, `attest ${predicate} ${extra.join(" ")} on ${ref}: ${r.stderr}`);
  return r;
}

function verifyAtt(pub: string, ref: string, env: Env, extra: string[] = []): Promise<RunResult> {
  return cosign(["verify-attestation", "--key", pub, "--insecure-ignore-tlog", ...extra, ref], {
    env,
  });
}

/** verify-attestation that must pass; returns the printed envelopes (one JSON a line). */
async function verifyAttOk(
  pub: string,
  ref: string,
  env: Env,
  extra: string[] = [],
): Promise<{ r: RunResult; envelopes: EnvelopeJson[] }> {
  const r = await verifyAtt(pub, ref, env, extra);
  assertEquals(r.code, 0, `verify-attestation ${extra.join(" ")} ${ref}: ${r.stderr}`);
  assert(r.out.endsWith("\n"), `stdout ends with a newline: ${JSON.stringify(r.out)}`);
  return { r, envelopes: lines(r.out).map(envelopeOf) };
}

function vba(pub: string, args: string[], env: Env): Promise<RunResult> {
  return cosign(["verify-blob-attestation", "--key", pub, "--insecure-ignore-tlog", ...args], {
    env,
  });
}

// =============================================================================================
// 1. verify-blob-attestation against the upstream fixtures

interface BlobCase {
  name: string;
  args: string[];
  env?: Env;
  /** undefined: must pass; else the failure reason. */
  fails?: RegExp;
}

async function runBlobCases(cases: BlobCase[], home: string): Promise<void> {
  const results = await Promise.all(
    cases.map((c) => vba(BA + "cosign.pub", c.args, { HOME: home, ...c.env })),
  );
  const problems: string[] = [];
  cases.forEach((c, i) => {
    try {
      if (c.fails) assertRejected(results[i]!, c.fails, c.name);
      else assertVerified(results[i]!, c.name);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  });
  assert(problems.length === 0, `\n${problems.join("\n")}`);
}

Deno.test("verify-blob-attestation: TestVerifyBlobAttestation cases 1-12", async () => {
  await using tmp = await tempDir();
  const sig = (f: string) => ["--signature", BA + f];
  const v03 = (f: string) => [
    "--bundle",
    BA + f,
    "--new-bundle-format",
    "--trusted-root",
    BA + "empty-trusted-root.json",
  ];
  const slsa = ["--type", "slsaprovenance"];
  const noSubject = /no matching subject digest found/;
  await runBlobCases([
    { name: "1 slsaprovenance", args: [...sig("slsa-provenance.dsse.json"), ...slsa, BA + "blob"] },
    {
      name: "1b the base64 form of the envelope",
      args: [...sig("slsa-provenance.dsse.b64"), ...slsa, BA + "blob"],
    },
    {
      name: "2 incorrect predicate type",
      args: [...sig("slsa-provenance.dsse.json"), "--type", "custom", BA + "blob"],
      fails:
        /invalid predicate type, expected (custom|https:\/\/cosign\.sigstore\.dev\/attestation\/v1) got https:\/\/slsa\.dev\/provenance\/v0\.2/,
    },
    {
      name: "2b the default --type is custom",
      args: [...sig("slsa-provenance.dsse.json"), BA + "blob"],
      fails: /invalid predicate type/,
    },
    {
      name: "3 incorrect blob",
      args: [...sig("slsa-provenance.dsse.json"), ...slsa, BA + "other-blob"],
      fails: noSubject,
    },
    {
      name: "4 no subject",
      args: [...sig("empty-subject.dsse.json"), ...slsa, BA + "blob"],
      fails: noSubject,
    },
    {
      name: "5 subject without sha256",
      args: [...sig("missing-sha256.dsse.json"), ...slsa, BA + "blob"],
      fails: noSubject,
    },
    {
      name: "6 multiple subjects, one valid",
      args: [...sig("multiple-subjects.dsse.json"), ...slsa, BA + "blob"],
    },
    {
      name: "6b multiple subjects, the other blob is not among them",
      args: [...sig("multiple-subjects.dsse.json"), ...slsa, BA + "other-blob"],
      fails: noSubject,
    },
    {
      name: "7 multiple subjects, wrong predicate type",
      args: [
        ...sig("multiple-subjects.dsse.json"),
        "--type",
        "notreallyslsaprovenance",
        BA + "blob",
      ],
      fails:
        /invalid predicate type.*notreallyslsaprovenance.* got https:\/\/slsa\.dev\/provenance/,
    },
    {
      name: "8 multiple subjects, none valid",
      args: [...sig("multiple-subjects-invalid.dsse.json"), ...slsa, BA + "blob"],
      fails: noSubject,
    },
    {
      name: "9 COSIGN_MAX_ATTACHMENT_SIZE=128 refuses the 143-byte blob",
      args: [...sig("slsa-provenance.dsse.json"), ...slsa, BA + "huge-blob"],
      env: { COSIGN_MAX_ATTACHMENT_SIZE: "128" },
      fails: /143|128|too large|limit|size/i,
    },
    {
      name: "9b the same blob passes the size check under a larger limit (then fails the subject)",
      args: [...sig("slsa-provenance.dsse.json"), ...slsa, BA + "huge-blob"],
      env: { COSIGN_MAX_ATTACHMENT_SIZE: "1024" },
      fails: noSubject,
    },
    {
      name: "10 v0.3 bundle with a public key",
      args: [...v03("slsa-provenance.sigstore.json"), ...slsa, BA + "blob"],
    },
    {
      name: "11 v0.3 bundle, bad signature",
      args: [...v03("bad-sig.sigstore.json"), ...slsa, BA + "blob"],
      fails: /signature/i,
    },
    {
      name: "12 --digest instead of the blob",
      args: [
        ...sig("slsa-provenance.dsse.json"),
        "--digest",
        BLOB_SHA256,
        "--digestAlg",
        "sha256",
        ...slsa,
      ],
    },
    {
      name: "12b --digest of another blob",
      args: [
        ...sig("slsa-provenance.dsse.json"),
        "--digest",
        "876ed8150ab7f3d8dd4e8e7ad5a3a67fc6f1b0e3ddc1efa7c3bcbd63e56925bf",
        "--digestAlg",
        "sha256",
        ...slsa,
      ],
      fails: noSubject,
    },
  ], tmp.path);
});

Deno.test("verify-blob-attestation: --check-claims=false (cases 13-17) checks only the signature", async () => {
  await using tmp = await tempDir();
  const sig = ["--signature", BA + "slsa-provenance.dsse.json"];
  const base = ["--check-claims=false", "--type", "slsaprovenance"];
  const v03 = (f: string) => [
    "--bundle",
    BA + f,
    "--new-bundle-format",
    "--trusted-root",
    BA + "empty-trusted-root.json",
  ];
  await runBlobCases([
    { name: "13 blob", args: [...base, ...sig, BA + "blob"] },
    { name: "14 no blob argument", args: [...base, ...sig] },
    { name: "14b an empty blob path", args: [...base, ...sig, ""] },
    { name: "15 another blob", args: [...base, ...sig, BA + "other-blob"] },
    {
      name: "16 v0.3 bundle, another blob",
      args: [...base, ...v03("slsa-provenance.sigstore.json"), BA + "other-blob"],
    },
    { name: "17 /dev/null", args: [...base, ...sig, "/dev/null"] },
    // Controls: the signature and the predicate type are still checked.
    {
      name: "bad signature still fails",
      args: [...base, ...v03("bad-sig.sigstore.json"), BA + "blob"],
      fails: /signature/i,
    },
    {
      name: "wrong predicate type still fails",
      args: ["--check-claims=false", "--type", "vuln", ...sig, BA + "blob"],
      fails: /invalid predicate type/,
    },
    {
      name: "another key still fails",
      args: [...base, ...sig, BA + "blob", "--key", `${FIXTURES}keys/cosign-test.pub`],
      fails: /signature|key/i,
    },
  ], tmp.path);
});

Deno.test("verify-blob-attestation: --digestAlg accepts sha256/sha384/sha512 only (case-sensitive)", async () => {
  await using tmp = await tempDir();
  const env = { HOME: tmp.path };
  const k = await opensslKey(tmp.path, "alg");
  const blob = await Deno.readFile(BA + "blob");
  const hex = {
    sha256: await hexDigest("SHA-256", blob),
    sha384: await hexDigest("SHA-384", blob),
    sha512: await hexDigest("SHA-512", blob),
  };
  assertEquals(hex.sha256, BLOB_SHA256);
  const statement = enc.encode(JSON.stringify({
    _type: STATEMENT_V01,
    subject: [{ name: "blob", digest: hex }],
    predicateType: URI.slsa02,
    predicate: { builder: { id: "2" }, buildType: "x" },
  }));
  const env0 = await handEnvelope(k.pem, INTOTO, statement);
  await Deno.writeFile(`${tmp.path}/alg.json`, env0.bytes);
  const run = (alg: string, digest: string) =>
    vba(k.pub, [
      "--signature",
      `${tmp.path}/alg.json`,
      "--type",
      "slsaprovenance",
      "--digest",
      digest,
      "--digestAlg",
      alg,
    ], env);
  const [r256, r384, r512, wrong384, r1, rmd5, rEmpty, rUpper] = await Promise.all([
    run("sha256", hex.sha256),
    run("sha384", hex.sha384),
    run("sha512", hex.sha512),
    run("sha384", hex.sha256), // the sha256 value under the sha384 key: no match
    run("sha1", "a".repeat(40)),
    run("md5", "b".repeat(32)),
    run("", hex.sha256),
    run("SHA256", hex.sha256),
  ]);
  assertVerified(r256!, "sha256");
  assertVerified(r384!, "sha384");
  assertVerified(r512!, "sha512");
  assertRejected(wrong384!, /no matching subject digest found/, "sha384 with a sha256 value");
  for (
    const [r, alg] of [[r1, "sha1"], [rmd5, "md5"], [rEmpty, '""'], [rUpper, "SHA256"]] as const
  ) {
    const code = r!.code === 2 ? 2 : 1;
    assertRejected(r!, /digestAlg|digest algorithm|unsupported/i, `--digestAlg ${alg}`, code);
  }
});

Deno.test("verify-blob-attestation: malformed payloads are rejected in all three forms", async () => {
  await using tmp = await tempDir();
  const env = { HOME: tmp.path };
  const k = await opensslKey(tmp.path, "mal");
  const st = (o: unknown) => enc.encode(JSON.stringify(o));
  const subject = [{ name: "blob", digest: { sha256: BLOB_SHA256 } }];
  const cases: { name: string; payload: Uint8Array | undefined; type: string; fails?: RegExp }[] = [
    {
      name: "control: a well-formed SLSA 0.2 statement",
      payload: st({
        _type: STATEMENT_V01,
        subject,
        predicateType: URI.slsa02,
        predicate: { builder: { id: "2" }, buildType: "x" },
      }),
      type: "slsaprovenance",
    },
    {
      name: "control: a well-formed vuln statement",
      payload: st({
        _type: STATEMENT_V01,
        subject,
        predicateType: URI.vuln,
        predicate: JSON.parse(await Deno.readTextFile(PRED + "vuln-predicate.json")),
      }),
      type: "vuln",
    },
    {
      name: "1 statement without predicateType, empty --type",
      payload: st({ _type: STATEMENT_V01 }),
      type: "",
      fails: /missing predicate type/,
    },
    {
      name: "2 envelope without a payload field",
      payload: undefined,
      type: "slsaprovenance",
      fails: /payload/i,
    },
    {
      name: "3 payload is not JSON",
      payload: enc.encode("not-json"),
      type: "slsaprovenance",
      fails: /JSON|unmarshal|parse/i,
    },
    {
      name: "4 SLSA 0.2 predicate with builder: []",
      payload: st({
        _type: STATEMENT_V01,
        subject,
        predicateType: URI.slsa02,
        predicate: { builder: [] },
      }),
      type: "slsaprovenance",
      fails: /builder|unmarshal/i,
    },
    {
      name: "5 vuln predicate with scanner: []",
      payload: st({
        _type: STATEMENT_V01,
        subject,
        predicateType: URI.vuln,
        predicate: { scanner: [] },
      }),
      type: "vuln",
      fails: /scanner|unmarshal/i,
    },
  ];
  const runs: { label: string; fails?: RegExp; r: Promise<RunResult> }[] = [];
  for (const [i, c] of cases.entries()) {
    const e = await handEnvelope(k.pem, INTOTO, c.payload);
    const forms = await threeForms(tmp.path, `m${i}`, e, k.pub);
    for (const [form, flags] of Object.entries(forms)) {
      runs.push({
        label: `${c.name} (${form})`,
        ...(c.fails ? { fails: c.fails } : {}),
        r: vba(k.pub, ["--check-claims=false", "--type", c.type, ...flags], env),
      });
    }
  }
  const problems: string[] = [];
  for (const run of runs) {
    const r = await run.r;
    try {
      if (run.fails) assertRejected(r, run.fails, run.label);
      else assertVerified(r, run.label);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  assert(problems.length === 0, `\n${problems.join("\n")}`);
});

// =============================================================================================
// 2. attest / verify-attestation on an image, every predicate type

Deno.test("attest/verify-attestation: every predicate type on an image; --type filters", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const customText = 'héllo <world> & "quotes"\n\ttab\n';
  await Deno.writeTextFile(`${tmp.path}/custom.txt`, customText);
  const [k, a, b, none] = await Promise.all([
    genKey(tmp.path, "k"),
    pushImage(reg, "test/pred-a:v1"),
    pushImage(reg, "test/pred-b:v1", { layerBytes: enc.encode("image b") }),
    pushImage(reg, "test/none:v1"),
  ]);
  const json = async (f: string) => JSON.parse(await Deno.readTextFile(PRED + f));
  const spdxText = await Deno.readTextFile(PRED + "bom-go-mod.spdx");
  interface PredCase {
    file: string;
    type?: string;
    uri: string;
    check: (p: unknown) => void | Promise<void>;
  }
  const onA: PredCase[] = [
    {
      file: PRED + "bom-go-mod.spdx",
      type: "spdx",
      uri: URI.spdx,
      check: (p) => assert(p === spdxText, "spdx: the predicate is the file as a JSON string"),
    },
    {
      file: PRED + "bom-go-mod.cyclonedx.json",
      type: "cyclonedx",
      uri: URI.cyclonedx,
      check: async (p) => assertEquals(p, await json("bom-go-mod.cyclonedx.json")),
    },
    {
      file: PRED + "vuln-predicate.json",
      type: "vuln",
      uri: URI.vuln,
      check: async (p) => assertEquals(p, await json("vuln-predicate.json")),
    },
  ];
  const onB: PredCase[] = [
    {
      file: PRED + "bom-go-mod.spdx.json",
      type: "spdxjson",
      uri: URI.spdx,
      check: async (p) => assertEquals(p, await json("bom-go-mod.spdx.json")),
    },
    {
      file: PRED + "test-result.json",
      type: URI.testResult,
      uri: URI.testResult,
      check: (p) => assertEquals(p, { passed: true }),
    },
    {
      file: `${tmp.path}/custom.txt`,
      uri: URI.custom,
      check: (p) => {
        const c = p as { Data: unknown; Timestamp: unknown };
        assertEquals(Object.keys(c).sort(), ["Data", "Timestamp"]);
        assertEquals(c.Data, customText, "custom: Data is the file text");
        assert(
          typeof c.Timestamp === "string" &&
            /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c.Timestamp) &&
            Math.abs(Date.parse(c.Timestamp) - Date.now()) < 120_000,
          `custom: Timestamp is UTC RFC 3339, now: ${c.Timestamp}`,
        );
      },
    },
  ];
  const typeFlag = (c: PredCase) => (c.type ? ["--type", c.type] : []);
  // The two images are attested side by side; each image's attestations in turn.
  await Promise.all([[a, onA], [b, onB]].map(async ([img, cs]) => {
    for (const c of cs as PredCase[]) {
      await attestOk(k, (img as typeof a).ref, c.file, env, typeFlag(c));
    }
  }));

  for (const [img, repo, cs] of [[a, "test/pred-a", onA], [b, "test/pred-b", onB]] as const) {
    const m = await manifestOf(reg, `${repo}:${attTag(img.digest)}`);
    assertEquals(m.layers.map((l) => l.annotations?.predicateType), cs.map((c) => c.uri));
    for (const c of cs) {
      await labelled(`${repo} --type ${c.type ?? "(default)"}`, async () => {
        const { envelopes } = await verifyAttOk(k.pub, img.ref, env, typeFlag(c));
        assertEquals(envelopes.length, 1, "exactly the matching envelope");
        const e = envelopes[0]!;
        assertEquals(e.payloadType, INTOTO);
        const s = statementOf(e);
        assertEquals(s._type, STATEMENT_V01);
        assertEquals(s.predicateType, c.uri);
        assertEquals(s.subject, [{
          name: `${reg.host}/${repo}`,
          digest: { sha256: img.digest.slice(7) },
        }]);
        await c.check(s.predicate);
      });
    }
  }

  // A type with no attestation: the error names the types that were found.
  const miss = await verifyAtt(k.pub, a.ref, env); // default --type custom
  assertFails(miss, 1, /none of the attestations matched the predicate type/);
  for (const u of [URI.spdx, URI.cyclonedx, URI.vuln]) {
    assert(miss.stderr.includes(u), `stderr names ${u}: ${miss.stderr}`);
  }
  assertEquals(miss.out, "", "nothing on stdout");
  const miss2 = await verifyAtt(k.pub, b.ref, env, ["--type", "openvex"]);
  assertFails(miss2, 1, /none of the attestations matched the predicate type/);
  for (const u of [URI.spdx, URI.testResult, URI.custom]) {
    assert(miss2.stderr.includes(u), `stderr names ${u}: ${miss2.stderr}`);
  }
  assertEquals(miss2.out, "");

  // Another key verifies nothing; an image without attestations fails.
  const other = await genKey(tmp.path, "other");
  const wrongKey = await verifyAtt(other.pub, b.ref, env);
  assert(wrongKey.code !== 0 && wrongKey.out === "", `another key: ${wrongKey.stderr}`);
  assertFails(wrongKey, wrongKey.code);
  const nothing = await verifyAtt(k.pub, none.ref, env);
  assert(nothing.code !== 0, `unattested image: ${nothing.stderr}`);
  assertFails(nothing, nothing.code, /no matching attestations|no attestations/i);
});

// =============================================================================================
// 3. Independent check of what attest stores

Deno.test("attest: the .att layers checked with skopeo, curl and openssl over PAE", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, img] = await Promise.all([genKey(tmp.path, "k"), pushImage(reg, "test/ind:v1")]);
  // Non-ASCII text: PAE lengths are byte counts, not character counts.
  const text = "naïve ✓ attestation — 日本\n";
  await Deno.writeTextFile(`${tmp.path}/utf8.txt`, text);
  await attestOk(k, img.ref, PRED + "test-result.json", env, ["--type", URI.testResult]);
  await attestOk(k, img.ref, `${tmp.path}/utf8.txt`, env);

  const digest = await skopeoDigest(reg, "test/ind:v1");
  assertEquals(digest, img.digest);
  const m = await manifestOf(reg, `test/ind:sha256-${digest.slice(7)}.att`);
  assertEquals([m.schemaVersion, m.mediaType, m.config.mediaType], [2, OCI_MANIFEST, OCI_CONFIG]);
  assertEquals(m.layers.map((l) => l.mediaType), [DSSE_LAYER, DSSE_LAYER]);
  assertEquals(m.layers.map((l) => l.annotations), [
    { [SIG_ANNOTATION]: "", predicateType: URI.testResult },
    { [SIG_ANNOTATION]: "", predicateType: URI.custom },
  ]);
  const config = JSON.parse(dec.decode(await getBlob(reg, "test/ind", m.config.digest)));
  assertEquals(config.rootfs, { type: "layers", diff_ids: m.layers.map((l) => l.digest) });

  const blobs: Uint8Array[] = [];
  for (const layer of m.layers) {
    const blob = await getBlob(reg, "test/ind", layer.digest);
    assertEquals(layer.size, blob.length);
    blobs.push(blob);
    const raw = JSON.parse(dec.decode(blob)) as EnvelopeJson;
    assertEquals(Object.keys(raw), ["payloadType", "payload", "signatures"]);
    assertEquals(raw.payloadType, INTOTO);
    assertEquals(raw.signatures.length, 1);
    assertEquals(raw.signatures[0]!.keyid, "", "keyid present and empty");
    await opensslChecksEnvelope(tmp.path, k.pub, raw);
    const s = statementOf(raw);
    assertEquals(s.subject.length, 1);
    assertEquals(s.subject[0]!.digest.sha256, digest.slice(7));
    assertEquals(s.predicateType, layer.annotations?.predicateType);
  }
  const [tr, cu] = blobs.map((b) => statementOf(JSON.parse(dec.decode(b)) as EnvelopeJson));
  assertEquals(tr!.predicate, { passed: true });
  assertEquals((cu!.predicate as { Data: string }).Data, text);

  // verify-attestation prints the stored envelope bytes unchanged.
  const { r } = await verifyAttOk(k.pub, img.ref, env, ["--type", URI.testResult]);
  assertEquals(r.out, dec.decode(blobs[0]) + "\n");
  const c = await verifyAttOk(k.pub, img.ref, env);
  assertEquals(c.r.out, dec.decode(blobs[1]) + "\n");
});

// =============================================================================================
// 4. Replace, accumulate, concurrent writers

Deno.test("attest: without --replace attestations accumulate; --replace drops only the same type", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, img] = await Promise.all([genKey(tmp.path, "k"), pushImage(reg, "test/repl:v1")]);
  const p1 = `${tmp.path}/p1.txt`, p2 = `${tmp.path}/p2.txt`;
  await Deno.writeTextFile(p1, "first predicate");
  await Deno.writeTextFile(p2, "second predicate");
  const layersNow = async () => (await manifestOf(reg, `test/repl:${attTag(img.digest)}`)).layers;

  await attestOk(k, img.ref, p1, env);
  const t1 = Math.floor(Date.now() / 1000);
  const one = await layersNow();
  assertEquals(one.length, 1);
  // Same file, a later second: a different Timestamp, so different content; both are kept.
  await new Promise((r) => setTimeout(r, (t1 + 1) * 1000 - Date.now() + 50));
  await attestOk(k, img.ref, p1, env);
  const two = await layersNow();
  assertEquals(two.length, 2, "two custom attestations made at different times");
  assert(two[0]!.digest !== two[1]!.digest, "different content");
  assertEquals(two[0]!.digest, one[0]!.digest, "the first is kept");

  await attestOk(k, img.ref, PRED + "vuln-predicate.json", env, ["--type", "vuln"]);
  const three = await layersNow();
  assertEquals(three.map((l) => l.annotations?.predicateType), [URI.custom, URI.custom, URI.vuln]);
  const vulnLayer = three[2]!.digest;

  await attestOk(k, img.ref, p2, env, ["--replace"]);
  const after = await layersNow();
  assertEquals(after.length, 2, "both custom layers replaced by one");
  assert(after.some((l) => l.digest === vulnLayer), "the vuln attestation is kept");
  const custom = after.filter((l) => l.annotations?.predicateType === URI.custom);
  assertEquals(custom.length, 1);
  assert(!two.some((l) => l.digest === custom[0]!.digest), "the custom layer is the new one");
  const c = await verifyAttOk(k.pub, img.ref, env);
  assertEquals(c.envelopes.length, 1);
  assertEquals(
    (statementOf(c.envelopes[0]!).predicate as { Data: string }).Data,
    "second predicate",
  );
  assertEquals((await verifyAttOk(k.pub, img.ref, env, ["--type", "vuln"])).envelopes.length, 1);

  // --replace of the vuln type (another scanner) keeps the custom one.
  const vuln2 = JSON.parse(await Deno.readTextFile(PRED + "vuln-predicate.json"));
  vuln2.scanner.uri = "other-scanner.example.com";
  await Deno.writeTextFile(`${tmp.path}/vuln2.json`, JSON.stringify(vuln2));
  await attestOk(k, img.ref, `${tmp.path}/vuln2.json`, env, ["--type", "vuln", "--replace"]);
  const last = await layersNow();
  assertEquals(last.length, 2);
  assert(last.some((l) => l.digest === custom[0]!.digest), "custom kept by a vuln --replace");
  assert(!last.some((l) => l.digest === vulnLayer), "the old vuln layer is gone");
  const v = await verifyAttOk(k.pub, img.ref, env, ["--type", "vuln"]);
  assertEquals(v.envelopes.length, 1);
  assertEquals(
    (statementOf(v.envelopes[0]!).predicate as { scanner: { uri: string } }).scanner.uri,
    "other-scanner.example.com",
  );
});

Deno.test("attest: six concurrent attest processes lose no attestation", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, img] = await Promise.all([genKey(tmp.path, "k"), pushImage(reg, "test/conc:v1")]);
  const texts = Array.from({ length: 6 }, (_, i) => `concurrent predicate #${i}`);
  await Promise.all(texts.map((t, i) => Deno.writeTextFile(`${tmp.path}/c${i}.txt`, t)));
  const rs = await Promise.all(
    texts.map((_, i) => attest(k, img.ref, `${tmp.path}/c${i}.txt`, env)),
  );
  rs.forEach((r, i) => assertEquals(r.code, 0, `attest #${i}: ${r.stderr}`));
  const m = await manifestOf(reg, `test/conc:${attTag(img.digest)}`);
  assertEquals(m.layers.length, 6, "six layers");
  assertEquals(new Set(m.layers.map((l) => l.digest)).size, 6);
  const { envelopes } = await verifyAttOk(k.pub, img.ref, env);
  assertEquals(
    envelopes.map((e) => (statementOf(e).predicate as { Data: string }).Data).sort(),
    [...texts].sort(),
  );
});

// =============================================================================================
// 5. Failures

Deno.test("verify-attestation: a tampered envelope and an attestation moved to another image fail", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, a, b, t] = await Promise.all([
    genKey(tmp.path, "k"),
    pushImage(reg, "test/move:a"),
    pushImage(reg, "test/move:b", { layerBytes: enc.encode("image b") }),
    pushImage(reg, "test/tamper:v1"),
  ]);
  assert(a.digest !== b.digest, "two different images");
  await Promise.all([
    attestOk(k, a.ref, PRED + "test-result.json", env),
    attestOk(k, t.ref, PRED + "test-result.json", env),
  ]);

  // Tampered payload: a modified envelope blob, the .att manifest re-pushed to point at it.
  const tTag = `test/tamper:${attTag(t.digest)}`;
  await verifyAttOk(k.pub, t.ref, env); // intact before
  const m = await manifestOf(reg, tTag);
  const orig = JSON.parse(
    dec.decode(await getBlob(reg, "test/tamper", m.layers[0]!.digest)),
  ) as EnvelopeJson;
  const st = statementOf(orig);
  (st.predicate as { Data: string }).Data = '{"passed": false}';
  const forged = enc.encode(
    JSON.stringify({ ...orig, payload: b64(enc.encode(JSON.stringify(st))) }),
  );
  const d = await pushBlob(reg, "test/tamper", forged);
  m.layers[0] = { ...m.layers[0]!, digest: d.digest, size: d.size };
  await putManifest(reg, "test/tamper", attTag(t.digest), enc.encode(JSON.stringify(m)));
  const tampered = await verifyAtt(k.pub, t.ref, env);
  assertFails(tampered, 1, /signature/i);
  assertEquals(tampered.out, "", "nothing printed for a tampered envelope");

  // The attestation of image A under B's .att tag: the subject is A's digest.
  const aManifest = await inspectRaw(reg, `test/move:${attTag(a.digest)}`);
  await putManifest(reg, "test/move", attTag(b.digest), aManifest);
  const moved = await verifyAtt(k.pub, b.ref, env);
  assertFails(moved, 1, /no matching subject digest found/);
  assertEquals(moved.out, "");
  await verifyAttOk(k.pub, a.ref, env); // still fine where it belongs
  // Control: only the claim fails; with --check-claims=false the signature verifies.
  await verifyAttOk(k.pub, b.ref, env, ["--check-claims=false"]);
});

Deno.test("attestations: payloadType text/plain is refused by attach and fails verify", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [ok, bad, img] = await Promise.all([
    opensslKey(tmp.path, "o"),
    pushImage(reg, "test/ptype-bad:v1"),
    pushImage(reg, "test/ptype-good:v1"),
  ]);
  assertEquals(bad.digest, img.digest, "same image content in both repositories");
  const statement = enc.encode(JSON.stringify({
    _type: STATEMENT_V01,
    subject: [{ name: `${reg.host}/test/ptype-bad`, digest: { sha256: bad.digest.slice(7) } }],
    predicateType: URI.custom,
    predicate: { Data: "x", Timestamp: "2024-01-01T00:00:00Z" },
  }));
  const plain = await handEnvelope(ok.pem, "text/plain", statement);
  const good = await handEnvelope(ok.pem, INTOTO, statement);
  await Deno.writeFile(`${tmp.path}/plain.json`, plain.bytes);

  const attach = await cosign(
    ["attach", "attestation", "--attestation", `${tmp.path}/plain.json`, bad.ref],
    { env },
  );
  assert(attach.code !== 0, `attach must refuse text/plain: ${attach.stderr}`);
  assertFails(attach, attach.code, /payloadType|payload type/i);
  assert(!(await tagExists(reg, `test/ptype-bad:${attTag(bad.digest)}`)), "nothing attached");

  // Pushed by hand instead: verify refuses it; the same statement as in-toto verifies (control).
  await pushAttImage(reg, "test/ptype-bad", attTag(bad.digest), [
    { bytes: plain.bytes, predicateType: URI.custom },
  ]);
  await pushAttImage(reg, "test/ptype-good", attTag(img.digest), [
    { bytes: good.bytes, predicateType: URI.custom },
  ]);
  const v = await verifyAtt(ok.pub, bad.ref, env);
  assertFails(v, 1, /payloadType|payload type/i);
  assertEquals(v.out, "");
  const g = await verifyAttOk(ok.pub, img.ref, env);
  assertEquals(g.r.out, dec.decode(good.bytes) + "\n");
});

Deno.test("attest: a predicate that is not JSON is refused for JSON types; nothing is pushed", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, img] = await Promise.all([genKey(tmp.path, "k"), pushImage(reg, "test/notjson:v1")]);
  for (const type of ["spdxjson", "cyclonedx", URI.testResult]) {
    const r = await attest(k, img.ref, PRED + "bom-go-mod.spdx", env, ["--type", type]);
    await labelled(`--type ${type}`, () => assertFails(r, 1, /JSON/));
  }
  assert(!(await tagExists(reg, `test/notjson:${attTag(img.digest)}`)), "no .att tag");
  // Control: the same file is accepted as --type spdx (a JSON string predicate).
  await attestOk(k, img.ref, PRED + "bom-go-mod.spdx", env, ["--type", "spdx"]);
  assert(await tagExists(reg, `test/notjson:${attTag(img.digest)}`), ".att tag after spdx");
});

// =============================================================================================
// 6. attest-blob

Deno.test("attest-blob / verify-blob-attestation: round trip, openssl over PAE, mismatches", async () => {
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const k = await genKey(tmp.path, "k");
  const blob = `${tmp.path}/artifact.bin`, other = `${tmp.path}/other.bin`;
  await Deno.writeTextFile(blob, "the artifact\n");
  await Deno.writeTextFile(other, "another artifact\n");
  const out = `${tmp.path}/att.json`, stFile = `${tmp.path}/statement.json`;
  const a = await cosign([
    "attest-blob",
    "--key",
    k.key,
    "--predicate",
    PRED + "test-result.json",
    "--type",
    URI.testResult,
    "--output-signature",
    out,
    "--output-attestation",
    stFile,
    "--tlog-upload=false",
    blob,
  ], { env });
  assertEquals(a.code, 0, a.stderr);
  const envBytes = await Deno.readFile(out);
  const e = JSON.parse(dec.decode(envBytes)) as EnvelopeJson;
  assertEquals(e.payloadType, INTOTO);
  assertEquals(e.signatures[0]!.keyid, "");
  await opensslChecksEnvelope(tmp.path, k.pub, e);
  const s = statementOf(e);
  assertEquals(s.subject, [{
    name: "artifact.bin",
    digest: { sha256: await hexDigest("SHA-256", await Deno.readFile(blob)) },
  }]);
  assertEquals([s._type, s.predicateType], [STATEMENT_V01, URI.testResult]);
  assertEquals(s.predicate, { passed: true });
  assertEquals(dec.decode(await Deno.readFile(stFile)), dec.decode(unb64(e.payload)));

  const sig = ["--signature", out];
  const [okRun, otherRun, typeRun, keyRun] = await Promise.all([
    vba(k.pub, [...sig, "--type", URI.testResult, blob], env),
    vba(k.pub, [...sig, "--type", URI.testResult, other], env),
    vba(k.pub, [...sig, blob], env),
    vba(BA + "cosign.pub", [...sig, "--type", URI.testResult, blob], env),
  ]);
  assertVerified(okRun!, "round trip");
  assertRejected(otherRun!, /no matching subject digest found/, "another blob");
  assertRejected(typeRun!, /invalid predicate type/, "default type custom");
  assertRejected(keyRun!, /signature|key/i, "another key");

  // Without --output-signature the envelope goes to stdout; default type custom.
  const b = await cosign([
    "attest-blob",
    "--key",
    k.key,
    "--predicate",
    PRED + "vuln-predicate.json",
    "--tlog-upload=false",
    blob,
  ], { env });
  assertEquals(b.code, 0, b.stderr);
  assertEquals(lines(b.out).length, 1, "one envelope on stdout");
  const e2 = envelopeOf(lines(b.out)[0]!);
  await opensslChecksEnvelope(tmp.path, k.pub, e2);
  const p2 = statementOf(e2).predicate as { Data: string };
  assertEquals(p2.Data, await Deno.readTextFile(PRED + "vuln-predicate.json"));
  await Deno.writeTextFile(`${tmp.path}/stdout.json`, b.out);
  assertVerified(await vba(k.pub, ["--signature", `${tmp.path}/stdout.json`, blob], env), "stdout");
});

// =============================================================================================
// 7. attach / download attestation, attach / download sbom

Deno.test("attach attestation: two concatenated envelopes; download attestation and --predicate-type", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [k, img] = await Promise.all([genKey(tmp.path, "k"), pushImage(reg, "test/attach:v1")]);
  const [e1, e2] = await Promise.all([
    attestOk(k, img.ref, PRED + "test-result.json", env, ["--no-upload"]),
    attestOk(k, img.ref, PRED + "vuln-predicate.json", env, ["--no-upload", "--type", "vuln"]),
  ]);
  const env1 = e1.out.trim(), env2 = e2.out.trim();
  assertEquals(lines(e1.out).length, 1);
  assertEquals(statementOf(envelopeOf(env2)).predicateType, URI.vuln);
  const attTagName = `test/attach:${attTag(img.digest)}`;
  assert(!(await tagExists(reg, attTagName)), "--no-upload pushes nothing");

  await Deno.writeTextFile(`${tmp.path}/both.json`, env1 + env2 + "\n");
  const at = await cosign(
    ["attach", "attestation", "--attestation", `${tmp.path}/both.json`, img.ref],
    { env },
  );
  assertEquals(at.code, 0, at.stderr);
  const m = await manifestOf(reg, attTagName);
  assertEquals(m.layers.map((l) => l.mediaType), [DSSE_LAYER, DSSE_LAYER]);
  assertEquals(m.layers.map((l) => l.annotations), [
    { [SIG_ANNOTATION]: "", predicateType: URI.custom },
    { [SIG_ANNOTATION]: "", predicateType: URI.vuln },
  ]);

  const all = await cosign(["download", "attestation", img.ref], { env });
  assertEquals(all.code, 0, all.stderr);
  assertEquals(all.out, `${env1}\n${env2}\n`);
  const vuln = await cosign(["download", "attestation", "--predicate-type", "vuln", img.ref], {
    env,
  });
  assertEquals(vuln.code, 0, vuln.stderr);
  assertEquals(vuln.out, `${env2}\n`);
  const custom = await cosign(
    ["download", "attestation", "--predicate-type", URI.custom, img.ref],
    { env },
  );
  assertEquals(custom.code, 0, custom.stderr);
  assertEquals(custom.out, `${env1}\n`);
  const spdx = await cosign(["download", "attestation", "--predicate-type", "spdx", img.ref], {
    env,
  });
  assert(spdx.out === "", `no spdx attestation printed: ${spdx.out}`);

  // The attached envelopes verify.
  const v = await verifyAttOk(k.pub, img.ref, env, ["--type", "vuln"]);
  assertEquals(v.r.out, `${env2}\n`);
});

Deno.test("attach sbom / download sbom: byte-identical round trip and the expected errors", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const [img, img2, bare] = await Promise.all([
    pushImage(reg, "test/sbom:v1"),
    pushImage(reg, "test/sbom-stdin:v1"),
    pushImage(reg, "test/sbom-none:v1"),
  ]);
  const sbomPath = PRED + "bom-go-mod.spdx";
  const sbom = await Deno.readFile(sbomPath);

  const before = await cosign(["download", "sbom", img.ref], { env });
  assert(before.code !== 0 && before.out === "", `download before attach: ${before.stderr}`);
  assertFails(before, before.code, /sbom/i);

  const at = await cosign(["attach", "sbom", "--sbom", sbomPath, "--type", "spdx", img.ref], {
    env,
  });
  assertEquals(at.code, 0, at.stderr);
  const m = await manifestOf(reg, `test/sbom:${img.digest.replace(":", "-")}.sbom`);
  assertEquals(m.layers.map((l) => [l.mediaType, l.size]), [["text/spdx", sbom.length]]);
  const dl = await cosign(["download", "sbom", img.ref], { env });
  assertEquals(dl.code, 0, dl.stderr);
  assert(dl.stdout.length === sbom.length && dl.stdout.every((x, i) => x === sbom[i]), "bytes");

  // From stdin.
  const st = await cosign(["attach", "sbom", "--sbom", "-", "--type", "spdx", img2.ref], {
    env,
    stdin: sbom,
  });
  assertEquals(st.code, 0, st.stderr);
  const dl2 = await cosign(["download", "sbom", img2.ref], { env });
  assertEquals(dl2.code, 0, dl2.stderr);
  assert(dl2.stdout.length === sbom.length && dl2.stdout.every((x, i) => x === sbom[i]), "stdin");

  // --platform on a single-platform image.
  const plat = await cosign(["download", "sbom", "--platform", "darwin/amd64", img.ref], { env });
  assert(plat.code !== 0 && plat.out === "", `--platform on a single image: ${plat.stderr}`);
  assertFails(plat, plat.code, /platform|index/i);

  // An empty --sbom.
  const empty = await cosign(["attach", "sbom", "--sbom", "", "--type", "spdx", bare.ref], { env });
  assert(empty.code !== 0, `--sbom "": ${empty.stderr}`);
  assertFails(empty, empty.code, /sbom|empty|required/i);
  const still = await cosign(["download", "sbom", bare.ref], { env });
  assert(still.code !== 0, "nothing was attached by the failed attempt");
});

Deno.test("attach sbom: the SBOM content itself as --sbom fails with a short, clear message", async () => {
  await using reg = await startRegistry();
  await using tmp = await tempDir();
  const env = baseEnv(tmp.path);
  const img = await pushImage(reg, "test/sbom-content:v1");
  const text = await Deno.readTextFile(PRED + "bom-go-mod.spdx");
  // Short content, and content longer than a path may be (PATH_MAX 4096; a real SBOM is).
  const problems: string[] = [];
  for (const content of [text.slice(0, 300), text.slice(0, 6000), text.slice(0, 100_000)]) {
    const r = await cosign(["attach", "sbom", "--sbom", content, "--type", "spdx", img.ref], {
      env,
    });
    await labelled(`--sbom <${content.length} bytes of SBOM content>`, () => {
      assert(r.code !== 0, `must fail: ${r.stderr.slice(0, 300)}`);
      assertFails(r, r.code, /sbom/i);
      assert(
        r.stderr.length < 600,
        `a short message that does not echo the SBOM (${r.stderr.length} chars): ${
          r.stderr.slice(0, 200)
        }…`,
      );
      assert(/not the SBOM itself/i.test(r.stderr), `says why: ${r.stderr.slice(0, 200)}`);
    }).catch((e) => problems.push(e instanceof Error ? e.message : String(e)));
  }
  const still = await cosign(["download", "sbom", img.ref], { env });
  assert(still.code !== 0, "nothing was attached by the failed attempts");
  assert(problems.length === 0, `\n${problems.join("\n")}`);
});
