/**
 * Differential test: our bundle verifier (`parseBundle` + `verifyBundle`, as `verify-blob
 * --bundle` drives them) against sigstore-js (`@sigstore/verify` 4.1.3 under Node, installed by
 * `scripts/setup.sh` into `.bench-cache/sigstore-verify/`) on the sigstore-conformance
 * `bundle-verify` cases (plus cosign's production DSSE bundle of `fixtures/bundles`) and on
 * mutations of them: field edits of the signature, digest, DSSE envelope, transparency-log
 * entries (integrated time, log index, log ID, kind, SET, inclusion proof, checkpoint, body),
 * certificate, key hint, RFC 3161 timestamps, duplicated entries and media type. Cases that
 * must pass get every edit; `_fail` cases get the removals and a rotating third of the rest.
 *
 * Each case is verified by both, with the same artifact, trusted root and policy (the case's
 * identity and issuer, or its key). sigstore-js runs once, in one Node process, over the whole
 * corpus (under Deno its SET check fails). Verdicts must agree: verified, or refused. Every
 * disagreement must be listed in {@link KNOWN_DIFFERENCES} with the reason ours is right
 * (entries marked `pending` name rules another change is settling, and may agree already);
 * an unlisted disagreement fails the test, and so does a listed one that no longer happens
 * (unless pending), so the list stays true.
 *
 * sigstore-js checks an envelope, not its claims: for DSSE bundles the driver matches the
 * artifact's SHA-256 to an in-toto subject, as the conformance protocol asks of every client.
 * @module
 */
import { CosignError } from "../lib/errors.ts";
import { parseBundle } from "../lib/cosign/bundle.ts";
import { type BundleSigner, verifyBundle } from "../lib/cosign/verify_bundle.ts";
import { loadVerifier } from "../lib/cosign/keyref.ts";
import { parseTrustedRoot, type TrustedRoot } from "../lib/trust/trusted_root.ts";
import { type ConformanceCase, loadCases } from "./harness/conformance.ts";
import { assert, assertEquals, FIXTURES, ROOT, tempDir } from "./helpers.ts";

const PEER_DIR = ROOT + ".bench-cache/sigstore-verify/";

/**
 * The peer: reads a JSON list of cases, verifies each with @sigstore/verify's defaults (one
 * transparency-log entry, one timestamp, one SCT), prints a JSON list of verdicts.
 */
const PEER_SCRIPT = `
import { readFileSync } from "node:fs";
import { createHash, createPublicKey } from "node:crypto";
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(PEER_DIR + "x.js")});
const { bundleFromJSON } = require("@sigstore/bundle");
const { TrustedRoot } = require("@sigstore/protobuf-specs");
const { toSignedEntity, toTrustMaterial, Verifier } = require("@sigstore/verify");
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const trust = new Map();
const material = (c) => {
  const id = c.root + "\\0" + (c.key ?? "");
  if (!trust.has(id)) {
    const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(c.root, "utf8")));
    const publicKey = c.key && createPublicKey(readFileSync(c.key));
    trust.set(id, toTrustMaterial(root, publicKey && (() => ({ publicKey, validFor: () => true }))));
  }
  return trust.get(id);
};
const out = [];
for (const c of cases) {
  try {
    const artifact = readFileSync(c.artifact);
    const bundle = bundleFromJSON(JSON.parse(c.bundle));
    const policy = c.key ? undefined : { subjectAlternativeName: c.identity, extensions: { issuer: c.issuer } };
    new Verifier(material(c)).verify(toSignedEntity(bundle, artifact), policy);
    if (bundle.content.$case === "dsseEnvelope") {
      // The conformance protocol's claim check, which @sigstore/verify leaves to its callers.
      const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString("utf8"));
      const digest = createHash("sha256").update(artifact).digest("hex");
      if (!(statement.subject ?? []).some((s) => s?.digest?.sha256 === digest)) {
        throw new Error("no in-toto subject has the artifact's sha256");
      }
    }
    out.push({ ok: true });
  } catch (e) {
    out.push({ ok: false, error: String((e && e.message) || e) });
  }
}
process.stdout.write(JSON.stringify(out));
`;

/** One verification to run on both sides. */
interface BundleCase {
  readonly base: ConformanceCase;
  /** The mutation applied ("" for the case as published). */
  readonly mutation: string;
  readonly bundle: string;
}

interface Verdict {
  readonly ok: boolean;
  readonly error?: string;
}

// ---------------------------------------------------------------------------------------------
// Mutations: deterministic field edits of a bundle's JSON

