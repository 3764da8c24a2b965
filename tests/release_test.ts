/**
 * `deno task release VERSION` and `scripts/install.sh` (issue 18).
 *
 * The release, with a key: `dist/` holds the bundles, the installer, `VERSION`, an SPDX SBOM
 * listing every package in `deno.lock`, `checksums.txt` that `sha256sum -c` accepts, and for
 * every file a Sigstore bundle that our `verify-blob --bundle` and openssl (on the signature it
 * carries) both verify; pushed to a real registry as signed images. Without a key or an
 * identity token it refuses to start.
 *
 * The installer, with a temporary HOME, against that registry (through the release's own sget,
 * and through curl) and a local web server: it installs a release whose signature verifies; it
 * refuses one whose bytes were altered in the registry's storage or on the server, one signed by
 * another key, an unexpected user, and an existing file without --force, and then installs
 * nothing.
 */
import { startRegistry } from "./harness/mod.ts";
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

/** The three `sh` blocks of the README's "Install" section: installer, bundle, from source. */
async function readmeInstallBlocks(): Promise<string[]> {
  const readme = await Deno.readTextFile(ROOT + "README.md");
  const start = readme.indexOf("\n## Install\n");
  assert(start >= 0, "README has an Install section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assertEquals(blocks.length, 3, "three ways to install");
  return blocks;
}

const README_BASE = "https://example.com/cosign-deno/v0.1.0";

/** Runs a README block with `sh -eu` in `dir`. */
async function runBlock(block: string, dir: string, env: Record<string, string>) {
  const r = await new Deno.Command("sh", {
    args: ["-euc", block],
    cwd: dir,
    env: { NO_COLOR: "1", ...env },
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

Deno.test("release and install: deno task release 0.0.0-test with a key; install.sh", async (t) => {
  await using reg = await startRegistry();
  await using d = await tempDir();
  const env = { COSIGN_PASSWORD: "release-pw" };
  for (const name of ["release", "other"]) {
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/${name}`], {
      env,
    });
    assertEquals(g.code, 0, g.stderr);
  }
  const dist = `${d.path}/dist`;
  const repo = `${reg.host}/cosign-deno/release`;
  const pub = `${d.path}/release.pub`;
  const otherPub = `${d.path}/other.pub`;
  let listed: string[] = [];

  await t.step("release: builds, signs and pushes", async () => {
    const r = await task([
      "0.0.0-test",
      "--key",
      `${d.path}/release.key`,
      "--tlog-upload=false",
      "--out-dir",
      dist,
      "--oci",
      repo,
    ], env);
    assertEquals(r.code, 0, `release failed:\n${r.err}\n${r.out}`);
    assert(/Skipping compiled executables: DENORT_BIN is not set/.test(r.err), r.err);
    assert(r.out.includes(`as ${repo}:0.0.0-test-cosign.js`), r.out);
  });

  await t.step("release: checksums.txt passes sha256sum -c and lists every artifact", async () => {
    const check = await sh("sha256sum", ["-c", "--strict", "checksums.txt"], { cwd: dist });
    assertEquals(check.code, 0, `sha256sum -c: ${dec.decode(check.out)} ${check.err}`);
    listed = (await Deno.readTextFile(`${dist}/checksums.txt`)).trim().split("\n")
      .map((l) => l.split("  ")[1]!);
    for (const f of ["cosign.js", "sget.js", "sbom.spdx.json", "VERSION", "install.sh"]) {
      assert(listed.includes(f), `checksums.txt lists ${f}: ${listed}`);
    }
    assertEquals((await Deno.readTextFile(`${dist}/VERSION`)).trim(), "0.0.0-test");
  });

  await t.step("release: every bundle verifies with verify-blob and with openssl", async () => {
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
  });

  await t.step("release: the SBOM lists every package in deno.lock", async () => {
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
    const ver = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "-A", `${dist}/cosign.js`, "version", "--json"],
      stdout: "piped",
    }).output();
    assertEquals(JSON.parse(dec.decode(ver.stdout)).gitVersion, "v0.0.0-test");
  });

  // The installer, as a user runs it: a temporary HOME, the release's own sget on PATH (or no
  // sget, then curl speaks to the registry).
  const sgetBin = `${d.path}/sget-bin`;
  await Deno.mkdir(sgetBin);
  await Deno.writeTextFile(
    `${sgetBin}/sget`,
    `#!/bin/sh\nexec "${Deno.execPath()}" run --no-config --quiet -A "${dist}/sget.js" "$@"\n`,
    { mode: 0o755 },
  );
  const denoDir = Deno.execPath().replace(/\/[^/]*$/, "");
  const basePath = `${denoDir}:/usr/local/bin:/usr/bin:/bin`;
  let homes = 0;
  async function install(
    args: string[],
    opts: { sget?: boolean; home?: string; env?: Record<string, string> } = {},
  ) {
    const home = opts.home ?? `${d.path}/home${++homes}`;
    await Deno.mkdir(home, { recursive: true });
    const r = await new Deno.Command("sh", {
      args: [`${dist}/install.sh`, ...args],
      cwd: home,
      env: {
        HOME: home,
        PATH: opts.sget ? `${sgetBin}:${basePath}` : basePath,
        NO_COLOR: "1",
        ...opts.env,
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr), home };
  }
  async function files(dir: string): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) out.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort();
  }
  const root = Deno.uid() === 0 ? ["--allow-root"] : [];
  const fromOci = ["--oci", repo, "--version", "0.0.0-test", ...root];

  await t.step("install: a good release from the registry, through sget", async () => {
    const r = await install(["--key", pub, "--insecure-ignore-tlog", ...fromOci], { sget: true });
    assertEquals(r.code, 0, r.err);
    const bin = `${r.home}/.local/bin`;
    assertEquals(await files(bin), ["cosign", "sget"]);
    assertEquals(await Deno.readFile(`${bin}/cosign`), await Deno.readFile(`${dist}/cosign.js`));
    assertEquals((await Deno.stat(`${bin}/sget`)).mode! & 0o777, 0o755);
    // the installed command runs (its shebang starts deno)
    const v = await new Deno.Command(`${bin}/cosign`, {
      args: ["version", "--json"],
      env: { PATH: basePath, HOME: r.home },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(v.code, 0, dec.decode(v.stderr));
    assertEquals(JSON.parse(dec.decode(v.stdout)).gitVersion, "v0.0.0-test");

    // again: the files exist, so without --force nothing changes
    await Deno.writeTextFile(`${bin}/sget`, "mine\n");
    const again = await install(["--key", pub, ...fromOci], { home: r.home });
    assertEquals(again.code, 1, again.err);
    assert(/already exists: pass --force/.test(again.err), again.err);
    assertEquals(await Deno.readTextFile(`${bin}/sget`), "mine\n", "left alone");
    const forced = await install(["--key", pub, "--force", ...fromOci], { home: r.home });
    assertEquals(forced.code, 0, forced.err);
    assertEquals(await Deno.readFile(`${bin}/sget`), await Deno.readFile(`${dist}/sget.js`));
  });

  await t.step("install: an unexpected user is refused", async () => {
    if (Deno.uid() === 0) {
      const r = await install(["--key", pub, "--oci", repo, "--version", "0.0.0-test"]);
      assertEquals(r.code, 1, r.err);
      assert(/refusing to run as root/.test(r.err), r.err);
      assertEquals(await files(`${r.home}/.local/bin`), []);
    }
    const r = await install(["--key", pub, "--expect-user", "someone-else", ...fromOci]);
    assertEquals(r.code, 1, r.err);
    assert(/refusing to run as user .*--expect-user says someone-else/.test(r.err), r.err);
    assertEquals(await files(`${r.home}/.local/bin`), []);
  });

  await t.step("install: a release signed by another key is refused", async () => {
    for (const sget of [false, true]) {
      const r = await install(["--key", otherPub, "--insecure-ignore-tlog", ...fromOci], { sget });
      assertEquals(r.code, 1, r.err);
      assert(
        sget
          ? /sget refused/.test(r.err)
          : /signature on checksums\.txt does not verify/.test(r.err),
        r.err,
      );
      assertEquals(await files(`${r.home}/.local/bin`), [], "nothing installed");
    }
  });

  await t.step(
    "install: from a web server, into COSIGN_INSTALL_DIR; altered bytes refused",
    async () => {
      const served = `${d.path}/served`;
      await Deno.mkdir(served);
      for (const f of [...listed, "checksums.txt", "checksums.txt.sigstore.json"]) {
        await Deno.copyFile(`${dist}/${f}`, `${served}/${f}`);
      }
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
        const name = new URL(req.url).pathname.slice(1);
        try {
          return new Response(await Deno.readFile(`${served}/${name}`));
        } catch {
          return new Response("not found", { status: 404 });
        }
      });
      try {
        const url = `http://127.0.0.1:${server.addr.port}`;
        const target = `${d.path}/custom-bin`;
        const r = await install(["--key", pub, "--url", url, ...root], {
          env: { COSIGN_INSTALL_DIR: target },
        });
        assertEquals(r.code, 0, r.err);
        assertEquals(await files(target), ["cosign", "sget"]);
        assertEquals(await files(`${r.home}/.local/bin`), [], "not in ~/.local/bin");

        const js = await Deno.readFile(`${served}/sget.js`);
        js[js.length - 2] = js[js.length - 2]! ^ 1;
        await Deno.writeFile(`${served}/sget.js`, js);
        const bad = await install(["--key", pub, "--url", url, ...root]);
        assertEquals(bad.code, 1, bad.err);
        assert(/checksum mismatch for sget\.js/.test(bad.err), bad.err);
        assertEquals(await files(`${bad.home}/.local/bin`), [], "nothing installed");
      } finally {
        await server.shutdown();
      }
    },
  );

  await t.step("install: bytes altered in the registry's storage are refused", async () => {
    const bytes = await Deno.readFile(`${dist}/cosign.js`);
    const digest = "sha256:" +
      new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
    const stored = reg.blobPath(digest);
    const altered = bytes.slice();
    altered[altered.length - 2] = altered[altered.length - 2]! ^ 1;
    await Deno.writeFile(stored, altered);
    for (const sget of [true, false]) {
      const r = await install(["--key", pub, "--insecure-ignore-tlog", ...fromOci], { sget });
      assertEquals(r.code, 1, r.err);
      const why = sget
        ? /sget refused \S+:0\.0\.0-test-cosign\.js/
        : /0\.0\.0-test-cosign\.js: the registry sent other bytes/;
      assert(why.test(r.err), `the error names the file and the reason: ${r.err}`);
      assertEquals(await files(`${r.home}/.local/bin`), [], "nothing installed");
    }
  });
  await t.step(
    "README install 1 and 2: the installer and the bundle, from fresh folders",
    async () => {
      const [installer, bundle] = await readmeInstallBlocks();
      assert(installer!.includes(README_BASE) && bundle!.includes(README_BASE), "the example host");
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
        const name = new URL(req.url).pathname.replace(/^\/cosign-deno\/v0\.1\.0\//, "");
        if (name.includes("/")) return new Response("not found", { status: 404 });
        try {
          return new Response(await Deno.readFile(`${dist}/${name}`));
        } catch {
          return new Response("not found", { status: 404 });
        }
      });
      try {
        const base = `http://127.0.0.1:${server.addr.port}/cosign-deno/v0.1.0`;
        await using one = await tempDir();
        await Deno.copyFile(pub, `${one.path}/release.pub`);
        let block = installer!.replaceAll(README_BASE, base);
        if (Deno.uid() === 0) {
          block = block.replace(
            "sh install.sh ",
            "sh install.sh --allow-root ",
          );
        }
        const r1 = await runBlock(block, one.path, { HOME: one.path, PATH: basePath });
        assertEquals(r1.code, 0, `the installer block: ${r1.err}`);
        assertEquals(await files(`${one.path}/.local/bin`), ["cosign", "sget"]);

        await using two = await tempDir();
        await Deno.copyFile(pub, `${two.path}/release.pub`);
        const r2 = await runBlock(bundle!.replaceAll(README_BASE, base), two.path, {
          HOME: two.path,
          PATH: basePath,
        });
        assertEquals(r2.code, 0, `the bundle block: ${r2.err}`);
        assert(r2.out.includes("Verified OK"), r2.out);
        assert(/GitVersion:\s+v0\.0\.0-test/.test(r2.out), r2.out);
      } finally {
        await server.shutdown();
      }
    },
  );
});

Deno.test({
  name: "README install 3: from source, in a fresh folder",
  // a clone needs a git checkout (CI has one)
  ignore: !(await Deno.stat(ROOT + ".git").catch(() => null)),
  async fn() {
    const [, , fromSource] = await readmeInstallBlocks();
    const url = "https://example.com/cosign-deno.git";
    assert(fromSource!.includes(url), "the example clone URL");
    await using d = await tempDir();
    const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
    const denoDir = (JSON.parse(dec.decode(info.stdout)) as { denoDir: string }).denoDir;
    const bin = Deno.execPath().replace(/\/[^/]*$/, "");
    const r = await runBlock(fromSource!.replace(url, `${ROOT} cosign-deno`), d.path, {
      HOME: d.path,
      DENO_DIR: denoDir, // the npm packages already fetched; a user's first run fetches them
      PATH: `${d.path}/.deno/bin:${bin}:/usr/local/bin:/usr/bin:/bin`,
    });
    assertEquals(r.code, 0, `the from-source block: ${r.err}`);
    const cfg = JSON.parse(await Deno.readTextFile(ROOT + "deno.json"));
    assert(new RegExp(`GitVersion:\\s+v${cfg.version.replaceAll(".", "\\.")}`).test(r.out), r.out);
    assert((await Deno.stat(`${d.path}/.deno/bin/sget`)).isFile, "sget installed too");
  },
});
