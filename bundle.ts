/**
 * Sigstore bundles: parse any bundle (v0.1–v0.3, or cosign's legacy bundle) into one shape,
 * verify it offline against a trusted root with a key or a certificate policy, and write v0.3
 * bundles. No I/O: bytes, a bundle and trust material in, a result out. Nothing runs at import
 * time.
 *
 * @example
 * ```ts
 * import { parseBundle, parseTrustedRoot, verifyBundle } from "@cosign-deno/cosign/bundle";
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
 * console.log(result.tlogVerifiedOffline);
 * ```
 * @module
 */

export { CosignError } from "./lib/errors.ts";
export type { ErrorCode } from "./lib/errors.ts";
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
export type { FulcioExtensions, IdentityPolicy } from "./lib/x509/identity.ts";
export { checkCertificatePolicy } from "./lib/cosign/certificate_policy.ts";
export { layerAsBundle } from "./lib/cosign/layer_bundle.ts";
export type { KeylessLayerOptions, LayerKind } from "./lib/cosign/layer_bundle.ts";
export { bundleV03Json, tlogEntryJsonV2 } from "./lib/cosign/bundle_writer.ts";
export type {
  BundleLogEntry,
  BundleWriterContent,
  BundleWriterInput,
  BundleWriterMaterial,
} from "./lib/cosign/bundle_writer.ts";
export { parseTrustedRoot } from "./lib/trust/trusted_root.ts";
export type {
  CertificateAuthority,
  TransparencyLog,
  TrustedCertificate,
  TrustedRoot,
  ValidityPeriod,
} from "./lib/trust/trusted_root.ts";
export type {
  TimestampCheck,
  TimestampHashAlgorithm,
  TimestampInfo,
} from "./lib/tlog/timestamp.ts";
export type { DigestAlgorithm } from "./lib/crypto/prehashed.ts";
export type { Statement, Subject } from "./lib/cosign/intoto.ts";
