/**
 * Image signatures and attestations stored the cosign v3 way (cosign-spec §3.7): a Sigstore
 * bundle v0.3 holding a DSSE envelope over an in-toto statement whose subject is the image
 * digest, stored as an OCI 1.1 referrer of the image.
 *
 * Reading: the referrers are listed ({@link listReferrers}); each Sigstore one is fetched (its
 * manifest must name the image as subject and hold exactly one bundle layer), parsed strictly
 * and verified like any bundle, with the image digest as the artifact. Every claim shown (the
 * digest, the predicate type, the annotations) is read from the statement inside the verified
 * envelope; the manifest's annotations only decide what is fetched. Referrers that cannot be used
 * are reported with their reason, never accepted and never thrown.
 * @module
 */

import { CosignError } from "../errors.ts";
import type { Signer } from "../crypto/signer.ts";
import { toBase64 } from "../crypto/encoding.ts";
import { IMAGE_MANIFESTS } from "../oci/media_types.ts";
import type { Repository } from "../oci/reference.ts";
import type { Descriptor, Manifest } from "../oci/registry.ts";
import type { ImageStore } from "../oci/store.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import type { BundleLogEntry } from "./bundle_writer.ts";
import { LIMITS } from "../oci/body.ts";
import { readLayer, type SkippedLayer } from "./attachments.ts";
import type { Bundle } from "./bundle.ts";
import type { BundleSigner, BundleVerification } from "./verify_bundle.ts";
import { signEnvelope } from "./dsse.ts";
import { goJsonString } from "./payload.ts";
import type { Statement } from "./intoto.ts";
import { getMember, goMarshal } from "./verify_signatures.ts";
import { attachmentRepository } from "./tags.ts";
import {
  BUNDLE_ARTIFACT_TYPE,
  BUNDLE_CONTENT_ANNOTATION,
  BUNDLE_MEDIA_TYPE_PREFIX,
  BUNDLE_PREDICATE_TYPE_ANNOTATION,
  CREATED_ANNOTATION,
  listReferrers,
  MAX_REFERRERS,
  type PushedReferrer,
  pushReferrer,
  type Referrer,
  type ReferrersSource,
  type ReferrerWriteOptions,
} from "./referrers.ts";

/** The predicate type of cosign v3 image signatures. */
export const COSIGN_SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1";
/** The in-toto Statement v1 type. */
export const STATEMENT_V1 = "https://in-toto.io/Statement/v1";

/**
 * The statement cosign v3 signs for an image: in-toto Statement v1, one subject (the digest, and
 * the `-a` pairs as its annotations, no name), predicate type
 * {@link COSIGN_SIGN_PREDICATE_TYPE}, an empty predicate.
 * @example
 * ```ts
 * import { imageSignatureStatement, parseStatement } from "@cosign-deno/cosign";
 * const bytes = imageSignatureStatement("sha256:" + "ab".repeat(32), { env: "prod" });
 * parseStatement(bytes).predicateType; // "https://sigstore.dev/cosign/sign/v1"
 * ```
 */
export function imageSignatureStatement(
  digest: string,
  annotations: Record<string, string> = {},
): Uint8Array {
  const [alg, hex] = digest.split(":") as [string, string];
  const ann = "{" +
    Object.keys(annotations).sort().map((k) =>
      `${goJsonString(k)}:${goJsonString(annotations[k]!)}`
    )
      .join(",") +
    "}";
  return new TextEncoder().encode(
    `{"_type":"${STATEMENT_V1}","subject":[{"digest":{${goJsonString(alg)}:${
      goJsonString(hex)
    }},"annotations":${ann}}],"predicateType":"${COSIGN_SIGN_PREDICATE_TYPE}","predicate":{}}`,
  );
}

/** Where a bundle goes, and how the referrer is written. */
export interface StoreBundleOptions extends ReferrerWriteOptions {
  /** `COSIGN_REPOSITORY`: another repository for the referrers. */
  cosignRepository?: string;
}

/**
 * Stores a v0.3 bundle as a referrer of the image `subject` (cosign's
 * `WriteAttestationNewBundleFormat`): the bundle blob, the empty config, the manifest with
 * the bundle content and predicate type annotations, and, on a registry without the referrers
 * API, the `sha256-<hex>` fallback index entry.
 * @example
 * ```ts
 * import { parseReference, RegistryClient, storeImageBundle } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const m = await client.getManifest(image);
 * const bundle = await Deno.readTextFile("provenance.sigstore.json"); // a v0.3 DSSE bundle
 * await storeImageBundle(
 *   client,
 *   image,
 *   { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length },
 *   bundle,
 *   "https://slsa.dev/provenance/v1",
 * );
 * ```
 */
