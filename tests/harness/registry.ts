/**
 * Starts the real CNCF distribution registry (Debian `docker-registry` 2.8) on 127.0.0.1 with a
 * free port, in one of four modes, with storage in a fresh temporary folder:
 * - `noauth`: plain HTTP, no auth;
 * - `htpasswd`: plain HTTP + Basic auth (`testuser` / `testpass`, bcrypt);
 * - `tls`: HTTPS (leaf signed by a per-registry test CA, SAN IP:127.0.0.1 + DNS:localhost), no auth;
 *   with `clientCerts` the registry also demands a client certificate its CA issued (mutual TLS,
 *   distribution's `http.tls.clientcas`), and with `serverName` its certificate names only
 *   `DNS:<serverName>`, so a client reaching 127.0.0.1 must be told the name to check;
 * - `token`: plain HTTP + Bearer tokens from an in-process {@link TokenServer}.
 *
 * Use with `await using reg = await startRegistry({ mode: "tls" })`; disposing kills the process
 * (by PID), stops the token server and removes the folder.
 * @module
 */

import { startTokenServer, TOKEN_PASSWORD, TOKEN_USER, type TokenServer } from "./token_server.ts";
import { execOk, sleep } from "./util.ts";

export type { TokenServer } from "./token_server.ts";

/** How the registry is protected. */
export type RegistryMode = "noauth" | "htpasswd" | "tls" | "token";

