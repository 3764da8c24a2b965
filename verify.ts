/**
 * Verification, one call for each thing the CLI verifies: blobs (`verify-blob`), images, legacy
 * `.sig` and cosign v3 bundles (`verify`), attestations with type filtering
 * (`verify-attestation`, `verify-blob-attestation`), Sigstore bundles (`verify-blob --bundle`), DSSE envelopes, and the
 * trust material they need (a trusted root from a file or TUF, certificate policies). Nothing
 * runs at import time.
 *
 * @example
 * ```ts
 * import { loadVerifier, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * import {
 *   predicateTypeFor,
 *   verifyImage,
 *   verifyImageAttestations,
 * } from "@cosign-deno/cosign/verify";
 *
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const key = await loadVerifier("cosign.pub");
 * const sigs = await verifyImage(client, image, key, { ignoreTlog: true });
 * const atts = await verifyImageAttestations(client, image, key, {
 *   predicateType: predicateTypeFor("slsaprovenance1"), // "https://slsa.dev/provenance/v1"
 *   ignoreTlog: true,
 * });
 * console.log(sigs.verified.length, atts.verified.map((a) => a.statement.predicateType));
 * ```
 * @module
 */

export { CosignError } from "./lib/errors.ts";
export type { ErrorCode } from "./lib/errors.ts";
export type { MessageData, Verifier } from "./lib/crypto/signer.ts";
export { KeyVerifier } from "./lib/crypto/key_signer.ts";
export { loadVerifier } from "./lib/cosign/keyref.ts";
export type { LoadVerifierOptions, ReadKeyOptions } from "./lib/cosign/keyref.ts";

// Blobs.
export { decodeSignature, verifyBlob } from "./lib/cosign/blob.ts";

// Images: legacy `.sig` signatures and cosign v3 bundles.
export { verifyImage } from "./lib/cosign/image_signatures.ts";
export type { VerifyImageOptions, VerifyImageResult } from "./lib/cosign/image_signatures.ts";
export { checkSignatureLayers, verifySignatureLayers } from "./lib/cosign/verify_signatures.ts";
export type {
  LayerSignatureCheck,
  VerifiedSignature,
  VerifySignaturesOptions,
  VerifySignaturesResult,
} from "./lib/cosign/verify_signatures.ts";
export { listImageBundles, verifyImageBundles } from "./lib/cosign/image_bundles.ts";
export type {
  ImageBundle,
  ImageBundleCheck,
  ImageBundleListing,
  PendingBundle,
  VerifiedImageBundle,
} from "./lib/cosign/image_bundles.ts";

// Attestations.
export {
  verifyAttestationLayer,
  verifyImageAttestations,
} from "./lib/cosign/image_attestations.ts";
export type {
  VerifiedAttestation,
  VerifyImageAttestationsOptions,
  VerifyImageAttestationsResult,
} from "./lib/cosign/image_attestations.ts";
export { verifyBlobAttestation } from "./lib/cosign/blob_attestation.ts";
export type {
  VerifiedBlobAttestation,
  VerifyBlobAttestationOptions,
} from "./lib/cosign/blob_attestation.ts";
export { parseEnvelope, verifyEnvelope } from "./lib/cosign/dsse.ts";
export type { Envelope } from "./lib/cosign/dsse.ts";
export { hasSubjectDigest, parseStatement, predicateTypeFor } from "./lib/cosign/intoto.ts";
export type { Statement, Subject } from "./lib/cosign/intoto.ts";

// Bundles.
export { parseBundle } from "./lib/cosign/bundle.ts";
export type { Bundle, ParseBundleOptions } from "./lib/cosign/bundle.ts";
export { verifyBundle, verifyBundleWithKey } from "./lib/cosign/verify_bundle.ts";
export type {
  BundleArtifact,
  BundleSigner,
  BundleVerification,
  VerifyBundleOptions,
} from "./lib/cosign/verify_bundle.ts";
export { layerAsBundle } from "./lib/cosign/layer_bundle.ts";
export type { KeylessLayerOptions, LayerKind } from "./lib/cosign/layer_bundle.ts";

// Trust: the trusted root, certificate policies, the transparency log.
export { parseTrustedRoot } from "./lib/trust/trusted_root.ts";
export type { TrustedRoot } from "./lib/trust/trusted_root.ts";
export { trustedRootFromTuf, type TufOptions, updateTuf } from "./lib/trust/tuf.ts";
export { checkCertificatePolicy } from "./lib/cosign/certificate_policy.ts";
export type { CertificateCheck, CertificatePolicy } from "./lib/cosign/bundle_certificate.ts";
export type { FulcioExtensions, IdentityPolicy } from "./lib/x509/identity.ts";
export { findAndVerifyEntry } from "./lib/cosign/tlog_search.ts";
export type { OnlineTlogQuery, OnlineTlogResult } from "./lib/cosign/tlog_search.ts";
export { RekorClient } from "./lib/tlog/rekor.ts";
