/**
 * Keyless image verification: a signature layer carrying a mock-Fulcio certificate (attached with
 * `cosign attach signature --certificate`) is verified with `cosign verify
 * --certificate-identity ... --certificate-oidc-issuer ... --trusted-root`: chain, SCT, identity,
 * cosign's exit codes (12 when no signature matches, 13 when no signature has a certificate) and
 * the certificate claims in the JSON output; and `sign`/`attest --certificate` with the entry in
 * a loopback Rekor, verified keylessly offline (`verify`, `verify-attestation`).
 */
import { createHash, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { hashedRekordEntry, RekorClient } from "../lib/tlog/rekor.ts";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { certificatePem, createKeylessTrust } from "./harness/fulcio.ts";
import { startRekor } from "./harness/rekor.ts";
import { assert, assertEquals, assertFails, cosign, run, tempDir } from "./helpers.ts";

const ID = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER = "https://token.actions.githubusercontent.com";

Deno.test("keyless: verify checks the certificate of each image signature", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await pushImage(reg, "app/keyless:v1");
  const ref = `${reg.host}/app/keyless:v1`;
  const env = { HOME: p, COSIGN_PASSWORD: "pw" };
  const trust = await createKeylessTrust();
  await Deno.writeTextFile(`${p}/root.json`, JSON.stringify(trust.trustedRoot()));

  const verify = (extra: string[]) =>
    cosign(
      ["verify", "--trusted-root", `${p}/root.json`, "--insecure-ignore-tlog", ...extra, ref],
      { env },
    );
  const identity = ["--certificate-identity", ID, "--certificate-oidc-issuer", ISSUER];

  // A key-signed image has no certificate: cosign's exit code 13.
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  const signed = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "--tlog-upload=false",
    ref,
  ], {
    env,
  });
  assertEquals(signed.code, 0, signed.stderr);
  assertFails(await verify(identity), 13, /no certificate/);

  // Attach a keyless signature over the image's simple-signing payload.
  const gen = await cosign(["generate", ref], { env });
  assertEquals(gen.code, 0, gen.stderr);
  const payload = new TextEncoder().encode(new TextDecoder().decode(gen.stdout).trimEnd());
  await Deno.writeFile(`${p}/payload.json`, payload);
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const cert = await trust.issue(keys.publicKey, { san: ID, issuer: ISSUER });
  await Deno.writeTextFile(`${p}/cert.pem`, certificatePem(cert));
  await Deno.writeTextFile(`${p}/chain.pem`, certificatePem(trust.rootDer));
  const sig = new Uint8Array(sign("sha256", payload, keys.privateKey)).toBase64();
  const att = await cosign([
    "attach",
    "signature",
    "--payload",
    `${p}/payload.json`,
    "--signature",
    sig,
    "--certificate",
    `${p}/cert.pem`,
    "--certificate-chain",
    `${p}/chain.pem`,
    ref,
  ], { env });
  assertEquals(att.code, 0, att.stderr);

  const ok = await verify(identity);
  assertEquals(ok.code, 0, ok.stderr);
  assert(
    ok.stderr.includes(
      "The code-signing certificate was verified using trusted certificate authority certificates",
    ),
    ok.stderr,
  );
  const stdout = new TextDecoder().decode(ok.stdout);
  const out = JSON.parse(stdout);
  assertEquals(out.length, 1, stdout);
  assertEquals(out[0].optional.Subject, ID);
  assertEquals(out[0].optional.Issuer, ISSUER);
  assertEquals(out[0].optional["1.3.6.1.4.1.57264.1.1"], ISSUER);

  const text = await verify([...identity, "-o", "text"]);
  assertEquals(text.code, 0, text.stderr);
  assert(text.stderr.includes(`Certificate subject: ${ID}`), text.stderr);
  assert(text.stderr.includes(`Certificate issuer URL: ${ISSUER}`), text.stderr);

  // Another identity: no signature matches (12), and the reason names both identities.
  const wrong = await verify([
    "--certificate-identity",
    "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main",
    "--certificate-oidc-issuer",
    ISSUER,
  ]);
  assertFails(wrong, 12, /acme\/other/);
  assert(wrong.stderr.includes(ID), wrong.stderr);

  // A trusted root with another CA: untrusted.
  const other = await createKeylessTrust();
  await Deno.writeTextFile(`${p}/other.json`, JSON.stringify(other.trustedRoot()));
  const untrusted = await cosign(
    ["verify", "--trusted-root", `${p}/other.json`, "--insecure-ignore-tlog", ...identity, ref],
    { env },
  );
  assertFails(untrusted, 12, /no trusted certificate authority/);

  // Keyless needs the CAs: without --trusted-root they come from TUF, unreachable here.
  const noRoot = await cosign(["verify", "--insecure-ignore-tlog", ...identity, ref], {
    env: { ...env, SIGSTORE_REKOR_PUBLIC_KEY: "" },
  });
  assertFails(noRoot, 1, /TUF mirror.*--trusted-root/);
  // --offline never consults TUF: then the missing CAs are a usage error.
  const offline = await cosign(
    ["verify", "--offline", "--insecure-ignore-tlog", ...identity, ref],
    { env: { ...env, SIGSTORE_REKOR_PUBLIC_KEY: "" } },
  );
  assertFails(offline, 2, /trusted-root/);

  // SIGSTORE_ROOT_FILE in place of --trusted-root: the CA only, so the SCT is skipped on request.
  const viaEnv = await cosign(
    ["verify", "--insecure-ignore-tlog", "--insecure-ignore-sct", ...identity, ref],
    { env: { ...env, SIGSTORE_ROOT_FILE: `${p}/chain.pem` } },
  );
  assertEquals(viaEnv.code, 0, viaEnv.stderr);
});