export function storeImageBundle(
  store: ImageStore,
  image: Repository,
  subject: Descriptor,
  bundleJson: string | Uint8Array,
  predicateType: string,
  options: StoreBundleOptions = {},
): Promise<PushedReferrer> {
  const repo = attachmentRepository(image, options.cosignRepository);
  const bytes = typeof bundleJson === "string" ? new TextEncoder().encode(bundleJson) : bundleJson;
  return pushReferrer(
    store,
    repo,
    {
      subject,
      artifactType: BUNDLE_ARTIFACT_TYPE,
      layerMediaType: BUNDLE_ARTIFACT_TYPE,
      annotations: {
        [CREATED_ANNOTATION]: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        [BUNDLE_CONTENT_ANNOTATION]: "dsse-envelope",
        [BUNDLE_PREDICATE_TYPE_ANNOTATION]: predicateType,
      },
    },
    bytes,
    options,
  );
}

/** The key material a bundle written by {@link signImageBundle} names. */
export type BundleMaterial =
  | { readonly type: "publicKey"; readonly publicKeyPem: string }
  | { readonly type: "certificate"; readonly der: Uint8Array };

/** Options for {@link signImageBundle}. */
export interface SignImageBundleOptions extends StoreBundleOptions {
  /** The statement to sign (default: {@link imageSignatureStatement} of the digest). */
  statement?: Uint8Array;
  /** The statement's predicate type (default {@link COSIGN_SIGN_PREDICATE_TYPE}). */
  predicateType?: string;
  /** `-a` pairs for the default statement's subject. */
  annotations?: Record<string, string>;
  /** What the bundle names: the key's hint or the certificate. */
  material: BundleMaterial;
  /**
   * Records the envelope in a transparency log; resolves to the entry with its inclusion proof
   * (which the bundle then carries).
   */
  tlog?: (envelope: Uint8Array) => Promise<BundleLogEntry | readonly BundleLogEntry[]>;
  /** RFC 3161 timestamps over the signature, DER responses. */
  timestamps?: (signature: Uint8Array) => Promise<Uint8Array[]>;
  /** Push the referrer (default true). */
  upload?: boolean;
}

/** What {@link signImageBundle} produced. */
export interface SignedImageBundle {
  /** The signed image digest. */
  digest: string;
  /** The bundle JSON. */
  bundle: string;
  /** The envelope bytes. */
  envelope: Uint8Array;
  /** Where the referrer went (absent with `upload: false`). */
  pushed?: PushedReferrer;
}

/**
 * Signs `subject` (an image manifest's descriptor) the cosign v3 way: a DSSE envelope over the
 * statement, logged when `tlog` is given, in a v0.3 bundle stored as a referrer.
 * @example
 * ```ts
 * import { loadSigner, parseReference, RegistryClient, signImageBundle } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const m = await client.getManifest(image);
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const signed = await signImageBundle(
 *   client,
 *   image,
 *   { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length },
 *   signer,
 *   { material: { type: "publicKey", publicKeyPem: await signer.publicKeyPem() } },
 * );
 * console.log(signed.pushed?.digest);
 * ```
 */
export async function signImageBundle(
  store: ImageStore,
  image: Repository,
  subject: Descriptor,
  signer: Signer,
  options: SignImageBundleOptions,
): Promise<SignedImageBundle> {
  const statement = options.statement ??
    imageSignatureStatement(subject.digest, options.annotations);
  const envelope = await signEnvelope(signer, statement);
  const logged = options.tlog ? await options.tlog(envelope) : [];
  const entries: readonly BundleLogEntry[] = Array.isArray(logged)
    ? logged
    : [logged as BundleLogEntry];
  let rfc3161Timestamps: Uint8Array[] = [];
  if (options.timestamps) {
    const { parseEnvelope } = await import("./dsse.ts");
    rfc3161Timestamps = await options.timestamps(parseEnvelope(envelope).signatures[0]!.sig);
  }
  const { bundleV03Json } = await import("./bundle_writer.ts");
  const bundle = bundleV03Json({
    content: { type: "dsseEnvelope", envelope },
    verificationMaterial: options.material,
    tlogEntries: entries,
    rfc3161Timestamps,
  });
  const out: SignedImageBundle = { digest: subject.digest, bundle, envelope };
  if (options.upload !== false) {
    out.pushed = await storeImageBundle(
      store,
      image,
      subject,
      bundle,
      options.predicateType ?? COSIGN_SIGN_PREDICATE_TYPE,
      options,
    );
  }
  return out;
}

