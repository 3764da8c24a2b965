/**
 * A Docker-registry-style Bearer token server (ES256 JWT with an `x5c` header) running in the test
 * process (`Deno.serve` on 127.0.0.1, free port). The registry trusts it via `rootcertbundle`
 * ({@link TokenServer.certPath}).
 *
 * Accepted requests (path `/token`):
 * - `GET ?service=S&scope=…&scope=…` with optional Basic auth: `testuser:testpass` → all requested
 *   actions; anonymous → only `pull` of what was requested; any other credentials → 401.
 *   `offline_token=true` adds `refresh_token` to the answer.
 * - `POST` form `grant_type=password&username=…&password=…&service=…&scope=…` (same credential
 *   rules; `access_type=offline` adds `refresh_token`), or
 *   `grant_type=refresh_token&refresh_token=valid-refresh-token&service=…&scope=…` (any other
 *   refresh token → 401). Scopes in a form are space-separated.
 * @module
 */

import { b64, b64url, pemToDer, selfSignedEc } from "./util.ts";

/** The only accepted user. */
export const TOKEN_USER = "testuser";
/** Its password. */
export const TOKEN_PASSWORD = "testpass";
/** The only accepted refresh token. */
export const VALID_REFRESH_TOKEN = "valid-refresh-token";

/** One token request as the token server saw it. */
export interface TokenRequest {
  method: string;
  /** The requested scopes (each `type:name:actions`), split on whitespace. */
  scope: string[];
  /** Who asked: "" for anonymous; the claimed user name even when the request was refused. */
  user: string;
  /** `grant_type` of a POST. */
  grantType?: string;
  /** `service` parameter ("" when absent). */
  service: string;
  /** HTTP status the token server answered. */
  status: number;
  /** What was granted (`type:name:actions`, actions comma-joined); empty when refused. */
  granted: string[];
}

/** A running token server. */
export interface TokenServer extends AsyncDisposable {
  /** "http://127.0.0.1:PORT/token" */
  realm: string;
  /** "test-registry" */
  service: string;
  /** "test-issuer" */
  issuer: string;
  /** PEM of the self-signed certificate whose key signs the tokens (the registry's rootcertbundle). */
  certPath: string;
  /** Every token request seen, in order. */
  requests: TokenRequest[];
  /** `expires_in` and JWT lifetime in seconds (default 300); may be changed by tests. */
  expiresIn: number;
  stop(): Promise<void>;
}

