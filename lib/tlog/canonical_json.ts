/**
 * RFC 8785 JSON Canonicalization Scheme (JCS), as Rekor uses it for entry bodies and for the
 * Signed Entry Timestamp payload.
 *
 * - object members sorted by key, compared as UTF-16 code units; no whitespace;
 * - strings escaped as ECMAScript `JSON.stringify` does (only `"`, `\`, and U+0000–U+001F,
 *   the latter with the short forms `\b \t \n \f \r` where they exist, else `\u00xx`);
 *   everything else, including non-ASCII, is written literally;
 * - numbers serialized as ECMAScript `Number.prototype.toString` (so `1e+21`, `0.1`, `-0`→`0`).
 *
 * Extension: a `bigint` is written as its exact decimal digits. JCS itself models numbers as
 * IEEE-754 doubles, so this only agrees with other JCS implementations up to 2^53; it lets
 * callers pass protojson int64 values (log indices) without going through a double.
 * @module
 */

import { CosignError } from "../errors.ts";
import { utf8 } from "../crypto/encoding.ts";

/** A JSON value JCS can serialize. `undefined` object members are omitted. */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function fail(message: string): never {
  throw new CosignError("JSON_NOT_CANONICALIZABLE", message);
}

function writeString(s: string, where: string): string {
  if (LONE_SURROGATE.test(s)) {
    fail(`Cannot canonicalize JSON: lone surrogate in a string at ${where}`);
  }
  // ECMAScript JSON.stringify applies exactly the JCS string escaping rules.
  return JSON.stringify(s);
}

function compareUtf16(a: string, b: string): number {
  // The default string comparison compares UTF-16 code units, which is what JCS requires.
  return a < b ? -1 : a > b ? 1 : 0;
}

function write(value: unknown, where: string, out: string[]): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      if (!Number.isFinite(value)) {
        fail(`Cannot canonicalize JSON: ${value} at ${where} is not a finite number`);
      }
      out.push(JSON.stringify(value));
      return;
    case "bigint":
      out.push(value.toString());
      return;
    case "string":
      out.push(writeString(value, where));
      return;
    case "object":
      break;
    default:
      fail(`Cannot canonicalize JSON: a ${typeof value} at ${where} is not a JSON value`);
  }
  if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      if (item === undefined) {
        fail(`Cannot canonicalize JSON: undefined at ${where}[${i}] is not a JSON value`);
      }
      write(item, `${where}[${i}]`, out);
    });
    out.push("]");
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    fail(`Cannot canonicalize JSON: ${proto?.constructor?.name ?? "an object"} at ${where}`);
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort(compareUtf16);
  out.push("{");
  keys.forEach((k, i) => {
    if (i > 0) out.push(",");
    out.push(writeString(k, `${where} (a key)`), ":");
    write(record[k], `${where}.${k}`, out);
  });
  out.push("}");
}

/**
 * Serializes `value` as RFC 8785 canonical JSON text.
 * @throws {CosignError} `JSON_NOT_CANONICALIZABLE` for values JSON cannot hold (non-finite
 *   numbers, functions, class instances, `undefined` array items, lone surrogates)
 */
export function canonicalize(value: JsonValue): string {
  const out: string[] = [];
  write(value, "$", out);
  return out.join("");
}

/** {@link canonicalize}, UTF-8 encoded: the bytes that get hashed or signed. */
export function canonicalizeToBytes(value: JsonValue): Uint8Array<ArrayBuffer> {
  return utf8(canonicalize(value));
}
