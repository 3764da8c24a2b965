/**
 * Verifying an image's attestations (cosign-spec §4, `verify-attestation`): each layer of the
 * `sha256-<hex>.att` image is a DSSE envelope, verified with a key or keylessly, with its
 * transparency-log entry; its statement must name the image digest as a subject and have the
 * wanted predicate type. The CLI's `verify-attestation` is a thin layer over
 * {@link verifyImageAttestations}.
 *
 * Every claim (subject digest, predicate type, predicate) is read from the envelope that is the
 * layer payload, the bytes whose signature was verified and that the log entry covers; the
 * layer's signature annotation is never read.
 * @module
 */

import { CosignError } from "../errors.ts";
import { toBase64 } from "../crypto/encoding.ts";
import type { Verifier } from "../crypto/signer.ts";
import { type Reference, referenceName, withDigest } from "../oci/reference.ts";
import type { ImageStore } from "../oci/store.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import {
  type AttachmentLayer,
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  listAttachments,
  loadLayers,
  type SkippedLayer,
} from "./attachments.ts";
import { type Envelope, parseEnvelope, verifyEnvelope } from "./dsse.ts";
import { type AttachmentOptions, getImage, requireLogDecision } from "./image_signatures.ts";
import { checkPredicateShape, hasSubjectDigest, parseStatement, type Statement } from "./intoto.ts";
import type { KeylessLayerOptions } from "./layer_bundle.ts";
import { attachmentRef } from "./tags.ts";
import { listImageBundles, type VerifiedImageBundle, verifyImageBundles } from "./image_bundles.ts";

/** Options for {@link verifyImageAttestations}. */
export interface VerifyImageAttestationsOptions extends AttachmentOptions {
  /** The predicate type (URI) the attestations must have. Absent: any type. */
  predicateType?: string;
  /** Require a subject naming the image digest (`--check-claims`). Default true. */
  checkClaims?: boolean;
  /**
   * With a key: verify each attestation's transparency-log entry offline against these logs.
   * Required with a key unless `ignoreTlog`.
   */
  trustedRoot?: TrustedRoot;
  /** With a key: accept attestations without a log entry. Must be said explicitly. */
  ignoreTlog?: boolean;
  /** Keyless verification (pass `undefined` as the verifier). */
  keyless?: KeylessLayerOptions;
  /** Largest layer accepted (`COSIGN_MAX_ATTACHMENT_SIZE`). */
  maxLayerBytes?: number;
}

/** An attestation that verified. */
export interface VerifiedAttestation {
  /**
   * The layer: of the `.att` image, or for a cosign v3 referrer the bundle layer (its payload
   * the envelope as printed).
   */
  layer: AttachmentLayer;
  /** For a cosign v3 attestation: the verified referrer bundle. */
  bundle?: VerifiedImageBundle;
  /** The envelope bytes exactly as stored (what `verify-attestation` prints). */
  envelope: Uint8Array;
  /** The statement read from the verified envelope. */
  statement: Statement;
}

/** The outcome of {@link verifyImageAttestations}. */
export interface VerifyImageAttestationsResult {
  /** The image digest the attestations were checked against. */
  digest: string;
  /** Where the attestations were read from. */
  attestationRef: Reference;
  /** The verified attestations of the wanted predicate type. */
  verified: VerifiedAttestation[];
  /** The predicate types of verified attestations of another type. */
  otherTypes: string[];
  /** Layers that did not verify, each with its reason. */
  skipped: SkippedLayer[];
  /** Each verified attestation's log entry was verified (false: the log was skipped). */
  tlogVerified: boolean;
}

/** Codes of failures that concern the log entry rather than the envelope. */
const TLOG_CODES = new Set([
  "BUNDLE_INVALID",
  "TLOG_BODY_MISMATCH",
  "TLOG_INVALID",
  "TLOG_MISSING",
  "TLOG_UNTRUSTED",
  "TRUSTED_ROOT_MISSING",
]);

/**
 * The artifact handed to `verifyBundle` for DSSE content with `checkClaims: false`: it is not
 * read (the subject is checked here, with cosign's messages).
 */
const NO_ARTIFACT = { bytes: new Uint8Array() } as const;

/**
 * Verifies one attestation layer: the envelope that is the layer payload, with a key or
 * keylessly, and with a trusted root its log entry (the `dev.sigstore.cosign/bundle` annotation,
 * cosign-spec §6.7: a dsse or intoto entry for these envelope bytes, payload, signature and key,
 * with a SET from a trusted log). Returns the verified envelope: the only source of the claims.
 * @throws {CosignError} why the layer does not verify
 * @example
 * ```ts
 * import {
 *   attachmentRef,
 *   loadVerifier,
 *   parseReference,
 *   parseStatement,
 *   readAttachments,
 *   RegistryClient,
 *   verifyAttestationLayer,
 * } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { layers } = await readAttachments(client, attachmentRef(image, digest, "att"));
 * const key = await loadVerifier("cosign.pub");
 * for (const layer of layers) {
 *   const envelope = await verifyAttestationLayer(layer, key, undefined); // no tlog check
 *   console.log(parseStatement(envelope.payload).predicateType);
 * }
 * ```
 */
