/**
 * `cosign trusted-root create` and `cosign signing-config create`: a trusted root built from
 * the loopback CA, CT log, Rekor and TSA verifies a keyless bundle signed against them;
 * the signing config has the v0.2 shape.
 * @module
 */

import { assert, assertEquals, cosign, tempDir } from "./helpers.ts";
import { startKeylessServices } from "./harness/keyless.ts";
import { startRekor } from "./harness/rekor.ts";
import { certificatePem } from "./harness/fulcio.ts";
import { parseTrustedRoot } from "../lib/trust/trusted_root.ts";

type Json = Record<string, unknown>;

function pemKey(der: Uint8Array): string {
  const body = der.toBase64().replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----\n`;
}

Deno.test("trusted-root create: a root from the loopback CA/CT/Rekor/TSA verifies a keyless bundle", async () => {
  await using svc = await startKeylessServices();
  await using rekor = await startRekor();
  await using tmp = await tempDir();
  const p = tmp.path;
  const harnessRoot = svc.trustedRoot(rekor.publicKeyPem) as {
    tlogs: Json[];
    certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[];
    ctlogs: { baseUrl: string; publicKey: { rawBytes: string } }[];
    timestampAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[];
  };
  harnessRoot.tlogs[0]!.baseUrl = rekor.url;
  await Deno.writeTextFile(`${p}/harness_root.json`, JSON.stringify(harnessRoot));
  const chainPem = (c: { certificates: { rawBytes: string }[] }) =>
    c.certificates.map((x) => certificatePem(Uint8Array.fromBase64(x.rawBytes))).join("");
  await Deno.writeTextFile(
    `${p}/ca.pem`,
    chainPem(harnessRoot.certificateAuthorities[0]!.certChain),
  );
  await Deno.writeTextFile(
    `${p}/tsa.pem`,
    chainPem(harnessRoot.timestampAuthorities[0]!.certChain),
  );
  await Deno.writeTextFile(
    `${p}/ct.pub`,
    pemKey(Uint8Array.fromBase64(harnessRoot.ctlogs[0]!.publicKey.rawBytes)),
  );
  await Deno.writeTextFile(`${p}/rekor.pub`, rekor.publicKeyPem);

  await Deno.writeTextFile(`${p}/blob.txt`, "hello private sigstore\n");
  const token = await svc.deviceFlowToken("alice");
  const signed = await cosign([
    "sign-blob",
    "--use-signing-config=false",
    `--fulcio-url=${svc.fulcioUrl}`,
    `--rekor-url=${rekor.url}`,
    `--timestamp-server-url=${svc.tsaUrl}`,
    `--trusted-root=${p}/harness_root.json`,
    `--identity-token=${token}`,
    "-y",
    "--new-bundle-format",
    `--bundle=${p}/b.json`,
    `${p}/blob.txt`,
  ], { env: { HOME: p } });
  assertEquals(signed.code, 0, signed.stderr);

  const fulcio = `--fulcio=url=${svc.fulcioUrl},certificate-chain=${p}/ca.pem`;
  const rekorSpec =
    `--rekor=url=${rekor.url},public-key=${p}/rekor.pub,start-time=2020-01-01T00:00:00Z`;
  const ctfe =
    `--ctfe=url=https://ctfe.mock,public-key=${p}/ct.pub,start-time=1970-01-01T00:00:00Z`;
  const tsa = `--tsa=url=${svc.tsaUrl},certificate-chain=${p}/tsa.pem`;
  const create = async (out: string, flags: string[]) => {
    const r = await cosign(["trusted-root", "create", ...flags, `--out=${out}`]);
    assertEquals(r.code, 0, r.stderr);
    const root = parseTrustedRoot(await Deno.readFile(out)); // our parser reads it back
    return root;
  };
  const full = await create(`${p}/tr.json`, [fulcio, rekorSpec, ctfe, tsa]);
  assertEquals(
    [full.tlogs.length, full.ctlogs.length, full.certificateAuthorities.length],
    [1, 1, 1],
  );
  assertEquals(full.tlogs[0]!.logIdHex, rekor.logIdHex);
  const verify = (root: string) =>
    cosign([
      "verify-blob",
      `--bundle=${p}/b.json`,
      `--trusted-root=${root}`,
      "--certificate-identity=alice@example.com",
      `--certificate-oidc-issuer=${svc.issuer}`,
      `${p}/blob.txt`,
    ], { env: { HOME: p } });
  const ok = await verify(`${p}/tr.json`);
  assertEquals(ok.code, 0, ok.stderr);
  // Controls: the same root without the Rekor key, or without the CA, does not verify.
  await create(`${p}/no-rekor.json`, [fulcio, ctfe, tsa]);
  assert((await verify(`${p}/no-rekor.json`)).code !== 0, "verified without the Rekor key");
  await create(`${p}/no-ca.json`, [rekorSpec, ctfe, tsa]);
  assert((await verify(`${p}/no-ca.json`)).code !== 0, "verified without the CA");

  // Bad specifications: a clear usage error, nothing written.
  for (
    const bad of [
      [`--rekor=url=${rekor.url},public-key=${p}/rekor.pub`],
      [`--fulcio=url=x,certificate-chain=${p}/missing.pem`],
      [`--rekor=url=x,public-key=${p}/rekor.pub,start-time=yesterday`],
      ["--tsa=nonsense"],
    ]
  ) {
    const r = await cosign(["trusted-root", "create", ...bad, `--out=${p}/bad.json`]);
    assert(r.code !== 0, `accepted ${bad}`);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert(!(await Deno.stat(`${p}/bad.json`).catch(() => undefined)), "nothing written");
});

