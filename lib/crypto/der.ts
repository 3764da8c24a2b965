/**
 * A minimal DER reader: just enough ASN.1 to check that a signature is a DER
 * `SEQUENCE { INTEGER r, INTEGER s }` and to find the SubjectPublicKeyInfo inside an
 * X.509 certificate. Fails fast on anything malformed.
 * @module
 */

/** One DER element: its tag, where its content lies, and where the next element starts. */
export interface DerElement {
  tag: number;
  /** Offset of the content within the buffer. */
  start: number;
  /** Offset just past the content. */
  end: number;
  /** Offset of the element's first (tag) byte. */
  headerStart: number;
}

/** Reads the DER element at `offset`; returns `undefined` when it is malformed or overruns `limit`. */
export function readElement(
  buf: Uint8Array,
  offset: number,
  limit = buf.length,
): DerElement | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) return undefined; // high-tag-number form: not used by our formats
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    if (len < 0x80 || buf[start] === 0) return undefined; // not minimal: not DER
    start += n;
  }
  const end = start + len;
  if (end > limit) return undefined;
  return { tag, start, end, headerStart: offset };
}

/** The children of a constructed element. Returns `undefined` when any child is malformed. */
export function children(buf: Uint8Array, el: DerElement): DerElement[] | undefined {
  const out: DerElement[] = [];
  let at = el.start;
  while (at < el.end) {
    const c = readElement(buf, at, el.end);
    if (!c) return undefined;
    out.push(c);
    at = c.end;
  }
  return out;
}

function isDerPositiveInteger(buf: Uint8Array, el: DerElement): boolean {
  if (el.tag !== 0x02 || el.end === el.start) return false;
  const first = buf[el.start]!;
  if (first & 0x80) return false; // negative
  if (first === 0 && el.end - el.start > 1 && !(buf[el.start + 1]! & 0x80)) return false; // not minimal
  return !(first === 0 && el.end - el.start === 1); // zero is not a valid r or s
}

/** True when `sig` is exactly a DER `SEQUENCE { INTEGER r, INTEGER s }` with positive integers. */
export function isDerEcdsaSignature(sig: Uint8Array): boolean {
  const seq = readElement(sig, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== sig.length) return false;
  const parts = children(sig, seq);
  return parts !== undefined && parts.length === 2 &&
    parts.every((p) => isDerPositiveInteger(sig, p));
}

/**
 * Extracts the DER SubjectPublicKeyInfo from a DER X.509 certificate.
 * @returns the SPKI bytes, or `undefined` when `cert` is not a certificate
 */
export function certificateSpki(cert: Uint8Array): Uint8Array | undefined {
  const outer = readElement(cert, 0);
  if (!outer || outer.tag !== 0x30) return undefined;
  const [tbs] = children(cert, outer) ?? [];
  if (!tbs || tbs.tag !== 0x30) return undefined;
  const fields = children(cert, tbs);
  if (!fields) return undefined;
  // [0] version (optional), serial, signature alg, issuer, validity, subject, SPKI
  const skip = fields[0]?.tag === 0xa0 ? 1 : 0;
  const spki = fields[skip + 5];
  if (!spki || spki.tag !== 0x30) return undefined;
  return cert.subarray(spki.headerStart, spki.end);
}

function derLength(n: number): number[] {
  return n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
}

function derInteger(bytes: Uint8Array): number[] {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = [...bytes.subarray(i)];
  if (v[0]! & 0x80) v.unshift(0);
  return [0x02, ...derLength(v.length), ...v];
}

/**
 * Converts an IEEE P1363 ECDSA signature (`r‖s`, each half the curve's size, as Azure Key
 * Vault and WebCrypto give it) to DER `SEQUENCE { INTEGER r, INTEGER s }`.
 * @returns the DER signature, or `undefined` when `raw` has an odd length or is empty
 */
export function p1363ToDer(raw: Uint8Array): Uint8Array<ArrayBuffer> | undefined {
  if (raw.length === 0 || raw.length % 2 !== 0) return undefined;
  const half = raw.length / 2;
  const body = [...derInteger(raw.subarray(0, half)), ...derInteger(raw.subarray(half))];
  return new Uint8Array([0x30, ...derLength(body.length), ...body]);
}
