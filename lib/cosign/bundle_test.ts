import { createPublicKey, type KeyObject } from "node:crypto";
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { certificateSpki } from "../crypto/der.ts";
import { toBase64, utf8 } from "../crypto/encoding.ts";
import { KeyVerifier } from "../crypto/key_signer.ts";
import { parseTrustedRoot, type TrustedRoot } from "../trust/trusted_root.ts";
import {
  type Bundle,
  type BundleArtifact,
  checkVerificationMaterial,
  parseBundle,
  type VerifyBundleOptions,
  verifyBundleWithKey,
} from "./bundle.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const CONF = FIXTURES + "conformance/";
const ATT = FIXTURES + "blob-attestation/";
const MANAGED = CONF + "public/managed-key-and-trusted-root/";
const A_TXT_SHA256 = "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
const BLOB_SHA256 = "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24";

const text = (path: string) => Deno.readTextFileSync(path);
const json = (path: string): Any => JSON.parse(text(path));
const root = (path: string): TrustedRoot => parseTrustedRoot(text(path));
const keyVerifier = (pemPath: string) => new KeyVerifier(createPublicKey(text(pemPath)));
const A_TXT: BundleArtifact = { bytes: Deno.readFileSync(CONF + "public/a.txt") };
const A_TXT_DIGEST: BundleArtifact = { digest: { alg: "sha256", hex: A_TXT_SHA256 } };
const BLOB: BundleArtifact = { bytes: Deno.readFileSync(ATT + "blob") };
const OTHER_BLOB: BundleArtifact = { bytes: Deno.readFileSync(ATT + "other-blob") };

/** The verifier for the public key in a bundle's leaf certificate (the chain is not checked). */
function certKeyVerifier(bundle: Bundle): KeyVerifier {
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "the bundle holds a certificate");
  const spki = certificateSpki(vm.certificates[0]!);
  assert(spki !== undefined, "the certificate has a key");
  const key: KeyObject = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  return new KeyVerifier(key);
}

async function rejects(
  fn: () => Promise<unknown>,
  code: string,
  pattern?: RegExp,
): Promise<CosignError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof CosignError)) throw new Error(`expected CosignError ${code}, got ${err}`);
  if (err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`);
  if (err.message.includes("\n")) throw new Error(`not one line: ${err.message}`);
  if (pattern && !pattern.test(err.message)) {
    throw new Error(`message ${JSON.stringify(err.message)} does not match ${pattern}`);
  }
  return err;
}

function throwsCode(fn: () => unknown, code: string, pattern?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof CosignError)) throw new Error(`expected CosignError ${code}, got ${err}`);
  if (err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`);
  if (err.message.includes("\n")) throw new Error(`not one line: ${err.message}`);
  if (pattern && !pattern.test(err.message)) {
    throw new Error(`message ${JSON.stringify(err.message)} does not match ${pattern}`);
  }
}

function managedBundle(): Any {
  return json(MANAGED + "bundle.sigstore.json");
}

function verifyManaged(
  bundleJson: Any,
  artifact: BundleArtifact = A_TXT,
  options: VerifyBundleOptions = {},
) {
  return verifyBundleWithKey(
    parseBundle(bundleJson),
    artifact,
    keyVerifier(MANAGED + "key.pub"),
    root(MANAGED + "trusted_root.json"),
    options,
  );
}

// --- parsing ---

Deno.test("bundle: parses the managed-key v0.3 bundle into the normalised shape", () => {
  const b = parseBundle(text(MANAGED + "bundle.sigstore.json"));
  assertEquals(b.format, "v0.3");
  assertEquals(b.verificationMaterial, {
    type: "publicKey",
    hint: "TLMsSDfG3ajPsWge+z/vX5T/zluXnmvbkTkwLIV68Tk=",
    spki: undefined,
  });
  assert(b.content.type === "messageSignature", "message signature");
  assertEquals(b.content.digest?.algorithm, "sha256");
  assertEquals(b.content.digest?.bytes.toHex(), A_TXT_SHA256);
  const e = b.tlogEntries[0]!;
  assertEquals(b.tlogEntries.length, 1);
  assertEquals(String(e.logIndex), "51753644");
  assertEquals(String(e.inclusionProof?.logIndex), "20071232");
  assertEquals(String(e.inclusionProof?.treeSize), "20071233");
  assertEquals(e.inclusionProof?.hashes.length, 8);
  assert(e.inclusionProof?.checkpoint?.startsWith("rekor.sigstage.dev - ") === true, "checkpoint");
  assertEquals(`${e.kind} ${e.version}`, "hashedrekord 0.0.1");
  assertEquals(String(e.integratedTime), "1767810965");
  assertEquals(
    e.logIdHex,
    Uint8Array.fromBase64(
      managedBundle().verificationMaterial
        .tlogEntries[0].logId.keyId,
    ).toHex(),
  );
  assert(e.signedEntryTimestamp !== undefined, "SET");
});

