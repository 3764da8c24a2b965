/**
 * The encrypted private-key format of cosign (`ENCRYPTED SIGSTORE PRIVATE KEY`): a PEM block
 * whose body is go-securesystemslib's JSON envelope
 * `{"kdf":{"name":"scrypt","params":{"N":…,"r":8,"p":1},"salt":…},"cipher":{"name":"nacl/secretbox","nonce":…},"ciphertext":…}`
 * holding a PKCS#8 DER private key sealed with NaCl secretbox under an scrypt-derived key.
 * @module
 */

import { randomBytes, scrypt } from "node:crypto";
import { CosignError } from "../errors.ts";
import { xsalsa20poly1305 } from "./deps.ts";
import { fromBase64, toBase64, utf8 } from "./encoding.ts";
import { decodePem, encodePem } from "./pem.ts";

/** PEM label written by cosign since v2.0.1. */
export const SIGSTORE_PRIVATE_KEY_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY";
/** PEM label written by cosign up to v2.0.0, still accepted. */
export const COSIGN_PRIVATE_KEY_PEM = "ENCRYPTED COSIGN PRIVATE KEY";

/** The scrypt cost parameters go-securesystemslib accepts (r=8, p=1 always). */
export const ALLOWED_SCRYPT_N = [32768, 65536, 131072] as const;
/** The scrypt N used for new keys (securesystemslib's "standard"). */
export const DEFAULT_SCRYPT_N = 65536;

/** A password: a UTF-8 string or raw bytes (Go treats it as bytes). */
export type Password = string | Uint8Array;

function passwordBytes(p: Password): Uint8Array {
  return typeof p === "string" ? utf8(p) : p;
}

function deriveKey(password: Password, salt: Uint8Array, n: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(
      passwordBytes(password),
      salt,
      32,
      { N: n, r: 8, p: 1, maxmem: 256 * n * 8 + (1 << 20) },
      (err, key) => err ? reject(err) : resolve(new Uint8Array(key)),
    );
  });
}

/** Options for {@link encryptPrivateKey}. */
export interface EncryptOptions {
  /** scrypt N; one of {@link ALLOWED_SCRYPT_N}. Default {@link DEFAULT_SCRYPT_N}. */
  scryptN?: number;
  /** PEM label. Default {@link SIGSTORE_PRIVATE_KEY_PEM}. */
  pemType?: typeof SIGSTORE_PRIVATE_KEY_PEM | typeof COSIGN_PRIVATE_KEY_PEM;
}

/**
 * Encrypts a PKCS#8 DER private key into cosign's encrypted PEM format.
 * @example
 * ```ts
 * import { decryptPrivateKey, encryptPrivateKey } from "../../mod.ts";
 * import { generateKeyPairSync } from "node:crypto";
 * const key = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
 * const pkcs8 = new Uint8Array(key.export({ format: "der", type: "pkcs8" }));
 * const pem = await encryptPrivateKey(pkcs8, "pw"); // "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----…"
 * const back = await decryptPrivateKey(pem, "pw");
 * console.log(back.length === pkcs8.length); // true
 * ```
 * @param pkcs8 the PKCS#8 DER private key
 * @param password the password (may be empty)
 * @returns the PEM text, ending in a newline
 */
export async function encryptPrivateKey(
  pkcs8: Uint8Array,
  password: Password,
  options: EncryptOptions = {},
): Promise<string> {
  const n = options.scryptN ?? DEFAULT_SCRYPT_N;
  if (!(ALLOWED_SCRYPT_N as readonly number[]).includes(n)) {
    throw new CosignError("KEY_UNSUPPORTED_KDF", `Unsupported scrypt parameters: N=${n}`);
  }
  const salt = new Uint8Array(randomBytes(32));
  const nonce = new Uint8Array(randomBytes(24));
  const key = await deriveKey(password, salt, n);
  const sealed = xsalsa20poly1305(key, nonce).encrypt(pkcs8);
  // Field order and compact form as Go's encoding/json writes the securesystemslib struct.
  const json = JSON.stringify({
    kdf: { name: "scrypt", params: { N: n, r: 8, p: 1 }, salt: toBase64(salt) },
    cipher: { name: "nacl/secretbox", nonce: toBase64(nonce) },
    ciphertext: toBase64(sealed),
  });
  return encodePem(options.pemType ?? SIGSTORE_PRIVATE_KEY_PEM, utf8(json));
}

