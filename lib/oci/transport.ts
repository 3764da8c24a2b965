/**
 * HTTP for the registry client: which scheme a registry gets (HTTPS; plain HTTP only for
 * loopback hosts or with `--allow-http-registry`), TLS trust (system roots plus
 * `--registry-cacert`, or no verification with `--allow-insecure-registry`), retries of 408,
 * 429, 5xx and connection errors with jittered exponential backoff that honours `Retry-After`
 * (bounded in attempts and total time; other 4xx are never retried), the command's
 * {@link Deadline} (every request, retry and backoff ends by then) or else per-request
 * timeouts, a `User-Agent`, and redirects followed by hand under three rules:
 * - a request keeps the scheme it was sent with on the host it was sent to: a redirect from an
 *   HTTPS registry to `http://` on its own host is followed over HTTPS (go-containerregistry pins
 *   the scheme found at ping time the same way), so nothing goes there in cleartext;
 * - a redirect to plain HTTP on another host is refused unless HTTP is allowed for that host
 *   (loopback, or `--allow-http-registry`);
 * - `Authorization` never crosses origins: once a redirect leaves the request's origin the rest
 *   of the chain is anonymous, and the response says where it came from
 *   ({@link redirectedOrigin}), so a challenge met there is not taken for the registry's own.
 * @module
 */

import { CosignError } from "../errors.ts";
import type { Deadline } from "./deadline.ts";
import { PRODUCT, VERSION } from "../version.ts";
import { nodeTlsFetch } from "./node_tls_fetch.ts";
import { isLoopbackRegistry } from "./reference.ts";
import { trace, tracedFetch } from "../trace.ts";

/** Registry transport options (the CLI's registry flags). */
export interface TransportOptions {
  /** PEM CA certificates trusted in addition to the system roots (`--registry-cacert`). */
  caCerts?: string[];
  /** Skip TLS verification (`--allow-insecure-registry`). */
  insecureSkipVerify?: boolean;
  /** PEM client certificate for mutual TLS (`--registry-client-cert`); needs `clientKey`. */
  clientCert?: string;
  /** PEM private key of `clientCert` (`--registry-client-key`). */
  clientKey?: string;
  /**
   * The name every TLS connection sends as SNI and checks the server's certificate against,
   * instead of the host connected to (`--registry-server-name`, Go's `tls.Config.ServerName`).
   */
  serverName?: string;
  /** Allow plain HTTP to non-loopback registries (`--allow-http-registry`). */
  allowHttp?: boolean;
  /**
   * The command's deadline (`--timeout`): no request, retry or backoff outlives it, and work it
   * cuts off fails with `DEADLINE_EXCEEDED`. Shared by every client of one command.
   */
  deadline?: Deadline;
  /**
   * Timeout for one request, including its body, in ms. Default 180 000 (cosign's 3m) when
   * there is no {@link deadline}, none otherwise.
   */
  timeoutMs?: number;
  /** Retry policy. */
  retry?: Partial<RetryPolicy>;
  /** User-Agent header. */
  userAgent?: string;
  /** The fetch to use (tests inject one). */
  fetch?: typeof fetch;
  /** Sleep function (tests inject one). */
  sleep?: (ms: number) => Promise<void>;
}

/** Retry bounds. */
export interface RetryPolicy {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  /** First backoff delay; doubled each retry, with jitter. */
  baseDelayMs: number;
  /** Longest single wait, also the cap on `Retry-After`. */
  maxDelayMs: number;
  /** Give up once this much time has been spent waiting. */
  maxTotalWaitMs: number;
}

const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxTotalWaitMs: 30_000,
};
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const MAX_REDIRECTS = 5;

/** The default User-Agent: product, version, OS and architecture. */
export const USER_AGENT = `${PRODUCT}/${VERSION} (${Deno.build.os}; ${Deno.build.arch})`;

/** A request body that can be produced again for a retry. */
export type BodyFactory = () => BodyInit | null;

/** One request. */
export interface TransportRequest {
  /** The HTTP method. */
  method: string;
  /** The absolute URL. */
  url: string;
  /** Request headers. */
  headers?: Record<string, string>;
  /** The request body, produced anew for each attempt. */
  body?: BodyFactory;
  /** Statuses the caller handles itself (never retried even if retryable). */
  expect?: number[];
  /**
   * The body carries a secret (a refresh token): a redirect to another origin, which would
   * receive the body again, is refused.
   */
  secretBody?: boolean;
  /** What the server is, for messages (default `registry`; e.g. `token server`). */
  peer?: string;
}

