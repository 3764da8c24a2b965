/**
 * Signing and verifying container images with keys (cosign-spec §2, §3): the digest is
 * resolved once, the simple-signing payload is signed, and the signature is stored as a layer
 * of the `sha256-<hex>.sig` image next to the image (or in `COSIGN_REPOSITORY`).
 * @module
 */

import {
  CosignError,
  EXIT_FAILURE,
  EXIT_IMAGE_NOT_FOUND,
  EXIT_NO_CERTIFICATE,
  EXIT_NO_MATCHING,
  EXIT_NO_SIGNATURES,
} from "../errors.ts";
import type { Signer, Verifier } from "../crypto/signer.ts";
import { INDEXES } from "../oci/media_types.ts";
import { type Reference, referenceName, repositoryName, withDigest } from "../oci/reference.ts";
import type { Descriptor, Manifest } from "../oci/registry.ts";
import type { ImageStore } from "../oci/store.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import type { RekorClient } from "../tlog/rekor.ts";
import type { BundleLogEntry } from "./bundle_writer.ts";
import {
  imageSignatureStatement,
  listImageBundles,
  manifestDescriptor,
  type SignedImageBundle,
  signImageBundle,
  type VerifiedImageBundle,
  verifyImageBundles,
} from "./image_bundles.ts";
import {
  appendAttachments,
  type AttachmentListing,
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  listAttachments,
  RFC3161_ANNOTATION,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  type SkippedLayer,
} from "./attachments.ts";
import { simpleSigningPayload } from "./payload.ts";
import { attachmentRef } from "./tags.ts";
import {
  checkSignatureLayers,
  type LayerSignatureCheck,
  type VerifiedSignature,
} from "./verify_signatures.ts";
import type { KeylessLayerOptions } from "./layer_bundle.ts";

/** Where attachments go. */
export interface AttachmentOptions {
  /** `COSIGN_REPOSITORY`: another repository for signatures. */
  cosignRepository?: string;
  /** `--attachment-tag-prefix`. */
  tagPrefix?: string;
}

/**
 * Fetches the image manifest; "not found" becomes `IMAGE_NOT_FOUND` with `exitCode` (1, except
 * for `verify`, where cosign uses 11).
 */
export async function getImage(
  store: ImageStore,
  ref: Reference,
  exitCode = EXIT_FAILURE,
): Promise<Manifest> {
  try {
    return await store.getManifest(ref);
  } catch (e) {
    if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") {
      throw new CosignError("IMAGE_NOT_FOUND", `Image ${referenceName(ref)} not found`, {
        exitCode,
      });
    }
    throw e;
  }
}

/** The digests to sign: the image (or index) and, with `recursive`, every child of an index. */
export function digestsToSign(manifest: Manifest, recursive: boolean): string[] {
  const out = [manifest.digest];
  if (recursive && INDEXES.includes(manifest.mediaType)) {
    const children = Array.isArray(manifest.json.manifests) ? manifest.json.manifests : [];
    for (const c of children) {
      const d = (c as { digest?: unknown }).digest;
      if (typeof d === "string" && !out.includes(d)) out.push(d);
    }
  }
  return out;
}

