/**
 * A `fetch` for `--allow-insecure-registry`: HTTPS without certificate verification, which
 * Deno's `fetch` cannot do at run time. Built on `node:https` with `rejectUnauthorized: false`;
 * bodies stream both ways. Only the registry client uses it, and only when asked.
 * @module
 */

import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { Readable } from "node:stream";

/** `fetch` with TLS certificate verification turned off. Redirects are never followed. */
export function insecureFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const url = new URL(input);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((v, k) => headers[k] = v);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
      method: init.method ?? "GET",
      headers,
      rejectUnauthorized: false,
    }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
      }
      const nullBody = init.method === "HEAD" || [204, 304].includes(res.statusCode ?? 0);
      const body = nullBody ? null : Readable.toWeb(res) as ReadableStream<Uint8Array>;
      resolve(new Response(body, { status: res.statusCode ?? 0, headers: h }));
    });
    req.on("error", reject);
    init.signal?.addEventListener("abort", () => req.destroy(new Error("aborted")));
    const body = init.body;
    if (body === undefined || body === null) {
      req.end();
    } else if (body instanceof ReadableStream) {
      Readable.fromWeb(body as ReadableStream<Uint8Array>).pipe(req);
    } else if (body instanceof Uint8Array || typeof body === "string") {
      req.end(body);
    } else {
      new Response(body).arrayBuffer().then((b) => req.end(new Uint8Array(b)), reject);
    }
  });
}