/**
 * Decides the scheme for a registry: `https`, unless plain HTTP is allowed for it (loopback
 * hosts, or `allowHttp`), in which case both are candidates, HTTPS first.
 */
export function schemesFor(registry: string, allowHttp: boolean): ("https" | "http")[] {
  return isLoopbackRegistry(registry) || allowHttp ? ["https", "http"] : ["https"];
}

/** The default port of a URL scheme (`https:` or `http:`). */
function defaultPort(protocol: string): string {
  return protocol === "http:" ? "80" : "443";
}

/**
 * True when `url` points at the host and port of `origin`, where a port left out of `url` is
 * read as the default port of `origin`'s scheme (so `http://reg/` is `reg`'s own host when
 * `reg` speaks HTTPS, as go-containerregistry's `matchesHost` reads it).
 */
export function isSameHost(url: URL, origin: URL): boolean {
  return url.hostname === origin.hostname &&
    (url.port || defaultPort(origin.protocol)) === (origin.port || defaultPort(origin.protocol));
}

/**
 * Pins `url` to the scheme of `origin` when it points at `origin`'s host: a request to a host
 * always uses the scheme that host was found to speak. Other hosts are returned unchanged.
 */
export function pinScheme(url: URL, origin: URL): URL {
  if (!isSameHost(url, origin) || url.protocol === origin.protocol) return url;
  const pinned = new URL(url.href);
  pinned.protocol = origin.protocol;
  return pinned;
}

/** Where each response that a redirect took to another origin came from. */
const CROSS_ORIGIN_RESPONSES = new WeakMap<Response, string>();

/**
 * The origin a response came from when redirects took its request away from the origin it was
 * sent to (`undefined` for a response from the request's own origin). Such a response was
 * fetched without credentials, and its challenges belong to that other origin.
 */
export function redirectedOrigin(res: Response): string | undefined {
  return CROSS_ORIGIN_RESPONSES.get(res);
}

function errorChain(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    parts.push(String((c as Error).message ?? c));
  }
  return parts.join(": ");
}

/** True when an error says the server's certificate is not trusted. */
export function isCertificateError(e: unknown): boolean {
  return /invalid peer certificate|certificate|self[- ]signed|UnknownIssuer/i.test(errorChain(e)) &&
    !/corrupt message|InvalidContentType|wrong version number/i.test(errorChain(e));
}

/** True when the server ended the handshake over our client certificate (or its absence). */
export function isClientCertificateRefused(e: unknown): boolean {
  return /(received fatal alert|alert)[: ]+\s*(BadCertificate|CertificateRequired|bad certificate|certificate required|UnknownCA|unknown ca)|ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA)/i
    .test(errorChain(e));
}

/** True when the server's certificate does not name the host (or `--registry-server-name`). */
export function isNameMismatch(e: unknown): boolean {
  return /certificate not valid for name|NotValidForName|does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i
    .test(errorChain(e));
}

/** True when HTTPS was spoken to a plain-HTTP server. */
export function isPlainHttpServer(e: unknown): boolean {
  return /corrupt message|InvalidContentType|wrong version number|packet length too long|http request to an https server/i
    .test(errorChain(e));
}

function shortCause(e: unknown): string {
  const m = errorChain(e);
  const known = m.match(
    /(Connection refused|connection reset|timed out|dns error[^:]*|invalid peer certificate: \w+|tcp connect error|received fatal alert: \w+)/i,
  );
  return known ? known[1]! : m.split(": ").slice(-1)[0]!.slice(0, 200);
}

/**
 * The response with a body whose reads, once the deadline aborted them, fail with the deadline's
 * error (naming `doing`) instead of a bare abort.
 */
