/**
 * Blob signatures (cosign-spec §5): the blob's raw bytes are the message, hashed once while
 * streaming; the signature is DER for ECDSA and travels base64-encoded.
 * @module
 */

import { CosignError } from "../errors.ts";
import { fromBase64 } from "../crypto/encoding.ts";
import type { MessageData, Signer, Verifier } from "../crypto/signer.ts";

/**
 * Signs a blob.
 * @param signer the signer (from {@link loadSigner}, a KMS or a token)
 * @param data the blob, as bytes or a stream
 * @returns the raw signature bytes (base64-encode them for cosign's text output)
 * @example
 * ```ts
 * import { loadSigner, signBlob } from "./mod.ts";
 * const signer = await loadSigner("cosign.key", { password: async () => "hello" });
 * const file = await Deno.open("release.tar.gz");
 * const sig = await signBlob(signer, file.readable);
 * console.log(sig.toBase64());
 * ```
 */
export function signBlob(signer: Signer, data: MessageData): Promise<Uint8Array> {
  return signer.sign(data);
}

/**
 * Verifies a blob signature.
 * @throws {CosignError} `SIGNATURE_MISMATCH` when the signature does not verify,
 *   `SIGNATURE_INVALID_ENCODING` when it is malformed
 * @example
 * ```ts
 * import { decodeSignature, loadVerifier, verifyBlob } from "./mod.ts";
 * const verifier = await loadVerifier("cosign.pub");
 * const sig = decodeSignature(await Deno.readFile("release.tar.gz.sig"));
 * await verifyBlob(verifier, await Deno.readFile("release.tar.gz"), sig);
 * ```
 */
export async function verifyBlob(
  verifier: Verifier,
  data: MessageData,
  signature: Uint8Array,
): Promise<void> {
  if (!(await verifier.verify(data, signature))) {
    throw new CosignError(
      "SIGNATURE_MISMATCH",
      "Invalid signature: the signature does not match this blob and key",
    );
  }
}

/**
 * Decodes signature text as cosign does: base64 (surrounding whitespace ignored) when it is
 * valid base64, otherwise the bytes themselves (a raw signature).
 */
export function decodeSignature(content: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(content).trim();
  return fromBase64(text) ?? content;
}
