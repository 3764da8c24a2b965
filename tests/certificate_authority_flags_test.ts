/**
 * Certificate verification flags of the verify commands (cosign's `CertVerifyOptions`):
 * `--ca-roots` with `--ca-intermediates`, or `--certificate-chain`, replace the trusted root's
 * Fulcio CAs; `--sct` is a detached SCT (an RFC 6962 add-chain response) over the signing
 * certificate, verified with the trusted root's CT log key. The CA hierarchy (root →
 * intermediate → code-signing leaf with Fulcio's issuer extensions) is made by openssl, the SCT
 * by node:crypto, independently of the code under test.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
} from "node:crypto";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, sh, tempDir } from "./helpers.ts";

const ID = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER = "https://token.actions.githubusercontent.com";

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await sh("openssl", args, { cwd });
  assertEquals(r.code, 0, `openssl ${args.join(" ")}: ${r.err}`);
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** root.pem → inter.pem → leaf.pem (+ leaf.key), and other.pem (an unrelated root), in `dir`. */
async function makeHierarchy(dir: string): Promise<void> {
  const hex = (s: string) => new TextEncoder().encode(s).toHex();
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    [
      "[inter]",
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "keyUsage=critical,keyCertSign,cRLSign",
      "extendedKeyUsage=codeSigning",
      "[leaf]",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=codeSigning",
      `subjectAltName=critical,URI:${ID}`,
      // Fulcio's issuer: v1 raw bytes, v2 a DER UTF8String.
      `1.3.6.1.4.1.57264.1.1=DER:${hex(ISSUER)}`,
      `1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${ISSUER}`,
      "",
    ].join("\n"),
  );
  for (const name of ["root", "other"]) {
    await openssl([
      "req",
      "-x509",
      ...EC,
      "-days",
      "30",
      "-subj",
      `/O=test/CN=${name} CA`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
    ], dir);
  }
  const issue = async (name: string, issuer: string, section: string) => {
    await openssl([
      "req",
      ...EC,
      "-subj",
      `/O=test/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    ], dir);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${issuer}.pem`,
      "-CAkey",
      `${issuer}.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
      "-extensions",
      section,
      "-out",
      `${name}.pem`,
    ], dir);
  };
  await issue("inter", "root", "inter");
  await issue("leaf", "inter", "leaf");
}

function der(pem: string): Uint8Array {
  return Uint8Array.fromBase64(pem.replace(/-----[^-]+-----|\s/g, ""));
}

/** An add-chain response for `certDer`, signed (RFC 6962 x509_entry) with `ctKey`. */
function detachedSct(certDer: Uint8Array, ctKey: ReturnType<typeof generateKeyPairSync>): string {
  const spki = ctKey.publicKey.export({ format: "der", type: "spki" });
  const timestamp = Date.now() - 60_000;
  const b = (n: number, len: number) => {
    const out = new Uint8Array(len);
    for (let i = len - 1; i >= 0; i--, n = Math.floor(n / 256)) out[i] = n % 256;
    return out;
  };
  const signed = new Uint8Array([
    0, // v1
    0, // certificate_timestamp
    ...b(timestamp, 8),
    0,
    0, // x509_entry
    ...b(certDer.length, 3),
    ...certDer,
    0,
    0, // no extensions
  ]);
  const sig = new Uint8Array(sign("sha256", signed, ctKey.privateKey));
  const digitallySigned = new Uint8Array([4, 3, ...b(sig.length, 2), ...sig]);
  return JSON.stringify({
    sct_version: 0,
    id: new Uint8Array(createHash("sha256").update(spki).digest()).toBase64(),
    timestamp,
    extensions: "",
    signature: digitallySigned.toBase64(),
  });
}

/** A trusted root whose Fulcio CA is `other.pem` (not ours) and whose CT log is `ctKey`. */
function trustedRoot(otherPem: string, ctKey: ReturnType<typeof generateKeyPairSync>): string {
  const ct = new Uint8Array(ctKey.publicKey.export({ format: "der", type: "spki" }));
  const start = { start: "2000-01-01T00:00:00Z" };
  return JSON.stringify({
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [],
    certificateAuthorities: [{
      subject: { organization: "test", commonName: "other CA" },
      uri: "https://other.example",
      certChain: { certificates: [{ rawBytes: der(otherPem).toBase64() }] },
      validFor: start,
    }],
    ctlogs: [{
      baseUrl: "https://ct.example",
      hashAlgorithm: "SHA2_256",
      publicKey: {
        rawBytes: ct.toBase64(),
        keyDetails: "PKIX_ECDSA_P256_SHA_256",
        validFor: start,
      },
      logId: { keyId: new Uint8Array(createHash("sha256").update(ct).digest()).toBase64() },
    }],
    timestampAuthorities: [],
  });
}

async function setUp(p: string) {
  await makeHierarchy(p);
  const ctKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const leafPem = await Deno.readTextFile(`${p}/leaf.pem`);
  await Deno.writeTextFile(
    `${p}/root.json`,
    trustedRoot(await Deno.readTextFile(`${p}/other.pem`), ctKey),
  );
  await Deno.writeTextFile(
    `${p}/chain.pem`,
    (await Deno.readTextFile(`${p}/inter.pem`)) + (await Deno.readTextFile(`${p}/root.pem`)),
  );
  await Deno.writeTextFile(`${p}/sct.json`, detachedSct(der(leafPem), ctKey));
  // An SCT the log signed for another certificate (the intermediate).
  await Deno.writeTextFile(
    `${p}/wrong-sct.json`,
    detachedSct(der(await Deno.readTextFile(`${p}/inter.pem`)), ctKey),
  );
  const leafKey = createPrivateKey(await Deno.readTextFile(`${p}/leaf.key`));
  assert(createPublicKey(leafKey).asymmetricKeyType === "ec", "leaf key");
  return { leafKey };
}

Deno.test("verify-blob: --ca-roots/--ca-intermediates, --certificate-chain and --sct", async () => {
  await using d = await tempDir();
  const p = d.path;
  const { leafKey } = await setUp(p);
  await Deno.writeTextFile(`${p}/blob`, "release artifact\n");
  await Deno.writeTextFile(
    `${p}/blob.sig`,
    new Uint8Array(sign("sha256", await Deno.readFile(`${p}/blob`), leafKey)).toBase64(),
  );
  const v = (extra: string[]) =>
    cosign([
      "verify-blob",
      "--certificate",
      `${p}/leaf.pem`,
      "--signature",
      `${p}/blob.sig`,
      "--trusted-root",
      `${p}/root.json`,
      "--insecure-ignore-tlog",
      "--certificate-identity",
      ID,
      "--certificate-oidc-issuer",
      ISSUER,
      ...extra,
      `${p}/blob`,
    ]);
  const noSct = ["--insecure-ignore-sct"];
  const ca = ["--ca-roots", `${p}/root.pem`, "--ca-intermediates", `${p}/inter.pem`];

  // The trusted root's CA did not issue the chain; the flags' CAs did.
  assertFails(await v(noSct), 1, /no trusted certificate authority issued/);
  assertEquals((await v([...noSct, ...ca])).code, 0);
  assertFails(await v([...noSct, "--ca-roots", `${p}/root.pem`]), 1, /untrusted/i);
  assertFails(
    await v([...noSct, "--ca-roots", `${p}/other.pem`, "--ca-intermediates", `${p}/inter.pem`]),
    1,
    /untrusted/i,
  );
  const chain = ["--certificate-chain", `${p}/chain.pem`];
  const ok = await v([...noSct, ...chain]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes("Verified OK"), ok.stderr);

  // SCTs: none embedded, so without --insecure-ignore-sct a detached one is needed.
  assertFails(await v(chain), 1, /signed certificate timestamp/);
  const withSct = await v([...chain, "--sct", `${p}/sct.json`]);
  assertEquals(withSct.code, 0, withSct.stderr);
  assertEquals((await v([...ca, "--sct", `${p}/sct.json`])).code, 0);
  assertFails(
    await v([...chain, "--sct", `${p}/wrong-sct.json`]),
    1,
    /detached SCT.*does not verify/,
  );
  await Deno.writeTextFile(`${p}/junk.json`, "not json");
  assertFails(await v([...chain, "--sct", `${p}/junk.json`]), 1, /Invalid detached SCT: not JSON/);

  // Combinations cosign refuses, and files without certificates.
  assertFails(
    await v([...chain, "--sct", `${p}/sct.json`, ...noSct]),
    2,
    /--sct and --insecure-ignore-sct/,
  );
  assertFails(await v([...noSct, ...chain, "--ca-roots", `${p}/root.pem`]), 2, /exclusive/);
  assertFails(
    await v([...noSct, "--ca-intermediates", `${p}/inter.pem`]),
    2,
    /--ca-intermediates needs --ca-roots/,
  );
  assertFails(
    await v([...noSct, "--ca-roots", `${p}/blob`]),
    1,
    /--ca-roots .*no certificate found/,
  );
});

Deno.test("verify, verify-attestation, verify-blob-attestation: the CA flags are wired", async () => {
  await using reg = await startRegistry();
  await using d = await tempDir();
  const p = d.path;
  const { leafKey } = await setUp(p);
  const env = { HOME: p };
  const img = await pushImage(reg, "test/ca:v1");
  const ref = `${reg.host}/test/ca@${img.digest}`;
  const gen = await cosign(["generate", ref], { env });
  assertEquals(gen.code, 0, gen.stderr);
  const payload = new TextEncoder().encode(gen.out.trimEnd());
  await Deno.writeFile(`${p}/payload.json`, payload);
  const att = await cosign([
    "attach",
    "signature",
    "--payload",
    `${p}/payload.json`,
    "--signature",
    new Uint8Array(sign("sha256", payload, leafKey)).toBase64(),
    "--certificate",
    `${p}/leaf.pem`,
    ref,
  ], { env });
  assertEquals(att.code, 0, att.stderr);
  const identity = ["--certificate-identity", ID, "--certificate-oidc-issuer", ISSUER];
  const verify = (extra: string[]) =>
    cosign([
      "verify",
      "--trusted-root",
      `${p}/root.json`,
      "--insecure-ignore-tlog",
      ...identity,
      ...extra,
      ref,
    ], { env });
  assertFails(await verify(["--sct", `${p}/sct.json`]), 12, /no trusted certificate authority/);
  const ok = await verify([
    "--ca-roots",
    `${p}/root.pem`,
    "--ca-intermediates",
    `${p}/inter.pem`,
    "--sct",
    `${p}/sct.json`,
  ]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(JSON.parse(ok.out)[0].optional.Subject === ID, ok.out);
  assertFails(
    await verify(["--certificate-chain", `${p}/chain.pem`, "--sct", `${p}/wrong-sct.json`]),
    12,
    /detached SCT/,
  );

  // The other two commands read the same flags (refused before anything is fetched).
  const bad = ["--ca-intermediates", `${p}/inter.pem`];
  assertFails(
    await cosign(["verify-attestation", "--insecure-ignore-tlog", ...identity, ...bad, ref], {
      env,
    }),
    2,
    /--ca-intermediates needs --ca-roots/,
  );
  await Deno.writeTextFile(`${p}/bundle.json`, "{}");
  assertFails(
    await cosign([
      "verify-blob-attestation",
      "--bundle",
      `${p}/bundle.json`,
      "--insecure-ignore-tlog",
      ...identity,
      ...bad,
      `${p}/payload.json`,
    ], { env }),
    2,
    /--ca-intermediates needs --ca-roots/,
  );
});
