/**
 * A loopback TCP relay that records, per connection, whether the client spoke TLS or plain
 * HTTP, before any server could answer: a TLS connection starts with a handshake record (byte
 * 0x16), a plain HTTP one with a method name. TLS connections are relayed byte for byte to the
 * current {@link SchemeRecorder.target} port (which a test may change, to put another server
 * behind the same port); plain HTTP ones are logged (request head, whether they carried
 * `Authorization`) and answered 400 "Client sent an HTTP request to an HTTPS server.", as Go's
 * TLS servers do. Binds 127.0.0.1, free port.
 * @module
 */

/** One accepted connection. */
export interface RecordedConnection {
  /** True when the first byte was a TLS handshake record. */
  tls: boolean;
  /** Plain HTTP only: the request line. */
  requestLine?: string;
  /** Plain HTTP only: whether the request head carried an Authorization header. */
  authorization?: boolean;
}

/** A running recorder. */
export interface SchemeRecorder extends AsyncDisposable {
  /** "127.0.0.1:PORT" */
  host: string;
  /** The backend port TLS connections are relayed to; may be changed between runs. */
  target: number;
  /** Every connection accepted, in order (those that sent nothing are not recorded). */
  connections: RecordedConnection[];
  /** The connections that spoke plain HTTP. */
  plaintext(): RecordedConnection[];
  stop(): Promise<void>;
}

const PLAIN_ANSWER = new TextEncoder().encode(
  "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
    "Content-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
);

async function pump(src: Deno.Conn, dst: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await src.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await dst.write(buf.subarray(off, n));
    }
  } catch { /* either side went away */ }
}

/** Starts a recorder relaying TLS connections to `target`. */
export function startSchemeRecorder(target: number): Promise<SchemeRecorder> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: RecordedConnection[] = [];
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const rec: SchemeRecorder = {
    host: `127.0.0.1:${listener.addr.port}`,
    target,
    connections,
    plaintext: () => connections.filter((c) => !c.tls),
    stop,
    [Symbol.asyncDispose]: stop,
  };
  const closeQuietly = (c: Deno.Conn) => {
    open.delete(c);
    try {
      c.close();
    } catch { /* already closed */ }
  };

  const serve = async (front: Deno.Conn) => {
    open.add(front);
    try {
      const buf = new Uint8Array(64 * 1024);
      const n = await front.read(buf);
      if (n === null || n === 0) return;
      const first = buf.subarray(0, n);
      if (first[0] === 0x16) {
        connections.push({ tls: true });
        const back = await Deno.connect({ hostname: "127.0.0.1", port: rec.target });
        open.add(back);
        try {
          let off = 0;
          while (off < n) off += await back.write(first.subarray(off));
          await Promise.race([pump(front, back), pump(back, front)]);
        } finally {
          closeQuietly(back);
        }
        return;
      }
      const head = new TextDecoder().decode(first);
      connections.push({
        tls: false,
        requestLine: head.split("\r\n")[0] ?? "",
        authorization: /^authorization:/im.test(head.split("\r\n\r\n")[0] ?? ""),
      });
      await front.write(PLAIN_ANSWER);
    } catch {
      /* the client went away */
    } finally {
      closeQuietly(front);
    }
  };

  const accepting = (async () => {
    for (;;) {
      let c: Deno.Conn;
      try {
        c = await listener.accept();
      } catch {
        return; // listener closed
      }
      const t = serve(c).finally(() => tasks.delete(t));
      tasks.add(t);
    }
  })();

  let stopped: Promise<void> | undefined;
  function stop(): Promise<void> {
    return stopped ??= (async () => {
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const c of [...open]) closeQuietly(c);
      await accepting;
      await Promise.all([...tasks]);
    })();
  }
  return Promise.resolve(rec);
}
