/**
 * Third-party dependencies of the OpenID Connect layer, as full pinned specifiers so that a
 * script importing `mod.ts` by URL (without this repository's import map) resolves them too.
 * @module
 */

export { createLocalJWKSet, decodeJwt, jwtVerify } from "npm:jose@6.2.19";
export type { JSONWebKeySet } from "npm:jose@6.2.19";
// for tests that play a hostile issuer
export { exportJWK, generateKeyPair, SignJWT } from "npm:jose@6.2.19";
