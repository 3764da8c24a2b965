/**
 * The single-file programs (issue 18): `deno task bundle` writes `cosign.js` and `sget.js` that
 * import nothing but `node:` built-ins; copied alone into an empty folder, with an empty
 * `DENO_DIR` and every proxy variable (and the npm registry) pointing at a closed port,
 * `cosign.js` signs and verifies blobs and images on a real registry.
 */
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, ROOT, tempDir } from "./helpers.ts";
import { foreignImports, SHEBANG } from "../scripts/bundle.ts";

const dec = new TextDecoder();

interface Out {
  code: number;
  out: string;
  err: string;
}

/** A port nothing listens on. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

Deno.test("bundle: cosign.js alone, offline and cacheless, signs and verifies blobs and images", async () => {
  await using build = await tempDir();
  const b = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "bundle", "--out-dir", build.path],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(b.code, 0, dec.decode(b.stderr));
  for (const program of ["cosign", "sget"]) {
    const code = await Deno.readTextFile(`${build.path}/${program}.js`);
    assert(code.startsWith(SHEBANG + "\n"), `${program}.js starts with its shebang`);
    assertEquals(foreignImports(code), [], `${program}.js imports only node: built-ins`);
    // The left-out SDKs are imported on first use only, never at start-up.
    assert(!/^\s*import\s[^;]*?\sfrom\s*["']npm:/m.test(code), `${program}.js: static npm import`);
  }

  await using reg = await startRegistry();
  const img = await pushImage(reg, "bundled/app:v1");
  await using d = await tempDir(); // the empty folder the user runs it from
  await using denoDir = await tempDir();
  await Deno.copyFile(`${build.path}/cosign.js`, `${d.path}/cosign.js`);
  await Deno.copyFile(`${build.path}/sget.js`, `${d.path}/sget.js`);
  const proxy = `http://127.0.0.1:${closedPort()}`;
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: d.path,
    DENO_DIR: denoDir.path,
    HTTPS_PROXY: proxy,
    https_proxy: proxy,
    HTTP_PROXY: proxy,
    http_proxy: proxy,
    ALL_PROXY: proxy,
    NPM_CONFIG_REGISTRY: proxy,
    // the registry is local; everything else would go to the closed port
    NO_PROXY: "127.0.0.1",
    COSIGN_PASSWORD: "bundle-pw",
    NO_COLOR: "1",
  };
  async function run(
    file: string,
    args: string[],
    extraEnv: Record<string, string> = {},
  ): Promise<Out> {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--quiet", "-A", file, ...args],
      cwd: d.path,
      env: { ...env, ...extraEnv },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
  }
  const cosign = (args: string[], extraEnv?: Record<string, string>) =>
    run("cosign.js", args, extraEnv);
  const ok = (r: Out, what: string) => assertEquals(r.code, 0, `${what}: ${r.err}`);

  const version = JSON.parse((await cosign(["version", "--json"])).out);
  const cfg = JSON.parse(await Deno.readTextFile(ROOT + "deno.json"));
  assertEquals(version.gitVersion, `v${cfg.version}`, "the version from deno.json is built in");
  ok(await cosign(["generate-key-pair"]), "generate-key-pair");
  await Deno.writeTextFile(`${d.path}/blob`, "bundled\n");
  ok(
    await cosign([
      "sign-blob",
      "--key",
      "cosign.key",
      "--tlog-upload=false",
      "--output-signature",
      "blob.sig",
      "-y",
      "blob",
    ]),
    "sign-blob",
  );
  const verifyBlob = ["verify-blob", "--key", "cosign.pub", "--signature", "blob.sig"];
  ok(await cosign([...verifyBlob, "--insecure-ignore-tlog", "blob"]), "verify-blob");
  await Deno.writeTextFile(`${d.path}/other`, "tampered\n");
  const bad = await cosign([...verifyBlob, "--insecure-ignore-tlog", "other"]);
  assertEquals(bad.code, 1, `verify-blob of another blob fails: ${bad.err}`);

  const ref = `${img.ref.replace(/:v1$/, "")}@${img.digest}`;
  ok(await cosign(["sign", "--key", "cosign.key", "--tlog-upload=false", "-y", ref]), "sign");
  const v = await cosign(["verify", "--key", "cosign.pub", "--insecure-ignore-tlog", ref]);
  ok(v, "verify");
  assert(v.out.includes(img.digest), `verify prints the digest: ${v.out}`);

  // The KMS providers are in the bundle too, loaded on first use: a Vault key whose server is
  // down fails with the provider's one-line error (not a missing module, not exit 3).
  const kms = await cosign([
    "sign-blob",
    "--key",
    "hashivault://release",
    "--tlog-upload=false",
    "--timeout=5s",
    "blob",
  ], { VAULT_ADDR: "http://127.0.0.1:9", VAULT_TOKEN: "t" });
  assertEquals(kms.code, 1, kms.err);
  assert(/hashivault/.test(kms.err) && !/internal error|Cannot find module/.test(kms.err), kms.err);

  // The AWS and Azure SDKs are left out of the bundles (scripts/bundle.ts): offline, a key of
  // those clouds fails in one line naming the package to fetch.
  for (
    const [key, pkg] of [
      ["awskms:///alias/release", "npm:@aws-sdk/client-kms@3.1178.0"],
      ["azurekms://vault.example/release", "npm:@azure/"],
    ] as const
  ) {
    const r = await cosign(["sign-blob", "--key", key, "--tlog-upload=false", "blob"], {
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "secret",
    });
    assertEquals(r.code, 1, r.err);
    const lines = r.err.trim().split("\n");
    assertEquals(lines.length, 1, r.err);
    assert(lines[0]!.includes(pkg) && lines[0]!.includes(key), r.err);
  }

  const sget = await run("sget.js", ["--help"]);
  ok(sget, "sget.js --help");
  assert(sget.out.startsWith("sget"), sget.out);
  // Nothing was fetched into the empty cache.
  const npm = [];
  for await (const e of Deno.readDir(denoDir.path)) if (e.name === "npm") npm.push(e.name);
  for (const dir of npm) {
    const inside = [];
    for await (const e of Deno.readDir(`${denoDir.path}/${dir}`)) inside.push(e.name);
    assertEquals(inside, [], "no npm package in DENO_DIR");
  }
});