Deno.test("signing-config create: cosign's flags give a v0.2 signing config", async () => {
  await using tmp = await tempDir();
  const p = tmp.path;
  const svc = (url: string, v: number) =>
    `url=${url},api-version=${v},start-time=2024-01-01T00:00:00Z,operator=example.com`;
  const r = await cosign([
    "signing-config",
    "create",
    `--fulcio=${svc("https://fulcio.example.com", 1)}`,
    `--rekor=${svc("https://rekor.example.com", 1)}`,
    `--rekor=${svc("https://log2025.example.com", 2)},end-time=2030-01-01T00:00:00Z`,
    "--rekor-config=EXACT:1",
    `--oidc-provider=${svc("https://oauth2.example.com/auth", 1)}`,
    `--tsa=${svc("https://tsa.example.com/api/v1/timestamp", 1)}`,
    "--tsa-config=ANY",
    `--out=${p}/sc.json`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  const sc = JSON.parse(await Deno.readTextFile(`${p}/sc.json`));
  // Strict shape check (lib/trust/signing_config.ts, the parser, is not on this branch).
  const service = (url: string, v: number, end?: string) => ({
    url,
    majorApiVersion: v,
    validFor: { start: "2024-01-01T00:00:00Z", ...(end ? { end } : {}) },
    operator: "example.com",
  });
  assertEquals(sc, {
    mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
    caUrls: [service("https://fulcio.example.com", 1)],
    oidcUrls: [service("https://oauth2.example.com/auth", 1)],
    rekorTlogUrls: [
      service("https://rekor.example.com", 1),
      service("https://log2025.example.com", 2, "2030-01-01T00:00:00Z"),
    ],
    rekorTlogConfig: { selector: "EXACT", count: 1 },
    tsaUrls: [service("https://tsa.example.com/api/v1/timestamp", 1)],
    tsaConfig: { selector: "ANY" },
  });
  // --base-config: a flag replaces that service; the rest is kept.
  const o = await cosign([
    "signing-config",
    "create",
    `--base-config=${p}/sc.json`,
    `--oidc-provider=${svc("https://custom.example.com", 1)}`,
  ]);
  assertEquals(o.code, 0, o.stderr);
  const derived = JSON.parse(new TextDecoder().decode(o.stdout));
  assertEquals(derived.oidcUrls, [service("https://custom.example.com", 1)]);
  assertEquals(derived.rekorTlogUrls, sc.rekorTlogUrls);
  assertEquals(derived.tsaConfig, sc.tsaConfig);
  for (
    const bad of [
      [`--rekor=${svc("https://r", 1)}`], // no --rekor-config
      [`--tsa=${svc("https://t", 1)}`, "--tsa-config=SOME"],
      ["--fulcio=url=https://f,api-version=x,start-time=2024-01-01T00:00:00Z,operator=o"],
      ["--oidc-provider=url=https://o"],
    ]
  ) {
    const b = await cosign(["signing-config", "create", ...bad]);
    assert(b.code !== 0, `accepted ${bad}`);
    assertEquals(b.stderr.trim().split("\n").length, 1, b.stderr);
  }
});
