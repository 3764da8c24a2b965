/**
 * Copying an image with everything cosign attaches to it between stores: registry to
 * registry (`copy`), registry to an OCI layout on disk (`save`) and back (`load`). Blobs are
 * copied in parallel, mounted when both sides are one registry, otherwise streamed in constant
 * memory; an index's children are copied before the index.
 * @module
 */

import { CosignError } from "../errors.ts";
import { LIMITS } from "../oci/body.ts";
import { INDEXES } from "../oci/media_types.ts";
import { OciLayout } from "../oci/layout.ts";
import { type Reference, referenceName, type Repository, withDigest } from "../oci/reference.ts";
import { type Manifest, RegistryClient } from "../oci/registry.ts";
import type { ImageStore } from "../oci/store.ts";
import { layerDescriptors, mergeAttachmentLayers } from "./attachments.ts";
import { type AttachmentKind, attachmentRef } from "./tags.ts";
import type { SkippedLayer } from "./attachments.ts";
import {
  BUNDLE_MEDIA_TYPE_PREFIX,
  BUNDLE_PREDICATE_TYPE_ANNOTATION,
  listReferrers,
  manifestSubject,
  type PushedReferrer,
  pushReferrerManifest,
  type Referrer,
  referrerEntry,
  type ReferrerWriteOptions,
} from "./referrers.ts";
import { COSIGN_SIGN_PREDICATE_TYPE } from "./image_bundles.ts";

/** `kind` annotations cosign puts on `save` layout entries. */
export const LAYOUT_KIND = {
  image: "dev.cosignproject.cosign/image",
  imageIndex: "dev.cosignproject.cosign/imageIndex",
  sig: "dev.cosignproject.cosign/sigs",
  att: "dev.cosignproject.cosign/atts",
  sbom: "dev.cosignproject.cosign/sboms",
} as const;

interface Desc {
  digest: string;
  size: number;
  mediaType?: string;
}

function descriptors(list: unknown): Desc[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((d) => {
    const o = d as Record<string, unknown>;
    return typeof o?.digest === "string" && typeof o.size === "number"
      ? [{
        digest: o.digest,
        size: o.size,
        ...(typeof o.mediaType === "string" ? { mediaType: o.mediaType } : {}),
      }]
      : [];
  });
}

async function mapLimit<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Copies one blob unless the destination has it. */
async function copyBlob(
  src: ImageStore,
  from: Reference,
  dst: ImageStore,
  to: Reference,
  d: Desc,
): Promise<void> {
  if (await dst.blobExists(to, d.digest, d.size)) return;
  if (src instanceof RegistryClient && dst instanceof RegistryClient && src === dst) {
    if (await dst.mountBlob(to, d.digest, from)) return;
  }
  const stream = await src.fetchBlob(from, d.digest, d.size);
  await dst.uploadBlobStream(to, stream, { digest: d.digest, size: d.size });
}

/** Options for {@link copyManifestTree}. */
export interface CopyTreeOptions {
  /** Layout entry annotations for the top manifest (`save`). */
  annotations?: Record<string, string>;
  /** Parallel blob copies. Default 4. */
  concurrency?: number;
  /** The manifest `from` names, when the caller has already fetched it (saves a request). */
  manifest?: Manifest;
  /** Deepest nesting of indexes copied. Default 8. */
  maxIndexDepth?: number;
  /** Most manifests and indexes copied in one call. Default 1,000. */
  maxManifests?: number;
}

/**
 * Copies the manifest `from` names (an image or an index with all its children) to `to`
 * (a tag, or the digest when `to` has none). Returns the copied manifest.
 * @example
 * ```ts
 * import { copyManifestTree, OciLayout, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * // an image and everything it references, from a registry into an OCI layout on disk
 * const layout = await OciLayout.open("./app-layout", { create: true });
 * const ref = parseReference("localhost:5000/app:v1");
 * const manifest = await copyManifestTree(new RegistryClient(), ref, layout, ref);
 * console.log(manifest.digest);
 * ```
 */
