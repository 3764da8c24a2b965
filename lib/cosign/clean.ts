/**
 * `cosign clean` without collateral damage: removing an attachment tag (`.sig`, `.att`,
 * `.sbom`) never takes another tag with it, and a concurrent writer that read the image before
 * the removal cannot silently put the removed layers back.
 * @module
 */

import { CosignError } from "../errors.ts";
import { buildImage, type LayerDescriptor } from "../oci/image.ts";
import {
  DOCKER_CONFIG,
  DOCKER_MANIFEST,
  IMAGE_MANIFESTS,
  OCI_CONFIG,
  OCI_MANIFEST,
} from "../oci/media_types.ts";
import {
  type Reference,
  referenceName,
  type Repository,
  withDigest,
  withTag,
} from "../oci/reference.ts";
import type { RegistryClient } from "../oci/registry.ts";
import {
  type DescriptorRead,
  layerDescriptors,
  lockAttachment,
  mergeAttachmentLayers,
  registryLatency,
  sameLayer,
  settle,
  type SettleOptions,
} from "./attachments.ts";
import {
  BUNDLE_MEDIA_TYPE_PREFIX,
  listReferrers,
  type Referrer,
  referrerEntry,
  referrersTagRef,
  type ReferrerWriteOptions,
  updateReferrersIndex,
} from "./referrers.ts";

/** Options for {@link cleanAttachment}. */
export interface CleanOptions extends SettleOptions {
  /** Docker media types for an image written in place of a removed one. */
  dockerMediaTypes?: boolean;
  /** How many times to remove again what comes back before giving up. Default 5. */
  maxRounds?: number;
  /** Told what happened beyond the plain removal (the CLI prints it). */
  onNote?: (message: string) => void;
}

/** What {@link cleanAttachment} did. */
export interface CleanResult {
  /** False when there was nothing at the tag. */
  removed: boolean;
  /**
   * When the registry deletes only by digest and another tag shares the manifest: that tag,
   * left alone; this one now holds an image with no layers.
   */
  sharedWith?: string;
}

/** Parallel HEAD requests when looking for other tags of a manifest. */
const TAG_CHECKS = 8;

/**
 * Removes the attachment image at `tag`, under the same lock as the writers of that tag, then
 * re-reads it over the settle window: layers it removed that a concurrent writer put back are
 * removed again (layers added since are kept); when they keep coming back, it throws.
 * @throws {CosignError} `WRITE_CONFLICT` when what was removed keeps coming back
 * @example
 * ```ts
 * import { attachmentRef, cleanAttachment, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { removed } = await cleanAttachment(client, attachmentRef(image, digest, "sig"));
 * ```
 */
export async function cleanAttachment(
  client: RegistryClient,
  tag: Reference,
  options: CleanOptions = {},
): Promise<CleanResult> {
  await using _lock = await lockAttachment(tag);
  const latency = options.latency ?? registryLatency;
  const read = () => readAny(client, tag, options);
  const before = await read();
  if (!before.found) return { removed: false };
  const removed = before.layers;
  const wasRemoved = (l: LayerDescriptor) => removed.some((r) => sameLayer(r, l));
  const result: CleanResult = { removed: true };
  const shared = await removeTag(client, tag, before.digest!, options);
  if (shared) result.sharedWith = shared;
  const rounds = options.maxRounds ?? 5;
  for (let round = 1; round <= rounds; round++) {
    const seen = await settle(
      client,
      tag,
      (now) =>
        !now.found ||
        (now.digest !== before.digest && !now.layers.some(wasRemoved)),
      { ...options, latency, read },
    );
    if (seen.held) return result;
    const now = seen.current;
    const fresh = now.layers.filter((l) => !wasRemoved(l));
    const back = now.layers.length - fresh.length;
    if (fresh.length === 0) {
      options.onNote?.(
        `${
          referenceName(tag)
        } came back (a writer that read it before the removal); removing it again`,
      );
      await removeTag(client, tag, now.digest!, options);
    } else {
      options.onNote?.(
        `${back} removed layer${back === 1 ? "" : "s"} came back in ${referenceName(tag)} ` +
          `(a writer that read it before the removal); removing them again and keeping the ` +
          `${fresh.length} added since`,
      );
      await mergeAttachmentLayers(client, tag, [], {
        ...options,
        latency,
        lockHeld: true,
        replace: wasRemoved,
      });
    }
  }
  throw new CosignError(
    "WRITE_CONFLICT",
    `What was removed from ${referenceName(tag)} keeps coming back: another writer is still ` +
      `adding it (${rounds} attempts); run cosign clean again when it has finished`,
  );
}

