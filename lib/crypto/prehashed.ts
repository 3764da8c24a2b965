/**
 * Signatures made and verified over a digest computed elsewhere: `verify-blob sha256:<hex>`
 * gives the digest, not the artifact, and a large blob is hashed once for both its signature
 * and its transparency-log entry. ECDSA goes through `@noble/curves` (`node:crypto` cannot take a
 * precomputed digest for EC keys); RSA PKCS#1 v1.5 recovers the signed DigestInfo with
 * `publicDecrypt` and compares it. Pure Ed25519 signs the message itself, so it cannot be
 * verified from a digest.
 * @module
 */

import { constants, type KeyObject, privateEncrypt, publicDecrypt } from "node:crypto";
import { CosignError } from "../errors.ts";
import { isDerEcdsaSignature } from "./der.ts";
import { p256, p384, p521 } from "./deps_curves.ts";
import { concatBytes } from "./encoding.ts";
import { LargeRsaPublicKey, verifyRsaPkcs1v15 } from "./rsa_large.ts";

/** The digest algorithms of bundles. */
export type DigestAlgorithm = "sha256" | "sha384" | "sha512";

/** The digest algorithms a prehashed signature or verification accepts (cosign's hashes). */
export type PrehashAlgorithm = DigestAlgorithm | "sha224";

const DIGEST_SIZE: Record<PrehashAlgorithm, number> = {
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
const DIGEST_INFO_PREFIX: Record<PrehashAlgorithm, string> = {
  sha224: "302d300d06096086480165030402040500041c",
  sha256: "3031300d060960864801650304020105000420",
  sha384: "3041300d060960864801650304020205000430",
  sha512: "3051300d060960864801650304020305000440",
};

const CURVES = { prime256v1: p256, secp384r1: p384, secp521r1: p521 } as const;

function rawEcPoint(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  const x = Uint8Array.fromBase64(jwk.x ?? "", { alphabet: "base64url" });
  const y = Uint8Array.fromBase64(jwk.y ?? "", { alphabet: "base64url" });
  return concatBytes(new Uint8Array([0x04]), x, y);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Verifies a DER ECDSA signature over a digest of any length (FIPS 186-5 truncates or
 * left-pads it to the curve order's size): `node:crypto` in Deno refuses a digest shorter than
 * half the field, such as SHA-256 with P-521, which Go and OpenSSL accept.
 * @returns whether the signature verifies (high-S accepted)
 * @throws {CosignError} `SIGNATURE_INVALID_ENCODING` for a malformed signature;
 *   `NOT_IMPLEMENTED` for a curve other than P-256, P-384 and P-521
 */
export function verifyEcdsaDigest(
  key: KeyObject,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  const curveName = key.asymmetricKeyDetails?.namedCurve ?? "";
  const curve = CURVES[curveName as keyof typeof CURVES];
  if (curve === undefined) {
    throw new CosignError(
      "NOT_IMPLEMENTED",
      `Verifying a digest is not supported for ECDSA curve ${curveName || "unknown"}`,
    );
  }
  if (!isDerEcdsaSignature(signature)) {
    throw new CosignError(
      "SIGNATURE_INVALID_ENCODING",
      "Invalid signature: not a DER-encoded ECDSA signature",
    );
  }
  try {
    return curve.verify(signature, digest, rawEcPoint(key), {
      prehash: false,
      lowS: false,
      format: "der",
    });
  } catch {
    return false;
  }
}

function checkDigestSize(algorithm: PrehashAlgorithm, digest: Uint8Array): void {
  if (digest.length !== DIGEST_SIZE[algorithm]) {
    throw new CosignError(
      "USAGE",
      `Invalid ${algorithm} digest: expected ${DIGEST_SIZE[algorithm]} bytes, got ${digest.length}`,
    );
  }
}

/**
 * Signs a digest computed elsewhere, so a large message is hashed once (its digest also goes
 * to the transparency log). ECDSA signs through `@noble/curves` (RFC 6979 nonces, low-S DER):
 * `node:crypto` cannot sign a precomputed digest with an EC key. RSA PKCS#1 v1.5 encrypts the
 * DER DigestInfo with the private key, which is exactly the v1.5 signature (RFC 8017 §8.2.1).
 * @param key the private key (ECDSA P-256/P-384/P-521 or RSA)
 * @param algorithm the hash that produced `digest`
 * @param digest the message digest
 * @returns DER ECDSA or RSA PKCS#1 v1.5 signature bytes
 * @throws {CosignError} `NOT_IMPLEMENTED` for Ed25519 and other key types; `USAGE` when the
 *   digest length does not fit `algorithm`
 */
export function signPrehashed(
  key: KeyObject,
  algorithm: PrehashAlgorithm,
  digest: Uint8Array,
): Uint8Array {
  checkDigestSize(algorithm, digest);
  if (key.asymmetricKeyType === "ec") {
    const curveName = key.asymmetricKeyDetails?.namedCurve ?? "";
    const curve = CURVES[curveName as keyof typeof CURVES];
    const d = key.export({ format: "jwk" }).d;
    if (curve === undefined || d === undefined) {
      throw new CosignError(
        "NOT_IMPLEMENTED",
        `Signing a digest is not supported for ECDSA curve ${curveName || "unknown"}`,
      );
    }
    const secret = Uint8Array.fromBase64(d, { alphabet: "base64url" });
    try {
      return curve.sign(digest, secret, { prehash: false }).toDERRawBytes();
    } finally {
      secret.fill(0);
    }
  }
  if (key.asymmetricKeyType === "rsa") {
    const info = concatBytes(Uint8Array.fromHex(DIGEST_INFO_PREFIX[algorithm]), digest);
    return new Uint8Array(privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, info));
  }
  throw new CosignError(
    "NOT_IMPLEMENTED",
    `Signing a digest is not supported for ${key.asymmetricKeyType} keys: they sign whole messages`,
  );
}

/**
 * Verifies `signature` over a message of which only the digest is known.
 * @param key the public key (ECDSA P-256/P-384/P-521 or RSA)
 * @param algorithm the hash that produced `digest`
 * @param digest the message digest
 * @param signature DER ECDSA, or RSA PKCS#1 v1.5
 * @returns whether the signature verifies (high-S ECDSA signatures are accepted, as Go does)
 * @throws {CosignError} `SIGNATURE_INVALID_ENCODING` for a malformed ECDSA signature;
 *   `NOT_IMPLEMENTED` for Ed25519 and other key types; `USAGE` when the digest length does
 *   not fit `algorithm`
 */
export function verifyPrehashed(
  key: KeyObject,
  algorithm: PrehashAlgorithm,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  checkDigestSize(algorithm, digest);
  if (key.asymmetricKeyType === "ec") return verifyEcdsaDigest(key, digest, signature);
  if (key instanceof LargeRsaPublicKey) {
    return verifyRsaPkcs1v15(key, algorithm, digest, signature);
  }
  if (key.asymmetricKeyType === "rsa") {
    let recovered: Uint8Array;
    try {
      recovered = new Uint8Array(
        publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature),
      );
    } catch {
      return false;
    }
    const expected = concatBytes(Uint8Array.fromHex(DIGEST_INFO_PREFIX[algorithm]), digest);
    return bytesEqual(recovered, expected);
  }
  throw new CosignError(
    "NOT_IMPLEMENTED",
    `Verifying a signature from a digest alone is not supported for ${key.asymmetricKeyType} keys: ` +
      "pass the artifact itself",
  );
}
