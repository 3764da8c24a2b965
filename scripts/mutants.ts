/**
 * The mutants `deno task mutate` applies (see `scripts/mutate.ts`): small semantic changes a
 * real bug could make to a verification rule — a dropped check, a negated condition, an
 * off-by-one, `some` for `every`, `<` for `<=`. Each must be killed by a test, or documented
 * here as equivalent (`equivalent: "why no test can tell"`).
 *
 * Keep each `original` snippet small and distinctive (it must occur exactly once in its file),
 * so it survives nearby edits; a snippet that no longer matches is reported as stale and must be
 * rewritten. A fix for a verification bypass adds the mutant that reintroduces it.
 * @module
 */

/** One mutant. */
export interface Mutant {
  /** A short unique name (`--filter` matches it). */
  readonly id: string;
  /** The file, relative to the repository root. */
  readonly file: string;
  /** The exact text replaced; must occur exactly once in the file. */
  readonly original: string;
  /** What replaces it. */
  readonly replacement: string;
  /** The rule the mutant breaks. */
  readonly description: string;
  /** Test files or folders (relative to the root) that must kill it. */
  readonly tests: readonly string[];
  /** Set when no test can tell the mutant from the original: the reason. */
  readonly equivalent?: string;
}

/** Unit tests of lib/tlog (checkpoints, Merkle proofs, SETs, timestamps, trusted roots). */
const TLOG = ["lib/tlog/"];
/** Unit tests of lib/x509 (certificates, chains, SCTs, identities). */
const X509 = ["lib/x509/"];
/** Bundle verification tests of lib/cosign, over real bundles. */
const BUNDLE = [
  "lib/cosign/bundle_test.ts",
  "lib/cosign/bundle_tlog_test.ts",
  "lib/cosign/bundle_tlog_dsse_rules_test.ts",
  "lib/cosign/bundle_tlog_key_rules_test.ts",
  "lib/cosign/bundle_tlog_proof_rules_test.ts",
  "lib/cosign/bundle_certificate_rules_test.ts",
  "lib/cosign/verify_bundle_test.ts",
  "lib/cosign/verify_bundle_rules_test.ts",
  "lib/cosign/bundle_writer_test.ts",
  "lib/cosign/dsse_rules_test.ts",
];

