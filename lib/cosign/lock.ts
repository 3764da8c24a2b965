/**
 * An advisory lock shared by one user's processes on one machine, keyed by a string (e.g. the
 * registry, repository and tag of a `.sig` image), so that local signers take turns at the
 * read-modify-write of a signature image. Uses `flock` on a file in a private folder of the
 * user's own, which no other user can enter:
 *
 * - the folder is `$XDG_RUNTIME_DIR/cosign-deno/locks` when that variable is set, else
 *   `$XDG_CACHE_HOME/cosign-deno/locks` (default `~/.cache/cosign-deno/locks`);
 * - it is created 0700, and before every use `cosign-deno` and `locks` must be real folders
 *   (not symbolic links) owned by this user and writable by nobody else (`locks` not even
 *   readable by others), and the folder above them must belong to this user or root and be
 *   writable by others only when sticky; anything else is refused with `LOCK_UNSAFE`;
 * - a lock file is created with `O_CREAT|O_EXCL` (which never follows a symbolic link) or, when
 *   it exists, must be a regular file of this user's, and the file opened must be the same
 *   inode as the one checked;
 * - the wait is bounded (`COSIGN_LOCK_TIMEOUT`, default 60 s) and ends in `LOCK_TIMEOUT`.
 *
 * The lock only makes local writers take turns; the re-read and re-merge in
 * `appendAttachments` is what keeps signatures from being lost, here and across machines.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";

/** Holds the lock until disposed. */
export interface HeldLock extends AsyncDisposable {
  release(): void;
}

/** Options for {@link acquireLock}. */
export interface LockOptions {
  /**
   * The longest wait for another holder, in milliseconds. Default: `COSIGN_LOCK_TIMEOUT`
   * (e.g. `90s`, `2m`, `500ms`, or a number of seconds), else 60 000.
   */
  timeoutMs?: number;
  /** The folder of lock files. Default: {@link lockDirectory}. */
  dir?: string;
}

/** The default bound on the wait for the lock, milliseconds. */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

const NO_LOCK: HeldLock = { release() {}, [Symbol.asyncDispose]: () => Promise.resolve() };

function env(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === "" ? undefined : v;
  } catch {
    return undefined; // no env permission: as if unset
  }
}

/**
 * The folders that may hold the lock files, best first: the runtime folder, then the cache
 * folder. Only absolute paths are used.
 */
function candidateBases(): string[] {
  const home = env("HOME");
  const cache = env("XDG_CACHE_HOME") ?? (home ? `${home}/.cache` : undefined);
  return [env("XDG_RUNTIME_DIR"), cache].filter((p): p is string =>
    p !== undefined && p.startsWith("/")
  );
}

function unsafe(path: string, reason: string): CosignError {
  return new CosignError(
    "LOCK_UNSAFE",
    `Refusing the signing lock folder ${path}: ${reason}`,
  );
}

function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8);
}

/** Checks one folder of the chain; `kind` says which rule applies. */
function checkFolder(
  path: string,
  info: Deno.FileInfo,
  uid: number,
  kind: "base" | "own" | "private",
): void {
  if (info.isSymlink) throw unsafe(path, "it is a symbolic link");
  if (!info.isDirectory) throw unsafe(path, "it is not a folder");
  const mode = info.mode ?? 0;
  const owner = info.uid;
  if (kind === "base") {
    if (owner !== uid && owner !== 0) {
      throw unsafe(path, `it belongs to uid ${owner}, not to this user (uid ${uid}) or root`);
    }
    if ((mode & 0o022) !== 0 && (mode & 0o1000) === 0) {
      throw unsafe(path, `others may write to it and it is not sticky (mode ${octal(mode)})`);
    }
    return;
  }
  if (owner !== uid) {
    throw unsafe(path, `it belongs to uid ${owner}, not to this user (uid ${uid})`);
  }
  const forbidden = kind === "private" ? 0o077 : 0o022;
  if ((mode & forbidden) !== 0) {
    throw unsafe(
      path,
      `it is open to other users (mode ${octal(mode)}; want ${
        kind === "private" ? "0700" : "no write for group or others"
      })`,
    );
  }
}

/**
 * Makes (if needed) and checks `BASE/cosign-deno/locks`; `undefined` when the base cannot be
 * used at all (missing, read-only), so the next candidate is tried.
 * @throws {CosignError} `LOCK_UNSAFE` when a folder exists but another user could reach it
 */
async function privateFolder(base: string, uid: number): Promise<string | undefined> {
  const parent = `${base}/cosign-deno`;
  const dir = `${parent}/locks`;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch {
    // Not creatable (read-only, or a folder in the way): the checks below say which.
  }
  const chain: [string, "base" | "own" | "private"][] = [
    [base, "base"],
    [parent, "own"],
    [dir, "private"],
  ];
  for (const [path, kind] of chain) {
    let info: Deno.FileInfo;
    try {
      // The user may point the base through a link; the folders below it are ours to make.
      info = kind === "base" ? await Deno.stat(path) : await Deno.lstat(path);
    } catch {
      return undefined; // missing and not creatable: try the next base
    }
    if (info.uid === null || info.mode === null) return undefined; // not a POSIX system
    checkFolder(path, info, uid, kind);
  }
  return dir;
}

