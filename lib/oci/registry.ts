/**
 * The OCI registry client: every registry request goes through here. One instance per
 * process shares schemes, challenges, credentials and tokens per registry, so a tag is
 * resolved once and a token is exchanged once per scope set.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";
import { quote } from "../text/escape.ts";
import {
  basicHeader,
  type Challenge,
  parseChallenge,
  repositoryScope,
  TokenCache,
} from "./auth.ts";
import { cappedStream, LIMITS, readCapped, readResponseCapped, readTextPrefix } from "./body.ts";
import {
  checkDescriptorDigests,
  checkDigest,
  isValidDigest,
  sha256Digest,
  verifyingStream,
} from "./digest.ts";
import type { ImageStore } from "./store.ts";
import { trace } from "../trace.ts";
import { type Credentials, defaultKeychain, type Keychain } from "./keychain.ts";
import {
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  IMAGE_MANIFESTS,
  INDEXES,
  MANIFEST_ACCEPT,
  OCI_INDEX,
} from "./media_types.ts";
import {
  identifier,
  type Reference,
  referenceName,
  type Repository,
  repositoryName,
} from "./reference.ts";
import {
  type BodyFactory,
  isPlainHttpServer,
  pinScheme,
  redirectedOrigin,
  schemesFor,
  Transport,
  type TransportOptions,
} from "./transport.ts";

/** A content descriptor. */
export interface Descriptor {
  /** The media type of the content. */
  mediaType: string;
  /** The content digest (`sha256:<hex>`). */
  digest: string;
  /** The content size, bytes. */
  size: number;
}

/** A manifest or index as received: the exact bytes, their digest and media type. */
export interface Manifest {
  /** The manifest bytes exactly as received. */
  bytes: Uint8Array;
  /** The digest of `bytes` (`sha256:<hex>`). */
  digest: string;
  /** The manifest's media type. */
  mediaType: string;
  /** The parsed JSON. */
  json: Record<string, unknown>;
}

/**
 * What is remembered about a registry between processes: its scheme, nothing else. Auth
 * challenges are not remembered: credentials go only to a realm the registry named in this
 * process (a realm remembered from a run under other TLS trust, or from a server that has since
 * left the port, would otherwise receive them before the registry is asked).
 */
export interface KnownHost {
  /** The scheme the registry answered on. */
  scheme: "https" | "http";
}

/** Client options. */
export interface RegistryClientOptions extends TransportOptions {
  /**
   * Schemes learned by earlier processes (see {@link RegistryClient.knownHosts}): with them, a
   * loopback registry speaking plain HTTP is not probed over HTTPS first. Anything else in an
   * entry (auth challenges written by older versions) is ignored.
   */
  knownHosts?: Record<string, KnownHost>;
  /** Where credentials come from. Default: docker config, REGISTRY_AUTH_FILE, containers auth.json. */
  keychain?: Keychain;
  /** Upload chunk size for large blobs, bytes. Default 16 MiB. */
  chunkSize?: number;
  /** Largest manifest accepted, bytes. Default 4 MiB. */
  maxManifestBytes?: number;
}

interface HostState {
  scheme?: "https" | "http";
  /** The scheme came from an earlier process and has not been used yet. */
  remembered?: boolean;
  /** The challenge the registry sent from its own origin in this process. */
  challenge?: Challenge;
  tokens: TokenCache;
  creds: Map<string, Promise<Credentials | undefined>>;
}

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: BodyFactory;
  /** Statuses handled by the caller (not retried). */
  expect?: number[];
  /** Absolute URL (upload Locations); `path` is then ignored. */
  url?: string;
}

const DEFAULT_CHUNK = 16 << 20;
const DEFAULT_MAX_MANIFEST = LIMITS.manifest;

/**
 * Reads a registry error body (`{"errors":[{"code","message"}]}`) into a short phrase. Only the
 * first {@link LIMITS.errorBody} bytes are read; the rest is discarded unread.
 */
async function errorDetail(res: Response): Promise<string> {
  let text = "";
  try {
    text = await readTextPrefix(res, LIMITS.errorBody);
  } catch {
    return `HTTP ${res.status}`;
  }
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    if (e) return `HTTP ${res.status} ${e.code ?? ""}${e.message ? `: ${e.message}` : ""}`.trim();
  } catch { /* not JSON, or cut at the cap */ }
  const line = text.trim().split("\n")[0]?.slice(0, 120);
  return line ? `HTTP ${res.status}: ${line}` : `HTTP ${res.status}`;
}

/**
 * The registry client.
 * @example
 * ```ts
 * import { parseReference, RegistryClient } from "@cosign-deno/cosign";
 * const client = new RegistryClient({ timeoutMs: 30_000 });
 * const manifest = await client.getManifest(parseReference("ghcr.io/org/app:v1"));
 * console.log(manifest.digest, manifest.mediaType);
 * client.close();
 * ```
 */
export class RegistryClient implements ImageStore {
  /** The HTTP transport every request goes through. */
  readonly transport: Transport;
  readonly #keychain: Keychain;
  readonly #hosts = new Map<string, HostState>();
  readonly #chunk: number;
  readonly #maxManifest: number;
  readonly #allowHttp: boolean;
  readonly #pushRepos = new Set<string>();

