/**
 * What `sget` downloads: the single layer of an image (as `cosign upload blob` writes it), or
 * a blob addressed by its digest.
 * @module
 */

import { CosignError } from "../errors.ts";
import { IMAGE_MANIFESTS } from "../oci/media_types.ts";
import { type Reference, referenceName } from "../oci/reference.ts";
import type { ImageStore } from "../oci/store.ts";

/** The bytes to fetch: a blob digest and size, and the digest that names the artifact. */
export interface ArtifactLocation {
  /** Digest of the manifest (the one signatures are checked against), or of the blob itself. */
  digest: string;
  /** The blob holding the artifact's bytes. */
  blob: { digest: string; size?: number };
}

/**
 * Finds the artifact `ref` names: a one-layer image (by tag or digest), or, for a digest that
 * is no manifest, the blob with that digest.
 * @throws {CosignError} `MANIFEST_INVALID` ("invalid artifact") for images with other than one layer
 */
export async function locateArtifact(store: ImageStore, ref: Reference): Promise<ArtifactLocation> {
  let m;
  try {
    m = await store.getManifest(ref);
  } catch (e) {
    if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN" && ref.digest) {
      if (await store.blobExists(ref, ref.digest)) {
        return { digest: ref.digest, blob: { digest: ref.digest } };
      }
    }
    throw e;
  }
  if (!IMAGE_MANIFESTS.includes(m.mediaType)) {
    throw new CosignError(
      "MANIFEST_INVALID",
      `invalid artifact: ${referenceName(ref)} is an index; name one of its images by digest`,
    );
  }
  const layers = Array.isArray(m.json.layers)
    ? m.json.layers as { digest?: unknown; size?: unknown }[]
    : [];
  const layer = layers[0];
  if (layers.length !== 1 || typeof layer?.digest !== "string") {
    throw new CosignError(
      "MANIFEST_INVALID",
      `invalid artifact: ${referenceName(ref)} has ${layers.length} layers, expected exactly one`,
    );
  }
  return {
    digest: m.digest,
    blob: { digest: layer.digest, ...(typeof layer.size === "number" ? { size: layer.size } : {}) },
  };
}
