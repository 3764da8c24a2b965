/**
 * Verification of a parsed bundle (cosign-spec §5.4, §6.5–6.7, §7.5). No I/O.
 *
 * - content: a message signature must verify over the artifact (or over its digest when only
 *   the digest is given) and the bundle's `messageDigest` must equal the artifact's digest; a
 *   DSSE envelope must verify (PAE) and, for in-toto, a subject digest must equal the artifact's;
 * - transparency log: every entry must verify (`bundle_tlog.ts`); as in sigstore-go, one bad
 *   entry fails the bundle, and at least one entry is required.
 * @module
 */

import type { KeyObject } from "node:crypto";
import { CosignError, type ErrorCode } from "../errors.ts";
import { toBase64, toHex } from "../crypto/encoding.ts";
import { certificateSpki } from "../crypto/der.ts";
import { parsePublicKeyPem, spkiDer } from "../crypto/keys.ts";
import { type DigestAlgorithm, verifyPrehashed } from "../crypto/prehashed.ts";
import type { Verifier } from "../crypto/signer.ts";
import { bytesEqual } from "../tlog/bytes.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { verifyEnvelope } from "./dsse.ts";
import { hasSubjectDigest, parseStatement, type Statement } from "./intoto.ts";
import type { Bundle, BundleContent, BundleFormat, VerificationMaterial } from "./bundle.ts";
import { at, type BodyContext, type TlogEntryCheck, verifyEntry } from "./bundle_tlog.ts";

export type { TlogEntryCheck };
import { DIGEST_SIZE, digestOf } from "./digests.ts";
import {
  type CertificateCheck,
  type CertificatePolicy,
  parseBundleCertificates,
  verifySigningCertificate,
} from "./bundle_certificate.ts";
import { type TimestampCheck, verifyTimestamps } from "../tlog/timestamp.ts";
import type { Certificate } from "../x509/certificate.ts";
import { KeyVerifier } from "../crypto/key_signer.ts";
import { checkCertificatePolicy } from "./certificate_policy.ts";

function fail(code: ErrorCode, message: string): never {
  throw new CosignError(code, message);
}

/** The artifact a bundle is verified against: its bytes, or only its digest. */
export type BundleArtifact =
  | { readonly bytes: Uint8Array }
  | { readonly digest: { readonly alg: DigestAlgorithm; readonly hex: string } };

/** Options for {@link verifyBundle}. */
export interface VerifyBundleOptions {
  /** Skip the transparency log (`--insecure-ignore-tlog`). */
  readonly ignoreTlog?: boolean;
  /** For in-toto envelopes, check that a subject matches the artifact (default true). */
  readonly checkClaims?: boolean;
  /** The current time, for the "integrated time is not in the future" check. */
  readonly now?: Date;
  /**
   * How many RFC 3161 timestamps, from distinct authorities, must verify: default 1 when the
   * bundle carries timestamps (they are then a time source), else 0. Needs a trusted root.
   */
  readonly timestampThreshold?: number;
}

/** The summary of a successful {@link verifyBundleWithKey}, for the CLI's check lines. */
export interface BundleVerification {
  /** The bundle's format. */
  readonly format: BundleFormat;
  /** `messageSignature` or `dsseEnvelope`. */
  readonly contentType: BundleContent["type"];
  /** The signature (or an envelope signature) verified with the key. */
  readonly signatureVerified: true;
  /** The artifact digest the bundle was checked against (hex). */
  readonly artifactDigest: { readonly alg: DigestAlgorithm; readonly hex: string } | undefined;
  /** The bundle's `messageDigest` was compared with the artifact. */
  readonly messageDigestMatched: boolean;
  /** An in-toto subject digest matched the artifact. */
  readonly claimsVerified: boolean;
  /** The in-toto statement, for DSSE content with an in-toto payload. */
  readonly statement: Statement | undefined;
  /** The public-key hint equals cosign's hint for the key (`undefined` when there is none). */
  readonly keyHintMatched: boolean | undefined;
  /** The transparency log was verified offline from the bundle (false with `ignoreTlog`). */
  readonly tlogVerifiedOffline: boolean;
  /** Per-entry details. */
  readonly tlogEntries: readonly TlogEntryCheck[];
  /** The RFC 3161 timestamps verified (one per timestamp authority). */
  readonly timestamps: readonly TimestampCheck[];
  /** The RFC 3161 timestamps that did not verify or did not count, each with its reason. */
  readonly skippedTimestamps: readonly string[];
  /** For keyless bundles: what was verified about the certificate. */
  readonly certificate: CertificateCheck | undefined;
  /** The earliest integrated time that a verified SET signs (undefined when none does). */
  readonly integratedTime: Date | undefined;
}

