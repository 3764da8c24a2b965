/**
 * A loopback HTTP reverse proxy in front of a registry (http upstream only), for fault injection
 * and request counting.
 *
 * Layout: a raw TCP front listener (the proxy's public port) relays every accepted connection to
 * an internal `Deno.serve` listener. `Deno.serve` always answers something (a thrown handler becomes
 * a 500), so the `drop` fault closes the client's TCP connection in the relay instead; the handler
 * finds it by the internal connection's peer port.
 *
 * Forwarding: method, path+query, headers (Host rewritten, hop-by-hop headers dropped,
 * Authorization kept), request body (buffered when Content-Length ≤ 1 MiB so the upstream sees a
 * Content-Length, streamed (chunked) otherwise), response status/headers/body streamed with the
 * upstream Content-Length kept. `Location` headers pointing at the upstream origin are rewritten
 * to the proxy's origin; `WWW-Authenticate` is left alone. By default every answer carries
 * `Connection: close` (see {@link FaultProxyOptions.keepAlive}).
 *
 * Referrers API (opt-in, {@link FaultProxyOptions.referrers}): the proxy then stands in for a
 * registry with the OCI distribution-spec v1.1 referrers API (`GET /v2/<name>/referrers/<digest>`),
 * because no registry that has one installs here (Debian's `docker-registry` 2.8 has none, apt and
 * npm offer no other). It serves that endpoint itself from an index of the manifests with a
 * `subject` that were pushed (and accepted by the upstream) *through the proxy*; everything else,
 * the manifests and blobs included, still lives in the real registry's storage. See
 * {@link ReferrersApiOptions}.
 * @module
 */

import type { Registry } from "./registry.ts";
import { sleep } from "./util.ts";

/** What to do instead of plain forwarding. */
export type Fault =
  /** Answer this instead of forwarding (the request body is read and discarded first). */
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Read the request, then close the client connection without any response. */
  | { drop: true }
  /** Forward after a delay. */
  | { delayMs: number }
  /** Forward once `gate` settles (a test holds a request back until something else happened). */
  | { gate: Promise<unknown> }
  /** Forward, but end the response body after N bytes (Content-Length kept → short body). */
  | { truncate: number }
  /** Forward, but XOR 0x01 one body byte (at `offset`, default the middle when the length is known, else 0). */
  | { corrupt: true; offset?: number }
  /** Answer 307 with Location: redirectTo (+ original path and query if it ends with "/"). */
  | { redirectTo: string };

/** Applies `fault` to the next `times` requests matching `method` (any when absent) and `path`. */
export interface FaultRule {
  method?: string;
  /** Tested against the URL path (without the query). */
  path: RegExp;
  times: number;
  fault: Fault;
}

/** One request seen by the proxy. */
export interface ProxyLogEntry {
  method: string;
  /** URL path without query. */
  path: string;
  /** Path with query. */
  url: string;
  /** Status sent to the client (0 while in flight, and for `drop`). */
  status: number;
  /** Whether the request carried an Authorization header. */
  authorization: boolean;
  /** Kind of fault applied ("status", "drop", "delay", "gate", "truncate", "corrupt", "redirect"). */
  fault?: string;
}

/** An OCI content descriptor, as listed in a referrers answer. */
export interface Descriptor {
  mediaType: string;
  /** "sha256:<hex>" of the exact manifest bytes pushed. */
  digest: string;
  size: number;
  /** The manifest's `artifactType`, else its config's `mediaType`. */
  artifactType?: string;
  /** The manifest's annotations (absent when it has none). */
  annotations?: Record<string, string>;
}

/**
 * The referrers API the proxy serves (OCI distribution-spec v1.1, "Listing Referrers").
 *
 * - Index: a `PUT /v2/<name>/manifests/<ref>` answered 2xx by the upstream, whose body is a JSON
 *   manifest with a `subject`, adds a {@link Descriptor} under (name, subject.digest); the same
 *   digest is listed once (a re-push replaces the entry in place). A `DELETE
 *   /v2/<name>/manifests/<digest>` answered 2xx removes that digest from every list of that
 *   repository. Manifests pushed to the upstream directly are not seen.
 * - `GET /v2/<name>/referrers/<digest>` (digest must be `sha256:<64 hex>`, else 400
 *   `DIGEST_INVALID`) answers 200 with an image index (`Content-Type:
 *   application/vnd.oci.image.index.v1+json`) listing the referrers in push order, an empty
 *   `manifests` list when there are none (never 404). Before answering, the proxy asks the
 *   upstream `GET /v2/<name>/tags/list` with the client's `Authorization` and relays a 401/403
 *   (with its `WWW-Authenticate`), so auth modes behave as on a real registry; that upstream
 *   request is not in the log.
 * - Faults ({@link FaultProxy.inject}) and `latencyMs` apply to the endpoint first, as to any
 *   request, and the request is logged; `truncate`/`corrupt` act on the served body.
 */