  /**
   * Creates a client.
   * @param options transport, credentials and limits
   */
  constructor(options: RegistryClientOptions = {}) {
    this.transport = new Transport(options);
    this.#keychain = options.keychain ?? defaultKeychain();
    this.#chunk = options.chunkSize ?? DEFAULT_CHUNK;
    this.#maxManifest = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    this.#allowHttp = options.allowHttp ?? false;
    for (const [registry, known] of Object.entries(options.knownHosts ?? {})) {
      const h = this.#host(registry);
      // A remembered http scheme is only reused where http is allowed now.
      if (schemesFor(registry, this.#allowHttp).includes(known.scheme)) {
        h.scheme = known.scheme;
        h.remembered = true;
      }
    }
  }

  /**
   * Declares that this process will push to `repo`: from now on its reads use a
   * `push,pull` token too, so one token exchange serves both (instead of a pull token, a 401
   * on the first push, and a second exchange).
   */
  willPush(repo: Repository): void {
    this.#pushRepos.add(repositoryName(repo));
  }

  /** Schemes learned so far, for the next process. */
  knownHosts(): Record<string, KnownHost> {
    const out: Record<string, KnownHost> = {};
    for (const [registry, h] of this.#hosts) {
      if (h.scheme) out[registry] = { scheme: h.scheme };
    }
    return out;
  }

  /** Releases connections. */
  close(): void {
    this.transport.close();
  }

  /** The scheme in use for `registry`, once a request has decided it. */
  schemeOf(registry: string): "https" | "http" | undefined {
    return this.#hosts.get(registry)?.scheme;
  }

  /** Token exchanges made so far for `registry` (for tests and benchmarks). */
  tokenExchanges(registry: string): number {
    return this.#hosts.get(registry)?.tokens.exchanges ?? 0;
  }

  #host(registry: string): HostState {
    let h = this.#hosts.get(registry);
    if (!h) {
      h = { tokens: new TokenCache(registry, this.transport, this.#allowHttp), creds: new Map() };
      this.#hosts.set(registry, h);
    }
    return h;
  }

  #creds(h: HostState, repo: Repository): Promise<Credentials | undefined> {
    let c = h.creds.get(repo.repository);
    if (!c) {
      c = this.#keychain(repo.registry, repo.repository);
      h.creds.set(repo.repository, c);
    }
    return c;
  }

  /** Sends with the registry's scheme, falling back from HTTPS to HTTP where allowed. */
  async #sendOnce(
    h: HostState,
    registry: string,
    req: Req,
    auth: string | undefined,
  ): Promise<Response> {
    let candidates = h.scheme ? [h.scheme] : schemesFor(registry, this.#allowHttp);
    // A scheme remembered from an earlier run may be stale (another server on the same port):
    // when the server turns out to speak the other protocol, forget it and probe again.
    const reprobe = (): boolean => {
      if (!h.remembered || req.url) return false;
      h.remembered = false;
      delete h.scheme;
      candidates = schemesFor(registry, this.#allowHttp);
      return true;
    };
    for (let i = 0;; i++) {
      const scheme = candidates[i]!;
      const headers = { ...req.headers };
      if (auth) headers.authorization = auth;
      const url = req.url ?? `${scheme}://${registry}${req.path}`;
      try {
        const res = await this.transport.send({
          method: req.method,
          url,
          headers,
          ...(req.body ? { body: req.body } : {}),
          ...(req.expect ? { expect: req.expect } : {}),
        });
        if (h.remembered && scheme === "http" && res.status === 400) {
          const text = await readTextPrefix(res.clone()).catch(() => "");
          if (/HTTP request to an HTTPS server/i.test(text) && reprobe()) {
            await res.body?.cancel();
            i = -1;
            continue;
          }
        }
        if (!req.url) {
          if (h.scheme !== scheme) trace(`registry ${registry}: speaks ${scheme}`);
          h.scheme = scheme;
          h.remembered = false;
        }
        return res;
      } catch (e) {
        if (e instanceof CosignError) throw e;
        if (isPlainHttpServer(e) && scheme === "https" && reprobe()) {
          i = -1;
          continue;
        }
        if (isPlainHttpServer(e) && !req.url && i + 1 < candidates.length) {
          trace(
            `registry ${registry}: answered HTTPS with plain HTTP; trying ${candidates[i + 1]}`,
          );
          continue;
        }
        if (isPlainHttpServer(e)) {
          throw new CosignError(
            "REGISTRY_INSECURE",
            `Registry ${registry} speaks plain HTTP; pass --allow-http-registry to use it`,
          );
        }
        throw new CosignError(
          "REGISTRY_UNAVAILABLE",
          `Cannot reach registry ${registry}: ${(e as Error).message}`,
        );
      }
    }
  }

  #authFor(
    h: HostState,
    scopes: string[],
    creds: Credentials | undefined,
  ): Promise<string | undefined> {
    const ch = h.challenge;
    if (!ch) return Promise.resolve(undefined);
    if (ch.scheme === "basic") return Promise.resolve(creds ? basicHeader(creds) : undefined);
    return h.tokens.token(ch, scopes, creds).then((t) => `Bearer ${t}`);
  }

  /** A request with authentication: challenges are learned from 401s and answered once. */
  async #request(
    repo: Repository,
    push: boolean,
    req: Req,
    extraScopes: string[] = [],
  ): Promise<Response> {
    const h = this.#host(repo.registry);
    const creds = await this.#creds(h, repo);
    const asPush = push || this.#pushRepos.has(repositoryName(repo));
    let scopes = [repositoryScope(repo.repository, asPush), ...extraScopes];
    let auth = await this.#authFor(h, scopes, creds);
    let res = await this.#sendOnce(h, repo.registry, req, auth);
    for (let round = 0; res.status === 401 && round < 2; round++) {
      await this.#refuseForeignChallenge(res, repo.registry);
      const header = res.headers.get("www-authenticate");
      await res.body?.cancel();
      if (!header) {
        throw new CosignError(
          "REGISTRY_AUTH",
          `Registry ${repo.registry} answered 401 without a WWW-Authenticate challenge`,
        );
      }
      const ch = parseChallenge(header, repo.registry);
      trace(() =>
        `auth: ${repo.registry}: 401 with a ${ch.scheme} challenge${
          ch.params.realm ? ` (realm ${ch.params.realm}, service ${ch.params.service ?? "-"})` : ""
        }; scopes ${scopes.join(" ")}`
      );
      const hadAuth = auth !== undefined;
      if (ch.scheme === "basic") {
        if (!creds?.username && !creds?.password) throw this.#noCreds(repo.registry);
        if (hadAuth && h.challenge?.scheme === "basic") throw this.#rejected(repo.registry, creds);
      } else if (hadAuth && h.challenge?.scheme === "bearer") {
        h.tokens.forget(scopes);
        if (ch.params.error !== "insufficient_scope" || !ch.params.scope) {
          throw this.#rejected(repo.registry, creds);
        }
        scopes = [...new Set([...scopes, ...ch.params.scope.split(" ")])];
      }
      h.challenge = ch;
      auth = await this.#authFor(h, scopes, creds);
      res = await this.#sendOnce(h, repo.registry, req, auth);
    }
    if (res.status === 401) {
      await this.#refuseForeignChallenge(res, repo.registry);
      await res.body?.cancel();
      throw this.#rejected(repo.registry, creds);
    }
    if (res.status === 403) {
      const detail = await errorDetail(res);
      throw new CosignError(
        "REGISTRY_AUTH",
        `Access to ${repositoryName(repo)} was denied by ${repo.registry} (${detail})`,
      );
    }
    return res;
  }

