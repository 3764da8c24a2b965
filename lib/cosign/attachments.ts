/**
 * Images that hold cosign attachments (`.sig` and `.att` tags, cosign-spec §3.2–3.4): one
 * layer per signature or attestation, the payload stored uncompressed, the signature and
 * friends in layer annotations. Reading lists the layers first, refusing from their descriptors
 * those without a size or over the cap, then fetches each only when it is used, a few ahead,
 * with the bytes held at once bounded; layers it cannot use are reported with a reason. Writing
 * appends without losing concurrent writers: a per-user lock for the writers of one machine;
 * for writers elsewhere, several re-reads over a settle window sized from the round-trip times
 * measured in this process, and re-merging until the image holds what was added for a whole
 * window.
 * @module
 */

import { CosignError } from "../errors.ts";
import { LIMITS, parseByteSize } from "../oci/body.ts";
import { buildImage, type LayerDescriptor } from "../oci/image.ts";
import {
  DOCKER_CONFIG,
  DOCKER_MANIFEST,
  IMAGE_MANIFESTS,
  OCI_CONFIG,
  OCI_MANIFEST,
} from "../oci/media_types.ts";
import { type Reference, referenceName, type Repository } from "../oci/reference.ts";
import type { ImageStore } from "../oci/store.ts";
import { acquireLock, type HeldLock } from "./lock.ts";

/** Layer media type of simple-signing payloads. */
export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** Layer media type of DSSE envelopes (attestations). */
export const DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";
/** Annotation: base64 signature ("" on attestation layers). */
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** Annotation: signing certificate PEM. */
export const CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate";
/** Annotation: certificate chain PEM. */
export const CHAIN_ANNOTATION = "dev.sigstore.cosign/chain";
/** Annotation: Rekor bundle JSON. */
export const BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle";
/** Annotation: RFC 3161 timestamp JSON. */
export const RFC3161_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp";
/** Most layers an attachment image may have. */
export const MAX_LAYERS = 1000;
const DEFAULT_MAX_LAYER_BYTES = LIMITS.attachmentLayer;
const DEFAULT_BYTES_IN_FLIGHT = 64 << 20;

/** One attachment layer, read and verified against its digest. */
export interface AttachmentLayer {
  /** The layer's descriptor in the manifest. */
  descriptor: LayerDescriptor;
  /** The layer's annotations (signature, certificate, bundle, ...). */
  annotations: Record<string, string>;
  /** The layer bytes (a simple-signing payload or a DSSE envelope), exactly as stored. */
  payload: Uint8Array;
}

/** A layer that could not be used, and why. */
export interface SkippedLayer {
  /** The layer digest. */
  digest: string;
  /** Why it could not be used. */
  reason: string;
}

/** What an attachment tag held. */
export interface ReadAttachments {
  /** False when the tag does not exist (an empty set). */
  found: boolean;
  /** The manifest digest of the attachment image, when found. */
  digest?: string;
  /** The layers read and verified against their digests. */
  layers: AttachmentLayer[];
  /** The layers that could not be used, each with its reason. */
  skipped: SkippedLayer[];
}

