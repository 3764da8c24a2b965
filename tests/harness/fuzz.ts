/**
 * Deterministic mutation fuzzing for the parsers (see `tests/fuzz_parsers_test.ts`): a seeded
 * PRNG, byte, text, DER-tree and JSON mutators that start from real fixtures, and a runner that
 * sorts every outcome into "parsed", "typed error" (a `CosignError` with a one-line message) and
 * "internal error" (anything else: a `TypeError`, a `RangeError`, a stack overflow, a plain
 * `Error`, or a `CosignError` spanning several lines).
 * @module
 */

import { CosignError } from "../../lib/errors.ts";

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same inputs on every run. */
export class Rng {
  #s: number;
  /** @param seed any 32-bit integer */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  /** A size that is usually small and sometimes large. */
  size(): number {
    const r = this.int(100);
    return r < 70 ? this.int(8) + 1 : r < 95 ? this.int(64) + 1 : this.int(4096) + 1;
  }
}

const INTERESTING = [
  0x00,
  0x01,
  0x02,
  0x04,
  0x05,
  0x06,
  0x0c,
  0x13,
  0x17,
  0x18,
  0x1f,
  0x20,
  0x30,
  0x31,
  0x7f,
  0x80,
  0x81,
  0x82,
  0x83,
  0x84,
  0x85,
  0x88,
  0xa0,
  0xa3,
  0xff,
];

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concatList(parts);
}

