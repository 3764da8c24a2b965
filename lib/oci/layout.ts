/**
 * An OCI image layout on disk (image-spec `image-layout.md`) as an {@link ImageStore}, for
 * `cosign save`, `load` and offline verification: a directory holding `oci-layout`
 * (`{"imageLayoutVersion":"1.0.0"}`), `index.json` (an image index whose entries may carry the
 * tag in the `org.opencontainers.image.ref.name` annotation) and `blobs/sha256/<hex>` files
 * (manifests, configs and layers alike).
 *
 * A layout holds one logical repository: the `repo` arguments of the {@link ImageStore} methods
 * (and the registry and repository of references) are accepted and ignored.
 *
 * Every file is written atomically (a temporary file in the same directory, then a rename), and
 * every read is checked against its digest, so a corrupted file on disk is reported as
 * `DIGEST_MISMATCH` rather than used. A layout may be hostile: its files are opened without
 * following symbolic links or blocking on FIFOs, must be regular files, and are read no further
 * than their size (manifests and `index.json` no further than the manifest cap). Updates of `index.json` are serialised within one
 * {@link OciLayout} instance; two processes updating the same layout at once may lose an entry.
 * @module
 */

import { createHash } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { type FileHandle, open as openFile } from "node:fs/promises";
import { join } from "node:path";
import { LIMITS } from "./body.ts";
import { CosignError } from "../errors.ts";
import { sha256Digest, verifyingStream } from "./digest.ts";
import { identifier, isDigest, type Reference, type Repository } from "./reference.ts";
import {
  type Descriptor,
  type FetchBlobOptions,
  type Manifest,
  parseManifest,
} from "./registry.ts";
import type { ImageStore } from "./store.ts";

/** The index.json annotation that names an entry's tag. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
/** The only `imageLayoutVersion` this implementation reads and writes. */
export const LAYOUT_VERSION = "1.0.0";

const DEFAULT_MAX_MANIFEST = LIMITS.manifest;
/** Largest `oci-layout` file read (it holds `{"imageLayoutVersion":"1.0.0"}`). */
const MAX_LAYOUT_FILE = 64 << 10;
const CHUNK = 1 << 20;
const EMPTY_INDEX = '{"schemaVersion":2,"manifests":[]}';

/** An entry of `index.json`: a descriptor with its annotations (other fields are kept on disk). */
export interface IndexEntry extends Descriptor {
  /** Annotations, e.g. `org.opencontainers.image.ref.name` (the tag) or cosign's `kind`. */
  annotations?: Record<string, string>;
  /** The platform of an image entry, when given. */
  platform?: Record<string, unknown>;
  /** The artifact type, when given. */
  artifactType?: string;
}

/** Options for {@link OciLayout.open}. */
export interface OciLayoutOptions {
  /** Create the directory and an empty layout when there is none. Default false. */
  create?: boolean;
  /** Largest manifest read, bytes. Default 4 MiB (as the registry client). */
  maxManifestBytes?: number;
}

type RawIndex = Record<string, unknown> & { manifests: Record<string, unknown>[] };

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function readError(path: string, e: unknown, what = "cannot read it"): CosignError {
  if (e instanceof CosignError) return e;
  if (e instanceof Deno.errors.NotFound) {
    return new CosignError("FILE_NOT_FOUND", `${path} does not exist (${what})`, { cause: e });
  }
  return new CosignError("FILE_READ", `Cannot read ${path}: ${reason(e)}`, { cause: e });
}

