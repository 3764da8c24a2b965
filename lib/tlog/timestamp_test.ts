import { assert, assertEquals, sh } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { assertThrowsCode, readJson, trustedRoot } from "./_fixtures.ts";
import { type ParsedTimestamp, parseTimestamp, verifyTimestamp } from "./timestamp.ts";
import { type CertificateAuthority, parseTrustedRoot } from "../trust/trusted_root.ts";
import { derEncode, type DerNode, derTree } from "../../tests/harness/differential.ts";

// ---------------------------------------------------------------------------------------------
// Real sigstore-conformance bundles

interface ConformanceTimestamp {
  der: Uint8Array;
  signature: Uint8Array;
  authorities: readonly CertificateAuthority[];
}

function conformanceTimestamp(name: string): ConformanceTimestamp {
  const dir = `conformance/public/${name}/`;
  const bundle = readJson(dir + "bundle.sigstore.json");
  const [ts] = bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps;
  const sig = bundle.messageSignature?.signature ?? bundle.dsseEnvelope.signatures[0].sig;
  return {
    der: Uint8Array.fromBase64(ts.signedTimestamp),
    signature: Uint8Array.fromBase64(sig),
    authorities: trustedRoot(dir + "trusted_root.json").timestampAuthorities,
  };
}

const VALID_CASES: Array<[string, string]> = [
  ["rekor2-timestamp-without-embedded-cert", "2025-08-06T19:03:51.000Z"],
  ["rekor2-timestamp-with-expired-cert-chain", "2025-08-07T15:32:26.000Z"],
  ["rekor2-checkpoint-multiple-cosigs", "2025-06-12T12:02:20.000Z"],
  ["rekor2-dsse-invalid-sig_fail", "2026-05-13T19:23:43.000Z"], // fails elsewhere: DSSE sig
  ["intoto-with-custom-trust-root", "2023-02-01T00:00:00.000Z"],
];

for (const [name, time] of VALID_CASES) {
  Deno.test(`timestamp: conformance ${name} verifies at ${time}`, () => {
    const c = conformanceTimestamp(name);
    const check = verifyTimestamp(c.der, c.signature, c.authorities);
    assertEquals(check.time.toISOString(), time);
    assert(check.authority === c.authorities[0], "the trusted root's TSA vouches for it");
  });
}

Deno.test("timestamp: conformance failures carry the expected codes", () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
      "TIMESTAMP_UNTRUSTED",
      /genTime outside its validity \(2025-04-09T00:00:00\.000Z to 2025-06-01T00:00:00\.000Z\)/,
    ],
    ["rekor2-timestamp-payload-mismatch_fail", "TIMESTAMP_INVALID", /message imprint sha256:/],
    [
      "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
      "TIMESTAMP_UNTRUSTED",
      /no certificate for the signer/,
    ],
  ];
  for (const [name, code, pattern] of cases) {
    const c = conformanceTimestamp(name);
    assertThrowsCode(() => verifyTimestamp(c.der, c.signature, c.authorities), code, pattern, name);
  }
});

Deno.test("timestamp: the expired-chain case fails once genTime is outside the chain's validity", () => {
  // The chain is expired now but was valid at genTime; the verifier must use genTime. As a
  // control, the same chain does not vouch for a token it did not sign.
  const c = conformanceTimestamp("rekor2-timestamp-with-expired-cert-chain");
  const other = conformanceTimestamp("rekor2-timestamp-without-embedded-cert");
  assertThrowsCode(
    () => verifyTimestamp(other.der, other.signature, c.authorities),
    "TIMESTAMP_UNTRUSTED",
  );
});