Deno.test("bundle: parses v0.1 (certificate chain) and v0.2 (intoto, timestamps) bundles", () => {
  const v1 = parseBundle(text(CONF + "public/happy-path-v0.1/bundle.sigstore.json"));
  assertEquals(v1.format, "v0.1");
  assert(v1.verificationMaterial.type === "certificate", "cert");
  assert(v1.verificationMaterial.chain, "from x509CertificateChain");
  const v2 = parseBundle(text(CONF + "public/intoto-with-custom-trust-root/bundle.sigstore.json"));
  assertEquals(v2.format, "v0.2");
  assertEquals(v2.content.type, "dsseEnvelope");
  assert(v2.rfc3161Timestamps.length > 0, "timestamps kept");
});

Deno.test("bundle: parse accepts proto field names and numeric int64s", () => {
  const j = managedBundle();
  const e = j.verificationMaterial.tlogEntries[0];
  e.log_index = Number(e.logIndex);
  delete e.logIndex;
  e.canonicalized_body = e.canonicalizedBody;
  delete e.canonicalizedBody;
  const b = parseBundle(j);
  assertEquals(String(b.tlogEntries[0]!.logIndex), "51753644");
});

Deno.test("bundle: malformed bundles fail with one-line BUNDLE_INVALID errors", () => {
  const cases: [string, (j: Any) => void, RegExp][] = [
    ["media type", (j) => (j.mediaType = "application/json"), /unsupported media type/],
    ["no content", (j) => delete j.messageSignature, /exactly one of messageSignature/],
    ["bad base64", (j) => (j.messageSignature.signature = "!!"), /signature is not base64/],
    [
      "negative index",
      (j) => (j.verificationMaterial.tlogEntries[0].logIndex = "-1"),
      /logIndex is negative/,
    ],
    [
      "no proof in v0.3",
      (j) => delete j.verificationMaterial.tlogEntries[0].inclusionProof,
      /inclusionProof is required/,
    ],
    [
      "two materials",
      (j) => (j.verificationMaterial.certificate = { rawBytes: "AAAA" }),
      /exactly one of publicKey/,
    ],
  ];
  for (const [, mutate, pattern] of cases) {
    const j = managedBundle();
    mutate(j);
    throwsCode(() => parseBundle(j), "BUNDLE_INVALID", pattern);
  }
  throwsCode(() => parseBundle("{"), "BUNDLE_INVALID", /not JSON/);
  throwsCode(() => parseBundle("{}"), "BUNDLE_INVALID", /neither a Sigstore bundle/);
});

Deno.test("bundle: the conformance cases with malformed bundles are rejected at parse time", () => {
  for (const name of ["bundle-invalid-base64-signature_fail", "bundle-negative-log-index_fail"]) {
    throwsCode(
      () => parseBundle(text(`${CONF}public/${name}/bundle.sigstore.json`)),
      "BUNDLE_INVALID",
    );
  }
});

// --- conformance: managed key ---

Deno.test("bundle: managed-key-and-trusted-root verifies with the artifact bytes", async () => {
  const r = await verifyManaged(managedBundle(), A_TXT);
  assertEquals(r.contentType, "messageSignature");
  assertEquals(r.messageDigestMatched, true);
  assertEquals(r.keyHintMatched, true);
  assertEquals(r.tlogVerifiedOffline, true);
  assertEquals(r.tlogEntries.length, 1);
  const e = r.tlogEntries[0]!;
  assertEquals(e.setVerified, true);
  assertEquals(e.inclusionProofVerified, true);
  assertEquals(e.kindVersion, "hashedrekord/0.0.1");
  assertEquals(r.integratedTime?.toISOString(), new Date(1767810965000).toISOString());
  assertEquals(r.artifactDigest, { alg: "sha256", hex: A_TXT_SHA256 });
});

Deno.test("bundle: managed-key-and-trusted-root verifies with the artifact's sha256 digest", async () => {
  const r = await verifyManaged(managedBundle(), A_TXT_DIGEST);
  assertEquals(r.tlogVerifiedOffline, true);
  assertEquals(r.messageDigestMatched, true);
});