function writeError(path: string, e: unknown): CosignError {
  if (e instanceof CosignError) return e;
  return new CosignError("FILE_WRITE", `Cannot write ${path}: ${reason(e)}`, { cause: e });
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The code of a Node-style file error (`ENOENT`, `ELOOP`, ...). */
function errno(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Opens a file of the layout for reading, as a hostile layout may be laid out: never through a
 * symbolic link (`O_NOFOLLOW`), never blocking on a FIFO (`O_NONBLOCK`), and only a regular
 * file (checked on the open descriptor, so it cannot be swapped after the check).
 * @throws {Deno.errors.NotFound} when there is no such file
 * @throws {CosignError} `FILE_READ` for a symbolic link, a FIFO, a device or a directory
 */
async function openRegular(path: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await openFile(
      path,
      fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK,
    );
  } catch (e) {
    const code = errno(e);
    if (code === "ENOENT") throw new Deno.errors.NotFound(`${path}: no such file`);
    if (code === "ELOOP" || code === "EMLINK") {
      throw new CosignError("FILE_READ", `Cannot read ${path}: it is a symbolic link; refusing it`);
    }
    throw readError(path, e);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new CosignError(
        "FILE_READ",
        `Cannot read ${path}: it is not a regular file (a FIFO, device or directory); refusing it`,
      );
    }
    return { handle, size: st.size };
  } catch (e) {
    await handle.close();
    throw readError(path, e);
  }
}

/**
 * Reads a small file of the layout whole, refusing it when it is over `max` bytes (from its
 * size, and again while reading, should it grow).
 * @throws {Deno.errors.NotFound} when there is no such file
 * @throws {CosignError} `MANIFEST_TOO_LARGE`, `FILE_READ`
 */
async function readRegularFile(path: string, max: number, what: string): Promise<Uint8Array> {
  const { handle, size } = await openRegular(path);
  try {
    const tooLarge = () =>
      new CosignError("MANIFEST_TOO_LARGE", `${what} is larger than ${max} bytes; refusing it`);
    if (size > max) throw tooLarge();
    const buf = new Uint8Array(size + 1);
    let at = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, at, buf.length - at, null);
      if (bytesRead === 0) break;
      at += bytesRead;
      if (at > size) throw tooLarge(); // the file grew while it was read
    }
    return buf.subarray(0, at);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw e;
    throw readError(path, e);
  } finally {
    await handle.close();
  }
}

/** Refuses a layout folder (`blobs`, `blobs/sha256`) that is a symbolic link or no folder. */
async function checkFolder(path: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return; // nothing to read from it
    throw readError(path, e);
  }
  if (!st.isDirectory) {
    throw new CosignError(
      "FILE_READ",
      `Cannot read ${path}: it is ${
        st.isSymlink ? "a symbolic link" : "not a folder"
      }; refusing it`,
    );
  }
}

/** The temporary files this process has open in layouts (removed by a signal handler). */
const LIVE_TEMPS = new Set<string>();

/**
 * A new file `.tmp-<pid>-<uuid>` in `dir`, created exclusively (mode 0644 less the umask). The
 * process id in the name tells a later run whether its writer is gone
 * ({@link removeStaleTemporaries}).
 */
async function createTemp(dir: string): Promise<{ path: string; file: Deno.FsFile }> {
  const path = join(dir, `.tmp-${Deno.pid}-${crypto.randomUUID()}`);
  LIVE_TEMPS.add(path);
  try {
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
    return { path, file };
  } catch (e) {
    LIVE_TEMPS.delete(path);
    throw e;
  }
}

async function removeQuietly(path: string): Promise<void> {
  LIVE_TEMPS.delete(path);
  try {
    await Deno.remove(path);
  } catch { /* already gone */ }
}

/**
 * Removes, synchronously, the temporary files this process is writing in any layout: for a
 * SIGINT or SIGTERM handler, so that an interrupted `save` leaves no partial blob behind.
 */
export function discardTemporaryFilesSync(): void {
  for (const path of LIVE_TEMPS) {
    try {
      Deno.removeSync(path);
    } catch { /* already gone */ }
  }
  LIVE_TEMPS.clear();
}

/** How old a temporary file whose writer cannot be looked up must be to count as abandoned. */
const STALE_AFTER_MS = 60 * 60 * 1000;

/** True when the process `pid` runs (`undefined` when that cannot be told here). */
function processAlive(pid: number): boolean | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? false : undefined;
  }
}

/**
 * Removes the temporary files an earlier, interrupted writer left in the layout `dir` (its top
 * and `blobs/sha256/`): those whose writer process is gone, or, where that cannot be told (no
 * process id in the name, no `/proc`), those untouched for an hour. A writer still running
 * keeps its files.
 */
