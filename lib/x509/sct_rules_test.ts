/**
 * Only v1 SCTs (version byte 0) count: an SCT of another version is not verified as v1, even
 * when a trusted CT log signed exactly those bytes.
 */
import { createHash, sign } from "node:crypto";
import { assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { concatBytes, toHex } from "../crypto/encoding.ts";
import type { TransparencyLog } from "../trust/trusted_root.ts";
import { OID, parseCertificate } from "./certificate.ts";
import { sctSignedData, verifyEmbeddedScts } from "./sct.ts";
import {
  buildTbs,
  ecKey,
  ext,
  INTERMEDIATE_NAME,
  octets,
  signTbs,
  testPki,
} from "./_test_certs.ts";

const u16 = (n: number) => new Uint8Array([n >> 8, n & 0xff]);

/** A leaf with one embedded SCT of `version`, correctly signed by a test CT log. */
function leafWithSct(version: number) {
  const pki = testPki();
  const issuer = parseCertificate(pki.intermediate);
  const logKey = ecKey();
  const publicKeyBytes = new Uint8Array(logKey.publicKey.export({ type: "spki", format: "der" }));
  const logId = new Uint8Array(createHash("sha256").update(publicKeyBytes).digest());
  const log: TransparencyLog = {
    baseUrl: "https://ct.test",
    hashAlgorithm: "SHA2_256",
    publicKey: logKey.publicKey,
    publicKeyBytes,
    keyDetails: "PKIX_ECDSA_P256_SHA_256",
    validFor: {},
    logId,
    logIdHex: toHex(logId),
    checkpointKeyId: logId.subarray(0, 4),
    checkpointOrigin: undefined,
  };
  const spec = {
    subject: [],
    issuer: INTERMEDIATE_NAME,
    notBefore: pki.at,
    notAfter: new Date(pki.at.getTime() + 600_000),
    publicKey: pki.leafKey.publicKey,
    signingKey: pki.intermediateKey.privateKey,
    serial: 9,
  };
  const others = [ext.keyUsage("digitalSignature"), ext.extKeyUsage(OID.codeSigning)];
  const precert = buildTbs({ ...spec, extensions: others });
  const issuerKeyHash = new Uint8Array(createHash("sha256").update(issuer.spki).digest());
  const timestamp = pki.at.getTime();
  const fields = { version, timestamp, extensions: new Uint8Array() };
  const signature = new Uint8Array(
    sign("sha256", sctSignedData(fields, issuerKeyHash, precert), logKey.privateKey),
  );
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, BigInt(timestamp));
  const sct = concatBytes(
    new Uint8Array([version]),
    logId,
    ts,
    u16(0),
    new Uint8Array([4, 3]),
    u16(signature.length),
    signature,
  );
  const list = concatBytes(u16(sct.length + 2), u16(sct.length), sct);
  const leaf = parseCertificate(
    signTbs(
      buildTbs({ ...spec, extensions: [...others, { oid: OID.sctList, value: octets(list) }] }),
      spec.signingKey,
    ),
  );
  return { leaf, issuer, log };
}

Deno.test("sct rules: a v1 SCT signed by the trusted CT log verifies", () => {
  const { leaf, issuer, log } = leafWithSct(0);
  assertEquals(verifyEmbeddedScts(leaf, issuer, [log]).length, 1);
});

Deno.test("sct rules: an SCT of an unknown version is refused though its signature verifies", () => {
  const { leaf, issuer, log } = leafWithSct(1);
  assertThrowsCode(
    () => verifyEmbeddedScts(leaf, issuer, [log]),
    "SCT_INVALID",
    /unsupported version 1/,
  );
});
