/**
 * RSA public keys larger than the runtime's `node:crypto` and WebCrypto load (Deno refuses
 * moduli over 4096 bits: `SPKI cryptographic key data malformed`), up to Go's limit of 16384
 * bits (issue 21.4), and RSASSA-PKCS1-v1_5 verification for them in `BigInt` arithmetic.
 *
 * Such a key is a {@link LargeRsaPublicKey}: a `KeyObject` that answers `type`,
 * `asymmetricKeyType`, `asymmetricKeyDetails` and `export` (SPKI DER/PEM, JWK) like a native one,
 * so the code that reads keys needs no change; only verification (`KeyVerifier`,
 * `verifyPrehashed`) must route it to {@link verifyRsaPkcs1v15} — handing it to `node:crypto`'s
 * `verify` fails.
 *
 * The signature check is the RFC 8017 §8.2.2 one: `s < n`, `m = s^e mod n`, and the encoded
 * message must equal, byte for byte, `00 01 FF…FF 00 || DigestInfo(hash) || digest` (no parsing
 * of the padding). Public exponents are limited as Go limits them (odd, 3 ≤ e < 2^31), which
 * also bounds the work.
 * @module
 */

import { KeyObject } from "node:crypto";
import { CosignError } from "../errors.ts";
import { children, readElement } from "./der.ts";
import { concatBytes } from "./encoding.ts";
import { encodePem } from "./pem.ts";

/** The largest RSA modulus accepted, in bits (Go's `crypto/rsa` limit). */
export const MAX_RSA_BITS = 16384;

/** The largest modulus the runtime loads natively, in bits. */
export const NATIVE_RSA_MAX_BITS = 4096;

/** The hashes RSASSA-PKCS1-v1_5 verification accepts here. */
export type RsaHash = "sha224" | "sha256" | "sha384" | "sha512";

// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
const DIGEST_INFO_PREFIX: Record<RsaHash, string> = {
  sha224: "302d300d06096086480165030402040500041c",
  sha256: "3031300d060960864801650304020105000420",
  sha384: "3041300d060960864801650304020205000430",
  sha512: "3051300d060960864801650304020305000440",
};

const RSA_ENCRYPTION_ALGORITHM = Uint8Array.fromHex("300d06092a864886f70d0101010500");