// deno-lint-ignore no-explicit-any
type Json = any;

const b64 = {
  flip(text: string, at = -1): string {
    const bytes = Uint8Array.fromBase64(text);
    const i = at < 0 ? bytes.length + at : at;
    bytes[i]! ^= 0x01;
    return bytes.toBase64();
  },
};

function vm(b: Json): Json {
  return b.verificationMaterial;
}

function entry(b: Json): Json {
  return vm(b)?.tlogEntries?.[0];
}

function proof(b: Json): Json {
  return entry(b)?.inclusionProof;
}

function envelopeOf(b: Json): Json {
  return b.dsseEnvelope;
}

/** Edits one line of the checkpoint note (0: origin, 1: size, 2: root hash, last: signature). */
function editCheckpoint(b: Json, edit: (lines: string[]) => void): boolean {
  const cp = proof(b)?.checkpoint;
  if (typeof cp?.envelope !== "string") return false;
  const lines = cp.envelope.split("\n");
  edit(lines);
  cp.envelope = lines.join("\n");
  return true;
}

/** Each mutation edits the bundle in place and says whether it applied. */
const MUTATIONS: Record<string, (b: Json, others: readonly Json[]) => boolean> = {
  "signature bit flipped": (b) => {
    const env = envelopeOf(b);
    if (env?.signatures?.[0]?.sig) env.signatures[0].sig = b64.flip(env.signatures[0].sig);
    else if (b.messageSignature?.signature) {
      b.messageSignature.signature = b64.flip(b.messageSignature.signature);
    } else return false;
    return true;
  },
  "message digest bit flipped": (b) => {
    const d = b.messageSignature?.messageDigest;
    if (!d?.digest) return false;
    d.digest = b64.flip(d.digest);
    return true;
  },
  "message digest algorithm SHA2_512": (b) => {
    const d = b.messageSignature?.messageDigest;
    if (!d) return false;
    d.algorithm = "SHA2_512";
    return true;
  },
  "DSSE payload bit flipped": (b) => {
    const env = envelopeOf(b);
    if (!env?.payload) return false;
    env.payload = b64.flip(env.payload, 10);
    return true;
  },
  "DSSE payloadType changed": (b) => {
    const env = envelopeOf(b);
    if (!env) return false;
    env.payloadType = "application/vnd.in-toto+json; x=1";
    return true;
  },
  "DSSE signature duplicated": (b) => {
    const env = envelopeOf(b);
    if (!env?.signatures?.[0]) return false;
    env.signatures.push(structuredClone(env.signatures[0]));
    return true;
  },
  "integratedTime plus one second": (b) => {
    const e = entry(b);
    if (!e?.integratedTime || e.integratedTime === "0") return false;
    e.integratedTime = String(Number(e.integratedTime) + 1);
    return true;
  },
  "integratedTime one year earlier": (b) => {
    const e = entry(b);
    if (!e?.integratedTime || e.integratedTime === "0") return false;
    e.integratedTime = String(Number(e.integratedTime) - 365 * 86400);
    return true;
  },
  "integratedTime in 2100": (b) => {
    const e = entry(b);
    if (!e) return false;
    e.integratedTime = "4102444800";
    return true;
  },
  "integratedTime removed": (b) => {
    const e = entry(b);
    if (!e?.integratedTime) return false;
    delete e.integratedTime;
    return true;
  },
  "logIndex plus one": (b) => {
    const e = entry(b);
    if (e?.logIndex === undefined) return false;
    e.logIndex = String(Number(e.logIndex) + 1);
    return true;
  },
  "logIndex negative": (b) => {
    const e = entry(b);
    if (e?.logIndex === undefined) return false;
    e.logIndex = "-1";
    return true;
  },
  "logId bit flipped": (b) => {
    const e = entry(b);
    if (!e?.logId?.keyId) return false;
    e.logId.keyId = b64.flip(e.logId.keyId);
    return true;
  },
  "kindVersion kind changed": (b) => {
    const e = entry(b);
    if (!e?.kindVersion) return false;
    e.kindVersion.kind = e.kindVersion.kind === "dsse" ? "hashedrekord" : "dsse";
    return true;
  },
  "kindVersion version changed": (b) => {
    const e = entry(b);
    if (!e?.kindVersion) return false;
    e.kindVersion.version = "9.9.9";
    return true;
  },
  "inclusionPromise removed": (b) => {
    const e = entry(b);
    if (!e?.inclusionPromise) return false;
    delete e.inclusionPromise;
    return true;
  },
  "SET bit flipped": (b) => {
    const p = entry(b)?.inclusionPromise;
    if (!p?.signedEntryTimestamp) return false;
    p.signedEntryTimestamp = b64.flip(p.signedEntryTimestamp, 10);
    return true;
  },
  "inclusionProof removed": (b) => {
    const e = entry(b);
    if (!e?.inclusionProof) return false;
    delete e.inclusionProof;
    return true;
  },
  "proof rootHash bit flipped": (b) => {
    const p = proof(b);
    if (!p?.rootHash) return false;
    p.rootHash = b64.flip(p.rootHash);
    return true;
  },
  "proof treeSize plus one": (b) => {
    const p = proof(b);
    if (p?.treeSize === undefined) return false;
    p.treeSize = String(Number(p.treeSize) + 1);
    return true;
  },
  "proof logIndex plus one": (b) => {
    const p = proof(b);
    if (p?.logIndex === undefined) return false;
    p.logIndex = String(Number(p.logIndex) + 1);
    return true;
  },
  "proof hash removed": (b) => {
    const p = proof(b);
    if (!p?.hashes?.length) return false;
    p.hashes.pop();
    return true;
  },
  "proof hash bit flipped": (b) => {
    const p = proof(b);
    if (!p?.hashes?.length) return false;
    p.hashes[0] = b64.flip(p.hashes[0]);
    return true;
  },
  "checkpoint removed": (b) => {
    const p = proof(b);
    if (!p?.checkpoint) return false;
    delete p.checkpoint;
    return true;
  },
  "checkpoint origin changed": (b) => editCheckpoint(b, (l) => l[0] += "x"),
  "checkpoint size plus one": (b) => editCheckpoint(b, (l) => l[1] = String(Number(l[1]) + 1)),
  "checkpoint root hash changed": (b) => editCheckpoint(b, (l) => l[2] = b64.flip(l[2]!)),
  "checkpoint signature bit flipped": (b) =>
    editCheckpoint(b, (l) => {
      const i = l.findIndex((x) => x.startsWith("\u2014 "));
      const [dash, name, sig] = l[i]!.split(" ");
      l[i] = `${dash} ${name} ${b64.flip(sig!)}`;
    }),
  "body bit flipped": (b) => {
    const e = entry(b);
    if (!e?.canonicalizedBody) return false;
    e.canonicalizedBody = b64.flip(e.canonicalizedBody, 40);
    return true;
  },
  "certificate bit flipped": (b) => {
    const c = vm(b)?.certificate ?? vm(b)?.x509CertificateChain?.certificates?.[0];
    if (!c?.rawBytes) return false;
    c.rawBytes = b64.flip(c.rawBytes, -20); // in the signature: still parses
    return true;
  },
  "certificate from another bundle": (b, others) => {
    const mine = vm(b)?.certificate ?? vm(b)?.x509CertificateChain?.certificates?.[0];
    if (!mine?.rawBytes) return false;
    const other = others.map((o) => vm(o)?.certificate?.rawBytes).find((r) =>
      r && r !== mine.rawBytes
    );
    if (!other) return false;
    mine.rawBytes = other;
    return true;
  },
  "certificate given as a one-element chain": (b) => {
    const v = vm(b);
    if (!v?.certificate) return false;
    v.x509CertificateChain = { certificates: [v.certificate] };
    delete v.certificate;
    return true;
  },
  "public key hint changed": (b) => {
    const k = vm(b)?.publicKey;
    if (!k) return false;
    k.hint = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    return true;
  },
  "timestamps removed": (b) => {
    const t = vm(b)?.timestampVerificationData;
    if (!t?.rfc3161Timestamps?.length) return false;
    delete vm(b).timestampVerificationData;
    return true;
  },
  "timestamp duplicated": (b) => {
    const t = vm(b)?.timestampVerificationData?.rfc3161Timestamps;
    if (!t?.length) return false;
    t.push(structuredClone(t[0]));
    return true;
  },
  "timestamp bit flipped": (b) => {
    const t = vm(b)?.timestampVerificationData?.rfc3161Timestamps;
    if (!t?.length) return false;
    t[0].signedTimestamp = b64.flip(t[0].signedTimestamp, -10);
    return true;
  },
  "timestamp from another bundle added": (b, others) => {
    const mine = vm(b)?.timestampVerificationData?.rfc3161Timestamps?.[0]?.signedTimestamp;
    const other = others.flatMap((o) => vm(o)?.timestampVerificationData?.rfc3161Timestamps ?? [])
      .find((t: Json) => t.signedTimestamp !== mine);
    if (!other || !vm(b)) return false;
    vm(b).timestampVerificationData ??= { rfc3161Timestamps: [] };
    vm(b).timestampVerificationData.rfc3161Timestamps ??= [];
    vm(b).timestampVerificationData.rfc3161Timestamps.push(structuredClone(other));
    return true;
  },
  "tlog entry duplicated": (b) => {
    const e = entry(b);
    if (!e) return false;
    vm(b).tlogEntries.push(structuredClone(e));
    return true;
  },
  "tlog entry duplicated with another logIndex": (b) => {
    const e = entry(b);
    if (e?.logIndex === undefined) return false;
    const copy = structuredClone(e);
    copy.logIndex = String(Number(e.logIndex) + 1000);
    vm(b).tlogEntries.push(copy);
    return true;
  },
  "tlog entries removed": (b) => {
    if (!vm(b)?.tlogEntries?.length) return false;
    vm(b).tlogEntries = [];
    return true;
  },
  "tlog entry from another bundle added": (b, others) => {
    const mine = entry(b)?.canonicalizedBody;
    const other = others.flatMap((o) => vm(o)?.tlogEntries ?? []).find((e: Json) =>
      e.canonicalizedBody !== mine
    );
    if (!other || !vm(b)?.tlogEntries) return false;
    vm(b).tlogEntries.push(structuredClone(other));
    return true;
  },
  "media type v0.1": (b) => {
    if (b.mediaType === "application/vnd.dev.sigstore.bundle+json;version=0.1") return false;
    b.mediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1";
    return true;
  },
  "media type v0.3": (b) => {
    if (b.mediaType === "application/vnd.dev.sigstore.bundle.v0.3+json") return false;
    b.mediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    return true;
  },
  "media type unknown": (b) => {
    b.mediaType = "application/vnd.dev.sigstore.bundle.v0.9+json";
    return true;
  },
};

