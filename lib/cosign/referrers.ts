/**
 * OCI 1.1 referrers (cosign-spec §3.7, §13): how cosign v3 stores a Sigstore bundle next to an
 * image. A referrer is a manifest whose `subject` is the image; it is found through the
 * registry's referrers API (`GET /v2/<repo>/referrers/<digest>`) or, on a registry without one,
 * through the `sha256-<hex>` tag holding an OCI index of the referrers (the fallback tag schema).
 *
 * Listing never turns a failure into "none": a referrers API that fails (429, 5xx after retries)
 * is an error; only a registry without the API (404, 400, 405, 406, or an answer that is not an
 * index) falls back to the tag, and the reason is reported. Entries that cannot be used (a
 * malformed descriptor, a fallback tag that is not an index) are reported with their reason.
 *
 * Writing updates the fallback index as cosign's other attachments are updated: under the
 * per-user signing lock, read, append (deduplicated by digest, sorted by digest), write, then
 * re-read over a settle window and merge again if a writer elsewhere replaced it.
 * @module
 */

import { CosignError } from "../errors.ts";
import { LIMITS } from "../oci/body.ts";
import { sha256Digest } from "../oci/digest.ts";
import {
  IMAGE_MANIFESTS,
  INDEXES,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
} from "../oci/media_types.ts";
import { type Reference, referenceName, type Repository } from "../oci/reference.ts";
import type { Descriptor, Manifest } from "../oci/registry.ts";
import type { ImageStore } from "../oci/store.ts";
import {
  type DescriptorRead,
  lockAttachment,
  registryLatency,
  settle,
  type SettleOptions,
  type SkippedLayer,
} from "./attachments.ts";

/** The artifact type (and layer media type) of the Sigstore bundles cosign v3 writes. */
export const BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
/** The prefix every Sigstore bundle media type starts with. */
export const BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle";
/** Manifest annotation: what the bundle holds (`dsse-envelope`). */
export const BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content";
/** Manifest annotation: the predicate type of the bundle's statement. */
export const BUNDLE_PREDICATE_TYPE_ANNOTATION = "dev.sigstore.bundle.predicateType";
/** Manifest annotation: when the referrer was created (RFC 3339, UTC). */
export const CREATED_ANNOTATION = "org.opencontainers.image.created";
/** The empty JSON config blob `{}`. */
export const EMPTY_CONFIG: Uint8Array = new TextEncoder().encode("{}");
/** The digest of {@link EMPTY_CONFIG}. */
export const EMPTY_CONFIG_DIGEST =
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/** Most referrers of one image that are considered; the rest are reported as skipped. */
export const MAX_REFERRERS = 1000;

/** One referrer, as its index entry describes it. */
export interface Referrer {
  /** The referrer manifest's media type. */
  mediaType: string;
  /** The referrer manifest's digest (`sha256:<hex>`, validated). */
  digest: string;
  /** The referrer manifest's size, bytes. */
  size: number;
  /** Its artifact type, when the index gives one. */
  artifactType?: string;
  /** Its annotations (copied from the manifest by the registry or the writer). */
  annotations: Record<string, string>;
}

/** Where referrers were found. */
export type ReferrersSource = "api" | "tag" | "layout";

/** The referrers of one subject. */
export interface ReferrersListing {
  /** The referrers API, the `sha256-<hex>` fallback tag, or an OCI layout's index. */
  source: ReferrersSource;
  /** The referrers, in the order listed, each digest once. */
  referrers: Referrer[];
  /** Entries or listings that could not be used, each with its reason. */
  skipped: SkippedLayer[];
  /** Why the fallback tag was used (the registry's answer to the referrers API). */
  fallbackReason?: string;
}

/**
 * The fallback tag of a subject: `sha256-<hex>`.
 * @example
 * ```ts
 * import { referrersTag } from "@cosign-deno/cosign";
 * referrersTag("sha256:" + "ab".repeat(32)); // "sha256-abab…"
 * ```
 */
export function referrersTag(digest: string): string {
  return digest.replace(":", "-");
}

/** The reference of the fallback index of `digest` in `repo`. */
export function referrersTagRef(repo: Repository, digest: string): Reference {
  return { registry: repo.registry, repository: repo.repository, tag: referrersTag(digest) };
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  }
  return out;
}