function artifactDigestFor(
  artifact: BundleArtifact,
  algorithm: DigestAlgorithm,
): { alg: DigestAlgorithm; bytes: Uint8Array } {
  if ("bytes" in artifact) return { alg: algorithm, bytes: digestOf(algorithm, artifact.bytes) };
  const { alg, hex } = artifact.digest;
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== DIGEST_SIZE[alg] * 2) {
    fail("USAGE", `Invalid ${alg} digest: expected ${DIGEST_SIZE[alg] * 2} hex digits`);
  }
  if (alg !== algorithm) {
    fail(
      "ARTIFACT_MISMATCH",
      `The bundle signs a ${algorithm} digest, but the artifact was given as a ${alg} digest`,
    );
  }
  return { alg, bytes: Uint8Array.fromHex(hex) };
}

/**
 * Verifies a message signature. The signature is over the message hashed with the bundle's
 * digest algorithm, which has been checked against the artifact, so ECDSA and RSA keys verify it
 * over that digest: the artifact bytes and the `sha256:<hex>` form then give the same answer.
 * Ed25519 signs the message itself and needs the bytes; so does a legacy bundle that records no
 * digest algorithm at all (the key's own hash is used).
 */
async function verifySignatureOver(
  artifact: BundleArtifact,
  digest: { alg: DigestAlgorithm; bytes: Uint8Array },
  digestDeclared: boolean,
  signature: Uint8Array,
  verifier: Verifier,
  key: KeyObject,
  keyless: boolean,
): Promise<void> {
  const prehashable = key.asymmetricKeyType === "ec" || key.asymmetricKeyType === "rsa";
  let ok: boolean;
  try {
    ok = "bytes" in artifact && (!prehashable || !digestDeclared)
      ? await verifier.verify(artifact.bytes, signature)
      : verifyPrehashed(key, digest.alg, digest.bytes, signature);
  } catch (e) {
    if (e instanceof CosignError && e.code === "SIGNATURE_INVALID_ENCODING") {
      fail("SIGNATURE_MISMATCH", `The bundle's signature does not verify: ${e.message}`);
    }
    throw e;
  }
  if (!ok) {
    fail(
      "SIGNATURE_MISMATCH",
      `The bundle's signature does not verify with ${
        keyless ? "the signing certificate's key" : "the given key"
      }`,
    );
  }
}

/**
 * Checks that the bundle can be verified the way the user asked: a bundle signed with a public
 * key needs a key (`--key`); a certificate-based bundle with a key is allowed (its certificate
 * must then hold that key, which {@link verifyBundleWithKey} checks).
 * @param bundle the parsed bundle
 * @param haveKey whether a verification key was given
 * @throws {CosignError} `BUNDLE_KEY_REQUIRED` for a key-signed bundle and no key
 */
export function checkVerificationMaterial(bundle: Bundle, haveKey: boolean): void {
  const vm = bundle.verificationMaterial;
  if (!haveKey && vm.type !== "certificate") throw keyRequired(vm);
}

/** Why a bundle without a certificate cannot be verified without a key. */
function keyRequired(vm: VerificationMaterial): CosignError {
  return new CosignError(
    "BUNDLE_KEY_REQUIRED",
    vm.type === "publicKey"
      ? `The bundle is signed with a public key${
        vm.hint === undefined ? "" : ` (hint ${vm.hint})`
      }, but no key was given: verify it with --key`
      : "The bundle holds no certificate: verify it with --key",
  );
}

/** Who must have signed: a public key, or a certificate meeting an identity policy. */
export type BundleSigner =
  | {
    /** The verification key (`--key`); a certificate in the bundle must hold this key. */
    readonly key: Verifier;
  }
  | {
    /** Keyless: the bundle's certificate must chain to the trusted root and match this. */
    readonly certificate: CertificatePolicy;
  };

