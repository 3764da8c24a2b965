/**
 * The simple-signing payload cosign signs for an image (cosign-spec §2.1), byte for byte as
 * Go's `json.Marshal` writes it: compact, struct fields in order, `optional` keys sorted,
 * `<`, `>`, `&`, U+2028 and U+2029 escaped, and `optional` `null` without annotations.
 * @module
 */

import { UsageError } from "../errors.ts";

/** The `type` of cosign image signatures. */
export const SIMPLE_SIGNING_TYPE = "cosign container image signature";

/** JSON-encodes a string as Go does (HTML-safe escaping). */
export function goJsonString(s: string): string {
  return JSON.stringify(s)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * Builds the payload for `digest` of the image in `dockerReference` (the normalised
 * repository, no tag or digest), with optional annotations.
 * @example
 * ```ts
 * import { loadSigner, simpleSigningPayload } from "@cosign-deno/cosign";
 * const digest = "sha256:" + "ab".repeat(32);
 * const payload = simpleSigningPayload("ghcr.io/org/app", digest, { env: "prod" });
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const signature = await signer.sign(payload);
 * ```
 */
export function simpleSigningPayload(
  dockerReference: string,
  digest: string,
  annotations?: Record<string, string>,
): Uint8Array {
  const keys = Object.keys(annotations ?? {}).sort();
  const optional = keys.length
    ? "{" + keys.map((k) => `${goJsonString(k)}:${goJsonString(annotations![k]!)}`).join(",") + "}"
    : "null";
  const json = `{"critical":{"identity":{"docker-reference":${goJsonString(dockerReference)}},` +
    `"image":{"docker-manifest-digest":${goJsonString(digest)}},` +
    `"type":${goJsonString(SIMPLE_SIGNING_TYPE)}},"optional":${optional}}`;
  return new TextEncoder().encode(json);
}

/** Splits one pflag string-slice value as CSV (quotes allowed), as `-a x=1,y=2` does. */
export function splitCsv(value: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === '"' && value[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  if (quoted) {
    throw new UsageError(`bad annotation list ${JSON.stringify(value)}: unterminated quote`);
  }
  out.push(cur);
  return out;
}

/**
 * Parses `-a key=value` flags (each may hold several comma-separated pairs; split on the
 * first `=`; a later duplicate key wins).
 */
export function parseAnnotations(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    for (const pair of splitCsv(v)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`bad annotation "${pair}": want key=value`);
      out[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return out;
}
