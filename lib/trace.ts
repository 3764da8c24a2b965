/**
 * The debug trace (`cosign -d/--verbose`): requests and the decisions taken on their answers,
 * one line each, sent to a sink the CLI installs (libraries never print). Without a sink every
 * call here is a no-op costing one comparison.
 *
 * Secrets never reach the sink: header values that carry credentials (`Authorization`,
 * cookies, tokens, keys) and query parameters that do (tokens, signatures, codes) are replaced
 * by `<redacted>`, so are user:password parts of URLs, and bodies are never traced.
 * @module
 */

/** Receives trace lines. */
export type TraceSink = (line: string) => void;

let sink: TraceSink | undefined;

/** Installs (or with `undefined` removes) the trace sink. */
export function setTraceSink(s: TraceSink | undefined): void {
  sink = s;
}

/** True when a sink is installed (to skip building costly lines). */
export function tracing(): boolean {
  return sink !== undefined;
}

/** Sends one line to the sink; `line` may be a function, called only when tracing. */
export function trace(line: string | (() => string)): void {
  if (!sink) return;
  sink(typeof line === "string" ? line : line());
}

/** What replaces a secret. */
export const REDACTED = "<redacted>";

const SECRET_HEADER = /authorization|cookie|token|secret|password|api-?key|x-amz-security|x-vault/i;
const SECRET_PARAM =
  /token|secret|password|passwd|code|key|sig|signature|credential|assertion|auth|session/i;

/** A URL fit for the trace: user info and secret-looking query values redacted. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return REDACTED; // not a URL: it could be anything
  }
  if (u.username || u.password) {
    u.username = "redacted";
    u.password = "";
  }
  const params = [...u.searchParams.keys()];
  for (const k of new Set(params)) {
    if (SECRET_PARAM.test(k)) u.searchParams.set(k, REDACTED);
  }
  return u.href;
}

/** Text (an error message) with every URL in it redacted by {@link redactUrl}. */
export function redactText(text: string): string {
  return text.replace(/https?:\/\/[^\s)"'<>]+/g, (u) => redactUrl(u));
}

/** Headers as `Name: value` pairs, credentials redacted. */
export function redactHeaders(h: HeadersInit | undefined): string {
  const out: string[] = [];
  new Headers(h).forEach((v, k) => {
    out.push(`${k}: ${SECRET_HEADER.test(k) && k !== "www-authenticate" ? REDACTED : v}`);
  });
  return out.join("; ");
}

const TRACED = Symbol("traced");

/**
 * Wraps a `fetch` so each request and its answer are traced (method, URL, headers, status,
 * time; never bodies). With no sink installed the wrapper only forwards. A `fetch` already
 * wrapped is returned as it is, so no request is traced twice.
 */
export function tracedFetch(inner: typeof fetch): typeof fetch {
  if ((inner as { [TRACED]?: true })[TRACED]) return inner;
  const wrapped = (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (!sink) return await inner(input, init);
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const headers = init?.headers ?? (input instanceof Request ? input.headers : undefined);
    trace(`--> ${method} ${redactUrl(url)}${headers ? ` [${redactHeaders(headers)}]` : ""}`);
    const start = performance.now();
    try {
      const res = await inner(input, init);
      trace(
        `<-- ${res.status} ${method} ${redactUrl(url)} (${
          Math.round(performance.now() - start)
        } ms) [${redactHeaders(res.headers)}]`,
      );
      return res;
    } catch (e) {
      const why: string[] = [];
      for (let c: unknown = e; c && why.length < 5; c = (c as { cause?: unknown }).cause) {
        why.push(String((c as Error).message ?? c));
      }
      trace(`<-- failed ${method} ${redactUrl(url)}: ${redactText(why.join(": "))}`);
      throw e;
    }
  }) as typeof fetch;
  Object.defineProperty(wrapped, TRACED, { value: true });
  return wrapped;
}
