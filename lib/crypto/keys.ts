/**
 * Private and public keys: parsing, the checks cosign applies on import (RSA 2048/3072/4096,
 * ECDSA P-256/P-384/P-521, Ed25519), PKCS#8 and PKIX encodings, and key generation.
 * Parsing and encoding are done by the runtime's native `node:crypto`.
 * @module
 */

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { CosignError } from "../errors.ts";
import { certificateSpki } from "./der.ts";
import { decodePem, encodePem } from "./pem.ts";
import { MAX_RSA_BITS, parseLargeRsaPublicKey } from "./rsa_large.ts";

/** The key types this implementation signs and verifies with. */
export type KeyAlgorithm = "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521" | "rsa" | "ed25519";

const EC_CURVES: Record<string, KeyAlgorithm> = {
  prime256v1: "ecdsa-p256",
  secp384r1: "ecdsa-p384",
  secp521r1: "ecdsa-p521",
};
const EC_CURVE_NAMES: Record<string, string> = {
  secp224r1: "P-224",
  secp256k1: "secp256k1",
};
const RSA_SIZES = [2048, 3072, 4096];
/** The smallest RSA modulus accepted for verification, in bits (Go ≥ 1.24 refuses smaller). */
export const MIN_RSA_BITS = 1024;
/** RSA moduli under this many bits are accepted with a warning ({@link weakKeyWarning}). */
export const WEAK_RSA_BITS = 2048;

/** Returns the algorithm of a key, or throws `KEY_UNSUPPORTED` naming what was found. */
export function keyAlgorithm(key: KeyObject, what: string): KeyAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? "unknown";
    const alg = EC_CURVES[curve];
    if (!alg) {
      throw new CosignError(
        "KEY_UNSUPPORTED",
        `Unsupported key in ${what}: ECDSA curve ${
          EC_CURVE_NAMES[curve] ?? curve
        } not allowed (P-256, P-384 or P-521)`,
      );
    }
    return alg;
  }
  if (type === "rsa") return "rsa";
  if (type === "ed25519") return "ed25519";
  throw new CosignError("KEY_UNSUPPORTED", `Unsupported key in ${what}: ${type} keys`);
}

/** Applies cosign's import checks to a private key (curve allow-list, RSA sizes). */
export function validatePrivateKey(key: KeyObject, what: string): KeyAlgorithm {
  const alg = keyAlgorithm(key, what);
  if (alg === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (!RSA_SIZES.includes(bits)) {
      throw new CosignError(
        "KEY_UNSUPPORTED",
        `Unsupported key in ${what}: RSA key size ${bits} not supported (2048, 3072 or 4096)`,
      );
    }
  }
  return alg;
}

function parseDer(
  der: Uint8Array,
  type: "pkcs8" | "pkcs1" | "sec1",
  what: string,
  label: string,
): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.from(der), format: "der", type });
  } catch {
    throw new CosignError("KEY_PARSE", `Cannot parse ${what}: not a valid ${label} private key`);
  }
}

/**
 * Parses a PKCS#8 DER private key (the plaintext of a cosign key file) and checks its type.
 * A SEC1 `ECPrivateKey` is refused, as cosign refuses it.
 */
export function parsePkcs8PrivateKey(der: Uint8Array, what: string): KeyObject {
  const key = parseDer(der, "pkcs8", what, "PKCS#8");
  validatePrivateKey(key, what);
  return key;
}

/**
 * Parses an unencrypted PEM private key for `import-key-pair`: `RSA PRIVATE KEY` (PKCS#1),
 * `EC PRIVATE KEY` (SEC1) or `PRIVATE KEY` (PKCS#8 RSA, ECDSA or Ed25519), then applies
 * cosign's checks. Only the first PEM block is read.
 */