/** A running registry. */
export interface Registry extends AsyncDisposable {
  mode: RegistryMode;
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT", or "https://127.0.0.1:PORT" in tls mode. */
  url: string;
  /** The registry's storage root (`…/docker/registry/v2/…` lives below it). */
  dataDir: string;
  /** The temporary folder holding config, certificates and `dataDir`; removed on stop. */
  rootDir: string;
  /** PID of the `docker-registry` process. */
  pid: number;
  /** "testuser" in htpasswd/token modes (tls mode has no auth, see module doc). */
  username?: string;
  /** "testpass" in htpasswd/token modes. */
  password?: string;
  /** tls mode: PEM file of the test CA that signed the server certificate. */
  caCertPath?: string;
  /** tls mode: a folder holding only `ca.crt` (for skopeo `--cert-dir` / `--dest-cert-dir`). */
  certDir?: string;
  /** tls mode: a `Deno.HttpClient` trusting the test CA (closed on stop). */
  client?: Deno.HttpClient;
  /** tls mode with `clientCerts`: PEM client certificate the registry accepts. */
  clientCertPath?: string;
  /** tls mode with `clientCerts`: PEM private key of {@link clientCertPath}. */
  clientKeyPath?: string;
  /** token mode: the token server the registry trusts. */
  tokenServer?: TokenServer;
  /** Everything the registry printed so far (info level: one "response completed" line a request). */
  log(): string;
  /** Path of a blob's data file in storage (`digest` = "sha256:…"), e.g. to corrupt or delete it. */
  blobPath(digest: string): string;
  /** Kills the process, waits for it to exit, stops the token server, removes `rootDir`. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startRegistry}. */
export interface RegistryOptions {
  mode?: RegistryMode;
  /** Give up waiting for `/v2/` after this many ms (default 10000). */
  timeoutMs?: number;
  /** tls mode: demand a client certificate signed by the test CA (mutual TLS). */
  clientCerts?: boolean;
  /** tls mode: the only name (DNS SAN) in the server certificate, instead of 127.0.0.1/localhost. */
  serverName?: string;
}

const LOG_CAP = 4 << 20;

/**
 * Makes a test CA and a server certificate it signs (SAN IP:127.0.0.1 and DNS:localhost) in
 * `root/tls`; returns the PEM file paths.
 */
export async function makeTls(
  root: string,
  opts: { san?: string } = {},
): Promise<{ caCert: string; cert: string; key: string; caKey: string }> {
  const d = `${root}/tls`;
  await Deno.mkdir(d);
  const ca = `${d}/ca.crt`, caKey = `${d}/ca.key`, key = `${d}/tls.key`, csr = `${d}/tls.csr`;
  const cert = `${d}/tls.crt`, ext = `${d}/leaf.ext`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await execOk("openssl", [
    "req",
    "-x509",
    ...ec,
    "-days",
    "3650",
    "-subj",
    "/CN=Test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
    "-keyout",
    caKey,
    "-out",
    ca,
  ]);
  await execOk("openssl", ["req", ...ec, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr]);
  await Deno.writeTextFile(
    ext,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      `extendedKeyUsage=serverAuth\nsubjectAltName=${opts.san ?? "IP:127.0.0.1,DNS:localhost"}\n`,
  );
  await execOk("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-days",
    "365",
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  return { caCert: ca, cert, key, caKey };
}

/** Issues a client certificate (EKU clientAuth) from the CA {@link makeTls} made in `root/tls`. */
export async function makeClientCert(
  root: string,
  name = "client",
): Promise<{ cert: string; key: string }> {
  const d = `${root}/tls`;
  const key = `${d}/${name}.key`, csr = `${d}/${name}.csr`, cert = `${d}/${name}.crt`;
  const ext = `${d}/${name}.ext`;
  await execOk("openssl", [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    `/CN=${name}`,
    "-keyout",
    key,
    "-out",
    csr,
  ]);
  await Deno.writeTextFile(
    ext,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      "extendedKeyUsage=clientAuth\n",
  );
  await execOk("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    `${d}/ca.crt`,
    "-CAkey",
    `${d}/ca.key`,
    "-CAcreateserial",
    "-days",
    "365",
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  return { cert, key };
}

/** Starts a registry; see the module documentation. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const mode = opts.mode ?? "noauth";
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const rootDir = await Deno.makeTempDir({ prefix: "cosign-registry-" });
  const dataDir = `${rootDir}/data`;
  let tokenServer: TokenServer | undefined;
  let client: Deno.HttpClient | undefined;
  let child: Deno.ChildProcess | undefined;
  const readers: Promise<void>[] = [];
  let logText = "";

  const cleanup = async () => {
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), 5000)),
      ]);
      clearTimeout(timer);
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        await child.status;
      }
      await Promise.all(readers);
    }
    client?.close();
    await tokenServer?.stop();
    await Deno.remove(rootDir, { recursive: true }).catch(() => {});
  };

  try {
    await Deno.mkdir(dataDir);
    const http: Record<string, unknown> = { addr: "127.0.0.1:0", secret: "test-secret" };
    const config: Record<string, unknown> = {
      version: "0.1",
      log: { level: "info", accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: dataDir },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http,
    };
    let caCertPath: string | undefined, certDir: string | undefined;
    let clientPair: { cert: string; key: string } | undefined;
    if (mode === "tls") {
      const tls = await makeTls(rootDir, opts.serverName ? { san: `DNS:${opts.serverName}` } : {});
      http.tls = { certificate: tls.cert, key: tls.key };
      certDir = `${rootDir}/certs`;
      await Deno.mkdir(certDir);
      caCertPath = `${certDir}/ca.crt`;
      await Deno.copyFile(tls.caCert, caCertPath);
      if (opts.clientCerts) {
        clientPair = await makeClientCert(rootDir);
        (http.tls as Record<string, unknown>).clientcas = [tls.caCert];
        // skopeo's --cert-dir takes a client pair as NAME.cert + NAME.key beside ca.crt.
        await Deno.copyFile(clientPair.cert, `${certDir}/client.cert`);
        await Deno.copyFile(clientPair.key, `${certDir}/client.key`);
      }
      client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(caCertPath)],
        ...(clientPair
          ? {
            cert: await Deno.readTextFile(clientPair.cert),
            key: await Deno.readTextFile(clientPair.key),
          }
          : {}),
      });
    } else if (mode === "htpasswd") {
      const r = await execOk("htpasswd", ["-Bbn", TOKEN_USER, TOKEN_PASSWORD]); // bcrypt only
      await Deno.writeTextFile(`${rootDir}/htpasswd`, r.stdout);
      config.auth = { htpasswd: { realm: "test-realm", path: `${rootDir}/htpasswd` } };
    } else if (mode === "token") {
      await Deno.mkdir(`${rootDir}/token`);
      tokenServer = await startTokenServer({ dir: `${rootDir}/token` });
      config.auth = {
        token: {
          realm: tokenServer.realm,
          service: tokenServer.service,
          issuer: tokenServer.issuer,
          rootcertbundle: tokenServer.certPath,
        },
      };
    } else if (mode !== "noauth") {
      throw new Error(`unknown registry mode ${String(mode)}`);
    }
    // JSON is valid YAML: no quoting issues with paths.
    const configPath = `${rootDir}/config.yml`;
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2) + "\n");

    child = new Deno.Command("docker-registry", {
      args: ["serve", configPath],
      cwd: rootDir,
      clearEnv: true, // no stray REGISTRY_* overrides from the environment
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: rootDir, TZ: "UTC" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();

    let port = 0;
    let wake: () => void = () => {};
    const pump = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of s) {
        logText += dec.decode(chunk, { stream: true });
        if (logText.length > LOG_CAP) logText = logText.slice(-LOG_CAP / 2);
        if (!port) {
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(logText);
          if (m) port = Number(m[1]);
        }
        wake();
      }
    };
    readers.push(pump(child.stdout).catch(() => {}), pump(child.stderr).catch(() => {}));
    let exitCode: number | undefined;
    child.status.then((s) => {
      exitCode = s.code;
      wake();
    });

    const deadline = Date.now() + timeoutMs;
    const fail = (why: string) =>
      new Error(`docker-registry (${mode}) ${why}\n--- registry log ---\n${logText}`);
    while (!port) {
      if (exitCode !== undefined) throw fail(`exited with code ${exitCode} before listening`);
      if (Date.now() > deadline) throw fail(`did not report its port within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, 50);
      });
      clearTimeout(timer);
    }
    const scheme = mode === "tls" ? "https" : "http";
    const host = `127.0.0.1:${port}`;
    const url = `${scheme}://${host}`;
    for (;;) {
      if (exitCode !== undefined) throw fail(`exited with code ${exitCode}`);
      if (opts.serverName) {
        // Its certificate does not name 127.0.0.1: listening is all that can be checked here.
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          break;
        } catch (e) {
          if (Date.now() > deadline) throw fail(`did not accept connections: ${e}`);
          await sleep(20);
          continue;
        }
      }
      try {
        const r = await fetch(`${url}/v2/`, client ? { client } : {});
        await r.body?.cancel();
        if (r.status === 200 || r.status === 401) break;
        if (Date.now() > deadline) throw fail(`answered /v2/ with ${r.status}`);
      } catch (e) {
        if (Date.now() > deadline) throw fail(`did not answer /v2/ within ${timeoutMs} ms: ${e}`);
      }
      await sleep(20);
    }

    let stopped: Promise<void> | undefined;
    const stop = () => (stopped ??= cleanup());
    const reg: Registry = {
      mode,
      host,
      url,
      dataDir,
      rootDir,
      pid: child.pid,
      log: () => logText,
      blobPath(digest: string) {
        const [alg, hex] = digest.split(":");
        if (!alg || !hex || hex.length < 2) throw new Error(`bad digest ${digest}`);
        return `${dataDir}/docker/registry/v2/blobs/${alg}/${hex.slice(0, 2)}/${hex}/data`;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
    if (mode !== "noauth" && mode !== "tls") {
      reg.username = TOKEN_USER;
      reg.password = TOKEN_PASSWORD;
    }
    if (caCertPath !== undefined) reg.caCertPath = caCertPath;
    if (certDir !== undefined) reg.certDir = certDir;
    if (client !== undefined) reg.client = client;
    if (clientPair) {
      reg.clientCertPath = clientPair.cert;
      reg.clientKeyPath = clientPair.key;
    }
    if (tokenServer !== undefined) reg.tokenServer = tokenServer;
    return reg;
  } catch (e) {
    await cleanup();
    throw e;
  }
}