export async function copyManifestTree(
  src: ImageStore,
  from: Reference,
  dst: ImageStore,
  to: Reference,
  options: CopyTreeOptions = {},
): Promise<Manifest> {
  const m = options.manifest ?? await src.getManifest(from);
  const walk: Walk = {
    visited: 1,
    maxDepth: options.maxIndexDepth ?? LIMITS.indexDepth,
    maxManifests: options.maxManifests ?? LIMITS.manifestsPerOperation,
    seen: new Set([m.digest]),
  };
  await copyContents(src, from, dst, to, m, options.concurrency ?? 4, walk, 0);
  const target = to.tag ? to : withDigest(to, m.digest);
  if (dst instanceof OciLayout) {
    await dst.putManifest(target, m.bytes, m.mediaType, options.annotations ?? {});
  } else await dst.putManifest(target, m.bytes, m.mediaType);
  // A registry's word is not enough: what it serves back under the name is what was written.
  if (dst instanceof RegistryClient) await dst.confirmManifest(target, m.digest);
  return m;
}

/** How far a copy has walked an index tree, and its bounds. */
interface Walk {
  /** Manifests and indexes fetched so far. */
  visited: number;
  maxDepth: number;
  maxManifests: number;
  /** Digests already copied in this walk (a child listed twice is copied once). */
  seen: Set<string>;
}

async function copyContents(
  src: ImageStore,
  from: Reference,
  dst: ImageStore,
  to: Reference,
  m: Manifest,
  concurrency: number,
  walk: Walk,
  depth: number,
): Promise<void> {
  if (INDEXES.includes(m.mediaType)) {
    // cosign's images nest one level (an index of images); a hostile index can nest without
    // end or list a child many times, so depth and the manifests fetched are bounded.
    if (depth + 1 > walk.maxDepth) {
      throw new CosignError(
        "MANIFEST_INVALID",
        `Index ${m.digest} nests indexes more than ${walk.maxDepth} levels deep; refusing it`,
      );
    }
    const children = descriptors(m.json.manifests).filter((c) => {
      if (walk.seen.has(c.digest)) return false;
      walk.seen.add(c.digest);
      return true;
    });
    // Counted before any child is fetched, so an index of too many children costs one request.
    walk.visited += children.length;
    if (walk.visited > walk.maxManifests) {
      throw new CosignError(
        "MANIFEST_INVALID",
        `Index ${m.digest} brings the manifests to copy over ${walk.maxManifests}; refusing it`,
      );
    }
    for (const child of children) {
      const cm = await src.getManifest(withDigest(from, child.digest));
      await copyContents(src, from, dst, to, cm, concurrency, walk, depth + 1);
      // In a layout, children are plain blobs; in a registry, manifests by digest.
      if (dst instanceof OciLayout) await dst.uploadBlob(to, cm.bytes);
      else await dst.putManifest(withDigest(to, cm.digest), cm.bytes, cm.mediaType);
    }
    return;
  }
  const config = descriptors([m.json.config]);
  const blobs = [...config, ...descriptors(m.json.layers)];
  const unique = blobs.filter((b, i) => blobs.findIndex((x) => x.digest === b.digest) === i);
  await mapLimit(unique, concurrency, (b) => copyBlob(src, from, dst, to, b));
}

/** The attachments found and copied. */
export interface CopiedAttachment {
  /** The kind of attachment. */
  kind: AttachmentKind;
  /** Where it was copied from. */
  from: Reference;
  /** Where it was copied to. */
  to: Reference;
  /**
   * What happened at the destination: `copied` (it had none), `merged` (the source's layers were
   * added to those there), `unchanged` (it had them all) or `replaced` (`-f`).
   */
  outcome: "copied" | "merged" | "unchanged" | "replaced";
  /** Layers added to the destination's image (merged), or the source's layer count. */
  added: number;
}

/** How {@link copyAttachments} writes where the destination already has an attachment image. */
export type AttachmentWriteMode =
  /** Add the source's layers to the destination's, as `sign` appends (the default). */
  | "merge"
  /** Overwrite the destination's image (`copy -f`). */
  | "replace";

/** Options for {@link copyAttachments}. */
export interface CopyAttachmentsOptions {
  /** `COSIGN_REPOSITORY` of the source. */
  srcCosignRepository?: string;
  /** `COSIGN_REPOSITORY` of the destination. */
  dstCosignRepository?: string;
  /** `--attachment-tag-prefix` of the source's attachment tags. */
  srcTagPrefix?: string;
  /** `--attachment-tag-prefix` of the destination's attachment tags. */
  dstTagPrefix?: string;
  /** Default `merge` for a registry destination; a layout destination is always written whole. */
  mode?: AttachmentWriteMode;
  /** Docker media types for a merged image (`COSIGN_DOCKER_MEDIA_TYPES`). */
  dockerMediaTypes?: boolean;
}