/** The list. */
export const MUTANTS: readonly Mutant[] = [
  // ---- the five checks of issue 23 ------------------------------------------------------------
  {
    id: "verify-bundle-time-falls-back-to-now",
    file: "lib/cosign/verify_bundle.ts",
    original: "if (times.length === 0 && options.ignoreTlog) times.push(now);",
    replacement: "if (times.length === 0) times.push(now);",
    description:
      "without a verified signing time the certificate is checked at now although the log is not ignored",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-dsse-any-verifier",
    file: "lib/cosign/bundle_tlog.ts",
    original: `if (bytesEqual(pemSpki(pem, "the entry's verifier"), key)) signedByKey = true;`,
    replacement: "signedByKey = true;",
    description: "a dsse entry recording another key's signature stands as this key's proof",
    tests: BUNDLE,
  },
  {
    id: "bundle-certificate-first-time-only",
    file: "lib/cosign/bundle_certificate.ts",
    original: "for (const time of times) {",
    replacement: "for (const time of times.slice(0, 1)) {",
    description: "the certificate chain is checked at the first signing time only",
    tests: BUNDLE,
  },
  {
    id: "checkpoint-some-log-signature",
    file: "lib/tlog/checkpoint.ts",
    original: "if (!verifyNoteSignature(log.publicKey, text, s.signature)) {",
    replacement:
      "if (!fromLog.some((x) => verifyNoteSignature(log.publicKey, text, x.signature))) {",
    description: "a checkpoint passes once one of several signatures claiming the log key verifies",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "registry-header-digest-wins",
    file: "lib/oci/registry.ts",
    original: "const claimed = ref.digest ?? (isValidDigest(header) ? header : undefined);",
    replacement: "const claimed = (isValidDigest(header) ? header : undefined) ?? ref.digest;",
    description: "a manifest by digest is checked against Docker-Content-Digest instead",
    tests: ["lib/oci/registry_digest_test.ts"],
  },

  // ---- lib/tlog/checkpoint.ts -----------------------------------------------------------------
  {
    id: "checkpoint-first-log-signature-only",
    file: "lib/tlog/checkpoint.ts",
    original: "for (const s of fromLog) {",
    replacement: "for (const s of fromLog.slice(0, 1)) {",
    description: "only the first signature claiming the log key is verified",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "checkpoint-no-log-signature-needed",
    file: "lib/tlog/checkpoint.ts",
    original: "if (fromLog.length === 0) {",
    replacement: "if (fromLog.length < 0) {",
    description: "a checkpoint signed by witnesses only (no log signature) passes",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "checkpoint-any-key-hint",
    file: "lib/tlog/checkpoint.ts",
    original: "bytesEqual(s.keyHint, hint) &&",
    replacement: "true &&",
    description: "signature lines are taken as the log's whatever their key hint",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "checkpoint-any-key-name",
    file: "lib/tlog/checkpoint.ts",
    original: "(expectedOrigin === undefined || s.name === expectedOrigin)",
    replacement: "(expectedOrigin === undefined || s.name !== '')",
    description: "a Rekor v2 signature line counts as the log's whatever its key name",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "checkpoint-origin-unchecked",
    file: "lib/tlog/checkpoint.ts",
    original: "if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {",
    replacement: "if (expectedOrigin === '\\n' && checkpoint.origin !== expectedOrigin) {",
    description: "a Rekor v2 checkpoint's origin is not compared with the log's",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "checkpoint-proof-size-unchecked",
    file: "lib/tlog/checkpoint.ts",
    original: "if (checkpoint.treeSize !== size) {",
    replacement: "if (checkpoint.treeSize < 0n) {",
    description: "the checkpoint's tree size is not compared with the inclusion proof's",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "checkpoint-proof-root-unchecked",
    file: "lib/tlog/checkpoint.ts",
    original: "if (!bytesEqual(checkpoint.rootHash, proof.rootHash)) {",
    replacement: "if (!bytesEqual(checkpoint.rootHash, checkpoint.rootHash)) {",
    description: "the checkpoint's root hash is not compared with the inclusion proof's",
    tests: [...TLOG, ...BUNDLE],
  },

  // ---- lib/tlog/merkle.ts ---------------------------------------------------------------------
  {
    id: "merkle-index-equal-size",
    file: "lib/tlog/merkle.ts",
    original: "if (idx >= size) {",
    replacement: "if (idx > size) {",
    description: "off-by-one: a leaf index equal to the tree size is accepted",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "merkle-too-many-hashes",
    file: "lib/tlog/merkle.ts",
    original: "if (sn === 0n) {",
    replacement: "if (sn < 0n) {",
    description: "an inclusion proof with too many hashes is not refused",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "merkle-too-few-hashes",
    file: "lib/tlog/merkle.ts",
    original: "if (sn !== 0n) {",
    replacement: "if (sn < 0n) {",
    description: "an inclusion proof with too few hashes is not refused",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "merkle-right-edge",
    file: "lib/tlog/merkle.ts",
    original: "if ((fn & 1n) === 1n || fn === sn) {",
    replacement: "if ((fn & 1n) === 1n) {",
    description: "the right edge of the tree is hashed on the wrong side",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "merkle-root-unchecked",
    file: "lib/tlog/merkle.ts",
    original: "if (!bytesEqual(computed, rootHash)) {",
    replacement: "if (!bytesEqual(computed, computed)) {",
    description: "the computed root is not compared with the proof's root hash",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "merkle-no-leaf-prefix",
    file: "lib/tlog/merkle.ts",
    original: "return sha256(LEAF_PREFIX, leaf);",
    replacement: "return sha256(leaf);",
    description: "leaf hashes lose their 0x00 domain-separation prefix",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "merkle-short-hash",
    file: "lib/tlog/merkle.ts",
    original: "if (hash.length !== MERKLE_HASH_SIZE) {",
    replacement: "if (hash.length > MERKLE_HASH_SIZE) {",
    description: "proof hashes shorter than 32 bytes are accepted",
    tests: [...TLOG, ...BUNDLE],
  },

  // ---- lib/tlog/set.ts ------------------------------------------------------------------------
  {
    id: "set-signature-unchecked",
    file: "lib/tlog/set.ts",
    original: "  if (!ok) {\n",
    replacement: "  if (ok === undefined) {\n",
    description: "a SET that does not verify is accepted",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "set-log-valid-any-time",
    file: "lib/tlog/set.ts",
    original: "const log = findTlog(root, entry.logId, time);",
    replacement: "const log = findTlog(root, entry.logId);",
    description: "the log key need not be valid at the integrated time",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "set-log-without-start",
    file: "lib/tlog/set.ts",
    original: "if (log.validFor.start === undefined) {",
    replacement: "if (log.validFor.start === null) {",
    description: "a log key without a validity start is trusted",
    tests: [...TLOG, ...BUNDLE],
  },

  // ---- lib/trust/trusted_root.ts ---------------------------------------------------------------
  {
    id: "trusted-root-no-start",
    file: "lib/trust/trusted_root.ts",
    original: "if (period.start !== undefined && t < period.start.getTime()) return false;",
    replacement: "if (period.start !== undefined && t < 0) return false;",
    description: "a key is valid before its validity start",
    tests: [...TLOG, ...X509, ...BUNDLE],
  },
  {
    id: "trusted-root-no-end",
    file: "lib/trust/trusted_root.ts",
    original: "if (period.end !== undefined && t > period.end.getTime()) return false;",
    replacement: "if (period.end !== undefined && t < 0) return false;",
    description: "a key is valid after its validity end",
    tests: [...TLOG, ...X509, ...BUNDLE],
  },
  {
    id: "trusted-root-end-exclusive",
    file: "lib/trust/trusted_root.ts",
    original: "if (period.end !== undefined && t > period.end.getTime()) return false;",
    replacement: "if (period.end !== undefined && t >= period.end.getTime()) return false;",
    description: "off-by-one: the validity window's end becomes exclusive (it is closed)",
    tests: [...TLOG, ...X509, ...BUNDLE],
  },
  {
    id: "trusted-root-first-log-wins",
    file: "lib/trust/trusted_root.ts",
    original: "const valid = matches.find((l) => isValidAt(l.validFor, time));",
    replacement: "const valid = matches[0];",
    description: "a log found by ID is used whether or not its key is valid at the time",
    tests: [...TLOG, ...X509, ...BUNDLE],
  },

  // ---- lib/tlog/timestamp.ts ------------------------------------------------------------------
  {
    id: "timestamp-content-type",
    file: "lib/tlog/timestamp.ts",
    original: "if (signer.contentType !== OID.tstInfo) {",
    replacement: "if (signer.contentType === '') {",
    description: "the signed contentType attribute need not be TSTInfo",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-message-digest",
    file: "lib/tlog/timestamp.ts",
    original: "if (!bytesEqual(hash(signer.digestAlgorithm, ts.tstInfo), signer.messageDigest)) {",
    replacement: "if (signer.messageDigest.length < 0) {",
    description: "the signed messageDigest attribute need not match the TSTInfo",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-imprint",
    file: "lib/tlog/timestamp.ts",
    original: "if (!bytesEqual(imprint, info.messageImprint)) {",
    replacement: "if (!bytesEqual(imprint, imprint)) {",
    description: "the timestamp's message imprint need not match the signature",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-embedded-signature",
    file: "lib/tlog/timestamp.ts",
    original: "if (problem) invalid(",
    replacement: "if (problem === 'never') invalid(",
    description: "a bad signature by an embedded signing certificate is not refused at once",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-chain-signature",
    file: "lib/tlog/timestamp.ts",
    original: "if (!embeddedSigner) {",
    replacement: "if (embeddedSigner === null) {",
    description:
      "the signature of a timestamp whose signer comes from the trusted chain is not verified",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-tsa-leaf",
    file: "lib/tlog/timestamp.ts",
    original: "if (tsaLeaf && !bytesEqual(tsaLeaf.der, signerCert.der)) {",
    replacement: "if (tsaLeaf && tsaLeaf.der.length < 0) {",
    description: "the signing certificate need not be the TSA's own certificate",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-eku",
    file: "lib/tlog/timestamp.ts",
    original: "if (!eku || !signerCert.extKeyUsage?.includes(OID.timeStamping)) {",
    replacement: "if (!eku) {",
    description: "a signing certificate without the timeStamping EKU is accepted",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-eku-critical",
    file: "lib/tlog/timestamp.ts",
    original: "if (!eku.critical) {",
    replacement: "if (eku.critical === undefined) {",
    description: "the TSA certificate's EKU need not be critical",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-gentime-after-cert",
    file: "lib/tlog/timestamp.ts",
    original: "if (genTime < signerCert.notBefore || genTime > signerCert.notAfter) {",
    replacement: "if (genTime < signerCert.notBefore) {",
    description: "a genTime after the signing certificate expired is accepted",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-authority-validity",
    file: "lib/tlog/timestamp.ts",
    original: "if (!isValidAt(authority.validFor, info.genTime)) {",
    replacement: "if (!isValidAt(authority.validFor, authority.validFor.start ?? info.genTime)) {",
    description: "the TSA's validity window in the trusted root is not applied to genTime",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-ess-unchecked",
    file: "lib/tlog/timestamp.ts",
    original:
      "if (!ref || bytesEqual(hash(ref.hashAlgorithm, cert.der), ref.certHash)) return undefined;",
    replacement: "if (ref || !ref) return undefined;",
    description: "the signing-certificate attribute need not hash to the signing certificate",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-signature-unchecked",
    file: "lib/tlog/timestamp.ts",
    original: 'return ok ? undefined : "the signature over the signed attributes does not verify";',
    replacement: 'return ok || !ok ? undefined : "the signature does not verify";',
    description: "the signature over the signed attributes is not verified",
    tests: [...TLOG, ...BUNDLE],
  },
  {
    id: "timestamp-several-signers",
    file: "lib/tlog/timestamp.ts",
    original: "if (signerInfos.length !== 1) {",
    replacement: "if (signerInfos.length < 1) {",
    description: "a timestamp with several SignerInfos is accepted (only the first is read)",
    tests: [...TLOG, ...BUNDLE],
  },

  // ---- lib/x509/sct.ts ------------------------------------------------------------------------
  {
    id: "sct-threshold-off-by-one",
    file: "lib/x509/sct.ts",
    original: "if (verified.length < threshold) {",
    replacement: "if (verified.length + 1 < threshold) {",
    description: "off-by-one: one verified SCT fewer than the threshold is enough",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "sct-signature-unchecked",
    file: "lib/x509/sct.ts",
    original: "if (!verifySctSignature(sct, log.publicKey, data)) {",
    replacement: "if (!verifySctSignature(sct, log.publicKey, data) && sct.version < 0) {",
    description: "an SCT whose signature does not verify counts",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "sct-log-valid-any-time",
    file: "lib/x509/sct.ts",
    original: '      log = findLog(ctlogs, sct.logId, timestamp, "certificate transparency log");',
    replacement:
      '      log = findLog(ctlogs, sct.logId, undefined, "certificate transparency log");',
    description: "the CT log key of an embedded SCT need not be valid at the SCT's timestamp",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "sct-any-version",
    file: "lib/x509/sct.ts",
    original: "if (sct.version !== 0) {",
    replacement: "if (sct.version < 0) {",
    description: "SCTs of an unknown version are verified as v1",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "sct-precert-keeps-sct-extension",
    file: "lib/x509/sct.ts",
    original: "return !oid || toHex(content(tbs, oid)) !== SCT_OID_HEX;",
    replacement: "return !oid || toHex(content(tbs, oid)) !== '';",
    description: "the precertificate TBS keeps the SCT list extension",
    tests: [...X509, ...BUNDLE],
  },

  // ---- lib/x509/certificate.ts ----------------------------------------------------------------
  {
    id: "certificate-unknown-critical-extension",
    file: "lib/x509/certificate.ts",
    original: "if (critical && !HANDLED_EXTENSIONS.has(oid)) {",
    replacement: "if (critical && HANDLED_EXTENSIONS.size < 0) {",
    description: "a certificate with an unknown critical extension is accepted",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "certificate-duplicate-extension",
    file: "lib/x509/certificate.ts",
    original: "if (seen.has(oid)) throw new DerError(",
    replacement: "if (seen.has(oid) && oid === '') throw new DerError(",
    description: "a certificate with the same extension twice is accepted",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "certificate-algorithm-mismatch",
    file: "lib/x509/certificate.ts",
    original: "if (toHex(outerAlgBytes) !== toHex(innerAlgBytes)) {",
    replacement: "if (toHex(outerAlgBytes) === '') {",
    description: "inner and outer signature algorithms may differ",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "certificate-issuer-name-unchecked",
    file: "lib/x509/certificate.ts",
    original: "if (!bytesEqual(cert.issuerDer, issuer.subjectDer)) return false;",
    replacement: "if (cert.issuerDer.length < 0) return false;",
    description: "a certificate counts as issued by a CA whose subject is not its issuer name",
    tests: [...X509, ...BUNDLE],
  },
  {
    id: "certificate-self-signed-unflagged",
    file: "lib/x509/certificate.ts",
    original:
      "if (bytesEqual(issuerDer, subjectDer)) base.selfSigned = verifySignature(base, publicKey);",
    replacement: "if (bytesEqual(issuerDer, subjectDer)) base.selfSigned = false;",
    description:
      "self-signed certificates are not recognised (a bundle could carry its own anchor)",
    tests: [...X509, ...BUNDLE],
  },

  // ---- lib/cosign/bundle_tlog.ts --------------------------------------------------------------
  {
    id: "bundle-tlog-dsse-signature",
    file: "lib/cosign/bundle_tlog.ts",
    original:
      'if (!envSigs.some((s) => bytesEqual(s, sig))) mismatch(entry, "different signature");',
    replacement: 'if (envSigs.length < 0) mismatch(entry, "different signature");',
    description: "a dsse entry may record a signature the envelope does not hold",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-intoto2-any-key",
    file: "lib/cosign/bundle_tlog.ts",
    original: `if (bytesEqual(pemSpki(pem, "the entry's public key"), key)) signedByKey = true;`,
    replacement: "signedByKey = true;",
    description: "an intoto 0.0.2 entry recording another key's signature stands as proof",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-hashedrekord-key",
    file: "lib/cosign/bundle_tlog.ts",
    original: `if (!bytesEqual(pemSpki(pem, "the entry's public key"), ctx.keySpki)) {`,
    replacement: `if (pemSpki(pem, "the entry's public key").length < 0) {`,
    description: "a hashedrekord 0.0.1 entry signed by another key stands as proof",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-hashedrekord-digest",
    file: "lib/cosign/bundle_tlog.ts",
    original: 'if (typeof value !== "string" || value.toLowerCase() !== toHex(bytes)) {',
    replacement: 'if (typeof value !== "string") {',
    description: "a hashedrekord 0.0.1 entry for another artifact digest stands as proof",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-v2-verifier",
    file: "lib/cosign/bundle_tlog.ts",
    original: 'if (!bytesEqual(derSpki(der, isCert, "the entry\'s certificate"), keySpki)) {',
    replacement: 'if (derSpki(der, isCert, "the entry\'s certificate").length < 0) {',
    description: "a Rekor v2 entry whose verifier is another key stands as proof",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-v2-dsse-signature",
    file: "lib/cosign/bundle_tlog.ts",
    original: "if (!envelope.signatures.some((s) => bytesEqual(s.sig, sig))) {",
    replacement: "if (envelope.signatures.length < 0) {",
    description: "a Rekor v2 entry over a DSSE envelope may record another signature",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-v2-dsse-pae",
    file: "lib/cosign/bundle_tlog.ts",
    original: "if (!bytesEqual(digest, expected)) {",
    replacement: "if (!bytesEqual(digest, digest)) {",
    description: "a Rekor v2 entry over another envelope's PAE stands as proof",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-future-entry",
    file: "lib/cosign/bundle_tlog.ts",
    original: "if (time !== undefined && time.getTime() > now.getTime()) {",
    replacement: "if (time !== undefined && time.getTime() < 0) {",
    description: "an entry integrated in the future is accepted",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-log-valid-any-time",
    file: "lib/cosign/bundle_tlog.ts",
    original: "const log: TransparencyLog = findTlog(root, entry.logId, time);",
    replacement: "const log: TransparencyLog = findTlog(root, entry.logId);",
    description: "the log key checking the checkpoint need not be valid at the integrated time",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-no-proof-needed",
    file: "lib/cosign/bundle_tlog.ts",
    original: "if (!setVerified && !inclusionProofVerified) {",
    replacement: "if (!setVerified && inclusionProofVerified) {",
    description: "an entry with neither a SET nor a checkpointed inclusion proof is accepted",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-checkpoint-proof-mismatch",
    file: "lib/cosign/bundle_tlog.ts",
    original: "checkCheckpointMatchesProof(checkpoint, proof);",
    replacement: "void checkpoint;",
    description: "the signed checkpoint need not commit to the inclusion proof's tree",
    tests: BUNDLE,
  },
  {
    id: "bundle-tlog-kind-unchecked",
    file: "lib/cosign/bundle_tlog.ts",
    original: 'if (at(body, "kind") !== entry.kind || at(body, "apiVersion") !== entry.version) {',
    replacement: 'if (at(body, "kind") === null) {',
    description: "the body's kind and version need not be the ones the bundle states",
    tests: BUNDLE,
  },

  // ---- lib/cosign/bundle_certificate.ts -------------------------------------------------------
  {
    id: "bundle-certificate-no-time-needed",
    file: "lib/cosign/bundle_certificate.ts",
    original: "if (times.length === 0) {",
    replacement: "if (times.length < 0) {",
    description: "a certificate with no verified signing time is accepted unchecked",
    tests: BUNDLE,
  },
  {
    id: "bundle-certificate-sct-skipped",
    file: "lib/cosign/bundle_certificate.ts",
    original: "if (!policy.ignoreSct && issuerCert !== undefined && (embedded",
    replacement: "if (policy.ignoreSct === null && issuerCert !== undefined && (embedded",
    description: "the certificate's SCT is never verified",
    tests: BUNDLE,
  },

  // ---- lib/cosign/dsse.ts, intoto.ts ----------------------------------------------------------
  {
    id: "dsse-any-payload-type",
    file: "lib/cosign/dsse.ts",
    original: "if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {",
    replacement: "if (env.payloadType === '\\n') {",
    description: "an envelope of another payload type is verified as in-toto",
    tests: BUNDLE,
  },
  {
    id: "dsse-signature-unchecked",
    file: "lib/cosign/dsse.ts",
    original: "if (await verifier.verify(message, s.sig)) return;",
    replacement: "if ((await verifier.verify(message, s.sig)) || s.sig.length > 0) return;",
    description: "an envelope signature that does not verify is accepted",
    tests: BUNDLE,
  },
  {
    id: "dsse-no-signatures",
    file: "lib/cosign/dsse.ts",
    original: 'if (env.signatures.length === 0) throw invalid("The envelope has no signatures");',
    replacement: "",
    description: "an envelope without signatures is not refused up front",
    tests: BUNDLE,
    equivalent:
      'with no signatures the loop below verifies nothing and throws DSSE_INVALID ("does not ' +
      'match the key") anyway: same code, only the message differs',
  },
  {
    id: "intoto-every-subject",
    file: "lib/cosign/intoto.ts",
    original: "return st.subjects.some((s) =>",
    replacement: "return st.subjects.every((s) =>",
    description: "some -> every: a statement without subjects matches every artifact",
    tests: [...BUNDLE, "lib/cosign/intoto_rules_test.ts"],
  },
  // ---- issue 19: forged signatures (claims read from the verified bytes) -----------------------
  {
    id: "layer-sig-annotation-as-envelope",
    file: "lib/cosign/layer_bundle.ts",
    original: '? toBase64(layer.payload)\n    : (a[SIGNATURE_ANNOTATION] ?? "");',
    replacement:
      '? (a[SIGNATURE_ANNOTATION] || toBase64(layer.payload))\n    : (a[SIGNATURE_ANNOTATION] ?? "");',
    description:
      "an .att layer's signature annotation is read instead of the envelope that is its payload",
    tests: ["tests/forgery_test.ts"],
  },
  {
    id: "legacy-content-by-first-byte",
    file: "lib/cosign/bundle.ts",
    original: 'if ((expected ?? recorded ?? "messageSignature") === "dsseEnvelope") {',
    replacement: "if (raw[0] === 0x7b) {",
    description: "a legacy bundle's content is decided by the first byte of base64Signature",
    tests: ["tests/forgery_test.ts", "lib/cosign/bundle_forgery_test.ts"],
  },
  {
    id: "bundle-unknown-fields-accepted",
    file: "lib/cosign/bundle.ts",
    original: 'checkFields(json, "", "bundle");',
    replacement: "",
    description: "a bundle's top-level unknown, case-variant or legacy fields are accepted",
    tests: ["lib/cosign/bundle_forgery_test.ts"],
  },
  {
    id: "bundle-field-given-twice",
    file: "lib/cosign/bundle.ts",
    original: "if (json !== proto && json in obj && proto in obj) {",
    replacement: "if (json !== proto && json in obj && proto in obj && false) {",
    description: "a field given under its JSON and its proto name is accepted",
    tests: ["lib/cosign/bundle_forgery_test.ts"],
  },
  {
    id: "dsse-bundle-two-signatures",
    file: "lib/cosign/verify_bundle.ts",
    original: "if (count !== 1) {",
    replacement: "if (count < 1) {",
    description: "a bundle's envelope with two signatures lets a timestamp over one date another",
    tests: ["lib/cosign/bundle_forgery_test.ts"],
  },
  {
    id: "claims-two-spellings",
    file: "lib/cosign/verify_signatures.ts",
    original: "if (keys.length > 1) {",
    replacement: "if (keys.length > 2) {",
    description: "a signed payload holding critical and Critical is read one way",
    tests: ["lib/cosign/bundle_forgery_test.ts"],
  },
  {
    id: "attestation-subject-unchecked",
    file: "lib/cosign/image_attestations.ts",
    original:
      'if (digest !== undefined && !hasSubjectDigest(statement, "sha256", digest.slice(7))) {',
    replacement: "if (false) {",
    description: "an image's attestation is accepted for another image",
    tests: ["tests/library_defaults_test.ts", "tests/attestation_test.ts"],
  },
  {
    id: "re2-end-of-text",
    file: "lib/x509/re2.ts",
    original: '{ A: "^", z: "$", b:',
    replacement: '{ A: "A", z: "z", b:',
    description: "\\A and \\z mean the letters A and z (the alternation bypass)",
    tests: ["lib/x509/re2_test.ts"],
  },
  {
    id: "chain-candidate-cap",
    file: "lib/x509/chain.ts",
    original: "if (search.examined >= MAX_ISSUER_CANDIDATES) {",
    replacement: "if (search.examined >= MAX_ISSUER_CANDIDATES * 1000) {",
    description: "path building has no work bound (cross-signed intermediates explode)",
    tests: ["lib/x509/chain_test.ts"],
  },
  {
    id: "chain-name-constraints-ignored",
    file: "lib/x509/chain.ts",
    original: "const violation = nameConstraintViolation(nc, path[j]!, budget);",
    replacement: "const violation = undefined;",
    description: "a trusted CA's name constraints are not enforced",
    tests: ["lib/x509/chain_test.ts", "lib/x509/name_constraints_test.ts"],
  },
  // ---- issue 22: safe library defaults ---------------------------------------------------------
  {
    id: "policy-issuer-only",
    file: "lib/cosign/certificate_policy.ts",
    original: "if (!hasIdentity || !hasIssuer) {",
    replacement: "if (!hasIdentity && !hasIssuer) {",
    description:
      "an identity policy naming only an issuer (or only an identity) accepts any signer",
    tests: ["tests/library_defaults_test.ts"],
  },
  {
    id: "verify-image-silently-skips-log",
    file: "lib/cosign/image_signatures.ts",
    original: 'requireLogDecision("verifyImage", verifier, options);',
    replacement: "",
    description: "verifyImage with a key and no trusted root skips the log without being told",
    tests: ["tests/library_defaults_test.ts"],
  },
  // ---- issue 14 (first rule): signing time -----------------------------------------------------
  {
    id: "integrated-time-without-set",
    file: "lib/cosign/verify_bundle.ts",
    original: "checks.filter((c) => c.setVerified).map((c) => c.integratedTime)",
    replacement: "checks.map((c) => c.integratedTime)",
    description: "an integrated time no verified SET signs counts as a signing time",
    tests: ["lib/cosign/verify_bundle_rules_test.ts"],
  },
  // ---- issue 11: cosign v3 referrers ----------------------------------------------------------
  {
    id: "referrer-subject-unchecked",
    file: "lib/cosign/image_bundles.ts",
    original: "if (subjectDigest !== subject) {",
    replacement: "if (false) {",
    description: "a referrer whose manifest names another image is used for this one",
    tests: ["tests/referrers_bad_input_test.ts"],
  },
  {
    id: "referrer-layer-count",
    file: "lib/cosign/image_bundles.ts",
    original: "if (layers.length !== 1) {",
    replacement: "if (layers.length < 1) {",
    description: "a referrer with two layers is read as a bundle (its first layer)",
    tests: ["tests/referrers_bad_input_test.ts"],
  },
  {
    id: "referrer-bundle-version",
    file: "lib/cosign/image_bundles.ts",
    original: 'if (bundle.format !== "v0.3") {',
    replacement: "if (false) {",
    description: "a v0.1 bundle is accepted as a cosign v3 referrer",
    tests: ["tests/referrers_bad_input_test.ts"],
  },
  {
    id: "referrer-annotations-unchecked",
    file: "lib/cosign/image_bundles.ts",
    original: "if (have !== want) {",
    replacement: "if (false) {",
    description: "-a pairs are not checked against the signed statement's subject annotations",
    tests: ["tests/referrers_bad_input_test.ts"],
  },
  {
    id: "referrer-other-artifact",
    file: "lib/cosign/image_bundles.ts",
    original: "{ ignoreTlog: check.ignoreTlog },",
    replacement: "{ ignoreTlog: check.ignoreTlog, checkClaims: false },",
    description: "a signed statement for another digest is accepted for the image",
    tests: ["tests/referrers_bad_input_test.ts"],
  },
  {
    id: "referrer-log-ignored",
    file: "lib/cosign/image_signatures.ts",
    original: "ignoreTlog: options.ignoreTlog === true,",
    replacement: "ignoreTlog: true,",
    description: "a v3 signature's log entry is not checked against the trusted root",
    tests: ["tests/rekor_image_test.ts"],
  },
  {
    id: "referrer-type-from-annotation",
    file: "lib/cosign/image_bundles.ts",
    original: '"type":${goJsonString(v.statement.predicateType)}',
    replacement:
      '"type":${goJsonString(v.referrer.annotations["dev.sigstore.bundle.predicateType"] ?? "")}',
    description: "the printed predicate type comes from the unsigned manifest annotation",
    tests: ["tests/referrers_bad_input_test.ts"],
  },
  // ---- issue 13: TUF warm cache ------------------------------------------------------------------
  {
    id: "tuf-warm-target-hash",
    file: "lib/trust/tuf.ts",
    original: 'digest("hex") !== hex) return undefined;',
    replacement: 'digest("hex") === "") return undefined;',
    description: "a cached target whose bytes changed is served from the warm cache",
    tests: ["lib/trust/tuf_test.ts"],
  },
  {
    id: "tuf-warm-expiry",
    file: "lib/trust/tuf.ts",
    original: "expires > now.getTime() ? s : undefined;",
    replacement: "expires > 0 ? s : undefined;",
    description: "expired cached metadata is served from the warm cache (freeze attack)",
    tests: ["lib/trust/tuf_test.ts"],
  },
  {
    id: "tuf-warm-chain",
    file: "lib/trust/tuf.ts",
    original:
      'if (version(timestamp.meta, "snapshot.json") !== snapshot.version) return undefined;',
    replacement: "",
    description: "a cached snapshot that the cached timestamp does not name is served",
    tests: ["lib/trust/tuf_test.ts"],
  },
  {
    id: "rekor-v2-keyless-without-tsa",
    file: "lib/cli/keyless.ts",
    original: "if (v2 && options.keyless && selected.tsa.length === 0) {",
    replacement: "if (v2 && options.keyless && selected.tsa.length < 0) {",
    description: "keyless signing logged in Rekor v2 without a TSA (no verifiable signing time)",
    tests: ["tests/rekor_v2_sign_test.ts"],
  },
  {
    id: "rekor-v2-into-legacy-layout",
    file: "lib/cli/keyless.ts",
    original: "if (v2 && options.legacyOutput) {",
    replacement: "if (v2 && !options.legacyOutput && options.legacyOutput) {",
    description: "a Rekor v2 entry is asked for while the output is a legacy layout",
    tests: ["tests/rekor_v2_sign_test.ts"],
  },
  // ---- issue 14: proofs, timestamps, trust roots, v0.3 material ---------------------------
  {
    id: "bundle-proof-without-checkpoint-parsed",
    file: "lib/cosign/bundle.ts",
    original: 'if (proof.checkpoint === undefined && format !== "v0.1") {',
    replacement: 'if (proof.checkpoint === undefined && format === "legacy") {',
    description: "a v0.2/v0.3 bundle whose inclusion proof has no checkpoint parses",
    tests: ["lib/cosign/bundle_checkpoint_rules_test.ts"],
  },
  {
    id: "bundle-tlog-proof-without-checkpoint",
    file: "lib/cosign/bundle_tlog.ts",
    original: "if (proof !== undefined && proof.checkpoint === undefined) {",
    replacement: "if (proof !== undefined && proof.checkpoint === null) {",
    description: "an inclusion proof without a signed checkpoint rides along with a SET unrefused",
    tests: ["lib/cosign/bundle_checkpoint_rules_test.ts"],
  },
  {
    id: "bundle-v03-certificate-chain",
    file: "lib/cosign/bundle.ts",
    original: 'if (format === "v0.3") {',
    replacement: 'if (format === "legacy") {',
    description: "a v0.3 bundle holding x509CertificateChain is read as a chain",
    tests: ["lib/cosign/bundle_material_rules_test.ts"],
  },
  {
    id: "timestamps-threshold-ignored",
    file: "lib/tlog/timestamp.ts",
    original: "if (verified.length < threshold) {",
    replacement: "if (verified.length < 0) {",
    description: "a bundle whose RFC 3161 timestamps all fail verifies (on its SET)",
    tests: ["lib/tlog/timestamp_rules_test.ts", "lib/cosign/verify_bundle_timestamp_rules_test.ts"],
  },
  {
    id: "timestamps-authority-counted-twice",
    file: "lib/tlog/timestamp.ts",
    original: "if (counted.has(check.authority.uri)) {",
    replacement: "if (counted.size < 0) {",
    description: "two timestamps from one authority (or one given twice) meet a threshold of 2",
    tests: ["lib/tlog/timestamp_rules_test.ts", "lib/cosign/verify_bundle_timestamp_rules_test.ts"],
  },
  {
    id: "timestamps-future-accepted",
    file: "lib/tlog/timestamp.ts",
    original: "check.time.getTime() > options.now.getTime()",
    replacement: "check.time.getTime() < 0",
    description: "an RFC 3161 timestamp dated after now counts",
    tests: ["lib/tlog/timestamp_rules_test.ts"],
  },
  {
    id: "verify-bundle-timestamps-optional",
    file: "lib/cosign/verify_bundle.ts",
    original: "(bundle.rfc3161Timestamps.length > 0 ? 1 : 0)",
    replacement: "0",
    description: "a bundle's timestamps need not verify when a SET gives a time",
    tests: ["lib/cosign/verify_bundle_timestamp_rules_test.ts"],
  },
  {
    id: "trusted-root-range-without-start",
    file: "lib/trust/trusted_root.ts",
    original: "if (start === undefined) {",
    replacement: "if (start === null) {",
    description: "a validFor without start is read as valid since forever",
    tests: ["lib/trust/trusted_root_rules_test.ts"],
  },
  {
    id: "trusted-root-log-without-validity",
    file: "lib/trust/trusted_root.ts",
    original: "`${where}.publicKey.validFor`,\n    true,",
    replacement: "`${where}.publicKey.validFor`,\n    false,",
    description: "a log key without validFor is trusted at any time",
    tests: ["lib/trust/trusted_root_rules_test.ts"],
  },
  {
    id: "bundle-tlog-entry-counted-twice",
    file: "lib/cosign/verify_bundle.ts",
    original: "if (seen.has(key)) {",
    replacement: "if (seen.has(key) && key === '') {",
    description: "the same log entry listed twice in a bundle is accepted",
    tests: ["tests/differential_bundle_test.ts"],
  },
  {
    id: "rekor-v2-index-not-bound",
    file: "lib/cosign/bundle_tlog.ts",
    original: "if (rekorV2 && proof !== undefined && proof.logIndex !== entry.logIndex) {",
    replacement: "if (rekorV2 && proof !== undefined && proof.logIndex < 0n) {",
    description: "a Rekor v2 entry's top-level log index need not match its proof",
    tests: ["tests/differential_bundle_test.ts"],
  },
  // ---- blobs verified from their one-pass digests (issue 15's speed fix) --------------------
  {
    id: "prehashed-verify-ignores-result",
    file: "lib/crypto/key_signer.ts",
    original: "if (verifyPrehashed(this.#key, name, digest, signature)) return true;",
    replacement: "verifyPrehashed(this.#key, name, digest, signature);\n      return true;",
    description: "a blob verified from its digest passes whatever the signature says",
    tests: ["lib/crypto/key_signer_test.ts", "tests/blob_hash_once_test.ts"],
  },
  {
    id: "verify-blob-digest-result-dropped",
    file: "lib/cosign/blob.ts",
    original: "if (!(await verifier.verifyDigest(digests, signature))) {",
    replacement: "if (!(await verifier.verifyDigest(digests, signature)) && digests.size < 0) {",
    description: "verify-blob accepts a signature that does not verify over the blob's digest",
    tests: ["lib/crypto/key_signer_test.ts", "tests/blob_hash_once_test.ts"],
  },
];
