/**
 * Support for the differential tests (`tests/differential_*_test.ts`): the certificates and
 * RFC 3161 timestamps found in the shared fixtures, a seeded PRNG, and DER mutations (bit flips,
 * truncations, and field edits that keep the encoding well formed so that the parsers are
 * reached past their DER layer).
 *
 * Nothing here parses X.509 or CMS for the comparison: the DER tree below only knows tags and
 * lengths, so that edits land on a chosen element and the lengths around it stay right.
 * @module
 */

import { FIXTURES } from "../helpers.ts";

/** A seeded PRNG (mulberry32): the same seed gives the same corpus on every run. */
export class Rng {
  #state: number;
  /** @param seed any 32-bit integer */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Where a DER blob came from in the fixtures. */
export interface FixtureBlob {
  /** Fixture file (relative to the fixtures folder) and JSON path of the first occurrence. */
  readonly source: string;
  readonly der: Uint8Array;
}

/** Certificates and timestamps found in the fixtures' JSON files, each distinct blob once. */
export interface FixtureCorpus {
  readonly certificates: readonly FixtureBlob[];
  readonly timestamps: readonly FixtureBlob[];
}

/**
 * Walks every `.json` file under the fixtures: certificates are the `rawBytes` of a bundle's
 * `verificationMaterial.certificate`, of `x509CertificateChain.certificates[]` and of trusted
 * roots' `certChain.certificates[]` (not `publicKey.rawBytes`, which are keys); timestamps are
 * `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`. Blobs that are not valid
 * base64 (a conformance case breaks one on purpose) are skipped.
 */
export async function fixtureCorpus(dir: string = FIXTURES): Promise<FixtureCorpus> {
  const certs = new Map<string, FixtureBlob>();
  const stamps = new Map<string, FixtureBlob>();
  const add = (into: Map<string, FixtureBlob>, b64: unknown, source: string) => {
    if (typeof b64 !== "string" || into.has(b64)) return;
    let der: Uint8Array;
    try {
      der = Uint8Array.fromBase64(b64);
    } catch {
      return;
    }
    if (der.length > 0) into.set(b64, { source, der });
  };
  const walk = (v: unknown, path: string, file: string, parent: string) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`, file, parent));
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        const here = `${path}.${k}`;
        if (k === "rawBytes" && parent !== "publicKey") add(certs, x, file + here);
        else if (k === "signedTimestamp") add(stamps, x, file + here);
        else walk(x, here, file, k);
      }
    }
  };
  const files: string[] = [];
  const list = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await list(`${d}${e.name}/`);
      else if (e.name.endsWith(".json")) files.push(d + e.name);
    }
  };
  await list(dir);
  files.sort();
  for (const f of files) {
    let json: unknown;
    try {
      json = JSON.parse(await Deno.readTextFile(f));
    } catch {
      continue; // a conformance case holds broken JSON on purpose
    }
    walk(json, "", f.slice(dir.length), "");
  }
  // The certificates RFC 3161 tokens embed (SignedData.certificates) are certificates too.
  for (const ts of stamps.values()) {
    embeddedCertificates(ts.der).forEach((der, i) => {
      const b64 = der.toBase64();
      if (!certs.has(b64)) certs.set(b64, { source: `${ts.source} certificates[${i}]`, der });
    });
  }
  return { certificates: [...certs.values()], timestamps: [...stamps.values()] };
}

/**
 * The certificates embedded in a TimeStampToken or TimeStampResp, found by position only:
 * ContentInfo { type, [0] SignedData { version, digestAlgorithms, encapContentInfo,
 * [0] certificates, … } }, under the status of a TimeStampResp.
 */
export function embeddedCertificates(der: Uint8Array): Uint8Array[] {
  let top = derTree(der);
  if (top.children?.[0]?.tag === 0x30) top = top.children[1]!; // TimeStampResp: skip the status
  const signedData = top.children?.[1]?.children?.[0];
  const certs = signedData?.children?.find((c) => c.tag === 0xa0);
  return (certs?.children ?? []).filter((c) => c.tag === 0x30).map(derEncode);
}

// ---------------------------------------------------------------------------------------------
// A DER tree that knows only tags and lengths

/**
 * One element: its tag and either its children (constructed), or its content bytes, or (an
 * OCTET STRING whose content is one whole DER element, such as an extension value or a CMS
 * eContent) the element it encapsulates.
 */
export interface DerNode {
  tag: number;
  children?: DerNode[];
  content?: Uint8Array;
  inner?: DerNode;
}

function readNode(buf: Uint8Array, at: number, limit: number): { node: DerNode; end: number } {
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f || at + 2 > limit) throw new Error("unsupported DER");
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error("DER element overruns");
  if (tag & 0x20) {
    // A constructed element whose inside does not parse is kept as bytes (edits and removals
    // elsewhere still work; its own bytes come back unchanged).
    try {
      const children: DerNode[] = [];
      for (let p = start; p < end;) {
        const c = readNode(buf, p, end);
        children.push(c.node);
        p = c.end;
      }
      return { node: { tag, children }, end };
    } catch {
      return { node: { tag, content: buf.slice(start, end) }, end };
    }
  }
  if (tag === 0x04 && len >= 2) {
    // Only when the content re-encodes to itself: random bytes (a hash) that happen to parse
    // must come back unchanged.
    try {
      const inner = readNode(buf, start, end);
      const content = buf.subarray(start, end);
      if (inner.end === end && sameBytes(derEncode(inner.node), content)) {
        return { node: { tag, inner: inner.node }, end };
      }
    } catch {
      // not DER inside: plain bytes
    }
  }
  return { node: { tag, content: buf.slice(start, end) }, end };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Parses well-formed DER (the fixtures) into a tree; throws on anything else. */
export function derTree(der: Uint8Array): DerNode {
  const { node, end } = readNode(der, 0, der.length);
  if (end !== der.length) throw new Error("trailing bytes");
  return node;
}

/** Encodes a length in DER's minimal form. */
export function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** Encodes a tree back to DER (minimal lengths). */
export function derEncode(node: DerNode): Uint8Array {
  const body = node.children
    ? concat(node.children.map(derEncode))
    : node.inner
    ? derEncode(node.inner)
    : node.content ?? new Uint8Array();
  return concat([Uint8Array.of(node.tag, ...derLength(body.length)), body]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every node of the tree with its path of child indexes, depth first. */
export function derNodes(root: DerNode): { node: DerNode; path: number[] }[] {
  const out: { node: DerNode; path: number[] }[] = [];
  const visit = (n: DerNode, path: number[]) => {
    out.push({ node: n, path });
    n.children?.forEach((c, i) => visit(c, [...path, i]));
    if (n.inner) visit(n.inner, [...path, -1]);
  };
  visit(root, []);
  return out;
}

function clone(n: DerNode): DerNode {
  if (n.children) return { tag: n.tag, children: n.children.map(clone) };
  if (n.inner) return { tag: n.tag, inner: clone(n.inner) };
  return { tag: n.tag, content: n.content!.slice() };
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** A mutated input and what was done to it (for the failure report). */
export interface Mutant {
  readonly what: string;
  readonly der: Uint8Array;
}

/** Flips 1–3 random bits. */
export function flipBits(der: Uint8Array, rng: Rng): Mutant {
  const out = der.slice();
  const flips: string[] = [];
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const i = rng.int(out.length);
    const bit = rng.int(8);
    out[i]! ^= 1 << bit;
    flips.push(`${i}.${bit}`);
  }
  return { what: `bit flips at ${flips.join(", ")}`, der: out };
}

/** Cuts the input short, or appends a byte. */
export function truncate(der: Uint8Array, rng: Rng): Mutant {
  if (rng.int(8) === 0) {
    return { what: "one byte appended", der: concat([der, Uint8Array.of(rng.int(256))]) };
  }
  const n = rng.int(der.length);
  return { what: `truncated to ${n} of ${der.length} bytes`, der: der.subarray(0, n).slice() };
}

const TIME_EDITS = [
  "20240230120000Z", // 30 February
  "20241301000000Z",
  "2024010112000Z",
  "20240101120000+0100",
  "20240101120000.5Z",
  "99991231235959Z",
  "19491231235959Z",
];
const UTC_EDITS = [
  "240230120000Z",
  "2401011200Z",
  "240101120000",
  "491231235959Z",
  "500101000000Z",
];

/**
 * One structure-preserving edit of a random element, re-encoded with correct lengths: replace a
 * primitive's content (random bytes, empty, one byte longer/shorter, a non-minimal INTEGER, a
 * BOOLEAN other than 00/FF, another time), retag an element, drop, duplicate or swap children,
 * or wrap an element in a SEQUENCE.
 */
export function editField(der: Uint8Array, rng: Rng): Mutant {
  const root = clone(derTree(der));
  const nodes = derNodes(root).filter((n) => n.path.length > 0);
  const { node, path } = rng.pick(nodes);
  const at = `[${path.join(".")}] tag 0x${node.tag.toString(16)}`;
  let what: string;
  const kind = rng.int(10);
  if (node.children) {
    const kids = node.children;
    if (kind < 3 && kids.length > 0) {
      const i = rng.int(kids.length);
      kids.splice(i, 1);
      what = `dropped child ${i} of ${at}`;
    } else if (kind < 5 && kids.length > 0) {
      const i = rng.int(kids.length);
      kids.splice(i, 0, clone(kids[i]!));
      what = `duplicated child ${i} of ${at}`;
    } else if (kind < 7 && kids.length > 1) {
      const i = rng.int(kids.length - 1);
      [kids[i], kids[i + 1]] = [kids[i + 1]!, kids[i]!];
      what = `swapped children ${i} and ${i + 1} of ${at}`;
    } else if (kind < 8) {
      const inner = clone(node);
      node.tag = 0x30;
      node.children = [inner];
      what = `wrapped ${at} in a SEQUENCE`;
    } else {
      node.tag = rng.pick([0x30, 0x31, 0xa0, 0xa1, 0xa3, 0x04, 0x02]);
      if (!(node.tag & 0x20)) {
        node.content = derEncode({ tag: 0x30, children: kids });
        delete node.children;
      }
      what = `retagged ${at} as 0x${node.tag.toString(16)}`;
    }
  } else {
    const c = node.content ?? derEncode(node.inner!);
    delete node.inner;
    node.content = c;
    if (node.tag === 0x18 && kind < 5) {
      node.content = new TextEncoder().encode(rng.pick(TIME_EDITS));
      what = `${at} set to ${new TextDecoder().decode(node.content)}`;
    } else if (node.tag === 0x17 && kind < 5) {
      node.content = new TextEncoder().encode(rng.pick(UTC_EDITS));
      what = `${at} set to ${new TextDecoder().decode(node.content)}`;
    } else if (node.tag === 0x02 && kind < 3) {
      node.content = concat([Uint8Array.of(rng.pick([0x00, 0xff])), c]);
      what = `${at} given a redundant sign byte`;
    } else if (node.tag === 0x01 && kind < 5) {
      node.content = Uint8Array.of(rng.pick([0x00, 0x01, 0x7f, 0xff]), ...(kind === 0 ? [0] : []));
      what = `${at} set to ${Array.from(node.content).join(",")}`;
    } else if (kind < 2) {
      node.content = new Uint8Array();
      what = `${at} emptied`;
    } else if (kind < 4) {
      node.content = concat([c, Uint8Array.of(rng.int(256))]);
      what = `${at} one byte longer`;
    } else if (kind < 6 && c.length > 0) {
      node.content = c.subarray(0, c.length - 1).slice();
      what = `${at} one byte shorter`;
    } else if (kind < 8 && c.length > 0) {
      const i = rng.int(c.length);
      node.content = c.slice();
      node.content[i] = rng.int(256);
      what = `${at} byte ${i} set to ${node.content[i]}`;
    } else {
      node.tag = rng.pick([0x02, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x80, 0x81]);
      what = `retagged ${at} as 0x${node.tag.toString(16)}`;
    }
  }
  return { what, der: derEncode(root) };
}

/** `count` mutants of `der`, a mix of bit flips, truncations and field edits. */
export function mutants(der: Uint8Array, rng: Rng, count: number): Mutant[] {
  const out: Mutant[] = [];
  for (let i = 0; i < count; i++) {
    const r = rng.int(10);
    out.push(r < 3 ? flipBits(der, rng) : r < 4 ? truncate(der, rng) : editField(der, rng));
  }
  return out;
}