/**
 * Copies the `.sig`, `.att` and `.sbom` images of `digest` (those that exist) from the
 * repository of `from` to that of `to`, by the rules of {@link copyAttachmentImages}.
 * @throws {CosignError} `WRITE_CONFLICT` when the destination has another SBOM image
 * @example
 * ```ts
 * import { copyAttachments, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const from = parseReference("localhost:5000/app:v1");
 * const to = parseReference("localhost:5001/app:v1");
 * const { digest } = await client.getManifest(from);
 * const copied = await copyAttachments(client, from, client, to, digest, ["sig", "att"]);
 * for (const c of copied) console.log(c.kind, c.outcome);
 * ```
 */
export async function copyAttachments(
  src: ImageStore,
  from: Reference,
  dst: ImageStore,
  to: Reference,
  digest: string,
  kinds: AttachmentKind[] = ["sig", "att", "sbom"],
  options: CopyAttachmentsOptions = {},
): Promise<CopiedAttachment[]> {
  const plan = await planAttachmentCopies(src, from, to, digest, kinds, options);
  return await copyAttachmentImages(src, dst, plan, options);
}

/** The attachment images of `digest` that exist at the source, and where each goes. */
export async function planAttachmentCopies(
  src: ImageStore,
  from: Reference,
  to: Reference,
  digest: string,
  kinds: AttachmentKind[],
  options: Pick<
    CopyAttachmentsOptions,
    "srcCosignRepository" | "dstCosignRepository" | "srcTagPrefix" | "dstTagPrefix"
  > = {},
): Promise<AttachmentCopy[]> {
  const plan: AttachmentCopy[] = [];
  for (const kind of kinds) {
    const a = attachmentRef(from, digest, kind, {
      ...(options.srcCosignRepository ? { cosignRepository: options.srcCosignRepository } : {}),
      ...(options.srcTagPrefix ? { tagPrefix: options.srcTagPrefix } : {}),
    });
    const b = attachmentRef(to, digest, kind, {
      ...(options.dstCosignRepository ? { cosignRepository: options.dstCosignRepository } : {}),
      ...(options.dstTagPrefix ? { tagPrefix: options.dstTagPrefix } : {}),
    });
    try {
      plan.push({ kind, from: a, to: b, manifest: await src.getManifest(a) });
    } catch (e) {
      if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") continue;
      throw e;
    }
  }
  return plan;
}

/** One attachment image to copy. */
export interface AttachmentCopy {
  /** The kind of attachment. */
  kind: AttachmentKind;
  /** Its tag at the source. */
  from: Reference;
  /** Its tag at the destination. */
  to: Reference;
  /** Its manifest at the source. */
  manifest: Manifest;
}

/**
 * Copies attachment images by the rules of {@link copyAttachments}: merged into what a
 * registry destination has (signatures, attestations), refused when the destination has
 * another SBOM (checked for all before anything is written), written whole otherwise.
 * @throws {CosignError} `WRITE_CONFLICT` when the destination has another SBOM image
 */
export async function copyAttachmentImages(
  src: ImageStore,
  dst: ImageStore,
  copies: AttachmentCopy[],
  options: { mode?: AttachmentWriteMode; dockerMediaTypes?: boolean } = {},
): Promise<CopiedAttachment[]> {
  const merging = !(dst instanceof OciLayout) && (options.mode ?? "merge") === "merge";
  if (merging) await checkSbomConflicts(dst, copies);
  const out: CopiedAttachment[] = [];
  for (const { kind, from, to, manifest: m } of copies) {
    const sourceLayers = INDEXES.includes(m.mediaType) ? [] : layerDescriptors(m.json);
    if (!merging || kind === "sbom" || INDEXES.includes(m.mediaType)) {
      // An SBOM was checked above; an index (not cosign's format) is copied as it is.
      await copyManifestTree(
        src,
        from,
        dst,
        to,
        dst instanceof OciLayout
          ? { annotations: { kind: LAYOUT_KIND[kind] }, manifest: m }
          : { manifest: m },
      );
      const outcome = merging || dst instanceof OciLayout ? "copied" : "replaced";
      out.push({ kind, from, to, outcome, added: sourceLayers.length });
      continue;
    }
    // Every blob first, then the layers merged into whatever the destination holds.
    await copyContents(src, from, dst, to, m, 4, {
      visited: 1,
      maxDepth: LIMITS.indexDepth,
      maxManifests: LIMITS.manifestsPerOperation,
      seen: new Set([m.digest]),
    }, 0);
    let wroteWhole = false;
    const r = await mergeAttachmentLayers(dst, to, sourceLayers, {
      ...(options.dockerMediaTypes ? { dockerMediaTypes: true } : {}),
      writeWhenMissing: async () => {
        await dst.putManifest(to, m.bytes, m.mediaType);
        if (dst instanceof RegistryClient) await dst.confirmManifest(to, m.digest);
        wroteWhole = true;
      },
    });
    const outcome = r.added === 0 ? "unchanged" : wroteWhole ? "copied" : "merged";
    out.push({ kind, from, to, outcome, added: r.added });
  }
  return out;
}

