/**
 * `--platform os/arch[/variant][:osversion]`: picks one image out of a multi-platform index,
 * as cosign's `SignedEntityForPlatform` does (go-containerregistry's `ParsePlatform`, then
 * ko's `matchPlatform`: every part given must equal the entry's; a Windows `os.version` of
 * three dot-separated parts matches an entry's four-part version with that prefix). Entries
 * without a platform are never chosen; no match, or more than one, is an error.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { INDEXES } from "./media_types.ts";
import { type Reference, referenceName, withDigest } from "./reference.ts";
import type { Manifest } from "./registry.ts";
import type { ImageStore } from "./store.ts";

/** A platform as an index entry declares it (the parts `--platform` can name). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  osVersion?: string;
}

/**
 * Parses `os/arch[/variant][:osversion]`.
 * @throws {UsageError} an empty value, an empty OS, or more than three `/`-separated parts
 */
export function parsePlatform(spec: string): Platform {
  const trimmed = spec.trim();
  const [main = "", osVersion, extra] = trimmed.split(":");
  const parts = main.split("/");
  if (!parts[0] || extra !== undefined || parts.length > 3 || parts.some((p) => p === "")) {
    throw new UsageError(
      `invalid --platform "${spec}": expected os/arch[/variant][:osversion], e.g. linux/amd64`,
    );
  }
  return {
    os: parts[0],
    architecture: parts[1] ?? "",
    ...(parts[2] ? { variant: parts[2] } : {}),
    ...(osVersion ? { osVersion } : {}),
  };
}

/** `os/arch[/variant][:osversion]`. */
export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join("/") +
    (p.osVersion ? `:${p.osVersion}` : "");
}

/** One entry of an index, with the platform it declares. */
export interface PlatformEntry {
  digest: string;
  platform: Platform;
}

/** The entries of an index that declare a platform (with a digest). */
export function indexPlatforms(index: Manifest): PlatformEntry[] {
  const manifests = Array.isArray(index.json.manifests) ? index.json.manifests : [];
  const out: PlatformEntry[] = [];
  for (const m of manifests as unknown[]) {
    const e = (typeof m === "object" && m !== null ? m : {}) as Record<string, unknown>;
    const p = (typeof e.platform === "object" && e.platform !== null ? e.platform : undefined) as
      | Record<string, unknown>
      | undefined;
    if (!p || typeof e.digest !== "string") continue;
    const s = (v: unknown) => (typeof v === "string" ? v : "");
    out.push({
      digest: e.digest,
      platform: {
        os: s(p.os),
        architecture: s(p.architecture),
        ...(s(p.variant) ? { variant: s(p.variant) } : {}),
        ...(s(p["os.version"]) ? { osVersion: s(p["os.version"]) } : {}),
      },
    });
  }
  return out;
}

/** The entries `want` matches (ko's `matchPlatform`, as cosign uses it). */
export function matchPlatforms(want: Platform, entries: PlatformEntry[]): PlatformEntry[] {
  return entries.filter(({ platform: p }) => {
    if (want.os && want.os !== p.os) return false;
    if (want.architecture && want.architecture !== p.architecture) return false;
    if (want.variant && want.variant !== p.variant) return false;
    if (want.osVersion && want.osVersion !== p.osVersion) {
      if (want.os !== "windows") return false;
      const have = p.osVersion ?? "";
      const dots = (s: string) => s.split(".").length - 1;
      if (!(dots(want.osVersion) === 2 && dots(have) === 3)) return false;
      if (want.osVersion !== have.slice(0, have.lastIndexOf("."))) return false;
    }
    return true;
  });
}

/**
 * The entry of `index` for `spec`.
 * @throws {UsageError} a bad spec, or `index` not an index
 * @throws {CosignError} `IMAGE_NOT_FOUND` when no entry matches; `PLATFORM_AMBIGUOUS` when
 *   several do (the message lists them)
 */
export function selectPlatform(index: Manifest, spec: string, name: string): PlatformEntry {
  const want = parsePlatform(spec);
  if (!INDEXES.includes(index.mediaType)) {
    throw new UsageError(
      `--platform ${spec}: ${name} is a single image, not a multi-platform index`,
    );
  }
  const all = indexPlatforms(index);
  const found = matchPlatforms(want, all);
  const list = (es: PlatformEntry[]) => es.map((e) => platformString(e.platform)).join(", ");
  if (found.length === 0) {
    throw new CosignError(
      "IMAGE_NOT_FOUND",
      `${name} has no image for platform ${platformString(want)} (it has: ${
        list(all) || "no platform entries"
      })`,
    );
  }
  if (found.length > 1) {
    throw new CosignError(
      "PLATFORM_AMBIGUOUS",
      `--platform ${spec} matches more than one image of ${name}: ${
        list(found)
      }; name the variant too`,
    );
  }
  return found[0]!;
}

/**
 * With a platform: the image of `ref` (an index) for it, by digest, and its manifest. Without:
 * `ref` and its manifest as they are.
 */
export async function imageForPlatform(
  store: ImageStore,
  ref: Reference,
  spec: string | undefined,
  manifest?: Manifest,
): Promise<{ ref: Reference; manifest: Manifest }> {
  const top = manifest ?? await store.getManifest(ref);
  if (spec === undefined) return { ref, manifest: top };
  const entry = selectPlatform(top, spec, referenceName(ref));
  const child = withDigest(ref, entry.digest);
  return { ref: child, manifest: await store.getManifest(child) };
}
