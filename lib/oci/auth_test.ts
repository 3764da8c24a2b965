import { assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { parseChallenge, TokenCache } from "./auth.ts";
import { Transport } from "./transport.ts";

function code(f: () => unknown): string {
  try {
    f();
    return "none";
  } catch (e) {
    return e instanceof CosignError ? e.code : "other";
  }
}

Deno.test("auth: challenges parse; unknown and malformed ones are REGISTRY_AUTH", () => {
  assertEquals(parseChallenge('Basic realm="test-realm"', "r"), {
    scheme: "basic",
    params: { realm: "test-realm" },
  });
  assertEquals(
    parseChallenge(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull,push",error="insufficient_scope"',
      "r",
    ).params,
    {
      realm: "https://auth.docker.io/token",
      service: "registry.docker.io",
      scope: "repository:library/x:pull,push",
      error: "insufficient_scope",
    },
  );
  assertEquals(parseChallenge("bearer realm=https://x/t, service=s", "r").params.service, "s");
  for (
    const bad of [
      "Negotiate abc",
      "",
      "Bearer",
      'Bearer service="s"',
      'Bearer realm="x',
      "Bearer realm",
    ]
  ) {
    assertEquals(code(() => parseChallenge(bad, "r")), "REGISTRY_AUTH", bad);
  }
});

function stubTransport(
  handler: (url: URL, init: RequestInit) => Response,
): { t: Transport; urls: string[] } {
  const urls: string[] = [];
  const t = new Transport({
    fetch: (input, init) => {
      urls.push(String(input));
      return Promise.resolve(handler(new URL(String(input)), init ?? {}));
    },
    retry: { maxAttempts: 1 },
  });
  return { t, urls };
}

const challenge = {
  scheme: "bearer" as const,
  params: { realm: "https://auth.example/token", service: "svc" },
};

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "none";
  } catch (e) {
    return e instanceof CosignError ? `${e.code}: ${e.message}` : `other: ${e}`;
  }
}

Deno.test("auth: tokens are exchanged once per scope set and reused", async () => {
  const { t, urls } = stubTransport(() => Response.json({ token: "T", expires_in: 300 }));
  const cache = new TokenCache("reg.example", t, false);
  assertEquals(await cache.token(challenge, ["repository:a:pull"], undefined), "T");
  assertEquals(await cache.token(challenge, ["repository:a:pull"], undefined), "T");
  await cache.token(challenge, ["repository:a:push,pull"], undefined);
  assertEquals(cache.exchanges, 2);
  const u = new URL(urls[0]!);
  assertEquals(u.searchParams.get("service"), "svc");
  assertEquals(u.searchParams.getAll("scope"), ["repository:a:pull"]);
});

Deno.test("auth: Basic credentials on GET; refresh tokens by POST with GET fallback on 404", async () => {
  const seen: string[] = [];
  const { t } = stubTransport((_url, init) => {
    seen.push(
      `${init.method} ${new Headers(init.headers).get("authorization") ?? "-"} ${init.body ?? ""}`,
    );
    if (init.method === "POST") return new Response("no", { status: 404 });
    return Response.json({ access_token: "A" });
  });
  const cache = new TokenCache("reg.example", t, false);
  assertEquals(
    await cache.token(challenge, ["repository:a:pull"], { username: "u", password: "p" }),
    "A",
  );
  assertEquals(seen[0], `GET Basic ${btoa("u:p")} `);
  assertEquals(await cache.token(challenge, ["repository:b:pull"], { identityToken: "R" }), "A");
  assertEquals(
    seen[1]!.startsWith("POST - grant_type=refresh_token&refresh_token=R&service=svc"),
    true,
  );
  assertEquals(seen[2]!.startsWith("GET"), true);
  assertEquals(await cache.token(challenge, ["x"], { registryToken: "RT" }), "RT");
});

Deno.test("auth: malformed token responses and refusals are one-line REGISTRY_AUTH errors", async () => {
  const cases: [Response, RegExp][] = [
    [new Response("<html>", { status: 200 }), /not JSON/],
    [Response.json({ nothing: 1 }), /sent no token/],
    [Response.json({ token: "" }), /sent no token/],
    [new Response("no", { status: 401 }), /refused the credentials/],
    [new Response("boom", { status: 418 }), /HTTP 418/],
  ];
  for (const [res, want] of cases) {
    const { t } = stubTransport(() => res);
    const got = await codeOf(
      new TokenCache("reg.example", t, false).token(challenge, ["s"], {
        username: "u",
        password: "p",
      }),
    );
    assertEquals(got.startsWith("REGISTRY_AUTH") && want.test(got), true, got);
  }
  const http = { scheme: "bearer" as const, params: { realm: "http://auth.example/token" } };
  const { t, urls } = stubTransport(() => Response.json({ token: "T" }));
  const got = await codeOf(
    new TokenCache("reg.example", t, false).token(http, ["s"], { username: "u", password: "p" }),
  );
  assertEquals(/plain HTTP/.test(got), true, got);
  assertEquals(urls.length, 0, "no credentials sent to a plain-HTTP realm");
});

Deno.test("auth: a refresh token is never re-sent to another origin by a token server's redirect", async () => {
  const bodies: string[] = [];
  const t = new Transport({
    fetch: async (input, init) => {
      const url = String(input);
      bodies.push(`${url} ${init?.body ? await new Response(init.body).text() : ""}`);
      return url.startsWith("https://auth.example/")
        ? new Response(null, { status: 307, headers: { location: "https://evil.example/token" } })
        : Response.json({ token: "t" });
    },
    retry: { maxAttempts: 1 },
  });
  const cache = new TokenCache("reg.example", t, false);
  let err: unknown;
  await cache.token(
    { scheme: "bearer", params: { realm: "https://auth.example/token", service: "s" } },
    ["repository:x:pull"],
    { identityToken: "refresh-secret" },
  ).catch((e) => err = e);
  assertEquals(err instanceof CosignError && err.code === "REGISTRY_AUTH", true, String(err));
  assertEquals(bodies.length, 1, bodies.join("\n"));
  assertEquals(bodies.some((b) => b.startsWith("https://evil.example")), false);
});
