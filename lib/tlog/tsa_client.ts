/**
 * An RFC 3161 timestamp client (cosign-spec §7.6): a DER `TimeStampReq` with a SHA-256 imprint
 * of the signature, a random nonce and `certReq`, posted as `application/timestamp-query`. The
 * answer is checked to be a granted `TimeStampResp` over the same imprint and nonce; it is
 * returned as is (it goes into the bundle, where verification checks it against the trusted
 * root).
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";
import { bytesEqual } from "./bytes.ts";
import { parseTimestamp } from "./timestamp.ts";

/** Most bytes read from a TSA answer. */
const MAX_ANSWER_BYTES = 256 * 1024;

/** How to reach the TSA. */
export interface TsaOptions {
  /** The TSA's timestamp URL (e.g. `https://timestamp.example/api/v1/timestamp`). */
  readonly url: string;
  /** `fetch` to use (default the global one). */
  readonly fetch?: typeof fetch | undefined;
}

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len = n < 0x80
    ? [n]
    : n < 0x100
    ? [0x81, n]
    : n < 0x10000
    ? [0x82, n >> 8, n & 0xff]
    : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A positive DER INTEGER from big-endian bytes. */
function positiveInteger(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, b[0]! & 0x80 ? cat(new Uint8Array([0]), b) : b);
}

const SHA256_ALG = Uint8Array.fromHex("300d06096086480165030402010500");

/**
 * The DER `TimeStampReq` for a SHA-256 `digest` with `nonce` (big-endian bytes).
 * @example
 * ```ts ignore
 * timestampRequest(sha256, crypto.getRandomValues(new Uint8Array(8)));
 * ```
 */
export function timestampRequest(digest: Uint8Array, nonce: Uint8Array): Uint8Array {
  return tlv(
    0x30,
    cat(
      tlv(0x02, new Uint8Array([1])),
      tlv(0x30, cat(SHA256_ALG, tlv(0x04, digest))),
      positiveInteger(nonce),
      tlv(0x01, new Uint8Array([0xff])),
    ),
  );
}

/**
 * Gets an RFC 3161 timestamp over `data` (the signature bytes, or a legacy envelope).
 * @returns the DER `TimeStampResp`
 * @throws {CosignError} `TSA_ERROR` when the TSA cannot be reached, refuses, or answers with a
 *   timestamp over other data or another nonce
 * @example
 * ```ts ignore
 * const tsr = await requestTimestamp({ url: "https://tsa.example/api/v1/timestamp" }, signature);
 * ```
 */
export async function requestTimestamp(options: TsaOptions, data: Uint8Array): Promise<Uint8Array> {
  const digest = new Uint8Array(createHash("sha256").update(data).digest());
  // 47 random bits: enough to tie the answer to this request, and an integer every TSA handles.
  const nonce = crypto.getRandomValues(new Uint8Array(6));
  nonce[0] = nonce[0]! & 0x7f;
  const fail = (why: string) =>
    new CosignError("TSA_ERROR", `The timestamp authority ${options.url} ${why}`);
  let res: Response;
  try {
    res = await (options.fetch ?? fetch)(options.url, {
      method: "POST",
      headers: { "Content-Type": "application/timestamp-query" },
      body: timestampRequest(digest, nonce) as Uint8Array<ArrayBuffer>,
    });
  } catch (e) {
    throw fail(`cannot be reached (${(e as Error).message})`);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > MAX_ANSWER_BYTES) throw fail("answered more than 256 KiB");
  if (!res.ok) throw fail(`answered HTTP ${res.status}`);
  let parsed;
  try {
    parsed = parseTimestamp(body);
  } catch (e) {
    throw fail(`answered something that is not a timestamp (${(e as Error).message})`);
  }
  if (parsed.status !== undefined && parsed.status > 1) {
    throw fail(`refused the request (status ${parsed.status})`);
  }
  if (parsed.info.hashAlgorithm !== "sha256" || !bytesEqual(parsed.info.messageImprint, digest)) {
    throw fail("timestamped other data than the signature");
  }
  const want = BigInt("0x" + nonce.toHex());
  if (parsed.info.nonce !== want) throw fail("answered with another nonce");
  return body;
}
