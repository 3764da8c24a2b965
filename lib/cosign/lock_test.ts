import { CosignError } from "../errors.ts";
import { acquireLock, parseLockTimeout } from "./lock.ts";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CosignError) return e.code;
    throw e;
  }
  return "no error";
}

function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  if (actual !== expected) throw new Error(`${msg}: got ${actual}, expected ${expected}`);
}

Deno.test("lock: a second holder waits at most its bound, then LOCK_TIMEOUT; free again after release", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await acquireLock("registry/repo:tag", { dir, timeoutMs: 0 });
    assertEquals(
      await codeOf(acquireLock("registry/repo:tag", { dir, timeoutMs: 50 })),
      "LOCK_TIMEOUT",
    );
    const other = await acquireLock("registry/repo:other", { dir, timeoutMs: 0 });
    other.release();
    first.release();
    (await acquireLock("registry/repo:tag", { dir, timeoutMs: 0 })).release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lock: a lock file that is a link or not a regular file is refused, nothing created through it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await acquireLock("k", { dir, timeoutMs: 0 }).then((l) => l.release());
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name);
    await Deno.remove(`${dir}/${name}`);
    await Deno.symlink(`${dir}/target`, `${dir}/${name}`);
    assertEquals(await codeOf(acquireLock("k", { dir, timeoutMs: 0 })), "LOCK_UNSAFE");
    assertEquals(await Deno.lstat(`${dir}/target`).then(() => "created", () => "absent"), "absent");
    await Deno.remove(`${dir}/${name}`);
    await Deno.mkdir(`${dir}/${name}`);
    assertEquals(await codeOf(acquireLock("k", { dir, timeoutMs: 0 })), "LOCK_UNSAFE");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lock: COSIGN_LOCK_TIMEOUT forms", () => {
  assertEquals(parseLockTimeout("90"), 90_000);
  assertEquals(parseLockTimeout("1m30s"), 90_000);
  assertEquals(parseLockTimeout("500ms"), 500);
  assertEquals(parseLockTimeout("0"), 0);
  for (const bad of ["", "soon", "-1", "5x", "1s2"]) {
    let code = "none";
    try {
      parseLockTimeout(bad);
    } catch (e) {
      code = (e as CosignError).code;
    }
    assertEquals(code, "USAGE", bad);
  }
});
