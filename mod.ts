/**
 * cosign for Deno: sign and verify blobs with cosign-compatible keys and signatures.
 *
 * Import by URL from a `deno run` script; nothing runs at import time and nothing is printed.
 * This module re-exports everything; the subpath entry points hold the parts most programs need:
 * `./verify` (every verification the CLI performs), `./sign`, `./oci` (registries, layouts,
 * attachments), `./bundle` (Sigstore bundles) and `./keys`.
 *
 * @example
 * ```ts
 * import { generateKeyPair, loadSigner, loadVerifier, signBlob, verifyBlob } from "./mod.ts";
 *
 * const { privateKeyPem, publicKeyPem } = await generateKeyPair("pw");
 * await Deno.writeTextFile("k.key", privateKeyPem, { mode: 0o600 });
 * await Deno.writeTextFile("k.pub", publicKeyPem);
 * const signer = await loadSigner("k.key", { password: async () => "pw" });
 * const sig = await signBlob(signer, new TextEncoder().encode("hello"));
 * await verifyBlob(await loadVerifier("k.pub"), new TextEncoder().encode("hello"), sig);
 * ```
 * @module
 */

export { CosignError, EXIT_FAILURE, EXIT_INTERNAL, EXIT_USAGE, UsageError } from "./lib/errors.ts";
export type { ErrorCode } from "./lib/errors.ts";
export {
  ALLOWED_SCRYPT_N,
  COSIGN_PRIVATE_KEY_PEM,
  decryptPrivateKey,
  DEFAULT_SCRYPT_N,
  encryptPrivateKey,
  SIGSTORE_PRIVATE_KEY_PEM,
} from "./lib/crypto/encrypted_key.ts";
export type { EncryptOptions, Password } from "./lib/crypto/encrypted_key.ts";
export type { MessageData, Signer, Verifier } from "./lib/crypto/signer.ts";
export { KeySigner, KeyVerifier } from "./lib/crypto/key_signer.ts";
export type { HashName, KeyVerifierOptions, VerifiableSigner } from "./lib/crypto/key_signer.ts";
export { DigestSigner } from "./lib/crypto/kms.ts";
export type {
  CreatedKey,
  KmsErrorCode,
  KmsOptions,
  KmsProvider,
  RemoteKey,
} from "./lib/crypto/kms.ts";
export type { KeyAlgorithm } from "./lib/crypto/keys.ts";
export { generateKeyPair, importKeyPair } from "./lib/cosign/keypair.ts";
export type { EncodedKeyPair } from "./lib/cosign/keypair.ts";
export { createKmsKey, keyRefKind, loadSigner, loadVerifier } from "./lib/cosign/keyref.ts";
export type {
  KeyRefKind,
  LoadSignerOptions,
  LoadVerifierOptions,
  ProviderOptions,
  ReadKeyOptions,
} from "./lib/cosign/keyref.ts";
export { decodeSignature, fileChunks, signBlob, verifyBlob } from "./lib/cosign/blob.ts";
export { VERSION } from "./lib/version.ts";

// Registries and OCI layouts.
export { RegistryClient } from "./lib/oci/registry.ts";
export type {
  Descriptor,
  FetchBlobOptions,
  KnownHost,
  Manifest,
  RegistryClientOptions,
} from "./lib/oci/registry.ts";
export { LIMITS, parseByteSize } from "./lib/oci/body.ts";
export type {
  BodyFactory,
  RetryPolicy,
  Transport,
  TransportOptions,
  TransportRequest,
} from "./lib/oci/transport.ts";
export { Deadline } from "./lib/oci/deadline.ts";
export type { Challenge } from "./lib/oci/auth.ts";
export { OciLayout } from "./lib/oci/layout.ts";
export type { IndexEntry, OciLayoutOptions } from "./lib/oci/layout.ts";
export type { ImageStore } from "./lib/oci/store.ts";
export type { LayerDescriptor } from "./lib/oci/image.ts";
export {
  parseReference,
  parseRepository,
  referenceName,
  repositoryName,
} from "./lib/oci/reference.ts";
export type { Reference, Repository } from "./lib/oci/reference.ts";
export { defaultKeychain, staticKeychain } from "./lib/oci/keychain.ts";
export type { Credentials, Keychain, KeychainEnv } from "./lib/oci/keychain.ts";