export interface ReferrersApiOptions {
  /**
   * Honour `?artifactType=X` (default true): answer only matching entries, with
   * `OCI-Filters-Applied: artifactType`. False: ignore the parameter and send no such header, as
   * a registry that does not filter (the client must filter itself).
   */
  filter?: boolean;
  /**
   * At most this many entries per answer (default unlimited). When more remain the answer carries
   * `Link: </v2/<name>/referrers/<digest>?n=<n>&last=<cursor>[&artifactType=<t>]>; rel="next"`
   * (RFC 5988, relative URL); `last` is an opaque cursor. A client's own `n` lowers the page size
   * further.
   */
  pageSize?: number;
}

/** A running fault proxy. */
export interface FaultProxy extends AsyncDisposable {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** "127.0.0.1:PORT" */
  host: string;
  /** The upstream origin. */
  upstream: string;
  inject(rule: FaultRule): void;
  /** Requests seen (including faulted and in-flight ones) with this method (and path match). */
  count(method: string, path?: RegExp): number;
  log: ProxyLogEntry[];
  /** Clears the log and all rules (not the referrers index). */
  reset(): void;
  /**
   * The referrers indexed for `digest` in repository `repo` (copies, push order, unfiltered);
   * always empty without {@link FaultProxyOptions.referrers}.
   */
  referrersIndexed(repo: string, digest: string): Descriptor[];
  stop(): Promise<void>;
}

const HOP = new Set([
  "connection",
  "expect",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
const BUFFER_LIMIT = 1 << 20;

function faultKind(f: Fault): string {
  if ("drop" in f) return "drop";
  if ("delayMs" in f) return "delay";
  if ("gate" in f) return "gate";
  if ("truncate" in f) return "truncate";
  if ("corrupt" in f) return "corrupt";
  if ("redirectTo" in f) return "redirect";
  return "status";
}

function noBody(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
}

async function drain(req: Request): Promise<void> {
  if (!req.body) return;
  try {
    for await (const _ of req.body) { /* discard */ }
  } catch { /* client went away */ }
}

/** Passes the first `n` bytes of `body`, then ends (or, with `fail`, errors) the stream. */
function truncated(
  body: ReadableStream<Uint8Array>,
  n: number,
  fail: boolean,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let left = n;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await reader.read();
      if (r.done) return c.close(); // shorter than n: nothing to cut
      if (left <= 0 || r.value.length > left) {
        if (left > 0) c.enqueue(r.value.subarray(0, left));
        left = 0;
        await reader.cancel().catch(() => {});
        if (fail) c.error(new Error("fault proxy: truncated"));
        else c.close();
        return;
      }
      left -= r.value.length;
      c.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function corrupted(body: ReadableStream<Uint8Array>, offset: number): ReadableStream<Uint8Array> {
  let pos = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        if (offset >= pos && offset < pos + chunk.length) {
          const copy = new Uint8Array(chunk);
          copy[offset - pos]! ^= 0x01;
          chunk = copy;
        }
        pos += chunk.length;
        c.enqueue(chunk);
      },
    }),
  );
}

interface Relay {
  front: Deno.Conn;
  back: Deno.Conn;
  close(): void;
}

async function pump(src: Deno.Conn, dst: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await src.read(buf);
    if (n === null) return;
    let off = 0;
    while (off < n) off += await dst.write(buf.subarray(off, n));
  }
}

