/**
 * Terminal and file I/O for the CLI: whole writes to stdout/stderr, reading stdin, prompts
 * with and without echo, and atomic file writes (a temporary file in the same folder renamed
 * into place, so a failure never leaves a partial or truncated file).
 * @module
 */

import { CosignError } from "../errors.ts";
import { fileError } from "../cosign/keyref.ts";
import { escapeForTerminal } from "../text/escape.ts";

const enc = new TextEncoder();

/** Writes all of `data` to a writer. */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

type Writer = { write(p: Uint8Array): Promise<number> };
let out: Writer = Deno.stdout;

/** Writes text or bytes to stdout (or to the `--output-file` that replaced it). */
export function stdout(data: string | Uint8Array): Promise<void> {
  return writeAll(out, typeof data === "string" ? enc.encode(data) : data);
}

/** Sends what {@link stdout} writes to `w` instead (`--output-file`); `undefined` restores it. */
export function redirectStdout(w: Writer | undefined): void {
  out = w ?? Deno.stdout;
}

const NEWLINE = new Uint8Array([0x0a]);

/**
 * Writes bytes and a newline to stdout, without copying them (an envelope may be many MB: a
 * byte-by-byte spread into an array costs gigabytes).
 */
export async function stdoutLine(data: Uint8Array): Promise<void> {
  await writeAll(Deno.stdout, data);
  await writeAll(Deno.stdout, NEWLINE);
}

/**
 * Writes a line (or the program's own lines, joined by `\n`) to stderr. As a last line of
 * defence every other control character is escaped, so no server string that reached a message
 * can drive the terminal; a server string that may hold a newline is escaped where it is
 * inserted ({@link escapeForTerminal}).
 */
export function info(line: string): Promise<void> {
  return writeAll(Deno.stderr, enc.encode(escapeForTerminal(line, { keepNewlines: true }) + "\n"));
}

/** Reads all of stdin. */
export async function readAllStdin(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

/** True when stdin is an interactive terminal. */
export function stdinIsTerminal(): boolean {
  return Deno.stdin.isTerminal();
}

/**
 * Prompts on stderr and reads one line from the terminal. With `echo: false` the typed
 * characters are not shown (raw mode; backspace edits; Ctrl-C or Ctrl-D cancels).
 */
export async function promptLine(question: string, echo: boolean): Promise<string> {
  await writeAll(Deno.stderr, enc.encode(question));
  if (echo) {
    const bytes: number[] = [];
    const one = new Uint8Array(1);
    while ((await Deno.stdin.read(one)) === 1 && one[0] !== 0x0a) bytes.push(one[0]!);
    return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\r$/, "");
  }
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  try {
    // One byte per read: whatever was typed ahead stays for the next prompt.
    const one = new Uint8Array(1);
    while ((await Deno.stdin.read(one)) === 1) {
      const b = one[0]!;
      if (b === 0x0d || b === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
      if (b === 0x03 || b === 0x04) {
        throw new CosignError("USAGE", "Cancelled at the password prompt", { exitCode: 1 });
      }
      if (b === 0x7f || b === 0x08) bytes.pop();
      else bytes.push(b);
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    await writeAll(Deno.stderr, enc.encode("\n"));
  }
}

/** Asks a yes/no question on the terminal; only `y`/`yes` is yes. */
export async function confirm(question: string): Promise<boolean> {
  const answer = await promptLine(question, true);
  return /^(y|yes)$/i.test(answer.trim());
}

/** True when something exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw fileError(e, path, "file");
  }
}

/** A file staged in its destination folder, made visible by {@link commitFiles}. */
export interface StagedFile {
  path: string;
  temp: string;
}

/** Writes `data` to a temporary file beside `path` with `mode`; nothing is visible at `path` yet. */
export async function stageFile(
  path: string,
  data: string | Uint8Array,
  mode: number,
): Promise<StagedFile> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash + 1) : "";
  const temp = `${dir}.${path.slice(slash + 1)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const f = await Deno.open(temp, { write: true, createNew: true, mode });
    try {
      await writeAll(f, typeof data === "string" ? enc.encode(data) : data);
      await Deno.chmod(temp, mode); // the umask may have changed the create mode
    } finally {
      f.close();
    }
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw new CosignError("FILE_WRITE", `Cannot write ${path}: ${writeReason(e)}`);
  }
  return { path, temp };
}

function writeReason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  return (e as Error).message;
}

/** Renames staged files into place; on failure removes every temporary file left. */
export async function commitFiles(files: StagedFile[]): Promise<void> {
  try {
    for (const f of files) {
      if ((await Deno.stat(f.path).catch(() => null))?.isDirectory) {
        throw new CosignError("FILE_WRITE", `Cannot write ${f.path}: it is a directory`);
      }
      await Deno.rename(f.temp, f.path);
    }
  } catch (e) {
    await discardFiles(files);
    if (e instanceof CosignError) throw e;
    throw new CosignError("FILE_WRITE", `Cannot write files: ${writeReason(e)}`);
  }
}

/** Removes the temporary files of staged writes that will not be committed. */
export async function discardFiles(files: StagedFile[]): Promise<void> {
  await Promise.all(files.map((f) => Deno.remove(f.temp).catch(() => {})));
}

/** Atomically writes one file. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  await commitFiles([await stageFile(path, data, mode)]);
}

/**
 * Until disposed, SIGINT and SIGTERM run `cleanup` (synchronously) and end the process with
 * 130 or 143, as a shell reports them: for commands that write files in steps (`save`), so that
 * an interruption leaves no partial file behind.
 */
export function onInterrupt(cleanup: () => void): Disposable {
  const installed: [Deno.Signal, () => void][] = [];
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    const handler = () => {
      cleanup();
      Deno.exit(code);
    };
    try {
      Deno.addSignalListener(signal, handler);
      installed.push([signal, handler]);
    } catch { /* not on this platform (SIGTERM on Windows) */ }
  }
  return {
    [Symbol.dispose]() {
      for (const [signal, handler] of installed) Deno.removeSignalListener(signal, handler);
    },
  };
}