// Image signatures.
export { signImage, verifyImage } from "./lib/cosign/image_signatures.ts";
export type {
  AttachmentOptions,
  SignedDigest,
  SignImageOptions,
  VerifyImageOptions,
  VerifyImageResult,
} from "./lib/cosign/image_signatures.ts";
export { simpleSigningPayload } from "./lib/cosign/payload.ts";
export { checkSignatureLayers, verifySignatureLayers } from "./lib/cosign/verify_signatures.ts";
export type {
  LayerSignatureCheck,
  VerifiedSignature,
  VerifySignaturesOptions,
  VerifySignaturesResult,
} from "./lib/cosign/verify_signatures.ts";
export {
  appendAttachments,
  isLayerFault,
  LatencyTracker,
  listAttachments,
  loadLayers,
  mergeAttachmentLayers,
  readAttachments,
} from "./lib/cosign/attachments.ts";
export type {
  AppendOptions,
  AppendResult,
  AttachmentLayer,
  AttachmentListing,
  DescriptorRead,
  LoadedLayer,
  LoadLayersOptions,
  MergeOptions,
  NewLayer,
  PendingLayer,
  ReadAttachments,
  ReadAttachmentsOptions,
  SettleOptions,
  SkippedLayer,
  UploadedLayer,
} from "./lib/cosign/attachments.ts";
export { cleanAttachment } from "./lib/cosign/clean.ts";
export type { CleanOptions, CleanResult } from "./lib/cosign/clean.ts";
export { attachmentRef, attachmentTag } from "./lib/cosign/tags.ts";
export type { AttachmentKind } from "./lib/cosign/tags.ts";
export { copyAttachments, copyManifestTree } from "./lib/cosign/copy.ts";
export type {
  AttachmentWriteMode,
  CopiedAttachment,
  CopyAttachmentsOptions,
  CopyTreeOptions,
} from "./lib/cosign/copy.ts";

