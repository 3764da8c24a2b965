/**
 * Small byte helpers shared by the transparency-log primitives: decoding protojson `bytes`
 * values, SHA-256, comparison and integer coercion.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError, type ErrorCode } from "../errors.ts";

export { decodeProtoBytes } from "../crypto/encoding.ts";

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
