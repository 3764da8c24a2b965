/**
 * An advisory lock shared by the processes of one machine, keyed by a string (e.g. the
 * registry, repository and tag of a `.sig` image), so that local signers take turns at the
 * read-modify-write of a signature image. Uses `flock` on a file in the temp directory.
 * @module
 */

import { createHash } from "node:crypto";

/** Holds the lock until disposed. */
export interface HeldLock extends AsyncDisposable {
  release(): void;
}

function lockDir(): string {
  const base = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${base}/cosign-deno-locks`;
}

/**
 * Waits for the lock named by `key`. Where locking is impossible (no writable temp folder),
 * returns a no-op lock: the settle-and-re-merge loop still protects the write.
 */
export async function acquireLock(key: string): Promise<HeldLock> {
  const name = createHash("sha256").update(key).digest("hex").slice(0, 32);
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(lockDir(), { recursive: true, mode: 0o1777 });
    file = await Deno.open(`${lockDir()}/${name}.lock`, { create: true, write: true, mode: 0o666 });
    await file.lock(true);
  } catch {
    const noop = { release() {}, [Symbol.asyncDispose]: () => Promise.resolve() };
    return noop;
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    try {
      file.unlockSync();
    } finally {
      file.close();
    }
  };
  return { release, [Symbol.asyncDispose]: () => Promise.resolve(release()) };
}