/** Options for {@link signImage}. */
export interface SignImageOptions extends AttachmentOptions {
  /** `-a key=value` annotations for the payload's `optional`. */
  annotations?: Record<string, string>;
  /** Sign an index's children too. */
  recursive?: boolean;
  /** Push the signature (default true). */
  upload?: boolean;
  /** Docker media types for the signature image. */
  dockerMediaTypes?: boolean;
  /** Verifies existing signatures for the dedupe rule (normally the signer's own verifier). */
  verifier?: Verifier;
  /**
   * Records each signature in a transparency log and returns cosign's bundle annotation JSON
   * (`{"SignedEntryTimestamp","Payload":{…}}`) for the layer.
   */
  tlog?: (payload: Uint8Array, signature: Uint8Array) => Promise<string>;
  /**
   * The signer's certificate (PEM) and its chain (PEM, may be empty), stored on each layer as
   * `dev.sigstore.cosign/certificate` and `dev.sigstore.cosign/chain`.
   */
  certificate?: { readonly pem: string; readonly chainPem: string };
  /**
   * Store cosign v3's way (cosign-spec §3.7): a DSSE envelope over an in-toto statement for the
   * digest in a Sigstore bundle v0.3, pushed as an OCI 1.1 referrer of the image (and listed in
   * the `sha256-<hex>` fallback index on a registry without the referrers API). Default false
   * (the `.sig` image); the CLI's `sign` defaults to true, as cosign v3.
   */
  newBundleFormat?: boolean;
  /**
   * With `newBundleFormat`: records the envelope in a transparency log and resolves to the entry
   * with its inclusion proof, which the bundle carries.
   */
  bundleTlog?: (envelope: Uint8Array) => Promise<BundleLogEntry | readonly BundleLogEntry[]>;
  /** With `newBundleFormat`: the signer's public key PEM, for the bundle's key hint. */
  publicKeyPem?: string;
  /**
   * RFC 3161 timestamps (DER responses) over each signature: in the v0.3 bundle with
   * `newBundleFormat`, else the first as the layer's `dev.sigstore.cosign/rfc3161timestamp`
   * annotation (`{"SignedRFC3161Timestamp": base64}`, as cosign).
   */
  timestamps?: (signature: Uint8Array) => Promise<Uint8Array[]>;
}

/** One signed digest. */
export interface SignedDigest {
  /** The signed digest (`sha256:<hex>`). */
  digest: string;
  /** The simple-signing payload that was signed. */
  payload: Uint8Array;
  /** The signature over `payload`. */
  signature: Uint8Array;
  /** Where the signature went (undefined with `upload: false`). */
  signatureRef?: Reference;
  /** False when an identical signature was already there. */
  added: boolean;
  /** With `newBundleFormat`: the bundle JSON and where its referrer went. */
  bundle?: SignedImageBundle;
}

/**
 * Signs an image's digest (and, recursively, an index's children) and stores the signatures.
 * @example
 * ```ts
 * import { RegistryClient, loadSigner, parseReference, signImage } from "../../mod.ts";
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * await signImage(new RegistryClient(), parseReference("localhost:5000/app:v1"), signer);
 * ```
 */
export async function signImage(
  store: ImageStore,
  ref: Reference,
  signer: Signer,
  options: SignImageOptions = {},
): Promise<SignedDigest[]> {
  const manifest = await getImage(store, ref);
  if (options.newBundleFormat) return await signImageBundles(store, ref, manifest, signer, options);
  const out: SignedDigest[] = [];
  for (const digest of digestsToSign(manifest, options.recursive ?? false)) {
    const payload = simpleSigningPayload(repositoryName(ref), digest, options.annotations);
    const signature = await signer.sign(payload);
    const result: SignedDigest = { digest, payload, signature, added: false };
    if (options.upload !== false) {
      const sigRef = attachmentRef(ref, digest, "sig", {
        ...(options.cosignRepository ? { cosignRepository: options.cosignRepository } : {}),
        ...(options.tagPrefix ? { tagPrefix: options.tagPrefix } : {}),
      });
      const verifier = options.verifier;
      const annotations: Record<string, string> = { [SIGNATURE_ANNOTATION]: signature.toBase64() };
      if (options.certificate) {
        annotations[CERTIFICATE_ANNOTATION] = options.certificate.pem;
        annotations[CHAIN_ANNOTATION] = options.certificate.chainPem;
      }
      if (options.tlog) annotations[BUNDLE_ANNOTATION] = await options.tlog(payload, signature);
      const [timestamp] = options.timestamps ? await options.timestamps(signature) : [];
      if (timestamp) {
        annotations[RFC3161_ANNOTATION] = JSON.stringify({
          SignedRFC3161Timestamp: timestamp.toBase64(),
        });
      }
      const r = await appendAttachments(store, sigRef, [{
        payload,
        mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
        annotations,
      }], {
        dockerMediaTypes: options.dockerMediaTypes ?? false,
        ...(verifier
          ? {
            // cosign's rule: same payload, every annotation of the new layer but the signature
            // present with the same value (the old one may have more), and the old signature
            // verifies with our key.
            isDuplicate: async (existing, added) => {
              const sig = existing.annotations?.[SIGNATURE_ANNOTATION];
              const same = Object.entries(added.annotations).every(([k, v]) =>
                k === SIGNATURE_ANNOTATION || existing.annotations?.[k] === v
              );
              if (!sig || !same) return false;
              try {
                return await verifier.verify(payload, Uint8Array.fromBase64(sig));
              } catch {
                return false;
              }
            },
          }
          : {}),
      });
      result.signatureRef = sigRef;
      result.added = r.added > 0;
    }
    out.push(result);
  }
  return out;
}

