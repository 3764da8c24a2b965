import { createHash, type KeyObject, sign } from "node:crypto";
import { assert, assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { concatBytes, toHex } from "../crypto/encoding.ts";
import { parseTrustedRoot, type TransparencyLog } from "../trust/trusted_root.ts";
import { OID, parseCertificate } from "./certificate.ts";
import { verifyCertificateChain } from "./chain.ts";
import { parseSctList, precertificateTbs, sctSignedData, verifyEmbeddedScts } from "./sct.ts";
import {
  buildTbs,
  bundleLeaf,
  CONFORMANCE,
  ecKey,
  ext,
  INTERMEDIATE_NAME,
  octets,
  signTbs,
  testPki,
} from "./_test_certs.ts";

const production = parseTrustedRoot(
  Deno.readTextFileSync(CONFORMANCE + "trusted_root.production.json"),
);

function issuerOf(caseName: string, root = production) {
  const leaf = bundleLeaf(caseName);
  const { path } = verifyCertificateChain(leaf, [], root.certificateAuthorities, leaf.notBefore);
  return { leaf, issuer: path[1]! };
}

Deno.test("sct: the embedded SCTs of real Fulcio leaves verify against the production CT log", () => {
  for (const name of ["happy-path-v0.3", "happy-path-v0.1", "integrated-time-in-future_fail"]) {
    const { leaf, issuer } = issuerOf(name);
    const [check, ...more] = verifyEmbeddedScts(leaf, issuer, production.ctlogs);
    assertEquals(more.length, 0, name);
    assertEquals(check!.logUrl, "https://ctfe.sigstore.dev/2022", name);
    assertEquals(check!.logId, "dd3d306ac6c7113263191e1c99673702a24a5eb8de3cadff878a72802f29ee8e");
    assert(
      Math.abs(check!.timestamp.getTime() - leaf.notBefore.getTime()) < 2000,
      "the SCT was issued with the certificate",
    );
  }
  const { leaf } = issuerOf("happy-path-v0.3");
  const [sct] = parseSctList(leaf.extensions.find((e) => e.oid === OID.sctList)!.value);
  assertEquals(new Date(sct!.timestamp).toISOString(), "2024-03-19T17:26:26.470Z");
  assertEquals([sct!.version, sct!.hashAlgorithm, sct!.signatureAlgorithm], [0, 4, 3]);
  const pre = precertificateTbs(leaf);
  assertEquals(pre.length < leaf.tbs.length, true, "the SCT extension is removed");
  assert(!toHex(pre).includes("2b06010401d679020402"), "no SCT OID left in the precertificate");
});

Deno.test("sct: invalid-ct-key_fail's trusted root does not hold the SCT's log", () => {
  const root = parseTrustedRoot(
    Deno.readTextFileSync(CONFORMANCE + "public/invalid-ct-key_fail/trusted_root.json"),
  );
  const { leaf, issuer } = issuerOf("invalid-ct-key_fail", root);
  assertThrowsCode(
    () => verifyEmbeddedScts(leaf, issuer, root.ctlogs),
    "SCT_INVALID",
    /0 of 1 verified, 1 required \(Untrusted certificate transparency log: log ID dd3d306a/,
  );
});

Deno.test("sct: a flipped signature byte, the wrong issuer, a key from another log", () => {
  const { leaf, issuer } = issuerOf("happy-path-v0.3");
  const ext = leaf.extensions.find((e) => e.oid === OID.sctList)!;
  // The SCT signature ends the extension value; flip its last byte (s stays a valid INTEGER).
  const der = leaf.der.slice();
  const at = leaf.der.byteOffset === 0 ? ext.value.byteOffset + ext.value.length - 1 : -1;
  assert(at > 0, "offset inside the certificate");
  der[at]! ^= 0x01;
  const flipped = parseCertificate(der);
  assertThrowsCode(
    () => verifyEmbeddedScts(flipped, issuer, production.ctlogs),
    "SCT_INVALID",
    /does not verify with the log's key/,
  );
  assertThrowsCode(
    () => verifyEmbeddedScts(leaf, leaf, production.ctlogs),
    "SCT_INVALID",
    /does not verify/,
    "the leaf as its own issuer",
  );
  // The right log ID but another key.
  const log = production.ctlogs.find((l) => l.baseUrl.endsWith("/2022"))!;
  const impostor: TransparencyLog = { ...log, publicKey: ecKey().publicKey };
  assertThrowsCode(
    () => verifyEmbeddedScts(leaf, issuer, [impostor]),
    "SCT_INVALID",
    /ctfe\.sigstore\.dev\/2022 \(2024-03-19T17:26:26\.470Z\) does not verify/,
  );
});

Deno.test("sct: the CT log must be valid at the SCT's time; thresholds", () => {
  const { leaf, issuer } = issuerOf("happy-path-v0.3");
  const log = production.ctlogs.find((l) => l.baseUrl.endsWith("/2022"))!;
  const ended: TransparencyLog = { ...log, validFor: { end: new Date("2024-01-01T00:00:00Z") } };
  assertThrowsCode(
    () => verifyEmbeddedScts(leaf, issuer, [ended]),
    "SCT_INVALID",
    /key not valid at 2024-03-19T17:26:26\.470Z/,
  );
  const endsAtSct: TransparencyLog = {
    ...log,
    validFor: { end: new Date("2024-03-19T17:26:26.470Z") },
  };
  verifyEmbeddedScts(leaf, issuer, [endsAtSct]); // closed interval
  assertThrowsCode(
    () => verifyEmbeddedScts(leaf, issuer, production.ctlogs, { threshold: 2 }),
    "SCT_INVALID",
    /1 of 1 verified, 2 required/,
  );
  assertEquals(verifyEmbeddedScts(leaf, issuer, production.ctlogs, { threshold: 0 }).length, 1);
});

Deno.test("sct: certificates without an SCT list, or with a malformed one", () => {
  const { issuer } = issuerOf("happy-path-v0.3");
  assertThrowsCode(
    () => verifyEmbeddedScts(issuer, issuer, production.ctlogs),
    "SCT_MISSING",
    /no embedded signed certificate timestamp/,
  );
  const pki = testPki();
  assertThrowsCode(
    () => verifyEmbeddedScts(parseCertificate(pki.leaf), issuer, production.ctlogs),
    "SCT_MISSING",
  );
  for (
    const [label, list] of [
      ["length mismatch", new Uint8Array([0, 5, 0, 1, 0])],
      ["empty list", new Uint8Array([0, 0])],
      ["truncated SCT", new Uint8Array([0, 3, 0, 1, 0])],
    ] as const
  ) {
    const bad = testPki({
      leaf: {
        extensions: [ext.extKeyUsage(OID.codeSigning), { oid: OID.sctList, value: octets(list) }],
      },
    });
    assertThrowsCode(
      () => verifyEmbeddedScts(parseCertificate(bad.leaf), issuer, production.ctlogs),
      "SCT_INVALID",
      /Invalid SCT list/,
      label,
    );
  }
});

function testLog(key: KeyObject, baseUrl = "https://ct.test"): TransparencyLog {
  const publicKeyBytes = new Uint8Array(key.export({ type: "spki", format: "der" }));
  const logId = new Uint8Array(createHash("sha256").update(publicKeyBytes).digest());
  return {
    baseUrl,
    hashAlgorithm: "SHA2_256",
    publicKey: key,
    publicKeyBytes,
    keyDetails: "PKIX_ECDSA_P256_SHA_256",
    validFor: {},
    logId,
    logIdHex: toHex(logId),
    checkpointKeyId: logId.subarray(0, 4),
    checkpointOrigin: undefined,
  };
}

Deno.test("sct: a certificate built here with an SCT in the middle of its extensions", () => {
  const pki = testPki();
  const issuer = parseCertificate(pki.intermediate);
  const logKey = ecKey();
  const log = testLog(logKey.publicKey);
  const timestamp = pki.at.getTime();
  const before = [ext.keyUsage("digitalSignature"), ext.extKeyUsage(OID.codeSigning)];
  const after = [ext.subjectAltName(ext.uri("https://example.com/" + "x".repeat(300)))];
  const spec = {
    subject: [],
    issuer: INTERMEDIATE_NAME,
    notBefore: pki.at,
    notAfter: new Date(pki.at.getTime() + 600_000),
    publicKey: pki.leafKey.publicKey,
    signingKey: pki.intermediateKey.privateKey,
    serial: 7,
  };
  const precert = buildTbs({ ...spec, extensions: [...before, ...after] });
  const issuerKeyHash = new Uint8Array(createHash("sha256").update(issuer.spki).digest());
  const sctFields = { version: 0, timestamp, extensions: new Uint8Array() };
  const signature = new Uint8Array(
    sign("sha256", sctSignedData(sctFields, issuerKeyHash, precert), logKey.privateKey),
  );
  const u16 = (n: number) => new Uint8Array([n >> 8, n & 0xff]);
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, BigInt(timestamp));
  const sct = concatBytes(
    new Uint8Array([0]),
    log.logId,
    ts,
    u16(0),
    new Uint8Array([4, 3]),
    u16(signature.length),
    signature,
  );
  const list = concatBytes(u16(sct.length + 2), u16(sct.length), sct);
  const sctExt = { oid: OID.sctList, value: octets(list) };
  const leaf = parseCertificate(
    signTbs(buildTbs({ ...spec, extensions: [...before, sctExt, ...after] }), spec.signingKey),
  );
  assertEquals(toHex(precertificateTbs(leaf)), toHex(precert), "precertificate rebuilt exactly");
  const [check] = verifyEmbeddedScts(leaf, issuer, [log]);
  assertEquals(check, { logId: log.logIdHex, timestamp: pki.at, logUrl: "https://ct.test" });
  // Another log with an unknown ID is skipped; the known one still counts.
  verifyEmbeddedScts(leaf, issuer, [testLog(ecKey().publicKey, "https://other.test"), log]);
  assertThrowsCode(
    () => verifyEmbeddedScts(leaf, parseCertificate(pki.root), [log]),
    "SCT_INVALID",
    /does not verify/,
    "the issuer key hash is part of what is signed",
  );
});
