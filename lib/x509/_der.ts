/**
 * Internal DER helpers for the X.509 modules (not exported by `mod.ts`): strict element
 * reading on top of `lib/crypto/der.ts`, OID and string decoding, and DER encoding of
 * re-assembled structures (the precertificate TBS of RFC 6962).
 * @module
 */

import { children, type DerElement, readElement } from "../crypto/der.ts";

/** DER tags used by X.509. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const;

/** Thrown by the helpers below; callers turn it into a typed error naming the thing parsed. */
export class DerError extends Error {
  /**
   * Creates a DER error.
   * @param message what was malformed
   */
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

/** Reads exactly one element spanning all of `buf[offset, limit)`, with tag `tag` when given. */
export function readWhole(
  buf: Uint8Array,
  what: string,
  tag?: number,
  offset = 0,
  limit = buf.length,
): DerElement {
  const el = readElement(buf, offset, limit);
  if (!el) throw new DerError(`${what} is not valid DER`);
  if (el.end !== limit) throw new DerError(`${what} has ${limit - el.end} trailing bytes`);
  if (tag !== undefined && el.tag !== tag) {
    throw new DerError(`${what} has tag 0x${hexByte(el.tag)}, expected 0x${hexByte(tag)}`);
  }
  return el;
}

/** The children of a constructed element; throws when any is malformed. */
export function kids(buf: Uint8Array, el: DerElement, what: string): DerElement[] {
  if ((el.tag & 0x20) === 0) throw new DerError(`${what} is not a constructed element`);
  const out = children(buf, el);
  if (!out) throw new DerError(`${what} holds malformed DER`);
  return out;
}

/** Asserts `el` has tag `tag`. */
export function expectTag(el: DerElement | undefined, tag: number, what: string): DerElement {
  if (!el) throw new DerError(`${what} is missing`);
  if (el.tag !== tag) {
    throw new DerError(`${what} has tag 0x${hexByte(el.tag)}, expected 0x${hexByte(tag)}`);
  }
  return el;
}

/** The content bytes of `el`. */
export function content(buf: Uint8Array, el: DerElement): Uint8Array {
  return buf.subarray(el.start, el.end);
}

/** The whole encoding (header and content) of `el`. */
export function encoded(buf: Uint8Array, el: DerElement): Uint8Array {
  return buf.subarray(el.headerStart, el.end);
}

/** Decodes an OBJECT IDENTIFIER's content into dotted form. */
export function decodeOid(bytes: Uint8Array, what = "object identifier"): string {
  if (bytes.length === 0) throw new DerError(`${what} is empty`);
  const arcs: number[] = [];
  let value = 0;
  let first = true;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (value === 0 && b === 0x80) throw new DerError(`${what} is not minimally encoded`);
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError(`${what} has an arc too large`);
    if (b & 0x80) {
      if (i === bytes.length - 1) throw new DerError(`${what} is truncated`);
      continue;
    }
    if (first) {
      const top = value < 40 ? 0 : value < 80 ? 1 : 2;
      arcs.push(top, value - top * 40);
      first = false;
    } else {
      arcs.push(value);
    }
    value = 0;
  }
  return arcs.join(".");
}

/** Reads an OBJECT IDENTIFIER element. */
export function readOid(buf: Uint8Array, el: DerElement | undefined, what: string): string {
  return decodeOid(content(buf, expectTag(el, TAG.OID, what)), what);
}

/** Reads a BOOLEAN element (DER: 0x00 or 0xff). */
export function readBoolean(buf: Uint8Array, el: DerElement, what: string): boolean {
  expectTag(el, TAG.BOOLEAN, what);
  const c = content(buf, el);
  if (c.length !== 1 || (c[0] !== 0 && c[0] !== 0xff)) {
    throw new DerError(`${what} is not a DER boolean`);
  }
  return c[0] === 0xff;
}

