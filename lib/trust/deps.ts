/**
 * Third-party dependencies of the trust layer, as full pinned specifiers so that a script
 * importing `mod.ts` by URL (without this repository's import map) resolves them too.
 * `npm:tuf-js` is the TUF client sigstore-js uses.
 * @module
 */

export { BaseFetcher, Updater } from "npm:tuf-js@6.0.2";
export { DownloadHTTPError } from "npm:tuf-js@6.0.2/dist/error.js";