/** Reads a JSON object member the way Go's decoder does: key names match case-insensitively. */
function member(obj: unknown, name: string): unknown {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  if (name in rec) return rec[name];
  const lower = name.toLowerCase();
  const k = Object.keys(rec).find((x) => x.toLowerCase() === lower);
  return k === undefined ? undefined : rec[k];
}

function b64Field(obj: unknown, name: string, what: string): Uint8Array {
  const v = member(obj, name);
  const bytes = typeof v === "string" ? fromBase64(v) : undefined;
  if (!bytes) {
    throw new CosignError("KEY_ENCRYPTED_INVALID", `Cannot read ${what}: "${name}" is not base64`);
  }
  return bytes;
}

/**
 * Decrypts cosign's encrypted private-key PEM and returns the PKCS#8 DER it holds.
 * @example
 * ```ts
 * import { CosignError, decryptPrivateKey } from "../../mod.ts";
 * try {
 *   await decryptPrivateKey(await Deno.readTextFile("cosign.key"), "wrong");
 * } catch (e) {
 *   if (e instanceof CosignError && e.code === "KEY_WRONG_PASSWORD") console.error("wrong password");
 * }
 * ```
 * Both labels are accepted; only scrypt N ∈ {32768, 65536, 131072}, r=8, p=1.
 * @param pem the PEM text
 * @param password the password
 * @param what a name for error messages (e.g. the file name)
 * @throws {CosignError} `PEM_UNSUPPORTED_TYPE`, `KEY_ENCRYPTED_INVALID`, `KEY_UNSUPPORTED_KDF`, `KEY_WRONG_PASSWORD`
 */
export async function decryptPrivateKey(
  pem: string,
  password: Password,
  what = "private key",
): Promise<Uint8Array> {
  const block = decodePem(pem, what);
  if (block.type !== SIGSTORE_PRIVATE_KEY_PEM && block.type !== COSIGN_PRIVATE_KEY_PEM) {
    throw new CosignError(
      "PEM_UNSUPPORTED_TYPE",
      `Cannot load ${what}: unsupported pem type: ${block.type}`,
    );
  }
  let env: unknown;
  try {
    env = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(block.bytes));
  } catch {
    throw new CosignError("KEY_ENCRYPTED_INVALID", `Cannot load ${what}: body is not JSON`);
  }
  const kdf = member(env, "kdf");
  const params = member(kdf, "params");
  const [n, r, p] = [member(params, "N"), member(params, "r"), member(params, "p")];
  if (member(kdf, "name") !== "scrypt") {
    throw new CosignError(
      "KEY_UNSUPPORTED_KDF",
      `Cannot load ${what}: unsupported key derivation function ${
        JSON.stringify(member(kdf, "name"))
      }`,
    );
  }
  if (!(ALLOWED_SCRYPT_N as readonly unknown[]).includes(n) || r !== 8 || p !== 1) {
    throw new CosignError(
      "KEY_UNSUPPORTED_KDF",
      `Cannot load ${what}: unsupported scrypt parameters N=${n} r=${r} p=${p}`,
    );
  }
  const cipher = member(env, "cipher");
  if (member(cipher, "name") !== "nacl/secretbox") {
    throw new CosignError(
      "KEY_ENCRYPTED_INVALID",
      `Cannot load ${what}: unsupported cipher ${JSON.stringify(member(cipher, "name"))}`,
    );
  }
  const salt = b64Field(kdf, "salt", what);
  const nonce = b64Field(cipher, "nonce", what);
  const sealed = b64Field(env, "ciphertext", what);
  if (nonce.length !== 24 || sealed.length < 16) {
    throw new CosignError("KEY_ENCRYPTED_INVALID", `Cannot load ${what}: malformed ciphertext`);
  }
  const key = await deriveKey(password, salt, n as number);
  try {
    return xsalsa20poly1305(key, nonce).decrypt(sealed);
  } catch {
    throw new CosignError("KEY_WRONG_PASSWORD", `Cannot decrypt ${what}: wrong password`);
  }
}
