/**
 * Signing: blobs, images (legacy `.sig` or cosign v3 bundles), DSSE attestations and in-toto
 * statements, with a key or keylessly (an identity token and a Fulcio certificate), and the
 * transparency-log entries that record them. Nothing runs at import time.
 *
 * @example
 * ```ts
 * import { loadSigner, signBlob, signImage } from "@cosign-deno/cosign/sign";
 * import { parseReference, RegistryClient } from "@cosign-deno/cosign/oci";
 *
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const sig = await signBlob(signer, await Deno.readFile("app.tar.gz"));
 * await Deno.writeTextFile("app.tar.gz.sig", sig.toBase64());
 * await signImage(new RegistryClient(), parseReference("localhost:5000/app:v1"), signer);
 * ```
 * @module
 */

export { CosignError } from "./lib/errors.ts";
export type { ErrorCode } from "./lib/errors.ts";
export type { MessageData, Signer } from "./lib/crypto/signer.ts";
export { KeySigner } from "./lib/crypto/key_signer.ts";
export { loadSigner } from "./lib/cosign/keyref.ts";
export type { LoadSignerOptions, ReadKeyOptions } from "./lib/cosign/keyref.ts";

// Blobs.
export { fileChunks, signBlob } from "./lib/cosign/blob.ts";

// Images.
export { signImage } from "./lib/cosign/image_signatures.ts";
export type {
  AttachmentOptions,
  SignedDigest,
  SignImageOptions,
} from "./lib/cosign/image_signatures.ts";
export { simpleSigningPayload } from "./lib/cosign/payload.ts";
export {
  COSIGN_SIGN_PREDICATE_TYPE,
  imageSignatureStatement,
  signImageBundle,
  storeImageBundle,
} from "./lib/cosign/image_bundles.ts";
export type {
  BundleMaterial,
  SignedImageBundle,
  SignImageBundleOptions,
  StoreBundleOptions,
} from "./lib/cosign/image_bundles.ts";

// Attestations.
export { INTOTO_PAYLOAD_TYPE, pae, signEnvelope } from "./lib/cosign/dsse.ts";
export { buildStatement, PREDICATE_TYPES, predicateTypeFor } from "./lib/cosign/intoto.ts";
export type { Statement, Subject } from "./lib/cosign/intoto.ts";

// Bundles.
export { bundleV03Json } from "./lib/cosign/bundle_writer.ts";
export type {
  BundleLogEntry,
  BundleWriterContent,
  BundleWriterInput,
  BundleWriterMaterial,
} from "./lib/cosign/bundle_writer.ts";

// Transparency logs.
export {
  DEFAULT_REKOR_URL,
  dsseEntry,
  hashedRekordEntry,
  intotoEntry,
  RekorClient,
} from "./lib/tlog/rekor.ts";
export type { RekorEntry, UploadCheckOptions } from "./lib/tlog/rekor.ts";
export { uploadRekorV2 } from "./lib/tlog/rekor_v2.ts";
export type { RekorV2Entry, RekorV2Request, RekorV2UploadOptions } from "./lib/tlog/rekor_v2.ts";

// Keyless: identity tokens, Fulcio, signing configs.
export { createKeylessSigner, KeylessSigner } from "./lib/cosign/keyless_sign.ts";
export type { KeylessCertificate, KeylessSignerOptions } from "./lib/cosign/keyless_sign.ts";
export { getIdentityToken, parseIdentityToken } from "./lib/oidc/token.ts";
export type { IdentityToken, TokenSourceOptions } from "./lib/oidc/token.ts";
export { interactiveIdentityToken } from "./lib/oidc/interactive.ts";
export type { InteractiveLoginOptions } from "./lib/oidc/interactive.ts";
export { requestSigningCertificate } from "./lib/fulcio/client.ts";
export type { FulcioChain, FulcioOptions } from "./lib/fulcio/client.ts";
export { parseSigningConfig, selectServices } from "./lib/trust/signing_config.ts";
export type { SigningConfig } from "./lib/trust/signing_config.ts";
export { parseTrustedRoot } from "./lib/trust/trusted_root.ts";
export type { TrustedRoot } from "./lib/trust/trusted_root.ts";
export { signingConfigFromTuf, trustedRootFromTuf } from "./lib/trust/tuf.ts";