/** The descriptors to sign: the manifest and, with `recursive`, each child of an index. */
export function descriptorsToSign(manifest: Manifest, recursive: boolean): Descriptor[] {
  const out: Descriptor[] = [manifestDescriptor(manifest)];
  if (recursive && INDEXES.includes(manifest.mediaType)) {
    const children = Array.isArray(manifest.json.manifests) ? manifest.json.manifests : [];
    for (const c of children as Record<string, unknown>[]) {
      const d = c?.digest;
      if (typeof d !== "string" || out.some((o) => o.digest === d)) continue;
      out.push({
        mediaType: typeof c.mediaType === "string" ? c.mediaType : "",
        digest: d,
        size: typeof c.size === "number" ? c.size : 0,
      });
    }
  }
  return out;
}

async function signImageBundles(
  store: ImageStore,
  ref: Reference,
  manifest: Manifest,
  signer: Signer,
  options: SignImageOptions,
): Promise<SignedDigest[]> {
  const { decodePem } = await import("../crypto/pem.ts");
  const material = options.certificate
    ? { type: "certificate" as const, der: decodePem(options.certificate.pem, "certificate").bytes }
    : {
      type: "publicKey" as const,
      publicKeyPem: options.publicKeyPem ?? await signer.publicKeyPem(),
    };
  const out: SignedDigest[] = [];
  for (const subject of descriptorsToSign(manifest, options.recursive ?? false)) {
    const statement = imageSignatureStatement(subject.digest, options.annotations);
    const signed = await signImageBundle(store, ref, subject, signer, {
      statement,
      material,
      ...(options.bundleTlog ? { tlog: options.bundleTlog } : {}),
      ...(options.timestamps ? { timestamps: options.timestamps } : {}),
      ...(options.upload === false ? { upload: false } : {}),
      ...(options.cosignRepository ? { cosignRepository: options.cosignRepository } : {}),
    });
    const { parseEnvelope } = await import("./dsse.ts");
    const env = parseEnvelope(signed.envelope);
    out.push({
      digest: subject.digest,
      payload: statement,
      signature: env.signatures[0]!.sig,
      added: signed.pushed !== undefined,
      bundle: signed,
      ...(signed.pushed ? { signatureRef: withDigest(ref, signed.pushed.digest) } : {}),
    });
  }
  return out;
}

/**
 * Safe by default: verifying with a key needs trust material to check the transparency log, or
 * an explicit `ignoreTlog: true` (keyless verification says so in `keyless.ignoreTlog`).
 * @throws {CosignError} `TRUSTED_ROOT_MISSING` naming `what`
 */
export function requireLogDecision(
  what: string,
  verifier: Verifier | undefined,
  options: { readonly trustedRoot?: TrustedRoot; readonly ignoreTlog?: boolean },
): void {
  if (verifier !== undefined && options.trustedRoot === undefined && options.ignoreTlog !== true) {
    throw new CosignError(
      "TRUSTED_ROOT_MISSING",
      `${what} needs trustedRoot to check each transparency-log entry, or ignoreTlog: true to ` +
        "accept signatures without one",
    );
  }
}

/** Options for {@link verifyImage}. */
export interface VerifyImageOptions extends AttachmentOptions {
  /** `-a key=value` annotations each payload's `optional` must hold. */
  annotations?: Record<string, string>;
  /** Check the payload's claims (digest and `annotations`). Default true. */
  checkClaims?: boolean;
  /** Parallel layer downloads (`--max-workers`). Default 10. */
  concurrency?: number;
  /** Largest layer accepted (`COSIGN_MAX_ATTACHMENT_SIZE`). */
  maxLayerBytes?: number;
  /**
   * Require each signature's transparency-log bundle annotation and verify it offline against
   * these logs (SET and entry cross-checks). Required with a key unless `ignoreTlog`.
   */
  trustedRoot?: TrustedRoot;
  /**
   * Skip the transparency log for key-signed images (`--insecure-ignore-tlog`): signatures are
   * then accepted without any proof that they were logged. Must be said explicitly; without it
   * and without `trustedRoot`, {@link verifyImage} throws. (Keyless: `keyless.ignoreTlog`.)
   */
  ignoreTlog?: boolean;
  /**
   * With `trustedRoot`: where to search for the entry of a signature without a bundle
   * annotation (cosign-spec §6.8); absent, such a signature is rejected.
   */
  rekor?: RekorClient;
  /**
   * Keyless verification (pass `undefined` as the verifier): each signature's certificate is
   * checked against these CAs and this identity policy.
   */
  keyless?: KeylessLayerOptions;
}

