/**
 * Size caps for everything read from a registry or an on-disk layout, enforced while streaming
 * (a hostile server may lie about `Content-Length`, send no length at all, or gzip a bomb that
 * `fetch` inflates: the caps count the decoded bytes actually received).
 * @module
 */

import { CosignError } from "../errors.ts";

/** The default caps, bytes. The README's "Limits" section documents each one. */
export const LIMITS = {
  /** A registry's error body (only its first line is ever shown). */
  errorBody: 64 << 10,
  /** A token server's response. */
  tokenResponse: 1 << 20,
  /** A manifest or index (registry and layout `index.json` alike). */
  manifest: 4 << 20,
  /** A referrers listing: one page of the API, or the `sha256-<hex>` fallback index. */
  referrersIndex: 16 << 20,
  /** One attachment layer (`COSIGN_MAX_ATTACHMENT_SIZE`, cosign's default). */
  attachmentLayer: 128 << 20,
  /** A blob `sget` downloads (`--max-size`). */
  blob: 10 * 1024 ** 3,
  /** Nesting depth of indexes within indexes (`copy`, `save`, `load`). */
  indexDepth: 8,
  /** Manifests and indexes visited by one `copy`, `save` or `load`. */
  manifestsPerOperation: 1_000,
} as const;

/**
 * Reads a stream into memory, up to `max` bytes; `undefined` when it holds more (the stream is
 * cancelled then, so no more than `max` plus one chunk is ever buffered).
 */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array | undefined> {
  if (!body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > max) return undefined; // leaving the loop cancels the body
    parts.push(chunk);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Reads a response body up to `max` bytes: `undefined` when it is larger, refused from its
 * `Content-Length` without reading when that already says so.
 */
export async function readResponseCapped(
  res: Response,
  max: number,
): Promise<Uint8Array | undefined> {
  const len = Number(res.headers.get("content-length") ?? NaN);
  // Content-Length counts encoded bytes: only an identity body can be refused by it.
  if (len > max && !res.headers.get("content-encoding")) {
    await res.body?.cancel();
    return undefined;
  }
  return await readCapped(res.body, max);
}

/**
 * The first `max` bytes of a body as text, the rest discarded unread (error bodies: a message
 * is shown from their start, so nothing beyond it needs to be held).
 */
export async function readTextPrefix(
  res: Response,
  max: number = LIMITS.errorBody,
): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < max) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.subarray(0, max - total);
      parts.push(part);
      total += part.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return new TextDecoder().decode(out);
}

/**
 * A pass-through stream that errors with `error()` as soon as more than `max` bytes went
 * through it (before they reach the consumer).
 */
export function cappedStream(
  stream: ReadableStream<Uint8Array>,
  max: number,
  error: () => CosignError,
): ReadableStream<Uint8Array> {
  let seen = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > max) controller.error(error());
        else controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * Parses a byte size: a number of bytes, or with a unit (`128MiB`, `10GiB`, `1GB`, `512k`);
 * binary units (`Ki`, `Mi`, `Gi`, `Ti`) are powers of 1024, the others of 1000.
 * @param value the text
 * @param what names the setting in the error
 * @throws {CosignError} `USAGE` (exit 2) for anything else
 * @example
 * ```ts
 * import { parseByteSize } from "@cosign-deno/cosign";
 * parseByteSize("128MiB", "--max-size"); // 134217728
 * parseByteSize("1GB", "--max-size"); // 1000000000
 * ```
 */
export function parseByteSize(value: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$/i.exec(value);
  if (!m) {
    throw new CosignError("USAGE", `Invalid ${what} "${value}" (want bytes, e.g. 10GiB)`, {
      exitCode: 2,
    });
  }
  const unit = (m[2] ?? "").toLowerCase().replace(/b$/, "");
  const pow = { "": 0, k: 1, m: 2, g: 3, t: 4, ki: 1, mi: 2, gi: 3, ti: 4 }[unit] ?? 0;
  const base = unit.endsWith("i") ? 1024 : 1000;
  const n = Math.floor(Number(m[1]) * base ** pow);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new CosignError("USAGE", `Invalid ${what} "${value}" (want a positive size)`, {
      exitCode: 2,
    });
  }
  return n;
}
