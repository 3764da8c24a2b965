/**
 * {@link Signer} and {@link Verifier} over in-process keys, using the runtime's native
 * `node:crypto`: the message is hashed as it streams in (constant memory), except for pure
 * Ed25519, which needs the whole message.
 *
 * Hashes follow cosign ≥ v2.6: P-256 → SHA-256, P-384 → SHA-384, P-521 → SHA-512,
 * RSA → PKCS#1 v1.5 with SHA-256, Ed25519 → pure Ed25519.
 * @module
 */

import {
  constants,
  createHash,
  createPublicKey,
  createSign,
  createVerify,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { CosignError } from "../errors.ts";
import { isDerEcdsaSignature } from "./der.ts";
import { concatBytes } from "./encoding.ts";
import { type KeyAlgorithm, keyAlgorithm, publicKeyPem } from "./keys.ts";
import { LargeRsaPublicKey, verifyRsaPkcs1v15 } from "./rsa_large.ts";
import type { MessageData, Signer, Verifier } from "./signer.ts";

/** Hash names accepted for `hash` overrides (cosign's `--signature-digest-algorithm`). */
export type HashName = "sha224" | "sha256" | "sha384" | "sha512";

const DEFAULT_HASH: Record<KeyAlgorithm, HashName | null> = {
  "ecdsa-p256": "sha256",
  "ecdsa-p384": "sha384",
  "ecdsa-p521": "sha512",
  "rsa": "sha256",
  "ed25519": null,
};

async function* chunks(data: MessageData): AsyncIterable<Uint8Array> {
  if (data instanceof Uint8Array) yield data;
  else yield* data;
}

async function collect(data: MessageData): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const parts: Uint8Array[] = [];
  for await (const c of data) parts.push(c.slice()); // producers may reuse their buffer
  return concatBytes(...parts);
}

/**
 * A {@link Signer} whose signatures a local {@link KeyVerifier} checks, and whose key algorithm
 * is known: a key file, a KMS key, an ephemeral keyless key.
 */
export interface VerifiableSigner extends Signer {
  /** The key's algorithm. */
  readonly algorithm: KeyAlgorithm;
  /** A verifier for this signer's public key and signature scheme. */
  verifier(): KeyVerifier;
}

/** Options for a {@link KeyVerifier}. */
export interface KeyVerifierOptions {
  /** Overrides the key's default message hash (not for Ed25519). */
  hash?: HashName;
  /** RSA only: RSASSA-PSS (any salt length) instead of PKCS#1 v1.5, as some KMS keys sign. */
  pss?: boolean;
}

/** A {@link Signer} over a private key held in memory. */
export class KeySigner implements VerifiableSigner {
  readonly #key: KeyObject;
  /** The key's algorithm. */
  readonly algorithm: KeyAlgorithm;

  /**
   * Creates a signer for a private key.
   * @param key a private key (validated by the caller)
   */
  constructor(key: KeyObject) {
    this.#key = key;
    this.algorithm = keyAlgorithm(key, "private key");
  }

  /** Signs `data` (DER for ECDSA, PKCS#1 v1.5 for RSA, 64 raw bytes for Ed25519). */
  async sign(data: MessageData): Promise<Uint8Array> {
    const hash = DEFAULT_HASH[this.algorithm];
    if (hash === null) return new Uint8Array(sign(null, await collect(data), this.#key));
    const s = createSign(hash);
    for await (const c of chunks(data)) s.update(c);
    return new Uint8Array(s.sign(this.#key));
  }

  /** The public key as PKIX PEM. */
  publicKeyPem(): Promise<string> {
    return Promise.resolve(publicKeyPem(this.#key));
  }

  /** A verifier for this signer's public key. */
  verifier(): KeyVerifier {
    return new KeyVerifier(createPublicKey(this.#key));
  }
}

/** A {@link Verifier} over a public key. */
export class KeyVerifier implements Verifier {
  readonly #key: KeyObject;
  readonly #hash: HashName | null;
  readonly #pss: boolean;
  /** The key's algorithm. */
  readonly algorithm: KeyAlgorithm;

  /**
   * Creates a verifier for a public key.
   * @param key a public key
   * @param options `hash` overrides the key's default message hash (not for Ed25519); `pss`
   *   selects RSASSA-PSS for an RSA key
   */
  constructor(key: KeyObject, options: KeyVerifierOptions = {}) {
    this.#key = key;
    this.algorithm = keyAlgorithm(key, "public key");
    const def = DEFAULT_HASH[this.algorithm];
    this.#hash = def === null ? null : options.hash ?? def;
    this.#pss = this.algorithm === "rsa" && options.pss === true;
  }

  /** The message hash this verifier uses (null for pure Ed25519). */
  get hash(): HashName | null {
    return this.#hash;
  }

  /** Whether RSA signatures are RSASSA-PSS. */
  get pss(): boolean {
    return this.#pss;
  }

  /** Verifies; high-S ECDSA signatures (as Go and OpenSSL emit) are accepted. */
  async verify(data: MessageData, signature: Uint8Array): Promise<boolean> {
    if (this.algorithm.startsWith("ecdsa") && !isDerEcdsaSignature(signature)) {
      throw new CosignError(
        "SIGNATURE_INVALID_ENCODING",
        "Invalid signature: not a DER-encoded ECDSA signature",
      );
    }
    if (this.#hash === null) {
      if (signature.length !== 64) {
        throw new CosignError(
          "SIGNATURE_INVALID_ENCODING",
          `Invalid signature: an Ed25519 signature is 64 bytes, got ${signature.length}`,
        );
      }
      return verify(null, await collect(data), this.#key, signature);
    }
    if (this.#key instanceof LargeRsaPublicKey) {
      if (this.#pss) {
        throw new CosignError(
          "KEY_UNSUPPORTED",
          "Cannot verify RSASSA-PSS signatures with an RSA key over 4096 bits",
        );
      }
      const h = createHash(this.#hash);
      for await (const c of chunks(data)) h.update(c);
      return verifyRsaPkcs1v15(this.#key, this.#hash, new Uint8Array(h.digest()), signature);
    }
    const v = createVerify(this.#hash);
    for await (const c of chunks(data)) v.update(c);
    if (this.#pss) {
      return v.verify({
        key: this.#key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_AUTO,
      }, signature);
    }
    return v.verify(this.#key, signature);
  }

  /** The public key as PKIX PEM. */
  publicKeyPem(): Promise<string> {
    return Promise.resolve(publicKeyPem(this.#key));
  }
}
