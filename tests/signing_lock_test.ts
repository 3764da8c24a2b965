/**
 * The signing lock against a second local user (issue 20.4). A second uid (65534, through
 * `setpriv`) plants symbolic links and holds locks where the old scheme kept the lock files
 * (`$TMPDIR/cosign-deno-locks`, world-writable) and tries to reach the new per-user folder; root
 * signs. `sign` must complete or fail cleanly within its bound, and root must never create a
 * file through a planted link. The timeout path uses a small bound (`COSIGN_LOCK_TIMEOUT`)
 * against a holder that never lets go, so nothing here depends on how fast the machine is.
 *
 * Each `sign` runs under a watchdog: a hang (the old scheme's endless wait) is killed and fails
 * the test instead of blocking the suite.
 * @module
 */

import { createHash } from "node:crypto";
import { pushImage, startRegistry } from "./harness/mod.ts";
import { tagExists } from "./harness/raw.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  ROOT,
  type RunResult,
  TEST_DENO_DIR,
} from "./helpers.ts";
import { attachmentRef } from "../lib/cosign/tags.ts";
import { parseReference } from "../lib/oci/reference.ts";

const PW = "lock-test-pw";
const NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"];
/** Only against hangs: a run still going after this is killed and the test fails. */
const WATCHDOG_MS = 180_000;

/** The lock file name both schemes derive from the `.sig` tag. */
function lockName(imageRef: string, digest: string): string {
  const sig = attachmentRef(parseReference(imageRef), digest, "sig");
  const key = `${sig.registry}/${sig.repository}:${sig.tag}`;
  return createHash("sha256").update(key).digest("hex").slice(0, 32) + ".lock";
}

