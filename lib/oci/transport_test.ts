import { assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { RegistryClient } from "./registry.ts";
import type { KnownHost } from "./registry.ts";
import {
  isSameHost,
  pinScheme,
  redirectedOrigin,
  retryAfterMs,
  schemesFor,
  Transport,
} from "./transport.ts";

Deno.test("transport: plain HTTP only for loopback hosts or with --allow-http-registry", () => {
  for (const h of ["localhost:5000", "127.0.0.1:5000", "[::1]:5000", "x.localhost"]) {
    assertEquals(schemesFor(h, false), ["https", "http"], h);
  }
  for (const h of ["ghcr.io", "10.0.0.5:5000", "192.168.1.10", "registry.local:5000"]) {
    assertEquals(schemesFor(h, false), ["https"], h);
    assertEquals(schemesFor(h, true), ["https", "http"], h);
  }
});

Deno.test("transport: a non-loopback registry speaking HTTP is refused without the flag (no traffic)", async () => {
  const urls: string[] = [];
  const plainHttp = (input: RequestInfo | URL) => {
    urls.push(String(input));
    return Promise.reject(
      new TypeError("fetch failed", {
        cause: new Error("received corrupt message of type InvalidContentType"),
      }),
    );
  };
  const client = new RegistryClient({
    fetch: plainHttp as typeof fetch,
    keychain: () => Promise.resolve(undefined),
  });
  let err: unknown;
  await client.getManifest({ registry: "registry.example:5000", repository: "x", tag: "t" }).catch((
    e,
  ) => err = e);
  assertEquals(err instanceof CosignError && err.code === "REGISTRY_INSECURE", true, String(err));
  assertEquals(/--allow-http-registry/.test((err as Error).message), true);
  assertEquals(urls, ["https://registry.example:5000/v2/x/manifests/t"], "never tried http://");
  const allowed = new RegistryClient({
    fetch: ((input: RequestInfo | URL) => {
      urls.push(String(input));
      return String(input).startsWith("http:")
        ? Promise.resolve(new Response("", { status: 404 }))
        : plainHttp(input);
    }) as typeof fetch,
    allowHttp: true,
    keychain: () => Promise.resolve(undefined),
  });
  await allowed.getManifest({ registry: "registry.example:5000", repository: "x", tag: "t" }).catch(
    (e) => err = e,
  );
  assertEquals(urls.at(-1), "http://registry.example:5000/v2/x/manifests/t");
});

Deno.test("transport: Retry-After in seconds and as a date", () => {
  assertEquals(retryAfterMs("3"), 3000);
  assertEquals(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000);
  assertEquals(retryAfterMs("soon"), undefined);
  assertEquals(retryAfterMs(null), undefined);
});

Deno.test("transport: retries 429/5xx and network errors with backoff, never other 4xx", async () => {
  const waits: number[] = [];
  let n = 0;
  const answers = [429, 503, 200];
  const t = new Transport({
    fetch: () => {
      const status = answers[n++]!;
      return Promise.resolve(
        new Response("", { status, headers: status === 429 ? { "retry-after": "2" } : {} }),
      );
    },
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
  });
  assertEquals((await t.send({ method: "GET", url: "https://r.example/v2/" })).status, 200);
  assertEquals(waits[0], 2000, "Retry-After honoured");
  assertEquals(waits.length, 2);
  n = 0;
  const notRetried = new Transport({
    fetch: () => (n++, Promise.resolve(new Response("", { status: 404 }))),
  });
  assertEquals((await notRetried.send({ method: "GET", url: "https://r.example/x" })).status, 404);
  assertEquals(n, 1);
  let calls = 0;
  const down = new Transport({
    fetch:
      () => (calls++,
        Promise.reject(new TypeError("fetch failed", { cause: new Error("Connection refused") }))),
    sleep: () => Promise.resolve(),
  });
  let msg = "";
  await down.send({ method: "GET", url: "https://r.example/x" }).catch((e) => msg = e.message);
  assertEquals(calls, 5);
  assertEquals(msg, "Cannot reach registry r.example: Connection refused (5 attempts)");
});

Deno.test("transport: a scheme remembered from an earlier run is probed again when the server changed", async () => {
  const ref = { registry: "127.0.0.1:5000", repository: "x", tag: "t" };
  const plain = () =>
    Promise.reject(
      new TypeError("fetch failed", {
        cause: new Error("received corrupt message of type InvalidContentType"),
      }),
    );
  const notFound = () => Promise.resolve(new Response("", { status: 404 }));
  // Remembered http, but the port now has a TLS server: it says so over HTTP; HTTPS works.
  let urls: string[] = [];
  const nowTls = new RegistryClient({
    fetch: ((input: RequestInfo | URL) => {
      urls.push(String(input));
      return String(input).startsWith("http:")
        ? Promise.resolve(
          new Response("Client sent an HTTP request to an HTTPS server.\n", { status: 400 }),
        )
        : notFound();
    }) as typeof fetch,
    keychain: () => Promise.resolve(undefined),
    knownHosts: { "127.0.0.1:5000": { scheme: "http" } },
  });
  let err: unknown;
  await nowTls.getManifest(ref).catch((e) => err = e);
  assertEquals(err instanceof CosignError && err.code === "MANIFEST_UNKNOWN", true, String(err));
  assertEquals(urls.map((u) => u.split(":")[0]), ["http", "https"]);
  assertEquals(nowTls.knownHosts()["127.0.0.1:5000"]?.scheme, "https");
  // Remembered https, but the port now has a plain HTTP server: probed again, then HTTP.
  urls = [];
  const nowPlain = new RegistryClient({
    fetch: ((input: RequestInfo | URL) => {
      urls.push(String(input));
      return String(input).startsWith("http:") ? notFound() : plain();
    }) as typeof fetch,
    keychain: () => Promise.resolve(undefined),
    knownHosts: { "127.0.0.1:5000": { scheme: "https" } },
  });
  await nowPlain.getManifest(ref).catch((e) => err = e);
  assertEquals(err instanceof CosignError && err.code === "MANIFEST_UNKNOWN", true, String(err));
  assertEquals(urls.at(-1)!.startsWith("http://"), true, urls.join(" "));
  assertEquals(nowPlain.knownHosts()["127.0.0.1:5000"]?.scheme, "http");
  // A scheme learned in this process is trusted: no second probe.
  urls = [];
  await nowPlain.getManifest(ref).catch(() => {});
  assertEquals(urls.map((u) => u.split(":")[0]), ["http"]);
});

Deno.test("transport: a challenge in the known-hosts entry (older versions wrote them) is never replayed", async () => {
  const urls: string[] = [];
  const client = new RegistryClient({
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      urls.push(url);
      if (url.startsWith("http://127.0.0.1:5000/token")) {
        return Promise.resolve(Response.json({ token: "fresh" }));
      }
      const auth = new Headers(init?.headers).get("authorization");
      return Promise.resolve(
        auth === "Bearer fresh" ? new Response("", { status: 404 }) : new Response("", {
          status: 401,
          headers: {
            "www-authenticate":
              'Bearer realm="http://127.0.0.1:5000/token",service="reg",scope="repository:x:pull"',
          },
        }),
      );
    }) as typeof fetch,
    keychain: () => Promise.resolve({ username: "u", password: "p" }),
    retry: { maxAttempts: 1 },
    knownHosts: {
      "127.0.0.1:5000": {
        scheme: "http",
        challenge: {
          scheme: "bearer",
          params: { realm: "http://127.0.0.1:1/token", service: "reg" },
        },
      } as KnownHost,
    },
  });
  let err: unknown;
  await client.getManifest({ registry: "127.0.0.1:5000", repository: "x", tag: "t" }).catch((e) =>
    err = e
  );
  assertEquals(err instanceof CosignError && err.code === "MANIFEST_UNKNOWN", true, String(err));
  assertEquals(
    urls.map((u) => u.replace(/\?.*/, "")),
    [
      "http://127.0.0.1:5000/v2/x/manifests/t",
      "http://127.0.0.1:5000/token",
      "http://127.0.0.1:5000/v2/x/manifests/t",
    ],
    "the first request goes to the registry without credentials; the remembered realm is never asked",
  );
  assertEquals(
    client.knownHosts(),
    { "127.0.0.1:5000": { scheme: "http" } },
    "only the scheme is kept",
  );
});

