/**
 * Sigstore trust material from a TUF repository: the `trusted_root.json` and
 * `signing_config.v0.2.json` targets, fetched and verified by `npm:tuf-js` (the TUF client
 * sigstore-js uses) from a mirror (default {@link DEFAULT_TUF_MIRROR}), starting from an
 * embedded root.
 *
 * The cache (`cacheDir`, the CLI's `TUF_ROOT`, default `~/.sigstore/root` as sigstore-go's
 * `DefaultOptions` and so cosign v3) holds one folder per mirror, named by the mirror URL
 * percent-encoded (as sigstore-go and sigstore-python name theirs), with the TUF metadata
 * (`root.json`, `timestamp.json`, `snapshot.json`, `targets.json`) and `targets/`.
 *
 * - While the cached timestamp is unexpired the cache is used as it is: no request is made.
 * - tuf-js works in a private scratch folder seeded from the cache; only when every role and
 *   target has verified are the files copied into the cache, each written to a temporary file
 *   and renamed, under a per-user lock. A refused update leaves the cache as it was.
 * - A cache that cannot be created or written is reported through `onWarning`, and the
 *   verified material is still returned from memory.
 *
 * The public-good root in `seeds.json` is the `root.json` that `npm:@sigstore/tuf@5.0.1`
 * ships in its `seeds.json` (Sigstore's canonical TUF root, version 16), kept as data.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";
// lib/cosign/lock.ts is a leaf (it imports only node:crypto and lib/errors.ts): the one
// import from above lib/trust, kept so that the TUF cache and signing share one lock scheme.
import { acquireLock } from "../cosign/lock.ts";
import { parseTrustedRoot, type TrustedRoot } from "./trusted_root.ts";
import seeds from "./seeds.json" with { type: "json" };

/** Sigstore's public-good TUF mirror. */
export const DEFAULT_TUF_MIRROR = "https://tuf-repo-cdn.sigstore.dev";
/** Sigstore's staging TUF mirror. */
export const STAGING_TUF_MIRROR = "https://tuf-repo-cdn.sigstage.dev";
/** The trusted-root target. */
export const TRUSTED_ROOT_TARGET = "trusted_root.json";
/** The signing-config target. */
export const SIGNING_CONFIG_TARGET = "signing_config.v0.2.json";

const METADATA = ["root", "timestamp", "snapshot", "targets"] as const;
/** Caps on metadata sizes (tuf-js checks them while streaming). */
const LIMITS = {
  rootMaxLength: 512 * 1024,
  timestampMaxLength: 16 * 1024,
  snapshotMaxLength: 2 * 1024 * 1024,
  targetsMaxLength: 5 * 1024 * 1024,
};
/** The largest target this client will download, whatever the metadata says. */
const TARGET_MAX_LENGTH = 16 * 1024 * 1024;

/** Options of {@link trustedRootFromTuf}, {@link signingConfigFromTuf} and {@link updateTuf}. */
export interface TufOptions {
  /** The repository: an `http(s)://` URL or `file:///DIR`. Default {@link DEFAULT_TUF_MIRROR}. */
  mirror?: string | undefined;
  /**
   * The cache folder (the CLI passes `TUF_ROOT`, default `~/.sigstore/root`). Omitted: nothing
   * is kept between calls.
   */
  cacheDir?: string | undefined;
  /** The `fetch` used for http(s) mirrors. Default `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /**
   * The trusted TUF `root.json` to start from when the cache has none for this mirror (the
   * embedded public-good root is the default for {@link DEFAULT_TUF_MIRROR}).
   */
  root?: Uint8Array | undefined;
  /** Start from `root` even when the cache holds a root (what `cosign initialize --root` does). */
  replaceRoot?: boolean | undefined;
  /** Use the cache only: never make a request. */
  offline?: boolean | undefined;
  /** Always ask the mirror for a newer timestamp, even while the cached one is unexpired. */
  refresh?: boolean | undefined;
  /** Where warnings go (e.g. an unwritable cache). Default: dropped. */
  onWarning?: ((message: string) => void) | undefined;
}

/** The bytes of TUF targets, by name; a target the repository does not list is absent. */
export type TufTargets = Map<string, Uint8Array<ArrayBuffer>>;

function normaliseMirror(mirror: string): string {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new CosignError("USAGE", `Invalid TUF mirror "${mirror}": not a URL`);
  }
  if (!["http:", "https:", "file:"].includes(url.protocol)) {
    throw new CosignError("USAGE", `Invalid TUF mirror "${mirror}": use http(s):// or file://`);
  }
  return mirror.replace(/\/+$/, "");
}

