/**
 * Where registry credentials may go, rebuilt as attacks with hostile servers on loopback:
 * - a registry redirecting a blob download to another origin that asks for authentication gets
 *   nothing from us there, and what we know about the registry does not change;
 * - an HTTPS registry's `http://` upload Location, or a same-host 307 to `http://`, never
 *   produces a plaintext request (checked at the server's port, byte by byte);
 * - a realm learned under `--allow-insecure-registry` is not replayed against the genuine
 *   registry that later answers on the same port;
 * - a credential helper planted in the current directory is not run through an empty, `.` or
 *   relative PATH entry.
 */
import {
  makeTls,
  pushImage,
  type Registry,
  startFaultProxy,
  startRecordingServer,
  startRegistry,
  startSchemeRecorder,
  startTokenServer,
  TOKEN_PASSWORD,
  TOKEN_USER,
} from "./harness/mod.ts";
import { getBlob } from "./harness/raw.ts";
import { assert, assertEquals, assertFails, cosign, run, tempDir } from "./helpers.ts";
import { CosignError } from "../lib/errors.ts";
import { staticKeychain } from "../lib/oci/keychain.ts";
import { parseReference } from "../lib/oci/reference.ts";
import { RegistryClient } from "../lib/oci/registry.ts";
import { sha256Digest } from "../lib/oci/digest.ts";

const enc = new TextEncoder();
const BASIC = "Basic " + btoa(`${TOKEN_USER}:${TOKEN_PASSWORD}`);

function layerOf(manifest: Uint8Array): { digest: string; size: number } {
  return JSON.parse(new TextDecoder().decode(manifest)).layers[0];
}

function cachePath(home: string): string {
  return `${home}/.cache/cosign-deno/registries.json`;
}

Deno.test("credentials: a blob redirect to another origin asking for auth gets no credentials; the registry stays usable", async () => {
  await using reg = await startRegistry({ mode: "token" });
  const img = await pushImage(reg, "test/single:v1");
  const layer = layerOf(img.manifest);
  await using proxy = await startFaultProxy(reg);
  await using far = await startRecordingServer();
  // B asks for a token from its own realm, claiming the scope is insufficient: the answer that
  // made the old client exchange the registry's credentials at B.
  far.respond(401, enc.encode('{"errors":[{"code":"UNAUTHORIZED"}]}'), {
    "www-authenticate": `Bearer realm="${far.url}/token",service="far",` +
      `scope="repository:test/single:pull",error="insufficient_scope"`,
  });
  await using d = await tempDir();
  const env = { HOME: d.path, DOCKER_CONFIG: `${d.path}/docker` };
  const login = await cosign(["login", proxy.host, "-u", TOKEN_USER, "--password-stdin"], {
    env,
    stdin: `${TOKEN_PASSWORD}\n`,
  });
  assertEquals(login.code, 0, login.stderr);
  proxy.inject({
    method: "GET",
    path: /\/blobs\//,
    times: 1,
    fault: { redirectTo: `${far.url}/storage/` },
  });
  const ref = `${proxy.host}/test/single@${img.digest}`;
  const r = await run(["sget", ref], { env });
  assertEquals(
    far.requests.map((q) => [q.path.split("?")[0], q.headers.authorization ?? "none"]),
    [[`/storage/v2/test/single/blobs/${layer.digest}`, "none"]],
    "B got one anonymous GET, and no request at its realm",
  );
  assertFails(r, 1, /redirected to http:\/\/127\.0\.0\.1:\d+, which asks for authentication/);
  assertEquals(r.stdout.length, 0, "nothing on stdout");
  const cache = await Deno.readTextFile(cachePath(d.path));
  assert(!cache.includes(new URL(far.url).host), `B is not in the cache: ${cache}`);
  assertEquals(JSON.parse(cache)[proxy.host], { scheme: "http" });

  // The next run with the same HOME and credentials works, and B hears nothing more.
  const tokensBefore = reg.tokenServer!.requests.length;
  const again = await run(["sget", ref], { env });
  assertEquals(again.code, 0, again.stderr);
  assertEquals(sha256Digest(again.stdout), layer.digest);
  assertEquals(far.requests.length, 1, "B is not contacted again");
  const tokens = reg.tokenServer!.requests.slice(tokensBefore);
  assert(
    tokens.length > 0 && tokens.every((t) => t.user === TOKEN_USER),
    "A's realm got the credentials",
  );
});

