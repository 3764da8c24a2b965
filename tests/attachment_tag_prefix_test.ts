/**
 * `--attachment-tag-prefix` (cosign's `ReferenceOptions.TagPrefix`): every command that writes
 * or reads `.sig`, `.att` and `.sbom` images uses `PREFIXsha256-<hex>.<kind>` instead of
 * `sha256-<hex>.<kind>`, against the real registry.
 */
import { pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, type RunResult, tempDir } from "./helpers.ts";

const ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

async function hasTag(reg: Registry, repo: string, tag: string): Promise<boolean> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { Accept: ACCEPT },
  });
  await r.body?.cancel();
  return r.status === 200;
}

function ok(r: RunResult, what: string): RunResult {
  assertEquals(r.code, 0, `${what}: ${r.stderr}`);
  return r;
}

Deno.test("--attachment-tag-prefix: sign, attest, attach, download, verify, tree, triangulate, copy, save, load, clean", async () => {
  await using reg = await startRegistry();
  await using d = await tempDir();
  const env = { HOME: d.path, COSIGN_PASSWORD: "prefix-pw" };
  const c = (args: string[]) => cosign(args, { env });
  const img = await pushImage(reg, "test/prefix:v1");
  const ref = `${reg.host}/test/prefix@${img.digest}`;
  const hex = img.digest.slice("sha256:".length);
  const P = ["--attachment-tag-prefix", "pfx-"];
  ok(await c(["generate-key-pair", "--output-key-prefix", `${d.path}/k`]), "keys");
  const key = ["--key", `${d.path}/k.key`, "--tlog-upload=false", "--new-bundle-format=false"];
  const pub = ["--key", `${d.path}/k.pub`, "--insecure-ignore-tlog"];

  ok(await c(["sign", ...key, ...P, ref]), "sign");
  assert(await hasTag(reg, "test/prefix", `pfx-sha256-${hex}.sig`), "pfx-…sig written");
  assert(!await hasTag(reg, "test/prefix", `sha256-${hex}.sig`), "no unprefixed .sig");
  ok(await c(["verify", ...pub, ...P, ref]), "verify with the prefix");
  assertFails(await c(["verify", ...pub, ref]), 10, /no signatures/i);

  await Deno.writeTextFile(`${d.path}/pred.json`, '{"hello":"world"}');
  ok(
    await c([
      "attest",
      ...key,
      ...P,
      "--predicate",
      `${d.path}/pred.json`,
      "--type",
      "custom",
      ref,
    ]),
    "attest",
  );
  assert(await hasTag(reg, "test/prefix", `pfx-sha256-${hex}.att`), "pfx-…att written");
  ok(await c(["verify-attestation", ...pub, ...P, "--type", "custom", ref]), "verify-attestation");
  const att = ok(await c(["download", "attestation", ...P, ref]), "download attestation");
  assertEquals(att.out.trim().split("\n").length, 1);

  await Deno.writeTextFile(`${d.path}/sbom.spdx`, "SPDXVersion: SPDX-2.2\n");
  ok(
    await c(["attach", "sbom", ...P, "--sbom", `${d.path}/sbom.spdx`, "--type", "spdx", ref]),
    "attach sbom",
  );
  assert(await hasTag(reg, "test/prefix", `pfx-sha256-${hex}.sbom`), "pfx-…sbom written");
  assertEquals(ok(await c(["download", "sbom", ...P, ref]), "sbom").out, "SPDXVersion: SPDX-2.2\n");
  const sigs = ok(await c(["download", "signature", ...P, ref]), "download signature");
  assertEquals(sigs.out.trim().split("\n").length, 1);

  const tri = ok(await c(["triangulate", ...P, "--type", "attestation", ref]), "triangulate");
  assertEquals(tri.out, `${reg.host}/test/prefix:pfx-sha256-${hex}.att\n`);
  const tree = ok(await c(["tree", ...P, ref]), "tree");
  for (const kind of ["sig", "att", "sbom"]) {
    assert(tree.out.includes(`:pfx-sha256-${hex}.${kind}`), `tree lists .${kind}: ${tree.out}`);
  }

  // copy keeps the prefixed tag names at the destination, as cosign does.
  ok(await c(["copy", ...P, ref, `${reg.host}/test/copied:v1`]), "copy");
  for (const kind of ["sig", "att", "sbom"]) {
    assert(await hasTag(reg, "test/copied", `pfx-sha256-${hex}.${kind}`), `copied .${kind}`);
  }
  ok(await c(["verify", ...pub, ...P, `${reg.host}/test/copied@${img.digest}`]), "verify copy");

  // save reads the prefixed tags; load writes under its own prefix.
  ok(await c(["save", ...P, "--dir", `${d.path}/layout`, ref]), "save");
  ok(
    await c([
      "load",
      "--attachment-tag-prefix",
      "q-",
      "--dir",
      `${d.path}/layout`,
      `${reg.host}/test/loaded:v1`,
    ]),
    "load",
  );
  for (const kind of ["sig", "att", "sbom"]) {
    assert(await hasTag(reg, "test/loaded", `q-sha256-${hex}.${kind}`), `loaded .${kind}`);
  }
  ok(
    await c(["verify", ...pub, "--attachment-tag-prefix", "q-", `${reg.host}/test/loaded:v1`]),
    "verify load",
  );

  ok(await c(["clean", ...P, "--type", "signature", "-f", ref]), "clean");
  assertFails(await c(["verify", ...pub, ...P, ref]), 10, /no signatures/i);
});