// ---------------------------------------------------------------------------------------------
// Known differences

/** A disagreement ours is right about. */
interface KnownDifference {
  /** The mutation ("" for a published case). */
  readonly mutation: string;
  /** The cases it concerns (all those where it happens, when absent). */
  readonly cases?: readonly string[];
  /** Ours's verdict (the peer's is the other). */
  readonly ours: "verifies" | "refuses";
  readonly reason: string;
  /** Verification rules being changed elsewhere: may already agree. */
  readonly pending?: boolean;
}

const V01 = [
  "happy-path-v0.1",
  "checkpoint-bad-keyhint_fail",
  "trust-root-tlog-validity-end-inclusive",
];
const REKOR_V2 = [
  "rekor2-checkpoint-multiple-cosigs",
  "rekor2-checkpoint-origin-not-first",
  "rekor2-checkpoint-two-sigs-from-origin",
  "rekor2-timestamp-with-expired-cert-chain",
  "rekor2-timestamp-without-embedded-cert",
];

const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    mutation: "checkpoint removed",
    cases: V01,
    ours: "verifies",
    reason: "protobuf-specs: a v0.1 bundle needs the SET, its inclusion proof is optional, and " +
      "a proof without a checkpoint proves nothing, so it is not relied on (issue 14); the SET " +
      "verifies. sigstore-js fails with a TypeError reading checkpoint.envelope, not a verdict.",
  },
  {
    mutation: "media type v0.1",
    cases: ["happy-path-v0.3", "bundles/oci-attestation"],
    ours: "refuses",
    reason: "protobuf-specs bundle.proto: verificationMaterial.certificate exists from v0.3; a " +
      "v0.1 bundle carries x509CertificateChain. sigstore-js does not check the pairing.",
  },
  {
    mutation: "media type unknown",
    ours: "refuses",
    reason: "An unknown bundle version cannot be read by its rules (sigstore-go: " +
      "ErrUnsupportedMediaType for v0.4 and later); sigstore-js ignores the media type.",
  },
  {
    mutation: "logIndex negative",
    cases: REKOR_V2,
    ours: "refuses",
    reason: "A log index is non-negative (sigstore-go's ParseTransparencyLogEntry refuses " +
      "LogIndex < 0); sigstore-js does not read the top-level index of a Rekor v2 entry.",
  },
  {
    mutation: "logIndex plus one",
    cases: REKOR_V2,
    ours: "refuses",
    reason: "A Rekor v2 entry's log index is its leaf index, which only the inclusion proof " +
      "authenticates: ours refuses an entry whose index is not the proof's (sigstore-go " +
      "checks inclusion at the entry's index); sigstore-js does not read the top-level index.",
  },
  {
    mutation: "integratedTime in 2100",
    cases: REKOR_V2,
    ours: "refuses",
    reason: "An entry that claims integration after now is refused (cosign's rule; the " +
      "conformance case integrated-time-in-future_fail). sigstore-go refuses it too, checking " +
      "the certificate at any non-zero integrated time (pkg/verify/tlog.go); sigstore-js " +
      "ignores an integrated time no SET signs.",
  },
  {
    mutation: "proof rootHash bit flipped",
    ours: "refuses",
    reason: "The proof's root hash contradicts the signed checkpoint it comes with; where two " +
      "sources disagree, refuse (design.md). sigstore-go's Rekor v1 path refuses it too " +
      "(rekor's VerifyCheckpointSignature compares them); sigstore-js reads only the " +
      "checkpoint.",
  },
  {
    mutation: "proof treeSize plus one",
    ours: "refuses",
    reason: "The proof's tree size contradicts the signed checkpoint (and its hashes do not " +
      "fit that size); refuse, as for the root hash. sigstore-js reads only the checkpoint.",
  },
  {
    mutation: "inclusionPromise removed",
    cases: ["managed-key-and-trusted-root"],
    ours: "verifies",
    reason: "A key-signed bundle needs no verified time (a key has no validity window): Go " +
      "cosign verifies it with verify.WithNoObserverTimestamps() (pkg/cosign/verify.go); the " +
      "inclusion proof still verifies against its signed checkpoint. sigstore-js asks every " +
      "bundle for one timestamp by default.",
  },
  {
    mutation: "timestamp duplicated",
    ours: "verifies",
    reason: "Issue 14: RFC 3161 timestamps count toward a threshold as sigstore-go counts " +
      "them, a duplicate once; sigstore-js refuses a duplicate.",
  },
  {
    mutation: "timestamp from another bundle added",
    ours: "verifies",
    reason: "Issue 14: as sigstore-go, each timestamp is verified on its own and one that " +
      "does not verify (here: over another signature) is reported and skipped, the bundle " +
      "failing only below the threshold; sigstore-js needs every timestamp to verify.",
  },
];