export function parseUnencryptedPrivateKeyPem(pem: string, what: string): KeyObject {
  const block = decodePem(pem, what);
  let key: KeyObject;
  switch (block.type) {
    case "RSA PRIVATE KEY":
      key = parseDer(block.bytes, "pkcs1", what, "PKCS#1 RSA");
      break;
    case "EC PRIVATE KEY":
      key = parseDer(block.bytes, "sec1", what, "SEC1 EC");
      break;
    case "PRIVATE KEY":
      key = parseDer(block.bytes, "pkcs8", what, "PKCS#8");
      break;
    default:
      throw new CosignError(
        "PEM_UNSUPPORTED_TYPE",
        `Cannot import ${what}: unsupported private key type "${block.type}"`,
      );
  }
  validatePrivateKey(key, what);
  return key;
}

/** Encodes a private key as PKCS#8 DER. */
export function pkcs8Der(key: KeyObject): Uint8Array<ArrayBuffer> {
  return new Uint8Array(key.export({ format: "der", type: "pkcs8" }));
}

/** The PKIX DER (SubjectPublicKeyInfo) of the public half of a key. */
export function spkiDer(key: KeyObject): Uint8Array<ArrayBuffer> {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ format: "der", type: "spki" }));
}

/** Encodes the public half of a key as a PKIX `PUBLIC KEY` PEM. */
export function publicKeyPem(key: KeyObject): string {
  return encodePem("PUBLIC KEY", spkiDer(key));
}

/** Generates a new ECDSA P-256 key pair (cosign's default). */
export function generateEcdsaP256(): KeyObject {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
}

/**
 * Parses a verification key: a PEM `PUBLIC KEY` (PKIX), `RSA PUBLIC KEY` (PKCS#1) or a
 * `CERTIFICATE` (its subject public key is used).
 * @throws {CosignError} `PEM_INVALID`, `PEM_UNSUPPORTED_TYPE`, `KEY_PARSE`, `KEY_UNSUPPORTED`
 */
export function parsePublicKeyPem(pem: string, what: string): KeyObject {
  const block = decodePem(pem, what);
  let key: KeyObject;
  // The runtime loads RSA keys up to 4096 bits; larger ones (to 16384) are read here.
  const load = (der: Uint8Array, type: "spki" | "pkcs1") => {
    try {
      return createPublicKey({ key: Buffer.from(der), format: "der", type });
    } catch (e) {
      const large = parseLargeRsaPublicKey(der, type, what);
      if (large) return large;
      throw e;
    }
  };
  try {
    switch (block.type) {
      case "PUBLIC KEY":
        key = load(block.bytes, "spki");
        break;
      case "RSA PUBLIC KEY":
        key = load(block.bytes, "pkcs1");
        break;
      case "CERTIFICATE": {
        const spki = certificateSpki(block.bytes);
        if (!spki) throw new Error("not a certificate");
        key = load(spki, "spki");
        break;
      }
      default:
        throw new CosignError(
          "PEM_UNSUPPORTED_TYPE",
          `Cannot load ${what}: unknown public key PEM file type "${block.type}"`,
        );
    }
  } catch (e) {
    if (e instanceof CosignError) throw e;
    throw new CosignError("KEY_PARSE", `Cannot parse ${what}: malformed ${block.type}`);
  }
  if (keyAlgorithm(key, what) === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new CosignError(
        "KEY_UNSUPPORTED",
        `Unsupported key in ${what}: RSA key size ${bits} is insecure (at least ${MIN_RSA_BITS} bits, as Go requires)`,
      );
    }
    if (bits > MAX_RSA_BITS) {
      throw new CosignError(
        "KEY_UNSUPPORTED",
        `Unsupported key in ${what}: RSA key size ${bits} is too large (at most ${MAX_RSA_BITS} bits)`,
      );
    }
  }
  return key;
}

/**
 * The warning to show for a verification key that is accepted but weak (an RSA key of 1024 to
 * 2047 bits), or undefined. The library does not print it: callers pass it to their sink.
 */
export function weakKeyWarning(key: KeyObject, what: string): string | undefined {
  if (key.asymmetricKeyType !== "rsa") return undefined;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return bits < WEAK_RSA_BITS
    ? `WARNING: ${what} is a ${bits}-bit RSA key; keys under ${WEAK_RSA_BITS} bits are weak`
    : undefined;
}
