/**
 * `cosign verify --local-image DIR`: verifies an image saved by `cosign save` with no network.
 * @module
 */

import { layoutImage, layoutReference } from "../cosign/copy.ts";
import { OciLayout } from "../oci/layout.ts";
import type { FlagValues } from "./args.ts";
import { type VerifyContext, verifyRefs } from "./verify.ts";

/** Verifies each layout folder in `dirs`. */
export async function verifyLocalImages(
  dirs: string[],
  flags: FlagValues,
  ctx: VerifyContext,
): Promise<void> {
  for (const dir of dirs) {
    const layout = await OciLayout.open(dir);
    const { digest } = await layoutImage(layout, dir);
    await verifyRefs(
      layout,
      [[dir, layoutReference(digest)]],
      { ...flags, "attachment-tag-prefix": "" },
      ctx,
      dir,
    );
  }
}