/**
 * The referrers an index lists: entries with a malformed digest, a missing size or a media type
 * that is not a manifest are skipped with their reason; duplicates count once.
 */
export function indexReferrers(
  json: Record<string, unknown>,
  where: string,
): { referrers: Referrer[]; skipped: SkippedLayer[] } {
  const referrers: Referrer[] = [];
  const skipped: SkippedLayer[] = [];
  if (!Array.isArray(json.manifests)) {
    skipped.push({ digest: "", reason: `${where} has no manifests list` });
    return { referrers, skipped };
  }
  const seen = new Set<string>();
  for (const [i, m] of (json.manifests as unknown[]).entries()) {
    const d = (typeof m === "object" && m !== null ? m : {}) as Record<string, unknown>;
    const digest = typeof d.digest === "string" ? d.digest : "";
    let reason: string | undefined;
    if (!DIGEST_RE.test(digest)) reason = `${where}: entry ${i} has a malformed digest`;
    else if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
      reason = `${where}: entry ${i} has no valid size`;
    }
    if (reason) {
      skipped.push({ digest: DIGEST_RE.test(digest) ? digest : "", reason });
      continue;
    }
    if (seen.has(digest)) continue;
    seen.add(digest);
    referrers.push({
      mediaType: typeof d.mediaType === "string" ? d.mediaType : "",
      digest,
      size: d.size as number,
      ...(typeof d.artifactType === "string" ? { artifactType: d.artifactType } : {}),
      annotations: stringRecord(d.annotations),
    });
  }
  return { referrers, skipped };
}

/** A store that speaks the referrers API (the registry client). */
interface ReferrersApi {
  referrersPage(
    repo: Repository,
    digest: string,
    options?: { artifactType?: string; next?: string; maxBytes?: number },
  ): Promise<
    | { supported: false; reason: string }
    | { supported: true; json: Record<string, unknown>; next?: string }
  >;
}

/** A store holding an index of its own (an OCI layout). */
interface LayoutIndex {
  index(): Promise<Descriptor[]>;
}

function hasApi(store: ImageStore): store is ImageStore & ReferrersApi {
  return typeof (store as Partial<ReferrersApi>).referrersPage === "function";
}

function isLayout(store: ImageStore): store is ImageStore & LayoutIndex {
  return typeof (store as Partial<LayoutIndex>).index === "function";
}

/** Options for {@link listReferrers}. */
export interface ListReferrersOptions {
  /** Ask the registry to filter by this artifact type (the result is filtered here anyway). */
  artifactType?: string;
  /** Pages of the referrers API followed at most. Default 100. */
  maxPages?: number;
}

/** Reads a manifest for the referrers code, with the larger cap of referrers indexes. */
function getIndexManifest(store: ImageStore, ref: Reference): Promise<Manifest> {
  const registry = store as ImageStore & {
    getManifest(ref: Reference, accept?: string[], maxBytes?: number): Promise<Manifest>;
  };
  // Accept image manifests too: distribution answers 404 MANIFEST_UNKNOWN ("OCI manifest found,
  // but accept header does not support OCI manifests") when only the index type is accepted, so
  // a tag holding an image manifest looked missing (verify said "unsigned", sign overwrote it).
  // Asked for both, a non-index arrives and is reported as such by the caller.
  return hasApi(store)
    ? registry.getManifest(ref, [...INDEXES, ...IMAGE_MANIFESTS], LIMITS.referrersIndex)
    : store.getManifest(ref);
}

/** The fallback index at `sha256-<hex>`: missing is empty; not an index is skipped with why. */
export async function readFallbackIndex(
  store: ImageStore,
  repo: Repository,
  digest: string,
): Promise<
  { found: boolean; manifest?: Manifest; referrers: Referrer[]; skipped: SkippedLayer[] }
> {
  const ref = referrersTagRef(repo, digest);
  let manifest: Manifest;
  try {
    manifest = await getIndexManifest(store, ref);
  } catch (e) {
    if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") {
      return { found: false, referrers: [], skipped: [] };
    }
    if (
      e instanceof CosignError && (e.code === "MANIFEST_INVALID" || e.code === "MANIFEST_TOO_LARGE")
    ) {
      return { found: true, referrers: [], skipped: [{ digest: "", reason: e.message }] };
    }
    throw e;
  }
  if (!INDEXES.includes(manifest.mediaType)) {
    return {
      found: true,
      manifest,
      referrers: [],
      skipped: [{
        digest: manifest.digest,
        reason: `the referrers tag ${referenceName(ref)} is not an index (${manifest.mediaType})`,
      }],
    };
  }
  return {
    found: true,
    manifest,
    ...indexReferrers(manifest.json, `the referrers tag ${referenceName(ref)}`),
  };
}

