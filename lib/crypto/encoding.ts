/**
 * Byte encodings used by cosign's formats: standard base64 with padding (Go's `[]byte` JSON
 * encoding) and lowercase hex.
 * @module
 */

// Linear and without backtracking into groups: a group repeated per quartet, as in
// /^(?:[A-Za-z0-9+/]{4})*…$/, overflows V8's regexp stack on about 4 MB of text.
const BASE64_CHARS_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Encodes bytes as standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/**
 * Decodes standard base64 with padding; returns `undefined` when `text` is not exactly that.
 * Linear in the length of `text`, whatever its size.
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  // Alphabet, then at most two "=", in whole quartets: the padding is then where it belongs.
  if (text.length % 4 !== 0 || !BASE64_CHARS_RE.test(text)) return undefined;
  try {
    return Uint8Array.fromBase64(text);
  } catch {
    return undefined;
  }
}

/** Encodes bytes as lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return bytes.toHex();
}

/** UTF-8 encodes a string. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text);
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const URL_SAFE = /[-_]/;
const STANDARD = /[+/]/;
const PROTO_BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes a protojson `bytes` value the way protobuf's JSON mapping accepts it: standard or
 * URL-safe base64, with or without padding (but not both alphabets in one value).
 * @returns the bytes, or `undefined` when `text` is not base64
 */
export function decodeProtoBytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  // Standard padded base64, the common case, is decoded without copying the text.
  const std = fromBase64(text);
  if (std !== undefined) return std;
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
