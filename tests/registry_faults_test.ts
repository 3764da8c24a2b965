/**
 * The registry client through a fault-injecting proxy in front of the real registry: retries,
 * giving up, corrupted and truncated bodies, dropped connections, redirects across origins,
 * token reuse, and malformed answers of every kind.
 */
import {
  pushImage,
  type Registry,
  startFaultProxy,
  startRecordingServer,
  startRegistry,
} from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign } from "./helpers.ts";
import { CosignError } from "../lib/errors.ts";
import { parseReference } from "../lib/oci/reference.ts";
import { RegistryClient } from "../lib/oci/registry.ts";
import { staticKeychain } from "../lib/oci/keychain.ts";
import { sha256Digest } from "../lib/oci/digest.ts";

const ENV = { HOME: "/nonexistent" };

function client(reg?: Registry): RegistryClient {
  return new RegistryClient({
    keychain: reg?.username
      ? staticKeychain({ username: reg.username, password: reg.password! })
      : () => Promise.resolve(undefined),
    retry: { baseDelayMs: 20 },
  });
}

async function errorOf(p: Promise<unknown>): Promise<CosignError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CosignError) return e;
    throw new Error(`expected a CosignError, got ${e}`);
  }
  throw new Error("expected a failure");
}

async function drain(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test("faults: two 429s with Retry-After, then success", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "test/single:v1");
  await using proxy = await startFaultProxy(reg);
  proxy.inject({
    method: "GET",
    path: /\/manifests\/v1$/,
    times: 2,
    fault: { status: 429, headers: { "retry-after": "1" }, body: "slow down" },
  });
  const r = await cosign(["triangulate", "--type", "digest", `${proxy.host}/test/single:v1`], {
    env: ENV,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.out.trim(), `${proxy.host}/test/single@${img.digest}`);
  assertEquals(proxy.count("GET", /\/manifests\/v1$/), 3);
});

