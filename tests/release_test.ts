/**
 * `deno task release VERSION` (issue 18): with a key, `dist/` holds the bundles, `VERSION`, an
 * SPDX SBOM listing every package in `deno.lock`, `checksums.txt` that `sha256sum -c` accepts,
 * and for every file a Sigstore bundle that our `verify-blob --bundle` and openssl (on the
 * signature it carries) both verify. Without a key or an identity token it refuses to start.
 */
import { assert, assertEquals, cosign, ROOT, sh, tempDir } from "./helpers.ts";

const dec = new TextDecoder();

async function task(args: string[], env: Record<string, string> = {}) {
  const e: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1", ...env };
  for (const k of ["COSIGN_RELEASE_KEY", "COSIGN_RELEASE_OCI", "SIGSTORE_ID_TOKEN", "DENORT_BIN"]) {
    if (!(k in env)) delete e[k];
  }
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "release", ...args],
    cwd: ROOT,
    env: e,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("release: without a key or an identity token, nothing is built", async () => {
  await using d = await tempDir();
  const r = await task(["0.0.0-test", "--out-dir", d.path + "/dist"]);
  assertEquals(r.code, 2, r.err);
  assert(/no signing identity: pass --key/.test(r.err), r.err);
  const bad = await task(["1.2", "--key", "x.key", "--out-dir", d.path + "/dist"]);
  assertEquals(bad.code, 2, bad.err);
  assert(/invalid version 1\.2/.test(bad.err), bad.err);
  assertEquals(await Deno.stat(d.path + "/dist").catch(() => null), null, "no dist/");
});

Deno.test("release: deno task release 0.0.0-test with a key: checksums, bundles, SBOM", async () => {
  await using d = await tempDir();
  const env = { COSIGN_PASSWORD: "release-pw" };
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/release`], {
    env,
  });
  assertEquals(g.code, 0, g.stderr);
  const dist = `${d.path}/dist`;
  const r = await task([
    "0.0.0-test",
    "--key",
    `${d.path}/release.key`,
    "--tlog-upload=false",
    "--out-dir",
    dist,
  ], env);
  assertEquals(r.code, 0, `release failed:\n${r.err}\n${r.out}`);
  assert(/Skipping compiled executables: DENORT_BIN is not set/.test(r.err), r.err);

  // checksums.txt: sha256sum -c accepts it, and it lists every artifact
  const check = await sh("sha256sum", ["-c", "--strict", "checksums.txt"], { cwd: dist });
  assertEquals(check.code, 0, `sha256sum -c: ${dec.decode(check.out)} ${check.err}`);
  const listed = (await Deno.readTextFile(`${dist}/checksums.txt`)).trim().split("\n")
    .map((l) => l.split("  ")[1]!);
  for (const f of ["cosign.js", "sget.js", "sbom.spdx.json", "VERSION"]) {
    assert(listed.includes(f), `checksums.txt lists ${f}: ${listed}`);
  }
  assertEquals((await Deno.readTextFile(`${dist}/VERSION`)).trim(), "0.0.0-test");

  // every file and checksums.txt has a bundle that our verify-blob and openssl accept
  const pub = `${d.path}/release.pub`;
  for (const name of [...listed, "checksums.txt"]) {
    const bundlePath = `${dist}/${name}.sigstore.json`;
    const v = await cosign([
      "verify-blob",
      "--key",
      pub,
      "--bundle",
      bundlePath,
      "--new-bundle-format",
      "--insecure-ignore-tlog",
      `${dist}/${name}`,
    ]);
    assertEquals(v.code, 0, `verify-blob ${name}: ${v.stderr}`);
    const bundle = JSON.parse(await Deno.readTextFile(bundlePath));
    const sig = Uint8Array.fromBase64(bundle.messageSignature.signature);
    await Deno.writeFile(`${d.path}/sig.der`, sig);
    const o = await sh("openssl", [
      "dgst",
      "-sha256",
      "-verify",
      pub,
      "-signature",
      `${d.path}/sig.der`,
      `${dist}/${name}`,
    ]);
    assertEquals(o.code, 0, `openssl on ${name}: ${dec.decode(o.out)} ${o.err}`);
    assertEquals(dec.decode(o.out).trim(), "Verified OK");
  }
  // and a bundle does not verify another file
  const wrong = await cosign([
    "verify-blob",
    "--key",
    pub,
    "--bundle",
    `${dist}/cosign.js.sigstore.json`,
    "--new-bundle-format",
    "--insecure-ignore-tlog",
    `${dist}/sget.js`,
  ]);
  assertEquals(wrong.code, 1, "the cosign.js bundle does not verify sget.js");

  // the SBOM lists every package in deno.lock
  const lock = JSON.parse(await Deno.readTextFile(ROOT + "deno.lock")) as {
    npm: Record<string, unknown>;
  };
  const sbom = JSON.parse(await Deno.readTextFile(`${dist}/sbom.spdx.json`)) as {
    spdxVersion: string;
    packages: { name: string; versionInfo: string; SPDXID: string }[];
    relationships: { spdxElementId: string; relationshipType: string }[];
  };
  assertEquals(sbom.spdxVersion, "SPDX-2.3");
  const inSbom = new Set(
    sbom.packages.filter((p) => p.SPDXID.startsWith("SPDXRef-npm-"))
      .map((p) => `${p.name}@${p.versionInfo}`),
  );
  const inLock = Object.keys(lock.npm).map((k) => {
    const at = k.indexOf("@", 1);
    return `${k.slice(0, at)}@${k.slice(at + 1).split("_")[0]}`;
  });
  assert(inLock.length > 10, "deno.lock has packages");
  assertEquals(inLock.filter((p) => !inSbom.has(p)), [], "packages of deno.lock missing");
  assertEquals(inSbom.size, new Set(inLock).size, "nothing but deno.lock's packages");
  assert(
    sbom.relationships.some((r) => r.relationshipType === "DESCRIBES"),
    "the document describes the release",
  );

  // the bundle was built from the release version
  const ver = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "-A", `${dist}/cosign.js`, "version", "--json"],
    stdout: "piped",
  }).output();
  assertEquals(JSON.parse(dec.decode(ver.stdout)).gitVersion, "v0.0.0-test");
});