/** Parses `COSIGN_MAX_ATTACHMENT_SIZE` (bytes, or with units like `128MiB`, `1GB`). */
export function maxAttachmentSize(value: string | undefined): number {
  if (!value) return DEFAULT_MAX_LAYER_BYTES;
  return parseByteSize(value, "COSIGN_MAX_ATTACHMENT_SIZE");
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The layer descriptors of a parsed image manifest (missing fields become empty values). */
export function layerDescriptors(json: Record<string, unknown>): LayerDescriptor[] {
  const layers = Array.isArray(json.layers) ? json.layers : [];
  return layers.map((l) => {
    const d = (typeof l === "object" && l !== null ? l : {}) as Record<string, unknown>;
    const annotations: Record<string, string> = {};
    if (typeof d.annotations === "object" && d.annotations !== null) {
      for (const [k, v] of Object.entries(d.annotations)) {
        if (typeof v === "string") annotations[k] = v;
      }
    }
    return {
      mediaType: typeof d.mediaType === "string" ? d.mediaType : "",
      size: typeof d.size === "number" && Number.isSafeInteger(d.size) ? d.size : -1,
      digest: typeof d.digest === "string" ? d.digest : "",
      annotations,
    };
  });
}

/**
 * An attachment layer whose bytes are fetched only when {@link PendingLayer.load} is called:
 * its descriptor and annotations come from the manifest, and its size was already checked
 * against the cap, so a layer that is never verified is never downloaded.
 */
export interface PendingLayer {
  /** The layer's descriptor in the manifest (a valid digest, a size within the cap). */
  descriptor: LayerDescriptor;
  /** The layer's annotations (signature, certificate, bundle, ...). */
  annotations: Record<string, string>;
  /**
   * Downloads the layer, verified against its digest and size (never more than the size
   * buffered). A layer the registry does not have or that does not match its descriptor is a
   * `CosignError` with code `BLOB_UNKNOWN`, `DIGEST_MISMATCH` or `BLOB_TOO_LARGE` (see
   * {@link isLayerFault}); other failures (the registry unreachable) are thrown as they are.
   */
  load(): Promise<AttachmentLayer>;
}

/** What an attachment tag holds, layers not yet fetched. */
export interface AttachmentListing {
  /** False when the tag does not exist (an empty set). */
  found: boolean;
  /** The manifest digest of the attachment image, when found. */
  digest?: string;
  /** The layers that may be fetched, in manifest order. */
  layers: PendingLayer[];
  /**
   * The layers refused from their descriptor alone (a malformed digest, no size, over the
   * size cap), each with its reason; none of them is downloaded.
   */
  skipped: SkippedLayer[];
}

/** Options for {@link listAttachments} and {@link readAttachments}. */
export interface ReadAttachmentsOptions {
  /** Largest layer fetched, bytes (`COSIGN_MAX_ATTACHMENT_SIZE`). Default 128 MiB. */
  maxLayerBytes?: number;
  /** Layers fetched at once by {@link readAttachments}. Default 10. */
  concurrency?: number;
}

const LAYER_FAULTS = new Set(["DIGEST_MISMATCH", "BLOB_UNKNOWN", "BLOB_TOO_LARGE"]);

/**
 * True for the errors of {@link PendingLayer.load} that make a layer unusable (skip it).
 * @example
 * ```ts
 * import { attachmentRef, isLayerFault, listAttachments, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app@sha256:" + "ab".repeat(32));
 * const { layers } = await listAttachments(client, attachmentRef(image, image.digest!, "sig"));
 * for (const pending of layers) {
 *   try {
 *     console.log((await pending.load()).payload.length);
 *   } catch (e) {
 *     if (!isLayerFault(e)) throw e; // a registry failure
 *     console.error(`skipped ${pending.descriptor.digest}: ${e.message}`);
 *   }
 * }
 * ```
 */
export function isLayerFault(e: unknown): e is CosignError {
  return e instanceof CosignError && LAYER_FAULTS.has(e.code);
}

/**
 * Lists the attachment image at `ref` without fetching any layer: a missing tag is an empty
 * set; an index, too many layers, or a layer whose descriptor is unusable is reported in
 * `skipped`, never thrown. Registry failures are thrown.
 * @example
 * ```ts
 * import { attachmentRef, listAttachments, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const listing = await listAttachments(client, attachmentRef(image, digest, "att"));
 * for (const l of listing.layers) console.log(l.descriptor.digest, l.descriptor.size);
 * ```
 */
export async function listAttachments(
  store: ImageStore,
  ref: Reference,
  options: ReadAttachmentsOptions = {},
): Promise<AttachmentListing> {
  let manifest;
  try {
    manifest = await store.getManifest(ref);
  } catch (e) {
    if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") {
      return { found: false, layers: [], skipped: [] };
    }
    if (
      e instanceof CosignError && (e.code === "MANIFEST_INVALID" || e.code === "MANIFEST_TOO_LARGE")
    ) {
      return { found: true, layers: [], skipped: [{ digest: "", reason: e.message }] };
    }
    throw e;
  }
  if (!IMAGE_MANIFESTS.includes(manifest.mediaType)) {
    return {
      found: true,
      digest: manifest.digest,
      layers: [],
      skipped: [{
        digest: manifest.digest,
        reason: `${referenceName(ref)} is an index, not a signature image`,
      }],
    };
  }
  const descriptors = layerDescriptors(manifest.json);
  if (descriptors.length > MAX_LAYERS) {
    return {
      found: true,
      digest: manifest.digest,
      layers: [],
      skipped: [{
        digest: manifest.digest,
        reason: `${descriptors.length} layers, over the limit of ${MAX_LAYERS}`,
      }],
    };
  }
  const max = options.maxLayerBytes ?? DEFAULT_MAX_LAYER_BYTES;
  const layers: PendingLayer[] = [];
  const skipped: SkippedLayer[] = [];
  for (const d of descriptors) {
    let reason: string | undefined;
    if (!/^sha256:[0-9a-f]{64}$/.test(d.digest)) {
      reason = `malformed layer digest ${JSON.stringify(d.digest.slice(0, 80))}`;
    } else if (d.size < 0) reason = "layer has no size";
    else if (d.size > max) reason = `layer is ${d.size} bytes, over the ${max}-byte limit`;
    if (reason) {
      skipped.push({ digest: d.digest, reason });
      continue;
    }
    const annotations = d.annotations ?? {};
    layers.push({
      descriptor: d,
      annotations,
      load: async () => ({
        descriptor: d,
        annotations,
        payload: await readLayer(store, ref, d.digest, d.size),
      }),
    });
  }
  return { found: true, digest: manifest.digest, layers, skipped };
}

