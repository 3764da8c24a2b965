/**
 * Keys: generate and import cosign key pairs, read encrypted cosign keys, and resolve key
 * references (`cosign.key`, `env://VAR`, `https://…`, `k8s://…`, KMS URIs) into signers and
 * verifiers. Nothing runs at import time.
 *
 * @example
 * ```ts
 * import { generateKeyPair, loadSigner, loadVerifier } from "@cosign-deno/cosign/keys";
 *
 * const { privateKeyPem, publicKeyPem } = await generateKeyPair("pw");
 * await Deno.writeTextFile("cosign.key", privateKeyPem, { mode: 0o600 });
 * await Deno.writeTextFile("cosign.pub", publicKeyPem);
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const verifier = await loadVerifier("cosign.pub");
 * ```
 * @module
 */

export { CosignError } from "./lib/errors.ts";
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
