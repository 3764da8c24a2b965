import { assert, assertEquals, FIXTURES, tempDir } from "../../tests/helpers.ts";
import { createHash, sign } from "node:crypto";
import { inDays, inSeconds, serveTuf, signMetadata, TufRepo } from "../../tests/harness/tuf.ts";
import { CosignError } from "../errors.ts";
import { signingConfigFromTuf, trustedRootFromTuf, tufMirrorCacheDir, updateTuf } from "./tuf.ts";

const TRUSTED_ROOT = await Deno.readFile(`${FIXTURES}bundles/trusted_root_pgi.json`);
const SIGNING_CONFIG = new TextEncoder().encode('{"mediaType":"x"}');

function newRepo(): TufRepo {
  return new TufRepo({
    "trusted_root.json": TRUSTED_ROOT,
    "signing_config.v0.2.json": SIGNING_CONFIG,
  });
}

async function snapshotDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${rel}${e.name}/`);
      else out[rel + e.name] = (await Deno.readFile(`${d}/${e.name}`)).toHex();
    }
  };
  await walk(dir, "");
  return out;
}

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof CosignError, `not a CosignError: ${e}`);
    assert(pattern.test(e.message), `"${e.message}" does not match ${pattern}`);
    return;
  }
  throw new Error("accepted");
}

Deno.test("tuf: fetches and caches the targets; a warm cache makes no request", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot };
  const root = await trustedRootFromTuf(opts);
  assert(root.tlogs.length > 0, "tlogs parsed");
  assert(
    srv.requests.includes(
      `targets/${(await crypto.subtle.digest("SHA-256", TRUSTED_ROOT)).byteLength && ""}`,
    ) || srv.requests.some((r) => /^targets\/[0-9a-f]{64}\.trusted_root\.json$/.test(r)),
    "consistent target path",
  );
  assert(
    srv.requests.includes("1.snapshot.json") && srv.requests.includes("1.targets.json"),
    srv.requests.join(),
  );
  const cfg = await signingConfigFromTuf(opts);
  assertEquals(new TextDecoder().decode(cfg), '{"mediaType":"x"}');
  const n = srv.requests.length;
  await trustedRootFromTuf(opts);
  assertEquals(srv.requests.length, n, "warm cache: no request");
  await srv.stop();
  await trustedRootFromTuf({ ...opts, offline: true });
  await trustedRootFromTuf(opts);
});

Deno.test("tuf: root rotation with threshold 2 is followed; below threshold is refused, cache unchanged", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot, refresh: true };
  await updateTuf(["trusted_root.json"], opts);
  repo.rotateRoot();
  repo.publishTargets();
  await updateTuf(["trusted_root.json"], opts);
  const cache = tufMirrorCacheDir(d.path, srv.url);
  assertEquals(JSON.parse(await Deno.readTextFile(`${cache}/root.json`)).signed.version, 2);
  // Version 3 signed by only one of the (version 2) root keys.
  const before = await snapshotDir(d.path);
  const oneOld = [repo.rootKeys[0]!];
  repo.rootKeys = [repo.rootKeys[0]!, repo.rootKeys[1]!, repo.rootKeys[2]!];
  repo.publishRoot(oneOld);
  await refused(updateTuf(["trusted_root.json"], opts), /TUF mirror .*root/i);
  assertEquals(await snapshotDir(d.path), before, "cache unchanged");
});

Deno.test("tuf: refused with the cache unchanged: bad target bytes, expired timestamp, rollback, mix-and-match", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot, refresh: true };
  repo.publishTargets();
  await updateTuf(["trusted_root.json"], opts);
  const before = await snapshotDir(d.path);
  const keep = new Map(repo.files);
  const versions = [repo.targetsVersion, repo.snapshotVersion, repo.timestampVersion] as const;
  const reset = () => {
    repo.files = new Map(keep);
    [repo.targetsVersion, repo.snapshotVersion, repo.timestampVersion] = versions;
  };
  const cases: [string, () => void, RegExp][] = [
    ["target hash", () => {
      repo.targets["trusted_root.json"] = new TextEncoder().encode('{"changed":1}');
      repo.publishTargets({ targetBytes: { "trusted_root.json": TRUSTED_ROOT } });
      repo.targets["trusted_root.json"] = TRUSTED_ROOT;
    }, /TUF mirror/],
    ["expired timestamp", () => repo.publishTimestamp(inDays(-1)), /expired/i],
    ["snapshot rollback", () => {
      repo.publishTargets({ snapshotVersion: 1 });
    }, /TUF mirror/],
    ["mix-and-match targets", () => {
      // A targets file signed by only one of the two targets keys (below threshold).
      repo.publishTargets();
      const t = JSON.parse(
        new TextDecoder().decode(repo.files.get(`${repo.targetsVersion}.targets.json`)!),
      );
      repo.files.set(
        `${repo.targetsVersion}.targets.json`,
        signMetadata("targets", t.signed, [repo.targetsKeys[0]!]),
      );
    }, /TUF mirror/],
  ];
  for (const [label, make, pattern] of cases) {
    reset();
    make();
    try {
      await refused(updateTuf(["trusted_root.json"], opts), pattern);
    } catch (e) {
      throw new Error(`${label}: ${(e as Error).message}`);
    }
    assertEquals(await snapshotDir(d.path), before, `${label}: cache unchanged`);
  }
});

Deno.test("tuf: bad metadata is refused naming the mirror", async () => {
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const fresh = () => ({ mirror: srv.url, root: repo.initialRoot });
  const keep = new Map(repo.files);
  const cases: [string, () => void][] = [
    ["not JSON", () => repo.files.set("timestamp.json", new TextEncoder().encode("{nope"))],
    ["wrong _type", () => {
      const t = JSON.parse(new TextDecoder().decode(keep.get("timestamp.json")!));
      t.signed._type = "snapshot";
      repo.files.set("timestamp.json", new TextEncoder().encode(JSON.stringify(t)));
    }],
    ["huge length", () => repo.files.set("timestamp.json", new Uint8Array(64 * 1024).fill(32))],
    ["root with no keys", () =>
      repo.publishRoot(repo.rootKeys, (s) => {
        s.keys = {};
      })],
  ];
  for (const [label, make] of cases) {
    repo.files = new Map(keep);
    repo.rootVersion = 1;
    make();
    try {
      await refused(updateTuf(["trusted_root.json"], fresh()), new RegExp(`TUF mirror ${srv.url}`));
    } catch (e) {
      throw new Error(`${label}: ${(e as Error).message}`);
    }
  }
  await refused(updateTuf(["../trusted_root.json"], fresh()), /Invalid TUF target name/);
});

Deno.test("tuf: an uncreatable cache still verifies from memory, with a warning", async () => {
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const warnings: string[] = [];
  const root = await trustedRootFromTuf({
    mirror: srv.url,
    cacheDir: "/proc/no-such/dir",
    root: repo.initialRoot,
    onWarning: (m) => warnings.push(m),
  });
  assert(root.tlogs.length > 0, "parsed");
  assert(warnings.length === 1 && /Cannot write the TUF cache/.test(warnings[0]!), warnings.join());
});

const dec = new TextDecoder();
const enc = new TextEncoder();

Deno.test("tuf: a signature over a non-canonical serialisation is refused, cache unchanged", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot, refresh: true };
  await updateTuf(["trusted_root.json"], opts);
  const before = await snapshotDir(d.path);
  repo.publishTimestamp();
  const good = repo.files.get("timestamp.json")!;
  const md = JSON.parse(dec.decode(good));
  // The same role body, signed by the right key, but over an indented (non-canonical) form.
  const sig = sign(
    null,
    enc.encode(JSON.stringify(md.signed, null, 2)),
    repo.timestampKey.privateKey,
  );
  md.signatures = [{ keyid: repo.timestampKey.id, sig: sig.toString("hex") }];
  repo.files.set("timestamp.json", enc.encode(JSON.stringify(md)));
  await refused(updateTuf(["trusted_root.json"], opts), new RegExp(`TUF mirror ${srv.url}`));
  assertEquals(await snapshotDir(d.path), before, "cache unchanged");
  // Control: the same body signed over its canonical form is accepted.
  repo.files.set("timestamp.json", good);
  await updateTuf(["trusted_root.json"], opts);
  assertEquals(
    JSON.parse(await Deno.readTextFile(`${tufMirrorCacheDir(d.path, srv.url)}/timestamp.json`))
      .signed.version,
    md.signed.version,
  );
});

Deno.test("tuf: a huge target length is refused before any target is downloaded", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  repo.publishTargets({ targetLengths: { "trusted_root.json": 2 ** 40 } });
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot };
  await refused(
    updateTuf(["trusted_root.json"], opts),
    new RegExp(`trusted_root.json at ${srv.url} claims ${2 ** 40} bytes`),
  );
  assertEquals(srv.requests.filter((r) => r.startsWith("targets/")), [], "nothing downloaded");
  assertEquals(
    await snapshotDir(tufMirrorCacheDir(d.path, srv.url)),
    {},
    "nothing cached",
  );
});

Deno.test("tuf: mix-and-match targets (another version, another repository, other bytes) refused, cache unchanged", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot, refresh: true };
  await updateTuf(["trusted_root.json"], opts);
  const before = await snapshotDir(d.path);
  const keep = new Map(repo.files);
  const versions = [repo.targetsVersion, repo.snapshotVersion, repo.timestampVersion] as const;
  const reset = () => {
    repo.files = new Map(keep);
    [repo.targetsVersion, repo.snapshotVersion, repo.timestampVersion] = versions;
  };
  const other = newRepo();
  other.publishTargets();
  // A validly signed targets.json for the same version as the snapshot names, listing other
  // bytes for trusted_root.json.
  const forged = () => {
    const t = JSON.parse(dec.decode(repo.files.get(`${repo.targetsVersion}.targets.json`)!));
    const evil = enc.encode('{"mediaType":"evil"}');
    t.signed.targets["trusted_root.json"] = {
      length: evil.length,
      hashes: { sha256: new Uint8Array(createHash("sha256").update(evil).digest()).toHex() },
    };
    repo.files.set(
      `targets/${
        new Uint8Array(createHash("sha256").update(evil).digest()).toHex()
      }.trusted_root.json`,
      evil,
    );
    repo.files.set(
      `${repo.targetsVersion}.targets.json`,
      signMetadata("targets", t.signed, repo.targetsKeys),
    );
  };
  const cases: [string, () => void, RegExp][] = [
    ["an older targets version than the snapshot names", () => {
      repo.publishTargets();
      repo.files.set(`${repo.targetsVersion}.targets.json`, keep.get("1.targets.json")!);
    }, /does not match snapshot version/],
    ["the same version from another repository", () => {
      repo.publishTargets();
      repo.files.set(`2.targets.json`, other.files.get("2.targets.json")!);
    }, /TUF mirror .*signed by 0\/2 keys/],
    ["other targets bytes than the snapshot's hash", () => {
      repo.publishTargets({ snapshotHashes: true });
      forged();
    }, /TUF mirror .*(hash|length)/i],
  ];
  for (const [label, make, pattern] of cases) {
    reset();
    make();
    try {
      await refused(updateTuf(["trusted_root.json"], opts), pattern);
    } catch (e) {
      throw new Error(`${label}: ${(e as Error).message}`);
    }
    assertEquals(await snapshotDir(d.path), before, `${label}: cache unchanged`);
  }
  // Control: without the snapshot's hash, the same forged targets.json (right version, right
  // keys) is indistinguishable and accepted — the refusal above comes from the hash check.
  reset();
  repo.publishTargets();
  forged();
  const got = await updateTuf(["trusted_root.json"], opts);
  assertEquals(dec.decode(got.get("trusted_root.json")), '{"mediaType":"evil"}');
});

Deno.test("tuf: mirror stopped after initialize: the cache serves until its timestamp expires, then the error names the mirror", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  repo.publishTimestamp(inSeconds(4));
  const expires = Date.parse(
    JSON.parse(dec.decode(repo.files.get("timestamp.json")!)).signed.expires,
  );
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot };
  await trustedRootFromTuf(opts);
  await srv.stop();
  const root = await trustedRootFromTuf(opts);
  assert(root.tlogs.length > 0, "served from the cache");
  await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now()) + 1100));
  try {
    await trustedRootFromTuf(opts);
    throw new Error("accepted after the cached timestamp expired");
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    assertEquals(e.code, "TUF_UNAVAILABLE", e.message);
    assert(e.message.includes(srv.url), e.message);
  }
  await refused(trustedRootFromTuf({ ...opts, offline: true }), /expired/);
});

Deno.test("tuf: the warm path serves only a consistent cache; a cached target that changed is fetched again", async () => {
  await using d = await tempDir();
  const repo = newRepo();
  await using srv = serveTuf(repo);
  const opts = { mirror: srv.url, cacheDir: d.path, root: repo.initialRoot };
  await trustedRootFromTuf(opts);
  const cache = tufMirrorCacheDir(d.path, srv.url);
  const n = srv.requests.length;
  // Warm: nothing fetched.
  await trustedRootFromTuf(opts);
  assertEquals(srv.requests.length, n, "warm cache: no request");
  // A cached target whose bytes no longer match targets.json is not served from the cache.
  const path = `${cache}/targets/trusted_root.json`;
  const good = await Deno.readFile(path);
  const bad = good.slice();
  bad[bad.length - 2]! ^= 1;
  await Deno.writeFile(path, bad);
  const root = await trustedRootFromTuf(opts);
  assert(root.tlogs.length > 0, "the verified target was used");
  assert(srv.requests.length > n, "the target was fetched again");
  assertEquals((await Deno.readFile(path)).toHex(), good.toHex(), "and the cache repaired");
  // A cached snapshot that does not chain to the cached timestamp is not served either.
  const m = srv.requests.length;
  const snap = JSON.parse(await Deno.readTextFile(`${cache}/snapshot.json`));
  snap.signed.version += 1;
  await Deno.writeTextFile(`${cache}/snapshot.json`, JSON.stringify(snap));
  await trustedRootFromTuf(opts).catch(() => {});
  assert(srv.requests.length > m, "an inconsistent cache goes through the full update");
});
