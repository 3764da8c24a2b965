/**
 * Small shared helpers for the registry test harness (no dependencies beyond Deno).
 * @module
 */

/** Hex SHA-256 of `data`. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Standard base64 of bytes (works for large inputs). */
export function b64(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    s += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** base64url without padding of a string (UTF-8) or bytes. */
export function b64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** DER bytes of the first PEM block in `pem`. */
export function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const m = /-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/.exec(pem);
  if (!m || m[1] === undefined) throw new Error("no PEM block found");
  return Uint8Array.from(atob(m[1].replace(/\s/g, "")), (c) => c.charCodeAt(0));
}

/** Result of {@link exec}. */
export interface ExecResult {
  code: number;
  out: Uint8Array;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (stdin closed) and returns its output; never throws on exit code. */
export async function exec(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<ExecResult> {
  const c = new Deno.Command(cmd, {
    args,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin) {
    const w = c.stdin.getWriter();
    await w.write(opts.stdin);
    await w.close();
  }
  const r = await c.output();
  const dec = new TextDecoder();
  return {
    code: r.code,
    out: r.stdout,
    stdout: dec.decode(r.stdout),
    stderr: dec.decode(r.stderr),
  };
}

/** Like {@link exec} but throws (with the output) when the exit code is not 0. */
export async function execOk(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<ExecResult> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stderr}${r.stdout}`);
  }
  return r;
}

/** Resolves after `ms` milliseconds, or rejects early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Generates an EC P-256 key (`NAME.key`, PKCS#8 PEM) and self-signed cert (`NAME.crt`) in `dir`. */
export async function selfSignedEc(
  dir: string,
  name: string,
  subject: string,
  extraArgs: string[] = [],
): Promise<{ key: string; cert: string }> {
  const key = `${dir}/${name}.key`, cert = `${dir}/${name}.crt`;
  await execOk("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "3650",
    "-subj",
    subject,
    ...extraArgs,
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  return { key, cert };
}
