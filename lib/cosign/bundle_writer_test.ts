import { createHash, createPrivateKey } from "node:crypto";
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { startRekor } from "../../tests/harness/rekor.ts";
import { CosignError, type ErrorCode } from "../errors.ts";
import { toBase64, toHex, utf8 } from "../crypto/encoding.ts";
import { KeySigner, KeyVerifier } from "../crypto/key_signer.ts";
import { generateEcdsaP256, parsePublicKeyPem } from "../crypto/keys.ts";
import type { DigestAlgorithm } from "../crypto/prehashed.ts";
import { dsseEntry, hashedRekordEntry, RekorClient, type RekorEntry } from "../tlog/rekor.ts";
import { parseTrustedRoot, type TrustedRoot } from "../trust/trusted_root.ts";
import { parseBundle, verifyBundleWithKey } from "./bundle.ts";
import {
  BUNDLE_V03_MEDIA_TYPE,
  bundleV03Json,
  type BundleWriterInput,
  publicKeyHint,
  tlogEntryJson,
  withInclusionProof,
} from "./bundle_writer.ts";
import { signEnvelope } from "./dsse.ts";
import { buildStatement } from "./intoto.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const MANAGED = FIXTURES + "conformance/public/managed-key-and-trusted-root/";
const A_TXT = Deno.readFileSync(FIXTURES + "conformance/public/a.txt");
const text = (path: string) => Deno.readTextFileSync(path);

function throwsCode(fn: () => unknown, code: ErrorCode, pattern?: RegExp): CosignError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    assertEquals(e.code, code, e.message);
    assert(!e.message.includes("\n"), `one line: ${e.message}`);
    if (pattern) assert(pattern.test(e.message), `${e.message} should match ${pattern}`);
    return e;
  }
  throw new Error(`expected CosignError ${code}`);
}

async function rejectsCode(fn: () => Promise<unknown>, code: ErrorCode, pattern?: RegExp) {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    assertEquals(e.code, code, e.message);
    if (pattern) assert(pattern.test(e.message), `${e.message} should match ${pattern}`);
    return;
  }
  throw new Error(`expected CosignError ${code}`);
}

/** Every object's keys in order, recursively (arrays by their first element's shape). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (typeof v === "object" && v !== null) {
    return Object.entries(v).map(([k, x]) => [k, shape(x)]);
  }
  return typeof v;
}

const b64hex = (b64: string) => toHex(Uint8Array.fromBase64(b64));

/** The Rekor v1 API answer the managed-key bundle was made from (hex where Rekor uses hex). */
function managedInput(): { input: BundleWriterInput; golden: Any } {
  const golden: Any = JSON.parse(text(MANAGED + "bundle.sigstore.json"));
  const t = golden.verificationMaterial.tlogEntries[0];
  const entry: RekorEntry = {
    uuid: "managed",
    body: t.canonicalizedBody,
    integratedTime: Number(t.integratedTime),
    logID: b64hex(t.logId.keyId),
    logIndex: Number(t.logIndex),
    signedEntryTimestamp: t.inclusionPromise.signedEntryTimestamp,
    inclusionProof: {
      logIndex: Number(t.inclusionProof.logIndex),
      rootHash: b64hex(t.inclusionProof.rootHash),
      treeSize: Number(t.inclusionProof.treeSize),
      hashes: t.inclusionProof.hashes.map(b64hex),
      checkpoint: t.inclusionProof.checkpoint.envelope,
    },
  };
  const ms = golden.messageSignature;
  return {
    golden,
    input: {
      content: {
        type: "messageSignature",
        digest: { algorithm: "sha256", bytes: Uint8Array.fromBase64(ms.messageDigest.digest) },
        signature: Uint8Array.fromBase64(ms.signature),
      },
      verificationMaterial: { type: "publicKey", publicKeyPem: text(MANAGED + "key.pub") },
      tlogEntry: entry,
    },
  };
}

