/**
 * Tests of the test harness itself (registry modes, token server, images, fault proxy, recording
 * server), so that it cannot silently break.
 */

import { assert, assertEquals } from "../helpers.ts";
import { type Registry, type RegistryMode, startRegistry } from "./registry.ts";
import { AMD64_DIGEST, inspectRaw, OCI_INDEX, OCI_MANIFEST, pushImage } from "./images.ts";
import { startFaultProxy } from "./fault_proxy.ts";
import { startRecordingServer } from "./recording_server.ts";
import { startTokenServer, type TokenServer } from "./token_server.ts";
import { b64, sha256Hex } from "./util.ts";

const ACCEPT = [OCI_MANIFEST, OCI_INDEX].join(", ");
const dec = new TextDecoder();

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function regFetch(reg: Registry, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(reg.url + path, reg.client ? { ...init, client: reg.client } : init);
}

function basic(user: string, pass: string): string {
  return "Basic " + b64(new TextEncoder().encode(`${user}:${pass}`));
}

function processGone(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

async function getToken(ts: TokenServer, scope: string, auth?: string) {
  const u = `${ts.realm}?service=${ts.service}&scope=${encodeURIComponent(scope)}`;
  const r = await fetch(u, auth ? { headers: { authorization: auth } } : {});
  const body = await r.text();
  return { status: r.status, body: r.status === 200 ? JSON.parse(body) : body };
}

function jwtClaims(token: string): { access: { type: string; name: string; actions: string[] }[] } {
  const part = token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part + "=".repeat((4 - part.length % 4) % 4)));
}

for (const mode of ["noauth", "htpasswd", "tls", "token"] as RegistryMode[]) {
  Deno.test(`registry ${mode}: starts, answers /v2/, takes a push, stops`, async () => {
    const reg = await startRegistry({ mode });
    try {
      assertEquals(reg.mode, mode);
      assert(/^127\.0\.0\.1:\d+$/.test(reg.host), reg.host);
      assertEquals(reg.url, `${mode === "tls" ? "https" : "http"}://${reg.host}`);
      const r = await regFetch(reg, "/v2/");
      await r.body?.cancel();
      const wa = r.headers.get("www-authenticate") ?? "";
      if (mode === "noauth" || mode === "tls") {
        assertEquals(r.status, 200);
      } else if (mode === "htpasswd") {
        assertEquals(r.status, 401);
        assert(wa.startsWith('Basic realm="test-realm"'), wa);
        const ok = await regFetch(reg, "/v2/", {
          headers: { authorization: basic(reg.username!, reg.password!) },
        });
        await ok.body?.cancel();
        assertEquals(ok.status, 200);
      } else {
        assertEquals(r.status, 401);
        const ts = reg.tokenServer!;
        assert(wa.startsWith(`Bearer realm="${ts.realm}",service="test-registry"`), wa);
      }
      if (mode === "tls") {
        // Without the CA the certificate is not trusted.
        await rejects(fetch(reg.url + "/v2/"));
        assert((await Deno.readTextFile(reg.caCertPath!)).includes("BEGIN CERTIFICATE"), "CA");
        assertEquals([...Deno.readDirSync(reg.certDir!)].map((e) => e.name), ["ca.crt"]);
      }

      const img = await pushImage(reg, "test/single:v1");
      assertEquals(img.digest, AMD64_DIGEST);
      assertEquals(img.mediaType, OCI_MANIFEST);
      assertEquals(img.ref, `${reg.host}/test/single:v1`);
      assert(bytesEqual(await inspectRaw(reg, "test/single:v1"), img.manifest), "raw manifest");
      const layer = await Deno.readFile(reg.blobPath(img.images[0]!.layerDigest));
      assertEquals(`sha256:${await sha256Hex(layer)}`, img.images[0]!.layerDigest);
    } finally {
      await reg.stop();
    }
    assert(processGone(reg.pid), `registry pid ${reg.pid} still exists`);
    await rejects(regFetch(reg, "/v2/"));
    await rejects(Deno.stat(reg.rootDir));
    if (reg.tokenServer) await rejects(fetch(reg.tokenServer.realm));
    await reg.stop(); // idempotent
  });
}

