/**
 * Key pairs in cosign's file formats: `generate-key-pair` and `import-key-pair` without the
 * terminal and file handling (that is the CLI's).
 * @module
 */

import { encryptPrivateKey, type Password } from "../crypto/encrypted_key.ts";
import {
  generateEcdsaP256,
  parseUnencryptedPrivateKeyPem,
  pkcs8Der,
  publicKeyPem,
} from "../crypto/keys.ts";

/** A key pair as cosign writes it: `cosign.key` and `cosign.pub` contents. */
export interface EncodedKeyPair {
  /** `ENCRYPTED SIGSTORE PRIVATE KEY` PEM (scrypt N=65536, nacl/secretbox, PKCS#8 inside). */
  privateKeyPem: string;
  /** PKIX `PUBLIC KEY` PEM. */
  publicKeyPem: string;
}

/**
 * Generates an ECDSA P-256 key pair, encrypting the private key with `password`.
 * @example
 * ```ts
 * import { generateKeyPair } from "../../mod.ts";
 * const { privateKeyPem, publicKeyPem } = await generateKeyPair("correct horse");
 * ```
 */
export async function generateKeyPair(password: Password): Promise<EncodedKeyPair> {
  const key = generateEcdsaP256();
  return {
    privateKeyPem: await encryptPrivateKey(pkcs8Der(key), password),
    publicKeyPem: publicKeyPem(key),
  };
}

/**
 * Re-encodes an unencrypted PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8 RSA/ECDSA/Ed25519)
 * as a cosign key pair, after cosign's checks (RSA 2048/3072/4096; P-256/384/521; Ed25519).
 * @param pem the unencrypted private key PEM
 * @param password the password for the new encrypted key
 * @param what a name for error messages (e.g. the file name)
 * @example
 * ```ts
 * import { importKeyPair } from "@cosign-deno/cosign";
 * // an unencrypted key, e.g. from `openssl ecparam -name prime256v1 -genkey -noout`
 * const pem = await Deno.readTextFile("ec_private.pem");
 * const { privateKeyPem, publicKeyPem } = await importKeyPair(pem, "new password", "ec_private.pem");
 * await Deno.writeTextFile("import-cosign.key", privateKeyPem, { mode: 0o600 });
 * await Deno.writeTextFile("import-cosign.pub", publicKeyPem);
 * ```
 */
export async function importKeyPair(
  pem: string,
  password: Password,
  what = "private key",
): Promise<EncodedKeyPair> {
  const key = parseUnencryptedPrivateKeyPem(pem, what);
  return {
    privateKeyPem: await encryptPrivateKey(pkcs8Der(key), password),
    publicKeyPem: publicKeyPem(key),
  };
}