Deno.test("timestamp: parses the TimeStampResp of a conformance bundle", () => {
  const { der } = conformanceTimestamp("rekor2-timestamp-with-expired-cert-chain");
  const ts = parseTimestamp(der);
  assertEquals(ts.status, 0);
  assertEquals(ts.info.hashAlgorithm, "sha256");
  assertEquals(ts.info.policy, "1.3.6.1.4.1.57264.2");
  assertEquals(ts.info.serialHex, "e05015ea27a875c73ccb0c6a7d3de69b25119cb0");
  assertEquals(ts.info.tsaName, "O=local, CN=Test TSA Timestamping");
  assertEquals(ts.info.nonce?.toString(16), "27e514905295a522");
  assertEquals(ts.info.accuracyMs, 1000);
  assertEquals(ts.certificates.length, 1);
  assertEquals(ts.signer.id.kind, "issuerAndSerialNumber");
  assertEquals(ts.signer.digestAlgorithm, "sha256");
  assertEquals(ts.signer.signatureAlgorithm, "1.2.840.10045.4.3.2");
  assertEquals(ts.signer.signedAttributes[0], 0x31);
  assertEquals(ts.signer.signingCertificate?.hashAlgorithm, "sha256");
});

Deno.test("timestamp: structure details found by the differential test (tests/differential_timestamp_test.ts)", () => {
  const { der } = conformanceTimestamp("rekor2-timestamp-with-expired-cert-chain");
  const edited = (edit: (resp: DerNode, tst: DerNode) => void) => {
    const resp = derTree(der);
    const signed = resp.children![1]!.children![1]!.children![0]!;
    edit(resp, signed.children![2]!.children![1]!.children![0]!.inner!);
    return derEncode(resp);
  };
  const int = (n: number): DerNode => ({ tag: 0x02, content: new Uint8Array([n]) });
  assertEquals(parseTimestamp(edited(() => {})).info.accuracyMs, 1000);
  const refused: Array<[string, (resp: DerNode, tst: DerNode) => void, RegExp]> = [
    // Accuracy { seconds, millis [0], micros [1] }: a second "seconds" was added to the first.
    ["accuracy seconds twice", (_, t) => t.children![5]!.children!.push(int(7)), /repeats/],
    [
      "accuracy out of order",
      (_, t) => t.children![5]!.children!.unshift({ tag: 0x80, content: new Uint8Array([5]) }),
      /out of order/,
    ],
    [
      "extensions that are not Extensions",
      (_, t) => t.children!.push({ tag: 0xa1, children: [int(1)] }),
      /TSTInfo extension has tag 0x02/,
    ],
    [
      "ordering not a DER boolean",
      (_, t) => t.children!.splice(6, 0, { tag: 0x01, content: new Uint8Array([1]) }),
      /TSTInfo ordering is not a DER boolean/,
    ],
    [
      "PKIStatusInfo with an extra field",
      (r) => r.children![0]!.children!.push(int(0)),
      /PKIStatusInfo has unexpected fields/,
    ],
    [
      "digestAlgorithms holding an INTEGER",
      (r) => r.children![1]!.children![1]!.children![0]!.children![1]!.children!.push(int(1)),
      /digestAlgorithm has tag 0x02/,
    ],
  ];
  for (const [label, edit, pattern] of refused) {
    assertThrowsCode(() => parseTimestamp(edited(edit)), "TIMESTAMP_INVALID", pattern, label);
  }
  const ext: DerNode = {
    tag: 0x30,
    children: [
      { tag: 0x06, content: new Uint8Array([0x2a, 0x03]) },
      { tag: 0x04, content: new Uint8Array([5, 0]) },
    ],
  };
  const withExtension = edited((_, t) => t.children!.push({ tag: 0xa1, children: [ext] }));
  assertEquals(parseTimestamp(withExtension).info.accuracyMs, 1000, "a well-formed extension");
});

Deno.test("timestamp: the production root does not trust the conformance test TSAs", () => {
  const prod = trustedRoot("conformance/trusted_root.production.json").timestampAuthorities;
  assert(prod.length > 0, "the production root has a TSA");
  const c = conformanceTimestamp("rekor2-timestamp-with-expired-cert-chain");
  assertThrowsCode(() => verifyTimestamp(c.der, c.signature, prod), "TIMESTAMP_UNTRUSTED");
});

// ---------------------------------------------------------------------------------------------
// A tiny TSA built with `openssl ts`

