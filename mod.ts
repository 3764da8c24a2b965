/**
 * cosign for Deno: sign and verify blobs with cosign-compatible keys and signatures.
 *
 * Import by URL from a `deno run` script; nothing runs at import time and nothing is printed.
 *
 * @example
 * ```ts
 * import { generateKeyPair, loadSigner, loadVerifier, signBlob, verifyBlob } from "./mod.ts";
 *
 * const { privateKeyPem, publicKeyPem } = await generateKeyPair("pw");
 * await Deno.writeTextFile("k.key", privateKeyPem, { mode: 0o600 });
 * await Deno.writeTextFile("k.pub", publicKeyPem);
 * const signer = await loadSigner("k.key", { password: async () => "pw" });
 * const sig = await signBlob(signer, new TextEncoder().encode("hello"));
 * await verifyBlob(await loadVerifier("k.pub"), new TextEncoder().encode("hello"), sig);
 * ```
 * @module
 */

export { CosignError, EXIT_FAILURE, EXIT_INTERNAL, EXIT_USAGE, UsageError } from "./lib/errors.ts";
export type { ErrorCode } from "./lib/errors.ts";
export {
  ALLOWED_SCRYPT_N,
  COSIGN_PRIVATE_KEY_PEM,
  decryptPrivateKey,
  DEFAULT_SCRYPT_N,
  encryptPrivateKey,
  SIGSTORE_PRIVATE_KEY_PEM,
} from "./lib/crypto/encrypted_key.ts";
export type { EncryptOptions, Password } from "./lib/crypto/encrypted_key.ts";
export type { MessageData, Signer, Verifier } from "./lib/crypto/signer.ts";
export { KeySigner, KeyVerifier } from "./lib/crypto/key_signer.ts";
export type { HashName } from "./lib/crypto/key_signer.ts";
export type { KeyAlgorithm } from "./lib/crypto/keys.ts";
export { generateKeyPair, importKeyPair } from "./lib/cosign/keypair.ts";
export type { EncodedKeyPair } from "./lib/cosign/keypair.ts";
export { keyRefKind, loadSigner, loadVerifier } from "./lib/cosign/keyref.ts";
export type {
  KeyRefKind,
  LoadSignerOptions,
  LoadVerifierOptions,
  ReadKeyOptions,
} from "./lib/cosign/keyref.ts";
export { decodeSignature, fileChunks, signBlob, verifyBlob } from "./lib/cosign/blob.ts";
export { VERSION } from "./lib/version.ts";
