/**
 * Byte encodings used by cosign's formats: standard base64 with padding (Go's `[]byte` JSON
 * encoding) and lowercase hex.
 * @module
 */

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Encodes bytes as standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/** Decodes standard base64 with padding; returns `undefined` when `text` is not exactly that. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!BASE64_RE.test(text)) return undefined;
  return Uint8Array.fromBase64(text);
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