/**
 * Refuses when a destination already has an SBOM image other than the source's (run before
 * writing anything, so that a refused copy leaves nothing half-written).
 * @throws {CosignError} `WRITE_CONFLICT`
 */
export async function checkSbomConflicts(dst: ImageStore, copies: AttachmentCopy[]): Promise<void> {
  for (const { to: b, manifest: m } of copies.filter((c) => c.kind === "sbom")) {
    let there: Manifest;
    try {
      there = await dst.getManifest(b);
    } catch (e) {
      if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") continue;
      throw e;
    }
    if (there.digest === m.digest) continue;
    const layers = (x: Manifest) => layerDescriptors(x.json).map((l) => l.digest).join(",");
    if (layers(there) === layers(m)) continue; // the same SBOM document(s)
    throw new CosignError(
      "WRITE_CONFLICT",
      `${referenceName(b)} already holds another SBOM; nothing was written ` +
        `(pass -f to replace it, or remove it with cosign clean --type sbom)`,
    );
  }
}

/** The image entry of a `save` layout and the digest it holds. */
export async function layoutImage(
  layout: OciLayout,
  dir: string,
): Promise<{ digest: string; kind: string }> {
  const entries = await layout.index();
  const image = entries.find((e) =>
    e.annotations?.kind === LAYOUT_KIND.image || e.annotations?.kind === LAYOUT_KIND.imageIndex
  );
  if (!image) {
    throw new CosignError(
      "MANIFEST_UNKNOWN",
      `No image in ${dir}: it was not written by cosign save`,
    );
  }
  return { digest: image.digest, kind: image.annotations!.kind! };
}

/**
 * What an OCI layout lacks to push the trees of `roots` whole: each index child's manifest and
 * each config and layer blob, checked on disk (present, and of the size its descriptor lists)
 * before anything is pushed, so that `load` never leaves a tag over content it could not push.
 * @returns one line per missing or damaged item (empty when the layout is complete)
 */
export async function missingFromLayout(
  layout: OciLayout,
  repo: Repository,
  roots: Manifest[],
): Promise<string[]> {
  const missing: string[] = [];
  const seen = new Set<string>();
  const pending: { m: Manifest; depth: number }[] = roots.map((m) => ({ m, depth: 0 }));
  const checkBlob = async (d: Desc, parent: string) => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    let st: Deno.FileInfo | undefined;
    try {
      st = await Deno.lstat(layout.blobPath(d.digest));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const what = `${d.digest} (listed by ${parent})`;
    if (!st) missing.push(`${what} is missing`);
    else if (st.isSymlink) missing.push(`${what}: it is a symbolic link; refusing it`);
    else if (!st.isFile) missing.push(`${what}: it is not a regular file`);
    else if (st.size !== d.size) missing.push(`${what} has ${st.size} bytes, not ${d.size}`);
  };
  let manifests = 0;
  while (pending.length) {
    const { m, depth } = pending.shift()!;
    if (seen.has(m.digest)) continue;
    seen.add(m.digest);
    // Past the copy's own bounds the copy refuses anyway; the check stops there too.
    if (++manifests > LIMITS.manifestsPerOperation) break;
    if (INDEXES.includes(m.mediaType)) {
      if (depth + 1 > LIMITS.indexDepth) continue; // refused by the copy itself
      for (const child of descriptors(m.json.manifests)) {
        try {
          pending.push({
            m: await layout.getManifest(withDigest(repo, child.digest)),
            depth: depth + 1,
          });
        } catch (e) {
          if (!(e instanceof CosignError)) throw e;
          missing.push(`${child.digest} (listed by ${m.digest}): ${e.message}`);
        }
      }
      continue;
    }
    for (const d of [...descriptors([m.json.config]), ...descriptors(m.json.layers)]) {
      await checkBlob(d, m.digest);
    }
  }
  return missing;
}

/** A name for a layout in messages and references. */
export function layoutReference(digest: string): Reference {
  return { registry: "local", repository: "layout", digest };
}