Deno.test("registry: multi-arch push yields an index", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "test/multi:v1", { arches: ["amd64", "arm64"] });
  assertEquals(img.mediaType, OCI_INDEX);
  const raw = await inspectRaw(reg, "test/multi:v1");
  assert(bytesEqual(raw, img.manifest), "index bytes preserved");
  assertEquals(`sha256:${await sha256Hex(raw)}`, img.digest);
  const index = JSON.parse(dec.decode(raw));
  assertEquals(index.mediaType, OCI_INDEX);
  assertEquals(
    index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ["amd64", "arm64"],
  );
  assertEquals(img.images[0]!.digest, AMD64_DIGEST);
  const child = await inspectRaw(reg, `test/multi@${img.images[1]!.digest}`);
  assert(bytesEqual(child, img.images[1]!.manifest), "arm64 manifest");
});

Deno.test("registry: layerBytes are pushed verbatim", async () => {
  await using reg = await startRegistry();
  const data = crypto.getRandomValues(new Uint8Array(65536));
  const img = await pushImage(reg, "test/bytes:v1", { layerBytes: data });
  const layer = await Deno.readFile(reg.blobPath(img.images[0]!.layerDigest));
  assert(bytesEqual(layer, data), "layer blob");
});

Deno.test("token server: grants and refusals", async () => {
  await using ts = await startTokenServer();
  const scope = "repository:test/x:pull,push";
  const anon = await getToken(ts, scope);
  assertEquals(anon.status, 200);
  assertEquals(anon.body.expires_in, 300);
  assertEquals(anon.body.token, anon.body.access_token);
  assertEquals(jwtClaims(anon.body.token).access, [
    { type: "repository", name: "test/x", actions: ["pull"] },
  ]);
  const user = await getToken(ts, scope, basic("testuser", "testpass"));
  assertEquals(jwtClaims(user.body.token).access[0]!.actions, ["pull", "push"]);
  assertEquals((await getToken(ts, scope, basic("bad", "testpass"))).status, 401);
  assertEquals((await getToken(ts, scope, basic("testuser", "nope"))).status, 401);

  const post = (form: Record<string, string>) =>
    fetch(ts.realm, { method: "POST", body: new URLSearchParams(form) }).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));
  const refreshed = await post({
    grant_type: "refresh_token",
    refresh_token: "valid-refresh-token",
    service: ts.service,
    scope,
  });
  assertEquals(refreshed.status, 200);
  assertEquals(jwtClaims(refreshed.body.access_token).access[0]!.actions, ["pull", "push"]);
  const badRefresh = await post({
    grant_type: "refresh_token",
    refresh_token: "x",
    service: ts.service,
    scope,
  });
  assertEquals(badRefresh.status, 401);
  const pw = await post({
    grant_type: "password",
    username: "testuser",
    password: "testpass",
    service: ts.service,
    scope,
  });
  assertEquals(pw.status, 200);
  assertEquals(
    (await post({ grant_type: "password", username: "testuser", password: "x", scope })).status,
    401,
  );
  assertEquals(ts.requests.map((r) => [r.method, r.user, r.grantType ?? "", r.status]), [
    ["GET", "", "", 200],
    ["GET", "testuser", "", 200],
    ["GET", "bad", "", 401],
    ["GET", "testuser", "", 401],
    ["POST", "testuser", "refresh_token", 200],
    ["POST", "", "refresh_token", 401],
    ["POST", "testuser", "password", 200],
    ["POST", "testuser", "password", 401],
  ]);
  assertEquals(ts.requests[0]!.scope, [scope]);
});

Deno.test("token mode: the registry honours the granted scopes", async () => {
  await using reg = await startRegistry({ mode: "token" });
  const ts = reg.tokenServer!;
  await pushImage(reg, "test/single:v1");
  assert(ts.requests.some((r) => r.user === "testuser"), "skopeo authenticated");
  const scope = "repository:test/single:pull,push";
  const anon = (await getToken(ts, scope)).body.token as string;
  const full = (await getToken(ts, scope, basic("testuser", "testpass"))).body.token as string;
  const get = await regFetch(reg, "/v2/test/single/manifests/v1", {
    headers: { authorization: `Bearer ${anon}`, accept: ACCEPT },
  });
  await get.body?.cancel();
  assertEquals(get.status, 200);
  const upAnon = await regFetch(reg, "/v2/test/single/blobs/uploads/", {
    method: "POST",
    headers: { authorization: `Bearer ${anon}` },
  });
  await upAnon.body?.cancel();
  assertEquals(upAnon.status, 401);
  assert((upAnon.headers.get("www-authenticate") ?? "").includes("insufficient_scope"), "scope");
  const upFull = await regFetch(reg, "/v2/test/single/blobs/uploads/", {
    method: "POST",
    headers: { authorization: `Bearer ${full}` },
  });
  await upFull.body?.cancel();
  assertEquals(upFull.status, 202);
});