// ---------------------------------------------------------------------------------------------

async function ours(c: BundleCase, roots: Map<string, TrustedRoot>): Promise<Verdict> {
  try {
    const bundle = parseBundle(c.bundle);
    let root = roots.get(c.base.trustedRoot);
    if (!root) {
      root = parseTrustedRoot(await Deno.readFile(c.base.trustedRoot));
      roots.set(c.base.trustedRoot, root);
    }
    const signer: BundleSigner = c.base.key !== undefined
      ? { key: await loadVerifier(c.base.key) }
      : { certificate: { identity: { identity: c.base.identity, issuer: c.base.issuer } } };
    await verifyBundle(bundle, { bytes: await Deno.readFile(c.base.artifact) }, root, signer);
    return { ok: true };
  } catch (e) {
    if (!(e instanceof CosignError)) throw e; // an internal error is a bug, never a difference
    return { ok: false, error: e.message };
  }
}

async function theirs(cases: readonly BundleCase[]): Promise<Verdict[]> {
  await using tmp = await tempDir();
  const script = `${tmp.path}/peer.mjs`, list = `${tmp.path}/cases.json`;
  await Deno.writeTextFile(script, PEER_SCRIPT);
  await Deno.writeTextFile(
    list,
    JSON.stringify(cases.map((c) => ({
      bundle: c.bundle,
      artifact: c.base.artifact,
      root: c.base.trustedRoot,
      key: c.base.key,
      identity: c.base.identity,
      issuer: c.base.issuer,
    }))),
  );
  const r = await new Deno.Command("node", {
    args: [script, list],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const stderr = new TextDecoder().decode(r.stderr);
  assert(r.code === 0, `the sigstore-js driver failed (exit ${r.code}): ${stderr}`);
  const verdicts = JSON.parse(new TextDecoder().decode(r.stdout)) as Verdict[];
  assertEquals(verdicts.length, cases.length, "one verdict per case");
  return verdicts;
}

/**
 * One more published bundle, from cosign's tests (`fixtures/bundles`, see its README): a
 * production v0.3 DSSE attestation (Rekor v1 SET and proof), the one such bundle that passes.
 */
const OCI_ATTESTATION: ConformanceCase = {
  name: "bundles/oci-attestation",
  expect: "pass",
  bundle: FIXTURES + "bundles/oci-attestation.sigstore.json",
  artifact: FIXTURES + "bundles/empty-image/manifest.json",
  artifactDigest: "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4",
  trustedRoot: FIXTURES + "bundles/trusted_root_pgi.json",
  identity: "cody@soyland.com",
  issuer: "https://github.com/login/oauth",
  key: undefined,
  description: "cosign's pkg/cosign/testdata/oci-attestation.sigstore.json",
};

function known(c: BundleCase, oursOk: boolean): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find((k) =>
    k.mutation === c.mutation && (k.cases === undefined || k.cases.includes(c.base.name)) &&
    (k.ours === "verifies") === oursOk
  );
}

Deno.test("differential bundles: ours and sigstore-js agree on the conformance cases and mutations", async () => {
  const peerInstalled = await Deno.stat(PEER_DIR + "node_modules/@sigstore/verify/package.json")
    .then(() => true, () => false);
  assert(peerInstalled, `sigstore-js is not installed in ${PEER_DIR}: run scripts/setup.sh`);
  const bases = [...await loadCases(), OCI_ATTESTATION];
  const texts = await Promise.all(bases.map((b) => Deno.readTextFile(b.bundle)));
  const parsed = texts.map((t) => JSON.parse(t));
  const cases: BundleCase[] = [];
  bases.forEach((base, i) => {
    cases.push({ base, mutation: "", bundle: texts[i]! });
    const others = parsed.filter((_, j) => j !== i);
    Object.entries(MUTATIONS).forEach(([mutation, edit], m) => {
      // A case that must fail mostly stays failed under an edit: it gets the edits that remove
      // a part (which may remove what made it fail) and a rotating third of the others.
      if (base.expect === "fail" && !/removed/.test(mutation) && (m + i) % 3 !== 0) return;
      const copy = structuredClone(parsed[i]);
      let applies: boolean;
      try {
        applies = edit(copy, others);
      } catch {
        applies = false; // the field is not what the mutation edits (the invalid-base64 case)
      }
      if (applies) cases.push({ base, mutation, bundle: JSON.stringify(copy) });
    });
  });
  const roots = new Map<string, TrustedRoot>();
  const t0 = performance.now();
  const peerRun = theirs(cases); // the Node process runs while ours verifies here
  const mine: Verdict[] = [];
  for (const c of cases) mine.push(await ours(c, roots));
  const t1 = performance.now();
  const peer = await peerRun;
  if (Deno.env.get("DIFF_EXPLORE")) console.log({ ours: t1 - t0, both: performance.now() - t0 });

  const unexplained: string[] = [];
  const used = new Set<KnownDifference>();
  let agreeOk = 0, agreeRefused = 0, explained = 0;
  cases.forEach((c, i) => {
    const [o, t] = [mine[i]!, peer[i]!];
    if (o.ok === t.ok) {
      if (o.ok) agreeOk++;
      else agreeRefused++;
      return;
    }
    const k = known(c, o.ok);
    if (k) {
      used.add(k);
      explained++;
    } else {
      unexplained.push(
        `${c.base.name} [${c.mutation || "as published"}]: ours ${
          o.ok ? "verifies" : `refuses (${o.error})`
        }, sigstore-js ${t.ok ? "verifies" : `refuses (${t.error})`}`,
      );
    }
  });
  const stale = KNOWN_DIFFERENCES.filter((k) => !k.pending && !used.has(k))
    .map((k) => `${k.mutation || "as published"} (${k.cases?.join(", ") ?? "any case"})`);
  console.log(
    `bundles: ${bases.length} published bundles, ${cases.length - bases.length} mutants; ` +
      `both verify: ${agreeOk}; both refuse: ${agreeRefused}; known differences: ${explained} ` +
      `(under ${used.size} entries)`,
  );
  // The published cases must give what their names say on both sides.
  cases.forEach((c, i) => {
    if (c.mutation !== "") return;
    const want = c.base.expect === "pass";
    assertEquals(mine[i]!.ok, want, `ours on ${c.base.name}: ${mine[i]!.error ?? "verified"}`);
  });
  if (Deno.env.get("DIFF_EXPLORE")) console.log(unexplained.join("\n"));
  assertEquals(unexplained, [], `${unexplained.length} unexplained disagreements`);
  assertEquals(stale, [], "known differences that no longer happen");
});