Deno.test("bundle_writer: rebuilds the golden managed-key v0.3 bundle key for key, in order", () => {
  const { input, golden } = managedInput();
  const written = JSON.parse(bundleV03Json(input));
  assertEquals(written, golden);
  assertEquals(shape(written), shape(golden));
  assertEquals(Object.keys(written), ["mediaType", "verificationMaterial", "messageSignature"]);
  assertEquals(written.mediaType, BUNDLE_V03_MEDIA_TYPE);
});

Deno.test("bundle_writer: the written managed-key bundle parses and verifies with the trusted root", async () => {
  const { input } = managedInput();
  const bundle = parseBundle(bundleV03Json(input));
  assertEquals(bundle.format, "v0.3");
  const root = parseTrustedRoot(text(MANAGED + "trusted_root.json"));
  const verifier = new KeyVerifier(parsePublicKeyPem(text(MANAGED + "key.pub"), "key"));
  const r = await verifyBundleWithKey(bundle, { bytes: A_TXT }, verifier, root);
  assertEquals(r.keyHintMatched, true);
  assertEquals(r.messageDigestMatched, true);
  assertEquals(r.tlogEntries[0]?.setVerified, true);
  assertEquals(r.tlogEntries[0]?.inclusionProofVerified, true);
});

Deno.test("bundle_writer: publicKeyHint is base64(sha256(PKIX DER)), as in the golden bundle", () => {
  assertEquals(
    publicKeyHint(text(MANAGED + "key.pub")),
    "TLMsSDfG3ajPsWge+z/vX5T/zluXnmvbkTkwLIV68Tk=",
  );
  throwsCode(() => publicKeyHint("not a key"), "PEM_INVALID");
});

Deno.test("bundle_writer: an entry without inclusion proof or checkpoint is refused", () => {
  const { input } = managedInput();
  const entry = input.tlogEntry!;
  const { inclusionProof: _, ...noProof } = entry;
  throwsCode(
    () => bundleV03Json({ ...input, tlogEntry: noProof }),
    "TLOG_PROOF_MISSING",
    /has no inclusion proof, which a v0\.3 bundle requires/,
  );
  const { checkpoint: __, ...proofNoCheckpoint } = entry.inclusionProof!;
  throwsCode(
    () => tlogEntryJson({ ...entry, inclusionProof: proofNoCheckpoint }),
    "TLOG_PROOF_MISSING",
    /no checkpoint/,
  );
});

Deno.test("bundle_writer: malformed log entries and contents are refused with one-line errors", () => {
  const { input } = managedInput();
  const e = input.tlogEntry!;
  const bad = (patch: Partial<RekorEntry>) => ({ ...input, tlogEntry: { ...e, ...patch } });
  throwsCode(() => bundleV03Json(bad({ logID: "zz" })), "TLOG_INVALID", /log ID is not hex/);
  throwsCode(
    () => bundleV03Json(bad({ inclusionProof: { ...e.inclusionProof!, rootHash: "abc" } })),
    "TLOG_INVALID",
    /root hash is not hex/,
  );
  throwsCode(
    () => bundleV03Json(bad({ inclusionProof: { ...e.inclusionProof!, hashes: ["00", "xy"] } })),
    "TLOG_INVALID",
    /hashes\[1\] is not hex/,
  );
  throwsCode(() => bundleV03Json(bad({ body: "%%%" })), "TLOG_INVALID", /body is not base64/);
  throwsCode(
    () => bundleV03Json(bad({ body: toBase64(utf8('{"apiVersion":"0.0.1"}')) })),
    "TLOG_INVALID",
    /no kind/,
  );
  throwsCode(
    () =>
      bundleV03Json({
        ...input,
        content: {
          type: "messageSignature",
          digest: { algorithm: "sha384", bytes: new Uint8Array(32) },
          signature: new Uint8Array(8),
        },
      }),
    "BUNDLE_INVALID",
    /sha384 digest has 48 bytes, not 32/,
  );
  throwsCode(
    () => bundleV03Json({ ...input, content: { type: "dsseEnvelope", envelope: utf8("{}") } }),
    "DSSE_INVALID",
  );
});