export async function verifyAttestationLayer(
  layer: AttachmentLayer,
  verifier: Verifier | KeylessLayerOptions,
  trustedRoot: TrustedRoot | undefined,
): Promise<Envelope> {
  if (!("verify" in verifier)) {
    const { keylessLayerCheck, layerAsBundle } = await import("./layer_bundle.ts");
    if (!layer.annotations[CERTIFICATE_ANNOTATION]) {
      throw new CosignError("CERTIFICATE_MISSING", "no certificate on the attestation");
    }
    await keylessLayerCheck(verifier, "attestation")(layer);
    const content = layerAsBundle(layer, "attestation").content;
    if (content.type !== "dsseEnvelope") throw new Error("unreachable: not an envelope");
    return content.envelope;
  }
  const annotation = layer.annotations[BUNDLE_ANNOTATION];
  if (trustedRoot === undefined || !annotation) {
    const envelope = parseEnvelope(layer.payload);
    await verifyEnvelope(envelope, verifier);
    if (trustedRoot === undefined) return envelope;
    throw new CosignError(
      "TLOG_MISSING",
      "no transparency-log entry (no dev.sigstore.cosign/bundle annotation); " +
        "pass --insecure-ignore-tlog to accept attestations without one",
    );
  }
  let rekorBundle: unknown;
  try {
    rekorBundle = JSON.parse(annotation);
  } catch {
    await verifyEnvelope(parseEnvelope(layer.payload), verifier);
    throw new CosignError("TLOG_INVALID", "the transparency-log bundle annotation is not JSON");
  }
  const { parseBundle, verifyBundleWithKey } = await import("./bundle.ts");
  try {
    // A legacy bundle whose base64Signature is the envelope: checked as attest-blob's bundles.
    const bundle = parseBundle({ base64Signature: toBase64(layer.payload), rekorBundle }, {
      content: "dsseEnvelope",
    });
    await verifyBundleWithKey(bundle, NO_ARTIFACT, verifier, trustedRoot, { checkClaims: false });
    if (bundle.content.type !== "dsseEnvelope") throw new Error("unreachable: not an envelope");
    return bundle.content.envelope;
  } catch (e) {
    if (e instanceof CosignError && TLOG_CODES.has(e.code)) {
      throw new CosignError(e.code, `transparency log: ${e.message}`);
    }
    throw e;
  }
}

/** Checks one layer; returns the verified attestation or the reason it was rejected. */
async function checkAttestation(
  layer: AttachmentLayer,
  verifier: Verifier | KeylessLayerOptions,
  digest: string | undefined,
  trustedRoot: TrustedRoot | undefined,
): Promise<VerifiedAttestation | { reason: string }> {
  try {
    // Subject and predicate come from the envelope whose signature was verified.
    const env = await verifyAttestationLayer(layer, verifier, trustedRoot);
    const statement = parseStatement(env.payload);
    if (digest !== undefined && !hasSubjectDigest(statement, "sha256", digest.slice(7))) {
      return { reason: "no matching subject digest found" };
    }
    const shape = checkPredicateShape(statement.predicateType, statement.predicate);
    if (shape) return { reason: shape };
    return { layer, envelope: layer.payload, statement };
  } catch (e) {
    if (e instanceof CosignError) return { reason: e.message };
    throw e;
  }
}

/**
 * Verifies an image's attestations: each `.att` layer's envelope (with a key, or keylessly with
 * `options.keyless` and `verifier` undefined), its log entry, that a subject names the image
 * digest, and the predicate type. Safe by default: with a key, `trustedRoot` or an explicit
 * `ignoreTlog: true` is required; keylessly, the identity policy must name an identity and an
 * issuer. This is what `cosign verify-attestation` runs.
 * @example
 * ```ts
 * import {
 *   loadVerifier,
 *   parseReference,
 *   parseTrustedRoot,
 *   RegistryClient,
 *   verifyImageAttestations,
 * } from "../../mod.ts";
 * const r = await verifyImageAttestations(
 *   new RegistryClient(),
 *   parseReference("localhost:5000/app:v1"),
 *   await loadVerifier("cosign.pub"),
 *   {
 *     predicateType: "https://slsa.dev/provenance/v1",
 *     trustedRoot: parseTrustedRoot(await Deno.readFile("trusted_root.json")),
 *   },
 * );
 * for (const a of r.verified) console.log(a.statement.predicateType);
 * ```
 * @throws {CosignError} `TRUSTED_ROOT_MISSING`, `CERTIFICATE_POLICY_INCOMPLETE`,
 *   `IMAGE_NOT_FOUND`, `NO_SIGNATURES` (no attestations), `ATTESTATION_MISMATCH` (none verifies,
 *   or none of the wanted type)
 */
