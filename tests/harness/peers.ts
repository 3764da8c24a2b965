/**
 * The libraries the differential tests (`tests/differential_*_test.ts`) hold our parsers
 * against: test-only dependencies, pinned here and imported nowhere else. `@peculiar/x509`
 * and `pkijs` are the libraries the design names for X.509 and CMS; `@peculiar/asn1-*` and
 * `asn1js` are the ASN.1 layers under them (the versions they resolve to), read directly where
 * the high-level classes stop.
 * @module
 */

// deno-lint-ignore no-import-prefix -- tsyringe, under @peculiar/x509, needs it loaded first
import "npm:reflect-metadata@0.2.2";

export * as x509 from "npm:@peculiar/x509@2.2.0";
export { AsnConvert } from "npm:@peculiar/asn1-schema@2.11.1";
export * as asnX509 from "npm:@peculiar/asn1-x509@2.11.1";
export * as asn1js from "npm:asn1js@3.1.0";
export * as pkijs from "npm:pkijs@3.4.3";
export { ed25519 } from "npm:@noble/curves@1.9.7/ed25519";