const TS_CONFIG = `
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = ./tsaserial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500, microsecs:100
ordering = yes
tsa_name = yes
ess_cert_id_alg = sha256
clock_precision_digits = 3
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ noncritical_eku_ext ]
basicConstraints = critical, CA:FALSE
extendedKeyUsage = timeStamping
subjectKeyIdentifier = hash
[ codesigning_ext ]
basicConstraints = critical, CA:FALSE
extendedKeyUsage = critical, codeSigning
subjectKeyIdentifier = hash
[ ca ]
default_ca = backdating_ca
[ backdating_ca ]
database = ./cadb/index.txt
new_certs_dir = ./cadb
serial = ./cadb/serial
default_md = sha256
policy = anything
unique_subject = no
[ anything ]
organizationName = optional
commonName = supplied
`;

/** Certificates (DER) and tokens (DER) made by the test TSA, read into memory. */
interface Pki {
  root: Uint8Array;
  inter: Uint8Array;
  tsa: Uint8Array;
  rsaTsa: Uint8Array;
  otherRoot: Uint8Array;
  message: Uint8Array;
  startedAt: Date;
  finishedAt: Date;
  /** TimeStampResp, sha256 imprint, signer + intermediate embedded. */
  withCerts: Uint8Array;
  /** The bare TimeStampToken of {@link withCerts}. */
  bareToken: Uint8Array;
  /** TimeStampResp, sha384 imprint, no certificates. */
  noCerts384: Uint8Array;
  /** RSA TSA (under the root), sha512 imprint, sha384 signer digest, signer embedded. */
  rsa: Uint8Array;
  /** A TSA under another root. */
  untrusted: Uint8Array;
  /** Signed by a TSA certificate valid 2020-2021 only. */
  expiredCert: Uint8Array;
  /** The TSTInfo of {@link withCerts} re-signed with `openssl cms`, variants. */
  cmsNonCriticalEku: Uint8Array;
  cmsCodeSigningEku: Uint8Array;
  cmsKeyIdNoCerts: Uint8Array;
  cmsNoAttributes: Uint8Array;
}

function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  return Uint8Array.fromBase64(body);
}

