/**
 * OCI and Docker media types, and the manifest `Accept` list go-containerregistry sends.
 * @module
 */

/** OCI image manifest. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** OCI image index. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** OCI image config. */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/** OCI empty descriptor (`{}`). */
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";
/** Docker schema 2 manifest. */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** Docker manifest list. */
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker image config. */
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
/** Docker schema 1 (refused). */
export const DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json";
/** Docker schema 1 signed (refused). */
export const DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/** WebAssembly module layers (`cosign upload wasm`). */
export const WASM_LAYER = "application/vnd.wasm.content.layer.v1+wasm";
/** WebAssembly config (`cosign upload wasm`). */
export const WASM_CONFIG = "application/vnd.wasm.config.v1+json";

/** The `Accept` list for manifest requests, in ggcr's order. */
export const MANIFEST_ACCEPT = [
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  DOCKER_MANIFEST,
  OCI_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
];

/** Image manifests (not indexes) this client reads. */
export const IMAGE_MANIFESTS = [OCI_MANIFEST, DOCKER_MANIFEST];
/** Indexes this client reads. */
export const INDEXES = [OCI_INDEX, DOCKER_MANIFEST_LIST];
