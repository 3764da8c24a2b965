/**
 * Image references, parsed and normalised as go-containerregistry does (cosign-spec §13):
 * default registry `index.docker.io` (`docker.io` is rewritten to it), the first path
 * component is a registry only if it contains `.` or `:` or is `localhost`, Docker Hub
 * single-component repositories get `library/`, the default tag is `latest`, and
 * `repo@sha256:<hex>` names a digest.
 * @module
 */

import { CosignError } from "../errors.ts";
import { quote } from "../text/escape.ts";

/** The Docker Hub registry host. */
export const DOCKER_HUB = "index.docker.io";
const DEFAULT_TAG = "latest";

const REPO_RE = /^[a-z0-9_./-]{1,255}$/;
const REPO_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** A repository: a registry host and a path. */
export interface Repository {
  /** Registry host with optional port, e.g. `index.docker.io`, `localhost:5000`. */
  registry: string;
  /** Repository path, e.g. `library/busybox`. */
  repository: string;
}

/** A parsed reference: a repository with a tag, a digest, or both (the digest wins). */
export interface Reference extends Repository {
  /** The tag; `latest` when neither tag nor digest was given. */
  tag?: string;
  /** `sha256:<hex>` when given. */
  digest?: string;
}

/** A host name (253) with a port; longer is refused before any pattern runs on it. */
const MAX_HOST = 260;

/** `value` quoted and escaped (one line, no control characters), shortened when long. */
function q(value: string): string {
  return quote(value.length > 200 ? value.slice(0, 200) + "…" : value);
}

function invalid(ref: string, why: string): CosignError {
  return new CosignError("REF_INVALID", `Invalid image reference ${q(ref)}: ${why}`);
}

/** Validates a `sha256:<64 hex>` digest string. */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Splits `name` into registry and repository, applying Docker Hub defaults. */
function splitRepository(name: string, original: string): Repository {
  let registry = DOCKER_HUB;
  let repository = name;
  const slash = name.indexOf("/");
  if (slash > 0) {
    const first = name.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      registry = first;
      repository = name.slice(slash + 1);
    }
  }
  if (registry.length > MAX_HOST || !HOST_RE.test(registry)) {
    throw invalid(original, `bad registry host ${q(registry)}`);
  }
  if (registry === "docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (!REPO_RE.test(repository)) {
    throw invalid(
      original,
      /[A-Z]/.test(repository)
        ? "repository names must be lowercase"
        : "repository names use only a-z, 0-9, '_', '.', '-' and '/' (1-255 characters)",
    );
  }
  for (const part of repository.split("/")) {
    if (!REPO_COMPONENT_RE.test(part)) {
      throw invalid(original, `bad repository path component ${q(part)}`);
    }
  }
  return { registry, repository };
}

/**
 * Parses an image reference.
 * @example
 * ```ts
 * import { parseReference } from "./reference.ts";
 * parseReference("busybox"); // { registry: "index.docker.io", repository: "library/busybox", tag: "latest" }
 * ```
 * @throws {CosignError} `REF_INVALID` with the reason
 */
export function parseReference(ref: string): Reference {
  if (ref === "" || ref.trim() !== ref) throw invalid(ref, "empty or surrounded by spaces");
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw invalid(ref, `bad digest ${q(digest)} (want sha256:<64 hex>)`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(ref, `bad tag ${q(tag)}`);
  }
  if (rest === "") throw invalid(ref, "no repository");
  const repo = splitRepository(rest, ref);
  const out: Reference = { ...repo };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  else if (tag === undefined) out.tag = DEFAULT_TAG;
  return out;
}

/**
 * Parses a repository name (no tag or digest), e.g. for `COSIGN_REPOSITORY`.
 * @example
 * ```ts
 * import { parseRepository, repositoryName } from "@cosign-deno/cosign";
 * const repo = parseRepository("ghcr.io/org/signatures");
 * repositoryName(repo); // "ghcr.io/org/signatures"
 * ```
 */
export function parseRepository(name: string): Repository {
  if (name.includes("@")) throw invalid(name, "a repository takes no digest");
  const lastSlash = name.lastIndexOf("/");
  if (name.lastIndexOf(":") > lastSlash && lastSlash >= 0) {
    throw invalid(name, "a repository takes no tag");
  }
  return splitRepository(name, name);
}

/**
 * `registry/repository`, as ggcr's `Repository.Name()`.
 * @example
 * ```ts
 * import { parseReference, repositoryName } from "@cosign-deno/cosign";
 * repositoryName(parseReference("localhost:5000/app:v1")); // "localhost:5000/app"
 * ```
 */
export function repositoryName(r: Repository): string {
  return `${r.registry}/${r.repository}`;
}

/** The tag or digest a reference names (the digest when both are given). */
export function identifier(r: Reference): string {
  return r.digest ?? r.tag ?? DEFAULT_TAG;
}

/**
 * The reference as ggcr's `Name()` prints it: `registry/repo:tag` or `registry/repo@digest`.
 * @example
 * ```ts
 * import { parseReference, referenceName } from "@cosign-deno/cosign";
 * referenceName(parseReference("alpine")); // "index.docker.io/library/alpine:latest"
 * ```
 */
export function referenceName(r: Reference): string {
  return r.digest ? `${repositoryName(r)}@${r.digest}` : `${repositoryName(r)}:${r.tag}`;
}

/** A reference to `digest` in the same repository. */
export function withDigest(r: Repository, digest: string): Reference {
  return { registry: r.registry, repository: r.repository, digest };
}

/** A reference to `tag` in the same repository. */
export function withTag(r: Repository, tag: string): Reference {
  return { registry: r.registry, repository: r.repository, tag };
}

/**
 * True when the registry host is on this machine (`localhost`, `*.localhost`, `127.0.0.0/8`,
 * `::1`): the only hosts plain HTTP is used for without `--allow-http-registry`.
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[")
    ? registry.slice(1, registry.indexOf("]"))
    : registry.replace(/:\d+$/, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
