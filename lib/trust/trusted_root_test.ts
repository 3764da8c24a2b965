import { createHash } from "node:crypto";
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { assertThrowsCode, PGI_ROOT, readJson, trustedRoot } from "../tlog/_fixtures.ts";
import {
  findLog,
  findTlog,
  isValidAt,
  logIdBytes,
  parseTrustedRoot,
  type TransparencyLog,
} from "./trusted_root.ts";

const PROD_ROOT = "conformance/trusted_root.production.json";
const EMPTY_ROOT = "blob-attestation/empty-trusted-root.json";
const REKOR_V1 = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";
const REKOR_V1_B64 = "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=";

function iso(d: Date | undefined): string | undefined {
  return d?.toISOString();
}

function spkiSha256(log: TransparencyLog): string {
  const der = log.publicKey.export({ format: "der", type: "spki" });
  return createHash("sha256").update(der).digest("hex");
}

Deno.test("trusted_root: the public-good root parses into typed logs and authorities", () => {
  const root = trustedRoot(PGI_ROOT);
  assertEquals(root.mediaType, "application/vnd.dev.sigstore.trustedroot+json;version=0.1");
  assertEquals(root.tlogs.length, 1);
  assertEquals(root.ctlogs.length, 2);
  assertEquals(root.certificateAuthorities.length, 2);
  assertEquals(root.timestampAuthorities.length, 0);

  const rekor = root.tlogs[0]!;
  assertEquals(rekor.baseUrl, "https://rekor.sigstore.dev");
  assertEquals(rekor.hashAlgorithm, "SHA2_256");
  assertEquals(rekor.keyDetails, "PKIX_ECDSA_P256_SHA_256");
  assertEquals(rekor.publicKey.asymmetricKeyType, "ec");
  assertEquals(rekor.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assertEquals(rekor.logIdHex, REKOR_V1);
  assertEquals(spkiSha256(rekor), REKOR_V1); // Rekor v1 log ID = SHA-256 of the PKIX key
  assertEquals(iso(rekor.validFor.start), "2021-01-12T11:53:27.000Z");
  assertEquals(iso(rekor.validFor.end), undefined);

  assertEquals(root.ctlogs.map((l) => l.baseUrl), [
    "https://ctfe.sigstore.dev/test",
    "https://ctfe.sigstore.dev/2022",
  ]);
  assertEquals(iso(root.ctlogs[0]!.validFor.end), "2022-10-31T23:59:59.999Z");
  for (const ct of root.ctlogs) assertEquals(spkiSha256(ct), ct.logIdHex);

  const [old, current] = root.certificateAuthorities;
  assertEquals(old!.uri, "https://fulcio.sigstore.dev");
  assertEquals(old!.subject, { organization: "sigstore.dev", commonName: "sigstore" });
  assertEquals(old!.certChain.length, 1);
  assertEquals(iso(old!.validFor.end), "2022-12-31T23:59:59.999Z");
  assertEquals(current!.certChain.length, 2);
  assertEquals(current!.certChain[0]!.x509.subject, "O=sigstore.dev\nCN=sigstore-intermediate");
  assertEquals(current!.certChain[1]!.x509.subject, "O=sigstore.dev\nCN=sigstore");
  assert(current!.certChain[1]!.x509.ca, "the last certificate is the root CA");
  assertEquals(iso(current!.validFor.end), undefined);
});

Deno.test("trusted_root: tlog lookup by base64 (bundle, file), hex (SET) or bytes", () => {
  const root = trustedRoot(PGI_ROOT);
  const byHex = findTlog(root, REKOR_V1);
  assertEquals(byHex.baseUrl, "https://rekor.sigstore.dev");
  assert(findTlog(root, REKOR_V1_B64) === byHex, "base64");
  assert(findTlog(root, REKOR_V1.toUpperCase()) === byHex, "upper-case hex");
  assert(findTlog(root, Uint8Array.fromHex(REKOR_V1)) === byHex, "bytes");
  assert(findTlog(root, REKOR_V1_B64.replace(/\+/g, "-").replace(/\//g, "_")) === byHex, "url");
  assertEquals(logIdBytes(REKOR_V1).toHex(), REKOR_V1);
  assertThrowsCode(
    () => findTlog(root, "0".repeat(64)),
    "TLOG_UNTRUSTED",
    /^Untrusted transparency log: log ID 0{64} is not in the trusted root \(it lists c0d23d6a…\)$/,
  );
  assertThrowsCode(() => findTlog(root, "not a log id!"), "TLOG_INVALID", /expected hex or base64/);
  // CT log IDs are looked up the same way, in the ctlogs
  const ct = findLog(
    root.ctlogs,
    "3T0wasbHETJjGR4cmWc3AqJKXrjePK3/h4pygC8p7o4=",
    undefined,
    "CT log",
  );
  assertEquals(ct.baseUrl, "https://ctfe.sigstore.dev/2022");
  assertThrowsCode(() => findTlog(root, ct.logId), "TLOG_UNTRUSTED", /transparency log/);
});

Deno.test("trusted_root: the production root holds Rekor v1 (ECDSA) and v2 (Ed25519) and a TSA", () => {
  const root = trustedRoot(PROD_ROOT);
  assertEquals(root.tlogs.map((l) => [l.baseUrl, l.keyDetails]), [
    ["https://rekor.sigstore.dev", "PKIX_ECDSA_P256_SHA_256"],
    ["https://log2025-1.rekor.sigstore.dev", "PKIX_ED25519"],
  ]);
  const [v1, v2] = root.tlogs;
  assertEquals(v1!.checkpointKeyId.toHex(), v1!.logIdHex);
  assertEquals(v1!.checkpointOrigin, undefined);
  // Rekor v2's log ID is NOT the SHA-256 of its PKIX key: it is the signed-note key ID
  // SHA-256("log2025-1.rekor.sigstore.dev" ‖ "\n" ‖ 0x01 ‖ raw key), and so is the checkpoint
  // key ID we compute from the key and the base URL's host.
  assert(spkiSha256(v2!) !== v2!.logIdHex, "v2 log ID is not the PKIX hash");
  assertEquals(v2!.checkpointOrigin, "log2025-1.rekor.sigstore.dev");
  assertEquals(v2!.checkpointKeyId.toHex(), v2!.logIdHex);
  assertEquals(iso(v2!.validFor.start), "2025-09-23T00:00:00.000Z");
  assertEquals(root.timestampAuthorities.length, 1);
  assertEquals(
    root.timestampAuthorities[0]!.uri,
    "https://timestamp.sigstore.dev/api/v1/timestamp",
  );
  assertEquals(iso(root.timestampAuthorities[0]!.validFor.start), "2025-07-04T00:00:00.000Z");

  // the pgi root is a subset of production: same keys under the same IDs
  const pgi = trustedRoot(PGI_ROOT);
  for (const l of [...pgi.tlogs, ...pgi.ctlogs]) {
    const p = findLog([...root.tlogs, ...root.ctlogs], l.logId);
    assertEquals(p.publicKeyBytes.toHex(), l.publicKeyBytes.toHex());
  }
});

Deno.test("trusted_root: staging roots load, with a PKCS#1 RSA CT key and Ed25519 logs", () => {
  // Every Rekor v2 conformance root: the computed checkpoint key ID equals the file's log ID.
  const cases: { trusted_root: string; trusted_root_is_production: boolean }[] = readJson(
    "conformance/cases.json",
  );
  const own = [
    ...new Set(cases.filter((c) => !c.trusted_root_is_production).map((c) => c.trusted_root)),
  ];
  let ed25519 = 0;
  for (const path of own) {
    const root = trustedRoot("conformance/" + path);
    for (const l of root.tlogs) {
      assertEquals(l.checkpointKeyId.toHex(), l.logIdHex, `${path} ${l.baseUrl}`);
      if (l.publicKey.asymmetricKeyType === "ed25519") ed25519++;
    }
  }
  assert(ed25519 >= 10, `${ed25519} Ed25519 logs checked`);

  // The staging CT log "test" has key details PKCS1_RSA_PKCS1V5 and a PKCS#1 RSAPublicKey (not
  // PKIX) in rawBytes; its log ID is still the SHA-256 of the PKIX re-encoding.
  const root = trustedRoot(
    "conformance/public/rekor2-checkpoint-multiple-cosigs/trusted_root.json",
  );
  const rsa = root.ctlogs[0]!;
  assertEquals(rsa.keyDetails, "PKCS1_RSA_PKCS1V5");
  assertEquals(rsa.publicKey.asymmetricKeyType, "rsa");
  assertEquals(rsa.publicKey.asymmetricKeyDetails?.modulusLength, 4096);
  assertEquals(spkiSha256(rsa), rsa.logIdHex);
});

Deno.test("trusted_root: validity windows are closed intervals (end inclusive)", () => {
  // conformance trust-root-tlog-validity-end-inclusive: end = 2023-07-12T15:56:36Z, the entry's
  // integrated time; explicit JSON nulls (end, checkpointKeyId, operator) are absent values.
  const root = trustedRoot(
    "conformance/public/trust-root-tlog-validity-end-inclusive/trusted_root.json",
  );
  const end = new Date("2023-07-12T15:56:36Z");
  const log = findTlog(root, REKOR_V1_B64, end);
  assertEquals(iso(log.validFor.end), end.toISOString());
  assert(isValidAt(log.validFor, end), "valid at the end");
  assert(!isValidAt(log.validFor, new Date(end.getTime() + 1)), "not after the end");
  assert(isValidAt(log.validFor, log.validFor.start!), "valid at the start");
  assert(!isValidAt(log.validFor, new Date(log.validFor.start!.getTime() - 1)), "not before");
  assertEquals(iso(root.tlogs[1]!.validFor.end), undefined); // "end": null
  assertThrowsCode(
    () => findTlog(root, REKOR_V1_B64, new Date(end.getTime() + 1000)),
    "TLOG_UNTRUSTED",
    /key not valid at 2023-07-12T15:56:37\.000Z \(valid 2021-01-12T11:53:27\.000Z to 2023-07-12T15:56:36\.000Z\)/,
  );
  assertThrowsCode(
    () => findTlog(root, REKOR_V1_B64, new Date("2020-01-01T00:00:00Z")),
    "TLOG_UNTRUSTED",
    /key not valid at 2020-01-01/,
  );
  assert(isValidAt({}, new Date(0)), "open window");
});

Deno.test("trusted_root: an empty trusted root parses and its lookups fail cleanly", () => {
  const root = trustedRoot(EMPTY_ROOT);
  assertEquals(
    [root.tlogs, root.ctlogs, root.certificateAuthorities, root.timestampAuthorities].map((l) =>
      l.length
    ),
    [0, 0, 0, 0],
  );
  assertThrowsCode(
    () => findTlog(root, REKOR_V1_B64),
    "TLOG_UNTRUSTED",
    /^Untrusted transparency log: log ID c0d23d6a\w+ is not in the trusted root \(it lists none\)$/,
  );
  assertThrowsCode(
    () => findLog(root.ctlogs, REKOR_V1, undefined, "CT log"),
    "TLOG_UNTRUSTED",
    /CT log/,
  );
});

Deno.test("trusted_root: bytes and proto field names are accepted", () => {
  const text = Deno.readTextFileSync(FIXTURES + PGI_ROOT);
  assertEquals(parseTrustedRoot(new TextEncoder().encode(text)).tlogs[0]!.logIdHex, REKOR_V1);
  const tlog = JSON.parse(text).tlogs[0];
  const snake = {
    media_type: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [{
      base_url: tlog.baseUrl,
      hash_algorithm: tlog.hashAlgorithm,
      public_key: {
        raw_bytes: tlog.publicKey.rawBytes,
        key_details: tlog.publicKey.keyDetails,
        valid_for: tlog.publicKey.validFor,
      },
      log_id: { key_id: tlog.logId.keyId },
    }],
  };
  const log = parseTrustedRoot(snake).tlogs[0]!;
  assertEquals(log.baseUrl, "https://rekor.sigstore.dev");
  assertEquals(log.logIdHex, REKOR_V1);
  assertEquals(log.keyDetails, "PKIX_ECDSA_P256_SHA_256");
});

Deno.test("trusted_root: malformed roots are rejected naming the part", () => {
  const base = () => JSON.parse(Deno.readTextFileSync(FIXTURES + PGI_ROOT));
  const ed25519 = "MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=";
  // deno-lint-ignore no-explicit-any
  const cases: Array<[string, (r: any) => unknown, RegExp]> = [
    ["not JSON", () => "{", /not JSON/],
    ["array", () => [], /expected a JSON object/],
    ["media type", (r) => ({ ...r, mediaType: "x" }), /expected media type .*, found "x"/],
    ["no media type", (r) => ({ ...r, mediaType: undefined }), /found ""/],
    ["tlogs not array", (r) => ({ ...r, tlogs: {} }), /tlogs is not an array of objects/],
    ["key bytes", (r) => {
      r.tlogs[0].publicKey.rawBytes = "AAAA";
      return r;
    }, /tlogs\[0\]\.publicKey is not a PKIX public key \(key details PKIX_ECDSA_P256_SHA_256\)/],
    ["no key", (r) => {
      delete r.tlogs[0].publicKey.rawBytes;
      return r;
    }, /tlogs\[0\]\.publicKey\.rawBytes is missing/],
    ["key type", (r) => {
      r.tlogs[0].publicKey.rawBytes = ed25519;
      return r;
    }, /key details say PKIX_ECDSA_P256_SHA_256, but the key is ed25519/],
    [
      "curve",
      (r) => {
        r.ctlogs[1].publicKey.keyDetails = "PKIX_ECDSA_P384_SHA_384";
        return r;
      },
      /ctlogs\[1\]\.publicKey key details say PKIX_ECDSA_P384_SHA_384, but the key is ec prime256v1/,
    ],
    ["log id", (r) => {
      delete r.tlogs[0].logId;
      return r;
    }, /tlogs\[0\]\.logId is missing/],
    ["log id base64", (r) => {
      r.tlogs[0].logId.keyId = "!!";
      return r;
    }, /tlogs\[0\]\.logId\.keyId is not non-empty base64/],
    ["time", (r) => {
      r.tlogs[0].publicKey.validFor.start = "yesterday";
      return r;
    }, /tlogs\[0\]\.publicKey\.validFor\.start is not an RFC 3339 time: "yesterday"/],
    ["window", (r) => {
      r.tlogs[0].publicKey.validFor.end = "2020-01-01T00:00:00Z";
      return r;
    }, /validFor ends \(2020-01-01T00:00:00\.000Z\) before it starts/],
    ["empty chain", (r) => {
      r.certificateAuthorities[0].certChain.certificates = [];
      return r;
    }, /certificateAuthorities\[0\]\.certChain\.certificates is empty/],
    ["bad cert", (r) => {
      r.certificateAuthorities[1].certChain.certificates[1].rawBytes = "AAAA";
      return r;
    }, /certificateAuthorities\[1\]\.certChain\.certificates\[1\] is not a DER X\.509 certificate/],
  ];
  for (const [what, mutate, pattern] of cases) {
    assertThrowsCode(
      () => parseTrustedRoot(mutate(base())),
      "TRUSTED_ROOT_INVALID",
      pattern,
      what,
    );
  }
  // the v0.2 media type is accepted
  parseTrustedRoot({ ...base(), mediaType: "application/vnd.dev.sigstore.trustedroot.v0.2+json" });
});