Deno.test("bundle: managed-key-no-key_fail is refused: a key-signed bundle needs --key", () => {
  // README: "bundle is signed with key but no key is provided" (the case passes only an
  // identity and issuer).
  const b = parseBundle(text(CONF + "public/managed-key-no-key_fail/bundle.sigstore.json"));
  throwsCode(
    () => checkVerificationMaterial(b, false),
    "BUNDLE_KEY_REQUIRED",
    /signed with a public key \(hint TLMsSDfG.*\), but no key was given/,
  );
  checkVerificationMaterial(b, true);
  // a certificate bundle is fine without a key
  checkVerificationMaterial(
    parseBundle(text(CONF + "public/happy-path-v0.3/bundle.sigstore.json")),
    false,
  );
});

Deno.test("bundle: a different artifact fails (bytes and digest)", async () => {
  await rejects(
    () => verifyManaged(managedBundle(), { bytes: utf8("not a.txt") }),
    "ARTIFACT_MISMATCH",
    /message digest a0cfc712.* is not the artifact's sha256/,
  );
  await rejects(
    () => verifyManaged(managedBundle(), { digest: { alg: "sha256", hex: "00".repeat(32) } }),
    "ARTIFACT_MISMATCH",
  );
  await rejects(
    () => verifyManaged(managedBundle(), { digest: { alg: "sha512", hex: "00".repeat(64) } }),
    "ARTIFACT_MISMATCH",
    /signs a sha256 digest, but the artifact was given as a sha512 digest/,
  );
});

Deno.test("bundle: another key fails; so does a signature the bundle does not hold", async () => {
  await rejects(
    () =>
      verifyBundleWithKey(
        parseBundle(managedBundle()),
        A_TXT,
        keyVerifier(ATT + "cosign.pub"),
        root(MANAGED + "trusted_root.json"),
      ),
    "SIGNATURE_MISMATCH",
  );
  const j = managedBundle();
  // a valid signature of another message, by another key: the signature check fails first
  j.messageSignature.signature = toBase64(Uint8Array.fromHex("3006020101020101"));
  await rejects(() => verifyManaged(j), "SIGNATURE_MISMATCH");
});

Deno.test("bundle: an altered canonicalized body fails", async () => {
  // change the recorded digest: the body no longer matches the bundle
  const j = managedBundle();
  const e = j.verificationMaterial.tlogEntries[0];
  const body = new TextDecoder().decode(Uint8Array.fromBase64(e.canonicalizedBody));
  e.canonicalizedBody = toBase64(utf8(body.replace(A_TXT_SHA256, "b" + A_TXT_SHA256.slice(1))));
  await rejects(() => verifyManaged(j), "TLOG_BODY_MISMATCH", /artifact digest/);
  await rejects(() => verifyManaged(j, A_TXT_DIGEST), "TLOG_BODY_MISMATCH");
  // same meaning, different bytes: the body matches but the SET no longer verifies
  const k = managedBundle();
  const f = k.verificationMaterial.tlogEntries[0];
  f.canonicalizedBody = toBase64(utf8(body + " "));
  await rejects(() => verifyManaged(k), "TLOG_INVALID", /Signed entry timestamp does not verify/);
});

Deno.test("bundle: an altered SET fails", async () => {
  const j = managedBundle();
  const p = j.verificationMaterial.tlogEntries[0].inclusionPromise;
  const set = Uint8Array.fromBase64(p.signedEntryTimestamp);
  set[set.length - 1]! ^= 1;
  p.signedEntryTimestamp = toBase64(set);
  await rejects(() => verifyManaged(j), "TLOG_INVALID", /Signed entry timestamp does not verify/);
});

Deno.test("bundle: an altered inclusion proof or checkpoint fails", async () => {
  const j = managedBundle();
  const proof = j.verificationMaterial.tlogEntries[0].inclusionProof;
  const h = Uint8Array.fromBase64(proof.hashes[0]);
  h[0]! ^= 1;
  proof.hashes[0] = toBase64(h);
  await rejects(() => verifyManaged(j), "TLOG_INVALID", /Inclusion proof does not verify/);
  const k = managedBundle();
  const p2 = k.verificationMaterial.tlogEntries[0].inclusionProof;
  p2.checkpoint.envelope = p2.checkpoint.envelope.replace("\n20071233\n", "\n20071234\n");
  await rejects(() => verifyManaged(k), "TLOG_INVALID", /Checkpoint signature .* does not verify/);
  // only a proof without checkpoint and no SET: nothing signed vouches for the entry, and a
  // v0.3 bundle whose proof has no checkpoint is malformed
  const m = managedBundle();
  const e = m.verificationMaterial.tlogEntries[0];
  delete e.inclusionPromise;
  delete e.inclusionProof.checkpoint;
  await rejects(() => verifyManaged(m), "BUNDLE_INVALID", /inclusionProof\.checkpoint is missing/);
});

