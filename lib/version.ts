/**
 * The product's name and version. The version lives in one place, `deno.json` (the package
 * version `deno publish` and `deno task release` use); this module reads it from there.
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** This implementation's version (the `version` field of `deno.json`). */
export const VERSION: string = config.version;
/** Product name used in `version` output and the registry User-Agent. */
export const PRODUCT = "cosign-deno";
