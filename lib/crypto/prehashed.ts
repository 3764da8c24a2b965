/**
 * Signature verification over a digest computed elsewhere (`verify-blob sha256:<hex>` gives the
 * digest, not the artifact). ECDSA goes through `@noble/curves` (`node:crypto` cannot take a
 * precomputed digest for EC keys); RSA PKCS#1 v1.5 recovers the signed DigestInfo with
 * `publicDecrypt` and compares it. Pure Ed25519 signs the message itself, so it cannot be
 * verified from a digest.
 * @module
 */

import { constants, type KeyObject, publicDecrypt } from "node:crypto";
import { CosignError } from "../errors.ts";
import { isDerEcdsaSignature } from "./der.ts";
import { p256, p384, p521 } from "./deps_curves.ts";
import { concatBytes } from "./encoding.ts";
import { LargeRsaPublicKey, verifyRsaPkcs1v15 } from "./rsa_large.ts";

/** The digest algorithms a prehashed verification accepts. */
export type DigestAlgorithm = "sha256" | "sha384" | "sha512";

const DIGEST_SIZE: Record<DigestAlgorithm, number> = { sha256: 32, sha384: 48, sha512: 64 };

// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
const DIGEST_INFO_PREFIX: Record<DigestAlgorithm, string> = {
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
  algorithm: DigestAlgorithm,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (digest.length !== DIGEST_SIZE[algorithm]) {
    throw new CosignError(
      "USAGE",
      `Invalid ${algorithm} digest: expected ${DIGEST_SIZE[algorithm]} bytes, got ${digest.length}`,
    );
  }
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
