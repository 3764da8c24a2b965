/**
 * Interactive OpenID Connect login for keyless signing, as cosign does it (sigstore
 * `pkg/oauthflow`): the issuer's discovery document, then either
 * - the browser flow ("normal"): authorization code with PKCE (S256), `state` and `nonce`, and a
 *   loopback redirect listener on 127.0.0.1 that receives the code; or
 * - the device flow (RFC 8628): a user code shown to the user, the token endpoint polled
 *   honouring `interval`, `slow_down`, `authorization_pending` and `expired_token`.
 *
 * Scopes are `openid email`. The returned ID token has been checked: signature against the
 * issuer's JWKS, issuer, audience (the client id), expiry, and (browser flow) the nonce.
 * Nothing is printed except through the caller's `print`.
 * @module
 */

import type { JSONWebKeySet } from "./deps.ts";
import { CosignError, type ErrorCode } from "../errors.ts";
import { readResponseCapped } from "../oci/body.ts";
import { escapeForTerminal } from "../text/escape.ts";

/** cosign's default issuer (the public-good Sigstore Dex). */
export const DEFAULT_OIDC_ISSUER = "https://oauth2.sigstore.dev/auth";
/** cosign's default client id. */
export const DEFAULT_OIDC_CLIENT_ID = "sigstore";
/** cosign's default redirect URL (port 0: a free port is chosen). */
export const DEFAULT_OIDC_REDIRECT_URL = "http://localhost:0/auth/callback";
/** The scopes requested. */
export const OIDC_SCOPES = "openid email";

/** The longest the browser flow waits for the redirect by default (cosign: 120 s). */
const DEFAULT_BROWSER_TIMEOUT_MS = 120_000;
/** Cap on every response read from the issuer. */
const MAX_RESPONSE = 1 << 20;

/** Options of {@link interactiveIdentityToken}. */
export interface InteractiveLoginOptions {
  /** The OpenID Connect issuer URL (its discovery document is `<issuer>/.well-known/openid-configuration`). */
  issuer: string;
  /** The client id (cosign: `sigstore`). */
  clientId: string;
  /** The client secret, for confidential clients (sent with HTTP Basic auth; empty: none). */
  clientSecret?: string;
  /** The browser flow's redirect URL (`--oidc-redirect-url`); a loopback `http` URL. Default {@link DEFAULT_OIDC_REDIRECT_URL}. */
  redirectUrl?: string;
  /** `normal`: browser flow; `device`: device flow. */
  flow: "normal" | "device";
  /** The `fetch` used to reach the issuer (default the global one). */
  fetch?: typeof fetch;
  /** Where the URL to open or the user code is shown (the CLI writes it to stderr). */
  print(line: string): Promise<void>;
  /** Opens the browser on the authorization URL (the CLI may leave this out). */
  openBrowser?: (url: string) => void;
  /** Cancels the login. */
  signal?: AbortSignal;
  /** Gives up after this long (browser flow default 120 s; device flow: the code's lifetime). */
  timeoutMs?: number;
}

/** The parts of a discovery document the flows use. */
export interface OidcDiscovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  device_authorization_endpoint?: string;
}

function fail(code: ErrorCode, message: string, cause?: unknown): CosignError {
  return new CosignError(code, message, cause === undefined ? {} : { cause });
}

function q(s: string): string {
  return JSON.stringify(escapeForTerminal(s.slice(0, 200)));
}

function describe(e: unknown): string {
  if (e instanceof Error) return escapeForTerminal(e.message.split("\n")[0] ?? "");
  return String(e);
}