Deno.test("credentials: a redirect on the first request of a process does not make another origin's challenge the registry's", async () => {
  await using reg = await startRegistry({ mode: "token" });
  const img = await pushImage(reg, "test/single:v1");
  const layer = layerOf(img.manifest);
  await using proxy = await startFaultProxy(reg);
  await using far = await startRecordingServer();
  far.respond(401, new Uint8Array(), {
    "www-authenticate": `Bearer realm="${far.url}/token",service="far"`,
  });
  const tokensBefore = reg.tokenServer!.requests.length; // skopeo's push
  const client = new RegistryClient({
    keychain: staticKeychain({ username: TOKEN_USER, password: TOKEN_PASSWORD }),
    retry: { maxAttempts: 1 },
  });
  const repo = parseReference(`${proxy.host}/test/single:v1`);
  proxy.inject({
    method: "GET",
    path: /\/blobs\//,
    times: 1,
    fault: { redirectTo: `${far.url}/` },
  });
  let err: unknown;
  await client.fetchBlob(repo, layer.digest, layer.size).catch((e) => err = e);
  assert(err instanceof CosignError && err.code === "REGISTRY_AUTH", String(err));
  assertEquals(far.requests.length, 1, "only the redirected GET reached B");
  assertEquals(far.requests[0]!.headers.authorization, undefined);
  assertEquals(reg.tokenServer!.requests.length, tokensBefore, "no realm was asked yet");
  // The registry's own challenge is learned from the registry: its realm gets the credentials.
  const bytes = await new Response(await client.fetchBlob(repo, layer.digest, layer.size)).bytes();
  assertEquals(sha256Digest(bytes), layer.digest);
  assertEquals(far.requests.length, 1, "B is not contacted again");
  assertEquals(reg.tokenServer!.requests.slice(tokensBefore).map((t) => t.user), [TOKEN_USER]);
  assertEquals(client.knownHosts(), { [proxy.host]: { scheme: "http" } });
  client.close();
});

/** A TLS front end with Basic auth before a plain registry, as deployed without X-Forwarded-Proto. */
interface TlsFront extends AsyncDisposable {
  port: number;
  /** The host clients use (the recorder in front of it); `Location`s point there over http://. */
  publicHost: string;
  /** Answer the next N manifest GETs with a 307 to the same URL over http://. */
  redirectManifestReads: number;
}

async function startTlsFront(upstream: Registry, dir: string): Promise<TlsFront> {
  const tls = await makeTls(dir);
  const front: TlsFront = {
    port: 0,
    publicHost: "",
    redirectManifestReads: 0,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(tls.cert),
    key: await Deno.readTextFile(tls.key),
    onListen() {},
  }, async (req) => {
    const u = new URL(req.url);
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.bytes();
    if (req.headers.get("authorization") !== BASIC) {
      return new Response('{"errors":[{"code":"UNAUTHORIZED"}]}', {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="front"' },
      });
    }
    if (
      req.method === "GET" && /\/manifests\//.test(u.pathname) && front.redirectManifestReads > 0
    ) {
      front.redirectManifestReads--;
      return new Response(null, {
        status: 307,
        headers: { location: `http://${front.publicHost}${u.pathname}${u.search}` },
      });
    }
    const headers = new Headers(req.headers);
    headers.delete("authorization");
    headers.delete("host");
    const res = await fetch(upstream.url + u.pathname + u.search, {
      method: req.method,
      headers,
      ...(body ? { body } : {}),
      redirect: "manual",
    });
    const out = new Headers(res.headers);
    const loc = out.get("location");
    if (loc) {
      const abs = new URL(loc, upstream.url);
      out.set("location", `http://${front.publicHost}${abs.pathname}${abs.search}`);
    }
    return new Response(req.method === "HEAD" ? null : res.body, {
      status: res.status,
      headers: out,
    });
  });
  front.port = server.addr.port;
  return front;
}

/** A TLS front with Basic auth before a plain registry, behind a scheme recorder. */
async function tlsFrontSetup(dir: string) {
  const reg = await startRegistry();
  await pushImage(reg, "test/single:v1");
  const front = await startTlsFront(reg, dir);
  const recorder = await startSchemeRecorder(front.port);
  front.publicHost = recorder.host;
  const flags = [
    "--registry-cacert",
    `${dir}/tls/ca.crt`,
    "--registry-username",
    TOKEN_USER,
    "--registry-password",
    TOKEN_PASSWORD,
  ];
  return {
    reg,
    front,
    recorder,
    flags,
    env: { HOME: `${dir}/home` },
    async [Symbol.asyncDispose]() {
      await recorder.stop();
      await front[Symbol.asyncDispose]();
      await reg.stop();
    },
  };
}

Deno.test("credentials: an HTTPS registry's http:// upload Location for its own host is used over HTTPS", async () => {
  await using d = await tempDir();
  await using s = await tlsFrontSetup(d.path);
  // POST answers 202 with Location http://<same host>/v2/…/uploads/…; the PUT follows it.
  const file = `${d.path}/payload.sh`;
  await Deno.writeTextFile(file, "echo hello over TLS\n");
  const up = await cosign(
    ["upload", "blob", "-f", file, ...s.flags, `${s.recorder.host}/test/blob:v1`],
    { env: s.env },
  );
  assertEquals(s.recorder.plaintext(), [], "no plaintext request arrived");
  assertEquals(up.code, 0, up.stderr);
  assert(s.recorder.connections.length > 0, "requests arrived over TLS");
  // The upload completed at the registry.
  await getBlob(s.reg, "test/blob", sha256Digest(enc.encode("echo hello over TLS\n")));
});

