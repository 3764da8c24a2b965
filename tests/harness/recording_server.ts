/**
 * A "far end" HTTP server for redirect tests: records every request and answers with a configurable
 * response (default 200, empty body). `Deno.serve` on 127.0.0.1, free port.
 * @module
 */

/** One recorded request. */
export interface RecordedRequest {
  method: string;
  /** Path with query. */
  path: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A running recording server. */
export interface RecordingServer extends AsyncDisposable {
  /** "http://127.0.0.1:PORT" */
  url: string;
  requests: RecordedRequest[];
  /** Sets the answer for all following requests (no body is sent for HEAD). */
  respond(status: number, body: Uint8Array, headers?: Record<string, string>): void;
  stop(): Promise<void>;
}

/** Starts a recording server. */
export function startRecordingServer(): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  let answer: { status: number; body: Uint8Array; headers: Record<string, string> } = {
    status: 200,
    body: new Uint8Array(0),
    headers: {},
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const headers: Record<string, string> = {};
    for (const [k, v] of req.headers) headers[k] = v;
    const body = req.body ? await req.bytes() : new Uint8Array(0);
    requests.push({ method: req.method, path: u.pathname + u.search, headers, body });
    const empty = req.method === "HEAD" || answer.status === 204 || answer.status === 304;
    const h = new Headers(answer.headers);
    if (req.method === "HEAD" && !h.has("content-length")) {
      h.set("content-length", String(answer.body.length));
    }
    return new Response(empty ? null : new Uint8Array(answer.body), {
      status: answer.status,
      headers: h,
    });
  });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= server.shutdown());
  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    respond(status: number, body: Uint8Array, headers: Record<string, string> = {}) {
      answer = { status, body: new Uint8Array(body), headers: { ...headers } };
    },
    stop,
    [Symbol.asyncDispose]: stop,
  });
}