/** Reads a small non-negative INTEGER. */
export function readSmallInteger(
  buf: Uint8Array,
  el: DerElement | undefined,
  what: string,
): number {
  const c = content(buf, expectTag(el, TAG.INTEGER, what));
  if (c.length === 0 || c.length > 6) throw new DerError(`${what} is not a small integer`);
  if (c[0]! & 0x80) throw new DerError(`${what} is negative`);
  if (c.length > 1 && c[0] === 0 && !(c[1]! & 0x80)) {
    throw new DerError(`${what} is not minimally encoded`);
  }
  let n = 0;
  for (const b of c) n = n * 256 + b;
  return n;
}

/** Reads a BIT STRING with no unused bits (signatures, keys). */
export function readBitStringBytes(buf: Uint8Array, el: DerElement, what: string): Uint8Array {
  const c = content(buf, expectTag(el, TAG.BIT_STRING, what));
  if (c.length === 0 || c[0] !== 0) throw new DerError(`${what} is not a whole-byte bit string`);
  return c.subarray(1);
}

const LATIN1 = new TextDecoder("latin1");
/** X.680's PrintableString characters, plus `*` and `&` (seen in real certificates). */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?*&]$/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });
const UTF16BE = new TextDecoder("utf-16be", { fatal: true });

/** Decodes a string element of any of the ASN.1 string types X.509 names and extensions use. */
export function readString(buf: Uint8Array, el: DerElement, what: string): string {
  const c = content(buf, el);
  try {
    switch (el.tag) {
      case 0x0c: // UTF8String
        return UTF8.decode(c);
      case 0x12: // NumericString: digits and space (Go's crypto/x509 checks it)
        if (c.some((b) => b !== 0x20 && (b < 0x30 || b > 0x39))) {
          throw new DerError(`${what} is not a valid NumericString`);
        }
        return LATIN1.decode(c);
      case 0x13: // PrintableString, with '*' and '&' as Go's crypto/x509 allows
        if (c.some((b) => !PRINTABLE.test(String.fromCharCode(b)))) {
          throw new DerError(`${what} is not a valid PrintableString`);
        }
        return LATIN1.decode(c);
      case 0x16: // IA5String
      case 0x1a: // VisibleString
        if (c.some((b) => b > 0x7f)) throw new DerError(`${what} is not ASCII`);
        return LATIN1.decode(c);
      case 0x14: // T61String: treated as Latin-1, as Go does
        return LATIN1.decode(c);
      case 0x1e: // BMPString
        return UTF16BE.decode(c);
      case 0x1c: { // UniversalString (UTF-32BE)
        if (c.length % 4 !== 0) throw new DerError(`${what} is not UTF-32`);
        let s = "";
        for (let i = 0; i < c.length; i += 4) {
          s += String.fromCodePoint(
            ((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0,
          );
        }
        return s;
      }
    }
  } catch (e) {
    if (e instanceof DerError) throw e;
    throw new DerError(`${what} is not a valid string`);
  }
  throw new DerError(`${what} has tag 0x${hexByte(el.tag)}, which is not a string type`);
}

/** Decodes ASCII bytes (IA5String contents in GeneralName); throws on other bytes. */
export function ascii(bytes: Uint8Array, what: string): string {
  if (bytes.some((b) => b > 0x7f)) throw new DerError(`${what} is not ASCII`);
  return LATIN1.decode(bytes);
}

/** Encodes a DER element with a definite, minimal length. */
export function encodeElement(tag: number, body: Uint8Array): Uint8Array {
  const len = body.length;
  let header: number[];
  if (len < 0x80) {
    header = [tag, len];
  } else {
    const lenBytes: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) lenBytes.unshift(n & 0xff);
    header = [tag, 0x80 | lenBytes.length, ...lenBytes];
  }
  const out = new Uint8Array(header.length + len);
  out.set(header, 0);
  out.set(body, header.length);
  return out;
}

function hexByte(n: number): string {
  return n.toString(16).padStart(2, "0");
}