/** The embedded TUF root for a known mirror, or undefined. */
export function embeddedTufRoot(mirror: string): Uint8Array<ArrayBuffer> | undefined {
  const seed = (seeds as Record<string, { "root.json": string }>)[normaliseMirror(mirror)];
  return seed ? Uint8Array.fromBase64(seed["root.json"]) : undefined;
}

/** The cache folder of one mirror inside `cacheDir`. */
export function tufMirrorCacheDir(cacheDir: string, mirror: string): string {
  return `${cacheDir}/${encodeURIComponent(normaliseMirror(mirror))}`;
}

type Deps = typeof import("./deps.ts");

/** tuf-js, loaded on first use only: importing this module (or mod.ts) runs none of it. */
let depsLoading: Promise<Deps> | undefined;
function loadDeps(): Promise<Deps> {
  return depsLoading ??= import("./deps.ts");
}

/** The fetcher tuf-js calls: counts requests, honours offline, names the mirror in errors. */
interface MirrorFetcher {
  requests: number;
}

function mirrorFetcher(
  deps: Deps,
  doFetch: typeof fetch,
  offline: boolean,
  mirror: string,
): InstanceType<Deps["BaseFetcher"]> & MirrorFetcher {
  const { BaseFetcher, DownloadHTTPError } = deps;
  class Fetcher extends BaseFetcher implements MirrorFetcher {
    requests = 0;

    override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
      if (offline) {
        throw new CosignError(
          "TUF_UNAVAILABLE",
          `The cached TUF metadata for ${mirror} is missing or expired, and --offline ` +
            `forbids fetching ${url}`,
        );
      }
      this.requests++;
      if (url.startsWith("file:")) {
        try {
          const file = await Deno.open(new URL(url));
          return file.readable as ReadableStream<Uint8Array<ArrayBuffer>>;
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) {
            throw new DownloadHTTPError(`${url}: not found`, 404);
          }
          throw e;
        }
      }
      let res: Response;
      try {
        res = await doFetch(url, { redirect: "follow" });
      } catch (e) {
        throw new CosignError(
          "TUF_UNAVAILABLE",
          `Cannot reach the TUF mirror ${mirror}: ${
            describe(e)
          }; pass --trusted-root FILE to verify without TUF (with --key, --insecure-ignore-tlog skips the log)`,
          { cause: e },
        );
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new DownloadHTTPError(`GET ${url}: HTTP ${res.status}`, res.status);
      }
      return res.body as ReadableStream<Uint8Array<ArrayBuffer>>;
    }
  }
  return new Fetcher();
}

/**
 * The targets from a warm cache without loading tuf-js (which takes longer to import than the
 * rest of a verification): the cached `timestamp`, `snapshot`, `targets` and `root` must all be
 * unexpired, chained by version (timestamp → snapshot → targets), and each target's bytes must
 * match the length and hashes `targets.json` records. Anything else (missing, expired,
 * inconsistent, a target not cached) returns undefined and the full TUF update runs.
 *
 * The signatures of the cached metadata are not checked again here. Every file in the cache
 * was written only after tuf-js verified it (see {@link commitToCache}), and the cache is
 * trusted local state anyway: its `root.json` is the root the full update starts from, so
 * whoever can write the cache can already choose the keys. Expiry (freeze attacks) is checked.
 */
async function fromWarmCache(
  cache: string,
  names: readonly string[],
  now: Date,
): Promise<TufTargets | undefined> {
  const signed = async (role: string): Promise<Record<string, unknown> | undefined> => {
    const bytes = await readIfExists(`${cache}/${role}.json`);
    if (!bytes) return undefined;
    try {
      const s = JSON.parse(new TextDecoder().decode(bytes))?.signed;
      if (typeof s !== "object" || s === null) return undefined;
      const expires = Date.parse(String(s.expires));
      return Number.isFinite(expires) && expires > now.getTime() ? s : undefined;
    } catch {
      return undefined;
    }
  };
  const [root, timestamp, snapshot, targets] = await Promise.all(METADATA.map(signed));
  if (!root || !timestamp || !snapshot || !targets) return undefined;
  const version = (meta: unknown, name: string) =>
    (meta as Record<string, { version?: unknown }> | undefined)?.[name]?.version;
  if (version(timestamp.meta, "snapshot.json") !== snapshot.version) return undefined;
  if (version(snapshot.meta, "targets.json") !== targets.version) return undefined;
  const out: TufTargets = new Map();
  const listed = targets.targets as Record<string, { length?: unknown; hashes?: unknown }>;
  for (const n of names) {
    const info = listed?.[n];
    if (!info) continue;
    const bytes = await readIfExists(`${cache}/targets/${n}`);
    if (!bytes || bytes.length !== info.length) return undefined;
    const hashes = (info.hashes ?? {}) as Record<string, unknown>;
    const known = Object.entries(hashes).filter(([alg]) => alg === "sha256" || alg === "sha512");
    if (known.length === 0) return undefined;
    for (const [alg, hex] of known) {
      if (createHash(alg).update(bytes).digest("hex") !== hex) return undefined;
    }
    out.set(n, bytes);
  }
  return out;
}