export async function removeStaleTemporaries(dir: string): Promise<void> {
  for (const folder of [dir, join(dir, "blobs", "sha256")]) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(folder));
    } catch {
      continue; // none yet
    }
    for (const e of entries) {
      if (!e.isFile || !e.name.startsWith(".tmp-")) continue;
      const path = join(folder, e.name);
      if (LIVE_TEMPS.has(path)) continue;
      const pid = /^\.tmp-(\d+)-/.exec(e.name)?.[1];
      let alive = pid === undefined ? undefined : Number(pid) === Deno.pid ? true : processAlive(
        Number(pid),
      );
      if (alive === undefined) {
        const mtime = (await Deno.lstat(path).catch(() => undefined))?.mtime?.getTime();
        alive = mtime === undefined || Date.now() - mtime < STALE_AFTER_MS;
      }
      if (!alive) await Deno.remove(path).catch(() => {});
    }
  }
}

/** Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename. */
async function atomicWrite(path: string, bytes: Uint8Array): Promise<void> {
  const dir = join(path, "..");
  let tmp: { path: string; file: Deno.FsFile } | undefined;
  try {
    tmp = await createTemp(dir);
    try {
      await writeAll(tmp.file, bytes);
      await tmp.file.syncData();
    } finally {
      tmp.file.close();
    }
    await Deno.rename(tmp.path, path);
    LIVE_TEMPS.delete(tmp.path);
  } catch (e) {
    if (tmp) await removeQuietly(tmp.path);
    throw writeError(path, e);
  }
}

function refName(entry: Record<string, unknown>): string | undefined {
  const a = entry.annotations;
  if (typeof a !== "object" || a === null) return undefined;
  const v = (a as Record<string, unknown>)[REF_NAME_ANNOTATION];
  return typeof v === "string" ? v : undefined;
}

