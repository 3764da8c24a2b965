/**
 * Signature layers as bundles (cosign-spec §3.3, §6.7): the transparency-log check of a
 * key-signed layer (its `dev.sigstore.cosign/bundle` annotation must hold a log entry for this
 * very signature, key and payload, with a signed entry timestamp from a log in the trusted
 * root), and the keyless check of a layer with a certificate. Offline.
 * @module
 */

import { CosignError } from "../errors.ts";
import type { Verifier } from "../crypto/signer.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { fromBase64, toBase64 } from "../crypto/encoding.ts";
import { parseCertificatePem } from "../x509/certificate.ts";
import {
  type AttachmentLayer,
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  RFC3161_ANNOTATION,
  SIGNATURE_ANNOTATION,
} from "./attachments.ts";
import {
  type Bundle,
  type BundleSigner,
  type BundleVerification,
  parseBundle,
  verifyBundle,
  verifyBundleWithKey,
} from "./bundle.ts";
import type { RekorClient } from "../tlog/rekor.ts";
import { createHash } from "node:crypto";
import type { CertificatePolicy } from "./bundle_certificate.ts";
import { checkCertificatePolicy } from "./certificate_policy.ts";
import type { LayerSignatureCheck } from "./verify_signatures.ts";

/** The message of a layer without a bundle annotation when the log cannot be searched. */
const NO_ENTRY = "no transparency-log entry (no dev.sigstore.cosign/bundle annotation); " +
  "pass --insecure-ignore-tlog to accept signatures without one";

/**
 * Looks up the entry of a layer without a bundle annotation in Rekor (cosign-spec §6.8): by the
 * SHA-256 of the payload, an entry holding this signature, verified offline.
 */
async function searchLayerEntry(
  layer: AttachmentLayer,
  rekor: RekorClient,
  trustedRoot: TrustedRoot,
  signer: BundleSigner,
  certificates?: readonly Uint8Array[],
): Promise<BundleVerification> {
  const signature = fromBase64(layer.annotations[SIGNATURE_ANNOTATION] ?? "");
  if (!signature || signature.length === 0) {
    throw new CosignError("TLOG_MISSING", "no signature to look up in the transparency log");
  }
  const { findAndVerifyEntry } = await import("./tlog_search.ts");
  const found = await findAndVerifyEntry(rekor, trustedRoot, {
    sha256Hex: createHash("sha256").update(layer.payload).digest("hex"),
    signature,
    signer,
    ...(certificates ? { certificates } : {}),
    artifact: { bytes: layer.payload },
  });
  return found.verification;
}

/**
 * Returns undefined when the layer's log entry checks out, else the reason it does not. Without
 * a bundle annotation, the entry is searched for in `rekor` when given.
 */
export async function checkLayerBundle(
  layer: AttachmentLayer,
  verifier: Verifier,
  trustedRoot: TrustedRoot,
  rekor?: RekorClient,
): Promise<string | undefined> {
  const annotation = layer.annotations[BUNDLE_ANNOTATION];
  if (!annotation) {
    if (!rekor) return NO_ENTRY;
    try {
      await searchLayerEntry(layer, rekor, trustedRoot, { key: verifier });
      return undefined;
    } catch (e) {
      if (e instanceof CosignError) return `transparency log: ${e.message}`;
      throw e;
    }
  }
  let rekorBundle: unknown;
  try {
    rekorBundle = JSON.parse(annotation);
  } catch {
    return "the transparency-log bundle annotation is not JSON";
  }
  try {
    // A `.sig` layer's signature annotation is a signature over the layer payload, never an
    // envelope, whatever its bytes look like.
    const bundle = parseBundle({
      base64Signature: layer.annotations[SIGNATURE_ANNOTATION] ?? "",
      rekorBundle,
    }, { content: "messageSignature" });
    await verifyBundleWithKey(bundle, { bytes: layer.payload }, verifier, trustedRoot);
    return undefined;
  } catch (e) {
    if (e instanceof CosignError) return `transparency log: ${e.message}`;
    throw e;
  }
}

/** What a layer holds: a `.sig` layer's signature, or a `.att` layer's DSSE envelope. */
export type LayerKind = "signature" | "attestation";

/**
 * A signature or attestation layer normalised into a bundle: its content, its certificate with
 * the intermediates of its chain annotation (self-signed roots are dropped: trust anchors come
 * from the trusted root only), its transparency-log entry and its RFC 3161 timestamp.
 *
 * The content is decided by `kind`, as Go cosign does, never by what the bytes look like:
 * - `signature` (`.sig`): the `dev.cosignproject.cosign/signature` annotation is a signature
 *   over the layer payload, which is what is verified and what the claims are read from;
 * - `attestation` (`.att`): the layer payload is the DSSE envelope, the only thing verified and
 *   read; the signature annotation (empty when cosign writes it) is not read.
 * @throws {CosignError} `BUNDLE_INVALID` naming the malformed annotation
 * @example
 * ```ts
 * import { attachmentRef, layerAsBundle, parseReference, readAttachments, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { layers } = await readAttachments(client, attachmentRef(image, digest, "sig"));
 * const bundles = layers.map((l) => layerAsBundle(l, "signature"));
 * ```
 */