async function readIfExists(path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    return await Deno.readFile(path);
  } catch {
    return undefined;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Writes `files` (relative path to bytes) into `dir`, each via a temporary file and rename. */
async function commitToCache(dir: string, files: [string, Uint8Array][]): Promise<void> {
  await Deno.mkdir(`${dir}/targets`, { recursive: true, mode: 0o755 });
  await using _lock = await acquireLock(`tuf cache ${dir}`);
  for (const [name, bytes] of files) {
    const path = `${dir}/${name}`;
    if (sameBytes(await readIfExists(path), bytes)) continue;
    const tmp = `${path}.tmp-${crypto.randomUUID()}`;
    try {
      await Deno.writeFile(tmp, bytes, { mode: 0o644 });
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }
}

function describe(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  // deno-lint-ignore no-control-regex
  return m.replace(/[\x00-\x1f\x7f]/g, " ");
}

/**
 * Brings the TUF metadata for `options.mirror` up to date (lazily: the cache is used as it is
 * while its timestamp is unexpired, unless `refresh`) and returns the verified bytes of the
 * named targets.
 * @throws {CosignError} `TUF_UNAVAILABLE` when the mirror cannot be reached and the cache
 * cannot serve; `TUF_INVALID` when the repository's metadata or a target is refused
 * @example
 * ```ts
 * import { updateTuf } from "@cosign-deno/cosign";
 * const targets = await updateTuf(["trusted_root.json"], { cacheDir: "/tmp/tuf" });
 * const rootJson = targets.get("trusted_root.json");
 * ```
 */
export async function updateTuf(
  names: readonly string[],
  options: TufOptions = {},
): Promise<TufTargets> {
  const mirror = normaliseMirror(options.mirror ?? DEFAULT_TUF_MIRROR);
  const cache = options.cacheDir ? tufMirrorCacheDir(options.cacheDir, mirror) : undefined;
  const warn = options.onWarning ?? (() => {});
  for (const n of names) {
    if (n.includes("/") || n.includes("\\") || n === "." || n === "..") {
      throw new CosignError("USAGE", `Invalid TUF target name "${n}"`);
    }
  }
  if (cache && !options.refresh && !options.replaceRoot) {
    const warm = await fromWarmCache(cache, names, new Date());
    if (warm) return warm;
  }
  let scratch: string;
  try {
    scratch = await Deno.makeTempDir({ prefix: "cosign-tuf-" });
  } catch (e) {
    throw new CosignError(
      "TUF_UNAVAILABLE",
      `Cannot update trust from the TUF mirror ${mirror}: no temporary folder can be written ` +
        `(${
          describe(e)
        }); pass --trusted-root FILE to verify without TUF (with --key, --insecure-ignore-tlog skips the log)`,
      { cause: e },
    );
  }
  try {
    await Deno.mkdir(`${scratch}/targets`);
    const cachedRoot = cache && !options.replaceRoot
      ? await readIfExists(`${cache}/root.json`)
      : undefined;
    const root = cachedRoot ?? options.root ?? embeddedTufRoot(mirror);
    if (root === undefined) {
      throw new CosignError(
        "TUF_INVALID",
        `No trusted TUF root for ${mirror}: run cosign initialize --mirror ${mirror} --root FILE`,
      );
    }
    await Deno.writeFile(`${scratch}/root.json`, root);
    // tuf-js's forceCache skips the root update when no timestamp is cached: use it only
    // when there is one.
    let cachedTimestamp = false;
    if (cachedRoot !== undefined && cache) {
      for (const role of METADATA.slice(1)) {
        const b = await readIfExists(`${cache}/${role}.json`);
        if (b) await Deno.writeFile(`${scratch}/${role}.json`, b);
        if (b && role === "timestamp") cachedTimestamp = true;
      }
      for (const n of names) {
        const b = await readIfExists(`${cache}/targets/${n}`);
        if (b) await Deno.writeFile(`${scratch}/targets/${n}`, b);
      }
    }
    const deps = await loadDeps();
    const { Updater, DownloadHTTPError } = deps;
    const fetcher = mirrorFetcher(
      deps,
      options.fetch ?? globalThis.fetch,
      options.offline ?? false,
      mirror,
    );
    const out: TufTargets = new Map();
    try {
      const updater = new Updater({
        metadataDir: scratch,
        metadataBaseUrl: mirror,
        targetDir: `${scratch}/targets`,
        targetBaseUrl: `${mirror}/targets`,
        fetcher,
        forceCache: cachedTimestamp && !options.refresh,
        config: { ...LIMITS, fetchRetries: 0 },
      });
      await updater.refresh();
      for (const n of names) {
        const info = await updater.getTargetInfo(n);
        if (!info) continue;
        if (info.length > TARGET_MAX_LENGTH) {
          throw new CosignError(
            "TUF_INVALID",
            `TUF target ${n} at ${mirror} claims ${info.length} bytes, more than the ` +
              `${TARGET_MAX_LENGTH} allowed`,
          );
        }
        const path = `${scratch}/targets/${n}`;
        if (!(await updater.findCachedTarget(info, path))) {
          await updater.downloadTarget(info, path);
        }
        out.set(n, await Deno.readFile(path));
      }
    } catch (e) {
      if (e instanceof CosignError) throw e;
      const unreachable = e instanceof DownloadHTTPError || (e as Error)?.name === "TypeError";
      throw new CosignError(
        unreachable ? "TUF_UNAVAILABLE" : "TUF_INVALID",
        `Cannot update trust from the TUF mirror ${mirror}: ${describe(e)}` +
          (unreachable
            ? "; pass --trusted-root FILE to verify without TUF (with --key, --insecure-ignore-tlog skips the log)"
            : ""),
        { cause: e },
      );
    }
    if (cache) {
      const files: [string, Uint8Array][] = [];
      for (const [n, b] of out) files.push([`targets/${n}`, b]);
      for (const role of [...METADATA].reverse()) {
        const b = await readIfExists(`${scratch}/${role}.json`);
        if (b) files.push([`${role}.json`, b]);
      }
      try {
        await commitToCache(cache, files);
      } catch (e) {
        if (e instanceof CosignError && e.code === "LOCK_TIMEOUT") throw e;
        warn(`Cannot write the TUF cache ${cache} (${describe(e)}); using the metadata in memory`);
      }
    }
    return out;
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

/**
 * The Sigstore trusted root (`trusted_root.json`) from a TUF repository, verified and parsed.
 * @throws {CosignError} as {@link updateTuf}, and `TUF_INVALID` when the repository has no
 * `trusted_root.json`
 * @example
 * ```ts
 * import { trustedRootFromTuf } from "@cosign-deno/cosign";
 * const root = await trustedRootFromTuf({ cacheDir: `${Deno.env.get("HOME")}/.sigstore/root` });
 * ```
 */
export async function trustedRootFromTuf(options: TufOptions = {}): Promise<TrustedRoot> {
  const bytes = (await updateTuf([TRUSTED_ROOT_TARGET], options)).get(TRUSTED_ROOT_TARGET);
  if (!bytes) {
    throw new CosignError(
      "TUF_INVALID",
      `The TUF repository ${
        normaliseMirror(options.mirror ?? DEFAULT_TUF_MIRROR)
      } has no ${TRUSTED_ROOT_TARGET} target`,
    );
  }
  return parseTrustedRoot(bytes);
}

/**
 * The raw bytes of `signing_config.v0.2.json` from a TUF repository, verified; `undefined` when
 * the repository does not list it.
 * @throws {CosignError} as {@link updateTuf}
 * @example
 * ```ts
 * import { parseSigningConfig, signingConfigFromTuf } from "@cosign-deno/cosign";
 * const bytes = await signingConfigFromTuf({ mirror: "https://tuf-repo-cdn.sigstore.dev" });
 * const config = bytes ? parseSigningConfig(bytes) : undefined;
 * ```
 */
export async function signingConfigFromTuf(
  options: TufOptions = {},
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  return (await updateTuf([SIGNING_CONFIG_TARGET], options)).get(SIGNING_CONFIG_TARGET);
}
