/**
 * `mod.ts` is safe by default for a `deno run` script author (issue: safe library defaults).
 * Each test runs a script outside the repository that imports `mod.ts` by file URL with
 * `--no-config`, as a user would:
 * - keyless verification refuses an identity policy that does not name an identity and an issuer
 *   (`{}`, a misspelled field, unset environment variables, issuer only, identity only), unless
 *   `withoutIdentitiesUnsafe: true` says so;
 * - `verifyImage` with a key needs a trusted root or an explicit `ignoreTlog: true`;
 * - `verifySignatureLayers` throws when nothing verifies;
 * - `verifyImageAttestations` ties an attestation to the image checked.
 */
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assertEquals, cosign, FIXTURES, ROOT, tempDir } from "./helpers.ts";

const MOD = new URL("mod.ts", "file://" + ROOT).href;
const CONF = FIXTURES + "conformance/";

async function runScript(dir: string, source: string, env: Record<string, string> = {}) {
  await Deno.writeTextFile(`${dir}/script.ts`, source);
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--quiet", "--no-check", "--allow-all", `${dir}/script.ts`],
    cwd: dir,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout).trim(),
    err: new TextDecoder().decode(r.stderr),
  };
}

/** A script helper printing the error code of a promise's rejection, or "ok". */
const OUTCOME = `
const outcome = (p) => p.then(() => "ok", (e) => e instanceof CosignError ? e.code : "other: " + e);
`;

Deno.test("library: keyless verification refuses incomplete identity policies", async () => {
  await using d = await tempDir();
  const src = `
import { CosignError, parseBundle, parseTrustedRoot, verifyBundle } from "${MOD}";
${OUTCOME}
const bundle = parseBundle(await Deno.readFile("${CONF}public/happy-path-v0.3/bundle.sigstore.json"));
const root = parseTrustedRoot(await Deno.readFile("${CONF}trusted_root.production.json"));
const artifact = { bytes: await Deno.readFile("${CONF}public/a.txt") };
const ID = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER = "https://token.actions.githubusercontent.com";
const policies = [
  {},
  { identityRegExp: ".*", issuerRegExp: ".*" },
  { identity: Deno.env.get("UNSET_X"), issuer: Deno.env.get("UNSET_Y") },
  { issuer: ISSUER },
  { identity: ID },
  { identity: "", issuer: ISSUER },
  { identity: ID, issuer: ISSUER },
];
for (const identity of policies) {
  console.log(await outcome(verifyBundle(bundle, artifact, root, { certificate: { identity } })));
}
console.log(await outcome(verifyBundle(bundle, artifact, root, {
  certificate: { identity: {}, withoutIdentitiesUnsafe: true },
})));
console.log(await outcome(verifyBundle(bundle, artifact, root, { certificate: {} })));
`;
  const r = await runScript(d.path, src);
  assertEquals(r.code, 0, r.err);
  const P = "CERTIFICATE_POLICY_INCOMPLETE";
  assertEquals(r.out.split("\n"), [P, P, P, P, P, P, "ok", "ok", P]);
});

Deno.test("library: verifyImage needs a trusted root or ignoreTlog; verifySignatureLayers throws; attestations are tied to the image", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  const a = await pushImage(reg, "lib/a:v1");
  const b = await pushImage(reg, "lib/b:v1", { arches: ["arm64"] });
  const env = { HOME: p, TMPDIR: p, COSIGN_PASSWORD: "pw" };
  for (const k of ["k", "other"]) {
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/${k}`], { env });
    assertEquals(g.code, 0, g.stderr);
  }
  const s = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "--tlog-upload=false",
    a.ref,
  ], { env });
  assertEquals(s.code, 0, s.stderr);
  await Deno.writeTextFile(`${p}/pred.json`, '{"ok":true}');
  const at = await cosign([
    "attest",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "--predicate",
    `${p}/pred.json`,
    "--tlog-upload=false",
    a.ref,
  ], { env });
  assertEquals(at.code, 0, at.stderr);
  // Copy image A's attestation layer to image B's .att tag, as an attacker with push rights can.
  const src = `
import {
  CosignError, loadVerifier, parseReference, readAttachments, RegistryClient, attachmentRef,
  appendAttachments, verifyImage, verifySignatureLayers, verifyImageAttestations, checkSignatureLayers,
} from "${MOD}";
${OUTCOME}
const client = new RegistryClient({ keychain: () => Promise.resolve(undefined) });
const key = await loadVerifier("${p}/k.pub");
const other = await loadVerifier("${p}/other.pub");
const a = parseReference("${a.ref}");
const b = parseReference("${b.ref}");
console.log(await outcome(verifyImage(client, a, key)));
const r = await verifyImage(client, a, key, { ignoreTlog: true });
console.log(r.verified.length, r.tlogVerified);
const sig = await readAttachments(client, attachmentRef(a, "${a.digest}", "sig"));
console.log(await outcome(verifySignatureLayers(sig.layers, other, { digest: "${a.digest}" })));
console.log(await outcome(verifySignatureLayers(sig.layers, key, { digest: "${b.digest}" })));
console.log((await checkSignatureLayers(sig.layers, other, { digest: "${a.digest}" })).verified.length);
console.log(await outcome(verifyImageAttestations(client, a, key)));
const ok = await verifyImageAttestations(client, a, key, { ignoreTlog: true });
console.log(ok.verified.length, ok.tlogVerified);
const att = await readAttachments(client, attachmentRef(a, "${a.digest}", "att"));
await appendAttachments(client, attachmentRef(b, "${b.digest}", "att"), att.layers.map((l) => ({
  payload: l.payload, mediaType: l.descriptor.mediaType, annotations: l.annotations,
})));
console.log(await outcome(verifyImageAttestations(client, b, key, { ignoreTlog: true })));
`;
  const r = await runScript(p, src, { HOME: p, TMPDIR: p });
  assertEquals(r.code, 0, r.err);
  assertEquals(r.out.split("\n"), [
    "TRUSTED_ROOT_MISSING",
    "1 false",
    "NO_MATCHING_SIGNATURES",
    "NO_MATCHING_SIGNATURES",
    "0",
    "TRUSTED_ROOT_MISSING",
    "1 false",
    "ATTESTATION_MISMATCH",
  ]);
});