function concatList(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One random byte-level mutation of `input` (never modifies it); `corpus` feeds splices. */
export function mutateBytes(
  rng: Rng,
  input: Uint8Array,
  corpus: readonly Uint8Array[] = [],
): Uint8Array<ArrayBuffer> {
  const b = input.slice();
  const at = () => rng.int(b.length + 1);
  switch (rng.int(12)) {
    case 0: { // flip bits
      if (b.length === 0) return rng.bytes(rng.size());
      for (let n = rng.int(4) + 1; n > 0; n--) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return b;
    }
    case 1: { // interesting byte values
      if (b.length === 0) return new Uint8Array([rng.pick(INTERESTING)]);
      for (let n = rng.int(3) + 1; n > 0; n--) b[rng.int(b.length)] = rng.pick(INTERESTING);
      return b;
    }
    case 2: // truncate
      return b.slice(0, rng.int(b.length + 1));
    case 3: // drop a prefix
      return b.slice(rng.int(b.length + 1));
    case 4: { // insert random bytes
      const i = at();
      return concat(b.subarray(0, i), rng.bytes(rng.size()), b.subarray(i));
    }
    case 5: { // delete a range
      const i = at(), j = Math.min(b.length, i + rng.size());
      return concat(b.subarray(0, i), b.subarray(j));
    }
    case 6: { // duplicate a range in place
      const i = at(), j = Math.min(b.length, i + rng.size());
      return concat(b.subarray(0, j), b.subarray(i, j), b.subarray(j));
    }
    case 7: { // splice with another sample
      const other = corpus.length ? rng.pick(corpus) : rng.bytes(rng.size());
      return concat(b.subarray(0, at()), other.subarray(rng.int(other.length + 1)));
    }
    case 8: { // overwrite a range with another sample's bytes
      const other = corpus.length ? rng.pick(corpus) : rng.bytes(rng.size());
      const i = at(), len = Math.min(rng.size(), other.length, b.length - i);
      const from = rng.int(other.length - len + 1);
      b.set(other.subarray(from, from + len), i);
      return b;
    }
    case 9: // random bytes
      return rng.bytes(rng.size());
    case 10: { // a byte repeated many times (long runs, huge lengths)
      const i = at();
      const run = new Uint8Array(rng.chance(0.02) ? 70_000 : rng.size()).fill(
        rng.pick(INTERESTING),
      );
      return concat(b.subarray(0, i), run, b.subarray(i));
    }
    default: { // increment/decrement one byte (length fields, counts)
      if (b.length === 0) return b;
      const i = rng.int(b.length);
      b[i] = (b[i]! + (rng.chance(0.5) ? 1 : 255)) & 0xff;
      return b;
    }
  }
}

/** Characters that tend to matter to text parsers. */
const TEXT_PIECES = [
  "\n",
  "\r\n",
  "\n\n",
  " ",
  "\t",
  "\u0000",
  "\u001b",
  "\u2014",
  "\u00e9",
  "\ud800",
  "😀",
  "—",
  "-",
  "--",
  "-----",
  "-----BEGIN ",
  "-----END ",
  "CERTIFICATE",
  "PUBLIC KEY",
  ":",
  "::",
  "/",
  "//",
  "@",
  "@sha256:",
  "sha256:",
  ".",
  "..",
  "_",
  "__",
  "+",
  "=",
  "==",
  "\\",
  '"',
  "[",
  "]",
  "{",
  "}",
  "0",
  "9",
  "a",
  "Z",
  "localhost",
  "localhost:5000",
  "docker.io",
  "—",
  "%",
  "?",
  "#",
  "\u00a0",
  "\ufeff",
  "\u2028",
  "0x",
  "-1",
  "18446744073709551616",
  "99999999999999999999",
];

/** One random text-level mutation of `input`; `corpus` feeds splices. */
export function mutateText(rng: Rng, input: string, corpus: readonly string[] = []): string {
  const at = () => rng.int(input.length + 1);
  switch (rng.int(10)) {
    case 0: { // insert an interesting piece
      const i = at();
      return input.slice(0, i) + rng.pick(TEXT_PIECES) + input.slice(i);
    }
    case 1: { // delete a range
      const i = at();
      return input.slice(0, i) + input.slice(i + rng.size());
    }
    case 2: // truncate
      return input.slice(0, at());
    case 3: { // replace one character
      const i = rng.int(Math.max(1, input.length));
      return input.slice(0, i) + rng.pick(TEXT_PIECES) + input.slice(i + 1);
    }
    case 4: { // duplicate, drop or swap lines
      const lines = input.split("\n");
      const i = rng.int(lines.length), j = rng.int(lines.length);
      const op = rng.int(3);
      if (op === 0) lines.splice(i, 0, lines[j]!);
      else if (op === 1) lines.splice(i, 1);
      else [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join("\n");
    }
    case 5: { // splice with another sample
      const other = corpus.length ? rng.pick(corpus) : "";
      return input.slice(0, at()) + other.slice(rng.int(other.length + 1));
    }
    case 6: { // long run
      const i = at();
      const n = rng.chance(0.02) ? 100_000 : rng.size();
      return input.slice(0, i) + rng.pick(TEXT_PIECES).repeat(n) + input.slice(i);
    }
    case 7: { // bytes mutated, decoded back as UTF-8 (with replacement characters)
      const bytes = mutateBytes(rng, new TextEncoder().encode(input));
      return new TextDecoder().decode(bytes);
    }
    case 8: { // change case of a range
      const i = at(), j = i + rng.size();
      const part = input.slice(i, j);
      return input.slice(0, i) +
        (rng.chance(0.5) ? part.toUpperCase() : part.toLowerCase()) + input.slice(j);
    }
    default: { // random printable string
      let s = "";
      for (let n = rng.size(); n > 0; n--) s += String.fromCharCode(0x20 + rng.int(95));
      return s;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// DER trees: mutations that keep lengths consistent, so they reach deep into a structure.

/** A DER node: a constructed element with children, or a primitive with its content. */
export type DerNode = { tag: number; kids: DerNode[] } | { tag: number; bytes: Uint8Array };

function readLen(b: Uint8Array, i: number): [number, number] | undefined {
  if (i >= b.length) return undefined;
  const first = b[i]!;
  if (first < 0x80) return [first, i + 1];
  const n = first & 0x7f;
  if (n === 0 || n > 4 || i + 1 + n > b.length) return undefined;
  let len = 0;
  for (let k = 0; k < n; k++) len = len * 256 + b[i + 1 + k]!;
  return [len, i + 1 + n];
}

/** Parses DER into a tree; `undefined` when it is not well-formed (then mutate bytes instead). */
export function derTree(b: Uint8Array, depth = 0): DerNode[] | undefined {
  const out: DerNode[] = [];
  let i = 0;
  while (i < b.length) {
    const tag = b[i]!;
    const l = readLen(b, i + 1);
    if (!l || l[1] + l[0] > b.length) return undefined;
    const body = b.subarray(l[1], l[1] + l[0]);
    const kids = tag & 0x20 && depth < 40 ? derTree(body, depth + 1) : undefined;
    out.push(kids ? { tag, kids } : { tag, bytes: body });
    i = l[1] + l[0];
  }
  return out;
}

function encLen(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

/** Encodes a tree back to DER. */
export function derEncode(nodes: readonly DerNode[]): Uint8Array<ArrayBuffer> {
  return concatList(nodes.map((n) => {
    const body = "kids" in n ? derEncode(n.kids) : n.bytes;
    return concat(new Uint8Array([n.tag]), encLen(body.length), body);
  }));
}

function allNodes(nodes: DerNode[], out: { list: DerNode[]; i: number }[] = []) {
  nodes.forEach((n, i) => {
    out.push({ list: nodes, i });
    if ("kids" in n) allNodes(n.kids, out);
  });
  return out;
}

function cloneTree(nodes: readonly DerNode[]): DerNode[] {
  return nodes.map((n) => "kids" in n ? { tag: n.tag, kids: cloneTree(n.kids) } : { ...n });
}

/**
 * One structure-aware mutation of DER: a node's content mutated, replaced by a node of another
 * sample, deleted, duplicated, retagged, or an integer/time/OID made extreme, with every
 * enclosing length recomputed. Falls back to {@link mutateBytes} when `input` is not DER.
 */
export function mutateDer(
  rng: Rng,
  input: Uint8Array,
  corpus: readonly Uint8Array[] = [],
): Uint8Array<ArrayBuffer> {
  const tree = derTree(input);
  if (!tree || rng.chance(0.2)) return mutateBytes(rng, input, corpus);
  const t = cloneTree(tree);
  const nodes = allNodes(t);
  if (nodes.length === 0) return mutateBytes(rng, input, corpus);
  const { list, i } = rng.pick(nodes);
  const node = list[i]!;
  switch (rng.int(8)) {
    case 0: { // mutate a primitive's content
      const bytes = "bytes" in node ? node.bytes : derEncode(node.kids);
      list[i] = { tag: node.tag, bytes: mutateBytes(rng, bytes, corpus) };
      break;
    }
    case 1: { // replace with a node from another sample
      const other = derTree(corpus.length ? rng.pick(corpus) : input);
      const pool = other ? allNodes(other) : [];
      if (pool.length) {
        const o = rng.pick(pool);
        list[i] = o.list[o.i]!;
      }
      break;
    }
    case 2: // delete
      list.splice(i, 1);
      break;
    case 3: // duplicate
      list.splice(i, 0, node);
      break;
    case 4: // retag
      list[i] = {
        ...node,
        tag: rng.chance(0.5) ? rng.pick(INTERESTING) : node.tag ^ (1 << rng.int(8)),
      };
      break;
    case 5: { // extreme primitive contents
      const choices = [
        new Uint8Array(),
        new Uint8Array([0]),
        new Uint8Array([0xff]),
        new Uint8Array([0x80, 0]),
        new Uint8Array(40).fill(0xff),
        new Uint8Array([0, 0, 0, 1]),
        new TextEncoder().encode("99991231235959Z"),
        new TextEncoder().encode("500101000000Z"),
        new TextEncoder().encode("20240230000000Z"),
        new Uint8Array([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        rng.bytes(rng.size()),
      ];
      list[i] = { tag: node.tag, bytes: rng.pick(choices) };
      break;
    }
    case 6: // empty a constructed node
      list[i] = "kids" in node
        ? { tag: node.tag, kids: [] }
        : { tag: node.tag, bytes: new Uint8Array() };
      break;
    default: { // wrap in an extra SEQUENCE / explicit tag
      list[i] = { tag: rng.pick([0x30, 0x31, 0xa0, 0xa3, 0x04]), kids: [node] };
    }
  }
  return derEncode(t);
}

// ---------------------------------------------------------------------------------------------
// JSON: structured mutations, recursing into base64 fields that hold JSON or DER.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function isB64(s: string): boolean {
  return s.length >= 8 && s.length % 4 === 0 && B64_RE.test(s);
}

/** Stands for deeply nested arrays, written into the text after serialising (see below). */
const DEEP = "__fuzz_deep_nesting__";

function deepText(rng: Rng): string {
  const n = rng.chance(0.1) ? 100_000 : 50;
  const [open, close] = rng.chance(0.5) ? ["[", "]"] : ['{"a":', "}"];
  return open.repeat(n) + "0" + close.repeat(n);
}

function randomValue(rng: Rng): Json {
  return rng.pick<() => Json>([
    () => null,
    () => true,
    () => false,
    () => 0,
    () => -1,
    () => 1.5,
    () => 2 ** 53 + 2,
    () => -(2 ** 63),
    () => 1e308,
    () => "",
    () => "x",
    () => "-1",
    () => "18446744073709551616",
    () => "9223372036854775807",
    () => "2024-01-01T00:00:00Z",
    () => "AAAA",
    () => "not base64!",
    () => rng.bytes(rng.size()).toBase64(),
    () => "A".repeat(rng.chance(0.05) ? 5_000_000 : rng.size()),
    () => [],
    () => {
      return {};
    },
    () => [null],
    () => ({ "": null }),
    () => DEEP,
  ])();
}

interface Slot {
  get(): Json;
  set(v: Json): void;
  remove(): void;
  container: Json[] | { [k: string]: Json };
}

function slots(v: Json, out: Slot[] = [], depth = 0): Slot[] {
  if (depth > 64 || v === null || typeof v !== "object") return out;
  if (Array.isArray(v)) {
    v.forEach((_, i) => {
      out.push({
        get: () => v[i]!,
        set: (x) => (v[i] = x),
        remove: () => v.splice(i, 1),
        container: v,
      });
      slots(v[i]!, out, depth + 1);
    });
  } else {
    for (const k of Object.keys(v)) {
      out.push({
        get: () => v[k]!,
        set: (x) => (v[k] = x),
        remove: () => delete v[k],
        container: v,
      });
      slots(v[k]!, out, depth + 1);
    }
  }
  return out;
}

/** Hooks for {@link mutateJson}: how to mutate bytes found base64-encoded in a string. */
export interface JsonMutateOptions {
  /** Mutates decoded bytes (default: DER-aware when they look like DER, else bytes). */
  bytes?: (rng: Rng, b: Uint8Array) => Uint8Array;
  /** Other JSON documents to take values from. */
  corpus?: readonly Json[];
}

function mutateString(rng: Rng, s: string, opts: JsonMutateOptions): string {
  if (s.startsWith("{") && rng.chance(0.7)) {
    // JSON inside a string (an annotation holding a bundle): mutated as JSON.
    try {
      return JSON.stringify(mutateJsonValue(rng, JSON.parse(s) as Json, opts));
    } catch { /* not JSON after all */ }
  }
  if (isB64(s) && rng.chance(0.8)) {
    const raw = Uint8Array.fromBase64(s);
    const text = new TextDecoder().decode(raw);
    if ((text.startsWith("{") || text.startsWith("[")) && rng.chance(0.8)) {
      try {
        const inner = JSON.parse(text) as Json;
        let innerText = JSON.stringify(mutateJsonValue(rng, inner, opts));
        if (innerText.includes(DEEP)) {
          innerText = innerText.replaceAll(`"${DEEP}"`, () => deepText(rng));
        }
        return new TextEncoder().encode(innerText).toBase64();
      } catch { /* not JSON after all */ }
    }
    if (/^[\t\n\r -~]*$/.test(text) && text.length > 0 && rng.chance(0.7)) {
      // base64 of text (a checkpoint, a PEM block)
      return new TextEncoder().encode(mutateText(rng, text)).toBase64();
    }
    const mutated = opts.bytes ? opts.bytes(rng, raw) : mutateDer(rng, raw);
    const enc = mutated.toBase64();
    return rng.chance(0.1) ? enc.replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_") : enc;
  }
  if (s.includes("\n") && rng.chance(0.7)) return mutateText(rng, s); // a checkpoint, a PEM
  return rng.chance(0.5) ? mutateText(rng, s) : String(randomValue(rng));
}

function mutateJsonValue(rng: Rng, root: Json, opts: JsonMutateOptions): Json {
  const doc = structuredClone(root);
  const all = slots(doc);
  if (all.length === 0) return randomValue(rng);
  for (let n = rng.int(3) + 1; n > 0; n--) {
    const s = rng.pick(all);
    const v = s.get();
    switch (rng.int(9)) {
      case 0:
        s.set(randomValue(rng));
        break;
      case 1:
        s.remove();
        break;
      case 2: // an unknown key, or an extra element
        if (Array.isArray(s.container)) s.container.push(structuredClone(v));
        else {s.container[rng.pick(["unknown", "extra", "kind", "mediaType", "Payload"])] =
            randomValue(rng);}
        break;
      case 3: { // a value from elsewhere (this document or another)
        const pool = opts.corpus?.length && rng.chance(0.5)
          ? slots(structuredClone(rng.pick(opts.corpus)))
          : all;
        if (pool.length) s.set(structuredClone(rng.pick(pool).get()));
        break;
      }
      case 4: // numbers: off by one, negative, huge, as strings
        if (typeof v === "number") s.set(rng.pick([v + 1, v - 1, -v, v * 2 ** 40, String(v)]));
        else if (typeof v === "string" && /^-?\d+$/.test(v)) {
          s.set(rng.pick([String(BigInt(v) + 1n), String(-BigInt(v) - 1n), v + "0", Number(v)]));
        } else s.set(randomValue(rng));
        break;
      case 5: // arrays: empty, doubled
        if (Array.isArray(v)) s.set(rng.chance(0.5) ? [] : [...v, ...structuredClone(v)]);
        else s.set([v]);
        break;
      default:
        if (typeof v === "string") s.set(mutateString(rng, v, opts));
        else s.set(randomValue(rng));
    }
  }
  return doc;
}

/**
 * One structured mutation of a JSON document (a value replaced, removed, duplicated, added;
 * base64 strings decoded, mutated as JSON, text or DER, and re-encoded), serialised; sometimes
 * also a text mutation of the serialised form (invalid JSON, duplicated keys).
 */
export function mutateJson(rng: Rng, doc: Json, opts: JsonMutateOptions = {}): string {
  let text = JSON.stringify(mutateJsonValue(rng, doc, opts));
  if (text.includes(DEEP)) text = text.replaceAll(`"${DEEP}"`, () => deepText(rng));
  if (rng.chance(0.1)) {
    // A duplicated member: JSON.parse keeps the last, Go's decoder too; strict parsers refuse.
    const i = text.indexOf("{");
    if (i >= 0 && rng.chance(0.5)) {
      return text.slice(0, i + 1) + text.slice(i + 1).replace(/^("[^"]*":[^,{}[\]]*,)/, "$1$1");
    }
    return mutateText(rng, text);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// The runner

/** An input that ended in an internal error. */
export interface Finding {
  /** The input's index in the run (regenerate it with the same seed). */
  index: number;
  /** `Name: message` of what was thrown (first line). */
  error: string;
  /** The input, shortened for the report. */
  input: string;
}

/** What a fuzz run saw. */
export interface FuzzReport {
  /** Inputs run. */
  runs: number;
  /** Inputs that parsed. */
  parsed: number;
  /** Inputs refused with a typed one-line error, by code. */
  typed: Record<string, number>;
  /** Inputs that ended in anything else. */
  internal: Finding[];
}

function show(input: unknown): string {
  const s = input instanceof Uint8Array
    ? input.subarray(0, 200).toHex()
    : typeof input === "string"
    ? JSON.stringify(input.slice(0, 300))
    : typeof input === "object" && input !== null && "text" in input
    ? JSON.stringify(String(input.text).slice(0, 300))
    : JSON.stringify(input, (_, v) => v instanceof Uint8Array ? v.subarray(0, 100).toHex() : v)
      ?.slice(0, 300) ?? String(input);
  return s.length > 400 ? s.slice(0, 400) + "…" : s;
}

/** Whether `e` is the typed one-line error a parser may throw. */
export function isTypedError(e: unknown): e is CosignError {
  return e instanceof CosignError && !e.message.includes("\n") && e.message.length > 0;
}

/**
 * Runs `check` on `count` inputs from `generate` (seeded by `seed`). `check` returns normally
 * when the parser accepted the input (after any property assertions of its own) and throws
 * what the parser threw otherwise.
 */
export async function fuzz<T>(
  seed: number,
  count: number,
  generate: (rng: Rng, index: number) => T,
  check: (input: T) => unknown,
): Promise<FuzzReport> {
  // FUZZ_SEED=n explores other inputs (the default, 0, is what CI runs).
  const rng = new Rng(seed ^ Number(Deno.env.get("FUZZ_SEED") ?? 0));
  const report: FuzzReport = { runs: 0, parsed: 0, typed: {}, internal: [] };
  for (let i = 0; i < count; i++) {
    const input = generate(rng, i);
    report.runs++;
    try {
      const r = check(input);
      if (r instanceof Promise) await r;
      report.parsed++;
    } catch (e) {
      if (isTypedError(e)) report.typed[e.code] = (report.typed[e.code] ?? 0) + 1;
      else {
        const err = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        report.internal.push({
          index: i,
          error: JSON.stringify(err.slice(0, 300)),
          input: show(input),
        });
      }
    }
  }
  return report;
}

/** Fails with the distinct internal errors of a report (one example each). */
export function assertNoInternalErrors(name: string, r: FuzzReport): void {
  if (Deno.env.get("FUZZ_VERBOSE")) {
    console.log(`${name}: ${r.runs} runs, ${r.parsed} parsed, refused ${JSON.stringify(r.typed)}`);
  }
  if (r.internal.length === 0) return;
  const seen = new Map<string, Finding>();
  for (const f of r.internal) {
    const key = f.error.replace(/\d+/g, "N").slice(0, 120);
    if (!seen.has(key)) seen.set(key, f);
  }
  const lines = [...seen.values()].slice(0, 15).map((f) =>
    `  #${f.index}: ${f.error}\n      input: ${f.input}`
  );
  throw new Error(
    `${name}: ${r.internal.length} of ${r.runs} inputs ended in an internal error ` +
      `(${seen.size} distinct):\n${lines.join("\n")}`,
  );
}