/**
 * Lists the referrers of `digest` in `repo`: from the referrers API (every page), else from the
 * fallback tag; in an OCI layout, from the layout's index entries whose manifest names `digest`
 * as its subject, and the fallback tag there. The result is filtered by `artifactType` here,
 * whatever the registry did.
 * @throws {CosignError} when the registry fails (never "no referrers" for a failure)
 * @example
 * ```ts
 * import { BUNDLE_ARTIFACT_TYPE, listReferrers, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { source, referrers } = await listReferrers(client, image, digest, {
 *   artifactType: BUNDLE_ARTIFACT_TYPE,
 * });
 * console.log(source, referrers.map((r) => r.digest));
 * ```
 */
export async function listReferrers(
  store: ImageStore,
  repo: Repository,
  digest: string,
  options: ListReferrersOptions = {},
): Promise<ReferrersListing> {
  let listing: ReferrersListing;
  if (hasApi(store)) listing = await listFromApi(store, repo, digest, options);
  else if (isLayout(store)) listing = await listFromLayout(store, repo, digest);
  else {
    const tag = await readFallbackIndex(store, repo, digest);
    listing = { source: "tag", referrers: tag.referrers, skipped: tag.skipped };
  }
  if (options.artifactType !== undefined) {
    listing.referrers = listing.referrers.filter((r) => r.artifactType === options.artifactType);
  }
  return listing;
}

async function listFromApi(
  store: ImageStore & ReferrersApi,
  repo: Repository,
  digest: string,
  options: ListReferrersOptions,
): Promise<ReferrersListing> {
  const referrers: Referrer[] = [];
  const skipped: SkippedLayer[] = [];
  const seen = new Set<string>();
  const maxPages = options.maxPages ?? 100;
  let next: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const got = await store.referrersPage(repo, digest, {
      ...(options.artifactType ? { artifactType: options.artifactType } : {}),
      ...(next ? { next } : {}),
    });
    if (!got.supported) {
      if (page > 0) {
        throw new CosignError(
          "REGISTRY_ERROR",
          `The referrers API of ${repo.registry} failed on page ${page + 1}: ${got.reason}`,
        );
      }
      const tag = await readFallbackIndex(store, repo, digest);
      return {
        source: "tag",
        referrers: tag.referrers,
        skipped: tag.skipped,
        fallbackReason: got.reason,
      };
    }
    const listed = indexReferrers(got.json, `the referrers API answer for ${digest}`);
    skipped.push(...listed.skipped);
    for (const r of listed.referrers) {
      if (seen.has(r.digest)) continue;
      seen.add(r.digest);
      referrers.push(r);
    }
    if (!got.next) return { source: "api", referrers, skipped };
    next = got.next;
  }
  throw new CosignError(
    "REGISTRY_ERROR",
    `The referrers API of ${repo.registry} has more than ${maxPages} pages for ${digest}; refusing to read further`,
  );
}

async function listFromLayout(
  store: ImageStore & LayoutIndex,
  repo: Repository,
  digest: string,
): Promise<ReferrersListing> {
  const referrers: Referrer[] = [];
  const skipped: SkippedLayer[] = [];
  const seen = new Set<string>();
  // The fallback tag (what `cosign save` of ours writes) and any index entry naming the subject
  // (what cosign's save writes: each referrer as an image of the layout).
  const tag = await readFallbackIndex(store, repo, digest);
  skipped.push(...tag.skipped);
  for (const r of tag.referrers) {
    seen.add(r.digest);
    referrers.push(r);
  }
  for (const entry of await store.index()) {
    if (seen.has(entry.digest) || !IMAGE_MANIFESTS.includes(entry.mediaType)) continue;
    let m: Manifest;
    try {
      m = await store.getManifest({ ...repo, digest: entry.digest });
    } catch (e) {
      if (e instanceof CosignError && e.code !== "FILE_READ") continue;
      throw e;
    }
    if (manifestSubject(m) !== digest) continue;
    seen.add(m.digest);
    referrers.push(referrerEntry(m));
  }
  return { source: "layout", referrers, skipped };
}

