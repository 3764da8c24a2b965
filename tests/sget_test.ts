/**
 * sget hands over bytes only after every check passed: by digest, by tag with a key, refusals
 * (tag without key, wrong key, altered layer, connection cut, interruption) leave stdout empty,
 * the `-o` target untouched and no spool file behind.
 */
import { type Registry, startFaultProxy, startRegistry } from "./harness/mod.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  ROOT,
  run,
  tempDir,
  TEST_DENO_DIR,
} from "./helpers.ts";
import { sha256Digest } from "../lib/oci/digest.ts";

interface Ctx {
  dir: string;
  env: Record<string, string>;
}

async function setup(dir: string): Promise<Ctx> {
  await Deno.mkdir(`${dir}/tmp`);
  const env = { COSIGN_PASSWORD: "pw", HOME: dir, TMPDIR: `${dir}/tmp`, DENO_DIR: TEST_DENO_DIR };
  for (const k of ["good", "other"]) {
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/${k}`], { env });
    assertEquals(g.code, 0, g.stderr);
  }
  return { dir, env };
}

/** Uploads `bytes` as a blob image, signs it with the good key; returns the digest reference. */
async function publish(c: Ctx, reg: Registry, name: string, bytes: Uint8Array): Promise<string> {
  await Deno.writeFile(`${c.dir}/${name}`, bytes);
  const u = await cosign([
    "upload",
    "blob",
    "-f",
    `${c.dir}/${name}`,
    `${reg.host}/tools/${name}:v1`,
  ], { env: c.env });
  assertEquals(u.code, 0, u.stderr);
  const s = await cosign([
    "sign",
    "--key",
    `${c.dir}/good.key`,
    "--tlog-upload=false",
    u.out.trim(),
  ], { env: c.env });
  assertEquals(s.code, 0, s.stderr);
  return u.out.trim();
}

/** sget; signatures in these tests are not logged, so the log check is skipped. */
function sget(c: Ctx, args: string[]) {
  const skipLog = args.includes("--key") ? ["--insecure-ignore-tlog"] : [];
  return run(["sget", ...skipLog, ...args], { env: c.env });
}

async function leftovers(c: Ctx): Promise<string[]> {
  const names = [];
  // (cosign-deno-locks is the signers' lock folder, not a spool)
  for await (const e of Deno.readDir(`${c.dir}/tmp`)) {
    if (e.name !== "cosign-deno-locks") names.push(e.name);
  }
  for await (const e of Deno.readDir(c.dir)) if (e.name.startsWith(".sget-")) names.push(e.name);
  return names;
}

function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) b[i] = (i / 4096 + seed) & 255;
  return b;
}

Deno.test("sget: by digest and by tag with a key, 1 MiB and 64 MiB, to stdout and to -o", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  for (const [name, size] of [["small.bin", 1 << 20], ["large.bin", 64 << 20]] as const) {
    const bytes = pattern(size, size);
    const ref = await publish(c, reg, name, bytes);
    const byDigest = await sget(c, [ref]);
    assertEquals(byDigest.code, 0, byDigest.stderr);
    assertEquals(sha256Digest(byDigest.stdout), sha256Digest(bytes), `${name} by digest`);
    const byTag = await sget(c, ["--key", `${c.dir}/good.pub`, `${reg.host}/tools/${name}:v1`]);
    assertEquals(byTag.code, 0, byTag.stderr);
    assertEquals(sha256Digest(byTag.stdout), sha256Digest(bytes), `${name} by tag`);
    assert(
      byTag.stderr.includes("The signatures were verified against the specified public key"),
      byTag.stderr,
    );
    const toFile = await sget(c, ["--key", `${c.dir}/good.pub`, "-o", `${c.dir}/out-${name}`, ref]);
    assertEquals(toFile.code, 0, toFile.stderr);
    assertEquals(toFile.out, "", "nothing on stdout with -o");
    assertEquals(sha256Digest(await Deno.readFile(`${c.dir}/out-${name}`)), sha256Digest(bytes));
  }
  assertEquals(await leftovers(c), []);
});

Deno.test("sget: refusals leave stdout empty, -o untouched and no spool behind", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const bytes = pattern(2 << 20, 7);
  const ref = await publish(c, reg, "tool.bin", bytes);
  const tag = `${reg.host}/tools/tool.bin:v1`;
  await Deno.writeTextFile(`${c.dir}/target`, "precious");
  const check = async (r: Awaited<ReturnType<typeof sget>>, code: number, why: RegExp) => {
    assertFails(r, code, why);
    assertEquals(r.stdout.length, 0, "stdout empty");
    assertEquals(await Deno.readTextFile(`${c.dir}/target`), "precious", "-o target untouched");
    assertEquals(await leftovers(c), [], "no spool left");
  };
  await check(await sget(c, [tag]), 2, /public key must be specified when fetching by tag/);
  await check(
    await sget(c, ["--key", `${c.dir}/other.pub`, "-o", `${c.dir}/target`, tag]),
    12,
    /no matching signatures/,
  );
  // Alter the layer in the registry's storage.
  const layer = JSON.parse(
    new TextDecoder().decode(
      await (await fetch(`${reg.url}/v2/tools/tool.bin/manifests/v1`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      })).bytes(),
    ),
  ).layers[0];
  const path = reg.blobPath(layer.digest);
  const stored = await Deno.readFile(path);
  stored[12345]! ^= 0xff;
  await Deno.writeFile(path, stored);
  await check(await sget(c, ["-o", `${c.dir}/target`, ref]), 1, /does not match/);
  await check(await sget(c, ["--key", `${c.dir}/good.pub`, tag]), 1, /does not match/);
});

Deno.test("sget: a connection cut half-way and an interruption by signal leave nothing behind", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const bytes = pattern(4 << 20, 9);
  const ref = await publish(c, reg, "tool.bin", bytes);
  await using proxy = await startFaultProxy(reg);
  const viaProxy = ref.replace(reg.host, proxy.host);
  await Deno.writeTextFile(`${c.dir}/target`, "precious");
  // Every attempt is cut after 1 MiB.
  proxy.inject({ method: "GET", path: /\/blobs\//, times: 10, fault: { truncate: 1 << 20 } });
  const cut = await sget(c, ["-o", `${c.dir}/target`, viaProxy]);
  assert(cut.code !== 0, "a cut download fails");
  assertEquals(cut.stdout.length, 0);
  assertEquals(await Deno.readTextFile(`${c.dir}/target`), "precious");
  assertEquals(await leftovers(c), []);
  proxy.reset();
  // SIGTERM while the blob response is held back by the proxy.
  proxy.inject({ method: "GET", path: /\/blobs\//, times: 1, fault: { delayMs: 15000 } });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      "sget",
      viaProxy,
    ],
    env: c.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait (at most 10 s) until the spool exists: the download has started and is held back.
  for (let i = 0; i < 200 && (await leftovers(c)).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if ((await leftovers(c)).length !== 1) {
    child.kill("SIGTERM");
    const o = await child.output();
    throw new Error(
      `no spool while downloading; sget said: ${new TextDecoder().decode(o.stderr)}; proxy: ${
        JSON.stringify(proxy.log)
      }; tmp: ${JSON.stringify([...Deno.readDirSync(`${c.dir}/tmp`)].map((e) => e.name))}`,
    );
  }
  child.kill("SIGTERM");
  const out = await child.output();
  assert(out.code !== 0, "interrupted: non-zero exit");
  assertEquals(out.stdout.length, 0, "interrupted: stdout empty");
  assertEquals(await leftovers(c), [], "interrupted: spool removed");
});

Deno.test("sget | sh runs the script only when verification succeeded", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const marker = `${c.dir}/ran`;
  await publish(
    c,
    reg,
    "install.sh",
    new TextEncoder().encode(`#!/bin/sh\necho ok > '${marker}'\n`),
  );
  const tag = `${reg.host}/tools/install.sh:v1`;
  const pipe = (key: string) =>
    new Deno.Command("sh", {
      args: [
        "-c",
        `'${Deno.execPath()}' run --quiet --allow-all --config '${ROOT}deno.json' '${ROOT}cli.ts' sget --insecure-ignore-tlog --key '${key}' '${tag}' | sh`,
      ],
      env: c.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
  await pipe(`${c.dir}/other.pub`);
  assert(
    !(await Deno.stat(marker).then(() => true, () => false)),
    "the script did not run for a wrong key",
  );
  const ok = await pipe(`${c.dir}/good.pub`);
  assertEquals(ok.code, 0, new TextDecoder().decode(ok.stderr));
  assertEquals(await Deno.readTextFile(marker), "ok\n", "the script ran once verified");
});

Deno.test("sget: a progress bar on a terminal's stderr (bytes, rate, ETA), none otherwise", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const bytes = pattern(8 << 20, 3);
  const ref = await publish(c, reg, "tool.bin", bytes);
  // Not a terminal: stderr has no progress bar.
  const piped = await sget(c, [ref]);
  assertEquals(piped.code, 0, piped.stderr);
  assert(!/MiB\/s|ETA/.test(piped.stderr), `no progress bar when piped: ${piped.stderr}`);
  // A real pseudo-terminal (util-linux `script`) for stderr; the artifact goes to a file.
  const cmd =
    `'${Deno.execPath()}' run --quiet --allow-all --config '${ROOT}deno.json' '${ROOT}cli.ts' ` +
    `sget '${ref}' > '${c.dir}/out.bin'`;
  const tty = await new Deno.Command("script", {
    args: ["-qec", cmd, "/dev/null"],
    env: c.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const screen = new TextDecoder().decode(tty.stdout);
  assertEquals(tty.code, 0, screen + new TextDecoder().decode(tty.stderr));
  assert(
    /\[#+\.*\]\s+100% 8\.0\/8\.0 MiB, [\d.]+ MiB\/s, ETA 0s/.test(screen),
    `progress bar: ${JSON.stringify(screen)}`,
  );
  assertEquals(sha256Digest(await Deno.readFile(`${c.dir}/out.bin`)), sha256Digest(bytes));
});
