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
  type Hash,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { CosignError } from "../errors.ts";
import { isDerEcdsaSignature } from "./der.ts";
import { traceHashPass } from "./digest_pass.ts";
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
  /** The hash applied to messages; `null` for pure Ed25519, which signs whole messages. */
  readonly messageHash: HashName | null;
  /**
   * Signs a digest of the message made with {@link messageHash}, so a caller that also needs
   * the digest (for the transparency log) hashes the message once.
   * @throws {CosignError} `NOT_IMPLEMENTED` for pure Ed25519
   */
  signDigest(digest: Uint8Array): Promise<Uint8Array>;
}

/**
 * A {@link Signer} over a private key held in memory.
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { KeySigner } from "@cosign-deno/cosign";
 * const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
 * const signer = new KeySigner(privateKey);
 * const data = new TextEncoder().encode("hello");
 * const signature = await signer.sign(data);
 * console.log(await signer.verifier().verify(data, signature)); // true
 * ```
 */
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

  /** The hash applied to messages (`null`: pure Ed25519). */
  get messageHash(): HashName | null {
    return DEFAULT_HASH[this.algorithm];
  }

  /** Signs `data` (DER for ECDSA, PKCS#1 v1.5 for RSA, 64 raw bytes for Ed25519). */
  async sign(data: MessageData): Promise<Uint8Array> {
    const hash = DEFAULT_HASH[this.algorithm];
    if (hash === null) {
      const message = await collect(data);
      traceHashPass([], message.length, "sign");
      return new Uint8Array(sign(null, message, this.#key));
    }
    const s = createSign(hash);
    let length = 0;
    for await (const c of chunks(data)) {
      s.update(c);
      length += c.length;
    }
    traceHashPass([hash], length, "sign");
    return new Uint8Array(s.sign(this.#key));
  }

  /** Signs a digest made with {@link messageHash} (ECDSA and RSA; not Ed25519). */
  async signDigest(digest: Uint8Array): Promise<Uint8Array> {
    const hash = DEFAULT_HASH[this.algorithm];
    if (hash === null) {
      throw new CosignError(
        "NOT_IMPLEMENTED",
        "Ed25519 keys sign whole messages, not digests",
      );
    }
    const { signPrehashed } = await import("./prehashed.ts"); // loads @noble/curves for EC
    return signPrehashed(this.#key, hash, digest);
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

async function verifyShortDigest(key: KeyObject, h: Hash, signature: Uint8Array) {
  const { verifyEcdsaDigest } = await import("./prehashed.ts"); // loads @noble/curves
  return verifyEcdsaDigest(key, new Uint8Array(h.digest()), signature);
}

/** Options for {@link KeyVerifier}. */
export interface KeyVerifierOptions {
  /** Overrides the key's default message hash (not for Ed25519): only this hash is accepted. */
  hash?: HashName;
  /**
   * Without `hash`, also accepts a signature over the SHA-256 of the message when the key's
   * own hash is another (P-384, P-521): SHA-256 is Go cosign's verify default and what
   * sigstore-python writes for P-384 keys, the key's own hash what cosign v3 writes. The
   * message is still read once, hashed both ways in the same pass.
   */
  acceptSha256?: boolean;
  /** RSA only: RSASSA-PSS (any salt length) instead of PKCS#1 v1.5, as some KMS keys sign. */
  pss?: boolean;
}

/**
 * A {@link Verifier} over a public key.
 * @example
 * ```ts
 * import { createPublicKey } from "node:crypto";
 * import { KeyVerifier } from "@cosign-deno/cosign";
 * const verifier = new KeyVerifier(createPublicKey(await Deno.readTextFile("cosign.pub")));
 * const ok = await verifier.verify(await Deno.readFile("blob"), await Deno.readFile("blob.sig.raw"));
 * ```
 */
export class KeyVerifier implements Verifier {
  readonly #key: KeyObject;
  readonly #hashes: readonly HashName[] | null;
  readonly #pss: boolean;
  /** The key's algorithm. */
  readonly algorithm: KeyAlgorithm;

  /**
   * Creates a verifier for a public key.
   * @param key a public key
   * @param options `hash` overrides the key's default message hash (not for Ed25519);
   *   `acceptSha256` also accepts SHA-256 signatures; `pss` selects RSASSA-PSS for an RSA key
   */
  constructor(key: KeyObject, options: KeyVerifierOptions = {}) {
    this.#key = key;
    this.algorithm = keyAlgorithm(key, "public key");
    const def = DEFAULT_HASH[this.algorithm];
    if (def === null) this.#hashes = null;
    else if (options.hash !== undefined) this.#hashes = [options.hash];
    else if (options.acceptSha256 && def !== "sha256") this.#hashes = [def, "sha256"];
    else this.#hashes = [def];
    this.#pss = this.algorithm === "rsa" && options.pss === true;
  }

  /** The preferred message hash (null for pure Ed25519). */
  get hash(): HashName | null {
    return this.#hashes?.[0] ?? null;
  }

  /** Whether RSA signatures are RSASSA-PSS. */
  get pss(): boolean {
    return this.#pss;
  }

  /**
   * The message hashes a signature may use, the preferred first; `null` for pure Ed25519.
   */
  get hashes(): readonly HashName[] | null {
    return this.#hashes;
  }

  /**
   * Whether {@link verifyDigest} can check this key's signatures from digests alone (not
   * pure Ed25519, which signs whole messages, nor RSASSA-PSS).
   */
  get verifiesDigests(): boolean {
    return this.#hashes !== null && !this.#pss;
  }

  /**
   * Verifies a signature from the message's digests, computed elsewhere in one pass: true
   * when it verifies over the digest of any accepted hash ({@link hashes}).
   * @param digests digests by hash name; must hold every accepted hash
   * @throws {CosignError} `SIGNATURE_INVALID_ENCODING` for a malformed ECDSA signature;
   *   `NOT_IMPLEMENTED` when {@link verifiesDigests} is false; `USAGE` when a digest is missing
   */
  async verifyDigest(
    digests: ReadonlyMap<string, Uint8Array>,
    signature: Uint8Array,
  ): Promise<boolean> {
    if (!this.verifiesDigests) {
      throw new CosignError(
        "NOT_IMPLEMENTED",
        `Verifying ${this.algorithm}${
          this.#pss ? " (PSS)" : ""
        } signatures from a digest is not supported`,
      );
    }
    const { verifyPrehashed } = await import("./prehashed.ts"); // loads @noble/curves for EC
    for (const name of this.#hashes!) {
      const digest = digests.get(name);
      if (digest === undefined) throw new CosignError("USAGE", `No ${name} digest to verify`);
      if (verifyPrehashed(this.#key, name, digest, signature)) return true;
    }
    return false;
  }

  /**
   * Verifies; high-S ECDSA signatures (as Go and OpenSSL emit) are accepted. With several
   * accepted hashes the message is read once and hashed with each in the same pass.
   */
  async verify(data: MessageData, signature: Uint8Array): Promise<boolean> {
    if (this.algorithm.startsWith("ecdsa") && !isDerEcdsaSignature(signature)) {
      throw new CosignError(
        "SIGNATURE_INVALID_ENCODING",
        "Invalid signature: not a DER-encoded ECDSA signature",
      );
    }
    if (this.#hashes === null) {
      if (signature.length !== 64) {
        throw new CosignError(
          "SIGNATURE_INVALID_ENCODING",
          `Invalid signature: an Ed25519 signature is 64 bytes, got ${signature.length}`,
        );
      }
      const message = await collect(data);
      traceHashPass([], message.length, "verify");
      return verify(null, message, this.#key, signature);
    }
    const key = this.#key;
    if (key instanceof LargeRsaPublicKey) {
      if (this.#pss) {
        throw new CosignError(
          "KEY_UNSUPPORTED",
          "Cannot verify RSASSA-PSS signatures with an RSA key over 4096 bits",
        );
      }
      const hs = this.#hashes.map((name) => ({ name, h: createHash(name) }));
      let length = 0;
      for await (const c of chunks(data)) {
        for (const { h } of hs) h.update(c);
        length += c.length;
      }
      traceHashPass(this.#hashes, length, "verify");
      return hs.some(({ name, h }) =>
        verifyRsaPkcs1v15(key, name, new Uint8Array(h.digest()), signature)
      );
    }
    // Deno's node:crypto refuses P-521 over a digest shorter than 33 bytes (SHA-224, SHA-256),
    // which OpenSSL and Go accept: those go through @noble/curves over the digest.
    const short = (name: HashName) =>
      this.algorithm === "ecdsa-p521" && (name === "sha224" || name === "sha256");
    const checks = this.#hashes.map((name) =>
      short(name) ? { h: createHash(name), v: undefined } : { h: undefined, v: createVerify(name) }
    );
    let length = 0;
    for await (const c of chunks(data)) {
      for (const { h, v } of checks) (h ?? v!).update(c);
      length += c.length;
    }
    traceHashPass(this.#hashes, length, "verify");
    for (const { h, v } of checks) {
      if (
        v !== undefined
          ? v.verify(
            this.#pss
              ? {
                key,
                padding: constants.RSA_PKCS1_PSS_PADDING,
                saltLength: constants.RSA_PSS_SALTLEN_AUTO,
              }
              : key,
            signature,
          )
          : await verifyShortDigest(key, h!, signature)
      ) {
        return true;
      }
    }
    return false;
  }

  /** The public key as PKIX PEM. */
  publicKeyPem(): Promise<string> {
    return Promise.resolve(publicKeyPem(this.#key));
  }
}