/** Runs a shell script as uid/gid 65534; returns its exit code and stderr. */
async function asNobody(script: string): Promise<{ code: number; err: string }> {
  const r = await new Deno.Command("setpriv", {
    args: [...NOBODY, "sh", "-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, err: new TextDecoder().decode(r.stderr) };
}

/** A process holding an exclusive flock on `path` until {@link LockHolder.release}. */
interface LockHolder {
  release(): Promise<void>;
}

/** Starts `flock PATH` (as 65534 when `nobody`) and waits until it holds the lock. */
async function holdLock(path: string, nobody: boolean): Promise<LockHolder> {
  const argv = ["flock", "--exclusive", path, "sh", "-c", "echo locked; exec cat"];
  const child = new Deno.Command(nobody ? "setpriv" : argv[0]!, {
    args: nobody ? [...NOBODY, ...argv] : argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("locked")) {
    const { done, value } = await reader.read();
    if (done) {
      const err = new TextDecoder().decode((await child.output()).stderr);
      throw new Error(`flock ${path} did not take the lock: ${err}`);
    }
    seen += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    async release() {
      await child.stdin.close(); // cat ends, flock ends, the lock goes
      const s = await child.output();
      assert(s.success, `the lock holder exited with ${s.code}`);
    },
  };
}

/** `cosign sign` under the watchdog. */
async function sign(
  key: string,
  ref: string,
  env: Record<string, string>,
): Promise<RunResult & { killed: boolean }> {
  const all: Record<string, string> = { ...Deno.env.toObject() };
  for (const k of Object.keys(all)) {
    if (k.startsWith("COSIGN_") || k.startsWith("XDG_")) delete all[k];
  }
  const watchdog = new AbortController();
  const timer = setTimeout(() => watchdog.abort(), WATCHDOG_MS);
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--allow-all",
        "--config",
        ROOT + "deno.json",
        ROOT + "cli.ts",
        "cosign",
        "sign",
        "--new-bundle-format=false",
        "--key",
        key,
        "--tlog-upload=false",
        ref,
      ],
      env: { ...all, DENO_DIR: TEST_DENO_DIR, COSIGN_PASSWORD: PW, ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: watchdog.signal,
    }).output();
    return {
      code: r.code,
      stdout: r.stdout,
      out: new TextDecoder().decode(r.stdout),
      stderr: new TextDecoder().decode(r.stderr),
      killed: watchdog.signal.aborted,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A folder like /tmp: anyone may create entries, only owners may remove them. */
async function sharedTmp(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cosign-lock-shared-" });
  await Deno.chmod(dir, 0o1777);
  return dir;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("signing lock: a second user's links and held locks cannot hang sign or make root write a file", async () => {
  await using reg = await startRegistry();
  const shared = await sharedTmp(); // the old scheme's $TMPDIR
  const runtime = await sharedTmp(); // a runtime folder another user got into first
  const home = await Deno.makeTempDir({ prefix: "cosign-lock-home-" }); // root's, 0700
  const victim = await Deno.makeTempDir({ prefix: "cosign-lock-victim-" });
  await Deno.chmod(victim, 0o755); // root may write here, 65534 may not
  const holders: LockHolder[] = [];
  try {
    const gen = await cosign(["generate-key-pair", "--output-key-prefix", `${home}/k`], {
      env: { COSIGN_PASSWORD: PW, HOME: home },
    });
    assertEquals(gen.code, 0, gen.stderr);
    const key = `${home}/k.key`;
    const env = { HOME: home, TMPDIR: shared };
    const [planted, held, unsafeImg, slow] = await Promise.all(
      ["planted", "held", "unsafe", "slow"].map((n) => pushImage(reg, `test/lock-${n}:v1`)),
    );

    // The old scheme's folder, taken by 65534: a link to a file root would create, and a lock
    // 65534 holds on the name of another image's .sig tag.
    const old = `${shared}/cosign-deno-locks`;
    const plant = await asNobody(
      `mkdir -m 0777 '${old}' && ln -s '${victim}/pwned' '${old}/${
        lockName(planted!.ref, planted!.digest)
      }'`,
    );
    assertEquals(plant.code, 0, plant.err);
    holders.push(await holdLock(`${old}/${lockName(held!.ref, held!.digest)}`, true));

    const r1 = await sign(key, planted!.ref, env);
    assert(!r1.killed, "sign hung on the planted link");
    assertEquals(r1.code, 0, r1.stderr);
    assert(!(await exists(`${victim}/pwned`)), "root created a file through 65534's link");

    const r2 = await sign(key, held!.ref, env);
    assert(!r2.killed, "sign waited for ever on a lock another user holds");
    assertEquals(r2.code, 0, r2.stderr);
    for (const img of [planted!, held!]) {
      assert(
        await tagExists(reg, `${img.repo}:${img.digest.replace(":", "-")}.sig`),
        `the signature of ${img.ref} was stored`,
      );
    }

    // The new folder: private to root, so 65534 can plant nothing in it.
    const mine = `${home}/.cache/cosign-deno/locks`;
    const info = await Deno.lstat(mine);
    assert(info.isDirectory && (info.mode! & 0o777) === 0o700, `${mine} is 0700`);
    const reach = await asNobody(
      `ln -s '${victim}/pwned' '${mine}/x.lock' || touch '${mine}/y.lock' || ls '${mine}'`,
    );
    assert(reach.code !== 0, `65534 reached ${mine}`);

    // A runtime folder whose cosign-deno another user made first: refused, nothing written.
    const taken = `${runtime}/cosign-deno/locks`;
    const takeover = await asNobody(
      `mkdir -m 0777 -p '${taken}' && chmod 0777 '${runtime}/cosign-deno' && ln -s '${victim}/pwned2' '${taken}/${
        lockName(unsafeImg!.ref, unsafeImg!.digest)
      }'`,
    );
    assertEquals(takeover.code, 0, takeover.err);
    const r3 = await sign(key, unsafeImg!.ref, { ...env, XDG_RUNTIME_DIR: runtime });
    assert(!r3.killed, "sign hung on a taken runtime folder");
    assertFails(
      r3,
      1,
      new RegExp(
        `Refusing the signing lock folder ${runtime}/cosign-deno: it belongs to uid 65534`,
      ),
    );
    assert(!(await exists(`${victim}/pwned2`)), "root created a file through 65534's link");
    assert(
      !(await tagExists(
        reg,
        `${unsafeImg!.repo}:${unsafeImg!.digest.replace(":", "-")}.sig`,
      )),
      "no signature written after the refusal",
    );

    // A holder of root's own lock that never lets go: the bound ends the wait with a clear error.
    const holder = await holdLock(`${mine}/${lockName(slow!.ref, slow!.digest)}`, false);
    holders.push(holder);
    const r4 = await sign(key, slow!.ref, { ...env, COSIGN_LOCK_TIMEOUT: "1s" });
    assert(!r4.killed, "sign did not give up at its bound");
    assertFails(
      r4,
      1,
      /Gave up after 1s waiting for another local cosign process .*set COSIGN_LOCK_TIMEOUT/,
    );
    const sigTag = `${slow!.repo}:${slow!.digest.replace(":", "-")}.sig`;
    assert(!(await tagExists(reg, sigTag)), "no signature written after the timeout");
    holders.splice(holders.indexOf(holder), 1);
    await holder.release();
    const r5 = await sign(key, slow!.ref, { ...env, COSIGN_LOCK_TIMEOUT: "1s" });
    assertEquals(r5.code, 0, r5.stderr);
    assert(await tagExists(reg, sigTag), "signed once the lock was free");
  } finally {
    for (const h of holders) await h.release();
    for (const d of [shared, runtime, home, victim]) {
      await Deno.remove(d, { recursive: true }).catch(() => {});
    }
  }
});
