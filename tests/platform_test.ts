/**
 * `--platform` on `sign`, `verify`, `copy`, `download attestation` and `download sbom` with a
 * multi-platform index in the real registry: the index's image of that platform is used, a
 * platform the index lacks is named with the ones it has, and a single image is refused.
 */
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, type RunResult, tempDir } from "./helpers.ts";

function ok(r: RunResult, what: string): RunResult {
  assertEquals(r.code, 0, `${what}: ${r.stderr}`);
  return r;
}

Deno.test("--platform: sign, verify, copy and download pick the index's image of a platform", async () => {
  await using reg = await startRegistry();
  await using d = await tempDir();
  const env = { HOME: d.path, COSIGN_PASSWORD: "platform-pw" };
  const c = (args: string[]) => cosign(args, { env });
  const idx = await pushImage(reg, "test/multi:v1", { arches: ["amd64", "arm64"] });
  const [amd64, arm64] = idx.images.map((i) => i.digest);
  const single = await pushImage(reg, "test/single:v1");
  const ref = `${reg.host}/test/multi:v1`;
  ok(await c(["generate-key-pair", "--output-key-prefix", `${d.path}/k`]), "keys");
  const key = ["--key", `${d.path}/k.key`, "--tlog-upload=false", "--new-bundle-format=false"];
  const pub = ["--key", `${d.path}/k.pub`, "--insecure-ignore-tlog"];

  const signed = ok(await c(["sign", ...key, "--platform", "linux/arm64", ref]), "sign");
  assert(signed.stderr.includes("WARNING: Image reference"), "the tag warning is still given");
  const v = ok(await c(["verify", ...pub, "--platform", "linux/arm64", ref]), "verify arm64");
  assert(v.out.includes(arm64!), `the arm64 image was verified: ${v.out}`);
  // Only the arm64 image was signed: not the index, not amd64.
  assertFails(await c(["verify", ...pub, ref]), 10, /no signatures/i);
  assertFails(await c(["verify", ...pub, "--platform", "linux/amd64", ref]), 10, /no signatures/i);
  ok(await c(["verify", ...pub, `${reg.host}/test/multi@${arm64}`]), "verify arm64 by digest");

  // A platform the index lacks names what it has; a single image and a bad spec are refused.
  assertFails(
    await c(["verify", ...pub, "--platform", "linux/s390x", ref]),
    1,
    /has no image for platform linux\/s390x \(it has: linux\/amd64, linux\/arm64\)/,
  );
  assertFails(
    await c(["sign", ...key, "--platform", "linux/amd64", single.ref]),
    2,
    /is a single image, not a multi-platform index/,
  );
  assertFails(
    await c(["sign", ...key, "--platform", "linux/arm64", "--recursive", ref]),
    2,
    /--platform and --recursive are exclusive/,
  );
  assertFails(await c(["verify", ...pub, "--platform", "a/b/c/d", ref]), 2, /invalid --platform/);

  // Attestation and SBOM of the arm64 image, found through the index.
  await Deno.writeTextFile(`${d.path}/pred.json`, '{"arch":"arm64"}');
  ok(
    await c([
      "attest",
      ...key,
      "--predicate",
      `${d.path}/pred.json`,
      "--type",
      "custom",
      `${reg.host}/test/multi@${arm64}`,
    ]),
    "attest arm64",
  );
  const att = ok(
    await c(["download", "attestation", "--platform", "linux/arm64", ref]),
    "download attestation",
  );
  const payload = JSON.parse(atob(JSON.parse(att.out.trim()).payload));
  assertEquals(payload.subject[0].digest.sha256, arm64!.slice(7));
  assertFails(
    await c(["download", "attestation", "--platform", "linux/amd64", ref]),
    1,
    /no attestations/i,
  );
  await Deno.writeTextFile(`${d.path}/sbom.spdx`, "SPDXVersion: SPDX-2.3\n");
  ok(
    await c([
      "attach",
      "sbom",
      "--sbom",
      `${d.path}/sbom.spdx`,
      "--type",
      "spdx",
      `${reg.host}/test/multi@${arm64}`,
    ]),
    "attach sbom",
  );
  assertEquals(
    ok(await c(["download", "sbom", "--platform", "linux/arm64", ref]), "sbom").out,
    "SPDXVersion: SPDX-2.3\n",
  );

  // copy: the arm64 image (with its signature) is copied and tagged, not the index.
  ok(await c(["copy", "--platform", "linux/arm64", ref, `${reg.host}/test/arm:v1`]), "copy");
  const tri = ok(
    await c(["triangulate", "--type", "digest", `${reg.host}/test/arm:v1`]),
    "triangulate",
  );
  assertEquals(tri.out, `${reg.host}/test/arm@${arm64}\n`);
  ok(await c(["verify", ...pub, `${reg.host}/test/arm:v1`]), "verify the copy");
  assert(amd64 !== arm64, "two images");
});