/** Reads the tag's manifest digest and, for an image, its layers (an index has none). */
async function readAny(
  client: RegistryClient,
  tag: Reference,
  options: CleanOptions,
): Promise<DescriptorRead> {
  const latency = options.latency ?? registryLatency;
  const started = performance.now();
  try {
    const m = await client.getManifest(tag);
    latency.request(performance.now() - started);
    return {
      found: true,
      digest: m.digest,
      mediaType: m.mediaType,
      layers: IMAGE_MANIFESTS.includes(m.mediaType) ? layerDescriptors(m.json) : [],
    };
  } catch (e) {
    if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") {
      latency.request(performance.now() - started);
      return { found: false, layers: [] };
    }
    throw e;
  }
}

/**
 * Removes `tag`: by tag where the registry allows it; otherwise by digest, unless another tag
 * of the repository points at the same manifest (a delete by digest would untag it too): then
 * `tag` gets an image with no layers instead, and the other tag's name is returned.
 */
async function removeTag(
  client: RegistryClient,
  tag: Reference,
  digest: string,
  options: CleanOptions,
  how: { emptyImage?: boolean } = {},
): Promise<string | undefined> {
  const latency = options.latency ?? registryLatency;
  const started = performance.now();
  const byName = await client.deleteTag(tag);
  latency.request(performance.now() - started);
  if (byName !== "refused") return undefined;
  const head = await client.headManifest(tag);
  if (!head) return undefined;
  const target = head.digest || digest;
  const other = await otherTagOf(client, tag, target);
  if (!other) {
    await client.deleteManifest(withDigest(tag, target));
    return undefined;
  }
  if (how.emptyImage === false) return other;
  const img = buildImage({
    layers: [],
    manifestMediaType: options.dockerMediaTypes ? DOCKER_MANIFEST : OCI_MANIFEST,
    configMediaType: options.dockerMediaTypes ? DOCKER_CONFIG : OCI_CONFIG,
  });
  await client.uploadBlob(tag, img.config);
  await client.putManifest(tag, img.manifest, img.manifestMediaType);
  return other;
}

/** Another tag of `tag`'s repository that points at `digest` (tag list, then HEAD of each). */
async function otherTagOf(
  client: RegistryClient,
  tag: Reference,
  digest: string,
): Promise<string | undefined> {
  const others = (await client.listTags(tag)).filter((t) => t !== tag.tag);
  let found: string | undefined;
  let next = 0;
  const worker = async () => {
    while (found === undefined && next < others.length) {
      const t = others[next++]!;
      const head = await client.headManifest(withTag(tag, t));
      if (head?.digest === digest) found ??= t;
    }
  };
  await Promise.all(Array.from({ length: Math.min(TAG_CHECKS, others.length) }, worker));
  return found;
}

/** What {@link cleanReferrers} did. */
export interface CleanedReferrers {
  /** The Sigstore referrers removed (their manifests deleted, or already gone). */
  removed: Referrer[];
  /** The fallback tag, when its index was changed. */
  indexTag?: Reference;
  /** True when the fallback tag was removed (no referrers were left in it). */
  indexRemoved: boolean;
}

/**
 * Removes the Sigstore bundle referrers (cosign v3 signatures and attestations) of `subject` in
 * `repo`; other referrers are left alone. The fallback index loses their entries first, under
 * the writers' lock ({@link updateReferrersIndex}), and goes with its tag when nothing is left
 * in it, so no tag ever lists a deleted manifest; then each manifest is deleted by digest
 * (already gone is fine). On a registry with the referrers API, deleting the manifests is all.
 * @throws {CosignError} when the registry fails
 */
export async function cleanReferrers(
  client: RegistryClient,
  repo: Repository,
  subject: string,
  options: ReferrerWriteOptions = {},
): Promise<CleanedReferrers> {
  const listing = await listReferrers(client, repo, subject);
  const removed: Referrer[] = [];
  for (const r of listing.referrers) {
    if (r.artifactType !== undefined && r.artifactType !== "") {
      if (r.artifactType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)) removed.push(r);
      continue;
    }
    // No artifact type listed: judged by the manifest, as cosign does (a gone one is gone).
    try {
      const entry = referrerEntry(await client.getManifest({ ...repo, digest: r.digest }));
      if (entry.artifactType?.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)) removed.push(r);
    } catch (e) {
      if (!(e instanceof CosignError && e.code === "MANIFEST_UNKNOWN")) throw e;
    }
  }
  if (removed.length === 0) return { removed, indexRemoved: false };
  let indexRemoved = false;
  const out: CleanedReferrers = { removed, indexRemoved };
  if (listing.source === "tag") {
    const tag = referrersTagRef(repo, subject);
    const r = await updateReferrersIndex(client, repo, subject, {
      remove: removed.map((x) => x.digest),
    }, {
      ...options,
      removeEmpty: async (t, digest) => {
        const shared = await removeTag(client, t, digest, {}, { emptyImage: false });
        indexRemoved = shared === undefined;
        return indexRemoved;
      },
    });
    if (r.changed) out.indexTag = tag;
  }
  out.indexRemoved = indexRemoved;
  for (const r of removed) {
    await client.deleteTag({ ...repo, digest: r.digest });
  }
  return out;
}