/** Options for {@link startTokenServer}. */
export interface TokenServerOptions {
  /** Folder for the signer key/cert (default: a new temporary folder removed on stop). */
  dir?: string;
  service?: string;
  issuer?: string;
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

function parseScope(s: string): Access | undefined {
  const parts = s.split(":");
  if (parts.length < 3) return undefined;
  const type = parts[0]!, actions = parts[parts.length - 1]!;
  return { type, name: parts.slice(1, -1).join(":"), actions: actions.split(",").filter(Boolean) };
}

function unauthorized(msg: string): Response {
  return Response.json(
    { errors: [{ code: "UNAUTHORIZED", message: msg }], error: "invalid_grant" },
    { status: 401, headers: { "www-authenticate": 'Basic realm="token"' } },
  );
}

/** Starts a token server on 127.0.0.1 (free port). */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "cosign-token-" });
  try {
    const { key: keyPath, cert: certPath } = await selfSignedEc(dir, "signer", "/CN=token-signer");
    const key = await crypto.subtle.importKey(
      "pkcs8",
      pemToDer(await Deno.readTextFile(keyPath)),
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
    const certB64 = b64(pemToDer(await Deno.readTextFile(certPath)));
    const service = opts.service ?? "test-registry";
    const issuer = opts.issuer ?? "test-issuer";
    const requests: TokenRequest[] = [];

    const sign = async (sub: string, aud: string, access: Access[], lifetime: number) => {
      const now = Math.floor(Date.now() / 1000);
      const header = { typ: "JWT", alg: "ES256", x5c: [certB64] };
      const claims = {
        iss: issuer,
        sub,
        aud,
        exp: now + lifetime,
        nbf: now - 10,
        iat: now,
        jti: crypto.randomUUID(),
        access,
      };
      const input = b64url(JSON.stringify(header)) + "." + b64url(JSON.stringify(claims));
      const sig = new Uint8Array(
        await crypto.subtle.sign(
          { name: "ECDSA", hash: "SHA-256" },
          key,
          new TextEncoder().encode(input),
        ),
      );
      return input + "." + b64url(sig);
    };

    const handle = async (req: Request): Promise<Response> => {
      const u = new URL(req.url);
      if (u.pathname !== "/token") return new Response("not found", { status: 404 });
      let params: URLSearchParams;
      let grantType: string | undefined;
      if (req.method === "GET") {
        params = u.searchParams;
      } else if (req.method === "POST") {
        params = new URLSearchParams(await req.text());
        grantType = params.get("grant_type") ?? "";
      } else {
        return new Response("method not allowed", { status: 405 });
      }
      const scope = params.getAll("scope").flatMap((s) => s.split(/\s+/)).filter(Boolean);
      const rec: TokenRequest = {
        method: req.method,
        scope,
        user: "",
        service: params.get("service") ?? "",
        status: 0,
        granted: [],
      };
      if (grantType !== undefined) rec.grantType = grantType;
      requests.push(rec);
      const done = (r: Response) => {
        rec.status = r.status;
        return r;
      };

      // Who is asking, and is it allowed?
      let full = false;
      let refresh = false;
      if (req.method === "GET") {
        const auth = req.headers.get("authorization");
        if (auth !== null) {
          if (!/^basic /i.test(auth)) return done(unauthorized("unsupported authorization"));
          let decoded: string;
          try {
            decoded = atob(auth.slice(6).trim());
          } catch {
            return done(unauthorized("bad basic auth"));
          }
          const i = decoded.indexOf(":");
          const user = i < 0 ? decoded : decoded.slice(0, i);
          const pass = i < 0 ? "" : decoded.slice(i + 1);
          rec.user = user;
          if (user !== TOKEN_USER || pass !== TOKEN_PASSWORD) {
            return done(unauthorized("invalid username or password"));
          }
          full = true;
        }
        refresh = params.get("offline_token") === "true";
      } else if (grantType === "password") {
        const user = params.get("username") ?? "";
        rec.user = user;
        if (user !== TOKEN_USER || params.get("password") !== TOKEN_PASSWORD) {
          return done(unauthorized("invalid username or password"));
        }
        full = true;
        refresh = params.get("access_type") === "offline";
      } else if (grantType === "refresh_token") {
        if (params.get("refresh_token") !== VALID_REFRESH_TOKEN) {
          return done(unauthorized("invalid refresh token"));
        }
        rec.user = TOKEN_USER;
        full = true;
        refresh = true;
      } else {
        return done(
          Response.json({ error: "unsupported_grant_type" }, { status: 400 }),
        );
      }

      const access: Access[] = [];
      for (const s of scope) {
        const a = parseScope(s);
        if (!a) continue;
        if (!full) a.actions = a.actions.filter((x) => x === "pull");
        access.push(a);
      }
      rec.granted = access.map((a) => `${a.type}:${a.name}:${a.actions.join(",")}`);
      const lifetime = server.expiresIn;
      const token = await sign(rec.user, rec.service, access, lifetime);
      const body: Record<string, unknown> = {
        token,
        access_token: token,
        expires_in: lifetime,
        issued_at: new Date().toISOString(),
      };
      if (refresh && full) body.refresh_token = VALID_REFRESH_TOKEN;
      return done(Response.json(body));
    };

    const httpServer = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => handle(req),
    );
    let stopped: Promise<void> | undefined;
    const stop = () => {
      stopped ??= (async () => {
        await httpServer.shutdown();
        if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return stopped;
    };
    const server: TokenServer = {
      realm: `http://127.0.0.1:${httpServer.addr.port}/token`,
      service,
      issuer,
      certPath,
      requests,
      expiresIn: 300,
      stop,
      [Symbol.asyncDispose]: stop,
    };
    return server;
  } catch (e) {
    if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}
