import { assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { RegistryClient } from "./registry.ts";
import { retryAfterMs, schemesFor, Transport } from "./transport.ts";

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

Deno.test("transport: a challenge remembered from an earlier run whose token server is gone is learned again", async () => {
  const urls: string[] = [];
  const client = new RegistryClient({
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      urls.push(url);
      if (url.startsWith("http://127.0.0.1:1/")) {
        return Promise.reject(
          new TypeError("fetch failed", { cause: new Error("Connection refused") }),
        );
      }
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
    keychain: () => Promise.resolve(undefined),
    retry: { maxAttempts: 1 },
    knownHosts: {
      "127.0.0.1:5000": {
        scheme: "http",
        challenge: {
          scheme: "bearer",
          params: { realm: "http://127.0.0.1:1/token", service: "reg" },
        },
      },
    },
  });
  let err: unknown;
  await client.getManifest({ registry: "127.0.0.1:5000", repository: "x", tag: "t" }).catch((e) =>
    err = e
  );
  assertEquals(err instanceof CosignError && err.code === "MANIFEST_UNKNOWN", true, String(err));
  assertEquals(urls.some((u) => u.startsWith("http://127.0.0.1:5000/token")), true, urls.join(" "));
});
