/**
 * Blob signatures (cosign-spec §5): the blob's raw bytes are the message, hashed once while
 * streaming; the signature is DER for ECDSA and travels base64-encoded.
 * @module
 */

import { CosignError } from "../errors.ts";
import { fromBase64 } from "../crypto/encoding.ts";
import type { MessageData, Signer, Verifier } from "../crypto/signer.ts";
import type { KeyVerifier } from "../crypto/key_signer.ts";

/**
 * Signs a blob.
 * @param signer the signer (from {@link loadSigner}, a KMS or a token)
 * @param data the blob, as bytes or a stream
 * @returns the raw signature bytes (base64-encode them for cosign's text output)
 * @example
 * ```ts
 * import { loadSigner, signBlob } from "../../mod.ts";
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
 * import { decodeSignature, loadVerifier, verifyBlob } from "../../mod.ts";
 * const verifier = await loadVerifier("cosign.pub");
 * const sig = decodeSignature(await Deno.readFile("release.tar.gz.sig"));
 * await verifyBlob(verifier, await Deno.readFile("release.tar.gz"), sig); // bytes
 * await verifyBlob(verifier, (await Deno.open("release.tar.gz")).readable, sig); // a stream
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
 * Verifies a blob signature from the blob's digests, computed in one pass that also served
 * the transparency log (see `digestPass`).
 * @param digests the blob's digest for each hash the verifier accepts
 * @throws {CosignError} `SIGNATURE_MISMATCH` when the signature does not verify,
 *   `SIGNATURE_INVALID_ENCODING` when it is malformed, `NOT_IMPLEMENTED` for keys that sign
 *   whole messages (Ed25519) or RSASSA-PSS
 */
export async function verifyBlobDigest(
  verifier: KeyVerifier,
  digests: ReadonlyMap<string, Uint8Array>,
  signature: Uint8Array,
): Promise<void> {
  if (!(await verifier.verifyDigest(digests, signature))) {
    throw new CosignError(
      "SIGNATURE_MISMATCH",
      "Invalid signature: the signature does not match this blob and key",
    );
  }
}

/**
 * Reads a file (or any reader) as chunks of two reused buffers, 4 MiB each by default: the
 * next chunk is read while the consumer works on the current one (a hash, a write), so reading
 * and hashing overlap, and no chunk is allocated per read (`file.readable` allocates a new
 * 64 KiB buffer for every chunk). Each chunk is valid only until the next one is requested.
 * Closes the file at the end.
 * @example
 * ```ts
 * import { fileChunks, loadSigner, signBlob } from "../../mod.ts";
 * const signer = await loadSigner("cosign.key", { password: async () => "hello" });
 * const sig = await signBlob(signer, fileChunks(await Deno.open("big.iso")));
 * ```
 */
export async function* fileChunks(
  file: { read(p: Uint8Array): Promise<number | null>; close?(): void },
  bufferSize: number = 4 << 20,
): AsyncGenerator<Uint8Array> {
  let current = new Uint8Array(bufferSize);
  let spare = new Uint8Array(bufferSize);
  let pending: Promise<number | null> | undefined = file.read(current);
  try {
    for (;;) {
      const n = await pending;
      pending = undefined;
      if (n === null) return;
      const filled = current;
      current = spare;
      spare = filled;
      // The consumer was done with `current` when it asked for this chunk: read into it now.
      pending = file.read(current);
      yield filled.subarray(0, n);
    }
  } finally {
    await pending?.catch(() => null); // never close under a read in flight
    file.close?.();
  }
}

/**
 * Decodes signature text as cosign does: base64 (surrounding whitespace ignored) when it is
 * valid base64, otherwise the bytes themselves (a raw signature).
 * @example
 * ```ts
 * import { decodeSignature } from "@cosign-deno/cosign";
 * decodeSignature(new TextEncoder().encode("AQID\n")); // Uint8Array [1, 2, 3] (base64 text)
 * decodeSignature(new Uint8Array([0x30, 0x45])); // not base64: the bytes as given
 * ```
 */
export function decodeSignature(content: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(content).trim();
  return fromBase64(text) ?? content;
}
