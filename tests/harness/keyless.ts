/**
 * Loopback services for keyless signing tests: a real OpenID Connect provider
 * (`npm:oidc-provider`, test-environment §9), a Fulcio front that checks what the real Fulcio
 * checks before issuing (the token's signature against the issuer's JWKS with `npm:jose`,
 * issuer, audience `sigstore`, expiry, the proof of possession over the token's email or
 * subject) and issues from the `@sigstore/mock` CA with an embedded SCT, and an RFC 3161 TSA.
 * @module
 */

import { createPublicKey, generateKeyPairSync, verify as nodeVerify } from "node:crypto";
import Provider from "oidc-provider";
import { createRemoteJWKSet, jwtVerify, SignJWT } from "jose";
import { createKeylessTrust, type KeylessTrust } from "./fulcio.ts";

/** What the Fulcio front does with the next requests. */
export type FulcioMode = "ok" | "500" | "foreign-chain" | "no-sct" | "garbage";

/** The running services. */
export interface KeylessServices extends AsyncDisposable {
  /** The OIDC issuer URL. */
  readonly issuer: string;
  /** Fulcio's base URL. */
  readonly fulcioUrl: string;
  /** The TSA's timestamp URL. */
  readonly tsaUrl: string;
  /** The trusted root (CA, CT log, TSA; plus the no-SCT CA) with `rekorPublicKeyPem`. */
  trustedRoot(rekorPublicKeyPem?: string): Record<string, unknown>;
  /** Fulcio's behaviour. */
  fulcioMode: FulcioMode;
  /** Requests Fulcio received, and how it answered. */
  readonly fulcioLog: { status: number; reason: string }[];
  /** Requests the TSA received. */
  tsaRequests: number;
  /** ID token lifetime in seconds for tokens issued from now on. */
  idTokenTtl: number;
  /**
   * A real ID token from the provider: the device flow, completed by the test acting as the
   * user `account` through the provider's login and consent forms.
   * @param clientId `sigstore` (the audience Fulcio wants) or `other`
   */
  deviceFlowToken(account: string, clientId?: string): Promise<string>;
  /** A token with the claims of `token` signed by a key the issuer never published. */
  forge(token: string): Promise<string>;
  /** Stops everything. */
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A tiny cookie jar + redirect-following client that plays the user in a browser. */
class Browser {
  readonly #cookies = new Map<string, string>();
  async request(url: string, init: RequestInit = {}): Promise<{ url: string; text: string }> {
    let current = url;
    let req: RequestInit = init;
    for (let hops = 0; hops < 20; hops++) {
      const headers = new Headers(req.headers);
      if (this.#cookies.size) {
        headers.set("cookie", [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; "));
      }
      const res = await fetch(current, { ...req, headers, redirect: "manual" });
      for (const c of res.headers.getSetCookie()) {
        const [kv] = c.split(";");
        const i = kv!.indexOf("=");
        this.#cookies.set(kv!.slice(0, i).trim(), kv!.slice(i + 1).trim());
      }
      const loc = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && loc) {
        await res.body?.cancel();
        current = new URL(loc, current).href;
        req = {};
        continue;
      }
      return { url: current, text: await res.text() };
    }
    throw new Error("too many redirects");
  }
  /** Submits the first form of `page` with its hidden inputs plus `fields`. */
  async submit(
    page: { url: string; text: string },
    fields: Record<string, string> = {},
    formIndex = 0,
  ): Promise<{ url: string; text: string }> {
    const forms = [...page.text.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms[formIndex];
    if (!form) throw new Error(`no form on ${page.url}: ${page.text.slice(0, 300)}`);
    const body = new URLSearchParams();
    for (const m of form[2]!.matchAll(/<input[^>]*>/g)) {
      const name = /name="([^"]*)"/.exec(m[0])?.[1];
      const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? "";
      if (name && /type="hidden"/.test(m[0])) body.set(name, value);
    }
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    const action = new URL(form[1]!.replaceAll("&amp;", "&"), page.url).href;
    return await this.request(action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
  }
}

/** Reads the imprint and nonce of a DER TimeStampReq (the shape our client sends). */
function parseTsq(der: Uint8Array): { digest: Uint8Array; nonce: bigint } {
  let pos = 0;
  const read = () => {
    const tag = der[pos++]!;
    let len = der[pos++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[pos++]!;
    }
    const start = pos;
    return { tag, start, end: start + len };
  };
  read(); // TimeStampReq
  const version = read();
  pos = version.end;
  read(); // messageImprint
  const alg = read();
  pos = alg.end;
  const digest = read();
  const d = der.slice(digest.start, digest.end);
  pos = digest.end;
  const nonce = read();
  if (nonce.tag !== 0x02) throw new Error("no nonce");
  return { digest: d, nonce: BigInt("0x" + der.slice(nonce.start, nonce.end).toHex()) };
}

/** Options of {@link startKeylessServices}. */
export interface KeylessServicesOptions {
  /** Redirect URIs registered for the provider's clients (browser-flow tests). */
  redirectUris?: string[];
  /** Makes the client `sigstore` confidential with this secret (HTTP Basic auth). */
  clientSecret?: string;
}

/** Starts the OIDC provider, the Fulcio front and the TSA on loopback ports. */
export async function startKeylessServices(
  options: KeylessServicesOptions = {},
): Promise<KeylessServices> {
  const trust: KeylessTrust = await createKeylessTrust();
  const foreign: KeylessTrust = await createKeylessTrust();
  const noSct: KeylessTrust = await createKeylessTrust(undefined, { withoutSct: true });
  const oidcPort = freePort();
  const issuer = `http://127.0.0.1:${oidcPort}`;
  const services = {
    fulcioMode: "ok" as FulcioMode,
    tsaRequests: 0,
    idTokenTtl: 600,
  };
  const provider = new Provider(issuer, {
    clients: ["sigstore", "other"].map((id) => ({
      client_id: id,
      ...(id === "sigstore" && options.clientSecret
        ? { token_endpoint_auth_method: "client_secret_basic", client_secret: options.clientSecret }
        : { token_endpoint_auth_method: "none" }),
      redirect_uris: options.redirectUris ?? ["http://127.0.0.1:1/auth/callback"],
      response_types: ["code"],
      grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
    })),
    features: { deviceFlow: { enabled: true }, devInteractions: { enabled: true } },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, email: `${id}@example.com`, email_verified: true }),
    }),
    claims: { email: ["email", "email_verified"] },
    pkce: { required: () => true },
    conformIdTokenClaims: false,
    ttl: { IdToken: () => services.idTokenTtl },
  });
  // deno-lint-ignore no-explicit-any
  const oidcServer: any = await new Promise((ok) => {
    const s = provider.listen(oidcPort, "127.0.0.1", () => ok(s));
  });
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

  const fulcioLog: { status: number; reason: string }[] = [];
  const refuse = (status: number, reason: string) => {
    fulcioLog.push({ status, reason });
    return new Response(reason, { status });
  };
  const fulcio = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/api/v1/timestamp" && req.method === "POST") {
      services.tsaRequests++;
      // Sigstore's TSA takes a DER TimeStampReq, or (what sigstore-js sends) JSON naming the
      // SHA-256 digest of the signature.
      let digest: Uint8Array, nonce: bigint;
      if (req.headers.get("content-type")?.startsWith("application/json")) {
        const j = await req.json();
        if (j.hashAlgorithm !== "sha256" || typeof j.artifactHash !== "string") {
          return new Response("bad timestamp request", { status: 400 });
        }
        digest = Uint8Array.fromBase64(j.artifactHash);
        // Without one, the server picks the nonce (as Sigstore's TSA does).
        nonce = typeof j.nonce === "number"
          ? BigInt(j.nonce)
          : BigInt(1 + Math.floor(Math.random() * 2 ** 31));
      } else {
        ({ digest, nonce } = parseTsq(new Uint8Array(await req.arrayBuffer())));
      }
      const tsr = await trust.timestampDigest(digest, nonce);
      return new Response(tsr as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/timestamp-reply" },
      });
    }
    if (path !== "/api/v2/signingCert" || req.method !== "POST") {
      return new Response("not found", { status: 404 });
    }
    const text = await req.text();
    if (services.fulcioMode === "500") return refuse(500, "internal error");
    if (services.fulcioMode === "garbage") {
      fulcioLog.push({ status: 200, reason: "garbage" });
      return new Response(JSON.stringify({ signedCertificateEmbeddedSct: { chain: {} } }));
    }
    // deno-lint-ignore no-explicit-any
    let body: Record<string, any>;
    try {
      body = JSON.parse(text);
    } catch {
      return refuse(400, "body is not JSON");
    }
    const bearer = req.headers.get("authorization")?.replace(/^Bearer /, "");
    const token = body.credentials?.oidcIdentityToken ?? bearer;
    // deno-lint-ignore no-explicit-any
    let claims: Record<string, any>;
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, { issuer, audience: "sigstore" }));
    } catch (e) {
      return refuse(401, `invalid identity token: ${(e as Error).message}`);
    }
    let subject = claims.sub as string;
    if (typeof claims.email === "string") {
      if (claims.email_verified !== true) return refuse(400, "email not verified");
      subject = claims.email;
    }
    const pem = body.publicKeyRequest?.publicKey?.content as string;
    const pop = body.publicKeyRequest?.proofOfPossession as string;
    let publicKey;
    try {
      publicKey = createPublicKey(pem);
      const ok = nodeVerify(
        "sha256",
        new TextEncoder().encode(subject),
        publicKey,
        Uint8Array.fromBase64(pop),
      );
      if (!ok) return refuse(400, "proof of possession does not verify");
    } catch (e) {
      return refuse(400, `bad public key or proof: ${(e as Error).message}`);
    }
    const ca = services.fulcioMode === "foreign-chain"
      ? foreign
      : services.fulcioMode === "no-sct"
      ? noSct
      : trust;
    const der = await ca.issue(publicKey, { san: subject, issuer });
    const { certificatePem } = await import("./fulcio.ts");
    fulcioLog.push({ status: 201, reason: subject });
    return new Response(
      JSON.stringify({
        signedCertificateEmbeddedSct: {
          chain: { certificates: [certificatePem(der), certificatePem(ca.rootDer)] },
        },
      }),
      { status: 201, headers: { "content-type": "application/json" } },
    );
  });
  const fulcioUrl = `http://127.0.0.1:${fulcio.addr.port}`;

  const stop = async () => {
    await fulcio.shutdown();
    await new Promise<void>((ok) => oidcServer.close(() => ok()));
  };
  return Object.assign(services, {
    issuer,
    fulcioUrl,
    tsaUrl: `${fulcioUrl}/api/v1/timestamp`,
    fulcioLog,
    trustedRoot(rekorPublicKeyPem?: string) {
      const root = trust.trustedRoot(rekorPublicKeyPem ? { rekorPublicKeyPem } : {}) as {
        certificateAuthorities: unknown[];
      };
      // The no-SCT CA is trusted, so its certificates fail on the SCT alone.
      const extra = noSct.trustedRoot() as { certificateAuthorities: unknown[] };
      root.certificateAuthorities.push(...extra.certificateAuthorities);
      return root as Record<string, unknown>;
    },
    async deviceFlowToken(account: string, clientId = "sigstore") {
      const meta = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
      const start = await (await fetch(meta.device_authorization_endpoint, {
        method: "POST",
        body: new URLSearchParams({ client_id: clientId, scope: "openid email" }),
      })).json();
      const user = new Browser();
      // Play the user: confirm the code, log in, consent — whatever form comes next.
      let page = await user.request(start.verification_uri_complete);
      for (let step = 0; step < 8 && /<form/.test(page.text); step++) {
        page = await user.submit(
          page,
          /name="login"/.test(page.text) ? { login: account, password: "any" } : {},
        );
      }
      if (!/success/i.test(page.text)) {
        throw new Error(
          `device flow did not complete: ${
            page.text.replace(/<style[\s\S]*?<\/style>/g, "").slice(0, 600)
          }`,
        );
      }
      const res = await fetch(meta.token_endpoint, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:device_code",
          device_code: start.device_code,
          client_id: clientId,
        }),
      });
      const tok = await res.json();
      if (typeof tok.id_token !== "string") throw new Error(`no id_token: ${JSON.stringify(tok)}`);
      return tok.id_token as string;
    },
    async forge(token: string) {
      const claims = JSON.parse(
        new TextDecoder().decode(Uint8Array.fromBase64(token.split(".")[1]!, {
          alphabet: "base64url",
        })),
      );
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const header = JSON.parse(
        new TextDecoder().decode(Uint8Array.fromBase64(token.split(".")[0]!, {
          alphabet: "base64url",
        })),
      );
      return await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: header.kid })
        .sign(privateKey);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }) as KeylessServices;
}