/** The outcome of {@link verifyImage}. */
export interface VerifyImageResult {
  /** The verified image digest. */
  digest: string;
  /** Where the signatures were read from. */
  signatureRef: Reference;
  /** The signatures that verified. */
  verified: VerifiedSignature[];
  /** Signatures that did not verify, each with its reason. */
  skipped: { digest: string; reason: string }[];
  /** Each verified signature's transparency-log entry was verified (false: the log was skipped). */
  tlogVerified: boolean;
  /** The cosign v3 signatures (Sigstore bundles stored as referrers) that verified. */
  bundles: VerifiedImageBundle[];
}

/**
 * Verifies an image's signatures with a key, or keylessly (`verifier` undefined and
 * `options.keyless`). Safe by default: with a key, `trustedRoot` (to check each signature's
 * transparency-log entry) or an explicit `ignoreTlog: true` is required; keylessly, the identity
 * policy must name both an identity and an issuer. Fails with cosign's exit codes: 10 when there
 * are no signatures, 11 when the image is not found, 12 when none of the signatures verifies. A
 * registry that cannot be reached is an error of its own (exit 1), never "no signatures".
 * @example
 * ```ts
 * import { loadVerifier, parseReference, parseTrustedRoot, RegistryClient, verifyImage } from "../../mod.ts";
 * const trustedRoot = parseTrustedRoot(await Deno.readFile("trusted_root.json"));
 * const r = await verifyImage(
 *   new RegistryClient(),
 *   parseReference("localhost:5000/app:v1"),
 *   await loadVerifier("cosign.pub"),
 *   { trustedRoot },
 * );
 * console.log(r.digest, r.verified.length, r.tlogVerified);
 * ```
 * @throws {CosignError} `TRUSTED_ROOT_MISSING` (neither `trustedRoot` nor `ignoreTlog`),
 *   `CERTIFICATE_POLICY_INCOMPLETE`, `NO_SIGNATURES`, `IMAGE_NOT_FOUND`,
 *   `NO_MATCHING_SIGNATURES`, `CERTIFICATE_MISSING`
 */