/** Go's `json.Marshal` of a string (HTML-safe, as go-containerregistry writes manifests). */
function goString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

function annotationsJson(a: Record<string, string>): string {
  return "{" + Object.keys(a).sort().map((k) => `${goString(k)}:${goString(a[k]!)}`).join(",") +
    "}";
}

/** A referrer manifest to write. */
export interface ReferrerManifestInput {
  /** The manifest it refers to (from a HEAD or GET of the image). */
  subject: Descriptor;
  /** The artifact type (the manifest's `artifactType` and the config's). */
  artifactType: string;
  /** The one layer: media type, digest and size of the blob. */
  layer: Descriptor;
  /** Manifest annotations. */
  annotations: Record<string, string>;
}

/**
 * The bytes of a referrer manifest laid out as cosign v3 writes it (go-containerregistry's
 * field order: schemaVersion, mediaType, config, layers, annotations, subject, artifactType;
 * config `application/vnd.oci.empty.v1+json` `{}` with the artifact type).
 * @example
 * ```ts
 * import { referrerManifest } from "@cosign-deno/cosign";
 * const bytes = referrerManifest({
 *   subject: {
 *     mediaType: "application/vnd.oci.image.manifest.v1+json",
 *     digest: "sha256:" + "ab".repeat(32),
 *     size: 1234,
 *   },
 *   artifactType: "application/vnd.example.report+json",
 *   layer: { mediaType: "application/json", digest: "sha256:" + "cd".repeat(32), size: 2 },
 *   annotations: { "org.opencontainers.image.created": "2025-01-01T00:00:00Z" },
 * });
 * ```
 */
export function referrerManifest(input: ReferrerManifestInput): Uint8Array {
  const { subject, layer } = input;
  const text = `{"schemaVersion":2,"mediaType":${goString(OCI_MANIFEST)},` +
    `"config":{"mediaType":${goString(OCI_EMPTY)},"size":${EMPTY_CONFIG.length},"digest":${
      goString(EMPTY_CONFIG_DIGEST)
    },"artifactType":${goString(input.artifactType)}},` +
    `"layers":[{"mediaType":${goString(layer.mediaType)},"size":${layer.size},"digest":${
      goString(layer.digest)
    }}],` +
    `"annotations":${annotationsJson(input.annotations)},` +
    `"subject":{"mediaType":${goString(subject.mediaType)},"size":${subject.size},"digest":${
      goString(subject.digest)
    }},"artifactType":${goString(input.artifactType)}}`;
  return new TextEncoder().encode(text);
}

/** Options for {@link pushReferrer} and {@link updateReferrersIndex}. */
export interface ReferrerWriteOptions extends SettleOptions {
  /** How many times to re-read and re-merge when another writer interfered. Default 10. */
  maxRounds?: number;
  /**
   * Removes the fallback tag when a removal leaves its index empty (called under the lock with
   * the tag and the index's digest); false when it could not, and the empty index is written.
   * Without it, an empty index is written.
   */
  removeEmpty?: (tag: Reference, indexDigest: string) => Promise<boolean>;
  /**
   * Uploads the manifest's blobs again, for when the registry refuses the manifest because
   * another writer is storing the same blob at that moment (see {@link pushReferrer}).
   */
  reupload?: () => Promise<unknown>;
}

/** What {@link pushReferrer} did. */
export interface PushedReferrer {
  /** The referrer manifest's digest. */
  digest: string;
  /** The registry indexes referrers itself (no fallback tag was written). */
  api: boolean;
  /** The fallback index's digest after the write, when it was written. */
  indexDigest?: string;
}

