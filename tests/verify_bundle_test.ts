/**
 * `verify-blob --bundle`: key-signed Sigstore bundles verified fully offline against a trusted
 * root (signature, artifact digest, SET, inclusion proof and checkpoint), with the file or only
 * its `sha256:` digest. The process runs with network access denied: no request is possible.
 */
import { assert, assertEquals, assertFails, cosignOffline, FIXTURES, tempDir } from "./helpers.ts";

const CONF = FIXTURES + "conformance/";
const CASE = CONF + "public/managed-key-and-trusted-root/";
const DIGEST = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";

const offline = (args: string[]) => cosignOffline(args);

const verify = (artifact: string, extra: string[] = [], bundle = CASE + "bundle.sigstore.json") =>
  offline([
    "verify-blob",
    "--key",
    CASE + "key.pub",
    "--bundle",
    bundle,
    "--trusted-root",
    CASE + "trusted_root.json",
    ...extra,
    artifact,
  ]);

Deno.test("verify-blob --bundle: a key-signed v0.3 bundle verifies offline, with the file and with its digest", async () => {
  for (const artifact of [CONF + "public/a.txt", DIGEST]) {
    const r = await verify(artifact);
    assertEquals(r.code, 0, r.stderr);
    assert(
      r.stderr.includes("Existence of the claims in the transparency log was verified offline"),
      r.stderr,
    );
    assert(r.stderr.includes("Verified OK"), r.stderr);
    assert(!/PermissionDenied|net access/i.test(r.stderr), "no network attempted");
  }
});

Deno.test("verify-blob --bundle: another artifact, a tampered bundle, no key, no trusted root", async () => {
  assertFails(
    await verify(FIXTURES + "blob-attestation/blob"),
    1,
    /message digest .* is not the artifact's/,
  );
  assertFails(await verify("sha256:" + "0".repeat(64)), 1, /is not the artifact's/);
  await using d = await tempDir();
  const bundle = JSON.parse(await Deno.readTextFile(CASE + "bundle.sigstore.json"));
  const entry = bundle.verificationMaterial.tlogEntries[0];
  entry.integratedTime = String(Number(entry.integratedTime) + 1);
  await Deno.writeTextFile(`${d.path}/b.json`, JSON.stringify(bundle));
  const t = await verify(CONF + "public/a.txt", [], `${d.path}/b.json`);
  assert(t.code === 1 && /^Error: /m.test(t.stderr) && !t.stderr.includes("Verified OK"), t.stderr);
  const noKey = await offline([
    "verify-blob",
    "--bundle",
    CONF + "public/managed-key-no-key_fail/bundle.sigstore.json",
    "--trusted-root",
    CONF + "trusted_root.production.json",
    CONF + "public/a.txt",
  ]);
  assertFails(noKey, 1, /signed with a public key .* verify it with --key/);
  const noRoot = await offline([
    "verify-blob",
    "--key",
    CASE + "key.pub",
    "--bundle",
    CASE + "bundle.sigstore.json",
    CONF + "public/a.txt",
  ]);
  // No trust material from the flags: TUF is asked, which cannot work without write access.
  assertFails(noRoot, 1, /TUF.*--trusted-root/);
});
