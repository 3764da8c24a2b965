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

Deno.test("transport: an HTTPS failure that looks like plain HTTP is retried once before falling back", async () => {
  const ref = { registry: "127.0.0.1:5000", repository: "x", tag: "t" };
  const plain = () =>
    Promise.reject(
      new TypeError("fetch failed", {
        cause: new Error("received corrupt message of type InvalidContentType"),
      }),
    );
  // The second HTTPS attempt shows the real problem (an untrusted certificate): no HTTP at all.
  let urls: string[] = [];
  let httpsTries = 0;
  const flaky = new RegistryClient({
    fetch: ((input: RequestInfo | URL) => {
      urls.push(String(input));
      if (String(input).startsWith("http:")) {
        return Promise.resolve(new Response("", { status: 404 }));
      }
      return ++httpsTries === 1 ? plain() : Promise.reject(
        new TypeError("fetch failed", {
          cause: new Error("invalid peer certificate: UnknownIssuer"),
        }),
      );
    }) as typeof fetch,
    keychain: () => Promise.resolve(undefined),
  });
  let err: unknown;
  await flaky.getManifest(ref).catch((e) => err = e);
  assertEquals(err instanceof CosignError && err.code === "REGISTRY_INSECURE", true, String(err));
  assertEquals(urls.every((u) => u.startsWith("https:")), true, urls.join(" "));

  // A server that answers HTTP with "you spoke HTTP to an HTTPS server": the HTTPS error is the one
  // reported, not a confusing HTTP 400.
  urls = [];
  const tlsOnly = new RegistryClient({
    fetch: ((input: RequestInfo | URL) => {
      urls.push(String(input));
      return String(input).startsWith("http:")
        ? Promise.resolve(
          new Response("Client sent an HTTP request to an HTTPS server.\n", { status: 400 }),
        )
        : plain();
    }) as typeof fetch,
    keychain: () => Promise.resolve(undefined),
  });
  await tlsOnly.getManifest(ref).catch((e) => err = e);
  assertEquals(
    err instanceof CosignError && err.code === "REGISTRY_UNAVAILABLE",
    true,
    String(err),
  );
  assertEquals(/over HTTPS: .*corrupt message/.test((err as Error).message), true, String(err));
  assertEquals(urls.filter((u) => u.startsWith("https:")).length, 2, urls.join(" "));
});
