/**
 * Checks of flag values by kind, run after parsing and before a command does any work: a URL
 * that is not one, a count or duration that is not a number, an input file that does not exist
 * or is a folder, an output file whose folder does not exist. Each is one line naming the flag
 * and the value (exit 2 for malformed values, 1 for paths), never an internal error after the
 * network work is done.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { parseByteSize } from "../oci/body.ts";
import type { CommandSpec, FlagCheck, FlagValues } from "./args.ts";
import { parseDuration } from "./deadline_flag.ts";

/** Why a stat failed, in a few words. */
function statReason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.NotADirectory) return "a part of the path is not a directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  return (e as Error).message;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** The folder a file at `path` goes into (`.` for a bare name). */
function parentOf(path: string): string {
  const slash = path.replace(/\/+$/, "").lastIndexOf("/");
  if (slash < 0) return ".";
  return path.slice(0, slash) || "/";
}

/** Checks that `path`'s folder exists, so a file can be created there. */
async function checkParent(path: string, flag: string): Promise<void> {
  const parent = parentOf(path);
  let info: Deno.FileInfo | undefined;
  try {
    info = await statOrUndefined(parent);
  } catch (e) {
    throw new CosignError("FILE_WRITE", `Cannot write ${path}: ${statReason(e)} (${flag})`);
  }
  if (!info) {
    throw new CosignError(
      "FILE_WRITE",
      `Cannot write ${path}: no such directory ${parent} (${flag})`,
    );
  }
  if (!info.isDirectory) {
    throw new CosignError(
      "FILE_WRITE",
      `Cannot write ${path}: ${parent} is not a directory (${flag})`,
    );
  }
}

/**
 * Checks one value.
 * @throws {UsageError} malformed URLs, counts, durations and sizes
 * @throws {CosignError} `FILE_NOT_FOUND`, `FILE_READ`, `FILE_WRITE` for unusable paths
 */
export async function checkFlagValue(check: FlagCheck, flag: string, value: string): Promise<void> {
  const name = `--${flag}`;
  switch (check) {
    case "url": {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch { /* below */ }
      if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || !url.host) {
        throw new UsageError(`invalid ${name} "${value}": not an http:// or https:// URL`);
      }
      return;
    }
    case "count":
      if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
        throw new UsageError(`invalid ${name} "${value}": not a positive whole number`);
      }
      return;
    case "duration":
      parseDuration(value, name);
      return;
    case "size":
      parseByteSize(value, name);
      return;
    case "file": {
      if (value === "-") return; // stdin, where the command reads it
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(value);
      } catch (e) {
        throw new CosignError(
          e instanceof Deno.errors.NotFound ? "FILE_NOT_FOUND" : "FILE_READ",
          `Cannot read ${value}: ${statReason(e)} (${name})`,
        );
      }
      if (info.isDirectory) {
        throw new CosignError("FILE_READ", `Cannot read ${value}: it is a directory (${name})`);
      }
      return;
    }
    case "out-file": {
      if (value === "-") return;
      let info: Deno.FileInfo | undefined;
      try {
        info = await statOrUndefined(value);
      } catch (e) {
        throw new CosignError("FILE_WRITE", `Cannot write ${value}: ${statReason(e)} (${name})`);
      }
      if (info?.isDirectory) {
        throw new CosignError("FILE_WRITE", `Cannot write ${value}: it is a directory (${name})`);
      }
      await checkParent(value, name);
      return;
    }
    case "key-prefix":
      await checkParent(`${value}.key`, name);
      return;
    case "dir": {
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(value);
      } catch (e) {
        const why = e instanceof Deno.errors.NotFound ? "no such directory" : statReason(e);
        throw new CosignError(
          e instanceof Deno.errors.NotFound ? "FILE_NOT_FOUND" : "FILE_READ",
          `Cannot read ${value}: ${why} (${name})`,
        );
      }
      if (!info.isDirectory) {
        throw new CosignError("FILE_READ", `Cannot read ${value}: it is not a directory (${name})`);
      }
      return;
    }
    case "out-dir": {
      let info: Deno.FileInfo | undefined;
      try {
        info = await statOrUndefined(value);
      } catch (e) {
        throw new CosignError("FILE_WRITE", `Cannot write ${value}: ${statReason(e)} (${name})`);
      }
      if (info && !info.isDirectory) {
        throw new CosignError(
          "FILE_WRITE",
          `Cannot write ${value}: it is not a directory (${name})`,
        );
      }
      return; // created with its parents by the command
    }
  }
}

const PATH_CHECKS: ReadonlySet<FlagCheck> = new Set([
  "file",
  "out-file",
  "key-prefix",
  "dir",
  "out-dir",
]);

/**
 * Checks every set flag of `spec` that has a {@link FlagCheck}; empty values count as unset. A
 * path flag given what looks like a document rather than a name (a line break, or over 1,024
 * characters) is left to its command, which says what it expected without echoing it.
 */
export async function checkFlagValues(spec: CommandSpec, flags: FlagValues): Promise<void> {
  for (const [name, f] of Object.entries(spec.flags)) {
    if (!f.check) continue;
    const v = flags[name];
    for (const value of Array.isArray(v) ? v : typeof v === "string" ? [v] : []) {
      if (value === "") continue;
      if (PATH_CHECKS.has(f.check) && (value.length > 1024 || value.includes("\n"))) continue;
      await checkFlagValue(f.check, name, value);
    }
  }
}