Deno.test("faults: five 503s in a row fail, saying the registry kept failing (not 'not found')", async () => {
  await using reg = await startRegistry();
  await pushImage(reg, "test/single:v1");
  await using proxy = await startFaultProxy(reg);
  proxy.inject({
    method: "GET",
    path: /\/manifests\//,
    times: 5,
    fault: { status: 503, body: "down" },
  });
  const r = await cosign(["triangulate", `${proxy.host}/test/single:v1`], { env: ENV });
  assertFails(r, 1, /kept failing: HTTP 503 .* after 5 attempts/);
  assert(!/not found/i.test(r.stderr), r.stderr);
  assertEquals(r.out, "");
  assertEquals(proxy.count("GET", /\/manifests\//), 5);
});

Deno.test("faults: a dropped connection is retried", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "test/single:v1");
  await using proxy = await startFaultProxy(reg);
  proxy.inject({ method: "GET", path: /\/manifests\//, times: 1, fault: { drop: true } });
  const c = client();
  assertEquals(await c.resolve(parseReference(`${proxy.host}/test/single:v1`)), img.digest);
  assertEquals(proxy.count("GET", /\/manifests\//), 2);
});

Deno.test("faults: altered manifest bytes are refused and nothing derived is printed", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "test/single:v1");
  await using proxy = await startFaultProxy(reg);
  proxy.inject({ method: "GET", path: /\/manifests\//, times: 1, fault: { corrupt: true } });
  const r = await cosign(["generate", `${proxy.host}/test/single:v1`], { env: ENV });
  assertFails(r, 1, /does not match its digest/);
  assertEquals(r.out, "", "no payload for a digest we could not trust");
  proxy.inject({ method: "GET", path: /\/manifests\//, times: 1, fault: { corrupt: true } });
  const e = await errorOf(
    client().getManifest(parseReference(`${proxy.host}/test/single@${img.digest}`)),
  );
  assertEquals(e.code, "DIGEST_MISMATCH");
});

Deno.test("faults: altered or truncated blob bytes make the download stream fail", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "test/single:v1");
  const layer = JSON.parse(new TextDecoder().decode(img.manifest)).layers[0];
  await using proxy = await startFaultProxy(reg);
  const repo = parseReference(`${proxy.host}/test/single:v1`);
  const c = client();
  assertEquals(
    sha256Digest(await drain(await c.fetchBlob(repo, layer.digest, layer.size))),
    layer.digest,
  );
  proxy.inject({ method: "GET", path: /\/blobs\//, times: 1, fault: { corrupt: true } });
  assertEquals(
    (await errorOf(drain(await c.fetchBlob(repo, layer.digest, layer.size)))).code,
    "DIGEST_MISMATCH",
  );
  proxy.inject({ method: "GET", path: /\/blobs\//, times: 1, fault: { truncate: 10 } });
  const t = await drain(await c.fetchBlob(repo, layer.digest, layer.size)).then(
    () => "accepted",
    (e) => String(e),
  );
  assert(t !== "accepted", "a truncated blob is never accepted");
});

Deno.test("faults: a storage redirect to another origin does not carry Authorization", async () => {
  await using reg = await startRegistry({ mode: "token" });
  const img = await pushImage(reg, "test/single:v1");
  const layer = JSON.parse(new TextDecoder().decode(img.manifest)).layers[0];
  await using proxy = await startFaultProxy(reg);
  await using far = await startRecordingServer();
  const bytes = await drain(
    await client(reg).fetchBlob(parseReference(`${reg.host}/test/single:v1`), layer.digest),
  );
  far.respond(200, bytes, { "content-type": "application/octet-stream" });
  const c = client(reg);
  const viaProxy = parseReference(`${proxy.host}/test/single:v1`);
  await c.getManifest(viaProxy); // learn the challenge and get a token first
  proxy.inject({
    method: "GET",
    path: /\/blobs\//,
    times: 1,
    fault: { redirectTo: `${far.url}/storage/` },
  });
  const got = await drain(await c.fetchBlob(viaProxy, layer.digest, layer.size));
  assertEquals(sha256Digest(got), layer.digest);
  const blobReqs = proxy.log.filter((l) => l.method === "GET" && /\/blobs\//.test(l.path));
  assert(blobReqs.some((l) => l.authorization), "the registry request carried the token");
  assertEquals(far.requests.length, 1);
  assertEquals(
    far.requests[0]!.headers.authorization,
    undefined,
    "no Authorization at the far end",
  );
});

Deno.test("faults: one token exchange per scope set for the whole process", async () => {
  await using reg = await startRegistry({ mode: "token" });
  await pushImage(reg, "test/single:v1");
  const before = reg.tokenServer!.requests.length;
  const c = client(reg);
  const ref = parseReference(`${reg.host}/test/single:v1`);
  await c.resolve(ref);
  await c.getManifest(ref);
  await c.listTags(ref);
  const target = parseReference(`${reg.host}/test/pushed:v1`);
  await c.uploadBlob(target, new TextEncoder().encode("a"));
  await c.uploadBlob(target, new TextEncoder().encode("b"));
  await c.putManifest(
    target,
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.empty.v1+json",
        digest: sha256Digest(new TextEncoder().encode("a")),
        size: 1,
      },
      layers: [],
    })),
    "application/vnd.oci.image.manifest.v1+json",
  );
  const reqs = reg.tokenServer!.requests.slice(before);
  assertEquals(reqs.map((r) => r.scope.join(" ")), [
    "repository:test/single:pull",
    "repository:test/pushed:push,pull",
  ]);
  assertEquals(c.tokenExchanges(reg.host), 2);
});

Deno.test("faults: deleting by tag falls back to the digest on distribution", async () => {
  await using reg = await startRegistry();
  await pushImage(reg, "test/single:v1");
  const c = client();
  const ref = parseReference(`${reg.host}/test/single:v1`);
  assertEquals(await c.deleteManifest(ref), true);
  assertEquals((await errorOf(c.getManifest(ref))).code, "MANIFEST_UNKNOWN");
  assertEquals(await c.deleteManifest(ref), false);
});

Deno.test("faults: malformed answers are clear one-line errors", async () => {
  await using reg = await startRegistry();
  await pushImage(reg, "test/single:v1");
  await using proxy = await startFaultProxy(reg);
  const ref = parseReference(`${proxy.host}/test/single:v1`);
  const cases: [Parameters<typeof proxy.inject>[0]["fault"], RegExp | string, string, RegExp][] = [
    [
      {
        status: 200,
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        body: "hello",
      },
      "MANIFEST_INVALID",
      "GET",
      /is not JSON/,
    ],
    [
      {
        status: 200,
        headers: { "content-type": "application/x-foo" },
        body: '{"schemaVersion":2,"mediaType":"application/x-foo"}',
      },
      "MANIFEST_INVALID",
      "GET",
      /unknown media type "application\/x-foo"/,
    ],
    [
      {
        status: 200,
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        body: " ".repeat(5 << 20),
      },
      "MANIFEST_TOO_LARGE",
      "GET",
      /larger than 4194304 bytes/,
    ],
    [
      { status: 401, headers: { "www-authenticate": "Negotiate abc" } },
      "REGISTRY_AUTH",
      "GET",
      /unsupported authentication scheme/,
    ],
    [
      { status: 401, headers: { "www-authenticate": 'Bearer realm="unterminated' } },
      "REGISTRY_AUTH",
      "GET",
      /malformed WWW-Authenticate/,
    ],
    [{ status: 401 }, "REGISTRY_AUTH", "GET", /without a WWW-Authenticate/],
  ];
  for (const [fault, code, method, msg] of cases) {
    proxy.inject({ method, path: /\/manifests\//, times: 1, fault });
    const e = await errorOf(client().getManifest(ref));
    assertEquals(e.code, code, e.message);
    assert(msg.test(e.message), `${e.message} !~ ${msg}`);
    assert(!e.message.includes("\n"), "one line");
  }
  proxy.inject({ method: "POST", path: /\/blobs\/uploads\/$/, times: 1, fault: { status: 202 } });
  const e = await errorOf(client().uploadBlob(ref, new TextEncoder().encode("x")));
  assert(/no Location header/.test(e.message), e.message);
});

Deno.test("faults: tag listing follows Link pagination", async () => {
  await using reg = await startRegistry();
  await pushImage(reg, "test/single:v1");
  await pushImage(reg, "test/single:v2");
  await using proxy = await startFaultProxy(reg);
  proxy.inject({
    method: "GET",
    path: /\/tags\/list$/,
    times: 1,
    fault: {
      status: 200,
      headers: {
        "content-type": "application/json",
        link: '</v2/test/single/tags/list?last=a&n=2>; rel="next"',
      },
      body: '{"name":"test/single","tags":["a"]}',
    },
  });
  const tags = await client().listTags(parseReference(`${proxy.host}/test/single:v1`));
  assertEquals(tags.sort(), ["a", "v1", "v2"]);
  assertEquals(proxy.count("GET", /\/tags\/list$/), 2);
});

Deno.test("faults: malformed references are one-line usage-free errors", async () => {
  for (const ref of ["UPPER/case", "x@sha256:123", "bad host!/x", "img:-tag"]) {
    const r = await cosign(["triangulate", ref], { env: ENV });
    assertFails(r, 1, /Invalid image reference/);
  }
});

Deno.test("faults: a later run remembers the scheme only: credentials wait for this run's challenge; old cached realms are dropped", async () => {
  await using reg = await startRegistry({ mode: "token" });
  await pushImage(reg, "test/single:v1");
  await using proxy = await startFaultProxy(reg);
  await using stale = await startRecordingServer();
  const home = await Deno.makeTempDir();
  try {
    const path = `${home}/.cache/cosign-deno/registries.json`;
    // What an older version wrote: a challenge whose realm now belongs to someone else.
    await Deno.mkdir(`${home}/.cache/cosign-deno`, { recursive: true });
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        [proxy.host]: {
          scheme: "http",
          challenge: { scheme: "bearer", params: { realm: `${stale.url}/token`, service: "x" } },
        },
      }),
    );
    const run = () =>
      cosign(
        [
          "triangulate",
          "--registry-username",
          "testuser",
          "--registry-password",
          "testpass",
          `${proxy.host}/test/single:v1`,
        ],
        { env: { HOME: home } },
      );
    for (const which of ["first", "second"]) {
      proxy.reset();
      const r = await run();
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        proxy.log.filter((l) => /\/manifests\//.test(l.path)).map((
          l,
        ) => [l.status, l.authorization]),
        [[401, false], [200, true]],
        `${which} run: anonymous first, then with the token from the realm the registry named`,
      );
    }
    assertEquals(stale.requests.length, 0, "the remembered realm was never asked");
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    assert(!/testpass|eyJ/.test(text), `no password or token in the cache: ${text}`);
    assertEquals(JSON.parse(text), { [proxy.host]: { scheme: "http" } });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
