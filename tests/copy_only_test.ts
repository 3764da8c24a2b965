/**
 * `copy --only` and `--sig-only` as cosign has them: the attachments named, and neither the image
 * nor its tag; without them, everything.
 */
import { pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, cosign, tempDir } from "./helpers.ts";

const ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** The HTTP status of a manifest GET, straight from the registry. */
async function status(reg: Registry, repo: string, ref: string): Promise<number> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    headers: { accept: ACCEPT },
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test("copy --sig-only and --only sig,sbom copy those attachments, neither the image nor its tag", async () => {
  await using d = await tempDir();
  const env = { COSIGN_PASSWORD: "pw", DOCKER_CONFIG: d.path, COSIGN_DENO_NO_CACHE: "1" };
  await using a = await startRegistry();
  await using b = await startRegistry();
  const img = await pushImage(a, "app/img:v1");
  const ref = `${a.host}/app/img:v1`;
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/k`], { env });
  assertEquals(g.code, 0, g.stderr);
  const s = await cosign([
    "sign",
    "--key",
    `${d.path}/k.key`,
    "--tlog-upload=false",
    "--new-bundle-format=false",
    `${a.host}/app/img@${img.digest}`,
  ], { env });
  assertEquals(s.code, 0, s.stderr);
  await Deno.writeTextFile(`${d.path}/sbom.spdx`, "SPDXVersion: SPDX-2.3\nDocumentName: x\n");
  const sb = await cosign(
    ["attach", "sbom", "--sbom", `${d.path}/sbom.spdx`, "--type", "spdx", ref],
    { env },
  );
  assertEquals(sb.code, 0, sb.stderr);
  const tag = (kind: string) => `${img.digest.replace(":", "-")}.${kind}`;

  const sigOnly = await cosign(["copy", "--sig-only", ref, `${b.host}/m1/img:v1`], { env });
  assertEquals(sigOnly.code, 0, sigOnly.stderr);
  assert(sigOnly.stderr.includes("--sig-only is deprecated, use --only=sig"), sigOnly.stderr);
  assertEquals(await status(b, "m1/img", tag("sig")), 200, "the signatures");
  assertEquals(await status(b, "m1/img", tag("sbom")), 404, "not the SBOM");
  assertEquals(await status(b, "m1/img", "v1"), 404, "not the tag");
  assertEquals(await status(b, "m1/img", img.digest), 404, "not the image");

  const only = await cosign(["copy", "--only", "sig,sbom", ref, `${b.host}/m2/img:v1`], { env });
  assertEquals(only.code, 0, only.stderr);
  assertEquals(await status(b, "m2/img", tag("sig")), 200);
  assertEquals(await status(b, "m2/img", tag("sbom")), 200);
  assertEquals(await status(b, "m2/img", "v1"), 404, "not the tag");
  assertEquals(await status(b, "m2/img", img.digest), 404, "not the image");

  const all = await cosign(["copy", ref, `${b.host}/m3/img:v1`], { env });
  assertEquals(all.code, 0, all.stderr);
  for (const r of [tag("sig"), tag("sbom"), "v1", img.digest]) {
    assertEquals(await status(b, "m3/img", r), 200, r);
  }
  const v = await cosign(
    ["verify", "--key", `${d.path}/k.pub`, "--insecure-ignore-tlog", `${b.host}/m3/img:v1`],
    { env },
  );
  assertEquals(v.code, 0, v.stderr);
});
