/**
 * Forgeries that must not verify (issue: "forged signatures verify"). Each test rebuilds an
 * attack from public material: the real public-good attestation by `cody@soyland.com` in
 * `bundles/oci-attestation.sigstore.json`, checked against the production trusted root, whose
 * signature, certificate and log entry are all genuine but sign another artifact. The attacker
 * places those genuine bytes beside claims of their own. The rule under test: the claims (image
 * digest, subject, predicate) are read from exactly the bytes whose signature verified.
 *
 * Each attack is paired with the honest input, which still verifies.
 */
import { generateKeyPairSync, sign as nodeSign } from "node:crypto";
import { RegistryClient } from "../lib/oci/registry.ts";
import { parseReference } from "../lib/oci/reference.ts";
import { appendAttachments, SIMPLE_SIGNING_MEDIA_TYPE } from "../lib/cosign/attachments.ts";
import { attachmentRef } from "../lib/cosign/tags.ts";
import { simpleSigningPayload } from "../lib/cosign/payload.ts";
import { pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import { pushBlob, putManifest } from "./harness/raw.ts";
import { assert, assertEquals, assertFails, cosign, FIXTURES, run, tempDir } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const BUNDLES = FIXTURES + "bundles/";
const PGI_ROOT = BUNDLES + "trusted_root_pgi.json";
/** The digest the genuine attestation's subject names: `empty-image/manifest.json`. */
const ATTESTED_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
const ANY_SIGNER = [
  "--certificate-identity-regexp",
  ".*",
  "--certificate-oidc-issuer-regexp",
  ".*",
];
const CODY = [
  "--certificate-identity",
  "cody@soyland.com",
  "--certificate-oidc-issuer",
  "https://github.com/login/oauth",
];
const SIG = "dev.cosignproject.cosign/signature";
const CERT = "dev.sigstore.cosign/certificate";
const BUNDLE = "dev.sigstore.cosign/bundle";
const DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";
const enc = new TextEncoder();

/** The genuine material of the public-good attestation, in the shapes cosign stores it. */
function genuine() {
  const j: Any = JSON.parse(Deno.readTextFileSync(BUNDLES + "oci-attestation.sigstore.json"));
  const env = j.dsseEnvelope;
  const e = j.verificationMaterial.tlogEntries[0];
  // The envelope as cosign uploaded it (Go's struct order): the bytes the log entry hashes.
  const envelope = enc.encode(JSON.stringify({
    payloadType: env.payloadType,
    payload: env.payload,
    signatures: env.signatures.map((s: Any) => ({ keyid: "", sig: s.sig })),
  }));
  const rekorBundle = {
    SignedEntryTimestamp: e.inclusionPromise.signedEntryTimestamp,
    Payload: {
      body: e.canonicalizedBody,
      integratedTime: Number(e.integratedTime),
      logIndex: Number(e.logIndex),
      logID: Uint8Array.fromBase64(e.logId.keyId).toHex(),
    },
  };
  const der = Uint8Array.fromBase64(j.verificationMaterial.certificate.rawBytes);
  const certPem = `-----BEGIN CERTIFICATE-----\n${
    der.toBase64().match(/.{1,64}/g)!.join("\n")
  }\n-----END CERTIFICATE-----\n`;
  return { json: j, envelope, rekorBundle, certPem, sig: env.signatures[0].sig as string };
}

/** An unsigned in-toto envelope naming `sha256Hex` as its subject. */
function unsignedEnvelope(name: string, sha256Hex: string, sig: string): Uint8Array {
  const statement = {
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://cosign.sigstore.dev/attestation/v1",
    subject: [{ name, digest: { sha256: sha256Hex } }],
    predicate: { Data: "evil", Timestamp: "2025-02-28T19:18:11Z" },
  };
  return enc.encode(JSON.stringify({
    payloadType: "application/vnd.in-toto+json",
    payload: enc.encode(JSON.stringify(statement)).toBase64(),
    signatures: [{ keyid: "", sig }],
  }));
}

function client(): RegistryClient {
  return new RegistryClient({ keychain: () => Promise.resolve(undefined) });
}

/** Pushes go-containerregistry's empty image, the one the genuine attestation names. */
async function pushAttestedImage(reg: Registry, repo: string): Promise<string> {
  const config = await Deno.readFile(BUNDLES + "empty-image/config.json");
  const manifest = await Deno.readFile(BUNDLES + "empty-image/manifest.json");
  await pushBlob(reg, repo, config);
  await putManifest(
    reg,
    repo,
    "v1",
    manifest,
    "application/vnd.docker.distribution.manifest.v2+json",
  );
  return `${reg.host}/${repo}@${ATTESTED_DIGEST}`;
}

Deno.test("forgery: a .sig layer smuggling someone's signed envelope does not verify (verify, sget, --local-image, copy)", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  const env = { HOME: p, TMPDIR: p };
  // The target: an artifact nobody signed, uploaded as a blob image sget would hand over.
  await Deno.writeTextFile(`${p}/evil.sh`, "echo pwned\n");
  const up = await cosign(["upload", "blob", "-f", `${p}/evil.sh`, `${reg.host}/tools/evil:v1`], {
    env,
  });
  assertEquals(up.code, 0, up.stderr);
  const target = parseReference(up.out.trim());
  const g = genuine();
  // The attack: an unsigned simple-signing payload naming the target; the signature annotation
  // is the base64 of the real signed envelope, with its certificate and log entry.
  await appendAttachments(client(), attachmentRef(target, target.digest!, "sig"), [{
    payload: simpleSigningPayload(`${reg.host}/tools/evil`, target.digest!),
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    annotations: {
      [SIG]: g.envelope.toBase64(),
      [CERT]: g.certPem,
      [BUNDLE]: JSON.stringify(g.rekorBundle),
    },
  }, {
    // The same without the log entry.
    payload: simpleSigningPayload(`${reg.host}/tools/evil`, target.digest!, { v: "2" }),
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    annotations: { [SIG]: g.envelope.toBase64(), [CERT]: g.certPem },
  }]);
  const ref = up.out.trim();
  const verify = await cosign([
    "verify",
    ...ANY_SIGNER,
    "--trusted-root",
    PGI_ROOT,
    "--offline",
    ref,
  ], { env });
  // Refused by what the log entry records (an envelope, where a signature was expected).
  const REFUSED = /signature was expected|signature does not verify/;
  assertFails(verify, 12, /no matching signatures/);
  assertFails(verify, 12, REFUSED);
  assertEquals(verify.out, "", "verify prints no payload");

  const sget = await run(["sget", ...ANY_SIGNER, "--trusted-root", PGI_ROOT, ref], { env });
  assertFails(sget, 12, REFUSED);
  assertEquals(sget.stdout.length, 0, "sget writes nothing to stdout");

  // The same image saved to disk and verified offline, and copied to another repository.
  const save = await cosign(["save", ref, "--dir", `${p}/layout`], { env });
  assertEquals(save.code, 0, save.stderr);
  const local = await cosign([
    "verify",
    ...ANY_SIGNER,
    "--trusted-root",
    PGI_ROOT,
    "--offline",
    "--local-image",
    `${p}/layout`,
  ], { env });
  assertFails(local, 12, REFUSED);
  const copied = `${reg.host}/mirror/evil:v1`;
  const copy = await cosign(["copy", ref, copied], { env });
  assertEquals(copy.code, 0, copy.stderr);
  assertFails(
    await cosign(["verify", ...ANY_SIGNER, "--trusted-root", PGI_ROOT, "--offline", copied], {
      env,
    }),
    12,
    REFUSED,
  );
  // Without the log, the annotation is checked as what it is: a signature over the payload.
  const noLog = await cosign([
    "verify",
    ...ANY_SIGNER,
    "--trusted-root",
    PGI_ROOT,
    "--insecure-ignore-tlog",
    "--offline",
    ref,
  ], { env });
  assertFails(noLog, 12, /The bundle's signature does not verify/);
});

Deno.test("forgery: an .att layer whose payload is unsigned and whose signature annotation carries a signed envelope does not verify", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  const env = { HOME: p, TMPDIR: p };
  const g = genuine();
  const verifyAtt = (ref: string, extra: string[] = []) =>
    cosign(["verify-attestation", ...CODY, "--trusted-root", PGI_ROOT, ...extra, ref], { env });

  // Honest: the genuine attestation on the image it names verifies.
  const attested = await pushAttestedImage(reg, "app/empty");
  const honestRef = parseReference(attested);
  await appendAttachments(client(), attachmentRef(honestRef, ATTESTED_DIGEST, "att"), [{
    payload: g.envelope,
    mediaType: DSSE_MEDIA_TYPE,
    annotations: { [SIG]: "", [CERT]: g.certPem, [BUNDLE]: JSON.stringify(g.rekorBundle) },
  }]);
  const ok = await verifyAtt(attested);
  assertEquals(ok.code, 0, ok.stderr);

  // The attack on another image: the layer payload is an unsigned envelope naming it; the
  // signature annotation carries the genuine signed envelope.
  const other = await pushImage(reg, "app/other:v1");
  const otherRef = parseReference(`${reg.host}/app/other@${other.digest}`);
  await appendAttachments(client(), attachmentRef(otherRef, other.digest, "att"), [{
    payload: unsignedEnvelope(`${reg.host}/app/other`, other.digest.slice(7), g.sig),
    mediaType: DSSE_MEDIA_TYPE,
    annotations: {
      [SIG]: g.envelope.toBase64(),
      [CERT]: g.certPem,
      [BUNDLE]: JSON.stringify(g.rekorBundle),
    },
  }]);
  const forged = await verifyAtt(`${reg.host}/app/other@${other.digest}`);
  assertFails(forged, 1, /no matching attestations/);
  assertEquals(forged.out, "", "no envelope printed");

  // The same trick on the attested image itself: the genuine envelope names this image, the
  // layer payload is an unsigned envelope with another predicate. Nothing may verify, and the
  // unsigned envelope is never printed.
  const copy = await pushAttestedImage(reg, "app/empty2");
  await appendAttachments(client(), attachmentRef(parseReference(copy), ATTESTED_DIGEST, "att"), [{
    payload: unsignedEnvelope(`${reg.host}/app/empty2`, ATTESTED_DIGEST.slice(7), g.sig),
    mediaType: DSSE_MEDIA_TYPE,
    annotations: {
      [SIG]: g.envelope.toBase64(),
      [CERT]: g.certPem,
      [BUNDLE]: JSON.stringify(g.rekorBundle),
    },
  }]);
  const sameImage = await verifyAtt(copy);
  assertFails(sameImage, 1, /no matching attestations/);
  assertEquals(sameImage.out, "", "the unsigned envelope is not printed");
});