Deno.test("bundle_writer: zero int64s are left out, as protojson does; no tlog entry, no tlogEntries", () => {
  const { input } = managedInput();
  const e = input.tlogEntry!;
  const j = tlogEntryJson({
    ...e,
    logIndex: 0,
    inclusionProof: { ...e.inclusionProof!, logIndex: 0, hashes: [] },
  });
  assert(!("logIndex" in j), "a zero logIndex is left out");
  const p = j.inclusionProof as Any;
  assertEquals(Object.keys(p), ["rootHash", "treeSize", "checkpoint"]);
  const none = JSON.parse(bundleV03Json({ ...input, tlogEntry: undefined }));
  assertEquals(Object.keys(none.verificationMaterial), ["publicKey"]);
  const stamps = JSON.parse(
    bundleV03Json({ ...input, rfc3161Timestamps: [new Uint8Array([1, 2, 3])] }),
  );
  assertEquals(Object.keys(stamps.verificationMaterial), [
    "publicKey",
    "tlogEntries",
    "timestampVerificationData",
  ]);
  assertEquals(stamps.verificationMaterial.timestampVerificationData, {
    rfc3161Timestamps: [{ signedTimestamp: "AQID" }],
  });
  const cert = JSON.parse(
    bundleV03Json({ ...input, verificationMaterial: { type: "certificate", der: A_TXT } }),
  );
  assertEquals(cert.verificationMaterial.certificate, { rawBytes: toBase64(A_TXT) });
});

Deno.test("bundle_writer: withInclusionProof refetches an entry without a proof, or fails clearly", async () => {
  const { input } = managedInput();
  const full = input.tlogEntry!;
  const { inclusionProof: _, ...bare } = full;
  assertEquals(await withInclusionProof(full), full);
  await rejectsCode(() => withInclusionProof(bare), "TLOG_PROOF_MISSING", /came without/);
  const fetched: string[] = [];
  const got = await withInclusionProof(bare, (uuid) => {
    fetched.push(uuid);
    return Promise.resolve({ ...full, uuid: "other-form-of-" + uuid });
  });
  assertEquals(fetched, ["managed"]);
  assertEquals(got.inclusionProof, full.inclusionProof);
  assertEquals(got.uuid, "managed");
  await rejectsCode(
    () => withInclusionProof(bare, () => Promise.resolve(bare)),
    "TLOG_PROOF_MISSING",
    /even when fetched again/,
  );
  await rejectsCode(
    () => withInclusionProof(bare, () => Promise.resolve({ ...full, logIndex: 1 })),
    "TLOG_INVALID",
  );
});

// --- fresh signatures through a loopback Rekor ---

function digestOf(alg: DigestAlgorithm, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(alg).update(data).digest());
}

async function root(path: string): Promise<TrustedRoot> {
  return parseTrustedRoot(await Deno.readTextFile(path));
}

Deno.test("bundle_writer: a fresh message signature round-trips: write, parse, verify; tampering fails", async () => {
  await using rekor = await startRekor();
  const signer = new KeySigner(generateEcdsaP256());
  const blob = utf8("a release\n");
  const sig = await signer.sign(blob);
  const pem = await signer.publicKeyPem();
  const digest = digestOf("sha256", blob);
  const client = new RekorClient(rekor.url);
  let entry: RekorEntry;
  try {
    entry = await client.upload(hashedRekordEntry(toHex(digest), sig, pem));
  } finally {
    client.close();
  }
  const json = bundleV03Json({
    content: {
      type: "messageSignature",
      digest: { algorithm: "sha256", bytes: digest },
      signature: sig,
    },
    verificationMaterial: { type: "publicKey", publicKeyPem: pem },
    tlogEntry: entry,
  });
  const trusted = await root(rekor.trustedRootPath);
  const verifier = signer.verifier();
  const r = await verifyBundleWithKey(parseBundle(json), { bytes: blob }, verifier, trusted);
  assertEquals(r.keyHintMatched, true);
  assertEquals(r.tlogEntries[0]?.inclusionProofVerified, true);
  assertEquals(r.tlogEntries[0]?.setVerified, true);
  const byDigest = { digest: { alg: "sha256" as const, hex: toHex(digest) } };
  await verifyBundleWithKey(parseBundle(json), byDigest, verifier, trusted);

  await rejectsCode(
    () => verifyBundleWithKey(parseBundle(json), { bytes: utf8("other\n") }, verifier, trusted),
    "ARTIFACT_MISMATCH",
  );
  const tampered: Any = JSON.parse(json);
  tampered.verificationMaterial.tlogEntries[0].integratedTime = String(entry.integratedTime + 1);
  await assertRejects(() =>
    verifyBundleWithKey(parseBundle(tampered), { bytes: blob }, verifier, trusted)
  );
  const other = new KeySigner(generateEcdsaP256()).verifier();
  await assertRejects(() =>
    verifyBundleWithKey(parseBundle(json), { bytes: blob }, other, trusted)
  );
});

