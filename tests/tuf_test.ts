/**
 * Trust from TUF end to end (issue 13): `cosign initialize` against a loopback TUF repository
 * serving a fake Rekor's `trusted_root.json`, then `verify-blob --bundle` with no
 * `--trusted-root`.
 * @module
 */

import { createHash } from "node:crypto";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { startRekor } from "./harness/rekor.ts";
import { serveTuf, TufRepo } from "./harness/tuf.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("tuf: initialize, then verify-blob --bundle trusts the TUF trusted root", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  await Deno.writeTextFile(`${p}/blob.txt`, "hello\n");
  const signed = await cosign([
    "sign-blob",
    "--key",
    `${p}/k.key`,
    "-y",
    "--rekor-url",
    rekor.url,
    "--trusted-root",
    rekor.trustedRootPath,
    "--bundle",
    `${p}/b.json`,
    `${p}/blob.txt`,
  ], { env });
  assertEquals(signed.code, 0, signed.stderr);
  const repo = new TufRepo({ "trusted_root.json": await Deno.readFile(rekor.trustedRootPath) });
  repo.rotateRoot(); // the client walks 1 -> 2
  repo.publishTargets();
  await Deno.writeFile(`${p}/root.json`, repo.initialRoot);
  const verify = ["verify-blob", "--key", `${p}/k.pub`, "--bundle", `${p}/b.json`, `${p}/blob.txt`];
  const tufEnv = { ...env, TUF_ROOT: `${p}/tuf` };

  // Without TUF trust (no initialize, a mirror that lists no trusted root key for us) it fails.
  const wrong = new TufRepo({ "trusted_root.json": new TextEncoder().encode("{}") });
  {
    await using other = serveTuf(wrong);
    await Deno.writeFile(`${p}/wrong-root.json`, wrong.initialRoot);
    const r = await cosign(verify, {
      env: {
        ...env,
        TUF_ROOT: `${p}/w`,
        TUF_MIRROR: other.url,
        TUF_ROOT_JSON: `${p}/wrong-root.json`,
      },
    });
    assert(r.code !== 0, "a foreign trusted root does not verify");
  }

  await using srv = serveTuf(repo);
  // A wrong --root-checksum: refused, nothing written.
  const bad = await cosign([
    "initialize",
    "--mirror",
    srv.url,
    "--root",
    `${p}/root.json`,
    "--root-checksum",
    "sha256:" + "0".repeat(64),
  ], { env: tufEnv });
  assertEquals(bad.code, 1, bad.stderr);
  assert(!(await exists(`${p}/tuf`)), "nothing written");

  const sum = createHash("sha256").update(repo.initialRoot).digest("hex");
  const init = await cosign([
    "initialize",
    "--mirror",
    srv.url,
    "--root",
    `${p}/root.json`,
    "--root-checksum",
    `sha256:${sum}`,
  ], { env: tufEnv });
  assertEquals(init.code, 0, init.stderr);
  assert(await exists(`${p}/tuf/remote.json`), "mirror recorded");

  const ok = await cosign(verify, { env: tufEnv });
  assertEquals(ok.code, 0, ok.stderr);

  // --trusted-root never asks the mirror.
  const n = srv.requests.length;
  const explicit = await cosign([
    ...verify.slice(0, 1),
    "--trusted-root",
    rekor.trustedRootPath,
    ...verify.slice(1),
  ], {
    env: tufEnv,
  });
  assertEquals(explicit.code, 0, explicit.stderr);
  assertEquals(srv.requests.length, n, "no request with --trusted-root");

  // Mirror stopped: the cache serves.
  await srv.stop();
  const cached = await cosign(verify, { env: tufEnv });
  assertEquals(cached.code, 0, cached.stderr);
});

Deno.test("tuf: 8 processes on an empty cache, and an uncreatable TUF_ROOT, all verify", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env });
  await Deno.writeTextFile(`${p}/blob.txt`, "hello\n");
  const signed = await cosign([
    "sign-blob",
    "--key",
    `${p}/k.key`,
    "-y",
    "--rekor-url",
    rekor.url,
    "--trusted-root",
    rekor.trustedRootPath,
    "--bundle",
    `${p}/b.json`,
    `${p}/blob.txt`,
  ], { env });
  assertEquals(signed.code, 0, signed.stderr);
  const repo = new TufRepo({ "trusted_root.json": await Deno.readFile(rekor.trustedRootPath) });
  await Deno.writeFile(`${p}/root.json`, repo.initialRoot);
  await using srv = serveTuf(repo);
  const verify = ["verify-blob", "--key", `${p}/k.pub`, "--bundle", `${p}/b.json`, `${p}/blob.txt`];
  const tufEnv = { ...env, TUF_MIRROR: srv.url, TUF_ROOT_JSON: `${p}/root.json` };
  const runs = await Promise.all(
    Array.from({ length: 8 }, () => cosign(verify, { env: { ...tufEnv, TUF_ROOT: `${p}/tuf` } })),
  );
  for (const r of runs) assertEquals(r.code, 0, r.stderr);
  const dir = `${p}/tuf/${encodeURIComponent(srv.url)}`;
  for (
    const f of [
      "root.json",
      "timestamp.json",
      "snapshot.json",
      "targets.json",
      "targets/trusted_root.json",
    ]
  ) {
    JSON.parse(await Deno.readTextFile(`${dir}/${f}`));
  }
  const leftovers = [...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp-"));
  assertEquals(leftovers.length, 0, "no temporary files left");

  const unwritable = await cosign(verify, { env: { ...tufEnv, TUF_ROOT: "/proc/no/such/dir" } });
  assertEquals(unwritable.code, 0, unwritable.stderr);
  assert(/Cannot write the TUF cache/.test(unwritable.stderr), unwritable.stderr);
});

Deno.test("tuf: initialize with no network fails in one line naming the default mirror", async () => {
  await using d = await tempDir();
  const r = await cosign(["initialize"], {
    env: {
      HOME: d.path,
      TUF_ROOT: `${d.path}/tuf`,
      HTTPS_PROXY: "http://127.0.0.1:9",
      https_proxy: "http://127.0.0.1:9",
      NO_PROXY: "registry.npmjs.org",
      no_proxy: "registry.npmjs.org",
    },
  });
  assertEquals(r.code, 1, r.stderr);
  assert(r.stderr.includes("https://tuf-repo-cdn.sigstore.dev"), r.stderr);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert(!(await exists(`${d.path}/tuf`)), "nothing written");
});

Deno.test("tuf: initialize --root with a file that is not JSON names the file, writes nothing", async () => {
  await using d = await tempDir();
  await Deno.writeFile(`${d.path}/root.json`, crypto.getRandomValues(new Uint8Array(4096)));
  const r = await cosign(["initialize", "--root", `${d.path}/root.json`], {
    env: { HOME: d.path, TUF_ROOT: `${d.path}/tuf` },
  });
  assertFails(r, 1, /TUF root .*root\.json is not JSON/);
  let written = true;
  try {
    await Deno.stat(`${d.path}/tuf`);
  } catch {
    written = false;
  }
  assertEquals(written, false, "nothing written");
});