export async function verifyImageAttestations(
  store: ImageStore,
  ref: Reference,
  verifier: Verifier | undefined,
  options: VerifyImageAttestationsOptions = {},
): Promise<VerifyImageAttestationsResult> {
  requireLogDecision("verifyImageAttestations", verifier, options);
  let check: Verifier | KeylessLayerOptions;
  if (verifier !== undefined) check = verifier;
  else if (options.keyless !== undefined) {
    const { checkCertificatePolicy } = await import("./certificate_policy.ts");
    checkCertificatePolicy(options.keyless.policy);
    check = options.keyless;
  } else {
    throw new CosignError("USAGE", "verifyImageAttestations needs a verifier or keyless options");
  }
  const digest = ref.digest ?? (await getImage(store, ref)).digest;
  const attestationRef = attachmentRef(ref, digest, "att", {
    ...(options.cosignRepository ? { cosignRepository: options.cosignRepository } : {}),
    ...(options.tagPrefix ? { tagPrefix: options.tagPrefix } : {}),
  });
  // Layers are listed, then fetched as they are checked (a few ahead): memory stays bounded.
  // The referrers (cosign v3 bundles) are listed at the same time.
  const [read, referred] = await Promise.all([
    listAttachments(store, attestationRef, {
      ...(options.maxLayerBytes ? { maxLayerBytes: options.maxLayerBytes } : {}),
    }),
    listImageBundles(store, ref, digest, {
      ...(options.cosignRepository ? { cosignRepository: options.cosignRepository } : {}),
      ...(options.maxLayerBytes ? { maxLayerBytes: options.maxLayerBytes } : {}),
    }),
  ]);
  const name = referenceName(withDigest(ref, digest));
  if (
    read.layers.length === 0 && read.skipped.length === 0 && referred.bundles.length === 0 &&
    referred.skipped.length === 0
  ) {
    throw new CosignError("NO_SIGNATURES", `no matching attestations: none found for ${name}`);
  }
  const v3 = await verifyImageBundles(referred.bundles, digest, {
    ...(verifier !== undefined
      ? {
        signer: { key: verifier },
        ignoreTlog: options.ignoreTlog === true,
        ...(options.trustedRoot ? { trustedRoot: options.trustedRoot } : {}),
      }
      : {
        signer: { certificate: options.keyless!.policy },
        ignoreTlog: options.keyless!.ignoreTlog,
        trustedRoot: options.keyless!.trustedRoot,
      }),
  });
  const trustedRoot = verifier !== undefined && options.ignoreTlog !== true
    ? options.trustedRoot
    : undefined;
  const skipped: SkippedLayer[] = [...read.skipped, ...referred.skipped, ...v3.skipped];
  const all: VerifiedAttestation[] = v3.verified.map((b) => {
    const envelope = new TextEncoder().encode(b.envelopeJson);
    return {
      layer: {
        descriptor: {
          mediaType: b.referrer.mediaType,
          digest: b.bundle.layerDigest,
          size: b.bundle.bytes.length,
        },
        annotations: {},
        payload: envelope,
      },
      bundle: b,
      envelope,
      statement: b.statement,
    };
  });
  for await (const got of loadLayers(read.layers)) {
    const r = got.layer
      ? await checkAttestation(
        got.layer,
        check,
        options.checkClaims === false ? undefined : digest,
        trustedRoot,
      )
      : { reason: got.skipped.reason };
    if ("reason" in r) skipped.push({ digest: got.pending.descriptor.digest, reason: r.reason });
    else all.push(r);
  }
  if (all.length === 0) {
    throw new CosignError(
      "ATTESTATION_MISMATCH",
      `no matching attestations for ${name}: ${skipped.map((s) => s.reason).join("; ")}`,
    );
  }
  const wanted = options.predicateType;
  const verified = all.filter((a) => wanted === undefined || a.statement.predicateType === wanted);
  const otherTypes = all.filter((a) => !verified.includes(a)).map((a) => a.statement.predicateType);
  if (verified.length === 0) {
    throw new CosignError(
      "ATTESTATION_MISMATCH",
      `none of the attestations matched the predicate type: ${wanted}, found: ${
        [...new Set(otherTypes)].join(", ")
      }`,
    );
  }
  return {
    digest,
    attestationRef,
    verified,
    otherTypes,
    skipped,
    tlogVerified: verifier !== undefined
      ? options.ignoreTlog !== true
      : options.keyless?.ignoreTlog === false,
  };
}