/** The descriptor of a manifest as read (the subject of a referrer). */
export function manifestDescriptor(m: Manifest): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
}

/** One Sigstore referrer of an image, its bundle not yet fetched. */
export interface PendingBundle {
  /** The referrer's index entry. */
  referrer: Referrer;
  /**
   * Fetches the referrer manifest and its bundle and parses the bundle; throws a `CosignError`
   * saying why the referrer cannot be used.
   */
  load(): Promise<ImageBundle>;
}

/** A referrer's bundle, fetched and parsed (not yet verified). */
export interface ImageBundle {
  /** The referrer's index entry. */
  referrer: Referrer;
  /** The bundle layer's digest. */
  layerDigest: string;
  /** The bundle bytes as stored. */
  bytes: Uint8Array;
  /** The parsed bundle. */
  bundle: Bundle;
}

/** The Sigstore referrers of an image. */
export interface ImageBundleListing {
  /** Where the referrers were found. */
  source: ReferrersSource;
  /** Why the fallback tag was used, when it was. */
  fallbackReason?: string;
  /** Referrers that may hold a Sigstore bundle. */
  bundles: PendingBundle[];
  /** Referrers and listings that cannot be used, with their reasons. */
  skipped: SkippedLayer[];
  /** Every referrer listed (Sigstore or not). */
  referrers: Referrer[];
}

/** Options for {@link listImageBundles}. */
export interface ListImageBundlesOptions {
  /** `COSIGN_REPOSITORY`. */
  cosignRepository?: string;
  /** Largest bundle fetched, bytes (`COSIGN_MAX_ATTACHMENT_SIZE`). */
  maxLayerBytes?: number;
}

function skip(digest: string, reason: string): never {
  throw new CosignError("REFERRER_INVALID", reason, { cause: { digest } });
}

/**
 * Lists the Sigstore referrers of the image `digest` (in its repository, or
 * `COSIGN_REPOSITORY`): entries whose artifact type is another kind of artifact are left out;
 * those without one are fetched and judged by their layer.
 * @example
 * ```ts
 * import { listImageBundles, parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const listing = await listImageBundles(client, image, digest);
 * console.log(listing.source, listing.bundles.length, listing.skipped);
 * ```
 */
export async function listImageBundles(
  store: ImageStore,
  image: Repository,
  digest: string,
  options: ListImageBundlesOptions = {},
): Promise<ImageBundleListing> {
  const repo = attachmentRepository(image, options.cosignRepository);
  const listing = await listReferrers(store, repo, digest);
  const skipped = [...listing.skipped];
  if (listing.fallbackReason) {
    // Not an error: a registry without the API; the fallback tag was read instead.
  }
  const candidates = listing.referrers.filter((r) =>
    r.artifactType === undefined || r.artifactType === "" ||
    r.artifactType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)
  );
  const maxLayer = options.maxLayerBytes ?? LIMITS.attachmentLayer;
  const bundles: PendingBundle[] = [];
  for (const [i, referrer] of candidates.entries()) {
    if (i >= MAX_REFERRERS) {
      skipped.push({
        digest: referrer.digest,
        reason: `more than ${MAX_REFERRERS} Sigstore referrers; the rest are not read`,
      });
      continue;
    }
    bundles.push({
      referrer,
      load: () => loadBundle(store, repo, digest, referrer, maxLayer),
    });
  }
  return {
    source: listing.source,
    ...(listing.fallbackReason ? { fallbackReason: listing.fallbackReason } : {}),
    bundles,
    skipped,
    referrers: listing.referrers,
  };
}

