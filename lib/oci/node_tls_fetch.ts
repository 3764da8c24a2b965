/**
 * A `fetch` over `node:https` for the TLS settings Deno's `fetch` cannot express:
 * `--allow-insecure-registry` (no certificate verification) and `--registry-server-name` (the
 * name the server's certificate is checked against, and sent as SNI, differs from the host
 * connected to). Client certificates and extra CAs ride along. Bodies stream both ways. Only the
 * registry client uses it, and only when asked.
 * @module
 */

import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { rootCertificates } from "node:tls";
import { Readable } from "node:stream";

/** TLS settings of {@link nodeTlsFetch}. */
export interface NodeTlsOptions {
  /** Verify the server's certificate (default true). */
  verify?: boolean;
  /** The name to verify the certificate against and send as SNI (default: the URL's host). */
  serverName?: string;
  /** PEM CA certificates trusted besides the system roots. */
  caCerts?: string[];
  /** PEM client certificate (chain) for mutual TLS. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
}

/** A `fetch` with the given TLS settings. Redirects are never followed. */
export function nodeTlsFetch(tls: NodeTlsOptions): typeof fetch {
  const ca = tls.caCerts?.length ? [...rootCertificates, ...tls.caCerts] : undefined;
  return ((input: string | URL, init: RequestInit = {}) => {
    const url = new URL(input);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => headers[k] = v);
    return new Promise<Response>((resolve, reject) => {
      const options = {
        method: init.method ?? "GET",
        headers,
        rejectUnauthorized: tls.verify ?? true,
        ...(tls.serverName ? { servername: tls.serverName } : {}),
        ...(ca ? { ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
      };
      const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
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
  }) as typeof fetch;
}