function derLength(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

function derElement(tag: number, content: Uint8Array): Uint8Array {
  return concatBytes(new Uint8Array([tag]), derLength(content.length), content);
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt("0x" + bytes.toHex());
}

function toBytes(n: bigint, length: number): Uint8Array {
  const hex = n.toString(16).padStart(length * 2, "0");
  return Uint8Array.fromHex(hex);
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** A positive, minimally encoded DER INTEGER's magnitude, or undefined. */
function positiveInteger(buf: Uint8Array, start: number, end: number): Uint8Array | undefined {
  if (end <= start) return undefined;
  const first = buf[start]!;
  if (first & 0x80) return undefined;
  if (first === 0) {
    if (end - start === 1 || !(buf[start + 1]! & 0x80)) return undefined;
    return buf.subarray(start + 1, end);
  }
  return buf.subarray(start, end);
}

// `KeyObject`'s constructor is private in the type declarations, not at run time.
const KeyObjectBase = KeyObject as unknown as new (type: string, handle: unknown) => KeyObject;

/**
 * An RSA public key of more than {@link NATIVE_RSA_MAX_BITS} bits, held as its modulus and
 * exponent. Verify with {@link verifyRsaPkcs1v15}.
 */
export class LargeRsaPublicKey extends KeyObjectBase {
  /** The modulus. */
  readonly n: bigint;
  /** The public exponent. */
  readonly e: bigint;
  /** The modulus size in bytes. */
  readonly byteLength: number;
  readonly #spki: Uint8Array;
  override readonly type = "public" as const;
  override readonly asymmetricKeyType = "rsa" as const;
  override readonly asymmetricKeyDetails: { modulusLength: number; publicExponent: bigint };

  /**
   * @param modulus the modulus bytes (big-endian, no leading zero)
   * @param exponent the exponent bytes (big-endian, no leading zero)
   */
  constructor(modulus: Uint8Array, exponent: Uint8Array) {
    super("public", {}); // no native handle: this key never reaches node:crypto
    this.n = toBigInt(modulus);
    this.e = toBigInt(exponent);
    this.byteLength = modulus.length;
    this.asymmetricKeyDetails = {
      modulusLength: this.n.toString(2).length,
      publicExponent: this.e,
    };
    const pkcs1 = derElement(
      0x30,
      concatBytes(
        derElement(0x02, modulus[0]! & 0x80 ? concatBytes(new Uint8Array([0]), modulus) : modulus),
        derElement(
          0x02,
          exponent[0]! & 0x80 ? concatBytes(new Uint8Array([0]), exponent) : exponent,
        ),
      ),
    );
    this.#spki = derElement(
      0x30,
      concatBytes(
        RSA_ENCRYPTION_ALGORITHM,
        derElement(0x03, concatBytes(new Uint8Array([0]), pkcs1)),
      ),
    );
    Object.defineProperty(this, "export", { value: this.#export.bind(this) });
  }

  /** Exports as `{format: "der"|"pem", type: "spki"}` or `{format: "jwk"}`. */
  #export(options?: { format?: string; type?: string }): unknown {
    const format = options?.format ?? "pem";
    if (format === "jwk") {
      const b64url = (n: bigint) => {
        const hex = n.toString(16);
        return Uint8Array.fromHex(hex.length % 2 ? "0" + hex : hex).toBase64({
          alphabet: "base64url",
          omitPadding: true,
        });
      };
      return { kty: "RSA", n: b64url(this.n), e: b64url(this.e) };
    }
    if (options?.type !== undefined && options.type !== "spki") {
      throw new CosignError(
        "KEY_UNSUPPORTED",
        `Cannot export a ${this.asymmetricKeyDetails.modulusLength}-bit RSA key as ${options.type}`,
      );
    }
    if (format === "der") return Buffer.from(this.#spki);
    return encodePem("PUBLIC KEY", this.#spki);
  }
}

/**
 * Reads an RSA public key from DER (`spki`: SubjectPublicKeyInfo; `pkcs1`: RSAPublicKey) when
 * it is too large for the runtime.
 * @returns the key, or undefined when the DER is not an RSA key larger than
 *   {@link NATIVE_RSA_MAX_BITS} bits with a valid exponent
 * @throws {CosignError} `KEY_UNSUPPORTED` for a modulus over {@link MAX_RSA_BITS} bits
 */
export function parseLargeRsaPublicKey(
  der: Uint8Array,
  format: "spki" | "pkcs1",
  what: string,
): LargeRsaPublicKey | undefined {
  let pkcs1 = der;
  if (format === "spki") {
    const outer = readElement(der, 0);
    if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return undefined;
    const [alg, bits, ...rest] = children(der, outer) ?? [];
    if (!alg || !bits || rest.length > 0 || bits.tag !== 0x03) return undefined;
    const algBytes = der.subarray(alg.headerStart, alg.end);
    if (algBytes.toHex() !== RSA_ENCRYPTION_ALGORITHM.toHex()) return undefined;
    if (bits.end - bits.start < 2 || der[bits.start] !== 0) return undefined;
    pkcs1 = der.subarray(bits.start + 1, bits.end);
  }
  const seq = readElement(pkcs1, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== pkcs1.length) return undefined;
  const [nEl, eEl, ...more] = children(pkcs1, seq) ?? [];
  if (!nEl || !eEl || more.length > 0 || nEl.tag !== 0x02 || eEl.tag !== 0x02) return undefined;
  const modulus = positiveInteger(pkcs1, nEl.start, nEl.end);
  const exponent = positiveInteger(pkcs1, eEl.start, eEl.end);
  if (!modulus || !exponent) return undefined;
  const bits = modulus.length * 8 - Math.clz32(modulus[0]!) + 24;
  if (bits <= NATIVE_RSA_MAX_BITS) return undefined;
  if (bits > MAX_RSA_BITS) {
    throw new CosignError(
      "KEY_UNSUPPORTED",
      `Unsupported key in ${what}: RSA key size ${bits} is too large (at most ${MAX_RSA_BITS} bits)`,
    );
  }
  const e = toBigInt(exponent);
  if (!(modulus.at(-1)! & 1) || e < 3n || e >= 1n << 31n || !(e & 1n)) return undefined;
  return new LargeRsaPublicKey(modulus, exponent);
}

/**
 * RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2) of `signature` over a message whose `hash`
 * digest is `digest`.
 * @returns whether the signature verifies
 */
export function verifyRsaPkcs1v15(
  key: LargeRsaPublicKey,
  hash: RsaHash,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  const k = key.byteLength;
  if (signature.length !== k) return false;
  const s = toBigInt(signature);
  if (s >= key.n) return false;
  const encoded = toBytes(modPow(s, key.e, key.n), k);
  const t = concatBytes(Uint8Array.fromHex(DIGEST_INFO_PREFIX[hash]), digest);
  if (k < t.length + 11) return false;
  const expected = new Uint8Array(k).fill(0xff);
  expected[0] = 0x00;
  expected[1] = 0x01;
  expected[k - t.length - 1] = 0x00;
  expected.set(t, k - t.length);
  let diff = 0;
  for (let i = 0; i < k; i++) diff |= encoded[i]! ^ expected[i]!;
  return diff === 0;
}
