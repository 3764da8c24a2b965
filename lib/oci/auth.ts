/**
 * Registry authentication: `WWW-Authenticate` challenges, Basic credentials, and the Docker
 * token protocol (GET with Basic credentials or anonymously; POST with a refresh token, falling
 * back to GET on 404), with tokens reused per registry and scope set for the whole process.
 * @module
 */

import { LIMITS, readResponseCapped } from "./body.ts";
import { CosignError } from "../errors.ts";
import type { Credentials } from "./keychain.ts";
import { isLoopbackRegistry } from "./reference.ts";
import type { Transport, TransportRequest } from "./transport.ts";

/** A parsed `WWW-Authenticate` challenge. */
export interface Challenge {
  /** The authentication scheme, lowercased. */
  scheme: "basic" | "bearer";
  /** The challenge parameters (`realm`, `service`, `scope`, ...). */
  params: Record<string, string>;
}

const PARAM_RE = /\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;

/**
 * Parses a `WWW-Authenticate` header.
 * @throws {CosignError} `REGISTRY_AUTH` for unknown schemes and malformed parameters
 */
export function parseChallenge(header: string, registry: string): Challenge {
  const m = /^\s*([A-Za-z]+)(?:\s+(.*))?$/s.exec(header);
  const scheme = m?.[1]?.toLowerCase();
  if (!m || (scheme !== "basic" && scheme !== "bearer")) {
    throw new CosignError(
      "REGISTRY_AUTH",
      `Registry ${registry} asks for an unsupported authentication scheme: ${
        JSON.stringify(header)
      }`,
    );
  }
  const params: Record<string, string> = {};
  const rest = m[2] ?? "";
  PARAM_RE.lastIndex = 0;
  while (PARAM_RE.lastIndex < rest.length) {
    const start = PARAM_RE.lastIndex;
    const p = PARAM_RE.exec(rest);
    if (!p || PARAM_RE.lastIndex === start) {
      throw new CosignError(
        "REGISTRY_AUTH",
        `Registry ${registry} sent a malformed WWW-Authenticate header: ${JSON.stringify(header)}`,
      );
    }
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  }
  if (scheme === "bearer" && !params.realm) {
    throw new CosignError(
      "REGISTRY_AUTH",
      `Registry ${registry} sent a Bearer challenge without a realm: ${JSON.stringify(header)}`,
    );
  }
  return { scheme, params };
}

/** `repository:NAME:pull` or `repository:NAME:push,pull`. */
export function repositoryScope(repository: string, push: boolean): string {
  return `repository:${repository}:${push ? "push,pull" : "pull"}`;
}

