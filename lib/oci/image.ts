/**
 * Small images built the way go-containerregistry builds them from `empty.Image` plus
 * appended layers (cosign-spec §3.2): the config is ggcr's JSON with one history entry and
 * one `diff_id` per layer (layers are stored uncompressed, so a layer's diff_id is its
 * digest), and the manifest's fields come in ggcr's order.
 * @module
 */

import { sha256Digest } from "./digest.ts";
import { OCI_CONFIG, OCI_MANIFEST } from "./media_types.ts";

/** A layer descriptor with optional annotations. */
export interface LayerDescriptor {
  /** The layer media type. */
  mediaType: string;
  /** The layer size, bytes. */
  size: number;
  /** The layer digest (`sha256:<hex>`). */
  digest: string;
  /** The layer annotations. */
  annotations?: Record<string, string>;
}

/** An image ready to push: manifest and config bytes, and the layers it references. */
export interface BuiltImage {
  manifest: Uint8Array;
  manifestMediaType: string;
  digest: string;
  config: Uint8Array;
  configDigest: string;
}

const ZERO_TIME = "0001-01-01T00:00:00Z";

/** ggcr's config blob for an empty image with `layers` appended. */
export function ggcrConfig(layerDigests: string[], created = ZERO_TIME): Uint8Array {
  // Key order as ggcr's ConfigFile marshals it.
  return new TextEncoder().encode(JSON.stringify({
    architecture: "",
    created,
    history: layerDigests.map(() => ({ created: ZERO_TIME })),
    os: "",
    rootfs: { type: "layers", diff_ids: layerDigests },
    config: {},
  }));
}

/** Options for {@link buildImage}. */
export interface BuildImageOptions {
  layers: LayerDescriptor[];
  manifestMediaType?: string;
  configMediaType?: string;
  /** Manifest-level annotations (omitted when empty). */
  annotations?: Record<string, string>;
  /** Config bytes to use instead of ggcr's generated config. */
  config?: Uint8Array;
}

/** Builds manifest and config for `layers`. */
export function buildImage(o: BuildImageOptions): BuiltImage {
  const config = o.config ?? ggcrConfig(o.layers.map((l) => l.digest));
  const configDigest = sha256Digest(config);
  const manifestMediaType = o.manifestMediaType ?? OCI_MANIFEST;
  const m: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: {
      mediaType: o.configMediaType ?? OCI_CONFIG,
      size: config.length,
      digest: configDigest,
    },
    layers: o.layers.map((l) => {
      const d: Record<string, unknown> = { mediaType: l.mediaType, size: l.size, digest: l.digest };
      if (l.annotations && Object.keys(l.annotations).length) d.annotations = l.annotations;
      return d;
    }),
  };
  if (o.annotations && Object.keys(o.annotations).length) m.annotations = o.annotations;
  const manifest = new TextEncoder().encode(JSON.stringify(m));
  return { manifest, manifestMediaType, digest: sha256Digest(manifest), config, configDigest };
}