Deno.test("keyless: sign and attest --certificate, logged in Rekor, verify keylessly offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  await pushImage(reg, "app/cert:v1");
  const ref = `${reg.host}/app/cert:v1`;
  const env = { HOME: p, COSIGN_PASSWORD: "pw" };
  const trust = await createKeylessTrust();
  await Deno.writeTextFile(
    `${p}/root.json`,
    JSON.stringify(trust.trustedRoot({ rekorPublicKeyPem: rekor.publicKeyPem })),
  );
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  const pub = createPublicKey(await Deno.readTextFile(`${p}/k.pub`));
  await Deno.writeTextFile(
    `${p}/cert.pem`,
    certificatePem(await trust.issue(pub, { san: ID, issuer: ISSUER })),
  );
  await Deno.writeTextFile(`${p}/chain.pem`, certificatePem(trust.rootDer));
  const withCert = ["--certificate", `${p}/cert.pem`, "--certificate-chain", `${p}/chain.pem`];

  // A certificate for another key is refused before anything is signed or uploaded.
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await Deno.writeTextFile(
    `${p}/other.pem`,
    certificatePem(await trust.issue(other.publicKey, { san: ID, issuer: ISSUER })),
  );
  const mismatch = await cosign(
    [
      "sign",
      "--new-bundle-format=false",
      "--key",
      `${p}/k.key`,
      "--certificate",
      `${p}/other.pem`,
      "--rekor-url",
      rekor.url,
      ref,
    ],
    { env },
  );
  assertFails(mismatch, 1, /another key/);
  assertEquals(rekor.requests.length, 0);

  const s = await cosign(
    [
      "sign",
      "--new-bundle-format=false",
      "--key",
      `${p}/k.key`,
      ...withCert,
      "--rekor-url",
      rekor.url,
      ref,
    ],
    { env },
  );
  assertEquals(s.code, 0, s.stderr);
  // The log records the certificate, as cosign does for keyless signatures.
  const proposed = JSON.parse(rekor.requests.find((r) => r.method === "POST")!.body);
  assert(
    atob(proposed.spec.signature.publicKey.content).startsWith("-----BEGIN CERTIFICATE-----"),
    "certificate in the entry",
  );
  const identity = ["--certificate-identity", ID, "--certificate-oidc-issuer", ISSUER];
  const v = await cosign(["verify", "--trusted-root", `${p}/root.json`, ...identity, ref], { env });
  assertEquals(v.code, 0, v.stderr);
  assert(v.stderr.includes("transparency log was verified offline"), v.stderr);
  assert(v.stderr.includes("code-signing certificate was verified"), v.stderr);

  await Deno.writeTextFile(`${p}/predicate.json`, '{"ok":true}');
  const a = await cosign(
    [
      "attest",
      "--new-bundle-format=false",
      "--key",
      `${p}/k.key`,
      ...withCert,
      "--predicate",
      `${p}/predicate.json`,
      "--rekor-url",
      rekor.url,
      ref,
    ],
    { env },
  );
  assertEquals(a.code, 0, a.stderr);
  const va = await cosign(
    ["verify-attestation", "--trusted-root", `${p}/root.json`, ...identity, ref],
    { env },
  );
  assertEquals(va.code, 0, va.stderr);
  assert(va.stderr.includes("code-signing certificate was verified"), va.stderr);
  const envelope = JSON.parse(new TextDecoder().decode(va.stdout));
  assertEquals(envelope.payloadType, "application/vnd.in-toto+json");
  const wrong = await cosign(
    [
      "verify-attestation",
      "--trusted-root",
      `${p}/root.json`,
      "--certificate-identity",
      "someone@example.com",
      "--certificate-oidc-issuer",
      ISSUER,
      ref,
    ],
    { env },
  );
  assertFails(wrong, 1, /someone@example\.com/);
  // sget: a blob image signed with the certificate, fetched keylessly.
  await Deno.writeTextFile(`${p}/tool.sh`, "echo tool\n");
  const up = await cosign(["upload", "blob", "-f", `${p}/tool.sh`, `${reg.host}/tools/t:v1`], {
    env,
  });
  assertEquals(up.code, 0, up.stderr);
  const st = await cosign(
    [
      "sign",
      "--new-bundle-format=false",
      "--key",
      `${p}/k.key`,
      ...withCert,
      "--rekor-url",
      rekor.url,
      up.out.trim(),
    ],
    { env },
  );
  assertEquals(st.code, 0, st.stderr);
  const got = await run(
    ["sget", "--trusted-root", `${p}/root.json`, ...identity, `${reg.host}/tools/t:v1`],
    { env },
  );
  assertEquals(got.code, 0, got.stderr);
  assertEquals(got.out, "echo tool\n");
  assert(got.stderr.includes("code-signing certificate was verified"), got.stderr);
  const notMine = await run(
    [
      "sget",
      "--trusted-root",
      `${p}/root.json`,
      "--certificate-identity",
      "https://github.com/evil/x/.github/workflows/y.yml@refs/heads/main",
      "--certificate-oidc-issuer",
      ISSUER,
      `${reg.host}/tools/t:v1`,
    ],
    { env },
  );
  assertFails(notMine, 12, /evil/);
  assertEquals(notMine.stdout.length, 0, "nothing on stdout");

  // A keyless signature without a bundle annotation is looked up in the log.
  await pushImage(reg, "app/lookup:v1");
  const lookup = `${reg.host}/app/lookup:v1`;
  const unlogged = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    ...withCert,
    "--tlog-upload=false",
    "--output-signature",
    `${p}/lookup.sig`,
    "--output-payload",
    `${p}/lookup.payload`,
    lookup,
  ], { env });
  assertEquals(unlogged.code, 0, unlogged.stderr);
  const verifyLookup = () =>
    cosign(
      ["verify", "--trusted-root", `${p}/root.json`, "--rekor-url", rekor.url, ...identity, lookup],
      { env },
    );
  assertFails(await verifyLookup(), 12, /not found in the transparency log/);
  const payload = await Deno.readFile(`${p}/lookup.payload`);
  const client = new RekorClient(rekor.url);
  try {
    await client.upload(hashedRekordEntry(
      createHash("sha256").update(payload).digest("hex"),
      Uint8Array.fromBase64((await Deno.readTextFile(`${p}/lookup.sig`)).trim()),
      await Deno.readTextFile(`${p}/cert.pem`),
    ));
  } finally {
    client.close();
  }
  const found = await verifyLookup();
  assertEquals(found.code, 0, found.stderr);
  assert(found.stderr.includes("The claims were present in the transparency log"), found.stderr);

  // A trusted root without the Rekor key: the log entry is untrusted.
  await Deno.writeTextFile(`${p}/nolog.json`, JSON.stringify(trust.trustedRoot()));
  const noLog = await cosign(["verify", "--trusted-root", `${p}/nolog.json`, ...identity, ref], {
    env,
  });
  assertFails(noLog, 12, /not in the trusted root/);
});