Deno.test("bundle: the log must be trusted, and valid at the integrated time", async () => {
  await rejects(
    () =>
      verifyBundleWithKey(
        parseBundle(managedBundle()),
        A_TXT,
        keyVerifier(MANAGED + "key.pub"),
        root(CONF + "trusted_root.production.json"),
      ),
    "TLOG_UNTRUSTED",
  );
  await rejects(
    () =>
      verifyBundleWithKey(
        parseBundle(managedBundle()),
        A_TXT,
        keyVerifier(MANAGED + "key.pub"),
        undefined,
      ),
    "TRUSTED_ROOT_MISSING",
    /--trusted-root/,
  );
  await rejects(
    () => verifyManaged(managedBundle(), A_TXT, { now: new Date(1767810965000 - 60_000) }),
    "TLOG_INVALID",
    /integrated in the future/,
  );
  // ignoreTlog skips the log
  const r = await verifyBundleWithKey(
    parseBundle(managedBundle()),
    A_TXT,
    keyVerifier(MANAGED + "key.pub"),
    undefined,
    { ignoreTlog: true },
  );
  assertEquals(r.tlogVerifiedOffline, false);
  assertEquals(r.tlogEntries.length, 0);
});

// --- blob attestations (DSSE, no tlog) ---

Deno.test("bundle: slsa-provenance.sigstore.json verifies with cosign.pub and ignoreTlog", async () => {
  const b = parseBundle(text(ATT + "slsa-provenance.sigstore.json"));
  assertEquals(b.verificationMaterial, { type: "publicKey", hint: "hint", spki: undefined });
  assertEquals(b.tlogEntries.length, 0);
  const v = keyVerifier(ATT + "cosign.pub");
  for (const artifact of [BLOB, { digest: { alg: "sha256" as const, hex: BLOB_SHA256 } }]) {
    const r = await verifyBundleWithKey(b, artifact, v, undefined, { ignoreTlog: true });
    assertEquals(r.contentType, "dsseEnvelope");
    assertEquals(r.claimsVerified, true);
    assertEquals(r.keyHintMatched, false);
    assertEquals(r.statement?.predicateType, "https://slsa.dev/provenance/v0.2");
    assertEquals(r.tlogVerifiedOffline, false);
  }
  await rejects(
    () => verifyBundleWithKey(b, OTHER_BLOB, v, undefined, { ignoreTlog: true }),
    "ATTESTATION_MISMATCH",
    /no matching subject digest found/,
  );
  const r = await verifyBundleWithKey(b, OTHER_BLOB, v, undefined, {
    ignoreTlog: true,
    checkClaims: false,
  });
  assertEquals(r.claimsVerified, false);
  // without ignoreTlog a bundle with no entry fails
  await rejects(
    () => verifyBundleWithKey(b, BLOB, v, root(ATT + "empty-trusted-root.json")),
    "TLOG_MISSING",
  );
});

Deno.test("bundle: bad-sig.sigstore.json fails", async () => {
  const b = parseBundle(text(ATT + "bad-sig.sigstore.json"));
  await rejects(
    () =>
      verifyBundleWithKey(b, BLOB, keyVerifier(ATT + "cosign.pub"), undefined, {
        ignoreTlog: true,
      }),
    "DSSE_INVALID",
    /signature does not match/,
  );
});

// --- legacy cosign bundles, rebuilt from the real entries above ---

function legacyFromManaged(): Any {
  const j = managedBundle();
  const e = j.verificationMaterial.tlogEntries[0];
  return {
    base64Signature: j.messageSignature.signature,
    cert: toBase64(utf8(text(MANAGED + "key.pub"))),
    rekorBundle: {
      SignedEntryTimestamp: e.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: e.canonicalizedBody,
        integratedTime: Number(e.integratedTime),
        logIndex: Number(e.logIndex),
        logID: Uint8Array.fromBase64(e.logId.keyId).toHex(),
      },
    },
  };
}

