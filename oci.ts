/**
 * Registries and OCI layouts: references, the registry client and its credentials, layouts on
 * disk (both behind one `ImageStore`), and the images cosign attaches to an image: `.sig`,
 * `.att` and `.sbom` tags and OCI 1.1 referrers, read, appended, copied and cleaned. Nothing runs
 * at import time.
 *
 * @example
 * ```ts
 * import {
 *   attachmentRef,
 *   listAttachments,
 *   parseReference,
 *   RegistryClient,
 * } from "@cosign-deno/cosign/oci";
 *
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const sigs = await listAttachments(client, attachmentRef(image, digest, "sig"));
 * console.log(digest, sigs.layers.length);
 * ```
 * @module
 */

export { CosignError } from "./lib/errors.ts";
export type { ErrorCode } from "./lib/errors.ts";
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