/**
 * Verifies a bundle with a public key (`verify-blob --key --bundle`, `verify-blob-attestation`).
 * Same as {@link verifyBundle} with `{ key: verifier }`.
 * @example
 * ```ts
 * import { loadVerifier, parseBundle, verifyBundleWithKey } from "@cosign-deno/cosign";
 * const bundle = parseBundle(await Deno.readFile("app.tar.gz.bundle"));
 * const result = await verifyBundleWithKey(
 *   bundle,
 *   { bytes: await Deno.readFile("app.tar.gz") },
 *   await loadVerifier("cosign.pub"),
 *   undefined, // no trusted root: the log entry is not checked
 *   { ignoreTlog: true },
 * );
 * ```
 */
export function verifyBundleWithKey(
  bundle: Bundle,
  artifact: BundleArtifact,
  verifier: Verifier,
  trustedRoot: TrustedRoot | undefined,
  options: VerifyBundleOptions = {},
): Promise<BundleVerification> {
  return verifyBundle(bundle, artifact, trustedRoot, { key: verifier }, options);
}

/** The key the bundle's content is verified with, and what was checked to get it. */
interface SigningKey {
  readonly verifier: Verifier;
  readonly key: KeyObject;
  readonly spki: Uint8Array;
  readonly keyHintMatched: boolean | undefined;
  readonly certificates: readonly Certificate[] | undefined;
}

async function signingKey(bundle: Bundle, signer: BundleSigner): Promise<SigningKey> {
  const vm = bundle.verificationMaterial;
  if ("certificate" in signer) {
    if (vm.type !== "certificate") throw keyRequired(vm);
    const certificates = parseBundleCertificates(vm.certificates);
    const key = certificates[0]!.publicKey;
    return {
      verifier: new KeyVerifier(key),
      key,
      spki: certificates[0]!.spki,
      keyHintMatched: undefined,
      certificates,
    };
  }
  const verifier = signer.key;
  const key = parsePublicKeyPem(await verifier.publicKeyPem(), "the verification key");
  const spki = spkiDer(key);
  let keyHintMatched: boolean | undefined;
  if (vm.type === "certificate") {
    const leaf = vm.certificates[0];
    const leafSpki = leaf === undefined ? undefined : certificateSpki(leaf);
    if (leafSpki === undefined) {
      fail("BUNDLE_INVALID", "Invalid bundle: the leaf certificate is not DER");
    }
    if (!bytesEqual(leafSpki, spki)) {
      fail("BUNDLE_KEY_MISMATCH", "The bundle's certificate does not hold the given key");
    }
  } else if (vm.type === "publicKey") {
    if (vm.spki !== undefined && !bytesEqual(vm.spki, spki)) {
      fail("BUNDLE_KEY_MISMATCH", "The bundle's public key is not the given key");
    }
    if (vm.hint !== undefined) keyHintMatched = vm.hint === toBase64(digestOf("sha256", spki));
  }
  return { verifier, key, spki, keyHintMatched, certificates: undefined };
}

/**
 * The bytes an RFC 3161 timestamp of this content imprints: the signature (for an envelope, its
 * only signature: more are refused before this is called).
 */
function timestampedBytes(content: BundleContent): Uint8Array {
  return content.type === "messageSignature"
    ? content.signature
    : content.envelope.signatures[0]!.sig;
}

/**
 * Verifies a bundle: its content with the signer's key, every transparency-log entry, its
 * RFC 3161 timestamps (at least `timestampThreshold` must verify; the others are reported in
 * `skippedTimestamps`), and, for keyless bundles, the certificate at each verified signing time
 * (a verified timestamp's genTime, or an integrated time a verified SET signs), its SCT and its
 * identity.
 * @param bundle the parsed bundle
 * @param artifact the artifact bytes, or its digest (`sha256:<hex>` on the command line)
 * @param trustedRoot the trust material: Rekor keys, Fulcio CAs, CT logs and TSAs; required
 *   unless `ignoreTlog` with a key
 * @param signer `{ key }` or `{ certificate: policy }`
 * @param options `ignoreTlog`, `checkClaims`, `now`, `timestampThreshold`
 * @returns what was verified
 * @example Keyless, offline: the artifact, its bundle and a trusted root in, a result out.
 * ```ts
 * import { parseBundle, parseTrustedRoot, verifyBundle } from "../../mod.ts";
 *
 * const bundle = parseBundle(await Deno.readFile("app.tar.gz.sigstore.json"));
 * const root = parseTrustedRoot(await Deno.readFile("trusted_root.json"));
 * const result = await verifyBundle(bundle, { bytes: await Deno.readFile("app.tar.gz") }, root, {
 *   certificate: {
 *     identity: {
 *       identity: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
 *       issuer: "https://token.actions.githubusercontent.com",
 *     },
 *   },
 * });
 * console.log(result.certificate?.subject, result.tlogEntries[0]?.logIndex);
 * ```
 * @throws {CosignError} one-line errors: `SIGNATURE_MISMATCH`, `DSSE_INVALID`,
 *   `ARTIFACT_MISMATCH` (digest differs), `ATTESTATION_MISMATCH` (no subject matches),
 *   `BUNDLE_KEY_MISMATCH`, `BUNDLE_KEY_REQUIRED`, `TLOG_MISSING`, `TRUSTED_ROOT_MISSING`,
 *   `TLOG_BODY_MISMATCH`, `TLOG_INVALID`, `TLOG_UNTRUSTED`, `TIMESTAMP_INVALID`,
 *   `TIMESTAMP_UNTRUSTED`, `CERTIFICATE_*`, `SCT_*`, `NOT_IMPLEMENTED`
 */