/**
 * Stores a referrer: the layer blob and the empty config, then the manifest by its digest; then,
 * unless the registry answers the referrers API for the subject, the fallback index is updated
 * ({@link updateReferrersIndex}).
 * @param store where to write
 * @param repo the repository (the image's, or `COSIGN_REPOSITORY`)
 * @param input the manifest's subject, artifact type and annotations
 * @param layerBytes the layer blob (a bundle)
 * @example
 * ```ts
 * import { parseReference, pushReferrer, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const subject = await client.getManifest(image);
 * const pushed = await pushReferrer(client, image, {
 *   subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
 *   artifactType: "application/vnd.example.report+json",
 *   layerMediaType: "application/json",
 *   annotations: {},
 * }, new TextEncoder().encode("{}"));
 * console.log(pushed.digest, pushed.api ? "referrers API" : "fallback tag");
 * ```
 */
export async function pushReferrer(
  store: ImageStore,
  repo: Repository,
  input: Omit<ReferrerManifestInput, "layer"> & { layerMediaType: string },
  layerBytes: Uint8Array,
  options: ReferrerWriteOptions = {},
): Promise<PushedReferrer> {
  const [layer] = await Promise.all([
    store.uploadBlob(repo, layerBytes),
    store.uploadBlob(repo, EMPTY_CONFIG),
  ]);
  const bytes = referrerManifest({
    subject: input.subject,
    artifactType: input.artifactType,
    annotations: input.annotations,
    layer: { mediaType: input.layerMediaType, digest: layer.digest, size: layerBytes.length },
  });
  return await pushReferrerManifest(store, repo, bytes, input.subject.digest, {
    mediaType: OCI_MANIFEST,
    digest: sha256Digest(bytes),
    size: bytes.length,
    artifactType: input.artifactType,
    annotations: input.annotations,
  }, {
    ...options,
    reupload: () =>
      Promise.all([store.uploadBlob(repo, layerBytes), store.uploadBlob(repo, EMPTY_CONFIG)]),
  });
}

/** distribution's answers to a manifest PUT while another writer stores one of its blobs. */
const BLOB_RACE = /HTTP 400 (DIGEST_INVALID|MANIFEST_BLOB_UNKNOWN|BLOB_UNKNOWN)/;

/**
 * PUTs a manifest; when the registry refuses it because another writer is storing one of its
 * blobs at the same moment (every signer uploads the same empty config `{}`), waits a little,
 * uploads the blobs again and retries, a few times.
 */
async function putManifestRacing(
  store: ImageStore,
  ref: Reference,
  bytes: Uint8Array,
  mediaType: string,
  reupload: (() => Promise<unknown>) | undefined,
  sleep: (ms: number) => Promise<void>,
): Promise<string> {
  for (let attempt = 1;; attempt++) {
    try {
      return await store.putManifest(ref, bytes, mediaType);
    } catch (e) {
      const racing = e instanceof CosignError && e.code === "REGISTRY_ERROR" &&
        BLOB_RACE.test(e.message);
      if (!racing || attempt >= 6) throw e;
      await sleep(50 * attempt * (0.5 + Math.random()));
      await reupload?.();
    }
  }
}

/**
 * Stores a referrer manifest whose blobs are in place already: PUT by its digest (never a tag),
 * then, unless the registry answers the referrers API for `subject`, the fallback index entry
 * ({@link updateReferrersIndex}). In an OCI layout the manifest gets an untagged `index.json`
 * entry and the fallback index its `sha256-<hex>` tag.
 * @param store where to write
 * @param repo the repository holding the referrers
 * @param bytes the manifest, as it is to be stored (its `subject` names `subject`)
 * @param subject the digest of the manifest it refers to
 * @param entry its fallback index entry ({@link referrerEntry})
 * @throws {CosignError} `DIGEST_MISMATCH` when `entry.digest` is not the bytes' digest
 */
export async function pushReferrerManifest(
  store: ImageStore,
  repo: Repository,
  bytes: Uint8Array,
  subject: string,
  entry: Referrer,
  options: ReferrerWriteOptions = {},
): Promise<PushedReferrer> {
  const digest = sha256Digest(bytes);
  if (digest !== entry.digest) {
    throw new CosignError(
      "DIGEST_MISMATCH",
      `The referrer manifest has digest ${digest}, not ${entry.digest}; not storing it`,
    );
  }
  await putManifestRacing(
    store,
    { ...repo, digest },
    bytes,
    entry.mediaType,
    options.reupload,
    options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  );
  if (hasApi(store)) {
    const probe = await store.referrersPage(repo, subject, {
      ...(entry.artifactType ? { artifactType: entry.artifactType } : {}),
    });
    if (probe.supported) return { digest, api: true };
  }
  const r = await updateReferrersIndex(store, repo, subject, { add: [entry] }, options);
  return { digest, api: false, ...(r.digest ? { indexDigest: r.digest } : {}) };
}