async function readJson(res: Response): Promise<unknown> {
  const body = await readResponseCapped(res, MAX_RESPONSE);
  if (body === undefined) throw new Error(`response larger than ${MAX_RESPONSE} bytes`);
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new Error("response is not JSON");
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function httpUrl(v: unknown): v is string {
  if (typeof v !== "string") return false;
  try {
    const u = new URL(v);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}

/**
 * Fetches and checks an issuer's discovery document: it must be JSON, name the same issuer,
 * and give the authorization, token and JWKS endpoints.
 */
export async function discoverOidc(
  issuer: string,
  options: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<OidcDiscovery> {
  const f = options.fetch ?? fetch;
  const where = issuer.replace(/\/+$/, "") + "/.well-known/openid-configuration";
  const what = `Cannot read the OpenID Connect discovery document of issuer ${q(issuer)}`;
  let res: Response;
  try {
    res = await f(where, {
      headers: { accept: "application/json" },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (e) {
    throw fail("NETWORK", `${what}: ${describe(e)}`, e);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw fail("NETWORK", `${what}: HTTP ${res.status} from ${q(where)}`);
  }
  let doc: unknown;
  try {
    doc = await readJson(res);
  } catch (e) {
    throw fail("NETWORK", `${what}: ${describe(e)}`, e);
  }
  if (!isObject(doc)) throw fail("NETWORK", `${what}: not a JSON object`);
  if (doc.issuer !== issuer) {
    throw fail(
      "CLAIMS_MISMATCH",
      `${what}: it names issuer ${q(String(doc.issuer))}, expected ${q(issuer)}`,
    );
  }
  for (const k of ["authorization_endpoint", "token_endpoint", "jwks_uri"]) {
    if (!httpUrl(doc[k])) throw fail("NETWORK", `${what}: no valid ${k}`);
  }
  const out: OidcDiscovery = {
    issuer,
    authorization_endpoint: doc.authorization_endpoint as string,
    token_endpoint: doc.token_endpoint as string,
    jwks_uri: doc.jwks_uri as string,
  };
  if (doc.device_authorization_endpoint !== undefined) {
    if (!httpUrl(doc.device_authorization_endpoint)) {
      throw fail("NETWORK", `${what}: invalid device_authorization_endpoint`);
    }
    out.device_authorization_endpoint = doc.device_authorization_endpoint;
  }
  return out;
}

function randomToken(bytes = 32): string {
  return crypto.getRandomValues(new Uint8Array(bytes)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

async function s256(verifier: string): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  return d.toBase64({ alphabet: "base64url", omitPadding: true });
}

function tokenHeaders(o: InteractiveLoginOptions): Record<string, string> {
  const h: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  if (o.clientSecret) {
    const enc = (s: string) => encodeURIComponent(s);
    h.authorization = "Basic " + btoa(`${enc(o.clientId)}:${enc(o.clientSecret)}`);
  }
  return h;
}

/** POSTs a form to the issuer and reads the JSON answer (any status). */
async function postForm(
  o: InteractiveLoginOptions,
  url: string,
  form: Record<string, string>,
  signal: AbortSignal,
  what: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const f = o.fetch ?? fetch;
  let res: Response;
  try {
    res = await f(url, {
      method: "POST",
      headers: tokenHeaders(o),
      body: new URLSearchParams(form).toString(),
      signal,
    });
  } catch (e) {
    if (signal.aborted) throw aborted(signal, what);
    throw fail("NETWORK", `${what} at ${q(url)} failed: ${describe(e)}`, e);
  }
  let body: unknown;
  try {
    body = await readJson(res);
  } catch (e) {
    throw fail("NETWORK", `${what} at ${q(url)} failed: HTTP ${res.status}, ${describe(e)}`);
  }
  if (!isObject(body)) {
    throw fail("NETWORK", `${what} at ${q(url)} failed: HTTP ${res.status}, not a JSON object`);
  }
  return { status: res.status, body };
}

function oauthError(body: Record<string, unknown>): string {
  const e = typeof body.error === "string" ? body.error : "unknown error";
  const d = typeof body.error_description === "string" ? `: ${body.error_description}` : "";
  return escapeForTerminal((e + d).slice(0, 300));
}

function aborted(signal: AbortSignal, what: string): CosignError {
  const reason = signal.reason;
  if (reason instanceof CosignError) return reason;
  const timeout = reason instanceof DOMException && reason.name === "TimeoutError";
  return fail(
    "NETWORK",
    timeout ? `${what}: timed out waiting for the login` : `${what}: cancelled`,
  );
}

/** Checks the ID token's signature against the issuer's JWKS, its issuer, audience and expiry. */
async function checkIdToken(
  o: InteractiveLoginOptions,
  d: OidcDiscovery,
  idToken: string,
  signal: AbortSignal,
  nonce?: string,
): Promise<string> {
  const f = o.fetch ?? fetch;
  let jwks: unknown;
  try {
    const res = await f(d.jwks_uri, { headers: { accept: "application/json" }, signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    jwks = await readJson(res);
  } catch (e) {
    throw fail("NETWORK", `Cannot read the issuer's keys at ${q(d.jwks_uri)}: ${describe(e)}`, e);
  }
  if (!isObject(jwks) || !Array.isArray(jwks.keys)) {
    throw fail("NETWORK", `Cannot read the issuer's keys at ${q(d.jwks_uri)}: not a JWK set`);
  }
  // jose loads on first use: importing this module (and mod.ts) runs none of it.
  const { createLocalJWKSet, jwtVerify } = await import("./deps.ts");
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(idToken, createLocalJWKSet(jwks as unknown as JSONWebKeySet), {
      issuer: d.issuer,
      audience: o.clientId,
    }));
  } catch (e) {
    throw fail("SIGNATURE_MISMATCH", `The ID token from ${q(d.issuer)} is invalid: ${describe(e)}`);
  }
  if (nonce !== undefined && payload.nonce !== nonce) {
    throw fail("CLAIMS_MISMATCH", "The ID token's nonce does not match the one sent");
  }
  return idToken;
}

/** A loopback listener bound to 127.0.0.1 that waits for one redirect with the code. */
function listen(redirectUrl: string, state: string, signal: AbortSignal) {
  let u: URL;
  try {
    u = new URL(redirectUrl);
  } catch {
    throw new CosignError("USAGE", `Invalid --oidc-redirect-url ${q(redirectUrl)}`, {
      exitCode: 2,
    });
  }
  const host = u.hostname;
  if (u.protocol !== "http:" || !["localhost", "127.0.0.1"].includes(host)) {
    throw new CosignError(
      "USAGE",
      `Invalid --oidc-redirect-url ${q(redirectUrl)}: expected http://localhost:PORT/PATH ` +
        `or http://127.0.0.1:PORT/PATH`,
      { exitCode: 2 },
    );
  }
  const path = u.pathname;
  let settle!: { ok: (code: string) => void; err: (e: CosignError) => void };
  const code = new Promise<string>((ok, err) => {
    settle = { ok, err };
  });
  code.catch(() => {}); // awaited later; a rejection before then is not unhandled
  const stop = new AbortController();
  const page = "<html><body><h1>Sigstore Auth Successful</h1>" +
    "<p>You may now close this page.</p></body></html>";
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: Number(u.port || 80),
      signal: stop.signal,
      onListen: () => {},
    }, (req) => {
      const r = new URL(req.url);
      if (r.pathname !== path) return new Response("not found\n", { status: 404 });
      const p = r.searchParams;
      if (p.get("state") !== state) {
        settle.err(
          fail("CLAIMS_MISMATCH", "OpenID Connect login failed: invalid state in the redirect"),
        );
        return new Response("invalid state\n", { status: 400 });
      }
      const error = p.get("error");
      if (error !== null) {
        const desc = p.get("error_description");
        settle.err(
          fail(
            "NETWORK",
            `OpenID Connect login failed: the issuer answered ${
              q(error + (desc ? `: ${desc}` : ""))
            }`,
          ),
        );
        return new Response("login failed\n", { status: 400 });
      }
      const c = p.get("code");
      if (!c) {
        settle.err(fail("NETWORK", "OpenID Connect login failed: no code in the redirect"));
        return new Response("no code\n", { status: 400 });
      }
      settle.ok(c);
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    });
  } catch (e) {
    throw fail("NETWORK", `Cannot listen for the login redirect on ${q(u.host)}: ${describe(e)}`);
  }
  u.port = String(server.addr.port);
  const onAbort = () => settle.err(aborted(signal, "OpenID Connect login"));
  if (signal.aborted) onAbort();
  signal.addEventListener("abort", onAbort, { once: true });
  return {
    url: u.toString(),
    code,
    async close() {
      signal.removeEventListener("abort", onAbort);
      stop.abort();
      await server.finished;
    },
  };
}

async function browserFlow(
  o: InteractiveLoginOptions,
  d: OidcDiscovery,
  signal: AbortSignal,
): Promise<string> {
  const state = randomToken();
  const nonce = randomToken();
  const verifier = randomToken(48);
  const listener = listen(o.redirectUrl ?? DEFAULT_OIDC_REDIRECT_URL, state, signal);
  let code: string;
  try {
    const auth = new URL(d.authorization_endpoint);
    const params: Record<string, string> = {
      response_type: "code",
      client_id: o.clientId,
      redirect_uri: listener.url,
      scope: OIDC_SCOPES,
      state,
      nonce,
      code_challenge: await s256(verifier),
      code_challenge_method: "S256",
      access_type: "online",
    };
    for (const [k, v] of Object.entries(params)) auth.searchParams.set(k, v);
    const url = auth.toString();
    if (o.openBrowser) {
      try {
        o.openBrowser(url);
      } catch { /* the URL is printed anyway */ }
      await o.print("Your browser will now be opened to:");
    } else {
      await o.print("Open this URL in a browser to sign in:");
    }
    await o.print(url);
    code = await listener.code;
  } finally {
    await listener.close();
  }
  const form: Record<string, string> = {
    grant_type: "authorization_code",
    code,
    redirect_uri: listener.url,
    code_verifier: verifier,
  };
  if (!o.clientSecret) form.client_id = o.clientId;
  const { status, body } = await postForm(
    o,
    d.token_endpoint,
    form,
    signal,
    "Exchanging the login code",
  );
  if (status !== 200 || typeof body.id_token !== "string") {
    throw fail(
      "NETWORK",
      `Exchanging the login code at ${q(d.token_endpoint)} failed: HTTP ${status}, ${
        typeof body.error === "string" ? oauthError(body) : "no id_token in the answer"
      }`,
    );
  }
  return await checkIdToken(o, d, body.id_token, signal, nonce);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((ok, err) => {
    if (signal.aborted) return err(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      ok();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      err(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function deviceFlow(
  o: InteractiveLoginOptions,
  d: OidcDiscovery,
  signal: AbortSignal,
): Promise<string> {
  const endpoint = d.device_authorization_endpoint;
  if (endpoint === undefined) {
    throw fail(
      "NETWORK",
      `The OpenID Connect issuer ${q(d.issuer)} offers no device authorization endpoint`,
    );
  }
  const verifier = randomToken(48);
  const start: Record<string, string> = {
    scope: OIDC_SCOPES,
    code_challenge: await s256(verifier),
    code_challenge_method: "S256",
  };
  if (!o.clientSecret) start.client_id = o.clientId;
  const what = "Starting the device login";
  const { status, body } = await postForm(o, endpoint, start, signal, what);
  if (status !== 200) {
    throw fail("NETWORK", `${what} at ${q(endpoint)} failed: HTTP ${status}, ${oauthError(body)}`);
  }
  const deviceCode = body.device_code;
  const userCode = body.user_code;
  const uri = body.verification_uri_complete ?? body.verification_uri;
  if (typeof deviceCode !== "string" || typeof userCode !== "string" || !httpUrl(uri)) {
    throw fail(
      "NETWORK",
      `${what} at ${q(endpoint)} failed: the answer lacks device_code, user_code or ` +
        `verification_uri`,
    );
  }
  let interval = typeof body.interval === "number" && body.interval > 0 ? body.interval : 5;
  const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0
    ? body.expires_in
    : 600;
  await o.print(
    `Enter the verification code ${escapeForTerminal(userCode)} in your browser at: ${
      escapeForTerminal(uri)
    }`,
  );
  await o.print(`Code will be valid for ${expiresIn} seconds`);
  const expiry = AbortSignal.any([
    signal,
    AbortSignal.timeout(expiresIn * 1000),
  ]);
  const poll: Record<string, string> = {
    grant_type: "urn:ietf:params:oauth:grant-type:device_code",
    device_code: deviceCode,
    code_verifier: verifier,
  };
  if (!o.clientSecret) poll.client_id = o.clientId;
  const pollWhat = "Waiting for the device login";
  for (;;) {
    const r = await postForm(o, d.token_endpoint, poll, expiry, pollWhat).catch((e) => {
      throw expiry.aborted && !signal.aborted
        ? fail("NETWORK", `${pollWhat}: the code expired`)
        : e;
    });
    if (r.status === 200 && typeof r.body.id_token === "string") {
      await o.print("Token received!");
      return await checkIdToken(o, d, r.body.id_token, signal);
    }
    switch (r.body.error) {
      case "authorization_pending":
        break;
      case "slow_down":
        interval += 5; // RFC 8628 §3.5
        break;
      case "expired_token":
        throw fail("NETWORK", `${pollWhat}: the code expired`);
      case "access_denied":
        throw fail("NETWORK", `${pollWhat}: access denied`);
      default:
        throw fail(
          "NETWORK",
          `${pollWhat} at ${q(d.token_endpoint)} failed: HTTP ${r.status}, ${oauthError(r.body)}`,
        );
    }
    try {
      await sleep(interval * 1000, expiry);
    } catch {
      throw signal.aborted ? aborted(signal, pollWhat) : fail(
        "NETWORK",
        `${pollWhat}: the code expired`,
      );
    }
  }
}

/**
 * Logs the user in interactively and returns a checked OpenID Connect ID token.
 *
 * @example
 * ```ts
 * import { DEFAULT_OIDC_CLIENT_ID, DEFAULT_OIDC_ISSUER, interactiveIdentityToken } from "@cosign-deno/cosign";
 * const jwt = await interactiveIdentityToken({
 *   issuer: DEFAULT_OIDC_ISSUER,
 *   clientId: DEFAULT_OIDC_CLIENT_ID,
 *   flow: "device",
 *   print: (line) => Promise.resolve(console.error(line)),
 * });
 * ```
 */
export async function interactiveIdentityToken(options: InteractiveLoginOptions): Promise<string> {
  const signals: AbortSignal[] = [];
  if (options.signal) signals.push(options.signal);
  const timeout = options.timeoutMs ??
    (options.flow === "normal" ? DEFAULT_BROWSER_TIMEOUT_MS : undefined);
  if (timeout !== undefined) signals.push(AbortSignal.timeout(timeout));
  const signal = AbortSignal.any(signals);
  const d = await discoverOidc(options.issuer, {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    signal,
  });
  return options.flow === "device"
    ? await deviceFlow(options, d, signal)
    : await browserFlow(options, d, signal);
}
