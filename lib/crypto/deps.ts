/**
 * Third-party dependencies of the crypto layer, as full pinned specifiers so that a script
 * importing `mod.ts` by URL (without this repository's import map) resolves them too.
 * @module
 */

export { xsalsa20poly1305 } from "npm:@noble/ciphers@2.4.0/salsa.js";