  /**
   * A 401 from an origin a redirect led to is not the registry's challenge: credentials go only
   * to a realm the registry named from its own origin, and what is learned about the registry
   * never changes because of another origin. Such a 401 ends the request.
   */
  async #refuseForeignChallenge(res: Response, registry: string): Promise<void> {
    const origin = redirectedOrigin(res);
    if (origin === undefined) return;
    await res.body?.cancel();
    throw new CosignError(
      "REGISTRY_AUTH",
      `Registry ${registry} redirected to ${origin}, which asks for authentication; ` +
        `credentials are only sent to the registry itself, never to where it redirects`,
    );
  }

  #noCreds(registry: string): CosignError {
    return new CosignError(
      "REGISTRY_AUTH",
      `Registry ${registry} requires authentication and no credentials were found ` +
        `(run "cosign login ${registry}" or pass --registry-username/--registry-password)`,
    );
  }

  #rejected(registry: string, creds: Credentials | undefined): CosignError {
    return new CosignError(
      "REGISTRY_AUTH",
      creds
        ? `Authentication to ${registry} failed: the registry rejected the credentials`
        : `Authentication to ${registry} failed: anonymous access was refused`,
    );
  }

  #unexpected(what: string, detail: string): CosignError {
    return new CosignError("REGISTRY_ERROR", `${what}: ${detail}`);
  }

  /**
   * Fetches a manifest or index. Its digest is the SHA-256 of the bytes received (checked
   * against a requested digest); bodies over the size cap are refused without being read.
   * @throws {CosignError} `MANIFEST_UNKNOWN` (404), `MANIFEST_TOO_LARGE`, `MANIFEST_INVALID`,
   *   `DIGEST_MISMATCH`, auth and availability errors
   */
  async getManifest(
    ref: Reference,
    accept: string[] = MANIFEST_ACCEPT,
    maxBytes: number = this.#maxManifest,
  ): Promise<Manifest> {
    const name = referenceName(ref);
    const res = await this.#request(ref, false, {
      method: "GET",
      path: `/v2/${ref.repository}/manifests/${identifier(ref)}`,
      headers: { accept: accept.join(", ") },
    });
    if (res.status === 404) {
      const detail = await errorDetail(res);
      throw new CosignError("MANIFEST_UNKNOWN", `Image ${name} not found (${detail})`);
    }
    if (!res.ok) throw this.#unexpected(`Cannot get manifest ${name}`, await errorDetail(res));
    const bytes = await readResponseCapped(res, maxBytes);
    if (!bytes) {
      throw new CosignError(
        "MANIFEST_TOO_LARGE",
        `Manifest ${name} is larger than ${maxBytes} bytes; refusing it`,
      );
    }
    const digest = sha256Digest(bytes);
    // By digest, the bytes must hash to it. By tag, ggcr trusts whatever arrives; we also hold
    // the bytes to the registry's own Docker-Content-Digest, which catches damage in transit.
    // A header that is not a sha256 digest is not compared (ggcr ignores it entirely) and,
    // like every server string, never printed as received.
    const header = res.headers.get("docker-content-digest");
    const claimed = ref.digest ?? (isValidDigest(header) ? header : undefined);
    if (claimed && digest !== claimed) {
      throw new CosignError(
        "DIGEST_MISMATCH",
        `Manifest ${name} does not match its digest ${claimed}: the content received has digest ${digest}`,
      );
    }
    const m = parseManifest(bytes, digest, res.headers.get("content-type"), name);
    trace(() => `manifest ${name}: ${digest} (${m.mediaType}, ${bytes.length} bytes)`);
    return m;
  }

  /**
   * One page of the OCI 1.1 referrers API (`GET /v2/<repo>/referrers/<digest>`, or the `next`
   * URL of the previous page). `supported: false` when the registry has no such API: it answered
   * 404, 400, 405 or 406, or something that is not an OCI index (the reason says what), as
   * go-containerregistry decides before falling back to the `sha256-<hex>` tag. Any other
   * failure (429 or 5xx after retries, auth) is thrown: a listing that failed is never "none".
   * @param repo the repository holding the referrers
   * @param digest the subject digest (validated `sha256:<hex>`)
   * @param options `artifactType` to ask the registry to filter by; `next` the URL of a
   *   further page (same origin only); `maxBytes` the largest page read
   * @throws {CosignError} `REGISTRY_ERROR`, `MANIFEST_TOO_LARGE`, auth and availability errors
   */
  async referrersPage(
    repo: Repository,
    digest: string,
    options: { artifactType?: string; next?: string; maxBytes?: number } = {},
  ): Promise<
    | { supported: false; reason: string }
    | { supported: true; json: Record<string, unknown>; next?: string }
  > {
    checkDigest(digest, "The referrers subject", "MANIFEST_INVALID");
    const query = options.artifactType
      ? `?artifactType=${encodeURIComponent(options.artifactType)}`
      : "";
    const path = options.next ?? `/v2/${repo.repository}/referrers/${digest}${query}`;
    const res = await this.#request(repo, false, {
      method: "GET",
      path,
      headers: { accept: OCI_INDEX },
      expect: [400, 404, 405, 406],
    });
    const name = `${repositoryName(repo)}@${digest}`;
    if ([400, 404, 405, 406].includes(res.status)) {
      await res.body?.cancel();
      return { supported: false, reason: `the referrers API answered HTTP ${res.status}` };
    }
    if (!res.ok) {
      throw this.#unexpected(`Cannot list the referrers of ${name}`, await errorDetail(res));
    }
    const type = res.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
    if (type !== OCI_INDEX) {
      await res.body?.cancel();
      return {
        supported: false,
        reason: `the referrers API answered ${JSON.stringify(type.slice(0, 60))}, not an OCI index`,
      };
    }
    const max = options.maxBytes ?? LIMITS.referrersIndex;
    const bytes = await readResponseCapped(res, max);
    if (!bytes) {
      throw new CosignError(
        "MANIFEST_TOO_LARGE",
        `The referrers of ${name} are larger than ${max} bytes; refusing them`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      return { supported: false, reason: "the referrers API answered something that is not JSON" };
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return { supported: false, reason: "the referrers API answered a JSON value not an index" };
    }
    const next = nextLink(res.headers.get("link"), path, repo.registry);
    return { supported: true, json: json as Record<string, unknown>, ...(next ? { next } : {}) };
  }

  /** Resolves a reference to its manifest digest (a tag once, by GET; a digest as is). */
  async resolve(ref: Reference): Promise<string> {
    if (ref.digest) return ref.digest;
    return (await this.getManifest(ref)).digest;
  }

  /** HEAD of a manifest; `undefined` when it does not exist. */
  async headManifest(ref: Reference): Promise<Descriptor | undefined> {
    const res = await this.#request(ref, false, {
      method: "HEAD",
      path: `/v2/${ref.repository}/manifests/${identifier(ref)}`,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
    });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    if (!res.ok) {
      throw this.#unexpected(`Cannot check manifest ${referenceName(ref)}`, `HTTP ${res.status}`);
    }
    const header = res.headers.get("docker-content-digest");
    const digest = header === null ? "" : checkDigest(
      header,
      `The Docker-Content-Digest header for ${referenceName(ref)}`,
      "REGISTRY_ERROR",
    );
    return {
      mediaType: res.headers.get("content-type") ?? "",
      digest,
      size: Number(res.headers.get("content-length") ?? 0),
    };
  }

  /**
   * Puts a manifest under a tag or its digest; returns its digest. The write counts only when
   * the registry answers 201 Created (202 Accepted from some registries), as the distribution
   * spec requires, and a `Docker-Content-Digest` it sends is the digest written: a server that
   * answers 200 to everything (a web server, a captive portal) stores nothing.
   * @throws {CosignError} `REGISTRY_ERROR` for any other status, `DIGEST_MISMATCH`
   */
  async putManifest(ref: Reference, bytes: Uint8Array, mediaType: string): Promise<string> {
    const digest = sha256Digest(bytes);
    const res = await this.#request(ref, true, {
      method: "PUT",
      path: `/v2/${ref.repository}/manifests/${identifier(ref)}`,
      headers: { "content-type": mediaType },
      body: () => bytes as Uint8Array<ArrayBuffer>,
    });
    const name = referenceName(ref);
    if (res.status !== 201 && res.status !== 202) {
      throw this.#unexpected(
        `Cannot put manifest ${name}`,
        res.ok
          ? `the registry answered HTTP ${res.status}${
            contentTypeNote(res)
          }, not 201 Created; it is not storing it`
          : await errorDetail(res),
      );
    }
    await res.body?.cancel();
    checkAnsweredDigest(res, digest, `Manifest ${name}`);
    return digest;
  }

  /**
   * Reads back, by HEAD, a manifest just written: the registry must serve `digest` under `ref`
   * (when the HEAD names no digest the manifest is fetched and hashed). Run before a command
   * reports a write as done.
   * @throws {CosignError} `MANIFEST_UNKNOWN` when it is not there, `DIGEST_MISMATCH` when
   *   another manifest is
   */
  async confirmManifest(ref: Reference, digest: string): Promise<void> {
    const name = referenceName(ref);
    const head = await this.headManifest(ref);
    if (!head) {
      throw new CosignError(
        "MANIFEST_UNKNOWN",
        `The registry accepted ${name} but does not serve it back (HEAD: not found)`,
      );
    }
    const served = head.digest || (await this.getManifest(ref).catch((e) => {
      if (!(e instanceof CosignError) || e.code === "DEADLINE_EXCEEDED") throw e;
      throw new CosignError(
        "MANIFEST_UNKNOWN",
        `The registry accepted ${name} but does not serve it back (${e.message})`,
      );
    })).digest;
    if (served !== digest) {
      throw new CosignError(
        "DIGEST_MISMATCH",
        `The registry accepted ${name} as ${digest} but serves ${served}`,
      );
    }
  }

  /**
   * Deletes a manifest by tag or digest. Where the registry refuses deletes by tag (400/405,
   * as distribution ≥ 2.3 does) the tag is resolved and its digest deleted.
   * @returns false when it did not exist
   */
  async deleteManifest(ref: Reference): Promise<boolean> {
    const byName = await this.deleteTag(ref);
    if (byName !== "refused") return byName === "deleted";
    const head = await this.headManifest(ref);
    if (!head) return false;
    const digest = head.digest || (await this.getManifest(ref)).digest;
    return await this.#delete(ref, digest);
  }

  /**
   * Deletes a manifest by tag (or by digest when `ref` has one) and nothing else: `refused` when
   * the registry does not delete by tag (400/405, as distribution ≥ 2.3), so that the caller
   * can check which other tags a delete by digest would take with it.
   */
  async deleteTag(ref: Reference): Promise<"deleted" | "missing" | "refused"> {
    const res = await this.#request(ref, true, {
      method: "DELETE",
      path: `/v2/${ref.repository}/manifests/${identifier(ref)}`,
    });
    if ((res.status === 400 || res.status === 405) && !ref.digest) {
      await res.body?.cancel();
      return "refused";
    }
    return await this.#deleted(ref, res) ? "deleted" : "missing";
  }

  /** DELETE of a manifest by digest; false when it did not exist. */
  async #delete(ref: Reference, digest: string): Promise<boolean> {
    const res = await this.#request(ref, true, {
      method: "DELETE",
      path: `/v2/${ref.repository}/manifests/${digest}`,
    });
    return await this.#deleted(ref, res);
  }

  async #deleted(ref: Reference, res: Response): Promise<boolean> {
    if (res.status === 404) {
      await res.body?.cancel();
      return false;
    }
    if (![200, 202, 204].includes(res.status)) {
      throw this.#unexpected(`Cannot delete ${referenceName(ref)}`, await errorDetail(res));
    }
    await res.body?.cancel();
    return true;
  }

  /** Lists a repository's tags, following `Link` pagination. */
  async listTags(repo: Repository): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repo.repository}/tags/list`;
    for (let page = 0; path && page < 1000; page++) {
      const res = await this.#request(repo, false, { method: "GET", path });
      if (res.status === 404) {
        await res.body?.cancel();
        return tags;
      }
      if (!res.ok) {
        throw this.#unexpected(
          `Cannot list tags of ${repositoryName(repo)}`,
          await errorDetail(res),
        );
      }
      const body = await readResponseCapped(res, this.#maxManifest);
      let json: { tags?: unknown };
      try {
        json = JSON.parse(new TextDecoder().decode(body ?? new Uint8Array()));
      } catch {
        throw this.#unexpected(
          `Cannot list tags of ${repositoryName(repo)}`,
          "response is not JSON",
        );
      }
      if (Array.isArray(json.tags)) tags.push(...json.tags.filter((t) => typeof t === "string"));
      const link = res.headers.get("link")?.match(/<([^>]+)>\s*;\s*rel="?next"?/);
      path = link
        ? new URL(link[1]!, "http://x").pathname + new URL(link[1]!, "http://x").search
        : undefined;
    }
    return tags;
  }

  /**
   * True when the repository has the blob. A 200 whose `Docker-Content-Digest` names another
   * digest, or whose `Content-Length` is not `size` (when given), is not the blob: it is then
   * uploaded, and the upload's own checks decide.
   */
  async blobExists(repo: Repository, digest: string, size?: number): Promise<boolean> {
    const res = await this.#request(repo, false, {
      method: "HEAD",
      path: `/v2/${repo.repository}/blobs/${digest}`,
    });
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (!res.ok) throw this.#unexpected(`Cannot check blob ${digest}`, `HTTP ${res.status}`);
    const header = res.headers.get("docker-content-digest");
    if (header !== null && header.trim() !== digest) return false;
    const len = res.headers.get("content-length");
    if (size !== undefined && len !== null && Number(len) !== size) return false;
    return true;
  }

  /**
   * Starts an upload (or mounts the blob from `mountFrom` in the same registry).
   * @returns the upload Location, or `undefined` when the blob was mounted
   */
  async #startUpload(
    repo: Repository,
    digest?: string,
    mountFrom?: Repository,
  ): Promise<string | undefined> {
    let path = `/v2/${repo.repository}/blobs/uploads/`;
    const extra: string[] = [];
    if (
      digest && mountFrom && mountFrom.registry === repo.registry &&
      mountFrom.repository !== repo.repository
    ) {
      path += `?mount=${encodeURIComponent(digest)}&from=${
        encodeURIComponent(mountFrom.repository)
      }`;
      extra.push(repositoryScope(mountFrom.repository, false));
    }
    const res = await this.#request(repo, true, { method: "POST", path }, extra);
    await res.body?.cancel();
    if (res.status === 201 && extra.length) return undefined;
    if (res.status !== 202) {
      throw this.#unexpected(
        `Cannot start upload to ${repositoryName(repo)}`,
        `the registry answered HTTP ${res.status}${contentTypeNote(res)}, not 202 Accepted`,
      );
    }
    return this.#location(res, repo);
  }

  #location(res: Response, repo: Repository): string {
    const loc = res.headers.get("location");
    if (!loc) {
      throw this.#unexpected(
        `Upload to ${repositoryName(repo)} failed`,
        "the registry sent no Location header",
      );
    }
    const base = new URL(`${this.#host(repo.registry).scheme ?? "https"}://${repo.registry}/`);
    // The registry's own host keeps the registry's scheme: a registry behind a TLS front end
    // that omits X-Forwarded-Proto writes http:// Locations for itself.
    let url: URL;
    try {
      url = pinScheme(new URL(loc, base), base);
    } catch {
      throw this.#unexpected(
        `Upload to ${repositoryName(repo)} failed`,
        "the registry sent an invalid Location header",
      );
    }
    if (url.host !== base.host) {
      throw this.#unexpected(
        `Upload to ${repositoryName(repo)} failed`,
        `Location points at another host (${url.host})`,
      );
    }
    return url.href;
  }

  async #finish(
    repo: Repository,
    location: string,
    digest: string,
    body?: Uint8Array,
  ): Promise<void> {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const res = await this.#request(repo, true, {
      method: "PUT",
      path: "",
      url: url.href,
      headers: { "content-type": "application/octet-stream" },
      ...(body ? { body: () => body as Uint8Array<ArrayBuffer> } : {}),
    });
    if (res.status !== 201) {
      const detail = res.ok
        ? `the registry answered HTTP ${res.status}${contentTypeNote(res)}, not 201 Created`
        : await errorDetail(res);
      if (/DIGEST_INVALID/.test(detail)) {
        throw new CosignError(
          "DIGEST_MISMATCH",
          `Upload to ${
            repositoryName(repo)
          } failed: the registry computed another digest (${detail})`,
        );
      }
      throw this.#unexpected(`Cannot finish upload to ${repositoryName(repo)}`, detail);
    }
    await res.body?.cancel();
    checkAnsweredDigest(res, digest, `Blob ${digest} in ${repositoryName(repo)}`);
  }

  /**
   * Uploads an in-memory blob: POST (or a mount from `mountFrom`) then one PUT with the body.
   * @returns its descriptor (`mediaType` is the caller's to set; here `application/octet-stream`)
   */
  async uploadBlob(
    repo: Repository,
    data: Uint8Array,
    options: { mountFrom?: Repository } = {},
  ): Promise<Descriptor> {
    const digest = sha256Digest(data);
    const location = await this.#startUpload(repo, digest, options.mountFrom);
    if (location) await this.#finish(repo, location, digest, data);
    return { mediaType: "application/octet-stream", digest, size: data.length };
  }

  /**
   * Uploads a file in constant memory: small files in one PUT; large ones in PATCH chunks
   * streamed from disk, hashed in the same pass, then a PUT with the digest.
   */
  async uploadBlobFile(repo: Repository, path: string): Promise<Descriptor> {
    const size = (await Deno.stat(path)).size;
    if (size <= this.#chunk) return await this.uploadBlob(repo, await Deno.readFile(path));
    let location = (await this.#startUpload(repo))!;
    const hash = createHash("sha256");
    let hashed = 0;
    for (let offset = 0; offset < size; offset += this.#chunk) {
      const end = Math.min(size, offset + this.#chunk);
      const body: BodyFactory = () =>
        fileRange(path, offset, end, (chunk, at) => {
          // A retried chunk re-reads bytes already hashed; hash each byte once.
          const skip = Math.max(0, hashed - at);
          if (skip < chunk.length) {
            hash.update(chunk.subarray(skip));
            hashed = at + chunk.length;
          }
        });
      const res = await this.#request(repo, true, {
        method: "PATCH",
        path: "",
        url: location,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${end - 1}`,
          "content-length": String(end - offset),
        },
        body,
      });
      await res.body?.cancel();
      if (res.status !== 202 && res.status !== 204 && res.status !== 201) {
        throw this.#unexpected(
          `Upload to ${repositoryName(repo)} failed at byte ${offset}`,
          `HTTP ${res.status}`,
        );
      }
      location = this.#location(res, repo);
    }
    const digest = "sha256:" + hash.digest("hex");
    await this.#finish(repo, location, digest);
    return { mediaType: "application/octet-stream", digest, size };
  }

  /**
   * Uploads a stream of known digest in one streamed PUT (constant memory), or mounts it from
   * `mountFrom` in the same registry. The registry checks the digest; a mismatch is refused.
   */
  async uploadBlobStream(
    repo: Repository,
    stream: ReadableStream<Uint8Array>,
    expected: { digest: string; size?: number },
    options: { mountFrom?: Repository } = {},
  ): Promise<Descriptor> {
    const location = await this.#startUpload(repo, expected.digest, options.mountFrom);
    if (location) {
      let used = false;
      const url = new URL(location);
      url.searchParams.set("digest", expected.digest);
      const res = await this.#request(repo, true, {
        method: "PUT",
        path: "",
        url: url.href,
        headers: { "content-type": "application/octet-stream" },
        body: () => {
          // A stream can be sent once; a retry after it was consumed must fail, not resend.
          if (used) {
            throw new CosignError("REGISTRY_ERROR", `Upload of ${expected.digest} was interrupted`);
          }
          used = true;
          return stream;
        },
      });
      if (res.status !== 201) {
        throw this.#unexpected(
          `Cannot upload ${expected.digest} to ${repositoryName(repo)}`,
          res.ok
            ? `the registry answered HTTP ${res.status}${contentTypeNote(res)}, not 201 Created`
            : await errorDetail(res),
        );
      }
      await res.body?.cancel();
      checkAnsweredDigest(
        res,
        expected.digest,
        `Blob ${expected.digest} in ${repositoryName(repo)}`,
      );
    } else {
      await stream.cancel();
    }
    return {
      mediaType: "application/octet-stream",
      digest: expected.digest,
      size: expected.size ?? -1,
    };
  }

  /** Mounts a blob from another repository of the same registry; false when the registry declined. */
  async mountBlob(repo: Repository, digest: string, from: Repository): Promise<boolean> {
    if (from.registry !== repo.registry) return false;
    const location = await this.#startUpload(repo, digest, from);
    if (!location) return true;
    // Declined: the registry opened an ordinary upload instead; abandon it.
    const res = await this.#request(repo, true, { method: "DELETE", path: "", url: location })
      .catch(() => undefined);
    await res?.body?.cancel();
    return false;
  }

  /**
   * Streams a blob, verifying its digest (and size, when given) while reading: the stream
   * errors at its end if the bytes do not match, so consumers must wait for a clean end.
   * Registries serve blobs as stored, so a `Content-Encoding` is refused (an inflated body
   * could be any size). With `maxBytes`, a blob larger than that is refused: from its size or
   * `Content-Length` before reading, otherwise as soon as the stream passes it.
   * @throws {CosignError} `BLOB_UNKNOWN` (404), `BLOB_TOO_LARGE`, `REGISTRY_ERROR`
   */
  async fetchBlob(
    repo: Repository,
    digest: string,
    size?: number,
    options: FetchBlobOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const max = options.maxBytes;
    const what = `Blob ${digest} from ${repositoryName(repo)}`;
    if (max !== undefined && size !== undefined && size > max) {
      throw tooLarge(what, `is ${size} bytes`, max);
    }
    const res = await this.#request(repo, false, {
      method: "GET",
      path: `/v2/${repo.repository}/blobs/${digest}`,
      // fetch offers gzip and br by default; a blob is wanted as stored (an encoded one is
      // refused below), so ask for no encoding.
      headers: { "accept-encoding": "identity" },
    });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new CosignError("BLOB_UNKNOWN", `Blob ${digest} not found in ${repositoryName(repo)}`);
    }
    if (!res.ok || !res.body) {
      throw this.#unexpected(`Cannot get blob ${digest}`, await errorDetail(res));
    }
    const encoding = res.headers.get("content-encoding")?.trim().toLowerCase();
    if (encoding && encoding !== "identity") {
      await res.body.cancel();
      throw new CosignError(
        "REGISTRY_ERROR",
        `${what}: the registry sent it with Content-Encoding ${
          JSON.stringify(encoding.slice(0, 40))
        }; blobs must be served as stored`,
      );
    }
    const len = res.headers.get("content-length");
    if (size !== undefined && len !== null && Number(len) !== size) {
      await res.body.cancel();
      throw new CosignError(
        "DIGEST_MISMATCH",
        `Blob ${digest}: the registry sent ${len} bytes, expected ${size}`,
      );
    }
    if (max !== undefined && len !== null && Number(len) > max) {
      await res.body.cancel();
      throw tooLarge(what, `is ${len} bytes (Content-Length)`, max);
    }
    let body = guardBody(res.body, what);
    if (max !== undefined && size === undefined) {
      body = cappedStream(body, max, () => tooLarge(what, "is larger", max));
    }
    return body.pipeThrough(verifyingStream(digest, what, size));
  }

  /** Reads a whole (small) blob into memory, verified, refusing more than `max` bytes. */
  async fetchBlobBytes(
    repo: Repository,
    desc: { digest: string; size?: number },
    max: number = LIMITS.attachmentLayer,
  ): Promise<Uint8Array> {
    const stream = await this.fetchBlob(repo, desc.digest, desc.size, { maxBytes: max });
    const bytes = await readCapped(stream, max);
    if (!bytes) throw tooLarge(`Blob ${desc.digest}`, "is larger", max);
    return bytes;
  }
}

const DIGEST_SHAPE = /^sha256:[0-9a-f]{64}$/;

/** ` (text/html)`: the media type of an answer, for messages about answers that are no write. */
function contentTypeNote(res: Response): string {
  const type = res.headers.get("content-type")?.split(";")[0]?.trim();
  return type && /^[\w.+-]+\/[\w.+-]+$/.test(type) ? ` (${type.slice(0, 60)})` : "";
}

/**
 * A write's `Docker-Content-Digest`, when the registry sends one, must be the digest written.
 * @throws {CosignError} `DIGEST_MISMATCH`
 */
function checkAnsweredDigest(res: Response, digest: string, what: string): void {
  const header = res.headers.get("docker-content-digest")?.trim();
  if (!header || header === digest) return;
  const shown = DIGEST_SHAPE.test(header) ? header : JSON.stringify(header.slice(0, 80));
  throw new CosignError(
    "DIGEST_MISMATCH",
    `${what} was written as ${digest}, but the registry answered Docker-Content-Digest ${shown}`,
  );
}

/** Options for {@link RegistryClient.fetchBlob}. */
export interface FetchBlobOptions {
  /** Refuse a blob larger than this many bytes (`BLOB_TOO_LARGE`). Default: no limit. */
  maxBytes?: number;
}

function tooLarge(what: string, is: string, max: number): CosignError {
  return new CosignError(
    "BLOB_TOO_LARGE",
    `${what} ${is}, over the ${max}-byte limit; refusing it`,
  );
}

/**
 * Passes a response body through, turning a connection failure while reading (a cut, a reset,
 * a timeout) into a one-line `REGISTRY_UNAVAILABLE` error instead of a raw network exception.
 */
function guardBody(body: ReadableStream<Uint8Array>, what: string): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(
          e instanceof CosignError ? e : new CosignError(
            "REGISTRY_UNAVAILABLE",
            `${what}: the download was cut off (${(e as Error).message})`,
          ),
        );
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** A stream of bytes [start, end) of a file, reporting each chunk and its offset to `seen`. */
function fileRange(
  path: string,
  start: number,
  end: number,
  seen: (chunk: Uint8Array, at: number) => void,
): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let pos = start;
  return new ReadableStream<Uint8Array>({
    async start() {
      file = await Deno.open(path);
      await file.seek(start, Deno.SeekMode.Start);
    },
    async pull(controller) {
      const want = Math.min(1 << 20, end - pos);
      if (want <= 0) {
        file?.close();
        controller.close();
        return;
      }
      const buf = new Uint8Array(want);
      const n = await file!.read(buf);
      if (n === null) {
        file?.close();
        controller.error(
          new CosignError("FILE_READ", `${path} shrank while it was being uploaded`),
        );
        return;
      }
      const chunk = buf.subarray(0, n);
      seen(chunk, pos);
      pos += n;
      controller.enqueue(chunk);
    },
    cancel() {
      file?.close();
    },
  });
}

/**
 * The `rel="next"` target of a `Link` header (RFC 8288), as a path on the same registry. A link
 * elsewhere is refused (an error, not the end of the listing), so a listing never sends the
 * registry's credentials to another host and never silently stops short.
 */
function nextLink(header: string | null, current: string, registry: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!m || !/(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(m[2]!)) continue;
    const base = new URL(current, "http://registry.invalid");
    let url: URL;
    try {
      url = new URL(m[1]!, base);
    } catch {
      throw new CosignError("REGISTRY_ERROR", "The referrers API sent a malformed next-page link");
    }
    const sameRegistry = url.origin === base.origin || url.host === registry;
    if (!sameRegistry || !url.pathname.startsWith("/v2/")) {
      throw new CosignError(
        "REGISTRY_ERROR",
        `The referrers API of ${registry} sent a next-page link to another place; refusing to follow it`,
      );
    }
    return url.pathname + url.search;
  }
  return undefined;
}

/** Validates a manifest's bytes and media type. */
export function parseManifest(
  bytes: Uint8Array,
  digest: string,
  contentType: string | null,
  name: string,
): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new CosignError("MANIFEST_INVALID", `Manifest ${name} is not JSON`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CosignError("MANIFEST_INVALID", `Manifest ${name} is not a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  const declared = typeof obj.mediaType === "string" ? obj.mediaType : undefined;
  const header = contentType?.split(";")[0]?.trim();
  let mediaType = declared ?? header ?? "";
  if (!declared && (header === undefined || header === "" || header === "application/json")) {
    // OCI allows an absent mediaType: tell an index from a manifest by its fields.
    mediaType = Array.isArray(obj.manifests) ? INDEXES[0]! : IMAGE_MANIFESTS[0]!;
  }
  if (
    mediaType === DOCKER_SCHEMA1 || mediaType === DOCKER_SCHEMA1_SIGNED || obj.schemaVersion === 1
  ) {
    throw new CosignError(
      "MANIFEST_INVALID",
      `Manifest ${name} is Docker schema 1, which is not supported`,
    );
  }
  if (![...IMAGE_MANIFESTS, ...INDEXES].includes(mediaType)) {
    throw new CosignError(
      "MANIFEST_INVALID",
      `Manifest ${name} has an unknown media type ${
        quote(mediaType.length > 200 ? mediaType.slice(0, 200) + "…" : mediaType)
      }`,
    );
  }
  checkDescriptorDigests(obj, name);
  return { bytes, digest, mediaType, json: obj };
}