/** Options for {@link loadLayers}. */
export interface LoadLayersOptions {
  /** Layers downloading at once. Default 4. */
  concurrency?: number;
  /**
   * Bytes of layers held at once: the one being used plus those fetched ahead. A layer is
   * always fetched when nothing else is held, so one layer may exceed this. Default 64 MiB.
   */
  maxBytesInFlight?: number;
}

/** One result of {@link loadLayers}: the layer, or why it could not be fetched. */
export type LoadedLayer =
  | { pending: PendingLayer; layer: AttachmentLayer; skipped?: undefined }
  | { pending: PendingLayer; layer?: undefined; skipped: SkippedLayer };

/**
 * Fetches `layers` in order, a few ahead of the consumer, with memory bounded: at most
 * `concurrency` downloads and `maxBytesInFlight` bytes (counted from the descriptors' sizes,
 * which the downloads never exceed) are held at once, the layer last yielded included until the
 * consumer asks for the next. A layer that cannot be used yields `skipped` with the reason;
 * other failures are thrown.
 * @example
 * ```ts
 * import { attachmentRef, listAttachments, loadLayers, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { layers } = await listAttachments(client, attachmentRef(image, digest, "sig"));
 * for await (const loaded of loadLayers(layers, { concurrency: 4 })) {
 *   if (loaded.layer) console.log(new TextDecoder().decode(loaded.layer.payload));
 *   else console.error("skipped:", loaded.skipped.reason);
 * }
 * ```
 */
export async function* loadLayers(
  layers: PendingLayer[],
  options: LoadLayersOptions = {},
): AsyncGenerator<LoadedLayer, void, undefined> {
  const limit = Math.max(1, options.concurrency ?? 4);
  const budget = options.maxBytesInFlight ?? DEFAULT_BYTES_IN_FLIGHT;
  const window: { pending: PendingLayer; size: number; result: Promise<LoadedLayer> }[] = [];
  let held = 0;
  let next = 0;
  const fill = () => {
    while (next < layers.length && window.length < limit) {
      const pending = layers[next]!;
      const size = Math.max(0, pending.descriptor.size);
      if (window.length > 0 && held + size > budget) break;
      held += size;
      next++;
      const result = pending.load().then(
        (layer): LoadedLayer => ({ pending, layer }),
        (e): LoadedLayer => {
          if (!isLayerFault(e)) throw e;
          return { pending, skipped: { digest: pending.descriptor.digest, reason: e.message } };
        },
      );
      result.catch(() => {}); // observed when its turn comes; not unhandled if we stop early
      window.push({ pending, size, result });
    }
  };
  fill();
  while (window.length > 0) {
    const head = window[0]!;
    const got = await head.result;
    yield got;
    window.shift();
    held -= head.size;
    fill();
  }
}

/**
 * Reads the attachment image at `ref`, every layer fetched into memory: a missing tag is an
 * empty set; an index, too many layers or an unusable layer is reported in `skipped`, never
 * thrown. Registry failures are thrown. Memory grows with the layers' total size: to verify
 * or print layers one by one, use {@link listAttachments} and {@link loadLayers}.
 * @example
 * ```ts
 * import { attachmentRef, parseReference, readAttachments, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { found, layers } = await readAttachments(client, attachmentRef(image, digest, "sbom"));
 * if (found) for (const l of layers) console.log(l.descriptor.mediaType, l.payload.length);
 * ```
 */
