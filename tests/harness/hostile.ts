/**
 * Hostile servers and a memory-measuring runner for the limits tests: a fake registry on
 * loopback that serves whatever a test routes (endless bodies, gzip bombs, lying sizes), and
 * `runMeasured`, which runs the CLI as a child and samples its peak resident memory from
 * `/proc/<pid>/status`, killing it once it passes a ceiling so a regression cannot exhaust
 * the machine.
 * @module
 */

import { cliCommand, type RunOptions, type RunResult } from "../helpers.ts";

/** One request the hostile registry saw. */
export interface SeenRequest {
  method: string;
  path: string;
}

/** A handler: a response, or undefined for the default (404 with a registry error body). */
export type HostileRoute = (req: Request, url: URL) => Response | Promise<Response> | undefined;

/** A running hostile registry. */
export interface HostileRegistry extends AsyncDisposable {
  /** `127.0.0.1:PORT`, usable as a registry host. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Every request, in order. */
  requests: SeenRequest[];
  /** Requests whose method and path match. */
  count(method: string, path: RegExp): number;
}

/**
 * Starts a registry on 127.0.0.1 that answers `/v2/` with 200 (unless the route says
 * otherwise), and everything else from `route`, or 404.
 */
export function startHostileRegistry(route: HostileRoute): HostileRegistry {
  const requests: SeenRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    requests.push({ method: req.method, path: url.pathname + url.search });
    const answer = await route(req, url);
    if (answer) return answer;
    if (url.pathname === "/v2/") return new Response("{}", { status: 200 });
    return Response.json({ errors: [{ code: "NOT_FOUND", message: "no such thing" }] }, {
      status: 404,
    });
  });
  const host = `127.0.0.1:${server.addr.port}`;
  return {
    host,
    url: `http://${host}`,
    requests,
    count: (method, path) =>
      requests.filter((r) => r.method === method && path.test(r.path)).length,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A body of `total` bytes (default: practically endless) of `fill`, made as it is read. */
export function endlessBody(total = 64 * 1024 ** 3, fill = 0x61): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(1 << 20).fill(fill);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      controller.enqueue(chunk.subarray(0, n));
    },
  });
}

let bomb: Promise<Uint8Array> | undefined;

/** A gzip stream (about 1 MiB) that inflates to 1 GiB of zeros; made once per process. */
export function gzipBomb(): Promise<Uint8Array> {
  return bomb ??= (async () => {
    const zeros = endlessBody(1024 ** 3, 0) as ReadableStream<BufferSource>;
    return new Uint8Array(
      await new Response(zeros.pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
    );
  })();
}

/** The hex SHA-256 of `bytes`. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  return "sha256:" +
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>))
      .toHex();
}

/** What {@link runMeasured} saw. */
export interface MeasuredRun extends RunResult {
  /** The child's peak resident memory (VmHWM), KiB, as last sampled. */
  peakKiB: number;
  /** True when the child passed the ceiling and was killed. */
  killed: boolean;
}

function statusKiB(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Runs `cli.ts ARGS` (first arg `cosign` or `sget`) as {@link run} does, sampling the child's
 * `/proc/<pid>/status` every 20 ms: the result carries the highest VmHWM seen. A child whose
 * resident memory passes `killAboveKiB` (default 640 MiB), or that runs past `killAfterMs`
 * (default 3 minutes: a hang), is killed and `killed` set, so a test of a bound that does not
 * hold fails instead of exhausting the machine.
 */
export async function runMeasured(
  args: string[],
  opts: RunOptions & { killAboveKiB?: number; killAfterMs?: number } = {},
): Promise<MeasuredRun> {
  const child = cliCommand(args, opts, "null").spawn();
  const ceiling = opts.killAboveKiB ?? 640 * 1024;
  let peak = 0;
  let killed = false;
  let running = true;
  // A watchdog, not a timing assertion: a child that hangs (a FIFO read) is ended so the test
  // reports it instead of hanging the suite.
  const started = Date.now();
  const sampler = (async () => {
    while (running) {
      if (!killed && Date.now() - started > (opts.killAfterMs ?? 180_000)) {
        killed = true;
        child.kill("SIGKILL");
      }
      try {
        const text = await Deno.readTextFile(`/proc/${child.pid}/status`);
        peak = Math.max(peak, statusKiB(text, "VmHWM"));
        if (statusKiB(text, "VmRSS") > ceiling && !killed) {
          killed = true;
          child.kill("SIGKILL");
        }
      } catch { /* exited */ }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const out = await child.output();
  running = false;
  await sampler;
  return {
    code: out.code,
    stdout: out.stdout,
    out: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    peakKiB: peak,
    killed,
  };
}