/**
 * The folder of lock files for this user, made if needed and checked (see the module text);
 * `undefined` when there is none to use (no runtime or cache folder, no permission to learn
 * the user id, or not a POSIX system), in which case locking is skipped.
 * @throws {CosignError} `LOCK_UNSAFE` when the folder is reachable by another user
 */
export async function lockDirectory(): Promise<string | undefined> {
  let uid: number | null;
  try {
    uid = Deno.uid();
  } catch {
    return undefined; // no --allow-sys: cannot check ownership, so do not lock
  }
  if (uid === null) return undefined;
  for (const base of candidateBases()) {
    const dir = await privateFolder(base, uid);
    if (dir) return dir;
  }
  return undefined;
}

/**
 * Opens the lock file at `path` without ever creating a file through a symbolic link: a new file
 * is made with `O_CREAT|O_EXCL`; an existing one must be a regular file of this user's, and the
 * file opened must be the inode that was checked.
 */
async function openLockFile(path: string, uid: number): Promise<Deno.FsFile> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await Deno.open(path, { createNew: true, write: true, mode: 0o600 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    let before: Deno.FileInfo;
    try {
      before = await Deno.lstat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // removed meanwhile: create it again
      throw e;
    }
    if (before.isSymlink) throw unsafe(path, "the lock file is a symbolic link");
    if (!before.isFile) throw unsafe(path, "the lock file is not a regular file");
    if (before.uid !== uid) {
      throw unsafe(path, `the lock file belongs to uid ${before.uid}, not to this user`);
    }
    // flock needs no write access; opening read-only cannot change what it finds.
    const file = await Deno.open(path, { read: true });
    const after = await file.stat();
    if (after.ino !== before.ino || after.dev !== before.dev || !after.isFile) {
      file.close();
      throw unsafe(path, "the lock file was replaced while it was being opened");
    }
    return file;
  }
  throw unsafe(path, "the lock file keeps disappearing");
}

/**
 * Parses `COSIGN_LOCK_TIMEOUT`: `500ms`, `90s`, `2m`, `1m30s`, or a plain number of seconds.
 * @throws {CosignError} `USAGE` for anything else
 */
export function parseLockTimeout(text: string): number {
  const plain = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : undefined;
  if (plain !== undefined) return plain;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]!]!;
    matched = re.lastIndex;
  }
  if (text === "" || matched !== text.length) {
    throw new CosignError(
      "USAGE",
      `Invalid COSIGN_LOCK_TIMEOUT ${JSON.stringify(text)} (e.g. 90s, 2m, 500ms)`,
      { exitCode: 2 },
    );
  }
  return total;
}

function describe(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Waits, at most `timeoutMs`, for the lock named by `key`. Where locking is impossible (no
 * usable runtime or cache folder), returns a no-op lock: the settle-and-re-merge loop still
 * protects the write.
 * @throws {CosignError} `LOCK_TIMEOUT` when another holder keeps it past the bound;
 *   `LOCK_UNSAFE` when the folder or the lock file could be reached by another user
 */
export async function acquireLock(key: string, options: LockOptions = {}): Promise<HeldLock> {
  const fromEnv = env("COSIGN_LOCK_TIMEOUT");
  const timeoutMs = options.timeoutMs ??
    (fromEnv !== undefined && fromEnv !== "" ? parseLockTimeout(fromEnv) : DEFAULT_LOCK_TIMEOUT_MS);
  const dir = options.dir ?? await lockDirectory();
  if (dir === undefined) return NO_LOCK;
  const uid = Deno.uid()!;
  const name = createHash("sha256").update(key).digest("hex").slice(0, 32);
  const path = `${dir}/${name}.lock`;
  let file: Deno.FsFile;
  try {
    file = await openLockFile(path, uid);
  } catch (e) {
    if (e instanceof CosignError) throw e;
    return NO_LOCK; // e.g. the folder became read-only: the re-merge still protects the write
  }
  try {
    const deadline = performance.now() + timeoutMs;
    let pause = 20;
    while (!(await file.tryLock(true))) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new CosignError(
          "LOCK_TIMEOUT",
          `Gave up after ${
            describe(timeoutMs)
          } waiting for another local cosign process to finish writing ${key} ` +
            `(lock ${path}); set COSIGN_LOCK_TIMEOUT to wait longer`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(pause, left)));
      pause = Math.min(pause * 2, 500);
    }
  } catch (e) {
    file.close();
    throw e;
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