Deno.test("transport: scheme pinning compares hosts with the origin's default port", () => {
  const reg = new URL("https://reg.example/");
  assertEquals(pinScheme(new URL("http://reg.example/v2/x"), reg).href, "https://reg.example/v2/x");
  assertEquals(
    pinScheme(new URL("http://reg.example:443/v2/"), reg).href,
    "https://reg.example/v2/",
  );
  assertEquals(
    pinScheme(new URL("http://other.example/v2/"), reg).href,
    "http://other.example/v2/",
  );
  assertEquals(
    pinScheme(new URL("http://reg.example:8080/"), reg).href,
    "http://reg.example:8080/",
  );
  const local = new URL("https://127.0.0.1:5000/");
  assertEquals(
    pinScheme(new URL("http://127.0.0.1:5000/u?a=1"), local).href,
    "https://127.0.0.1:5000/u?a=1",
  );
  assertEquals(isSameHost(new URL("http://127.0.0.1:5001/"), local), false);
  const plain = new URL("http://127.0.0.1:5000/");
  assertEquals(
    pinScheme(new URL("https://127.0.0.1:5000/x"), plain).href,
    "http://127.0.0.1:5000/x",
  );
});

Deno.test("transport: redirects keep the request's scheme on its host; plain HTTP elsewhere needs HTTP allowed there", async () => {
  const seen: { url: string; auth: string | null }[] = [];
  const routes: Record<string, Response | (() => Response)> = {};
  const fake = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    seen.push({ url, auth: new Headers(init?.headers).get("authorization") });
    const r = routes[url];
    return Promise.resolve(typeof r === "function" ? r() : r ?? new Response("", { status: 200 }));
  }) as typeof fetch;
  const redirect = (location: string) => () =>
    new Response(null, { status: 307, headers: { location } });
  const t = new Transport({ fetch: fake, retry: { maxAttempts: 1 } });
  const headers = { authorization: "Bearer secret" };

  // Same host, http:// Location: followed over https, credentials kept (same origin).
  routes["https://reg.example/v2/x/manifests/t"] = redirect("http://reg.example/v2/x/manifests/d");
  let res = await t.send({ method: "GET", url: "https://reg.example/v2/x/manifests/t", headers });
  assertEquals(res.status, 200);
  assertEquals(redirectedOrigin(res), undefined);
  assertEquals(seen.map((s) => s.url), [
    "https://reg.example/v2/x/manifests/t",
    "https://reg.example/v2/x/manifests/d",
  ]);
  assertEquals(seen[1]!.auth, "Bearer secret");

  // Another host over plain HTTP: refused before any request goes there.
  seen.length = 0;
  routes["https://reg.example/v2/x/blobs/b"] = redirect("http://cdn.example/b");
  let err: unknown;
  await t.send({ method: "GET", url: "https://reg.example/v2/x/blobs/b", headers }).catch((e) =>
    err = e
  );
  assertEquals(err instanceof CosignError && err.code === "REGISTRY_INSECURE", true, String(err));
  assertEquals(
    /plain HTTP on cdn\.example.*--allow-http-registry/.test((err as Error).message),
    true,
  );
  assertEquals(seen.map((s) => s.url), ["https://reg.example/v2/x/blobs/b"]);

  // ...unless HTTP is allowed for it; then it is anonymous and marked as another origin's answer.
  seen.length = 0;
  const allowed = new Transport({ fetch: fake, allowHttp: true, retry: { maxAttempts: 1 } });
  res = await allowed.send({ method: "GET", url: "https://reg.example/v2/x/blobs/b", headers });
  assertEquals(seen.map((s) => [s.url, s.auth]), [
    ["https://reg.example/v2/x/blobs/b", "Bearer secret"],
    ["http://cdn.example/b", null],
  ]);
  assertEquals(redirectedOrigin(res), "http://cdn.example");

  // HTTPS elsewhere: followed anonymously, and stays anonymous when it comes back.
  seen.length = 0;
  routes["https://reg.example/v2/x/blobs/c"] = redirect("https://cdn.example/c");
  routes["https://cdn.example/c"] = redirect("https://reg.example/v2/x/blobs/c2");
  res = await t.send({ method: "GET", url: "https://reg.example/v2/x/blobs/c", headers });
  assertEquals(seen.map((s) => s.auth), ["Bearer secret", null, null]);
  assertEquals(redirectedOrigin(res), undefined, "the answer came from the registry's origin");
});

