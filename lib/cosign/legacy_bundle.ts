/**
 * cosign's legacy bundle (`sign-blob --bundle`, Go's `LocalSignedPayload`, cosign-spec §5.2):
 * `{"base64Signature","cert","rekorBundle":{"SignedEntryTimestamp","Payload":{"body",
 * "integratedTime","logIndex","logID"}}}`, fields in Go's order.
 * @module
 */

import { toBase64, utf8 } from "../crypto/encoding.ts";
import type { RekorEntry } from "../tlog/rekor.ts";
import { goJsonString } from "./payload.ts";

/**
 * The bundle JSON for a signature, the signer's public key PEM (cosign v3 records it in `cert`
 * for key signing) and the log entry (omitted without an upload).
 */
export function legacyBundleJson(
  signature: Uint8Array,
  publicKeyPem: string | undefined,
  entry: RekorEntry | undefined,
): string {
  let out = `{"base64Signature":"${toBase64(signature)}"`;
  if (publicKeyPem) out += `,"cert":"${toBase64(utf8(publicKeyPem))}"`;
  if (entry) out += `,"rekorBundle":${rekorBundleJson(entry)}`;
  return out + "}";
}

/**
 * The "Rekor bundle" of a log entry, as cosign writes it into `--bundle` files and into the
 * `dev.sigstore.cosign/bundle` layer annotation (outer keys capitalised, Go's order).
 */
export function rekorBundleJson(entry: RekorEntry): string {
  return `{"SignedEntryTimestamp":${goJsonString(entry.signedEntryTimestamp ?? "")},` +
    `"Payload":{"body":${goJsonString(entry.body)},"integratedTime":${entry.integratedTime},` +
    `"logIndex":${entry.logIndex},"logID":${goJsonString(entry.logID)}}}`;
}
