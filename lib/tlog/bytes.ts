/**
 * Small byte helpers shared by the transparency-log primitives: decoding protojson `bytes`
 * values, SHA-256, comparison and integer coercion.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError, type ErrorCode } from "../errors.ts";

const URL_SAFE = /[-_]/;
const STANDARD = /[+/]/;
const PROTO_BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes a protojson `bytes` value the way protobuf's JSON mapping accepts it: standard or
 * URL-safe base64, with or without padding (but not both alphabets in one value).
 * @returns the bytes, or `undefined` when `text` is not base64
 */
export function decodeProtoBytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!PROTO_BASE64.test(text)) return undefined;
  if (URL_SAFE.test(text) && STANDARD.test(text)) return undefined;
  const bare = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (bare.length % 4 === 1) return undefined;
  const padded = bare + "=".repeat((4 - (bare.length % 4)) % 4);
  if (text.includes("=") && padded.length !== text.length) return undefined;
  try {
    return Uint8Array.fromBase64(padded);
  } catch {
    return undefined;
  }
}

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** True when `a` and `b` hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Coerces a non-negative integer given as a number, bigint or decimal string (protojson int64)
 * to a bigint.
 * @throws {CosignError} with `code` when the value is not a non-negative integer
 */
export function toUint(
  value: number | bigint | string,
  what: string,
  code: ErrorCode,
): bigint {
  let n: bigint | undefined;
  if (typeof value === "bigint") n = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === "string" && /^-?[0-9]+$/.test(value)) n = BigInt(value);
  if (n === undefined) {
    throw new CosignError(code, `Invalid ${what}: expected an integer, found ${String(value)}`);
  }
  if (n < 0n) {
    throw new CosignError(code, `Invalid ${what}: expected a non-negative integer, found ${n}`);
  }
  return n;
}
