/**
 * A real OpenID Connect provider on loopback (`npm:oidc-provider`, test-environment §9), with
 * `devInteractions` on so a test can play the user with `fetch`: {@link browseAsUser} follows
 * redirects, keeps cookies and submits the login, consent and device-code forms.
 *
 * The client `sigstore` is public (`token_endpoint_auth_method: none`), may use the
 * authorization-code and device grants, and redirects to the URIs the test passes (the
 * product's loopback listener: choose its port with {@link freePort}).
 * Any login name is accepted; the account's claims are `sub` = the name,
 * `email` = `<name>@example.com`, `email_verified` = true.
 * @module
 */

// deno-lint-ignore no-import-prefix -- a test-only dependency, pinned here
import Provider from "npm:oidc-provider@9.13.3";

/** A running provider. */
export interface OidcProvider extends AsyncDisposable {
  /** Its issuer URL (`http://127.0.0.1:PORT`). */
  issuer: string;
  /** Stops it. */
  close(): Promise<void>;
}

/** Options of {@link startOidcProvider}. */
export interface OidcProviderOptions {
  /** The redirect URIs registered for the client `sigstore` (exact match). */
  redirectUris?: string[];
  /** The client id (default `sigstore`). */
  clientId?: string;
  /** Device-code lifetime, seconds (default 600). */
  deviceCodeTtl?: number;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts the provider on a free loopback port. */
export async function startOidcProvider(options: OidcProviderOptions = {}): Promise<OidcProvider> {
  const port = freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const ttl = options.deviceCodeTtl ?? 600;
  // deno-lint-ignore no-explicit-any
  const provider: any = new Provider(issuer, {
    clients: [{
      client_id: options.clientId ?? "sigstore",
      token_endpoint_auth_method: "none",
      redirect_uris: options.redirectUris ?? ["http://127.0.0.1:1/auth/callback"],
      response_types: ["code"],
      grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
    }],
    features: { deviceFlow: { enabled: true }, devInteractions: { enabled: true } },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, email: `${id}@example.com`, email_verified: true }),
    }),
    claims: { email: ["email", "email_verified"] },
    pkce: { required: () => true },
    // email and email_verified in the ID token itself, as Fulcio needs them
    conformIdTokenClaims: false,
    ttl: { DeviceCode: ttl },
  });
  // Its errors (a wrong redirect, an expired code) are answers to the test, not crashes.
  provider.on("server_error", () => {});
  // deno-lint-ignore no-explicit-any
  const server: any = await new Promise((ok) => {
    const s = provider.listen(port, "127.0.0.1", () => ok(s));
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections?.();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  return { issuer, close, [Symbol.asyncDispose]: close };
}

/** A cookie jar for one user (name → value; paths are not distinguished). */
type Jar = Map<string, string>;

function keepCookies(jar: Jar, res: Response): void {
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(";");
    const eq = pair!.indexOf("=");
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) ||
      attrs.some((a) => /^\s*expires=.*1970/i.test(a));
    if (expired || value === "") jar.delete(name);
    else jar.set(name, value);
  }
}

function cookieHeader(jar: Jar): Record<string, string> {
  if (jar.size === 0) return {};
  return { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") };
}

function unescapeHtml(s: string): string {
  return s.replaceAll("&amp;", "&").replaceAll("&quot;", '"').replaceAll("&#39;", "'")
    .replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&#x2F;", "/");
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, "i").exec(tag);
  return m ? unescapeHtml(m[1] ?? m[2] ?? m[3] ?? "") : undefined;
}

/** The first form of a page: its action, method and the fields a user would submit. */
function firstForm(html: string, fill: Record<string, string>) {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const fields = new URLSearchParams();
  for (const input of m[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input[0], "name");
    if (!name) continue;
    fields.set(name, fill[name] ?? attr(input[0], "value") ?? "");
  }
  return {
    action: attr(m[1]!, "action") ?? "",
    method: (attr(m[1]!, "method") ?? "get").toUpperCase(),
    fields,
  };
}

/** What the user types into forms. */
export interface UserInput {
  /** The login name (any; becomes `sub` and `<login>@example.com`). */
  login: string;
  /** The device flow's user code. */
  userCode?: string;
}

/** Where {@link browseAsUser} stopped. */
export interface BrowseResult {
  /** The last URL requested. */
  url: string;
  status: number;
  body: string;
  /** Every URL requested, in order. */
  visited: string[];
}

/**
 * Plays a user's browser from `start`: follows redirects (keeping cookies), and on every HTML
 * page with a form fills in `login`, `password` and `user_code` and submits it, until a page
 * has no form, or a request leaves the provider (the redirect to the product's listener is
 * requested too, and is the last). At most 20 steps.
 */
export async function browseAsUser(
  start: string,
  issuer: string,
  input: UserInput,
): Promise<BrowseResult> {
  const jar: Jar = new Map();
  const visited: string[] = [];
  let url = start;
  let init: RequestInit = { method: "GET" };
  const fill: Record<string, string> = { login: input.login, password: "any" };
  if (input.userCode !== undefined) fill.user_code = input.userCode;
  for (let step = 0; step < 20; step++) {
    visited.push(url);
    const own = url.startsWith(issuer + "/");
    const res = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string> ?? {}), ...cookieHeader(jar) },
    });
    keepCookies(jar, res);
    const location = res.headers.get("location");
    if (own && res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      url = new URL(location, url).toString();
      init = { method: "GET" };
      continue;
    }
    const body = await res.text();
    if (!own) return { url, status: res.status, body, visited };
    const form = firstForm(body, fill);
    if (!form) return { url, status: res.status, body, visited };
    const action = new URL(form.action || url, url).toString();
    if (form.method === "POST") {
      url = action;
      init = {
        method: "POST",
        body: form.fields.toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      };
    } else {
      const u = new URL(action);
      for (const [k, v] of form.fields) u.searchParams.set(k, v);
      url = u.toString();
      init = { method: "GET" };
    }
  }
  throw new Error(`browseAsUser: no end after 20 steps: ${visited.join(" -> ")}`);
}