Deno.test("forgery: verify-blob-attestation refuses a bundle that carries a second envelope (keyless and --key)", async () => {
  await using d = await tempDir();
  const p = d.path;
  const env = { HOME: p, TMPDIR: p };
  const g = genuine();
  await Deno.writeTextFile(`${p}/evil.sh`, "echo pwned\n");
  const evilHex = new Uint8Array(
    await crypto.subtle.digest("SHA-256", enc.encode("echo pwned\n")),
  ).toHex();
  const smuggled = unsignedEnvelope("evil.sh", evilHex, g.sig);
  const verifyKeyless = (bundle: unknown, args: string[]) =>
    Deno.writeTextFile(`${p}/b.json`, JSON.stringify(bundle)).then(() =>
      cosign([
        "verify-blob-attestation",
        ...CODY,
        "--trusted-root",
        PGI_ROOT,
        "--bundle",
        `${p}/b.json`,
        ...args,
      ], { env })
    );

  // Honest: the genuine bundle verifies for the digest it names.
  const ok = await verifyKeyless(g.json, ["--digest", ATTESTED_DIGEST.slice(7)]);
  assertEquals(ok.code, 0, ok.stderr);
  assertFails(await verifyKeyless(g.json, [`${p}/evil.sh`]), 1, /no matching subject digest/);

  // The attacks: the same signed bundle, plus an unsigned envelope naming evil.sh.
  for (
    const [name, extra] of [
      ["base64Signature", { base64Signature: smuggled.toBase64() }],
      ["DsseEnvelope", { DsseEnvelope: JSON.parse(new TextDecoder().decode(smuggled)) }],
      ["dsse_envelope", { dsse_envelope: JSON.parse(new TextDecoder().decode(smuggled)) }],
    ] as const
  ) {
    const r = await verifyKeyless({ ...g.json, ...extra }, [`${p}/evil.sh`]);
    assertFails(r, 1, name === "dsse_envelope" ? /given twice/ : /unknown field/);
  }

  // --key: a bundle written by attest-blob, with an envelope smuggled beside it.
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], {
      env: { ...env, COSIGN_PASSWORD: "pw" },
    })).code,
    0,
  );
  await Deno.writeTextFile(`${p}/good.txt`, "good\n");
  await Deno.writeTextFile(`${p}/pred.json`, "{}");
  for (const newFormat of [true, false]) {
    const bundlePath = `${p}/k-${newFormat}.json`;
    const a = await cosign([
      "attest-blob",
      "--key",
      `${p}/k.key`,
      "--predicate",
      `${p}/pred.json`,
      "--tlog-upload=false",
      "--bundle",
      bundlePath,
      ...(newFormat ? ["--new-bundle-format"] : []),
      "--yes",
      `${p}/good.txt`,
    ], { env: { ...env, COSIGN_PASSWORD: "pw" } });
    assertEquals(a.code, 0, a.stderr);
    const verifyKey = (file: string, blob: string) =>
      cosign([
        "verify-blob-attestation",
        "--key",
        `${p}/k.pub`,
        "--insecure-ignore-tlog",
        "--bundle",
        file,
        blob,
      ], { env });
    const honest = await verifyKey(bundlePath, `${p}/good.txt`);
    assertEquals(honest.code, 0, honest.stderr);
    const bundle = JSON.parse(await Deno.readTextFile(bundlePath));
    const forgedBundle = newFormat
      ? { ...bundle, base64Signature: smuggled.toBase64() }
      : { ...bundle, Base64Signature: smuggled.toBase64() };
    await Deno.writeTextFile(`${p}/forged.json`, JSON.stringify(forgedBundle));
    assertFails(await verifyKey(`${p}/forged.json`, `${p}/evil.sh`), 1, /unknown field/);
  }
});

