/**
 * Writes count only when the registry confirms them as the distribution spec requires: a blob
 * upload ends in 201 Created, a manifest PUT in 201 (or 202), a `Docker-Content-Digest` given
 * must be the digest written, and `copy` and `load` read the written manifest back by HEAD before
 * they report success. A server that answers 200 with HTML to everything stores nothing, and
 * must not be reported as a successful copy or load.
 */
import { pushImage, startFaultProxy, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

const ENV = { DOCKER_CONFIG: "/nonexistent", COSIGN_DENO_NO_CACHE: "1" };

/** A loopback server answering 200 with an HTML page to every request. */
function htmlServer(): { host: string } & AsyncDisposable {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    return new Response("<html><body>Welcome to nginx!</body></html>", {
      status: 200,
      headers: { "content-type": "text/html" },
    });
  });
  return {
    host: `127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("write checks: copy and load to a server answering 200 HTML to everything fail", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  await pushImage(reg, "app/img:v1");
  await using html = htmlServer();
  for (const force of [[], ["-f"]]) {
    const c = await cosign(["copy", ...force, `${reg.host}/app/img:v1`, `${html.host}/m/img:v1`], {
      env: ENV,
    });
    assertFails(c, 1);
    assert(!/Copied/.test(c.stderr), `no success reported: ${c.stderr}`);
  }
  const layout = `${d.path}/saved`;
  const s = await cosign(["save", "--dir", layout, `${reg.host}/app/img:v1`], { env: ENV });
  assertEquals(s.code, 0, s.stderr);
  const l = await cosign(["load", "--dir", layout, `${html.host}/m/img:v1`], { env: ENV });
  assertFails(l, 1);
  assert(!/Loaded/.test(l.stderr), `no success reported: ${l.stderr}`);
});

Deno.test("write checks: a manifest PUT acknowledged but not stored is caught by the HEAD after it", async () => {
  await using reg = await startRegistry();
  await pushImage(reg, "app/img:v1");
  await using proxy = await startFaultProxy(reg);
  proxy.inject({ method: "PUT", path: /\/manifests\//, times: 100, fault: { status: 201 } });
  const c = await cosign(["copy", `${reg.host}/app/img:v1`, `${proxy.host}/m/img:v1`], {
    env: ENV,
  });
  assertFails(c, 1, /m\/img:v1.*(not found|does not serve)/);
  assert(!/Copied/.test(c.stderr), c.stderr);
});

Deno.test("write checks: a Docker-Content-Digest that is not the digest written is refused", async () => {
  await using reg = await startRegistry();
  const img = await pushImage(reg, "app/img:v1");
  await using proxy = await startFaultProxy(reg);
  const wrong = "sha256:" + "1".repeat(64);
  proxy.inject({
    method: "PUT",
    path: /\/manifests\//,
    times: 100,
    fault: { status: 201, headers: { "docker-content-digest": wrong } },
  });
  const c = await cosign(["copy", `${reg.host}/app/img:v1`, `${proxy.host}/m/img:v1`], {
    env: ENV,
  });
  assertFails(c, 1, new RegExp(`${wrong}.*${img.digest}|${img.digest}.*${wrong}`));
});

Deno.test("load: a blob missing from the layout is found before anything is pushed; no tag appears", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  const img = await pushImage(reg, "app/img:v1");
  const env = { ...ENV, COSIGN_PASSWORD: "pw" };
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/k`], { env });
  assertEquals(g.code, 0, g.stderr);
  const s = await cosign([
    "sign",
    "--key",
    `${d.path}/k.key`,
    "--tlog-upload=false",
    "--new-bundle-format=false",
    `${reg.host}/app/img@${img.digest}`,
  ], { env });
  assertEquals(s.code, 0, s.stderr);
  const layout = `${d.path}/saved`;
  const saved = await cosign(["save", "--dir", layout, `${reg.host}/app/img:v1`], { env });
  assertEquals(saved.code, 0, saved.stderr);
  // The signature's layer (the simple-signing payload) goes missing from the layout.
  const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
  const sigEntry = index.manifests.find((m: { annotations?: Record<string, string> }) =>
    m.annotations?.kind === "dev.cosignproject.cosign/sigs"
  );
  const sigManifest = JSON.parse(
    await Deno.readTextFile(`${layout}/blobs/sha256/${sigEntry.digest.slice(7)}`),
  );
  const layer: string = sigManifest.layers[0].digest;
  await Deno.remove(`${layout}/blobs/sha256/${layer.slice(7)}`);
  const l = await cosign(["load", "--dir", layout, `${reg.host}/fresh/img:v1`], { env });
  const res = await fetch(`${reg.url}/v2/fresh/img/manifests/v1`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  await res.body?.cancel();
  assertEquals(res.status, 404, "no tag was pushed");
  assertFails(l, 1, new RegExp(`is incomplete, so nothing was pushed: ${layer} .* is missing`));
  // A damaged (truncated) image layer is found the same way.
  const manifest = JSON.parse(
    await Deno.readTextFile(`${layout}/blobs/sha256/${img.digest.slice(7)}`),
  );
  const imgLayer: string = manifest.layers[0].digest;
  await Deno.writeTextFile(`${layout}/blobs/sha256/${imgLayer.slice(7)}`, "x");
  const l2 = await cosign(["load", "--dir", layout, `${reg.host}/fresh/img:v1`], { env });
  assertFails(l2, 1, new RegExp(`${imgLayer} .* has 1 bytes, not \\d+`));
});
