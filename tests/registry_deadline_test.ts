/**
 * `-t/--timeout` is a deadline for the whole command (cosign's default 3m): every request, retry
 * and backoff ends by then, and the error says the deadline passed and what was being done.
 */
import { assert, assertFails, cosign, type RunResult, tempDir } from "./helpers.ts";

/** A loopback listener that accepts connections and never answers. */
function silentServer(): { host: string } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of listener) conns.push(c);
    } catch { /* closed */ }
  })();
  return {
    host: `127.0.0.1:${listener.addr.port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await accepting;
    },
  };
}

/** Runs cosign, failing the test if it is still running after 60 s (the test's own guard). */
async function withGuard(p: Promise<RunResult>): Promise<RunResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("cosign still running after 60 s")), 60_000);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("--timeout: a registry that never answers ends sign with the deadline error", async () => {
  await using d = await tempDir();
  await using silent = silentServer();
  const env = { COSIGN_PASSWORD: "pw", DOCKER_CONFIG: d.path, COSIGN_DENO_NO_CACHE: "1" };
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/c`], { env });
  assert(g.code === 0, g.stderr);
  const r = await withGuard(cosign([
    "sign",
    "--key",
    `${d.path}/c.key`,
    "--tlog-upload=false",
    "--timeout",
    "2s",
    `${silent.host}/app/img:v1`,
  ], { env }));
  assertFails(
    r,
    1,
    new RegExp(
      `Deadline of 2s \\(--timeout\\) passed while waiting for ${silent.host} to answer GET /v2/`,
    ),
  );
});

Deno.test("--timeout: a backoff that would outlive the deadline is not waited for", async () => {
  // Every request answers 503 with Retry-After: 30; with a 2s deadline the retry cannot be sent
  // in time, so the command ends at once naming the retry it gave up.
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("busy", { status: 503, headers: { "retry-after": "30" } }),
  );
  const host = `127.0.0.1:${server.addr.port}`;
  const r = await withGuard(cosign(["triangulate", "-t", "2s", `${host}/app/img:v1`], {
    env: { DOCKER_CONFIG: "/nonexistent", COSIGN_DENO_NO_CACHE: "1" },
  }));
  assertFails(
    r,
    1,
    new RegExp(
      `Deadline of 2s \\(--timeout\\) passed while waiting to retry GET /v2/\\S* on ${host} \\(after HTTP 503\\)`,
    ),
  );
});

Deno.test("--timeout: a value that is not a positive duration is a usage error", async () => {
  for (const bad of ["abc", "0s", "-1s", "10"]) {
    const r = await cosign(["triangulate", "--timeout", bad, "127.0.0.1:1/app/img:v1"]);
    assertFails(r, 2, /invalid --timeout ".*": not a positive duration/);
  }
});