export async function verifyBundle(
  bundle: Bundle,
  artifact: BundleArtifact,
  trustedRoot: TrustedRoot | undefined,
  signer: BundleSigner,
  options: VerifyBundleOptions = {},
): Promise<BundleVerification> {
  if ("certificate" in signer) checkCertificatePolicy(signer.certificate);
  if ("certificate" in signer && trustedRoot === undefined) {
    fail(
      "TRUSTED_ROOT_MISSING",
      "No trusted root to verify the bundle's certificate (pass --trusted-root)",
    );
  }
  const signing = await signingKey(bundle, signer);
  const { verifier, key } = signing;
  const content = bundle.content;
  let artifactDigest: { alg: DigestAlgorithm; bytes: Uint8Array } | undefined;
  let messageDigestMatched = false;
  let claimsVerified = false;
  let statement: Statement | undefined;
  if (content.type === "messageSignature") {
    const declared = content.digest?.algorithm ?? hashedRekordAlgorithm(bundle);
    const algorithm = declared ?? "sha256";
    artifactDigest = artifactDigestFor(artifact, algorithm);
    if (content.digest !== undefined) {
      if (!bytesEqual(content.digest.bytes, artifactDigest.bytes)) {
        fail(
          "ARTIFACT_MISMATCH",
          `The bundle's message digest ${toHex(content.digest.bytes)} is not the artifact's ` +
            `${algorithm} ${toHex(artifactDigest.bytes)}`,
        );
      }
      messageDigestMatched = true;
    }
    await verifySignatureOver(
      artifact,
      artifactDigest,
      declared !== undefined,
      content.signature,
      verifier,
      key,
      signing.certificates !== undefined,
    );
  } else {
    // sigstore-go's rule: a bundle's envelope carries exactly one signature, the one its log
    // entries and timestamps are checked against. With more, a timestamp over one signature
    // could date another.
    const count = content.envelope.signatures.length;
    if (count !== 1) {
      fail(
        "DSSE_INVALID",
        `The bundle's DSSE envelope has ${count} signatures; exactly one is required`,
      );
    }
    await verifyEnvelope(content.envelope, verifier);
    // The claims (statement, subjects) are read from this envelope's payload: the bytes whose
    // signature was just verified (PAE over payloadType and payload).
    try {
      statement = parseStatement(content.envelope.payload);
    } catch (e) {
      if (options.checkClaims !== false) throw e;
    }
    if (options.checkClaims !== false) {
      artifactDigest = artifactDigestFor(artifact, "sha256");
      if (!hasSubjectDigest(statement!, "sha256", toHex(artifactDigest.bytes))) {
        fail(
          "ATTESTATION_MISMATCH",
          `no matching subject digest found: no subject has sha256 ${toHex(artifactDigest.bytes)}`,
        );
      }
      claimsVerified = true;
    }
  }

  const now = options.now ?? new Date();
  const checks: TlogEntryCheck[] = [];
  if (!options.ignoreTlog) {
    if (bundle.tlogEntries.length === 0) {
      fail(
        "TLOG_MISSING",
        "The bundle has no transparency log entry (use --insecure-ignore-tlog to skip the log)",
      );
    }
    if (trustedRoot === undefined) {
      fail(
        "TRUSTED_ROOT_MISSING",
        "No trusted root to verify the bundle's transparency log entries (pass --trusted-root, " +
          "or --insecure-ignore-tlog to skip the log)",
      );
    }
    const ctx: BodyContext = { content, digest: artifactDigest, keySpki: signing.spki };
    // One log entry counted twice would pass for two (sigstore-go refuses the same log and
    // index twice).
    const seen = new Set<string>();
    for (const entry of bundle.tlogEntries) {
      const key = `${entry.logIdHex}/${entry.logIndex}`;
      if (seen.has(key)) {
        fail(
          "BUNDLE_INVALID",
          `The bundle lists transparency log entry ${entry.logIndex} of log ${entry.logIdHex} twice`,
        );
      }
      seen.add(key);
    }
    for (const entry of bundle.tlogEntries) checks.push(verifyEntry(entry, ctx, trustedRoot, now));
  }
  // RFC 3161 timestamps, counted as sigstore-go counts them (`verifyTimestamps`): each verified
  // on its own, one that does not verify reported and skipped, one authority counted once; the
  // bundle fails only when fewer than the threshold verify. A bundle carrying timestamps makes
  // them a time source, so by default at least one must verify (Go cosign asks for that, with
  // `WithSignedTimestamps(1)`, only under --use-signed-timestamps or for Rekor v2 bundles, and
  // otherwise does not look at them).
  const threshold = options.timestampThreshold ?? (bundle.rfc3161Timestamps.length > 0 ? 1 : 0);
  let timestamps: readonly TimestampCheck[] = [];
  let skippedTimestamps: readonly string[] = [];
  if (threshold > 0 || bundle.rfc3161Timestamps.length > 0) {
    if (trustedRoot === undefined) {
      if (options.timestampThreshold !== undefined) {
        fail(
          "TRUSTED_ROOT_MISSING",
          "No trusted root to verify the bundle's RFC 3161 timestamps (pass --trusted-root)",
        );
      }
    } else {
      const r = verifyTimestamps(
        bundle.rfc3161Timestamps,
        bundle.timestampedContent ?? timestampedBytes(content),
        trustedRoot.timestampAuthorities,
        { threshold, now },
      );
      timestamps = r.verified;
      skippedTimestamps = r.skipped.map((s) =>
        `RFC 3161 timestamp ${s.index + 1}: ${s.error.message}`
      );
    }
  }
  // sigstore-go's rule: an integrated time is a verified signing time only when a verified SET
  // signs it; an inclusion proof does not cover it, so a proof-only entry's time is not used.
  const integrated = checks.filter((c) => c.setVerified).map((c) => c.integratedTime)
    .filter((t): t is Date => t !== undefined);
  let certificate: CertificateCheck | undefined;
  if ("certificate" in signer) {
    const times = [...integrated, ...timestamps.map((t) => t.time)];
    // Without any verified time (--insecure-ignore-tlog, no TSA) cosign checks against now.
    if (times.length === 0 && options.ignoreTlog) times.push(now);
    certificate = verifySigningCertificate(
      signing.certificates!,
      trustedRoot!,
      times,
      signer.certificate,
    );
  }
  return {
    format: bundle.format,
    contentType: content.type,
    signatureVerified: true,
    artifactDigest: artifactDigest === undefined
      ? undefined
      : { alg: artifactDigest.alg, hex: toHex(artifactDigest.bytes) },
    messageDigestMatched,
    claimsVerified,
    statement,
    keyHintMatched: signing.keyHintMatched,
    tlogVerifiedOffline: checks.length > 0,
    tlogEntries: checks,
    timestamps,
    skippedTimestamps,
    certificate,
    integratedTime: integrated.length === 0
      ? undefined
      : new Date(Math.min(...integrated.map((t) => t.getTime()))),
  };
}

/** For legacy message signatures (no `messageDigest`): the hash algorithm the entry records. */
function hashedRekordAlgorithm(bundle: Bundle): DigestAlgorithm | undefined {
  for (const e of bundle.tlogEntries) {
    if (e.kind !== "hashedrekord") continue;
    try {
      const body = JSON.parse(new TextDecoder().decode(e.canonicalizedBody));
      const alg = at(body, "spec", "data", "hash", "algorithm");
      if (alg === "sha256" || alg === "sha384" || alg === "sha512") return alg;
    } catch {
      // the body check reports it
    }
  }
  return undefined;
}