export async function verifyImage(
  store: ImageStore,
  ref: Reference,
  verifier: Verifier | undefined,
  options: VerifyImageOptions = {},
): Promise<VerifyImageResult> {
  requireLogDecision("verifyImage", verifier, options);
  if (verifier === undefined && options.keyless !== undefined) {
    const { checkCertificatePolicy } = await import("./certificate_policy.ts");
    checkCertificatePolicy(options.keyless.policy);
  }
  const digest = ref.digest ?? (await getImage(store, ref, EXIT_IMAGE_NOT_FOUND)).digest;
  const signatureRef = attachmentRef(ref, digest, "sig", {
    ...(options.cosignRepository ? { cosignRepository: options.cosignRepository } : {}),
    ...(options.tagPrefix ? { tagPrefix: options.tagPrefix } : {}),
  });
  // Both places are read at once: the .sig tag (layers listed here, fetched only as they are
  // verified, so memory stays bounded) and the referrers (cosign v3 bundles).
  const [read, referred] = await Promise.all([
    listAttachments(store, signatureRef, {
      ...(options.maxLayerBytes ? { maxLayerBytes: options.maxLayerBytes } : {}),
    }),
    listImageBundles(store, ref, digest, {
      ...(options.cosignRepository ? { cosignRepository: options.cosignRepository } : {}),
      ...(options.maxLayerBytes ? { maxLayerBytes: options.maxLayerBytes } : {}),
    }),
  ]);
  const name = referenceName(withDigest(ref, digest));
  const legacyFound = read.found && (read.layers.length > 0 || read.skipped.length > 0);
  if (!legacyFound && referred.bundles.length === 0 && referred.skipped.length === 0) {
    throw new CosignError("NO_SIGNATURES", `no signatures found for ${name}`, {
      exitCode: EXIT_NO_SIGNATURES,
    });
  }
  const bundleCheck = verifier !== undefined
    ? {
      signer: { key: verifier },
      ignoreTlog: options.ignoreTlog === true,
      ...(options.trustedRoot ? { trustedRoot: options.trustedRoot } : {}),
    }
    : options.keyless !== undefined
    ? {
      signer: { certificate: options.keyless.policy },
      ignoreTlog: options.keyless.ignoreTlog,
      trustedRoot: options.keyless.trustedRoot,
    }
    : undefined;
  if (bundleCheck === undefined) {
    throw new CosignError("USAGE", "verifyImage needs a verifier or keyless options");
  }
  const bundlesChecked = verifyImageBundles(referred.bundles, digest, {
    ...bundleCheck,
    ...(options.annotations ? { annotations: options.annotations } : {}),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
  });
  bundlesChecked.catch(() => {}); // awaited below
  const legacy = legacyFound
    ? await verifyLegacy(read, name, digest, verifier, options, referred.bundles.length === 0)
    : { verified: [], skipped: read.skipped };
  const v3 = await bundlesChecked;
  const skipped = [...legacy.skipped, ...referred.skipped, ...v3.skipped];
  const tlogVerified = verifier !== undefined
    ? options.ignoreTlog !== true
    : options.keyless?.ignoreTlog === false;
  if (legacy.verified.length === 0 && v3.verified.length === 0) {
    throw new CosignError(
      "NO_MATCHING_SIGNATURES",
      `no matching signatures for ${name}: ${skipped.map((s) => s.reason).join("; ")}`,
      { exitCode: EXIT_NO_MATCHING },
    );
  }
  return {
    digest,
    signatureRef,
    verified: legacy.verified,
    skipped,
    tlogVerified,
    bundles: v3.verified,
  };
}

/** Verifies the layers of the `.sig` image (cosign's legacy storage). */
async function verifyLegacy(
  read: AttachmentListing,
  name: string,
  digest: string,
  verifier: Verifier | undefined,
  options: VerifyImageOptions,
  alone: boolean,
): Promise<{ verified: VerifiedSignature[]; skipped: SkippedLayer[] }> {
  let check: Verifier | LayerSignatureCheck;
  if (verifier !== undefined) check = verifier;
  else if (options.keyless !== undefined) {
    if (!read.layers.some((l) => l.annotations[CERTIFICATE_ANNOTATION])) {
      const reason = `no certificate found on the signatures of ${name}`;
      if (!alone) {
        return { verified: [], skipped: [...read.skipped, { digest: read.digest ?? "", reason }] };
      }
      throw new CosignError(
        "CERTIFICATE_MISSING",
        `no certificate found on the signatures of ${name}`,
        {
          exitCode: EXIT_NO_CERTIFICATE,
        },
      );
    }
    const { keylessLayerCheck } = await import("./layer_bundle.ts");
    check = keylessLayerCheck(options.keyless);
  } else {
    throw new CosignError("USAGE", "verifyImage needs a verifier or keyless options");
  }
  const r = await checkSignatureLayers(read.layers, check, {
    digest,
    ...(options.concurrency ? { loading: { concurrency: options.concurrency } } : {}),
    ...(options.checkClaims === false ? { checkClaims: false } : {}),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  });
  if (verifier !== undefined && options.ignoreTlog !== true && options.trustedRoot) {
    // The log is checked only for signatures that verified; a missing or bad bundle rejects one.
    const { checkLayerBundle } = await import("./layer_bundle.ts");
    const kept = [];
    for (const v of r.verified) {
      const reason = await checkLayerBundle(v.layer, verifier, options.trustedRoot, options.rekor);
      if (reason) r.skipped.push({ digest: v.layer.descriptor.digest, reason });
      else kept.push(v);
    }
    r.verified = kept;
  }
  return { verified: r.verified, skipped: [...read.skipped, ...r.skipped] };
}
