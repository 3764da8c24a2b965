/**
 * The signing and verification seams. A key file, a KMS key and a hardware token all
 * implement {@link Signer}; this module depends on nothing.
 * @module
 */

/**
 * Message bytes: in memory, or streamed (a `ReadableStream` is an `AsyncIterable`). A producer
 * may reuse one buffer for successive chunks, so a consumer copies any chunk it keeps.
 */
export type MessageData = Uint8Array | AsyncIterable<Uint8Array>;

/** Signs messages. Implementations hash the message themselves, streaming where they can. */
export interface Signer {
  /** Signs `data`; returns the signature in cosign's encoding (DER for ECDSA). */
  sign(data: MessageData): Promise<Uint8Array>;
  /** The PKIX PEM of the public key that verifies this signer's signatures. */
  publicKeyPem(): Promise<string>;
}

/** Verifies signatures over messages. */
export interface Verifier {
  /**
   * Returns true when `signature` is a valid signature over `data`, false when it is not.
   * Throws a `CosignError` (`SIGNATURE_INVALID_ENCODING`) when the signature is malformed.
   */
  verify(data: MessageData, signature: Uint8Array): Promise<boolean>;
  /** The PKIX PEM of the public key. */
  publicKeyPem(): Promise<string>;
}