/** Validates an index.json entry; returns a typed copy. */
function toEntry(raw: unknown, where: string): IndexEntry {
  const bad = (why: string) => new CosignError("MANIFEST_INVALID", `${where} ${why}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad("is not an object");
  const r = raw as Record<string, unknown>;
  if (typeof r.mediaType !== "string") throw bad("has no mediaType");
  if (typeof r.digest !== "string" || !isDigest(r.digest)) {
    throw bad(`has an invalid digest ${JSON.stringify(r.digest)} (want sha256:<64 hex>)`);
  }
  if (typeof r.size !== "number" || !Number.isSafeInteger(r.size) || r.size < 0) {
    throw bad("has an invalid size");
  }
  const entry: IndexEntry = { mediaType: r.mediaType, digest: r.digest, size: r.size };
  if (r.annotations !== undefined) {
    const a = r.annotations;
    if (typeof a !== "object" || a === null || Array.isArray(a)) {
      throw bad("has annotations that are not an object");
    }
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(a)) {
      if (typeof v !== "string") throw bad(`has a non-string annotation "${k}"`);
      annotations[k] = v;
    }
    entry.annotations = annotations;
  }
  if (typeof r.platform === "object" && r.platform !== null && !Array.isArray(r.platform)) {
    entry.platform = structuredClone(r.platform as Record<string, unknown>);
  }
  if (typeof r.artifactType === "string") entry.artifactType = r.artifactType;
  return entry;
}

/**
 * An OCI image layout directory.
 * @example
 * ```ts
 * import { OciLayout } from "./layout.ts";
 * const layout = await OciLayout.open("out", { create: true });
 * const repo = { registry: "", repository: "" }; // ignored by a layout
 * const config = await layout.uploadBlob(repo, new TextEncoder().encode("{}"));
 * ```
 */
export class OciLayout implements ImageStore {
  /** The layout directory. */
  readonly dir: string;
  readonly #maxManifest: number;
  #indexLock: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, maxManifest: number) {
    this.dir = dir;
    this.#maxManifest = maxManifest;
  }

  /**
   * Opens the layout in `dir`, checking its `oci-layout` file and `index.json`; with `create`,
   * makes the directory (and parents) and an empty layout when `dir` holds none, and removes
   * the temporary files an interrupted writer left ({@link removeStaleTemporaries}).
   * @throws {CosignError} `FILE_NOT_FOUND` (no layout there), `FILE_READ`, `FILE_WRITE`,
   *   `MANIFEST_INVALID` (an unknown layout version, or `index.json` not an image index)
   */
  static async open(dir: string, options: OciLayoutOptions = {}): Promise<OciLayout> {
    const layoutFile = join(dir, "oci-layout");
    const indexFile = join(dir, "index.json");
    let text: string | undefined;
    try {
      text = new TextDecoder().decode(
        await readRegularFile(layoutFile, MAX_LAYOUT_FILE, layoutFile),
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) || !options.create) {
        throw readError(layoutFile, e, `${dir} is not an OCI image layout`);
      }
    }
    if (text === undefined) {
      try {
        await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
        if (!(await exists(indexFile))) {
          await atomicWrite(indexFile, new TextEncoder().encode(EMPTY_INDEX));
        }
        // Last, so that a half-made layout is never taken for a whole one.
        await atomicWrite(
          layoutFile,
          new TextEncoder().encode(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })),
        );
      } catch (e) {
        throw writeError(dir, e);
      }
    } else {
      let version: unknown;
      try {
        version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch {
        throw new CosignError("MANIFEST_INVALID", `${layoutFile} is not JSON`);
      }
      if (version !== LAYOUT_VERSION) {
        throw new CosignError(
          "MANIFEST_INVALID",
          `${layoutFile} has imageLayoutVersion ${
            JSON.stringify(version)
          }; only "${LAYOUT_VERSION}" is supported`,
        );
      }
      if (options.create && !(await exists(indexFile).catch(() => true))) {
        await atomicWrite(indexFile, new TextEncoder().encode(EMPTY_INDEX));
      }
    }
    await checkFolder(join(dir, "blobs"));
    await checkFolder(join(dir, "blobs", "sha256"));
    const layout = new OciLayout(dir, options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST);
    await layout.#readIndex();
    // A writer cleans up after an earlier one that was interrupted (a reader leaves it be).
    if (options.create) await removeStaleTemporaries(dir);
    return layout;
  }

  /**
   * The file of blob `digest` (which need not exist), e.g. to upload it to a registry with
   * `RegistryClient.uploadBlobFile` (the registry checks the digest).
   * @throws {CosignError} `REF_INVALID` when `digest` is not `sha256:<64 lowercase hex>`
   */
  blobPath(digest: string): string {
    if (typeof digest !== "string" || !isDigest(digest)) {
      throw new CosignError(
        "REF_INVALID",
        `Invalid digest ${JSON.stringify(digest)}: want sha256:<64 lowercase hex>`,
      );
    }
    return join(this.dir, "blobs", "sha256", digest.slice("sha256:".length));
  }

  get #indexFile(): string {
    return join(this.dir, "index.json");
  }

  async #readIndex(): Promise<RawIndex> {
    const path = this.#indexFile;
    let text: string;
    try {
      text = new TextDecoder().decode(await readRegularFile(path, this.#maxManifest, path));
    } catch (e) {
      throw readError(path, e, `${this.dir} is not an OCI image layout`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CosignError("MANIFEST_INVALID", `${path} is not JSON`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new CosignError("MANIFEST_INVALID", `${path} is not a JSON object`);
    }
    const obj = json as Record<string, unknown>;
    if (obj.manifests === undefined || obj.manifests === null) obj.manifests = [];
    if (!Array.isArray(obj.manifests)) {
      throw new CosignError("MANIFEST_INVALID", `${path}: "manifests" is not an array`);
    }
    obj.manifests.forEach((m, i) => toEntry(m, `${path}: manifests[${i}]`));
    return obj as RawIndex;
  }

  /** Runs `fn` on index.json's entries and writes the result, one update at a time. */
  #updateIndex(fn: (manifests: Record<string, unknown>[]) => void): Promise<void> {
    const run = this.#indexLock.then(async () => {
      const index = await this.#readIndex();
      const before = JSON.stringify(index);
      fn(index.manifests);
      const after = JSON.stringify(index);
      if (after !== before) await atomicWrite(this.#indexFile, new TextEncoder().encode(after));
    });
    this.#indexLock = run.catch(() => {});
    return run;
  }

  /**
   * The entries of `index.json`, in file order.
   * @throws {CosignError} `FILE_READ`, `MANIFEST_INVALID`
   */
  async index(): Promise<IndexEntry[]> {
    const index = await this.#readIndex();
    return index.manifests.map((m, i) => toEntry(m, `${this.#indexFile}: manifests[${i}]`));
  }

  /**
   * Reads a manifest or index: by digest, its blob; by tag (`latest` when the reference has
   * neither), the blob of the last `index.json` entry whose ref.name annotation is the tag.
   * The bytes are checked against the digest (and the entry's size).
   * @throws {CosignError} `MANIFEST_UNKNOWN`, `MANIFEST_TOO_LARGE`, `MANIFEST_INVALID`,
   *   `DIGEST_MISMATCH`, `REF_INVALID` (a malformed digest), `FILE_READ`
   */
  async getManifest(ref: Reference): Promise<Manifest> {
    const entries = await this.index();
    let digest: string;
    let entry: IndexEntry | undefined;
    let name: string;
    if (ref.digest !== undefined) {
      digest = ref.digest;
      this.blobPath(digest);
      entry = entries.find((e) => e.digest === digest);
      name = `${digest} in OCI layout ${this.dir}`;
    } else {
      const tag = identifier(ref);
      entry = entries.findLast((e) => e.annotations?.[REF_NAME_ANNOTATION] === tag);
      name = `tag "${tag}" in OCI layout ${this.dir}`;
      if (!entry) throw new CosignError("MANIFEST_UNKNOWN", `Image ${name} not found`);
      digest = entry.digest;
    }
    const path = this.blobPath(digest);
    let bytes: Uint8Array;
    try {
      bytes = await readRegularFile(path, this.#maxManifest, `Manifest ${name}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new CosignError(
          "MANIFEST_UNKNOWN",
          ref.digest !== undefined
            ? `Image ${name} not found`
            : `Image ${name} not found: index.json names ${digest}, but its blob is missing`,
        );
      }
      throw readError(path, e);
    }
    const got = sha256Digest(bytes);
    if (got !== digest) {
      throw new CosignError(
        "DIGEST_MISMATCH",
        `Manifest ${name} is corrupt: ${path} has digest ${got}`,
      );
    }
    if (ref.digest === undefined && entry && entry.size !== bytes.length) {
      throw new CosignError(
        "DIGEST_MISMATCH",
        `Manifest ${name} is ${bytes.length} bytes, but index.json says ${entry.size}`,
      );
    }
    return parseManifest(bytes, digest, entry?.mediaType ?? null, name);
  }

  /**
   * Stores a manifest as a blob and records it in `index.json`. With a tag (a reference
   * without a digest), the entry replaces any with the same ref.name annotation; by digest, an
   * entry without a ref.name is added unless one with that digest exists. `annotations` are
   * merged into the entry's (by digest: into the existing untagged entry of that digest, or a
   * new one is added for them), e.g. cosign's `kind`.
   * @returns the manifest's digest
   * @throws {CosignError} `DIGEST_MISMATCH` (the reference's digest is not the bytes'),
   *   `REF_INVALID` (an empty tag), `FILE_WRITE`
   */
  async putManifest(
    ref: Reference,
    bytes: Uint8Array,
    mediaType: string,
    annotations: Record<string, string> = {},
  ): Promise<string> {
    const digest = sha256Digest(bytes);
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw new CosignError(
        "DIGEST_MISMATCH",
        `Manifest for ${ref.digest} has digest ${digest}; not storing it`,
      );
    }
    const tag = ref.digest === undefined ? identifier(ref) : undefined;
    if (tag === "") {
      throw new CosignError("REF_INVALID", "Cannot store a manifest under an empty tag");
    }
    await this.#writeBlob(digest, bytes);
    const size = bytes.length;
    const extra = Object.keys(annotations).length > 0;
    await this.#updateIndex((list) => {
      if (tag !== undefined) {
        const entry = {
          mediaType,
          digest,
          size,
          annotations: { ...annotations, [REF_NAME_ANNOTATION]: tag },
        };
        const i = list.findIndex((e) => refName(e) === tag);
        if (i < 0) {
          list.push(entry);
          return;
        }
        list[i] = entry;
        for (let j = list.length - 1; j > i; j--) {
          if (refName(list[j]!) === tag) list.splice(j, 1);
        }
        return;
      }
      const untagged = list.find((e) => e.digest === digest && refName(e) === undefined);
      if (untagged) {
        if (extra) {
          untagged.annotations = {
            ...(untagged.annotations as Record<string, string> | undefined),
            ...annotations,
          };
        }
      } else if (extra || !list.some((e) => e.digest === digest)) {
        list.push({
          mediaType,
          digest,
          size,
          ...(extra ? { annotations: { ...annotations } } : {}),
        });
      }
    });
    return digest;
  }

  /** Writes a blob unless it is present (blobs are content-addressed). */
  async #writeBlob(digest: string, bytes: Uint8Array): Promise<void> {
    const path = this.blobPath(digest);
    try {
      if (await exists(path)) return;
      await Deno.mkdir(join(path, ".."), { recursive: true });
    } catch (e) {
      throw writeError(path, e);
    }
    await atomicWrite(path, bytes);
  }

  /**
   * True when the blob file is present (its content is checked when it is read).
   * @throws {CosignError} `REF_INVALID` (a malformed digest)
   */
  async blobExists(_repo: Repository, digest: string): Promise<boolean> {
    const path = this.blobPath(digest);
    try {
      return (await Deno.lstat(path)).isFile; // a link is no blob (reads refuse it too)
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw readError(path, e);
    }
  }

  /**
   * Stores an in-memory blob.
   * @returns its descriptor (`mediaType` is the caller's to set; here `application/octet-stream`)
   */
  async uploadBlob(_repo: Repository, data: Uint8Array): Promise<Descriptor> {
    const digest = sha256Digest(data);
    await this.#writeBlob(digest, data);
    return { mediaType: "application/octet-stream", digest, size: data.length };
  }

  /**
   * Stores a file as a blob in constant memory: copied to a temporary file in `blobs/sha256/`
   * while hashed, then renamed to its digest.
   * @throws {CosignError} `FILE_NOT_FOUND`, `FILE_READ`, `FILE_WRITE`
   */
  async uploadBlobFile(_repo: Repository, path: string): Promise<Descriptor> {
    let src: Deno.FsFile;
    try {
      src = await Deno.open(path);
    } catch (e) {
      throw readError(path, e);
    }
    try {
      return await this.#store(readChunks(src, path));
    } finally {
      src.close();
    }
  }

  /**
   * Stores a stream of known digest (e.g. a blob copied from a registry) in constant memory;
   * refuses it, leaving nothing behind, when the bytes do not match `expected`.
   * @throws {CosignError} `DIGEST_MISMATCH`, `FILE_WRITE`
   */
  async uploadBlobStream(
    _repo: Repository,
    stream: ReadableStream<Uint8Array>,
    expected: { digest: string; size?: number },
  ): Promise<Descriptor> {
    this.blobPath(expected.digest); // validates the digest before anything is written
    return await this.#store(stream, expected);
  }

  /** Writes chunks to a temporary blob while hashing, then renames it to its digest. */
  async #store(
    chunks: AsyncIterable<Uint8Array>,
    expected?: { digest: string; size?: number },
  ): Promise<Descriptor> {
    const blobsDir = join(this.dir, "blobs", "sha256");
    const hash = createHash("sha256");
    let size = 0;
    let tmp: { path: string; file: Deno.FsFile } | undefined;
    try {
      try {
        await Deno.mkdir(blobsDir, { recursive: true });
        tmp = await createTemp(blobsDir);
      } catch (e) {
        throw writeError(blobsDir, e);
      }
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.length;
        try {
          await writeAll(tmp.file, chunk);
        } catch (e) {
          throw writeError(tmp.path, e);
        }
      }
      try {
        await tmp.file.syncData();
      } catch (e) {
        throw writeError(tmp.path, e);
      }
    } catch (e) {
      tmp?.file.close();
      if (tmp) await removeQuietly(tmp.path);
      throw e;
    }
    tmp.file.close();
    const digest = "sha256:" + hash.digest("hex");
    if (
      expected &&
      (digest !== expected.digest || (expected.size !== undefined && size !== expected.size))
    ) {
      await removeQuietly(tmp.path);
      throw new CosignError(
        "DIGEST_MISMATCH",
        `Blob ${expected.digest}: received ${size} bytes with digest ${digest}; not stored`,
      );
    }
    const target = this.blobPath(digest);
    try {
      if (await exists(target)) await removeQuietly(tmp.path);
      else await Deno.rename(tmp.path, target);
      LIVE_TEMPS.delete(tmp.path);
    } catch (e) {
      await removeQuietly(tmp.path);
      throw writeError(target, e);
    }
    return { mediaType: "application/octet-stream", digest, size };
  }

  /**
   * Streams a blob from disk, verifying its digest (and size, when given) while reading: the
   * stream errors with `DIGEST_MISMATCH` at its end if the file does not match, so consumers
   * must wait for a clean end. The blob must be a regular file (no symbolic link, FIFO or
   * device), and no more than its size when opened is read.
   * @throws {CosignError} `BLOB_UNKNOWN`, `DIGEST_MISMATCH` (a size other than `size`),
   *   `BLOB_TOO_LARGE` (over `options.maxBytes`), `REF_INVALID` (a malformed digest),
   *   `FILE_READ` (unreadable, or not a regular file)
   */
  async fetchBlob(
    _repo: Repository,
    digest: string,
    size?: number,
    options: FetchBlobOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const path = this.blobPath(digest);
    const what = `Blob ${digest} in OCI layout ${this.dir}`;
    const max = options.maxBytes;
    let file: FileHandle;
    let actual: number;
    try {
      ({ handle: file, size: actual } = await openRegular(path));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new CosignError("BLOB_UNKNOWN", `Blob ${digest} not found in OCI layout ${this.dir}`);
      }
      throw readError(path, e);
    }
    if (size !== undefined && actual !== size) {
      await file.close();
      throw new CosignError("DIGEST_MISMATCH", `${what} is ${actual} bytes, expected ${size}`);
    }
    if (max !== undefined && actual > max) {
      await file.close();
      throw new CosignError(
        "BLOB_TOO_LARGE",
        `${what} is ${actual} bytes, over the ${max}-byte limit; refusing it`,
      );
    }
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await file.close();
      }
    };
    // At most the size the file had when opened is read (or the descriptor's, which equals
    // it): a file that grows is cut there, and its digest check then fails.
    let left = actual;
    const source = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (left <= 0) {
            await close();
            controller.close();
            return;
          }
          const buf = new Uint8Array(Math.min(CHUNK, left));
          const { bytesRead } = await file.read(buf, 0, buf.length, null);
          if (bytesRead === 0) {
            await close();
            controller.close();
            return;
          }
          left -= bytesRead;
          controller.enqueue(buf.subarray(0, bytesRead));
        } catch (e) {
          await close().catch(() => {});
          controller.error(readError(path, e));
        }
      },
      async cancel() {
        await close();
      },
    });
    return source.pipeThrough(verifyingStream(digest, what, size));
  }

  /** The tags (ref.name annotations) in `index.json`, each once, in file order. */
  async listTags(_repo?: Repository): Promise<string[]> {
    const tags = new Set<string>();
    for (const e of await this.index()) {
      const t = e.annotations?.[REF_NAME_ANNOTATION];
      if (t !== undefined) tags.add(t);
    }
    return [...tags];
  }
}

/** Reads a file as chunks of one reused buffer, with read errors naming the file. */
async function* readChunks(src: Deno.FsFile, path: string): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(CHUNK);
  for (;;) {
    let n: number | null;
    try {
      n = await src.read(buf);
    } catch (e) {
      throw readError(path, e);
    }
    if (n === null) return;
    yield buf.subarray(0, n);
  }
}