export async function readAttachments(
  store: ImageStore,
  ref: Reference,
  options: ReadAttachmentsOptions = {},
): Promise<ReadAttachments> {
  const listing = await listAttachments(store, ref, options);
  const { found, layers: pending } = listing;
  const skipped = [...listing.skipped];
  // Each distinct digest is fetched once.
  const blobs = new Map<string, Promise<Uint8Array | string>>();
  const unique = pending.filter((p, i) =>
    pending.findIndex((q) => q.descriptor.digest === p.descriptor.digest) === i
  );
  await mapLimit(unique, options.concurrency ?? 10, (p) => {
    const got = p.load().then((l) => l.payload, (e) => {
      if (isLayerFault(e)) return e.message;
      throw e;
    });
    blobs.set(p.descriptor.digest, got);
    return got;
  });
  const layers: AttachmentLayer[] = [];
  for (const p of pending) {
    const got = await blobs.get(p.descriptor.digest)!;
    if (typeof got === "string") skipped.push({ digest: p.descriptor.digest, reason: got });
    else layers.push({ descriptor: p.descriptor, annotations: p.annotations, payload: got });
  }
  return {
    found,
    ...(listing.digest ? { digest: listing.digest } : {}),
    layers,
    skipped,
  };
}

/**
 * Reads a blob of known size (a layer, a bundle) into a buffer of that size, verified against
 * its digest; a blob larger than `size` or with another digest is an error.
 */
export async function readLayer(
  store: ImageStore,
  ref: Repository,
  digest: string,
  size: number,
): Promise<Uint8Array> {
  const stream = await store.fetchBlob(ref, digest, size, { maxBytes: size });
  // The stream holds at most `size` bytes (it errors beyond them) and errors at its end on a
  // digest mismatch, so the buffer is filled only with bytes that verify.
  const out = new Uint8Array(size);
  let at = 0;
  for await (const chunk of stream) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** The layer descriptors of an attachment image, without fetching any layer. */
export interface DescriptorRead {
  /** False when the tag does not exist. */
  found: boolean;
  /** The manifest digest, when found. */
  digest?: string;
  /** The manifest media type, when found. */
  mediaType?: string;
  /** The layer descriptors. */
  layers: LayerDescriptor[];
}

/**
 * Reads the layer descriptors of the attachment image at `ref` (one manifest GET, timed into
 * `latency`); a missing tag is `found: false`.
 * @throws {CosignError} `MANIFEST_INVALID` when the tag holds an index, and registry failures
 */
export async function readDescriptors(
  store: ImageStore,
  ref: Reference,
  latency: LatencyTracker = registryLatency,
): Promise<DescriptorRead> {
  let manifest;
  const started = performance.now();
  try {
    manifest = await store.getManifest(ref);
  } catch (e) {
    if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") {
      latency.request(performance.now() - started);
      return { found: false, layers: [] };
    }
    throw e;
  }
  latency.request(performance.now() - started);
  if (!IMAGE_MANIFESTS.includes(manifest.mediaType)) {
    throw new CosignError(
      "MANIFEST_INVALID",
      `Cannot add to ${referenceName(ref)}: it is an index, not a signature image`,
    );
  }
  return {
    found: true,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    layers: layerDescriptors(manifest.json),
  };
}

/** Requests in another writer's read-to-write span: manifest GET, config upload (HEAD, POST, PATCH, PUT), manifest PUT. */
const WRITE_SPAN_REQUESTS = 6;
/** Another host may be farther from the registry than this one. */
const REMOTE_SAFETY = 1.25;
/** Another writer's read-to-write span, judged from our longest one. */
const SPAN_FACTOR = 3;
/** The longest settle window, ms, however slow the registry looked. */
const MAX_SETTLE_MS = 30_000;