/**
 * The fallback index entry of a referrer manifest: its media type, digest and size, its
 * `artifactType` (the manifest's, else its config's media type, as go-containerregistry does)
 * and its annotations.
 */
export function referrerEntry(m: Manifest): Referrer {
  const config = m.json.config as { mediaType?: unknown } | undefined;
  const artifactType = typeof m.json.artifactType === "string"
    ? m.json.artifactType
    : typeof config?.mediaType === "string"
    ? config.mediaType
    : undefined;
  return {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.bytes.length,
    ...(artifactType ? { artifactType } : {}),
    annotations: stringRecord(m.json.annotations),
  };
}

/** The subject digest a manifest names, if any. */
export function manifestSubject(m: Manifest): string | undefined {
  const d = (m.json.subject as { digest?: unknown } | undefined)?.digest;
  return typeof d === "string" ? d : undefined;
}

/** The change {@link updateReferrersIndex} makes. */
export interface ReferrersIndexChange {
  /** Entries to add (an entry whose digest is listed already is not added again). */
  add?: Referrer[];
  /** Digests to remove. */
  remove?: string[];
}

function entryJson(r: Referrer): string {
  const parts = [
    `"mediaType":${goString(r.mediaType)}`,
    `"size":${r.size}`,
    `"digest":${goString(r.digest)}`,
  ];
  if (Object.keys(r.annotations).length > 0) {
    parts.push(`"annotations":${annotationsJson(r.annotations)}`);
  }
  if (r.artifactType) parts.push(`"artifactType":${goString(r.artifactType)}`);
  return "{" + parts.join(",") + "}";
}

/**
 * The fallback index's bytes: existing entries kept as they were (unknown fields included),
 * added ones appended, each digest once, sorted by digest (cosign-spec §13).
 */
function indexBytes(
  existing: unknown[],
  add: Referrer[],
  remove: Set<string>,
): { bytes: Uint8Array; count: number } {
  const byDigest = new Map<string, string>();
  for (const e of existing) {
    const d = (e as { digest?: unknown })?.digest;
    if (typeof d !== "string" || !DIGEST_RE.test(d) || remove.has(d) || byDigest.has(d)) continue;
    byDigest.set(d, JSON.stringify(e));
  }
  for (const r of add) {
    if (!byDigest.has(r.digest) && !remove.has(r.digest)) {
      byDigest.set(r.digest, entryJson(r));
    }
  }
  const sorted = [...byDigest.keys()].sort();
  const bytes = new TextEncoder().encode(
    `{"schemaVersion":2,"mediaType":${goString(OCI_INDEX)},"manifests":[${
      sorted.map((d) => byDigest.get(d)!).join(",")
    }]}`,
  );
  return { bytes, count: sorted.length };
}

/**
 * Updates the fallback index (`sha256-<hex>`) of `subject` in `repo`: under the per-user signing
 * lock, reads it, adds and removes entries, writes it, and re-reads it over a settle window,
 * merging again when a writer elsewhere replaced it without our change. A tag there that is not
 * an index is never overwritten.
 * @throws {CosignError} `MANIFEST_INVALID` (the tag is not an index), `WRITE_CONFLICT`
 * @example
 * ```ts
 * import { parseReference, RegistryClient, updateReferrersIndex } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * // drop one referrer from the fallback index `sha256-<hex>`
 * const { changed } = await updateReferrersIndex(client, image, digest, {
 *   remove: ["sha256:" + "cd".repeat(32)],
 * });
 * ```
 */