Deno.test("forgery: a signature whose first byte is '{' is a signature, not an envelope", async () => {
  await using d = await tempDir();
  const p = d.path;
  const keys = generateKeyPairSync("ed25519");
  // About one Ed25519 signature in 256 starts with 0x7b.
  let blob: Uint8Array | undefined, signature: Uint8Array | undefined;
  for (let i = 0; i < 20_000 && signature === undefined; i++) {
    const b = enc.encode(`release ${i}\n`);
    const s = new Uint8Array(nodeSign(null, b, keys.privateKey));
    if (s[0] === 0x7b) [blob, signature] = [b, s];
  }
  assert(blob && signature, "found a signature starting with '{'");
  await Deno.writeFile(`${p}/blob`, blob);
  await Deno.writeTextFile(
    `${p}/k.pub`,
    keys.publicKey.export({ format: "pem", type: "spki" }) as string,
  );
  await Deno.writeTextFile(
    `${p}/bundle.json`,
    JSON.stringify({ base64Signature: signature.toBase64() }),
  );
  await Deno.writeTextFile(`${p}/blob.sig`, signature.toBase64());
  const env = { HOME: p, TMPDIR: p };
  const byBundle = await cosign([
    "verify-blob",
    "--key",
    `${p}/k.pub`,
    "--bundle",
    `${p}/bundle.json`,
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ], { env });
  assertEquals(byBundle.code, 0, byBundle.stderr);
  const bySignature = await cosign([
    "verify-blob",
    "--key",
    `${p}/k.pub`,
    "--signature",
    `${p}/blob.sig`,
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ], { env });
  assertEquals(bySignature.code, 0, bySignature.stderr);
});

