/**
 * An interrupted `save` leaves no partial blob: SIGINT and SIGTERM remove the blob being written,
 * and a later `save` removes what a killed one (SIGKILL, no chance to clean up) left behind.
 */
import { pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, cliCommand, cosign, tempDir } from "./helpers.ts";

const ENV = { DOCKER_CONFIG: "/nonexistent", COSIGN_DENO_NO_CACHE: "1" };

/**
 * A proxy in front of `reg` whose blob downloads send their first bytes and then stall, so a
 * `save` through it is caught with a partial blob on disk.
 */
function stallingProxy(reg: Registry): { host: string } & AsyncDisposable {
  const stalled: ReadableStreamDefaultController<Uint8Array>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const up = await fetch(`${reg.url}${url.pathname}${url.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.body,
    });
    if (req.method !== "GET" || !/\/blobs\/sha256:/.test(url.pathname)) return up;
    const bytes = new Uint8Array(await up.arrayBuffer());
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.subarray(0, Math.max(1, bytes.length >> 1)));
        stalled.push(c); // never closed: the rest never comes
      },
    });
    return new Response(body, { status: up.status, headers: up.headers });
  });
  return {
    host: `127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      for (const c of stalled) {
        try {
          c.close();
        } catch { /* the client went away */ }
      }
      await server.shutdown();
    },
  };
}

function temporaries(layout: string): string[] {
  const out: string[] = [];
  for (const folder of [layout, `${layout}/blobs/sha256`]) {
    try {
      for (const e of Deno.readDirSync(folder)) if (e.name.startsWith(".tmp-")) out.push(e.name);
    } catch { /* not made yet */ }
  }
  return out;
}

/** Starts `cosign save` through the stalling proxy and waits until a partial blob is on disk. */
async function saveUntilPartial(proxyHost: string, layout: string): Promise<Deno.ChildProcess> {
  const child = cliCommand(["cosign", "save", "--dir", layout, `${proxyHost}/app/img:v1`], {
    env: ENV,
  }, "null").spawn();
  for (let i = 0; i < 600 && temporaries(layout).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert(temporaries(layout).length > 0, "a partial blob is being written");
  return child;
}

Deno.test("save: SIGINT and SIGTERM remove the blob being written", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  await pushImage(reg, "app/img:v1");
  await using proxy = stallingProxy(reg);
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    const layout = `${d.path}/${signal}`;
    const child = await saveUntilPartial(proxy.host, layout);
    child.kill(signal);
    const out = await child.output();
    assertEquals(out.code, code, new TextDecoder().decode(out.stderr));
    assertEquals(temporaries(layout), [], `no partial blob after ${signal}`);
  }
});

Deno.test("save: a later save removes what a killed one left, and completes", async () => {
  await using d = await tempDir();
  await using reg = await startRegistry();
  await pushImage(reg, "app/img:v1");
  const layout = `${d.path}/saved`;
  {
    await using proxy = stallingProxy(reg);
    const child = await saveUntilPartial(proxy.host, layout);
    child.kill("SIGKILL");
    await child.output();
  }
  const left = temporaries(layout);
  assert(left.length > 0, "SIGKILL leaves the partial blob");
  const s = await cosign(["save", "--dir", layout, `${reg.host}/app/img:v1`], { env: ENV });
  assertEquals(s.code, 0, s.stderr);
  assertEquals(temporaries(layout), [], `stale temporaries removed (were ${left.join(", ")})`);
});