Deno.test("bundle: a legacy bundle verifies by its SET (bytes and digest)", async () => {
  const b = parseBundle(JSON.stringify(legacyFromManaged()));
  assertEquals(b.format, "legacy");
  assertEquals(b.verificationMaterial.type, "publicKey");
  assertEquals(b.tlogEntries[0]?.kind, "hashedrekord");
  for (const artifact of [A_TXT, A_TXT_DIGEST]) {
    const r = await verifyManaged(legacyFromManaged(), artifact);
    assertEquals(r.format, "legacy");
    assertEquals(r.messageDigestMatched, false);
    assertEquals(r.tlogEntries[0]?.setVerified, true);
    assertEquals(r.tlogEntries[0]?.inclusionProofVerified, false);
  }
  // the artifact is checked through the entry's digest
  await rejects(
    () => verifyManaged(legacyFromManaged(), { bytes: utf8("x") }),
    "SIGNATURE_MISMATCH",
  );
  const j = legacyFromManaged();
  j.rekorBundle.Payload.logIndex += 1;
  await rejects(() => verifyManaged(j), "TLOG_INVALID", /Signed entry timestamp/);
  const k = legacyFromManaged();
  k.cert = toBase64(utf8(text(ATT + "cosign.pub")));
  await rejects(() => verifyManaged(k), "BUNDLE_KEY_MISMATCH");
});

Deno.test("bundle: a legacy attest-blob bundle holds the envelope bytes", async () => {
  const envelope = Deno.readFileSync(ATT + "slsa-provenance.dsse.json");
  // Without a log entry, only the caller knows an envelope is expected: never the first byte.
  assertEquals(
    parseBundle({ base64Signature: toBase64(envelope) }).content.type,
    "messageSignature",
  );
  const b = parseBundle({ base64Signature: toBase64(envelope) }, { content: "dsseEnvelope" });
  assert(b.content.type === "dsseEnvelope", "DSSE");
  assertEquals(b.content.envelopeBytes, envelope);
  assertEquals(b.verificationMaterial.type, "none");
  throwsCode(() => checkVerificationMaterial(b, false), "BUNDLE_KEY_REQUIRED");
  const r = await verifyBundleWithKey(b, BLOB, keyVerifier(ATT + "cosign.pub"), undefined, {
    ignoreTlog: true,
  });
  assertEquals(r.claimsVerified, true);
});

// --- certificate bundles verified with the certificate's key (chains are not checked here) ---

function verifyCase(name: string, digestMode = false) {
  const c = (json(CONF + "cases.json") as Any[]).find((x) => x.name === name);
  const b = parseBundle(text(CONF + c.bundle));
  const artifact: BundleArtifact = digestMode
    ? { digest: { alg: "sha256", hex: c.artifact_digest.slice("sha256:".length) } }
    : { bytes: Deno.readFileSync(CONF + c.artifact) };
  return verifyBundleWithKey(b, artifact, certKeyVerifier(b), root(CONF + c.trusted_root));
}

Deno.test("bundle: conformance pass cases verify with their certificate's key", async () => {
  for (
    const [name, kind, set, proof] of [
      ["happy-path-v0.1", "hashedrekord/0.0.1", true, true],
      ["happy-path-v0.3", "hashedrekord/0.0.1", true, true],
      ["intoto-with-custom-trust-root", "intoto/0.0.2", true, true],
      ["rekor2-checkpoint-multiple-cosigs", "hashedrekord/0.0.2", false, true],
      ["rekor2-checkpoint-origin-not-first", "hashedrekord/0.0.2", false, true],
      ["trust-root-tlog-validity-end-inclusive", "hashedrekord/0.0.1", true, true],
    ] as const
  ) {
    for (const digestMode of [false, true]) {
      const r = await verifyCase(name, digestMode);
      assertEquals(r.tlogEntries[0]?.kindVersion, kind, name);
      assertEquals(r.tlogEntries[0]?.setVerified, set, name);
      assertEquals(r.tlogEntries[0]?.inclusionProofVerified, proof, name);
    }
  }
});

