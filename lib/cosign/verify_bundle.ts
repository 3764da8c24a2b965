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
import type { TrustedRoot } from "../tlog/trusted_root.ts";
import { verifyEnvelope } from "./dsse.ts";
import { hasSubjectDigest, parseStatement, type Statement } from "./intoto.ts";
import type { Bundle, BundleContent, BundleFormat } from "./bundle.ts";
import { at, type BodyContext, type TlogEntryCheck, verifyEntry } from "./bundle_tlog.ts";

export type { TlogEntryCheck };
import { DIGEST_SIZE, digestOf } from "./digests.ts";

function fail(code: ErrorCode, message: string): never {
  throw new CosignError(code, message);
}

/** The artifact a bundle is verified against: its bytes, or only its digest. */
export type BundleArtifact =
  | { readonly bytes: Uint8Array }
  | { readonly digest: { readonly alg: DigestAlgorithm; readonly hex: string } };

/** Options for {@link verifyBundleWithKey}. */
export interface VerifyBundleOptions {
  /** Skip the transparency log (`--insecure-ignore-tlog`). */
  readonly ignoreTlog?: boolean;
  /** For in-toto envelopes, check that a subject matches the artifact (default true). */
  readonly checkClaims?: boolean;
  /** The current time, for the "integrated time is not in the future" check. */
  readonly now?: Date;
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
  /** The earliest integrated time, the signing time for certificate checks. */
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
    fail("SIGNATURE_MISMATCH", "The bundle's signature does not verify with the given key");
  }
}

/**
 * Verifies a bundle with a public key (`verify-blob --key --bundle`, `verify-blob-attestation`).
 * @param bundle the parsed bundle
 * @param artifact the artifact bytes, or its digest (`sha256:<hex>` on the command line)
 * @param verifier the key's verifier (its public key is also compared with the key in the
 *   bundle's certificate, if any, and in the tlog entries)
 * @param trustedRoot the trusted root holding the Rekor keys; required unless `ignoreTlog`
 * @param options `ignoreTlog`, `checkClaims`, `now`
 * @returns what was verified
 * @throws {CosignError} one-line errors: `SIGNATURE_MISMATCH`, `DSSE_INVALID`,
 *   `ARTIFACT_MISMATCH` (digest differs), `ATTESTATION_MISMATCH` (no subject matches),
 *   `BUNDLE_KEY_MISMATCH`, `TLOG_MISSING`, `TRUSTED_ROOT_MISSING`, `TLOG_BODY_MISMATCH`,
 *   `TLOG_INVALID`, `TLOG_UNTRUSTED`, `NOT_IMPLEMENTED` (an unsupported entry kind; Ed25519
 *   with a digest-only artifact)
 */
export async function verifyBundleWithKey(
  bundle: Bundle,
  artifact: BundleArtifact,
  verifier: Verifier,
  trustedRoot: TrustedRoot | undefined,
  options: VerifyBundleOptions = {},
): Promise<BundleVerification> {
  const key = parsePublicKeyPem(await verifier.publicKeyPem(), "the verification key");
  const keySpki = spkiDer(key);
  const vm = bundle.verificationMaterial;
  let keyHintMatched: boolean | undefined;
  if (vm.type === "certificate") {
    const leaf = vm.certificates[0];
    const spki = leaf === undefined ? undefined : certificateSpki(leaf);
    if (spki === undefined) {
      fail("BUNDLE_INVALID", "Invalid bundle: the leaf certificate is not DER");
    }
    if (!bytesEqual(spki, keySpki)) {
      fail("BUNDLE_KEY_MISMATCH", "The bundle's certificate does not hold the given key");
    }
  } else if (vm.type === "publicKey") {
    if (vm.spki !== undefined && !bytesEqual(vm.spki, keySpki)) {
      fail("BUNDLE_KEY_MISMATCH", "The bundle's public key is not the given key");
    }
    if (vm.hint !== undefined) keyHintMatched = vm.hint === toBase64(digestOf("sha256", keySpki));
  }

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
    );
  } else {
    await verifyEnvelope(content.envelope, verifier);
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
    const now = options.now ?? new Date();
    const ctx: BodyContext = {
      content,
      digest: artifactDigest,
      keySpki,
    };
    for (const entry of bundle.tlogEntries) checks.push(verifyEntry(entry, ctx, trustedRoot, now));
  }
  const times = checks.map((c) => c.integratedTime).filter((t): t is Date => t !== undefined);
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
    keyHintMatched,
    tlogVerifiedOffline: checks.length > 0,
    tlogEntries: checks,
    integratedTime: times.length === 0
      ? undefined
      : new Date(Math.min(...times.map((t) => t.getTime()))),
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