Deno.test("transport: the deadline ends a hanging request, a body read and a backoff, each named", async () => {
  const { Deadline } = await import("./deadline.ts");
  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e instanceof CosignError ? `${e.code}: ${e.message}` : `other: ${e}`;
    }
    return "resolved";
  };
  // A server that never answers: fetch waits until its signal aborts.
  const hang = (_: RequestInfo | URL, init?: RequestInit) =>
    new Promise<Response>((_, reject) =>
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
    );
  const t1 = new Transport({ fetch: hang as typeof fetch, deadline: new Deadline(50) });
  const hung = await codeOf(t1.send({ method: "GET", url: "https://r.example/v2/" }));
  assertEquals(
    hung,
    "DEADLINE_EXCEEDED: Deadline of 50ms (--timeout) passed while waiting for r.example to answer GET /v2/",
  );
  // Headers arrive, the body never ends.
  const slowBody = (_: RequestInfo | URL, init?: RequestInit) => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array([1]));
        init?.signal?.addEventListener("abort", () => c.error(init.signal!.reason));
      },
    });
    return Promise.resolve(new Response(body, { status: 200 }));
  };
  const t2 = new Transport({ fetch: slowBody as typeof fetch, deadline: new Deadline(50) });
  const res = await t2.send({ method: "GET", url: "https://r.example/v2/x/blobs/sha256:1" });
  assertEquals(
    await codeOf(res.arrayBuffer()),
    "DEADLINE_EXCEEDED: Deadline of 50ms (--timeout) passed while reading the answer to GET /v2/x/blobs/sha256:1 from r.example",
  );
  // A 503 asking for a retry after the deadline: given up at once, no sleep.
  const slept: number[] = [];
  const busy = () =>
    Promise.resolve(new Response("", { status: 503, headers: { "retry-after": "5" } }));
  const t3 = new Transport({
    fetch: busy as typeof fetch,
    deadline: new Deadline(1000),
    sleep: (ms) => (slept.push(ms), Promise.resolve()),
  });
  assertEquals(
    await codeOf(t3.send({ method: "PUT", url: "https://r.example/v2/x/manifests/t" })),
    "DEADLINE_EXCEEDED: Deadline of 1s (--timeout) passed while waiting to retry PUT /v2/x/manifests/t on r.example (after HTTP 503)",
  );
  assertEquals(slept, []);
});

Deno.test("deadline: the fetch it hands to Fulcio, TSA and Rekor v2 clients ends at the deadline", async () => {
  const { Deadline } = await import("./deadline.ts");
  const hang = (_: RequestInfo | URL, init?: RequestInit) =>
    new Promise<Response>((_, reject) =>
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
    );
  const f = new Deadline(50).fetch(hang as typeof fetch);
  let err: unknown;
  try {
    await f("https://fulcio.example/api/v2/signingCert", { method: "POST" });
  } catch (e) {
    err = e;
  }
  assertEquals(
    err instanceof CosignError ? `${err.code}: ${err.message}` : String(err),
    "DEADLINE_EXCEEDED: Deadline of 50ms (--timeout) passed while waiting for fulcio.example to answer POST /api/v2/signingCert",
  );
});
