/**
 * The transparency-log check of one signature layer (cosign-spec §6.7): its
 * `dev.sigstore.cosign/bundle` annotation must hold a log entry for this very signature, key and
 * payload, with a signed entry timestamp from a log in the trusted root. Offline.
 * @module
 */

import { CosignError } from "../errors.ts";
import type { Verifier } from "../crypto/signer.ts";
import type { TrustedRoot } from "../tlog/trusted_root.ts";
import { type AttachmentLayer, BUNDLE_ANNOTATION, SIGNATURE_ANNOTATION } from "./attachments.ts";
import { parseBundle, verifyBundleWithKey } from "./bundle.ts";

/** Returns undefined when the layer's log entry checks out, else the reason it does not. */
export async function checkLayerBundle(
  layer: AttachmentLayer,
  verifier: Verifier,
  trustedRoot: TrustedRoot,
): Promise<string | undefined> {
  const annotation = layer.annotations[BUNDLE_ANNOTATION];
  if (!annotation) {
    return "no transparency-log entry (no dev.sigstore.cosign/bundle annotation); " +
      "pass --insecure-ignore-tlog to accept signatures without one";
  }
  let rekorBundle: unknown;
  try {
    rekorBundle = JSON.parse(annotation);
  } catch {
    return "the transparency-log bundle annotation is not JSON";
  }
  try {
    const bundle = parseBundle({
      base64Signature: layer.annotations[SIGNATURE_ANNOTATION] ?? "",
      rekorBundle,
    });
    await verifyBundleWithKey(bundle, { bytes: layer.payload }, verifier, trustedRoot);
    return undefined;
  } catch (e) {
    if (e instanceof CosignError) return `transparency log: ${e.message}`;
    throw e;
  }
}