export function layerAsBundle(layer: AttachmentLayer, kind: LayerKind = "signature"): Bundle {
  const a = layer.annotations;
  let rekorBundle: unknown;
  if (a[BUNDLE_ANNOTATION]) {
    try {
      rekorBundle = JSON.parse(a[BUNDLE_ANNOTATION]);
    } catch {
      throw new CosignError("BUNDLE_INVALID", "the transparency-log bundle annotation is not JSON");
    }
  }
  const signature = kind === "attestation"
    ? toBase64(layer.payload)
    : (a[SIGNATURE_ANNOTATION] ?? "");
  const base = parseBundle({
    base64Signature: signature,
    ...(a[CERTIFICATE_ANNOTATION] ? { cert: a[CERTIFICATE_ANNOTATION] } : {}),
    ...(rekorBundle === undefined ? {} : { rekorBundle }),
  }, { content: kind === "attestation" ? "dsseEnvelope" : "messageSignature" });
  let material = base.verificationMaterial;
  if (material.type === "certificate" && a[CHAIN_ANNOTATION]) {
    const chain = parseCertificatePem(a[CHAIN_ANNOTATION], "the certificate chain annotation")
      .filter((c) => !c.selfSigned)
      .map((c) => c.der);
    material = { ...material, certificates: [...material.certificates, ...chain] };
  }
  const timestamps: Uint8Array[] = [];
  if (a[RFC3161_ANNOTATION]) {
    let ts: unknown;
    try {
      ts = JSON.parse(a[RFC3161_ANNOTATION]);
    } catch {
      // reported below
    }
    const b64 = (ts as { SignedRFC3161Timestamp?: unknown } | undefined)?.SignedRFC3161Timestamp;
    const bytes = typeof b64 === "string" ? fromBase64(b64) : undefined;
    if (!bytes) {
      throw new CosignError(
        "BUNDLE_INVALID",
        'the RFC 3161 timestamp annotation is not {"SignedRFC3161Timestamp": base64}',
      );
    }
    timestamps.push(bytes);
  }
  return {
    ...base,
    verificationMaterial: material,
    rfc3161Timestamps: timestamps,
    // cosign's `.att` layers timestamp the envelope, its `.sig` layers the signature.
    ...(kind === "attestation" && timestamps.length > 0
      ? { timestampedContent: layer.payload }
      : {}),
  };
}

/** How keyless image signatures are verified. */
export interface KeylessLayerOptions {
  /** The certificate identity policy. */
  readonly policy: CertificatePolicy;
  /** Fulcio CAs, CT logs, Rekor keys and TSAs. */
  readonly trustedRoot: TrustedRoot;
  /** Skip the transparency log (the certificate is then checked at a timestamp or now). */
  readonly ignoreTlog: boolean;
  /** Where to search for the entry of a signature without a bundle annotation. */
  readonly rekor?: RekorClient;
}

/**
 * The keyless check of a signature or attestation layer: the layer, normalised by
 * {@link layerAsBundle} for its `kind`, is verified like any bundle: signature with the
 * certificate's key, log entry, timestamps, then the certificate's chain, SCT and identity at
 * the verified signing times. The caller reads the claims from the verified bytes: a `.sig`
 * layer's payload, or the statement of a `.att` layer's envelope (the layer payload).
 */
export function keylessLayerCheck(
  options: KeylessLayerOptions,
  kind: LayerKind = "signature",
): LayerSignatureCheck {
  checkCertificatePolicy(options.policy);
  return async (layer) => {
    const bundle = layerAsBundle(layer, kind);
    if (bundle.verificationMaterial.type !== "certificate") {
      throw new CosignError("CERTIFICATE_MISSING", "no certificate on the signature");
    }
    const signer = { certificate: options.policy };
    if (
      !options.ignoreTlog && options.rekor && bundle.tlogEntries.length === 0 &&
      bundle.content.type === "messageSignature"
    ) {
      const r = await searchLayerEntry(
        layer,
        options.rekor,
        options.trustedRoot,
        signer,
        bundle.verificationMaterial.certificates,
      );
      return r.certificate!;
    }
    // A signature is over the layer; an envelope's subjects are checked by the caller.
    const r = await verifyBundle(
      bundle,
      { bytes: layer.payload },
      options.trustedRoot,
      signer,
      { ignoreTlog: options.ignoreTlog, checkClaims: false },
    );
    return r.certificate!;
  };
}
