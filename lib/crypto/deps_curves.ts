/**
 * NIST curves from `@noble/curves` (full pinned specifier, see `deps.ts`), used only to verify an
 * ECDSA signature over a digest the caller already has (`verify-blob sha256:<hex>`): `node:crypto`
 * and WebCrypto both hash the message themselves and cannot take a precomputed digest for EC
 * keys. A separate module so that nothing else loads it.
 * @module
 */

export { p256, p384, p521 } from "npm:@noble/curves@1.9.7/nist";