Deno.test("forgery: verify-blob --bundle reads the signed messageSignature only; a second one in another case is refused", async () => {
  await using d = await tempDir();
  const p = d.path;
  const conf = FIXTURES + "conformance/";
  const bundle: Any = JSON.parse(
    await Deno.readTextFile(`${conf}public/happy-path-v0.3/bundle.sigstore.json`),
  );
  await Deno.writeTextFile(`${p}/evil.txt`, "evil\n");
  const evil = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode("evil\n")));
  const verifyBlob = async (json: unknown, file: string) => {
    await Deno.writeTextFile(`${p}/b.json`, JSON.stringify(json));
    return cosign([
      "verify-blob",
      "--certificate-identity",
      "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
      "--certificate-oidc-issuer",
      "https://token.actions.githubusercontent.com",
      "--trusted-root",
      `${conf}trusted_root.production.json`,
      "--bundle",
      `${p}/b.json`,
      file,
    ], { env: { HOME: p } });
  };
  const ok = await verifyBlob(bundle, `${conf}public/a.txt`);
  assertEquals(ok.code, 0, ok.stderr);
  const second = {
    ...bundle.messageSignature,
    messageDigest: { algorithm: "SHA2_256", digest: evil.toBase64() },
  };
  for (const extra of [{ MessageSignature: second }, { message_signature: second }]) {
    assertFails(
      await verifyBlob({ ...bundle, ...extra }, `${p}/evil.txt`),
      1,
      /unknown field|given twice/,
    );
  }
  assertFails(await verifyBlob(bundle, `${p}/evil.txt`), 1, /message digest|does not verify/);
});