async function loadBundle(
  store: ImageStore,
  repo: Repository,
  subject: string,
  referrer: Referrer,
  maxLayer: number,
): Promise<ImageBundle> {
  const d = referrer.digest;
  let m: Manifest;
  try {
    m = await store.getManifest({ ...repo, digest: d });
  } catch (e) {
    if (
      e instanceof CosignError &&
      ["MANIFEST_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_TOO_LARGE", "DIGEST_MISMATCH"].includes(
        e.code,
      )
    ) skip(d, `referrer ${d}: ${e.message}`);
    throw e;
  }
  if (!IMAGE_MANIFESTS.includes(m.mediaType)) skip(d, `referrer ${d} is not an image manifest`);
  const subjectDigest = (m.json.subject as { digest?: unknown } | undefined)?.digest;
  if (subjectDigest !== subject) {
    skip(d, `referrer ${d} refers to ${String(subjectDigest ?? "nothing")}, not ${subject}`);
  }
  const layers = Array.isArray(m.json.layers) ? m.json.layers as Record<string, unknown>[] : [];
  if (layers.length !== 1) {
    skip(
      d,
      `referrer ${d} has ${layers.length} layers; a Sigstore bundle referrer has exactly one`,
    );
  }
  const layer = layers[0]!;
  const mediaType = typeof layer.mediaType === "string" ? layer.mediaType : "";
  if (!mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)) {
    skip(
      d,
      `referrer ${d}: its layer is ${
        JSON.stringify(mediaType.slice(0, 80))
      }, not a Sigstore bundle`,
    );
  }
  const size = typeof layer.size === "number" && Number.isSafeInteger(layer.size) ? layer.size : -1;
  const layerDigest = typeof layer.digest === "string" ? layer.digest : "";
  if (size < 0) skip(d, `referrer ${d}: its bundle layer has no size`);
  if (size > maxLayer) {
    skip(d, `referrer ${d}: its bundle is ${size} bytes, over the ${maxLayer}-byte limit`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readLayer(store, repo, layerDigest, size);
  } catch (e) {
    if (
      e instanceof CosignError &&
      ["BLOB_UNKNOWN", "DIGEST_MISMATCH", "BLOB_TOO_LARGE"].includes(e.code)
    ) skip(d, `referrer ${d}: ${e.message}`);
    throw e;
  }
  // The bundle parser (and the verification stack it re-exports) loads on first use only, so
  // that commands which never meet a bundle (`sget --help`) do not pay for it at start-up.
  const { parseBundle } = await import("./bundle.ts");
  let bundle: Bundle;
  try {
    bundle = parseBundle(bytes, { content: "dsseEnvelope" });
  } catch (e) {
    if (e instanceof CosignError) skip(d, `referrer ${d}: ${e.message}`);
    throw e;
  }
  if (bundle.format !== "v0.3") {
    skip(d, `referrer ${d}: a ${bundle.format} bundle; cosign v3 referrers need v0.3 or later`);
  }
  return { referrer, layerDigest, bytes, bundle };
}

/** How {@link verifyImageBundles} checks each bundle. */
export interface ImageBundleCheck {
  /** The key, or the keyless certificate policy. */
  signer: BundleSigner;
  /** Trust material (logs; CAs for keyless). */
  trustedRoot?: TrustedRoot;
  /** Skip the transparency log. */
  ignoreTlog: boolean;
  /** `-a` pairs the matching subject's annotations must hold. */
  annotations?: Record<string, string>;
  /** Bundles fetched and verified at once. Default 10. */
  concurrency?: number;
}

/** A bundle that verified. */
export interface VerifiedImageBundle {
  /** The referrer. */
  referrer: Referrer;
  /** The bundle as fetched. */
  bundle: ImageBundle;
  /** The statement inside the verified envelope. */
  statement: Statement;
  /** The subject naming the image: its annotations (from the verified statement). */
  subjectAnnotations: Record<string, unknown>;
  /** The envelope as cosign v3 prints it (`{"payload","payloadType","signatures"}`). */
  envelopeJson: string;
  /** What verifying the bundle found. */
  verification: BundleVerification;
}