async function buildPki(): Promise<Pki> {
  const dir = await Deno.makeTempDir({ prefix: "cosign-tsa-test-" });
  try {
    const ossl = async (...args: string[]) => {
      const r = await sh("openssl", args, { cwd: dir });
      if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.err}`);
    };
    const write = (name: string, data: string | Uint8Array) =>
      typeof data === "string"
        ? Deno.writeTextFileSync(`${dir}/${name}`, data)
        : Deno.writeFileSync(`${dir}/${name}`, data);
    const read = (name: string) => Deno.readFileSync(`${dir}/${name}`);
    const cert = (name: string) => pemToDer(Deno.readTextFileSync(`${dir}/${name}.pem`));
    write("ts.cnf", TS_CONFIG);
    write("tsaserial", "01\n");
    Deno.mkdirSync(`${dir}/cadb`);
    write("cadb/index.txt", "");
    write("cadb/serial", "1000\n");
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    const selfSigned = (name: string, subject: string) =>
      ossl(
        "req",
        "-x509",
        ...ec,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.pem`,
        "-subj",
        subject,
        "-days",
        "3650",
        "-config",
        "ts.cnf",
        "-extensions",
        "ca_ext",
      );
    const csr = (name: string, subject: string, key = ec) =>
      ossl(
        "req",
        "-new",
        ...key,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        subject,
      );
    const issue = (name: string, csrName: string, ca: string, ext: string) =>
      ossl(
        "x509",
        "-req",
        "-in",
        `${csrName}.csr`,
        "-CA",
        `${ca}.pem`,
        "-CAkey",
        `${ca}.key`,
        "-CAcreateserial",
        "-days",
        "365",
        "-extfile",
        "ts.cnf",
        "-extensions",
        ext,
        "-out",
        `${name}.pem`,
      );

    await selfSigned("root", "/O=test/CN=Test TSA Root");
    await csr("inter", "/O=test/CN=Test TSA Intermediate");
    await issue("inter", "inter", "root", "ca_ext");
    await csr("tsa", "/O=test/CN=Test TSA");
    await issue("tsa", "tsa", "inter", "tsa_ext");
    await issue("noncritical", "tsa", "inter", "noncritical_eku_ext");
    await issue("codesigning", "tsa", "inter", "codesigning_ext");
    await ossl(
      "ca",
      "-batch",
      "-config",
      "ts.cnf",
      "-cert",
      "inter.pem",
      "-keyfile",
      "inter.key",
      "-in",
      "tsa.csr",
      "-out",
      "expired.pem",
      "-startdate",
      "20200101000000Z",
      "-enddate",
      "20210101000000Z",
      "-extfile",
      "ts.cnf",
      "-extensions",
      "tsa_ext",
      "-notext",
    );
    await csr("rsa", "/O=test/CN=RSA TSA", ["-newkey", "rsa:2048", "-nodes"]);
    await issue("rsa", "rsa", "root", "tsa_ext");
    await selfSigned("other", "/O=test/CN=Other Root");
    await csr("othertsa", "/O=test/CN=Other TSA");
    await issue("othertsa", "othertsa", "other", "tsa_ext");

    const message = crypto.getRandomValues(new Uint8Array(71));
    write("msg", message);
    const startedAt = new Date();
    const query = (name: string, ...opts: string[]) =>
      ossl("ts", "-query", "-data", "msg", ...opts, "-out", `${name}.tsq`);
    const reply = (name: string, q: string, signer: string, key: string, ...opts: string[]) =>
      ossl(
        "ts",
        "-reply",
        "-config",
        "ts.cnf",
        "-queryfile",
        `${q}.tsq`,
        "-signer",
        `${signer}.pem`,
        "-inkey",
        `${key}.key`,
        ...opts,
        "-out",
        `${name}.tsr`,
      );
    await query("q256", "-sha256", "-cert");
    await query("q384", "-sha384");
    await query("q512", "-sha512", "-cert");
    await reply("withcerts", "q256", "tsa", "tsa", "-chain", "inter.pem");
    await ossl("ts", "-reply", "-in", "withcerts.tsr", "-token_out", "-out", "bare.der");
    await reply("nocerts", "q384", "tsa", "tsa");
    await reply("rsa", "q512", "rsa", "rsa", "-sha384");
    await reply("untrusted", "q256", "othertsa", "othertsa");
    await reply("expired", "q256", "expired", "tsa");
    const finishedAt = new Date();

    write("tst.der", parseTimestamp(read("withcerts.tsr")).tstInfo);
    const cms = (name: string, signer: string, ...opts: string[]) =>
      ossl(
        "cms",
        "-sign",
        "-in",
        "tst.der",
        "-binary",
        "-nodetach",
        "-econtent_type",
        "1.2.840.113549.1.9.16.1.4",
        "-outform",
        "DER",
        "-signer",
        `${signer}.pem`,
        "-inkey",
        "tsa.key",
        "-md",
        "sha256",
        ...opts,
        "-out",
        `${name}.der`,
      );
    await cms("noncritical", "noncritical");
    await cms("codesigning", "codesigning");
    await cms("keyid", "tsa", "-keyid", "-nocerts");
    await cms("noattr", "tsa", "-noattr");

    return {
      root: cert("root"),
      inter: cert("inter"),
      tsa: cert("tsa"),
      rsaTsa: cert("rsa"),
      otherRoot: cert("other"),
      message,
      startedAt,
      finishedAt,
      withCerts: read("withcerts.tsr"),
      bareToken: read("bare.der"),
      noCerts384: read("nocerts.tsr"),
      rsa: read("rsa.tsr"),
      untrusted: read("untrusted.tsr"),
      expiredCert: read("expired.tsr"),
      cmsNonCriticalEku: read("noncritical.der"),
      cmsCodeSigningEku: read("codesigning.der"),
      cmsKeyIdNoCerts: read("keyid.der"),
      cmsNoAttributes: read("noattr.der"),
    };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

let pkiPromise: Promise<Pki> | undefined;
/** The test PKI, built once per test run. */
function pki(): Promise<Pki> {
  return pkiPromise ??= buildPki();
}

interface AuthoritySpec {
  chain: Uint8Array[];
  start?: string;
  end?: string;
  commonName?: string;
}

/** Timestamp authorities parsed from a trusted_root.json made of `specs`. */
function authorities(...specs: AuthoritySpec[]): readonly CertificateAuthority[] {
  return parseTrustedRoot({
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    timestampAuthorities: specs.map((s) => ({
      subject: { organization: "test", commonName: s.commonName ?? "Test TSA" },
      uri: "https://tsa.example/",
      certChain: { certificates: s.chain.map((c) => ({ rawBytes: c.toBase64() })) },
      validFor: { start: s.start ?? "2000-01-01T00:00:00Z", ...(s.end ? { end: s.end } : {}) },
    })),
  }).timestampAuthorities;
}

function trustFull(p: Pki): readonly CertificateAuthority[] {
  return authorities({ chain: [p.tsa, p.inter, p.root] });
}

/** A copy of `bytes` with the byte at `index` flipped. */
function flip(bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice();
  out[index]! ^= 0x01;
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("timestamp: an openssl TimeStampResp with embedded chain verifies", async () => {
  const p = await pki();
  const ts: ParsedTimestamp = parseTimestamp(p.withCerts);
  assertEquals(ts.status, 0);
  assertEquals(ts.info.policy, "1.2.3.4.1");
  assertEquals(ts.info.hashAlgorithm, "sha256");
  assertEquals(ts.info.tsaName, "O=test, CN=Test TSA");
  assertEquals(ts.info.accuracyMs, 1500.1);
  assert(ts.info.nonce !== undefined, "openssl sends a nonce");
  assertEquals(ts.certificates.length, 2);
  const t = ts.info.genTime.getTime();
  assert(
    t >= p.startedAt.getTime() - 1000 && t <= p.finishedAt.getTime() + 1000,
    `genTime ${ts.info.genTime.toISOString()} is when the test ran`,
  );
  const trust = trustFull(p);
  const check = verifyTimestamp(p.withCerts, p.message, trust);
  assertEquals(check.time.toISOString(), ts.info.genTime.toISOString());
  assert(check.authority === trust[0], "the authority is returned");
});

Deno.test("timestamp: a bare TimeStampToken verifies like the response holding it", async () => {
  const p = await pki();
  const ts = parseTimestamp(p.bareToken);
  assertEquals(ts.status, undefined);
  assertEquals(ts.token.length, p.bareToken.length);
  assertEquals(parseTimestamp(p.withCerts).token.toBase64(), p.bareToken.toBase64());
  verifyTimestamp(p.bareToken, p.message, trustFull(p));
});

Deno.test("timestamp: a token without certificates verifies with the trusted root's leaf", async () => {
  const p = await pki();
  const ts = parseTimestamp(p.noCerts384);
  assertEquals(ts.certificates.length, 0);
  assertEquals(ts.info.hashAlgorithm, "sha384");
  verifyTimestamp(p.noCerts384, p.message, trustFull(p));
  // With only the CAs in the trusted root, nothing names the signing certificate.
  assertThrowsCode(
    () => verifyTimestamp(p.noCerts384, p.message, authorities({ chain: [p.inter, p.root] })),
    "TIMESTAMP_UNTRUSTED",
    /no certificate for the signer \(serial [0-9a-f]+\) is embedded or in its chain/,
  );
});

Deno.test("timestamp: an embedded signer chains to a root that lists only CAs", async () => {
  const p = await pki();
  verifyTimestamp(p.withCerts, p.message, authorities({ chain: [p.inter, p.root] }));
});

Deno.test("timestamp: RSA signer, sha512 imprint and sha384 signer digest verify", async () => {
  const p = await pki();
  const ts = parseTimestamp(p.rsa);
  assertEquals(ts.info.hashAlgorithm, "sha512");
  assertEquals(ts.signer.digestAlgorithm, "sha384");
  assertEquals(ts.signer.signatureAlgorithm, "1.2.840.113549.1.1.1");
  verifyTimestamp(p.rsa, p.message, authorities({ chain: [p.rsaTsa, p.root] }));
});

Deno.test("timestamp: a signer named by subject key identifier is found in the trusted root", async () => {
  const p = await pki();
  const ts = parseTimestamp(p.cmsKeyIdNoCerts);
  assertEquals(ts.signer.id.kind, "subjectKeyIdentifier");
  assertEquals(ts.certificates.length, 0);
  verifyTimestamp(p.cmsKeyIdNoCerts, p.message, trustFull(p));
});

Deno.test("timestamp: the imprint must be over the given bytes", async () => {
  const p = await pki();
  const wrong = flip(p.message, 0);
  for (const der of [p.withCerts, p.noCerts384, p.rsa]) {
    assertThrowsCode(
      () => verifyTimestamp(der, wrong, trustFull(p)),
      "TIMESTAMP_INVALID",
      /message imprint sha(256|384|512):[0-9a-f]+ does not match/,
    );
  }
});

Deno.test("timestamp: a tampered TSTInfo fails the messageDigest check", async () => {
  const p = await pki();
  const ts = parseTimestamp(p.withCerts);
  const at = indexOf(p.withCerts, ts.info.messageImprint);
  assert(at > 0, "the imprint is in the token");
  const tampered = flip(p.withCerts, at + 5);
  // The imprint now matches neither the message nor the signed digest: the signed digest is
  // checked first.
  assertThrowsCode(
    () => verifyTimestamp(tampered, p.message, trustFull(p)),
    "TIMESTAMP_INVALID",
    /messageDigest attribute does not match the sha256 of the TSTInfo/,
  );
});

Deno.test("timestamp: a tampered signature is invalid, with or without embedded certs", async () => {
  const p = await pki();
  for (const der of [p.withCerts, p.noCerts384, p.rsa]) {
    const sig = parseTimestamp(der).signer.signature;
    const at = indexOf(der, sig);
    assert(at > 0, "the signature is in the token");
    const tampered = flip(der, at + sig.length - 1);
    const trust = der === p.rsa ? authorities({ chain: [p.rsaTsa, p.root] }) : trustFull(p);
    assertThrowsCode(
      () => verifyTimestamp(tampered, p.message, trust),
      "TIMESTAMP_INVALID",
      /signature over the signed attributes does not verify/,
    );
  }
});

Deno.test("timestamp: a TSA outside the trusted root is untrusted", async () => {
  const p = await pki();
  assertThrowsCode(
    () => verifyTimestamp(p.untrusted, p.message, trustFull(p)),
    "TIMESTAMP_UNTRUSTED",
    /TSA Test TSA: the signing certificate \(serial [0-9a-f]+\) is not its TSA certificate/,
  );
  assertThrowsCode(
    () => verifyTimestamp(p.untrusted, p.message, authorities({ chain: [p.inter, p.root] })),
    "TIMESTAMP_UNTRUSTED",
    /no trusted certificate authority issued/,
  );
  assertThrowsCode(
    () => verifyTimestamp(p.withCerts, p.message, authorities({ chain: [p.otherRoot] })),
    "TIMESTAMP_UNTRUSTED",
  );
  assertThrowsCode(
    () => verifyTimestamp(p.withCerts, p.message, []),
    "TIMESTAMP_UNTRUSTED",
    /no timestamp authorities/,
  );
});

Deno.test("timestamp: the TSA certificate listed in the trusted root must be the signer", async () => {
  const p = await pki();
  // Same CAs, but the root names the RSA TSA as its leaf: the EC TSA does not qualify.
  assertThrowsCode(
    () => verifyTimestamp(p.withCerts, p.message, authorities({ chain: [p.rsaTsa, p.root] })),
    "TIMESTAMP_UNTRUSTED",
    /is not its TSA certificate/,
  );
});

Deno.test("timestamp: genTime must lie in the TSA's validFor window", async () => {
  const p = await pki();
  const genTime = parseTimestamp(p.withCerts).info.genTime;
  const before = new Date(genTime.getTime() - 1).toISOString();
  const after = new Date(genTime.getTime() + 1).toISOString();
  const full = [p.tsa, p.inter, p.root];
  assertThrowsCode(
    () => verifyTimestamp(p.withCerts, p.message, authorities({ chain: full, start: after })),
    "TIMESTAMP_UNTRUSTED",
    /genTime outside its validity/,
  );
  assertThrowsCode(
    () =>
      verifyTimestamp(
        p.withCerts,
        p.message,
        authorities({ chain: full, start: "2020-01-01T00:00:00Z", end: before }),
      ),
    "TIMESTAMP_UNTRUSTED",
    /genTime outside its validity/,
  );
  // Both bounds are inclusive.
  const exact = genTime.toISOString();
  verifyTimestamp(p.withCerts, p.message, authorities({ chain: full, start: exact, end: exact }));
  // An expired authority is skipped in favour of a current one.
  const trust = authorities(
    { chain: full, start: "2020-01-01T00:00:00Z", end: before, commonName: "old" },
    { chain: full, start: before, commonName: "current" },
  );
  assert(verifyTimestamp(p.withCerts, p.message, trust).authority === trust[1], "current TSA");
});

Deno.test("timestamp: genTime must lie in the signing certificate's validity", async () => {
  const p = await pki();
  assertThrowsCode(
    () => verifyTimestamp(p.expiredCert, p.message, authorities({ chain: [p.inter, p.root] })),
    "TIMESTAMP_UNTRUSTED",
    /outside the signing certificate's validity \(2020-01-01T00:00:00\.000Z to 2021-01-01/,
  );
});

Deno.test("timestamp: the signing certificate needs a critical timeStamping EKU", async () => {
  const p = await pki();
  const trust = authorities({ chain: [p.inter, p.root] });
  assertThrowsCode(
    () => verifyTimestamp(p.cmsNonCriticalEku, p.message, trust),
    "TIMESTAMP_UNTRUSTED",
    /extended key usage is not critical/,
  );
  assertThrowsCode(
    () => verifyTimestamp(p.cmsCodeSigningEku, p.message, trust),
    "TIMESTAMP_UNTRUSTED",
    /lacks the timeStamping EKU/,
  );
});

Deno.test("timestamp: malformed tokens are invalid", async () => {
  const p = await pki();
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["empty", new Uint8Array(0), /not valid DER/],
    ["garbage", new Uint8Array([1, 2, 3, 4]), /not valid DER|tag/],
    ["trailing byte", new Uint8Array([...p.bareToken, 0]), /trailing/],
    ["truncated", p.bareToken.subarray(0, p.bareToken.length - 1), /not valid DER/],
    ["rejected", new Uint8Array([0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]), /status 2/],
    ["no signed attributes", p.cmsNoAttributes, /no signed attributes/],
  ];
  for (const [label, der, pattern] of cases) {
    assertThrowsCode(() => parseTimestamp(der), "TIMESTAMP_INVALID", pattern, label);
    assertThrowsCode(
      () => verifyTimestamp(der, p.message, trustFull(p)),
      "TIMESTAMP_INVALID",
      undefined,
      label,
    );
  }
});

Deno.test("timestamp: genTime keeps milliseconds and rejects impossible dates", async () => {
  const p = await pki();
  const ts = parseTimestamp(p.bareToken);
  // Find the GeneralizedTime in the TSTInfo and rewrite it in place, keeping its length.
  const tstAt = indexOf(p.bareToken, ts.tstInfo);
  const timeAt = indexOf(ts.tstInfo, new TextEncoder().encode(String(new Date().getUTCFullYear())));
  assert(tstAt > 0 && timeAt > 0, "genTime is in the token");
  const length = ts.tstInfo[timeAt - 1]!;
  const rewrite = (text: string) => {
    const out = p.bareToken.slice();
    out.set(new TextEncoder().encode(text.padEnd(length, "?")), tstAt + timeAt);
    return out;
  };
  const frac = "6789123".slice(0, length - 16);
  const good = "20250102030405" + (frac ? "." + frac : "") + "Z";
  assertEquals(
    parseTimestamp(rewrite(good)).info.genTime.toISOString(),
    `2025-01-02T03:04:05.${frac.padEnd(3, "0").slice(0, 3)}Z`,
  );
  for (const bad of ["20250230030405", "20251302030405", "20250102250405"]) {
    const text = bad + good.slice(14);
    assertThrowsCode(() => parseTimestamp(rewrite(text)), "TIMESTAMP_INVALID", /genTime/, bad);
  }
});

Deno.test("timestamp: errors are CosignErrors with one-line messages", async () => {
  const p = await pki();
  try {
    verifyTimestamp(p.untrusted, p.message, trustFull(p));
    throw new Error("expected a failure");
  } catch (e) {
    assert(e instanceof CosignError, "a CosignError");
    assert(e.exitCode === 1, "verification failures exit 1");
    assert(/^Untrusted RFC 3161 timestamp \(serial [0-9a-f]+, genTime /.test(e.message), e.message);
  }
});