Deno.test("credentials: an HTTPS registry's same-host 307 to http:// on a manifest read is followed over HTTPS", async () => {
  await using d = await tempDir();
  await using s = await tlsFrontSetup(d.path);
  s.front.redirectManifestReads = 1;
  const t = await cosign(
    ["triangulate", "--type", "digest", ...s.flags, `${s.recorder.host}/test/single:v1`],
    { env: s.env },
  );
  assertEquals(s.recorder.plaintext(), [], "no plaintext request arrived");
  assertEquals(t.code, 0, t.stderr);
  assertEquals(s.front.redirectManifestReads, 0, "the redirect was served");
});

Deno.test("credentials: a realm learned under --allow-insecure-registry is not replayed to the genuine registry on the same port", async () => {
  await using tokens = await startTokenServer();
  await using d = await tempDir();
  // First, a hostile TLS server (its certificate trusted by nobody) that sends clients to a
  // token server of its choosing.
  const tls = await makeTls(d.path);
  const hostile = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(tls.cert),
      key: await Deno.readTextFile(tls.key),
      onListen() {},
    },
    (req) =>
      req.headers.get("authorization")?.startsWith("Bearer ")
        ? Response.json({ errors: [{ code: "MANIFEST_UNKNOWN", message: "unknown" }] }, {
          status: 404,
        })
        : new Response("", {
          status: 401,
          headers: {
            "www-authenticate": `Bearer realm="${tokens.realm}",service="${tokens.service}"`,
          },
        }),
  );
  await using recorder = await startSchemeRecorder(hostile.addr.port);
  const env = { HOME: `${d.path}/home` };
  const creds = ["--registry-username", TOKEN_USER, "--registry-password", TOKEN_PASSWORD];
  const ref = `${recorder.host}/test/single:v1`;
  try {
    const first = await cosign(["triangulate", "--allow-insecure-registry", ...creds, ref], {
      env,
    });
    assertFails(first, 1, /not found/);
    assertEquals(tokens.requests.map((t) => t.user), [TOKEN_USER], "the hostile realm was used");
  } finally {
    await hostile.shutdown();
  }

  // Then the genuine registry on the same port, with a certificate this run verifies.
  await using genuine = await startRegistry({ mode: "tls" });
  const img = await pushImage(genuine, "test/single:v1");
  recorder.target = Number(genuine.host.split(":")[1]);
  const before = tokens.requests.length;
  const second = await cosign(
    ["triangulate", "--type", "digest", "--registry-cacert", genuine.caCertPath!, ...creds, ref],
    { env },
  );
  assertEquals(second.code, 0, second.stderr);
  assertEquals(second.out.trim(), `${recorder.host}/test/single@${img.digest}`);
  assertEquals(tokens.requests.slice(before), [], "the hostile token server heard nothing");
  const cache = await Deno.readTextFile(cachePath(env.HOME));
  assert(!cache.includes("realm"), `no realm is remembered: ${cache}`);
});

Deno.test("credentials: a credential helper in the current directory is never run, whatever PATH says", async () => {
  await using reg = await startRegistry({ mode: "htpasswd" });
  const img = await pushImage(reg, "test/single:v1");
  await using d = await tempDir();
  const work = `${d.path}/cloned-repo`;
  await Deno.mkdir(`${work}/bin`, { recursive: true });
  // A helper planted in the repository the user runs cosign from (and in a relative bin/).
  const helper = (marker: string) =>
    `#!/bin/sh\nread server\n: > '${d.path}/${marker}'\n` +
    `printf '{"ServerURL":"${reg.host}","Username":"${TOKEN_USER}","Secret":"${TOKEN_PASSWORD}"}'\n`;
  for (const [path, marker] of [[work, "ran-from-cwd"], [`${work}/bin`, "ran-from-bin"]]) {
    await Deno.writeTextFile(`${path}/docker-credential-planted`, helper(marker!));
    await Deno.chmod(`${path}/docker-credential-planted`, 0o755);
  }
  await Deno.mkdir(`${d.path}/docker`);
  await Deno.writeTextFile(
    `${d.path}/docker/config.json`,
    JSON.stringify({ credHelpers: { [reg.host]: "planted" } }),
  );
  const triangulate = (path: string) =>
    cosign(["triangulate", "--type", "digest", `${reg.host}/test/single:v1`], {
      cwd: work,
      env: { HOME: d.path, DOCKER_CONFIG: `${d.path}/docker`, PATH: path },
    });
  const ran = async () => {
    const names: string[] = [];
    for await (const e of Deno.readDir(d.path)) if (e.name.startsWith("ran-")) names.push(e.name);
    return names;
  };
  for (
    const path of [":/usr/bin:/bin", "/usr/bin::/bin", "/usr/bin:/bin:", ".:/usr/bin", "bin:/bin"]
  ) {
    const r = await triangulate(path);
    assertEquals(await ran(), [], `PATH=${path}: the planted helper was not run`);
    assertFails(r, 1, /docker-credential-planted not found on PATH/);
  }
  // The same helper through an absolute PATH entry is run: the test sees a helper that runs.
  const ok = await triangulate(`${work}:/usr/bin:/bin`);
  assertEquals(ok.code, 0, ok.stderr);
  assertEquals(ok.out.trim(), `${reg.host}/test/single@${img.digest}`);
  assertEquals(await ran(), ["ran-from-cwd"]);
});
