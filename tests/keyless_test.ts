/**
 * Keyless verification end to end: a certificate from a mock Fulcio CA (npm:@sigstore/mock, with
 * an embedded SCT from its CT log) over a key we hold, the signature logged in a loopback Rekor
 * as cosign logs keyless signatures (the certificate PEM as the entry's key), packed into a
 * Sigstore v0.3 bundle, then `cosign verify-blob --certificate-identity ... --trusted-root`
 * with the network denied: chain, SCT, identity, issuer, log entry and signing time.
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { bundleV03Json } from "../lib/cosign/bundle_writer.ts";
import { hashedRekordEntry, RekorClient, type RekorEntry } from "../lib/tlog/rekor.ts";
import { certificatePem, createKeylessTrust, type KeylessTrust } from "./harness/fulcio.ts";
import { type Rekor, startRekor } from "./harness/rekor.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  cosignOffline,
  FIXTURES,
  tempDir,
} from "./helpers.ts";

const ID = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";
const ISSUER = "https://token.actions.githubusercontent.com";
const BLOB = new TextEncoder().encode("a keyless release\n");
const SHA = createHash("sha256").update(BLOB).digest();

interface Signed {
  readonly certDer: Uint8Array;
  readonly signature: Uint8Array;
  readonly entry: RekorEntry | undefined;
}

async function signKeyless(
  trust: KeylessTrust,
  rekor: Rekor | undefined,
  options: { san?: string; issuer?: string; key?: KeyObject; publicKey?: KeyObject } = {},
): Promise<Signed> {
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const certDer = await trust.issue(keys.publicKey, {
    san: options.san ?? ID,
    issuer: options.issuer ?? ISSUER,
    extensions: [
      { oid: "1.3.6.1.4.1.57264.1.2", value: "push", legacy: true },
      { oid: "1.3.6.1.4.1.57264.1.5", value: "acme/app", legacy: true },
    ],
  });
  const signature = new Uint8Array(sign("sha256", BLOB, keys.privateKey));
  let entry: RekorEntry | undefined;
  if (rekor) {
    const client = new RekorClient(rekor.url);
    try {
      entry = await client.upload(
        hashedRekordEntry(SHA.toString("hex"), signature, certificatePem(certDer)),
      );
    } finally {
      client.close();
    }
  }
  return { certDer, signature, entry };
}

function bundleFor(s: Signed, timestamps: Uint8Array[] = []): string {
  return bundleV03Json({
    content: {
      type: "messageSignature",
      digest: { algorithm: "sha256", bytes: new Uint8Array(SHA) },
      signature: s.signature,
    },
    verificationMaterial: { type: "certificate", der: s.certDer },
    tlogEntry: s.entry,
    rfc3161Timestamps: timestamps,
  });
}

async function setUp(dir: string, trust: KeylessTrust, rekor: Rekor | undefined) {
  await Deno.writeFile(`${dir}/blob`, BLOB);
  await Deno.writeTextFile(
    `${dir}/root.json`,
    JSON.stringify(trust.trustedRoot(rekor ? { rekorPublicKeyPem: rekor.publicKeyPem } : {})),
  );
}

function verify(dir: string, bundle: string, extra: string[] = []) {
  return cosignOffline([
    "verify-blob",
    "--bundle",
    bundle,
    "--trusted-root",
    `${dir}/root.json`,
    ...extra,
    `${dir}/blob`,
  ]);
}

const IDENTITY = ["--certificate-identity", ID, "--certificate-oidc-issuer", ISSUER];

Deno.test("keyless: verify-blob checks chain, SCT, identity and log offline", async (t) => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const trust = await createKeylessTrust();
  await setUp(p, trust, rekor);
  const signed = await signKeyless(trust, rekor);
  await Deno.writeTextFile(`${p}/b.json`, bundleFor(signed));

  await t.step("exact identity and issuer, no network", async () => {
    const r = await verify(p, `${p}/b.json`, IDENTITY);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes("verified offline"), r.stderr);
    assert(r.stderr.includes("Verified OK"), r.stderr);
  });
  await t.step("by digest, and with regular expressions (unanchored, as Go's)", async () => {
    const hex = `sha256:${SHA.toString("hex")}`;
    const r = await cosignOffline([
      "verify-blob",
      "--bundle",
      `${p}/b.json`,
      "--trusted-root",
      `${p}/root.json`,
      "--certificate-identity-regexp",
      "acme/app/",
      "--certificate-oidc-issuer-regexp",
      "^https://token\\.actions\\.",
      hex,
    ]);
    assertEquals(r.code, 0, r.stderr);
  });
  await t.step("GitHub workflow claims", async () => {
    const ok = await verify(p, `${p}/b.json`, [
      ...IDENTITY,
      "--certificate-github-workflow-trigger",
      "push",
      "--certificate-github-workflow-repository",
      "acme/app",
    ]);
    assertEquals(ok.code, 0, ok.stderr);
    const bad = await verify(p, `${p}/b.json`, [
      ...IDENTITY,
      "--certificate-github-workflow-repository",
      "evil/app",
    ]);
    assertFails(bad, 1, /evil\/app[\s\S]*acme\/app|acme\/app[\s\S]*evil\/app/);
  });
  await t.step(
    "identity mismatch names what was expected and what the certificate holds",
    async () => {
      const r = await verify(p, `${p}/b.json`, [
        "--certificate-identity",
        "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main",
        "--certificate-oidc-issuer",
        ISSUER,
      ]);
      assertFails(
        r,
        1,
        /acme\/other[\s\S]*acme\/app\/\.github|acme\/app\/\.github[\s\S]*acme\/other/,
      );
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    },
  );
  await t.step("issuer mismatch", async () => {
    const r = await verify(p, `${p}/b.json`, [
      "--certificate-identity",
      ID,
      "--certificate-oidc-issuer",
      "https://accounts.google.com",
    ]);
    assertFails(r, 1, /accounts\.google\.com/);
  });
  await t.step("identity flags are required, and exclusive with --key", async () => {
    const noIssuer = await verify(p, `${p}/b.json`, ["--certificate-identity", ID]);
    assertFails(noIssuer, 2, /issuer/);
    const both = await verify(p, `${p}/b.json`, [...IDENTITY, "--key", `${p}/root.json`]);
    assertFails(both, 2, /exclusive/);
    const badRe = await verify(p, `${p}/b.json`, [
      "--certificate-identity-regexp",
      "(",
      "--certificate-oidc-issuer",
      ISSUER,
    ]);
    assertFails(badRe, 2, /certificate-identity-regexp/);
  });
  await t.step("a CA that is not in the trusted root", async () => {
    const other = await createKeylessTrust();
    await Deno.writeTextFile(
      `${p}/other.json`,
      JSON.stringify(other.trustedRoot({
        rekorPublicKeyPem: rekor.publicKeyPem,
      })),
    );
    const r = await cosignOffline([
      "verify-blob",
      "--bundle",
      `${p}/b.json`,
      "--trusted-root",
      `${p}/other.json`,
      ...IDENTITY,
      `${p}/blob`,
    ]);
    assertFails(r, 1, /no trusted certificate authority issued the certificate/);
  });
  await t.step("tampered signature and altered log entry", async () => {
    const b = JSON.parse(await Deno.readTextFile(`${p}/b.json`));
    const sig = Uint8Array.fromBase64(b.messageSignature.signature);
    sig[sig.length - 3]! ^= 1;
    b.messageSignature.signature = sig.toBase64();
    await Deno.writeTextFile(`${p}/tampered.json`, JSON.stringify(b));
    assertFails(await verify(p, `${p}/tampered.json`, IDENTITY), 1, /signature/i);
    const b2 = JSON.parse(await Deno.readTextFile(`${p}/b.json`));
    const body = JSON.parse(atob(b2.verificationMaterial.tlogEntries[0].canonicalizedBody));
    body.spec.data.hash.value = "0".repeat(64);
    b2.verificationMaterial.tlogEntries[0].canonicalizedBody = btoa(JSON.stringify(body));
    await Deno.writeTextFile(`${p}/altered.json`, JSON.stringify(b2));
    assertFails(await verify(p, `${p}/altered.json`, IDENTITY), 1, /log entry/i);
  });
});

Deno.test("keyless: a certificate expired at the integrated time is refused", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  // Issued an hour ago: valid for 10 minutes, so expired when the log integrates the entry now.
  const trust = await createKeylessTrust(new Date(Date.now() - 3600_000));
  await setUp(p, trust, rekor);
  await Deno.writeTextFile(`${p}/b.json`, bundleFor(await signKeyless(trust, rekor)));
  assertFails(
    await verify(p, `${p}/b.json`, IDENTITY),
    1,
    /signing certificate .* expired at .*, signing time/,
  );
});

Deno.test("keyless: SCT required unless --insecure-ignore-sct", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const trust = await createKeylessTrust(undefined, { withoutSct: true });
  await setUp(p, trust, rekor);
  await Deno.writeTextFile(`${p}/b.json`, bundleFor(await signKeyless(trust, rekor)));
  assertFails(await verify(p, `${p}/b.json`, IDENTITY), 1, /SCT|certificate timestamp/i);
  const r = await verify(p, `${p}/b.json`, [...IDENTITY, "--insecure-ignore-sct"]);
  assertEquals(r.code, 0, r.stderr);
});

Deno.test("keyless: an RFC 3161 timestamp is the signing time when the log is skipped", async () => {
  await using d = await tempDir();
  const p = d.path;
  const trust = await createKeylessTrust();
  await setUp(p, trust, undefined);
  const signed = await signKeyless(trust, undefined);
  const stamp = await trust.timestamp(signed.signature);
  await Deno.writeTextFile(`${p}/b.json`, bundleFor(signed, [stamp]));
  const r = await verify(p, `${p}/b.json`, [...IDENTITY, "--insecure-ignore-tlog"]);
  assertEquals(r.code, 0, r.stderr);
  // Without --insecure-ignore-tlog a bundle with no log entry is refused.
  assertFails(await verify(p, `${p}/b.json`, IDENTITY), 1, /transparency log/);
  // The same timestamp twice counts once (sigstore-go's rule): it verifies, the copy reported.
  await Deno.writeTextFile(`${p}/twice.json`, bundleFor(signed, [stamp, stamp]));
  const twice = await verify(p, `${p}/twice.json`, [...IDENTITY, "--insecure-ignore-tlog"]);
  assertEquals(twice.code, 0, twice.stderr);
  assert(
    /WARNING: skipped RFC 3161 timestamp 2: Duplicate RFC 3161 timestamp/.test(twice.stderr),
    twice.stderr,
  );
  // A timestamp over another signature is refused.
  const other = await trust.timestamp(new Uint8Array([1, 2, 3]));
  await Deno.writeTextFile(`${p}/wrong.json`, bundleFor(signed, [other]));
  assertFails(
    await verify(p, `${p}/wrong.json`, [...IDENTITY, "--insecure-ignore-tlog"]),
    1,
    /imprint/,
  );
});

Deno.test("keyless: verify-blob-attestation checks a real keyless DSSE bundle offline", async () => {
  const c = `${FIXTURES}conformance/public/intoto-with-custom-trust-root/`;
  const base = [
    "verify-blob-attestation",
    "--bundle",
    `${c}bundle.sigstore.json`,
    "--trusted-root",
    `${c}trusted_root.json`,
    "--type",
    "https://slsa.dev/provenance/v1",
  ];
  const beacon =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
  const id = ["--certificate-identity", beacon, "--certificate-oidc-issuer", ISSUER];
  const ok = await cosignOffline([...base, ...id, `${c}artifact`]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes("verified offline"), ok.stderr);
  // Another file: no subject names it.
  const other = await cosignOffline([...base, ...id, `${FIXTURES}conformance/public/a.txt`]);
  assertFails(other, 1, /no matching subject/);
  const wrong = await cosignOffline([
    ...base,
    "--certificate-identity",
    "https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main",
    "--certificate-oidc-issuer",
    ISSUER,
    `${c}artifact`,
  ]);
  assertFails(wrong, 1, /acme\/app/);
  const both = await cosignOffline([
    ...base,
    ...id,
    "--key",
    `${c}trusted_root.json`,
    `${c}artifact`,
  ]);
  assertFails(both, 2, /exclusive/);
});

Deno.test("keyless: cosign's real OCI attestation bundle (public-good Rekor v1, dsse entry)", async () => {
  const b = `${FIXTURES}bundles/`;
  const base = [
    "verify-blob-attestation",
    "--bundle",
    `${b}oci-attestation.sigstore.json`,
    "--trusted-root",
    `${b}trusted_root_pgi.json`,
  ];
  const who = [
    "--certificate-identity",
    "cody@soyland.com",
    "--certificate-oidc-issuer",
    "https://github.com/login/oauth",
  ];
  // The subject is the image whose manifest is empty-image/manifest.json.
  const ok = await cosignOffline([...base, ...who, `${b}empty-image/manifest.json`]);
  assertEquals(ok.code, 0, ok.stderr);
  const any = await cosignOffline([
    ...base,
    "--certificate-identity-regexp",
    ".*",
    "--certificate-oidc-issuer-regexp",
    ".*",
    "--digest",
    "732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4",
  ]);
  assertEquals(any.code, 0, any.stderr);
  const wrong = await cosignOffline([
    ...base,
    "--certificate-identity-regexp",
    "wrong",
    "--certificate-oidc-issuer-regexp",
    ".*",
    `${b}empty-image/manifest.json`,
  ]);
  assertFails(wrong, 1, /cody@soyland\.com/);
  const otherImage = await cosignOffline([...base, ...who, `${b}empty-image/config.json`]);
  assertFails(otherImage, 1, /no matching subject digest/);
});

Deno.test("keyless: verify-blob --certificate --signature finds the entry in Rekor", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const trust = await createKeylessTrust();
  await setUp(p, trust, rekor);
  const signed = await signKeyless(trust, rekor);
  await Deno.writeTextFile(`${p}/cert.pem`, certificatePem(signed.certDer));
  await Deno.writeTextFile(`${p}/chain.pem`, certificatePem(trust.rootDer));
  await Deno.writeTextFile(`${p}/blob.sig`, signed.signature.toBase64());
  const base = [
    "verify-blob",
    "--certificate",
    `${p}/cert.pem`,
    "--certificate-chain",
    `${p}/chain.pem`,
    "--signature",
    `${p}/blob.sig`,
    "--trusted-root",
    `${p}/root.json`,
    "--rekor-url",
    rekor.url,
  ];
  const online = (extra: string[]) => cosign([...base, ...extra, `${p}/blob`]);
  const ok = await online(IDENTITY);
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes("The claims were present in the transparency log"), ok.stderr);
  assertFails(
    await online(["--certificate-identity", "x@example.com", "--certificate-oidc-issuer", ISSUER]),
    1,
    /x@example\.com/,
  );
  assertFails(await online([...IDENTITY, "--offline"]), 1, /offline/);
  // Another blob: the log has no entry for it.
  await Deno.writeTextFile(`${p}/other`, "other\n");
  assertFails(
    await cosign([...base, ...IDENTITY, `${p}/other`]),
    1,
    /not found in the transparency log/,
  );
  // Without the log: the certificate is checked now, or at an RFC 3161 timestamp.
  const skip = await cosign([...base, ...IDENTITY, "--insecure-ignore-tlog", `${p}/blob`]);
  assertEquals(skip.code, 0, skip.stderr);
  await Deno.writeFile(`${p}/ts.der`, await trust.timestamp(signed.signature));
  const stamped = await cosign([
    ...base,
    ...IDENTITY,
    "--insecure-ignore-tlog",
    "--rfc3161-timestamp",
    `${p}/ts.der`,
    `${p}/blob`,
  ]);
  assertEquals(stamped.code, 0, stamped.stderr);
});

Deno.test("keyless: verify-blob --certificate without the log checks an expired certificate at now", async () => {
  await using d = await tempDir();
  const p = d.path;
  const trust = await createKeylessTrust(new Date(Date.now() - 3600_000));
  await setUp(p, trust, undefined);
  const signed = await signKeyless(trust, undefined);
  await Deno.writeTextFile(`${p}/cert.pem`, certificatePem(signed.certDer));
  await Deno.writeTextFile(`${p}/blob.sig`, signed.signature.toBase64());
  const r = await cosignOffline([
    "verify-blob",
    "--certificate",
    `${p}/cert.pem`,
    "--signature",
    `${p}/blob.sig`,
    "--trusted-root",
    `${p}/root.json`,
    "--insecure-ignore-tlog",
    ...IDENTITY,
    `${p}/blob`,
  ]);
  assertFails(r, 1, /expired/);
});