/**
 * What a referrer holds, for `copy --only`: `sig` a Sigstore bundle of a cosign v3 image
 * signature, `att` a Sigstore bundle of any other predicate (an attestation), `other` any other
 * artifact (an SBOM pushed as a referrer, for instance).
 */
export type ReferrerKind = "sig" | "att" | "other";

/** The kind of a referrer, from its entry (artifact type and predicate type annotation). */
export function referrerKind(r: Referrer): ReferrerKind {
  if (!r.artifactType?.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)) return "other";
  return r.annotations[BUNDLE_PREDICATE_TYPE_ANNOTATION] === COSIGN_SIGN_PREDICATE_TYPE
    ? "sig"
    : "att";
}

/** One referrer copied by {@link copyReferrers}. */
export interface CopiedReferrer {
  /** Its entry (digest, artifact type, annotations), the same at both ends. */
  referrer: Referrer;
  /** What it holds. */
  kind: ReferrerKind;
  /** The subject digest. */
  subject: string;
  /** How it was stored at the destination. */
  pushed: PushedReferrer;
}

/** Options for {@link copyReferrers}. */
export interface CopyReferrersOptions extends ReferrerWriteOptions {
  /** The kinds copied (default all). */
  kinds?: ReferrerKind[];
  /** Parallel blob copies. Default 4. */
  concurrency?: number;
}

/** What {@link copyReferrers} did. */
export interface CopiedReferrers {
  /** The referrers copied. */
  copied: CopiedReferrer[];
  /** Referrers not copied, each with its reason (a kind not asked for is not listed). */
  skipped: SkippedLayer[];
}

/**
 * Copies the OCI 1.1 referrers of `subject` from the repository `from` (a registry, by its
 * referrers API or fallback tag; a layout, by its fallback tags and index entries) to the
 * repository `to`: each referrer manifest with its blobs, stored by its digest (copies keep
 * digests, so its `subject` names the copied manifest), then recorded in the destination's
 * fallback index unless the destination registry answers the referrers API
 * ({@link pushReferrerManifest}). A referrer whose manifest does not name `subject` is skipped
 * with the reason.
 * @throws {CosignError} when a registry fails (never "no referrers" for a failure)
 */
export async function copyReferrers(
  src: ImageStore,
  from: Repository,
  dst: ImageStore,
  to: Repository,
  subject: string,
  options: CopyReferrersOptions = {},
): Promise<CopiedReferrers> {
  const listing = await listReferrers(src, from, subject);
  const skipped: SkippedLayer[] = [...listing.skipped];
  const copied: CopiedReferrer[] = [];
  const kinds = options.kinds ?? ["sig", "att", "other"];
  for (const listed of listing.referrers) {
    // Judged by the listing first, so that a kind not asked for costs no request.
    if (listed.artifactType && !kinds.includes(referrerKind(listed))) continue;
    let m: Manifest;
    try {
      m = await src.getManifest({ ...from, digest: listed.digest });
    } catch (e) {
      if (
        e instanceof CosignError &&
        ["MANIFEST_UNKNOWN", "MANIFEST_INVALID", "DIGEST_MISMATCH", "MANIFEST_TOO_LARGE"]
          .includes(e.code)
      ) {
        skipped.push({ digest: listed.digest, reason: `referrer ${listed.digest}: ${e.message}` });
        continue;
      }
      throw e;
    }
    if (manifestSubject(m) !== subject) {
      skipped.push({
        digest: m.digest,
        reason: `referrer ${m.digest} refers to ${
          manifestSubject(m) ?? "nothing"
        }, not ${subject}; not copied`,
      });
      continue;
    }
    const entry = referrerEntry(m);
    // The listing's annotations (those the writer put in the index) win over none.
    if (Object.keys(entry.annotations).length === 0) entry.annotations = listed.annotations;
    const kind = referrerKind(entry);
    if (!kinds.includes(kind)) continue;
    const fromRef: Reference = { ...from, digest: m.digest };
    const toRef: Reference = { ...to, digest: m.digest };
    await copyContents(src, fromRef, dst, toRef, m, options.concurrency ?? 4, {
      visited: 1,
      maxDepth: LIMITS.indexDepth,
      maxManifests: LIMITS.manifestsPerOperation,
      seen: new Set([m.digest]),
    }, 0);
    const pushed = await pushReferrerManifest(dst, to, m.bytes, subject, entry, options);
    copied.push({ referrer: entry, kind, subject, pushed });
  }
  return { copied, skipped };
}
