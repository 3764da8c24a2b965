/**
 * SHA-256 digests in `sha256:<hex>` form, in one shot or while bytes stream past.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";

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