/** Basic credentials as a header value. */
export function basicHeader(c: Credentials): string {
  return "Basic " + new TextEncoder().encode(`${c.username ?? ""}:${c.password ?? ""}`).toBase64();
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Exchanges and caches bearer tokens for one registry. */
export class TokenCache {
  readonly #tokens = new Map<string, Promise<CachedToken>>();
  /** Token-endpoint requests made (for tests and benchmarks). */
  exchanges = 0;

  constructor(
    private readonly registry: string,
    private readonly transport: Transport,
    private readonly allowHttp: boolean,
  ) {}

  /** A token for `scopes`, reused while it is valid. */
  async token(
    challenge: Challenge,
    scopes: string[],
    creds: Credentials | undefined,
  ): Promise<string> {
    if (creds?.registryToken) return creds.registryToken;
    const key = [...new Set(scopes)].sort().join(" ");
    const cached = this.#tokens.get(key);
    if (cached) {
      const t = await cached.catch(() => undefined);
      if (t && t.expiresAt > Date.now() + 5_000) return t.token;
    }
    const p = this.#exchange(challenge, [...new Set(scopes)], creds);
    this.#tokens.set(key, p);
    try {
      return (await p).token;
    } catch (e) {
      this.#tokens.delete(key);
      throw e;
    }
  }

  /** Forgets a token the registry refused. */
  forget(scopes: string[]): void {
    this.#tokens.delete([...new Set(scopes)].sort().join(" "));
  }

  async #exchange(
    challenge: Challenge,
    scopes: string[],
    creds: Credentials | undefined,
  ): Promise<CachedToken> {
    const realm = this.#realm(challenge.params.realm!);
    const service = challenge.params.service;
    this.exchanges++;
    let res: Response | undefined;
    if (creds?.identityToken) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
      });
      if (service) form.set("service", service);
      form.set("scope", scopes.join(" "));
      form.set("client_id", "cosign-deno");
      const body = form.toString();
      res = await this.#send({
        method: "POST",
        url: realm.href,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: () => body,
        secretBody: true,
      });
      if (res.status === 404 || res.status === 405) {
        await res.body?.cancel();
        res = undefined;
      }
    }
    if (!res) {
      const url = new URL(realm);
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (creds?.username !== undefined) {
        url.searchParams.set("account", creds.username);
        headers.authorization = basicHeader(creds);
      }
      res = await this.#send({ method: "GET", url: url.href, headers });
    }
    const body = await readResponseCapped(res, LIMITS.tokenResponse);
    if (body === undefined) {
      throw new CosignError(
        "REGISTRY_AUTH",
        `Token server for ${this.registry} sent a response over the ${LIMITS.tokenResponse}-byte limit`,
      );
    }
    const text = new TextDecoder().decode(body);
    if (res.status === 401 || res.status === 403) {
      throw new CosignError(
        "REGISTRY_AUTH",
        `Authentication to ${this.registry} failed: the token server refused the ${
          creds ? "credentials" : "anonymous request"
        } (HTTP ${res.status})`,
      );
    }
    if (!res.ok) {
      throw new CosignError(
        "REGISTRY_AUTH",
        `Token server for ${this.registry} answered HTTP ${res.status}`,
      );
    }
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      json = JSON.parse(text);
    } catch {
      throw new CosignError(
        "REGISTRY_AUTH",
        `Token server for ${this.registry} sent a response that is not JSON`,
      );
    }
    const token = typeof json.token === "string" && json.token
      ? json.token
      : typeof json.access_token === "string" && json.access_token
      ? json.access_token
      : undefined;
    if (!token) {
      throw new CosignError("REGISTRY_AUTH", `Token server for ${this.registry} sent no token`);
    }
    const ttl = typeof json.expires_in === "number" && json.expires_in > 0 ? json.expires_in : 60;
    return { token, expiresAt: Date.now() + ttl * 1000 };
  }

  /**
   * Sends to the token server. A failure to reach it names it as the token server the registry
   * sent, never as the registry (which answered: it is the realm that did not).
   */
  async #send(req: TransportRequest): Promise<Response> {
    const host = new URL(req.url).host;
    const named = `(the token server ${this.registry} named in its authentication challenge)`;
    try {
      return await this.transport.send({ ...req, peer: "token server" });
    } catch (e) {
      if (e instanceof CosignError) {
        if (e.code !== "REGISTRY_UNAVAILABLE" && e.code !== "REGISTRY_INSECURE") throw e;
        throw new CosignError(e.code, `${e.message} ${named}`, { cause: e });
      }
      // HTTPS spoken to a plain-HTTP server: the transport leaves that to the caller.
      throw new CosignError(
        "REGISTRY_AUTH",
        `Token server ${host} ${named} does not speak HTTPS: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  #realm(realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new CosignError(
        "REGISTRY_AUTH",
        `Registry ${this.registry} sent an invalid token realm "${realm}"`,
      );
    }
    if (url.protocol === "https:") return url;
    if (url.protocol === "http:" && (isLoopbackRegistry(url.host) || this.allowHttp)) return url;
    throw new CosignError(
      "REGISTRY_AUTH",
      `Registry ${this.registry} sent a token realm over plain HTTP (${realm}); refusing to send credentials there`,
    );
  }
}