function underDeadline(res: Response, deadline: Deadline, doing: string): Response {
  if (!res.body) return res;
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(
          deadline.passed && !(e instanceof CosignError) ? deadline.error(doing) : e,
        );
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  const out = new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
  const origin = CROSS_ORIGIN_RESPONSES.get(res);
  if (origin !== undefined) CROSS_ORIGIN_RESPONSES.set(out, origin);
  return out;
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/**
 * The transport of one process: shared TLS clients and policies.
 * @example
 * ```ts
 * import { RegistryClient } from "@cosign-deno/cosign";
 * // every registry client has one: its requests retry, time out and reuse TLS clients
 * const client = new RegistryClient({ timeoutMs: 10_000, retry: { maxAttempts: 3 } });
 * const res = await client.transport.send({ method: "GET", url: "https://registry.example/v2/" });
 * await res.body?.cancel();
 * client.close();
 * ```
 */
export class Transport {
  /** The options the transport was created with. */
  readonly options: TransportOptions;
  readonly #retry: RetryPolicy;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  #client: Deno.HttpClient | undefined;

  /**
   * Creates a transport.
   * @param options registry flags
   */
  constructor(options: TransportOptions = {}) {
    this.options = options;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    const clientKeyPair = options.clientCert && options.clientKey
      ? { cert: options.clientCert, key: options.clientKey }
      : undefined;
    if (options.fetch) {
      this.#fetch = tracedFetch(options.fetch);
    } else if (options.insecureSkipVerify || options.serverName) {
      // Deno's fetch can neither skip verification nor verify against another name.
      this.#fetch = tracedFetch(nodeTlsFetch({
        verify: !options.insecureSkipVerify,
        ...(options.serverName ? { serverName: options.serverName } : {}),
        ...(options.caCerts ? { caCerts: options.caCerts } : {}),
        ...clientKeyPair,
      }));
    } else {
      if (options.caCerts?.length || clientKeyPair) {
        this.#client = Deno.createHttpClient({
          ...(options.caCerts?.length ? { caCerts: options.caCerts } : {}),
          ...clientKeyPair,
        });
      }
      this.#fetch = tracedFetch(fetch);
    }
  }

  /** Releases the TLS client. */
  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  /**
   * One attempt, with redirects followed by hand: the scheme stays pinned on the request's own
   * host, plain HTTP elsewhere needs HTTP allowed for that host, and `Authorization` is dropped
   * for good once the chain leaves the request's origin.
   */
  async #once(req: TransportRequest, signal: AbortSignal): Promise<Response> {
    const first = new URL(req.url);
    let url = first;
    let method = req.method;
    let body = req.body?.() ?? null;
    const headers = new Headers(req.headers);
    headers.set("User-Agent", this.options.userAgent ?? USER_AGENT);
    for (let hop = 0;; hop++) {
      const init: RequestInit & { client?: Deno.HttpClient } = {
        method,
        headers,
        body,
        redirect: "manual",
        signal,
      };
      if (this.#client) init.client = this.#client;
      const res = await this.#fetch(url.href, init);
      const location = res.headers.get("location");
      if (
        ![301, 302, 303, 307, 308].includes(res.status) || !location ||
        req.expect?.includes(res.status)
      ) {
        if (url.origin !== first.origin) CROSS_ORIGIN_RESPONSES.set(res, url.origin);
        return res;
      }
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) {
        throw new CosignError("REGISTRY_ERROR", `Too many redirects from ${req.url}`);
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new CosignError("REGISTRY_ERROR", `${first.host} sent an invalid redirect Location`);
      }
      if (next.protocol !== "https:" && next.protocol !== "http:") {
        throw new CosignError("REGISTRY_ERROR", `Refusing redirect to ${next.protocol} URL`);
      }
      next = pinScheme(next, first);
      if (
        next.protocol === "http:" && !isSameHost(next, first) &&
        !schemesFor(next.host, this.options.allowHttp ?? false).includes("http")
      ) {
        throw new CosignError(
          "REGISTRY_INSECURE",
          `Refusing a redirect from ${first.host} to plain HTTP on ${next.host}; ` +
            `pass --allow-http-registry to allow plain HTTP to other hosts`,
        );
      }
      if (next.origin !== url.origin) {
        if (req.secretBody && body !== null && (res.status === 307 || res.status === 308)) {
          throw new CosignError(
            "REGISTRY_AUTH",
            `Refusing to follow ${first.host}'s redirect to ${next.origin}: ` +
              `the request carries a secret that is only sent to ${first.origin}`,
          );
        }
        headers.delete("authorization");
        trace(
          `redirect: ${res.status} from ${url.origin} to ${next.origin}; Authorization dropped`,
        );
      } else {
        trace(`redirect: ${res.status} within ${url.origin}`);
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        body = null;
      } else if (body !== null) {
        body = req.body?.() ?? null;
      }
      url = next;
    }
  }

  /**
   * Sends a request with retries. Returns the final response (any status the policy does not
   * retry, or the last retryable one when attempts run out with `expect`ing callers).
   * @throws {CosignError} `REGISTRY_UNAVAILABLE` when the registry cannot be reached or keeps
   *   failing; `REGISTRY_INSECURE` when its certificate is not trusted
   */
  async send(req: TransportRequest): Promise<Response> {
    const url = new URL(req.url);
    const host = url.host;
    const peer = req.peer ?? "registry";
    const deadline = this.options.deadline;
    const perRequest = this.options.timeoutMs ?? (deadline ? undefined : 180_000);
    let waited = 0;
    let last = "";
    let networkError = false;
    const doing = (attempt: number) =>
      `waiting for ${host} to answer ${req.method} ${url.pathname}` +
      (attempt > 1 ? ` (attempt ${attempt}, after ${last})` : "");
    for (let attempt = 1;; attempt++) {
      if (deadline?.passed) throw deadline.error(doing(attempt));
      const signals: AbortSignal[] = [];
      if (deadline) signals.push(deadline.signal);
      if (perRequest !== undefined) signals.push(AbortSignal.timeout(perRequest));
      const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
      let delay: number | undefined;
      try {
        const res = await this.#once(req, signal);
        if (!RETRY_STATUS.has(res.status) || req.expect?.includes(res.status)) {
          return deadline
            ? underDeadline(
              res,
              deadline,
              `reading the answer to ${req.method} ${url.pathname} from ${host}`,
            )
            : res;
        }
        last = `HTTP ${res.status}`;
        networkError = false;
        delay = retryAfterMs(res.headers.get("retry-after"));
        await res.body?.cancel();
      } catch (e) {
        if (e instanceof CosignError) throw e;
        if (deadline?.passed) throw deadline.error(doing(attempt));
        if (isClientCertificateRefused(e)) {
          throw new CosignError(
            "REGISTRY_AUTH",
            `Cannot connect to ${host}: it refused ${
              this.options.clientCert
                ? "our client certificate"
                : "a connection without a client certificate"
            } (${
              shortCause(e)
            }); pass --registry-client-cert FILE and --registry-client-key FILE ` +
              `with a certificate its CA issued`,
          );
        }
        if (isNameMismatch(e)) {
          throw new CosignError(
            "REGISTRY_INSECURE",
            `Cannot connect to ${host}: its TLS certificate is not valid for ${
              this.options.serverName ?? new URL(req.url).hostname
            } (${
              shortCause(e)
            }); pass --registry-server-name NAME with a name the certificate holds`,
          );
        }
        if (isCertificateError(e)) {
          throw new CosignError(
            "REGISTRY_INSECURE",
            `Cannot connect to ${peer} ${host}: its TLS certificate is not trusted (${
              shortCause(e)
            }); ` +
              `pass --registry-cacert FILE to trust its CA, or --allow-insecure-registry`,
          );
        }
        if (isPlainHttpServer(e)) throw e; // the caller decides about falling back to HTTP
        networkError = true;
        last = (e as Error).name === "TimeoutError"
          ? `timed out after ${perRequest} ms`
          : shortCause(e);
      }
      const backoff = Math.min(
        this.#retry.maxDelayMs,
        this.#retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random()),
      );
      const wait = Math.min(this.#retry.maxDelayMs, delay ?? backoff);
      if (attempt >= this.#retry.maxAttempts || waited + wait > this.#retry.maxTotalWaitMs) {
        const tries = `${attempt} attempt${attempt === 1 ? "" : "s"}`;
        throw new CosignError(
          "REGISTRY_UNAVAILABLE",
          networkError
            ? `Cannot reach ${peer} ${host}: ${last} (${tries})`
            : `${peer[0]!.toUpperCase()}${
              peer.slice(1)
            } ${host} kept failing: ${last} on ${req.method} ${url.pathname} after ${tries}`,
        );
      }
      waited += wait;
      trace(
        `retry: ${req.method} ${host}: ${last}; attempt ${attempt + 1} in ${Math.round(wait)} ms`,
      );
      if (deadline) {
        const retrying =
          `waiting to retry ${req.method} ${url.pathname} on ${host} (after ${last})`;
        await deadline.wait(wait, retrying, this.#sleep);
      } else await this.#sleep(wait);
    }
  }
}