Deno.test("keyless: v3 sign and attest --certificate write bundles with the certificate; verify keylessly offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  await pushImage(reg, "app/cert3:v1");
  const ref = `${reg.host}/app/cert3:v1`;
  const env = { HOME: p, COSIGN_PASSWORD: "pw" };
  const trust = await createKeylessTrust();
  await Deno.writeTextFile(
    `${p}/root.json`,
    JSON.stringify(trust.trustedRoot({ rekorPublicKeyPem: rekor.publicKeyPem })),
  );
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  const pub = createPublicKey(await Deno.readTextFile(`${p}/k.pub`));
  await Deno.writeTextFile(
    `${p}/cert.pem`,
    certificatePem(await trust.issue(pub, { san: ID, issuer: ISSUER })),
  );
  const withCert = ["--certificate", `${p}/cert.pem`, "--rekor-url", rekor.url];
  const s = await cosign(["sign", "--key", `${p}/k.key`, ...withCert, ref], { env });
  assertEquals(s.code, 0, s.stderr);
  const identity = ["--certificate-identity", ID, "--certificate-oidc-issuer", ISSUER];
  const v = await cosign(["verify", "--trusted-root", `${p}/root.json`, ...identity, ref], { env });
  assertEquals(v.code, 0, v.stderr);
  assert(v.stderr.includes("transparency log was verified offline"), v.stderr);
  assert(v.stderr.includes("code-signing certificate was verified"), v.stderr);
  const out = JSON.parse(new TextDecoder().decode(v.stdout));
  assertEquals(out[0].critical.type, "https://sigstore.dev/cosign/sign/v1");
  const wrong = await cosign(
    [
      "verify",
      "--trusted-root",
      `${p}/root.json`,
      "--certificate-identity",
      "someone@example.com",
      "--certificate-oidc-issuer",
      ISSUER,
      ref,
    ],
    { env },
  );
  assertFails(wrong, 12, /someone@example\.com/);

  await Deno.writeTextFile(`${p}/predicate.json`, '{"ok":true}');
  const a = await cosign(
    ["attest", "--key", `${p}/k.key`, ...withCert, "--predicate", `${p}/predicate.json`, ref],
    { env },
  );
  assertEquals(a.code, 0, a.stderr);
  const va = await cosign(
    ["verify-attestation", "--trusted-root", `${p}/root.json`, ...identity, ref],
    { env },
  );
  assertEquals(va.code, 0, va.stderr);
  const envelope = JSON.parse(new TextDecoder().decode(va.stdout).trim().split("\n")[0]!);
  assertEquals(envelope.payloadType, "application/vnd.in-toto+json");
});
