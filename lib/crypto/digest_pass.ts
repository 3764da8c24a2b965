/**
 * One pass over a message that computes every digest a command needs (the signature's hash,
 * the transparency log's SHA-256), so each byte of a large blob is hashed once per algorithm.
 * Every place that hashes message bytes reports the pass to the debug trace
 * (`hash pass: <algorithms> over <n> bytes (<purpose>)`), which is how tests prove a blob is
 * read through one hash only.
 * @module
 */

import { createHash } from "node:crypto";
import { trace, tracing } from "../trace.ts";
import { concatBytes } from "./encoding.ts";
import type { MessageData } from "./signer.ts";

/** The digests of one pass, by algorithm, and the message length. */
export interface DigestPassResult {
  /** Each requested algorithm's digest. */
  digests: Map<string, Uint8Array>;
  /** The number of message bytes hashed. */
  length: number;
  /** The message itself, when `keepBytes` asked for it (pure Ed25519 signs whole messages). */
  bytes?: Uint8Array;
}

/**
 * Hashes `data` once with each of `algorithms` (duplicates count once).
 * @param data the message, in memory or streamed (chunks may reuse one buffer)
 * @param algorithms `node:crypto` hash names, such as `sha256`
 * @param options `keepBytes` also returns the message; `purpose` names the pass in the trace
 * @example
 * ```ts
 * import { digestPass } from "./digest_pass.ts";
 * const { digests } = await digestPass(new TextEncoder().encode("hi"), ["sha256", "sha384"]);
 * console.log(digests.get("sha256")!.toHex());
 * ```
 */
export async function digestPass(
  data: MessageData,
  algorithms: readonly string[],
  options: { keepBytes?: boolean; purpose?: string } = {},
): Promise<DigestPassResult> {
  const names = [...new Set(algorithms)];
  const hashes = names.map((n) => createHash(n));
  const kept: Uint8Array[] | undefined = options.keepBytes ? [] : undefined;
  let length = 0;
  for await (const c of data instanceof Uint8Array ? [data] : data) {
    for (const h of hashes) h.update(c);
    kept?.push(c.slice()); // producers may reuse their buffer
    length += c.length;
  }
  traceHashPass(names, length, options.purpose ?? "digest");
  const digests = new Map(names.map((n, i) => [n, new Uint8Array(hashes[i]!.digest())]));
  return { digests, length, ...(kept ? { bytes: concatBytes(...kept) } : {}) };
}

/**
 * Reports one hash pass over message bytes to the debug trace.
 * @param algorithms the hashes the bytes went through (empty: read whole, for pure Ed25519)
 * @param length how many bytes
 * @param purpose what the pass was for (`sign`, `verify`, `digest`)
 */
export function traceHashPass(
  algorithms: readonly string[],
  length: number,
  purpose: string,
): void {
  if (!tracing()) return;
  const what = algorithms.length > 0 ? algorithms.join("+") : "whole message";
  trace(`hash pass: ${what} over ${length} bytes (${purpose})`);
}

/**
 * Passes a stream through while hashing it with `algorithms` on the way, for a consumer that
 * reads it anyway (a signer or verifier with its own hash): the bytes are read once.
 * @param data the message stream (chunks may reuse one buffer)
 * @param algorithms `node:crypto` hash names; none passes `data` through untouched
 * @param purpose names the pass in the trace
 * @returns the stream to hand on, and `digests()`, to call once the stream has ended
 */
export function hashAlongside(
  data: AsyncIterable<Uint8Array>,
  algorithms: readonly string[],
  purpose: string = "digest",
): { chunks: AsyncIterable<Uint8Array>; digests(): Map<string, Uint8Array> } {
  const names = [...new Set(algorithms)];
  if (names.length === 0) return { chunks: data, digests: () => new Map() };
  const hashes = names.map((n) => createHash(n));
  let length = 0;
  return {
    chunks: (async function* () {
      for await (const c of data) {
        for (const h of hashes) h.update(c);
        length += c.length;
        yield c;
      }
    })(),
    digests: () => {
      traceHashPass(names, length, purpose);
      return new Map(names.map((n, i) => [n, new Uint8Array(hashes[i]!.digest())]));
    },
  };
}