export async function updateReferrersIndex(
  store: ImageStore,
  repo: Repository,
  subject: string,
  change: ReferrersIndexChange,
  options: ReferrerWriteOptions = {},
): Promise<{ digest?: string | undefined; changed: boolean }> {
  const ref = referrersTagRef(repo, subject);
  const add = change.add ?? [];
  const remove = new Set(change.remove ?? []);
  const latency = options.latency ?? registryLatency;
  await using _lock = await lockAttachment(ref);
  const read = async (): Promise<{ found: boolean; manifest?: Manifest; raw: unknown[] }> => {
    const got = await readFallbackIndex(store, repo, subject);
    if (got.found && (!got.manifest || !INDEXES.includes(got.manifest.mediaType))) {
      throw new CosignError(
        "MANIFEST_INVALID",
        `Cannot update ${referenceName(ref)}: ${
          got.skipped[0]?.reason ?? "it is not an index"
        }; refusing to overwrite it`,
      );
    }
    const raw = got.manifest && Array.isArray(got.manifest.json.manifests)
      ? got.manifest.json.manifests as unknown[]
      : [];
    return { found: got.found, ...(got.manifest ? { manifest: got.manifest } : {}), raw };
  };
  const holds = (raw: unknown[]) => {
    const digests = new Set(raw.map((e) => (e as { digest?: unknown })?.digest));
    return add.every((r) => digests.has(r.digest)) && [...remove].every((d) => !digests.has(d));
  };
  const asDescriptors = async (): Promise<DescriptorRead> => {
    const got = await read();
    return {
      found: got.found,
      ...(got.manifest ? { digest: got.manifest.digest } : {}),
      layers: got.raw.map((e) => ({
        mediaType: "",
        size: 0,
        digest: String((e as { digest?: unknown })?.digest ?? ""),
      })),
    };
  };
  const rounds = options.maxRounds ?? 10;
  let changed = false;
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const current = await read();
    if (holds(current.raw)) return { digest: current.manifest?.digest, changed };
    if (!current.found && add.length === 0) return { changed };
    const { bytes, count } = indexBytes(current.raw, add, remove);
    const putStarted = performance.now();
    // An index left empty goes with its tag when the caller can remove it.
    const removed = count === 0 && current.manifest !== undefined &&
      options.removeEmpty !== undefined &&
      await options.removeEmpty(ref, current.manifest.digest);
    const written = removed ? undefined : await store.putManifest(ref, bytes, OCI_INDEX);
    latency.request(performance.now() - putStarted);
    latency.span(performance.now() - started);
    changed = true;
    const seen = await settle(
      store,
      ref,
      (now) => {
        const digests = new Set(now.layers.map((l) => l.digest));
        return add.every((r) => digests.has(r.digest)) && [...remove].every((d) => !digests.has(d));
      },
      { ...options, latency, ...(written ? { quietSince: written } : {}), read: asDescriptors },
    );
    if (seen.held) return { digest: seen.current.digest, changed };
  }
  throw new CosignError(
    "WRITE_CONFLICT",
    `Could not update ${referenceName(ref)}: other writers kept replacing it (${rounds} attempts)`,
  );
}

/** A referrer as `cosign tree` shows it. */
export interface ReferrerArtifact {
  /** The referrer manifest's digest. */
  digest: string;
  /** Its bundle predicate type annotation, else its artifact type. */
  type: string;
  /** Its layer digests. */
  layers: string[];
}

/**
 * The referrers of `digest` with an artifact type, each with its manifest's layers (what cosign
 * v3's `tree` lists); a referrer whose manifest cannot be read is skipped with the reason.
 * @throws {CosignError} when the registry fails
 */
export async function referrerArtifacts(
  store: ImageStore,
  repo: Repository,
  digest: string,
): Promise<{ artifacts: ReferrerArtifact[]; skipped: SkippedLayer[] }> {
  const listing = await listReferrers(store, repo, digest);
  const skipped = [...listing.skipped];
  const artifacts: ReferrerArtifact[] = [];
  for (const r of listing.referrers) {
    if (!r.artifactType) continue;
    let m: Manifest;
    try {
      m = await store.getManifest({ ...repo, digest: r.digest });
    } catch (e) {
      if (e instanceof CosignError && e.code !== "REGISTRY_ERROR") {
        skipped.push({ digest: r.digest, reason: `referrer ${r.digest}: ${e.message}` });
        continue;
      }
      throw e;
    }
    const layers = Array.isArray(m.json.layers) ? m.json.layers as { digest?: unknown }[] : [];
    artifacts.push({
      digest: r.digest,
      type: stringRecord(m.json.annotations)[BUNDLE_PREDICATE_TYPE_ANNOTATION] ?? r.artifactType,
      layers: layers.map((l) => String(l.digest)),
    });
  }
  return { artifacts, skipped };
}