/**
 * Round-trip times to registries measured in this process, from which the settle window is
 * derived: a writer elsewhere that read the attachment image before our write can only
 * overwrite it within its own read-to-write span, so re-reading for longer than that span
 * catches it. Its span is estimated from ours: the longest single request seen times the
 * requests of a write, and three times the longest read-to-write span seen (a busy machine
 * stretches another process's span well beyond the network's share).
 * @example
 * ```ts
 * import { LatencyTracker } from "@cosign-deno/cosign";
 * const latency = new LatencyTracker();
 * latency.request(120); // one manifest GET took 120 ms
 * latency.span(400); // read-to-write took 400 ms
 * latency.windowMs(1000); // the settle window, at least 1 s
 * ```
 */
export class LatencyTracker {
  #maxRequestMs = 0;
  #maxSpanMs = 0;

  /** Records how long one registry request (a manifest GET, HEAD, PUT or DELETE) took. */
  request(ms: number): void {
    if (Number.isFinite(ms) && ms > this.#maxRequestMs) this.#maxRequestMs = ms;
  }

  /** Records how long one read-to-write span took (manifest read until its PUT was answered). */
  span(ms: number): void {
    if (Number.isFinite(ms) && ms > this.#maxSpanMs) this.#maxSpanMs = ms;
  }

  /** The settle window in ms: at least `floorMs`, at most 30 s. */
  windowMs(floorMs: number): number {
    const estimate = Math.max(
      WRITE_SPAN_REQUESTS * REMOTE_SAFETY * this.#maxRequestMs,
      SPAN_FACTOR * this.#maxSpanMs,
    );
    return Math.min(MAX_SETTLE_MS, Math.max(floorMs, Math.ceil(estimate)));
  }
}

/** The round-trip times of this process, shared by every write (the default tracker). */
export const registryLatency: LatencyTracker = new LatencyTracker();

/**
 * Takes the per-user signing lock of the attachment tag `ref`: the lock every writer of that tag
 * (sign, attest, attach, copy, load, clean) holds while it reads, writes and settles.
 */
export function lockAttachment(ref: Reference): Promise<HeldLock> {
  return acquireLock(`${ref.registry}/${ref.repository}:${ref.tag ?? ref.digest}`);
}

/** Options for {@link settle}. */
export interface SettleOptions {
  /** The smallest settle window, ms. Default 150. */
  settleMs?: number;
  /** Re-reads spread over the window (more while the tag keeps changing). Default 2. */
  rereads?: number;
  /** Sleep function (tests inject one). */
  sleep?: (ms: number) => Promise<void>;
  /** Round-trip times measured so far (default: this process's {@link registryLatency}). */
  latency?: LatencyTracker;
  /** How to re-read (default {@link readDescriptors}). */
  read?: () => Promise<DescriptorRead>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What {@link settle} saw. */
export interface Settled {
  /** True when every re-read held. */
  held: boolean;
  /** The last read: the first that did not hold, or the final one. */
  current: DescriptorRead;
}

/**
 * Re-reads the attachment image at `ref` several times over one settle window (jittered),
 * stopping at the first read for which `holds` is false. With `quietSince`, the window starts
 * over whenever the image changed between two reads (another writer is at work, so one that
 * read before our write may still be on its way), up to four windows in all.
 */
export async function settle(
  store: ImageStore,
  ref: Reference,
  holds: (current: DescriptorRead) => boolean,
  options: SettleOptions & { quietSince?: string } = {},
): Promise<Settled> {
  const latency = options.latency ?? registryLatency;
  const sleep = options.sleep ?? defaultSleep;
  const rereads = Math.max(1, options.rereads ?? 2);
  const window = latency.windowMs(options.settleMs ?? 150);
  let current: DescriptorRead = { found: false, layers: [] };
  let last = options.quietSince;
  for (let calm = 0, reads = 0; calm < rereads && reads < 4 * rereads; reads++) {
    await sleep((window / rereads) * (0.85 + 0.3 * Math.random()));
    current = options.read ? await options.read() : await readDescriptors(store, ref, latency);
    if (!holds(current)) return { held: false, current };
    if (options.quietSince !== undefined && current.digest !== last) {
      calm = 0;
      last = current.digest;
    } else calm++;
  }
  return { held: true, current };
}

/** A layer to append. */
export interface NewLayer {
  /** The layer bytes (a simple-signing payload or a DSSE envelope). */
  payload: Uint8Array;
  /** The layer media type. */
  mediaType: string;
  /** The layer annotations. */
  annotations: Record<string, string>;
}

/** A layer to append, uploaded. */
export type UploadedLayer = NewLayer & { digest: string };

/** Options for {@link mergeAttachmentLayers}. */
export interface MergeOptions extends SettleOptions {
  /** Docker media types for manifest and config (`COSIGN_DOCKER_MEDIA_TYPES`). */
  dockerMediaTypes?: boolean;
  /** Existing layers for which this returns true are removed (`attest --replace`). */
  replace?: (existing: LayerDescriptor) => boolean;
  /** How many times to re-read and re-merge when another writer interfered. Default 10. */
  maxRounds?: number;
  /**
   * Writes `ref` when it does not exist yet, instead of an image built from the layers (`copy`
   * and `load` keep the source's manifest bytes). It must write exactly the layers merged.
   */
  writeWhenMissing?: () => Promise<void>;
  /** The caller holds the lock of `ref` already ({@link lockAttachment}). */
  lockHeld?: boolean;
}

/** Options for {@link appendAttachments}. */
export interface AppendOptions extends MergeOptions {
  /**
   * True when `existing`, a layer with the same digest (so the same payload), already stands for
   * `added` (cosign's dedupe rule); `added` is then not appended.
   */
  isDuplicate?: (existing: LayerDescriptor, added: UploadedLayer) => Promise<boolean>;
}

/** What {@link appendAttachments} did. */
export interface AppendResult {
  /** Layers actually added (0 when every new layer was already there). */
  added: number;
  /** The manifest digest of the attachment image now. */
  digest?: string;
  /** Read-merge-write rounds it took. */
  rounds: number;
}

/** The same layer: same digest (so the same payload) and the same signature annotation. */
export function sameLayer(a: LayerDescriptor, b: LayerDescriptor): boolean {
  return a.digest === b.digest &&
    (a.annotations?.[SIGNATURE_ANNOTATION] ?? "") === (b.annotations?.[SIGNATURE_ANNOTATION] ?? "");
}

/**
 * Appends layers to the attachment image at `ref`, never losing layers other writers add at the
 * same time: local writers take turns under the per-user signing lock; after each write the manifest
 * is re-read several times over a settle window that adapts to the registry's measured
 * round-trip times and, if a writer elsewhere replaced it without our layers, merged and written
 * again until it holds them for a whole window. Only manifests are read: no layer is downloaded.
 * @example
 * ```ts
 * import {
 *   appendAttachments,
 *   attachmentRef,
 *   loadSigner,
 *   parseReference,
 *   RegistryClient,
 *   simpleSigningPayload,
 * } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const payload = simpleSigningPayload("localhost:5000/app", digest);
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const signature = (await signer.sign(payload)).toBase64();
 * await appendAttachments(client, attachmentRef(image, digest, "sig"), [{
 *   payload,
 *   mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
 *   annotations: { "dev.cosignproject.cosign/signature": signature },
 * }]);
 * ```
 */
export async function appendAttachments(
  store: ImageStore,
  ref: Reference,
  newLayers: NewLayer[],
  options: AppendOptions = {},
): Promise<AppendResult> {
  const uploaded: UploadedLayer[] = await Promise.all(newLayers.map(async (l) => {
    const d = await store.uploadBlob(ref, l.payload);
    return { ...l, digest: d.digest };
  }));
  const isDuplicate = options.isDuplicate;
  return await merge(
    store,
    ref,
    uploaded.map((l) => ({
      mediaType: l.mediaType,
      size: l.payload.length,
      digest: l.digest,
      annotations: l.annotations,
    })),
    options,
    isDuplicate ? (existing, i) => isDuplicate(existing, uploaded[i]!) : undefined,
  );
}

/**
 * Merges layers whose blobs are already in the repository of `ref` into the attachment image
 * there, by the rules of {@link appendAttachments} (a layer already present, same digest and
 * same signature, is not added again). Used by `copy` and `load`.
 * @example
 * ```ts
 * import {
 *   attachmentRef,
 *   listAttachments,
 *   mergeAttachmentLayers,
 *   parseReference,
 *   RegistryClient,
 * } from "@cosign-deno/cosign";
 * // layers whose blobs were already copied into the destination repository
 * const client = new RegistryClient();
 * const src = parseReference("localhost:5000/app:v1");
 * const dst = parseReference("localhost:5000/mirror:v1");
 * const { digest } = await client.getManifest(src);
 * const { layers } = await listAttachments(client, attachmentRef(src, digest, "sig"));
 * await mergeAttachmentLayers(
 *   client,
 *   attachmentRef(dst, digest, "sig"),
 *   layers.map((l) => l.descriptor),
 * );
 * ```
 */
export function mergeAttachmentLayers(
  store: ImageStore,
  ref: Reference,
  layers: LayerDescriptor[],
  options: MergeOptions = {},
): Promise<AppendResult> {
  return merge(store, ref, layers, options);
}

async function merge(
  store: ImageStore,
  ref: Reference,
  adding: LayerDescriptor[],
  options: MergeOptions,
  isDuplicate?: (existing: LayerDescriptor, index: number) => Promise<boolean>,
): Promise<AppendResult> {
  const sleep = options.sleep ?? defaultSleep;
  const latency = options.latency ?? registryLatency;
  await using _lock = options.lockHeld ? undefined : await lockAttachment(ref);
  const rounds = options.maxRounds ?? 10;
  let wanted = adding;
  let added = 0;
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const current = await readDescriptors(store, ref, latency);
    const kept = current.layers.filter((l) => !(options.replace?.(l) ?? false));
    const replaced = kept.length !== current.layers.length;
    const missing: LayerDescriptor[] = [];
    for (const [i, l] of wanted.entries()) {
      if (kept.some((e) => sameLayer(e, l))) continue;
      if (round === 1 && isDuplicate) {
        const candidates = kept.filter((e) => e.digest === l.digest && e.mediaType === l.mediaType);
        if ((await Promise.all(candidates.map((e) => isDuplicate(e, i)))).some(Boolean)) continue;
      }
      missing.push(l);
    }
    if (round === 1) wanted = missing; // duplicates are settled once, on the first read
    if (missing.length === 0 && !replaced) {
      return { added, ...(current.digest ? { digest: current.digest } : {}), rounds: round };
    }
    const layers: LayerDescriptor[] = [...kept, ...missing];
    if (layers.length > MAX_LAYERS) {
      throw new CosignError(
        "MANIFEST_INVALID",
        `Cannot add to ${referenceName(ref)}: it would have more than ${MAX_LAYERS} layers`,
      );
    }
    let written = "";
    try {
      if (!current.found && options.writeWhenMissing && missing.length === wanted.length) {
        await options.writeWhenMissing();
      } else {
        const img = buildImage({
          layers,
          manifestMediaType: options.dockerMediaTypes ? DOCKER_MANIFEST : OCI_MANIFEST,
          configMediaType: options.dockerMediaTypes ? DOCKER_CONFIG : OCI_CONFIG,
        });
        await store.uploadBlob(ref, img.config);
        const putStarted = performance.now();
        written = await store.putManifest(ref, img.manifest, img.manifestMediaType);
        latency.request(performance.now() - putStarted);
      }
    } catch (e) {
      // distribution can refuse a manifest while another writer stores the same config blob
      // (400 DIGEST_INVALID / MANIFEST_BLOB_UNKNOWN): another writer's interference, so re-read
      // and merge again.
      const racing = e instanceof CosignError && e.code === "REGISTRY_ERROR" &&
        /HTTP 400 (DIGEST_INVALID|MANIFEST_BLOB_UNKNOWN|BLOB_UNKNOWN)/.test(e.message);
      if (!racing || round === rounds) throw e;
      await sleep((options.settleMs ?? 150) * (0.5 + Math.random()));
      continue;
    }
    latency.span(performance.now() - started);
    added = wanted.length;
    // Re-read over the settle window: a writer elsewhere that read before this write can
    // overwrite it until its own read-to-write span is over.
    const seen = await settle(
      store,
      ref,
      (now) => wanted.every((l) => now.layers.some((e) => sameLayer(e, l))),
      { ...options, latency, sleep, quietSince: written },
    );
    if (seen.held) {
      const digest = seen.current.digest;
      return { added, ...(digest ? { digest } : {}), rounds: round };
    }
    if (!seen.current.found) {
      throw new CosignError(
        "WRITE_CONFLICT",
        `${referenceName(ref)} was deleted after this write (a concurrent cosign clean?): ` +
          `what was added is not there`,
      );
    }
  }
  throw new CosignError(
    "WRITE_CONFLICT",
    `Could not add to ${referenceName(ref)}: other writers kept replacing it (${rounds} attempts)`,
  );
}