/** The subject of `st` whose sha256 is `hex`, and its annotations. */
function matchingSubjectAnnotations(st: Statement, hex: string): Record<string, unknown> {
  const subjects = getMember(st.json, "subject");
  for (const s of Array.isArray(subjects) ? subjects : []) {
    const digest = getMember(s, "digest");
    const v = getMember(digest, "sha256");
    if (typeof v === "string" && v.toLowerCase() === hex) {
      const a = getMember(s, "annotations");
      return typeof a === "object" && a !== null && !Array.isArray(a)
        ? a as Record<string, unknown>
        : {};
    }
  }
  return {};
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

/**
 * Verifies the image's Sigstore bundles, several at once: each must verify with the key (or the
 * certificate policy) and, unless `ignoreTlog`, carry a log entry that verifies against the
 * trusted root; its statement must have a subject with the image digest, whose annotations
 * hold the `-a` pairs. Returns those that verified and, for the rest, why not.
 * @example
 * ```ts
 * import {
 *   listImageBundles,
 *   parseReference,
 *   parseTrustedRoot,
 *   RegistryClient,
 *   verifyImageBundles,
 * } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("ghcr.io/org/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { bundles } = await listImageBundles(client, image, digest);
 * const { verified, skipped } = await verifyImageBundles(bundles, digest, {
 *   signer: {
 *     certificate: {
 *       identity: {
 *         identity: "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1",
 *         issuer: "https://token.actions.githubusercontent.com",
 *       },
 *     },
 *   },
 *   trustedRoot: parseTrustedRoot(await Deno.readFile("trusted_root.json")),
 *   ignoreTlog: false,
 * });
 * if (verified.length === 0) throw new Error(skipped.map((s) => s.reason).join("; "));
 * ```
 */
export async function verifyImageBundles(
  bundles: PendingBundle[],
  digest: string,
  check: ImageBundleCheck,
): Promise<{ verified: VerifiedImageBundle[]; skipped: SkippedLayer[] }> {
  const { verifyBundle } = await import("./verify_bundle.ts");
  const hex = digest.slice("sha256:".length);
  const results = await mapLimit(bundles, check.concurrency ?? 10, async (p) => {
    try {
      const got = await p.load();
      const verification = await verifyBundle(
        got.bundle,
        { digest: { alg: "sha256", hex } },
        check.trustedRoot,
        check.signer,
        { ignoreTlog: check.ignoreTlog },
      );
      const statement = verification.statement!;
      const subjectAnnotations = matchingSubjectAnnotations(statement, hex);
      for (const [k, want] of Object.entries(check.annotations ?? {})) {
        const have = subjectAnnotations[k];
        if (have !== want) {
          throw new CosignError(
            "CLAIMS_MISMATCH",
            `annotation ${k}: expected ${JSON.stringify(want)}, found ${
              have === undefined ? "none" : JSON.stringify(have)
            }`,
          );
        }
      }
      if (got.bundle.content.type !== "dsseEnvelope") {
        throw new CosignError("DSSE_INVALID", "the bundle holds no DSSE envelope");
      }
      const env = got.bundle.content.envelope;
      const sigs = env.signatures.map((s) =>
        `{"sig":"${toBase64(s.sig)}"${s.keyid ? `,"keyid":${goJsonString(s.keyid)}` : ""}}`
      );
      const envelopeJson = `{"payload":"${toBase64(env.payload)}","payloadType":${
        goJsonString(env.payloadType)
      },"signatures":[${sigs.join(",")}]}`;
      return {
        verified: {
          referrer: p.referrer,
          bundle: got,
          statement,
          subjectAnnotations,
          envelopeJson,
          verification,
        },
      };
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      return {
        skipped: {
          digest: p.referrer.digest,
          reason: e.code === "REFERRER_INVALID"
            ? e.message
            : `referrer ${p.referrer.digest}: ${e.message}`,
        },
      };
    }
  });
  const verified: VerifiedImageBundle[] = [];
  const skipped: SkippedLayer[] = [];
  for (const r of results) {
    if ("verified" in r) verified.push(r.verified!);
    else skipped.push(r.skipped!);
  }
  return { verified, skipped };
}

/**
 * A verified v3 signature as `cosign verify -o json` prints it: the statement re-shaped into the
 * simple-signing structure (`critical.type` = the predicate type, `optional` = the matching
 * subject's annotations), all read from the verified statement.
 * @example
 * ```ts
 * import {
 *   bundleOutputPayload,
 *   listImageBundles,
 *   loadVerifier,
 *   parseReference,
 *   RegistryClient,
 *   repositoryName,
 *   verifyImageBundles,
 * } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { bundles } = await listImageBundles(client, image, digest);
 * const key = await loadVerifier("cosign.pub");
 * const { verified } = await verifyImageBundles(bundles, digest, {
 *   signer: { key },
 *   ignoreTlog: true,
 * });
 * for (const v of verified) console.log(bundleOutputPayload(v, repositoryName(image), digest));
 * ```
 */
export function bundleOutputPayload(v: VerifiedImageBundle, name: string, digest: string): string {
  return `{"critical":{"identity":{"docker-reference":${goJsonString(name)}},` +
    `"image":{"docker-manifest-digest":${goJsonString(digest)}},` +
    `"type":${goJsonString(v.statement.predicateType)}},"optional":${
      goMarshal(v.subjectAnnotations)
    }}`;
}
