/**
 * SHA-256 digests in `sha256:<hex>` form, in one shot or while bytes stream past, and the check
 * every digest a server hands us passes before it is used or printed.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError, type ErrorCode } from "../errors.ts";
import { quote } from "../text/escape.ts";

/**
 * The only digest form accepted from a registry or a layout: `sha256:` and 64 lowercase hex
 * digits. go-containerregistry accepts no other algorithm either, and nothing here could check
 * the bytes of another.
 */
export const DIGEST_PATTERN: RegExp = /^sha256:[0-9a-f]{64}$/;

/** True when `value` is a well-formed `sha256:<64 lowercase hex>` digest. */
export function isValidDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST_PATTERN.test(value);
}

/**
 * Returns `value` when it is a well-formed digest, else throws one line naming `what` and the
 * value (escaped, so a hostile value cannot reach the terminal as control characters).
 * @throws {CosignError} `code` (default `MANIFEST_INVALID`)
 *
 * @example
 * ```ts
 * import { checkDigest } from "./digest.ts";
 * checkDigest("sha256:" + "0".repeat(64), "Layer 0 of example.com/app:v1");
 * ```
 */
export function checkDigest(
  value: unknown,
  what: string,
  code: ErrorCode = "MANIFEST_INVALID",
): string {
  if (isValidDigest(value)) return value;
  const shown = typeof value === "string"
    ? quote(value.length > 200 ? value.slice(0, 200) + "…" : value)
    : value === undefined
    ? "none"
    : `a JSON ${value === null ? "null" : Array.isArray(value) ? "array" : typeof value}`;
  throw new CosignError(
    code,
    `${what} has a malformed digest ${shown} (want sha256: and 64 lowercase hex digits)`,
  );
}

/**
 * Checks the digest of every descriptor a manifest or index names (`config`, `layers`,
 * `manifests`, `subject`), so no malformed digest reaches a URL, a file name or the terminal.
 * @throws {CosignError} `MANIFEST_INVALID`
 */
export function checkDescriptorDigests(json: Record<string, unknown>, name: string): void {
  const one = (d: unknown, what: string) => {
    if (typeof d !== "object" || d === null) {
      throw new CosignError("MANIFEST_INVALID", `Manifest ${name}: ${what} is not a descriptor`);
    }
    checkDigest((d as { digest?: unknown }).digest, `Manifest ${name}: ${what}`);
  };
  if (json.config !== undefined) one(json.config, "the config");
  if (json.subject !== undefined) one(json.subject, "the subject");
  for (const [field, what] of [["layers", "layer"], ["manifests", "entry"]] as const) {
    const list = json[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      throw new CosignError("MANIFEST_INVALID", `Manifest ${name}: ${field} is not a list`);
    }
    list.forEach((d, i) => one(d, `${what} ${i}`));
  }
}

/** `sha256:<hex>` of `bytes`. */
export function sha256Digest(bytes: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

/**
 * A pass-through stream that checks the bytes against `digest` (and `size` when given): the
 * stream errors with `DIGEST_MISMATCH` at its end if they differ, so a consumer that waits for
 * a clean end never uses bytes that did not match.
 */
export function verifyingStream(
  digest: string,
  what: string,
  size?: number,
): TransformStream<Uint8Array, Uint8Array> {
  const hash = createHash("sha256");
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      hash.update(chunk);
      seen += chunk.length;
      if (size !== undefined && seen > size) {
        controller.error(
          new CosignError("DIGEST_MISMATCH", `${what}: more bytes than the ${size} expected`),
        );
        return;
      }
      controller.enqueue(chunk);
    },
    flush(controller) {
      const got = "sha256:" + hash.digest("hex");
      if (size !== undefined && seen !== size) {
        controller.error(
          new CosignError("DIGEST_MISMATCH", `${what}: got ${seen} bytes, expected ${size}`),
        );
      } else if (got !== digest) {
        controller.error(
          new CosignError(
            "DIGEST_MISMATCH",
            `${what}: content digest ${got} does not match ${digest}`,
          ),
        );
      }
    },
  });
}
