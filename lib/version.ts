/**
 * The product's name and version.
 * @module
 */

/** This implementation's version. */
export const VERSION = "0.1.0";
/** Product name used in `version` output and the registry User-Agent. */
export const PRODUCT = "cosign-deno";