Deno.test("bundle: conformance fail cases fail for their reason, in both modes", async () => {
  const cases: [string, string, RegExp][] = [
    ["signature-mismatch_fail", "SIGNATURE_MISMATCH", /does not verify/],
    ["message-digest-mismatch_fail", "ARTIFACT_MISMATCH", /message digest/],
    ["wrong-hashedrekord-artifact_fail", "TLOG_BODY_MISMATCH", /artifact digest/],
    ["wrong-hashedrekord-entry_fail", "TLOG_BODY_MISMATCH", /artifact digest/],
    ["inclusion-proof-corrupted-hash_fail", "TLOG_INVALID", /Inclusion proof does not verify/],
    ["checkpoint-bad-keyhint_fail", "TLOG_INVALID", /no signature from the log/],
    ["dsse-invalid-sig_fail", "DSSE_INVALID", /signature/],
    ["dsse-mismatch-sig_fail", "TLOG_BODY_MISMATCH", /different signature/],
    ["intoto-log-entry-mismatch_fail", "TLOG_BODY_MISMATCH", /different signature/],
    [
      "rekor2-dsse-mismatch-sig_fail",
      "TLOG_BODY_MISMATCH",
      /hashedrekord 0.0.2.*different signature/,
    ],
    ["rekor2-checkpoint-missing-log-signature_fail", "TLOG_INVALID", /signature line/],
    ["rekor2-checkpoint-missing-root-hash_fail", "TLOG_INVALID", /root hash/],
  ];
  for (const [name, code, pattern] of cases) {
    for (const digestMode of [false, true]) {
      await rejects(() => verifyCase(name, digestMode), code, pattern);
    }
  }
  throwsCode(
    () => parseBundle(text(CONF + "public/rekor2-no-inclusion-proof_fail/bundle.sigstore.json")),
    "BUNDLE_INVALID",
    /inclusionProof is required/,
  );
  throwsCode(
    () =>
      parseBundle(text(CONF + "public/bundle-empty-certificate-chain_fail/bundle.sigstore.json")),
    "BUNDLE_INVALID",
    /x509CertificateChain is empty/,
  );
});

Deno.test("bundle: the public-good OCI attestation (dsse 0.0.1) verifies, also as a legacy bundle", async () => {
  const j = json(FIXTURES + "bundles/oci-attestation.sigstore.json");
  const b = parseBundle(j);
  assert(b.content.type === "dsseEnvelope", "DSSE");
  const subject = JSON.parse(new TextDecoder().decode(b.content.envelope.payload)).subject[0];
  const artifact: BundleArtifact = { digest: { alg: "sha256", hex: subject.digest.sha256 } };
  const pgi = root(FIXTURES + "bundles/trusted_root_pgi.json");
  const v = certKeyVerifier(b);
  const r = await verifyBundleWithKey(b, artifact, v, pgi);
  assertEquals(r.tlogEntries[0]?.kindVersion, "dsse/0.0.1");
  assertEquals(r.tlogEntries[0]?.setVerified, true);
  assertEquals(r.tlogEntries[0]?.inclusionProofVerified, true);
  assertEquals(r.claimsVerified, true);
  await rejects(
    () => verifyBundleWithKey(b, { digest: { alg: "sha256", hex: "00".repeat(32) } }, v, pgi),
    "ATTESTATION_MISMATCH",
  );
  // The same entry as a legacy bundle (base64Signature = the envelope bytes). Written in Go's
  // struct order, these are the uploaded bytes, so the entry's envelope hash matches them; in
  // another member order the bytes differ and the envelope hash does not match.
  const env = j.dsseEnvelope;
  const e = j.verificationMaterial.tlogEntries[0];
  const legacy = (envelopeJson: string) =>
    parseBundle({
      base64Signature: toBase64(utf8(envelopeJson)),
      rekorBundle: {
        SignedEntryTimestamp: e.inclusionPromise.signedEntryTimestamp,
        Payload: {
          body: e.canonicalizedBody,
          integratedTime: Number(e.integratedTime),
          logIndex: Number(e.logIndex),
          logID: Uint8Array.fromBase64(e.logId.keyId).toHex(),
        },
      },
    });
  const sigs = env.signatures.map((s: Any) => ({ keyid: "", sig: s.sig }));
  const goOrder = JSON.stringify({
    payloadType: env.payloadType,
    payload: env.payload,
    signatures: sigs,
  });
  const l = await verifyBundleWithKey(legacy(goOrder), artifact, v, pgi);
  assertEquals(l.format, "legacy");
  assertEquals(l.tlogEntries[0]?.setVerified, true);
  const otherOrder = JSON.stringify({
    payload: env.payload,
    payloadType: env.payloadType,
    signatures: sigs,
  });
  await rejects(
    () => verifyBundleWithKey(legacy(otherOrder), artifact, v, pgi),
    "TLOG_BODY_MISMATCH",
    /envelope hash/,
  );
});