const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
const REFERRERS_PATH = /^\/v2\/(.+)\/referrers\/([^/]*)$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The (subject digest, descriptor) a pushed manifest adds to the referrers index, if any. */
async function referrerOf(
  body: Uint8Array<ArrayBuffer>,
  contentType: string | null,
): Promise<{ subject: string; desc: Descriptor } | undefined> {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
  if (!isObject(m) || !isObject(m.subject) || typeof m.subject.digest !== "string") {
    return undefined;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const desc: Descriptor = {
    mediaType: typeof m.mediaType === "string"
      ? m.mediaType
      : (contentType ?? "").split(";")[0]!.trim(),
    digest: "sha256:" + Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join(""),
    size: body.length,
  };
  if (typeof m.artifactType === "string") desc.artifactType = m.artifactType;
  else if (isObject(m.config) && typeof m.config.mediaType === "string") {
    desc.artifactType = m.config.mediaType;
  }
  if (isObject(m.annotations) && Object.keys(m.annotations).length > 0) {
    desc.annotations = { ...m.annotations } as Record<string, string>;
  }
  return { subject: m.subject.digest, desc };
}

interface IndexedReferrer {
  /** Push order; the pagination cursor. */
  seq: number;
  desc: Descriptor;
}

/** Referrers by repository and subject digest, in push order, one entry per digest. */
class ReferrersIndex {
  #seq = 0;
  /** Key: `${repo}\0${subject}`; inner map keyed by referrer digest (insertion order kept). */
  #lists = new Map<string, Map<string, IndexedReferrer>>();

  add(repo: string, subject: string, desc: Descriptor): void {
    const key = `${repo}\0${subject}`;
    let list = this.#lists.get(key);
    if (!list) this.#lists.set(key, list = new Map());
    const old = list.get(desc.digest);
    list.set(desc.digest, { seq: old?.seq ?? ++this.#seq, desc });
  }

  remove(repo: string, digest: string): void {
    for (const [key, list] of this.#lists) {
      if (key.startsWith(`${repo}\0`)) list.delete(digest);
    }
  }

  list(repo: string, subject: string): IndexedReferrer[] {
    return [...(this.#lists.get(`${repo}\0${subject}`)?.values() ?? [])];
  }
}

function registryError(status: number, code: string, message: string): Response {
  return Response.json({ errors: [{ code, message }] }, {
    status,
    headers: { "docker-distribution-api-version": "registry/2.0" },
  });
}

/** Options for {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /**
   * Let clients reuse connections (default false: every answer carries `Connection: close`).
   * Off by default because Deno's fetch silently retries a request once when a *reused* pooled
   * connection closes before the response (denoland/deno#32566, #36415; non-streaming bodies,
   * even PUT/POST): with keep-alive a `drop` fault would usually be invisible to a Deno client and
   * the upstream would see the request twice.
   */
  keepAlive?: boolean;
  /**
   * Latency added to every request before it is forwarded, ms (called once per request, so it
   * may be random): a registry far away.
   */
  latencyMs?: () => number;
  /**
   * Serve the OCI 1.1 referrers API over the upstream's storage (see {@link ReferrersApiOptions}).
   * Absent (default): `/v2/<name>/referrers/…` is forwarded like any path (distribution answers 404).
   */
  referrers?: ReferrersApiOptions;
}

/** Starts a fault proxy in front of `upstream` (a Registry, or an http:// origin). */
export function startFaultProxy(
  upstream: Registry | string,
  opts: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const keepAlive = opts.keepAlive ?? false;
  const refs = opts.referrers;
  const pageSize = refs?.pageSize ?? Infinity;
  if (!(pageSize === Infinity || (Number.isSafeInteger(pageSize) && pageSize > 0))) {
    return Promise.reject(new Error(`fault proxy: bad referrers.pageSize ${pageSize}`));
  }
  const index = new ReferrersIndex();
  const upstreamOrigin = new URL(typeof upstream === "string" ? upstream : upstream.url).origin;
  if (!upstreamOrigin.startsWith("http://")) {
    return Promise.reject(
      new Error(`fault proxy supports http upstreams only, got ${upstreamOrigin}`),
    );
  }
  const stopCtl = new AbortController();
  const client = Deno.createHttpClient({});
  const rules: FaultRule[] = [];
  const log: ProxyLogEntry[] = [];
  const relays = new Map<number, Relay>(); // key: port of the relay's connection to the inner server
  const tasks = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const q = p.catch(() => {}).finally(() => tasks.delete(q));
    tasks.add(q);
  };

  const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const host = `127.0.0.1:${front.addr.port}`;
  const origin = `http://${host}`;

  const handle = async (req: Request, info: Deno.ServeHandlerInfo) => {
    const u = new URL(req.url);
    const entry: ProxyLogEntry = {
      method: req.method,
      path: u.pathname,
      url: u.pathname + u.search,
      status: 0,
      authorization: req.headers.has("authorization"),
    };
    log.push(entry);
    let fault: Fault | undefined;
    for (const r of rules) {
      if (r.times <= 0) continue;
      if (r.method !== undefined && r.method.toUpperCase() !== req.method) continue;
      r.path.lastIndex = 0;
      if (!r.path.test(u.pathname)) continue;
      r.times--;
      fault = r.fault;
      break;
    }
    const reply = (res: Response) => {
      entry.status = res.status;
      if (!keepAlive) res.headers.set("connection", "close");
      return res;
    };
    if (fault) entry.fault = faultKind(fault);

    if (fault && "status" in fault) {
      await drain(req);
      const body = noBody(req.method, fault.status) ? null : (fault.body ?? "");
      return reply(new Response(body, { status: fault.status, headers: fault.headers ?? {} }));
    }
    if (fault && "drop" in fault) {
      await drain(req);
      relays.get((info.remoteAddr as Deno.NetAddr).port)?.close();
      // Nothing reaches the client any more; Deno.serve writes this into a closed socket.
      return new Response(null, { status: 502 });
    }
    if (fault && "redirectTo" in fault) {
      await drain(req);
      const loc = fault.redirectTo.endsWith("/")
        ? fault.redirectTo.slice(0, -1) + u.pathname + u.search
        : fault.redirectTo;
      return reply(new Response(null, { status: 307, headers: { location: loc } }));
    }
    if (fault && "delayMs" in fault) await sleep(fault.delayMs, stopCtl.signal);
    if (fault && "gate" in fault) await fault.gate.catch(() => {});
    if (opts.latencyMs) await sleep(opts.latencyMs(), stopCtl.signal);

    const referrersMatch = refs && (req.method === "GET" || req.method === "HEAD")
      ? REFERRERS_PATH.exec(u.pathname)
      : null;
    const manifestMatch = refs && (req.method === "PUT" || req.method === "DELETE")
      ? MANIFEST_PATH.exec(u.pathname)
      : null;
    let up: Response;
    if (referrersMatch) {
      up = await serveReferrers(referrersMatch[1]!, referrersMatch[2]!, u, req.headers);
    } else {
      // Forward.
      const headers = new Headers();
      for (const [k, v] of req.headers) {
        if (!HOP.has(k) && k !== "host" && k !== "content-length") headers.append(k, v);
      }
      let body: BodyInit | null = null;
      let manifestBody: Uint8Array<ArrayBuffer> | undefined;
      if (req.body && req.method !== "GET" && req.method !== "HEAD") {
        const len = Number(req.headers.get("content-length") ?? NaN);
        if (manifestMatch && req.method === "PUT") body = manifestBody = await req.bytes();
        else body = Number.isFinite(len) && len <= BUFFER_LIMIT ? await req.bytes() : req.body;
      }
      try {
        up = await fetch(upstreamOrigin + u.pathname + u.search, {
          method: req.method,
          headers,
          body,
          redirect: "manual",
          client,
          signal: stopCtl.signal,
        });
      } catch (e) {
        return reply(new Response(`fault proxy: upstream failed: ${e}\n`, { status: 502 }));
      }
      if (manifestMatch && up.status >= 200 && up.status < 300) {
        const [, repo, ref] = manifestMatch as unknown as [string, string, string];
        if (req.method === "DELETE" && SHA256_DIGEST.test(ref)) index.remove(repo, ref);
        if (manifestBody) {
          const r = await referrerOf(manifestBody, req.headers.get("content-type"));
          if (r) index.add(repo, r.subject, r.desc);
        }
      }
    }
    const out = new Headers();
    for (const [k, v] of up.headers) {
      if (HOP.has(k)) continue;
      if (k === "location" && v.startsWith(upstreamOrigin)) {
        out.append(k, origin + v.slice(upstreamOrigin.length));
      } else out.append(k, v);
    }
    let resBody: ReadableStream<Uint8Array> | null = up.body;
    if (noBody(req.method, up.status)) {
      await resBody?.cancel();
      resBody = null;
    }
    if (resBody && fault && "truncate" in fault) {
      // With a Content-Length an early clean end is a short body; a chunked body must be aborted
      // instead (a clean end would look complete).
      const chunked = !up.headers.has("content-length");
      resBody = truncated(resBody, fault.truncate, chunked);
    }
    if (resBody && fault && "corrupt" in fault) {
      const len = Number(up.headers.get("content-length") ?? NaN);
      const offset = fault.offset ?? (Number.isFinite(len) ? Math.floor(len / 2) : 0);
      resBody = corrupted(resBody, offset);
    }
    return reply(new Response(resBody, { status: up.status, headers: out }));
  };

  /** The referrers API answer for `GET /v2/<repo>/referrers/<digest>` (see ReferrersApiOptions). */
  const serveReferrers = async (
    repo: string,
    digest: string,
    u: URL,
    reqHeaders: Headers,
  ): Promise<Response> => {
    if (!SHA256_DIGEST.test(digest)) {
      return registryError(400, "DIGEST_INVALID", `invalid digest ${JSON.stringify(digest)}`);
    }
    // Auth as the upstream enforces it for pulls from this repository.
    const auth = reqHeaders.get("authorization");
    let check: Response;
    try {
      check = await fetch(`${upstreamOrigin}/v2/${repo}/tags/list`, {
        headers: auth ? { authorization: auth } : {},
        redirect: "manual",
        client,
        signal: stopCtl.signal,
      });
    } catch (e) {
      return new Response(`fault proxy: upstream failed: ${e}\n`, { status: 502 });
    }
    if (check.status === 401 || check.status === 403) {
      const h = new Headers();
      for (const k of ["www-authenticate", "content-type", "docker-distribution-api-version"]) {
        const v = check.headers.get(k);
        if (v !== null) h.set(k, v);
      }
      return new Response(await check.text(), { status: check.status, headers: h });
    }
    await check.body?.cancel();

    const q = u.searchParams;
    let items = index.list(repo, digest);
    const artifactType = q.get("artifactType");
    const filtered = refs!.filter !== false && artifactType !== null;
    if (filtered) items = items.filter((e) => e.desc.artifactType === artifactType);
    const last = q.get("last");
    if (last !== null) {
      const seq = Number(last);
      if (!/^\d+$/.test(last) || !Number.isSafeInteger(seq)) {
        return registryError(400, "PAGINATION_NUMBER_INVALID", `invalid last ${last}`);
      }
      items = items.filter((e) => e.seq > seq);
    }
    let size = pageSize;
    const n = q.get("n");
    if (n !== null && /^\d+$/.test(n) && Number(n) > 0) size = Math.min(size, Number(n));
    const page = items.slice(0, size);
    const headers = new Headers({
      "content-type": OCI_INDEX_TYPE,
      "docker-distribution-api-version": "registry/2.0",
    });
    if (filtered) headers.set("oci-filters-applied", "artifactType");
    if (items.length > page.length) {
      const next = new URLSearchParams({ n: String(size), last: String(page.at(-1)!.seq) });
      if (artifactType !== null) next.set("artifactType", artifactType);
      headers.set("link", `</v2/${repo}/referrers/${digest}?${next}>; rel="next"`);
    }
    const body = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX_TYPE,
      manifests: page.map((e) => e.desc),
    }));
    headers.set("content-length", String(body.length));
    return new Response(body, { status: 200, headers });
  };

  const inner = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: stopCtl.signal },
    (req, info) => handle(req, info),
  );

  const innerPort = (inner.addr as Deno.NetAddr).port;
  const acceptLoop = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await front.accept();
      } catch {
        return; // listener closed
      }
      let back: Deno.Conn;
      try {
        back = await Deno.connect({ hostname: "127.0.0.1", port: innerPort });
      } catch {
        conn.close();
        continue;
      }
      const key = (back.localAddr as Deno.NetAddr).port;
      let closed = false;
      const relay: Relay = {
        front: conn,
        back,
        close() {
          if (closed) return;
          closed = true;
          relays.delete(key);
          try {
            conn.close();
          } catch { /* already closed */ }
          try {
            back.close();
          } catch { /* already closed */ }
        },
      };
      relays.set(key, relay);
      const a = pump(conn, back), b = pump(back, conn);
      // Either direction ending ends the pair (HTTP needs no half-close here).
      track(
        Promise.race([a, b]).catch(() => {}).then(() => {
          relay.close();
          return Promise.allSettled([a, b]);
        }),
      );
    }
  })();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopCtl.abort(new Error("fault proxy stopped"));
      try {
        front.close();
      } catch { /* closed */ }
      await acceptLoop;
      for (const r of [...relays.values()]) r.close();
      await inner.finished;
      await Promise.allSettled([...tasks]);
      client.close();
    })();
    return stopped;
  };

  return Promise.resolve({
    url: origin,
    host,
    upstream: upstreamOrigin,
    log,
    inject(rule: FaultRule) {
      rules.push({ ...rule });
    },
    count(method: string, path?: RegExp) {
      const m = method.toUpperCase();
      return log.filter((e) => {
        if (e.method !== m) return false;
        if (!path) return true;
        path.lastIndex = 0;
        return path.test(e.path);
      }).length;
    },
    reset() {
      log.length = 0;
      rules.length = 0;
    },
    referrersIndexed(repo: string, digest: string) {
      return index.list(repo, digest).map((e) => structuredClone(e.desc));
    },
    stop,
    [Symbol.asyncDispose]: stop,
  });
}