// cosign v3 storage: Sigstore bundles as OCI 1.1 referrers.
export {
  BUNDLE_ARTIFACT_TYPE,
  listReferrers,
  pushReferrer,
  referrerManifest,
  referrersTag,
  updateReferrersIndex,
} from "./lib/cosign/referrers.ts";
export type {
  ListReferrersOptions,
  PushedReferrer,
  Referrer,
  ReferrerManifestInput,
  ReferrersIndexChange,
  ReferrersListing,
  ReferrersSource,
  ReferrerWriteOptions,
} from "./lib/cosign/referrers.ts";
export {
  bundleOutputPayload,
  COSIGN_SIGN_PREDICATE_TYPE,
  imageSignatureStatement,
  listImageBundles,
  signImageBundle,
  storeImageBundle,
  verifyImageBundles,
} from "./lib/cosign/image_bundles.ts";
export type {
  BundleMaterial,
  ImageBundle,
  ImageBundleCheck,
  ImageBundleListing,
  ListImageBundlesOptions,
  PendingBundle,
  SignedImageBundle,
  SignImageBundleOptions,
  StoreBundleOptions,
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
export {
  INTOTO_PAYLOAD_TYPE,
  pae,
  parseEnvelope,
  signEnvelope,
  verifyEnvelope,
} from "./lib/cosign/dsse.ts";
export type { Envelope } from "./lib/cosign/dsse.ts";
export {
  buildStatement,
  hasSubjectDigest,
  parseStatement,
  PREDICATE_TYPES,
  predicateTypeFor,
} from "./lib/cosign/intoto.ts";
export type { Statement, Subject } from "./lib/cosign/intoto.ts";

// Transparency-log trust material.
export type {
  CertificateAuthority,
  TransparencyLog,
  TrustedCertificate,
  TrustedRoot,
  ValidityPeriod,
} from "./lib/trust/trusted_root.ts";
export { parseTrustedRoot } from "./lib/trust/trusted_root.ts";
export {
  DEFAULT_TUF_MIRROR,
  signingConfigFromTuf,
  STAGING_TUF_MIRROR,
  trustedRootFromTuf,
  type TufOptions,
  type TufTargets,
  updateTuf,
} from "./lib/trust/tuf.ts";

// Bundles and offline verification (no I/O: bytes, a bundle and trust material in, a result out).
export { parseBundle } from "./lib/cosign/bundle.ts";
export type {
  Bundle,
  BundleContent,
  BundleFormat,
  BundleInclusionProof,
  BundleTlogEntry,
  Digest,
  DsseContent,
  MessageSignatureContent,
  ParseBundleOptions,
  VerificationMaterial,
} from "./lib/cosign/bundle.ts";
export { verifyBundle, verifyBundleWithKey } from "./lib/cosign/verify_bundle.ts";
export type {
  BundleArtifact,
  BundleSigner,
  BundleVerification,
  TlogEntryCheck,
  VerifyBundleOptions,
} from "./lib/cosign/verify_bundle.ts";
export type { CertificateCheck, CertificatePolicy } from "./lib/cosign/bundle_certificate.ts";
export { layerAsBundle } from "./lib/cosign/layer_bundle.ts";
export type { KeylessLayerOptions, LayerKind } from "./lib/cosign/layer_bundle.ts";
export { checkCertificatePolicy } from "./lib/cosign/certificate_policy.ts";
export { bundleV03Json, isRekorV2Entry, tlogEntryJsonV2 } from "./lib/cosign/bundle_writer.ts";
export type {
  BundleLogEntry,
  BundleWriterContent,
  BundleWriterInput,
  BundleWriterMaterial,
} from "./lib/cosign/bundle_writer.ts";
export type {
  TimestampCheck,
  TimestampHashAlgorithm,
  TimestampInfo,
} from "./lib/tlog/timestamp.ts";
export {
  DEFAULT_REKOR_URL,
  dsseEntry,
  hashedRekordEntry,
  intotoEntry,
  RekorClient,
} from "./lib/tlog/rekor.ts";
export type { RekorEntry, UploadCheckOptions } from "./lib/tlog/rekor.ts";
export {
  REKOR_V2_ENTRIES_PATH,
  REKOR_V2_KEY_DETAILS,
  rekorV2KeyDetails,
  rekorV2LeafHashHex,
  uploadRekorV2,
} from "./lib/tlog/rekor_v2.ts";
export type {
  RekorV2Algorithm,
  RekorV2Entry,
  RekorV2InclusionProof,
  RekorV2Request,
  RekorV2UploadOptions,
  RekorV2VerifierInput,
} from "./lib/tlog/rekor_v2.ts";
export { findAndVerifyEntry } from "./lib/cosign/tlog_search.ts";
export type { OnlineTlogQuery, OnlineTlogResult } from "./lib/cosign/tlog_search.ts";
export { parseCertificate, parseCertificatePem } from "./lib/x509/certificate.ts";
export type {
  Certificate,
  CertificateExtension,
  SubjectAlternativeName,
} from "./lib/x509/certificate.ts";
export type {
  ConstrainedForm,
  NameConstraint,
  NameConstraints,
} from "./lib/x509/name_constraints.ts";
export type { FulcioExtensions, IdentityPolicy } from "./lib/x509/identity.ts";
export type { SctCheck } from "./lib/x509/sct.ts";
export type { DigestAlgorithm } from "./lib/crypto/prehashed.ts";

// Keyless signing: an identity token, a Fulcio certificate for an ephemeral key, checked
// against the trusted root before use; services from a signing config.
export { createKeylessSigner, KeylessSigner } from "./lib/cosign/keyless_sign.ts";
export type { KeylessCertificate, KeylessSignerOptions } from "./lib/cosign/keyless_sign.ts";
export {
  FILESYSTEM_TOKEN_PATH,
  getIdentityToken,
  parseIdentityToken,
  SIGSTORE_AUDIENCE,
} from "./lib/oidc/token.ts";
export type { IdentityToken, TokenSourceOptions } from "./lib/oidc/token.ts";
export {
  DEFAULT_OIDC_CLIENT_ID,
  DEFAULT_OIDC_ISSUER,
  interactiveIdentityToken,
} from "./lib/oidc/interactive.ts";
export type { InteractiveLoginOptions } from "./lib/oidc/interactive.ts";
export { checkFulcioCertificate, requestSigningCertificate } from "./lib/fulcio/client.ts";
export type { FulcioChain, FulcioOptions } from "./lib/fulcio/client.ts";
export { parseSigningConfig, selectServices } from "./lib/trust/signing_config.ts";
export type {
  SelectedServices,
  SelectOptions,
  Service,
  ServiceConfiguration,
  ServiceSelector,
  SigningConfig,
} from "./lib/trust/signing_config.ts";