Deno.test("bundle_writer: a DSSE envelope round-trips (keyid left out when empty, as protojson)", async () => {
  await using rekor = await startRekor();
  const signer = new KeySigner(generateEcdsaP256());
  const pem = await signer.publicKeyPem();
  const blobHex = toHex(digestOf("sha256", utf8("blob")));
  const st = buildStatement("custom", utf8("{}"), { name: "blob", sha256: blobHex });
  const envelope = await signEnvelope(signer, st.bytes);
  const env: Any = JSON.parse(new TextDecoder().decode(envelope));
  const client = new RekorClient(rekor.url);
  let entry: RekorEntry;
  try {
    entry = await client.upload(dsseEntry(envelope, pem));
  } finally {
    client.close();
  }
  const json = bundleV03Json({
    content: { type: "dsseEnvelope", envelope },
    verificationMaterial: { type: "publicKey", publicKeyPem: pem },
    tlogEntry: entry,
  });
  const written: Any = JSON.parse(json);
  assertEquals(Object.keys(written), ["mediaType", "verificationMaterial", "dsseEnvelope"]);
  assertEquals(written.dsseEnvelope, {
    payload: env.payload,
    payloadType: "application/vnd.in-toto+json",
    signatures: [{ sig: env.signatures[0].sig }],
  });
  assertEquals(written.verificationMaterial.tlogEntries[0].kindVersion, {
    kind: "dsse",
    version: "0.0.1",
  });
  const trusted = await root(rekor.trustedRootPath);
  const r = await verifyBundleWithKey(
    parseBundle(json),
    { digest: { alg: "sha256", hex: blobHex } },
    signer.verifier(),
    trusted,
  );
  assertEquals(r.claimsVerified, true);
  assertEquals(r.tlogEntries[0]?.inclusionProofVerified, true);
  await rejectsCode(
    () =>
      verifyBundleWithKey(
        parseBundle(json),
        { digest: { alg: "sha256", hex: "00".repeat(32) } },
        signer.verifier(),
        trusted,
      ),
    "ATTESTATION_MISMATCH",
  );
});

Deno.test("bundle_writer: a P-384 key's SHA-384 message digest round-trips", async () => {
  const key = createPrivateKey(text(FIXTURES + "keys/validecp384.pem"));
  const signer = new KeySigner(key);
  const blob = utf8("p384");
  const json = bundleV03Json({
    content: {
      type: "messageSignature",
      digest: { algorithm: "sha384", bytes: digestOf("sha384", blob) },
      signature: await signer.sign(blob),
    },
    verificationMaterial: { type: "publicKey", publicKeyPem: await signer.publicKeyPem() },
  });
  assertEquals(JSON.parse(json).messageSignature.messageDigest.algorithm, "SHA2_384");
  const b = parseBundle(json);
  const r = await verifyBundleWithKey(b, { bytes: blob }, signer.verifier(), undefined, {
    ignoreTlog: true,
  });
  assertEquals(r.messageDigestMatched, true);
});

async function assertRejects(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof CosignError) return;
    throw e;
  }
  throw new Error("expected a CosignError");
}