Deno.test("fault proxy: forwards, counts, rewrites Location, streams big uploads", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "test/single:v1");
  await using px = await startFaultProxy(reg);
  assert(px.url === `http://${px.host}` && px.host !== reg.host, px.url);

  const m = await fetch(`${px.url}/v2/test/single/manifests/v1`, {
    headers: { accept: ACCEPT, authorization: "Bearer x" },
  });
  assertEquals(m.status, 200);
  assertEquals(m.headers.get("docker-content-digest"), AMD64_DIGEST);
  assert(bytesEqual(await m.bytes(), img.manifest), "manifest through proxy");
  const h = await fetch(`${px.url}/v2/test/single/manifests/v1`, {
    method: "HEAD",
    headers: { accept: ACCEPT },
  });
  await h.body?.cancel();
  assertEquals(h.headers.get("content-length"), String(img.manifest.length));
  assertEquals(px.count("GET", /\/manifests\//), 1);
  assertEquals(px.count("head"), 1);
  assertEquals(px.log[0], {
    method: "GET",
    path: "/v2/test/single/manifests/v1",
    url: "/v2/test/single/manifests/v1",
    status: 200,
    authorization: true,
  });
  assertEquals(px.log[1]!.authorization, false);

  // A 64 MiB monolithic upload and download through the proxy.
  const big = new Uint8Array(64 << 20);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  const digest = `sha256:${await sha256Hex(big)}`;
  const post = await fetch(`${px.url}/v2/test/big/blobs/uploads/`, { method: "POST" });
  await post.body?.cancel();
  assertEquals(post.status, 202);
  const loc = post.headers.get("location")!;
  assert(loc.startsWith(px.url + "/v2/test/big/blobs/uploads/"), `Location ${loc}`);
  const put = await fetch(`${loc}&digest=${digest}`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: big,
  });
  await put.body?.cancel();
  assertEquals(put.status, 201);
  assert(put.headers.get("location")!.startsWith(px.url + "/"), "PUT Location rewritten");
  const got = await fetch(`${px.url}/v2/test/big/blobs/${digest}`);
  assertEquals(got.headers.get("content-length"), String(big.length));
  assertEquals(`sha256:${await sha256Hex(await got.bytes())}`, digest);
  assertEquals(px.count("PUT", /\/blobs\/uploads\//), 1);

  px.reset();
  assertEquals(px.log.length, 0);
});

Deno.test("fault proxy: injects each fault kind", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "test/single:v1");
  const layer = img.images[0]!.layerDigest;
  const layerBytes = await Deno.readFile(reg.blobPath(layer));
  await using px = await startFaultProxy(reg.url);
  await using far = await startRecordingServer();
  const manifestUrl = `${px.url}/v2/test/single/manifests/v1`;
  const blobUrl = `${px.url}/v2/test/single/blobs/${layer}`;

  // status: only the next `times` matching requests; other methods unaffected.
  px.inject({ method: "GET", path: /\/manifests\//, times: 2, fault: { status: 503, body: "no" } });
  for (let i = 0; i < 2; i++) {
    const r = await fetch(manifestUrl, { headers: { accept: ACCEPT } });
    assertEquals([r.status, await r.text()], [503, "no"]);
  }
  const ok = await fetch(manifestUrl, { headers: { accept: ACCEPT } });
  await ok.body?.cancel();
  assertEquals(ok.status, 200);
  assertEquals(px.count("GET", /\/manifests\//), 3);
  assertEquals(px.log.map((e) => e.fault ?? ""), ["status", "status", ""]);

  px.inject({
    path: /\/tags\/list$/,
    times: 1,
    fault: { status: 429, headers: { "retry-after": "1" } },
  });
  const tl = await fetch(`${px.url}/v2/test/single/tags/list`);
  await tl.body?.cancel();
  assertEquals([tl.status, tl.headers.get("retry-after")], [429, "1"]);

  // delay
  px.inject({ path: /\/manifests\//, times: 1, fault: { delayMs: 300 } });
  const t0 = performance.now();
  const delayed = await fetch(manifestUrl, { headers: { accept: ACCEPT } });
  await delayed.body?.cancel();
  assert(performance.now() - t0 >= 290, "delayed");
  assertEquals(delayed.status, 200);

  // truncate: Content-Length kept, body short → read error
  px.inject({ path: /\/blobs\//, times: 1, fault: { truncate: 10 } });
  const tr = await fetch(blobUrl);
  assertEquals(tr.headers.get("content-length"), String(layerBytes.length));
  await rejects(tr.bytes());

  // corrupt: same length, different bytes
  px.inject({ path: /\/blobs\//, times: 1, fault: { corrupt: true } });
  const co = await fetch(blobUrl);
  const coBytes = await co.bytes();
  assertEquals(coBytes.length, layerBytes.length);
  assert(!bytesEqual(coBytes, layerBytes), "corrupted");
  assertEquals(coBytes.filter((b, i) => b !== layerBytes[i]).length, 1);

  // drop: connection closed without a response
  px.inject({ method: "PUT", path: /\/manifests\//, times: 1, fault: { drop: true } });
  await rejects(
    fetch(`${px.url}/v2/test/single/manifests/v2`, {
      method: "PUT",
      headers: { "content-type": OCI_MANIFEST },
      body: img.manifest,
    }),
  );
  const after = await fetch(manifestUrl, { headers: { accept: ACCEPT } });
  await after.body?.cancel();
  assertEquals(after.status, 200);
  assertEquals(px.log.find((e) => e.fault === "drop")?.status, 0);

  // redirectTo: with "/" → path and query appended; otherwise verbatim
  px.inject({ path: /\/blobs\//, times: 1, fault: { redirectTo: far.url + "/" } });
  const rd = await fetch(blobUrl + "?x=1", { redirect: "manual" });
  await rd.body?.cancel();
  assertEquals([rd.status, rd.headers.get("location")], [
    307,
    `${far.url}/v2/test/single/blobs/${layer}?x=1`,
  ]);
  px.inject({ path: /\/blobs\//, times: 1, fault: { redirectTo: far.url + "/elsewhere" } });
  far.respond(200, new TextEncoder().encode("far"), { "x-far": "1" });
  const followed = await fetch(blobUrl, { headers: { authorization: "Bearer secret" } });
  assertEquals([followed.status, await followed.text()], [200, "far"]);
  assertEquals(followed.headers.get("x-far"), "1");
  assertEquals(far.requests.map((r) => [r.method, r.path]), [["GET", "/elsewhere"]]);

  // stop really closes the port
  await px.stop();
  await rejects(fetch(manifestUrl));
});

Deno.test("fault proxy: with keepAlive, Deno fetch retries a dropped request once", async () => {
  // Canary for the reason keepAlive defaults to false (denoland/deno#32566, #36415).
  await using reg = await startRegistry();
  await using px = await startFaultProxy(reg, { keepAlive: true });
  for (let i = 0; i < 2; i++) await (await fetch(`${px.url}/v2/`)).body?.cancel();
  px.inject({ path: /^\/v2\/$/, times: 1, fault: { drop: true } });
  const r = await fetch(`${px.url}/v2/`); // on the pooled connection: dropped, then retried
  await r.body?.cancel();
  assertEquals(r.status, 200);
  assertEquals(px.log.map((e) => e.fault ?? e.status), [200, 200, "drop", 200]);
});

Deno.test("fault proxy: rejects https upstreams; survives a dead upstream", async () => {
  await rejects(startFaultProxy("https://127.0.0.1:1"));
  const reg = await startRegistry();
  await using px = await startFaultProxy(reg);
  await reg.stop();
  const r = await fetch(`${px.url}/v2/`);
  await r.body?.cancel();
  assertEquals(r.status, 502);
});

Deno.test("recording server: records requests and answers as told", async () => {
  await using rs = await startRecordingServer();
  const r1 = await fetch(`${rs.url}/a?b=c`, {
    method: "PUT",
    headers: { "x-test": "yes" },
    body: "hello",
  });
  await r1.body?.cancel();
  assertEquals(r1.status, 200);
  rs.respond(404, new TextEncoder().encode("nope"), { "content-type": "text/plain" });
  const r2 = await fetch(`${rs.url}/z`);
  assertEquals([r2.status, await r2.text(), r2.headers.get("content-type")], [
    404,
    "nope",
    "text/plain",
  ]);
  assertEquals(rs.requests.length, 2);
  const q = rs.requests[0]!;
  assertEquals([q.method, q.path, q.headers["x-test"], dec.decode(q.body)], [
    "PUT",
    "/a?b=c",
    "yes",
    "hello",
  ]);
  await rs.stop();
  await rejects(fetch(`${rs.url}/`));
});
