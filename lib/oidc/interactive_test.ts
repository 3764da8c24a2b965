/**
 * Interactive login against a real OpenID Connect provider on loopback (oidc-provider, with
 * devInteractions): the test plays the user through the login and consent forms with fetch.
 */

import { discoverOidc, interactiveIdentityToken } from "./interactive.ts";
import { CosignError } from "../errors.ts";
import { browseAsUser, freePort, startOidcProvider } from "../../tests/harness/oidc_provider.ts";
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from "./deps.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

async function refused(p: Promise<unknown>): Promise<CosignError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof CosignError, `not a CosignError: ${(e as Error)?.stack ?? e}`);
    return e;
  }
  throw new Error("expected a refusal");
}

/** A tiny server answering every request with `answer`. */
function fakeIssuer(answer: (url: URL) => Response) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => answer(new URL(req.url)),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

Deno.test("browser flow: the user logs in through the provider's forms; the token is checked", async () => {
  const port = freePort();
  const redirect = `http://127.0.0.1:${port}/auth/callback`;
  await using op = await startOidcProvider({ redirectUris: [redirect] });
  const printed: string[] = [];
  let browsed: Promise<{ url: string; status: number; body: string }> | undefined;
  const token = await interactiveIdentityToken({
    issuer: op.issuer,
    clientId: "sigstore",
    redirectUrl: redirect,
    flow: "normal",
    print: (line) => {
      printed.push(line);
      if (line.startsWith(op.issuer)) browsed = browseAsUser(line, op.issuer, { login: "alice" });
      return Promise.resolve();
    },
  });
  const end = await browsed!;
  assert(end.url.startsWith(redirect + "?"), `ended at ${end.url}`);
  assert(end.status === 200 && /Sigstore Auth Successful/.test(end.body), end.body);
  const auth = new URL(printed.find((l) => l.startsWith(op.issuer))!);
  const p = auth.searchParams;
  assert(p.get("scope") === "openid email", `scope ${p.get("scope")}`);
  assert(p.get("code_challenge_method") === "S256", "no S256 PKCE");
  assert(p.get("redirect_uri") === redirect, `redirect_uri ${p.get("redirect_uri")}`);
  assert((p.get("state") ?? "").length >= 32 && (p.get("nonce") ?? "").length >= 32, "state");
  const claims = decodeJwt(token);
  assert(claims.iss === op.issuer && claims.aud === "sigstore", JSON.stringify(claims));
  assert(claims.email === "alice@example.com" && claims.email_verified === true, "email claim");
  assert(claims.nonce === p.get("nonce"), "nonce not carried");
  // the listener is closed once the code arrived
  await refused(
    fetch(redirect).then(() => {
      throw new Error("listener still open");
    }).catch((e) => {
      if (e instanceof TypeError) throw new CosignError("NETWORK", "closed");
      throw e;
    }),
  );
});

Deno.test("browser flow: a redirect with a wrong state is refused and the listener closed", async () => {
  const port = freePort();
  const redirect = `http://127.0.0.1:${port}/auth/callback`;
  await using op = await startOidcProvider({ redirectUris: [redirect] });
  let status = 0;
  const e = await refused(interactiveIdentityToken({
    issuer: op.issuer,
    clientId: "sigstore",
    redirectUrl: redirect,
    flow: "normal",
    print: async (line) => {
      if (!line.startsWith(op.issuer)) return;
      const res = await fetch(`${redirect}?code=stolen&state=forged`);
      status = res.status;
      await res.body?.cancel();
    },
  }));
  assert(status === 400, `listener answered ${status}`);
  assert(/invalid state/.test(e.message), e.message);
  let closed = false;
  try {
    await (await fetch(redirect)).body?.cancel();
  } catch {
    closed = true;
  }
  assert(closed, "listener still open");
});

Deno.test("device flow: the user enters the code at the verification page", async () => {
  await using op = await startOidcProvider();
  const printed: string[] = [];
  let browsed: Promise<{ url: string; status: number; body: string }> | undefined;
  const started = Date.now();
  const token = await interactiveIdentityToken({
    issuer: op.issuer,
    clientId: "sigstore",
    flow: "device",
    print: (line) => {
      printed.push(line);
      const m = /^Enter the verification code (\S+) in your browser at: (\S+)$/.exec(line);
      if (m) {
        // the user needs a moment: the first polls find the authorization pending
        browsed = new Promise((ok) => setTimeout(ok, 300)).then(() =>
          browseAsUser(m[2]!, op.issuer, { login: "bob", userCode: m[1]! })
        );
      }
      return Promise.resolve();
    },
  });
  const end = await browsed!;
  assert(end.status === 200, `device page ended with ${end.status}: ${end.body}`);
  assert(printed.includes("Token received!"), printed.join("\n"));
  assert(printed.some((l) => /^Code will be valid for \d+ seconds$/.test(l)), printed.join("\n"));
  const claims = decodeJwt(token);
  assert(claims.email === "bob@example.com" && claims.aud === "sigstore", JSON.stringify(claims));
  // authorization_pending was honoured: the answer came only after a poll interval
  assert(Date.now() - started >= 4_000, "token came before one interval passed");
});

Deno.test("discovery: missing, not JSON, or another issuer is one clear error", async () => {
  await using missing = fakeIssuer(() => new Response("no", { status: 404 }));
  let e = await refused(discoverOidc(missing.url));
  assert(
    e.message.includes(`discovery document of issuer "${missing.url}"`) &&
      e.message.includes("HTTP 404") && !e.message.includes("\n"),
    e.message,
  );
  await using html = fakeIssuer(() => new Response("<html>hi</html>"));
  e = await refused(
    interactiveIdentityToken({
      issuer: html.url,
      clientId: "sigstore",
      flow: "device",
      print: () => Promise.resolve(),
    }),
  );
  assert(/discovery document of issuer ".*": response is not JSON$/.test(e.message), e.message);
  await using other = fakeIssuer(() => Response.json({ issuer: "https://elsewhere" }));
  e = await refused(discoverOidc(other.url));
  assert(/names issuer "https:\/\/elsewhere"/.test(e.message), e.message);
});

/**
 * A scripted issuer (not oidc-provider): it signs ID tokens with its own key, or with another
 * key, audience or nonce, and answers device-flow polls from a script. It checks PKCE.
 */
async function scriptedIssuer(opts: {
  /** Claims overriding the good ones; `nonce: undefined` keeps the sent nonce. */
  claims?: Record<string, unknown>;
  /** Sign with a key the JWKS does not hold. */
  foreignKey?: boolean;
  /** Device polls: an OAuth error code, or "token". */
  polls?: readonly string[];
  expiresIn?: number;
}) {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const other = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const seen: {
    pkceOk?: boolean;
    pollTimes: number[];
    auth?: string | undefined;
    clientId?: string | undefined;
  } = {
    pollTimes: [],
  };
  let challenge = "";
  let nonce: string | undefined;
  const polls = [...(opts.polls ?? [])];
  let url = "";
  const mint = (n?: string) =>
    new SignJWT({
      iss: url,
      aud: "sigstore",
      sub: "carol",
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 300,
      email: "carol@example.com",
      email_verified: true,
      ...(n === undefined ? {} : { nonce: n }),
      ...opts.claims,
    })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(opts.foreignKey ? other.privateKey : privateKey);
  const s256 = async (v: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(v)))
      .toBase64({ alphabet: "base64url", omitPadding: true });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const u = new URL(req.url);
    if (u.pathname === "/.well-known/openid-configuration") {
      return Response.json({
        issuer: url,
        authorization_endpoint: url + "/auth",
        token_endpoint: url + "/token",
        jwks_uri: url + "/jwks",
        device_authorization_endpoint: url + "/device",
      });
    }
    if (u.pathname === "/jwks") return Response.json({ keys: [jwk] });
    const form = new URLSearchParams(await req.text());
    if (u.pathname === "/device") {
      challenge = form.get("code_challenge") ?? "";
      return Response.json({
        device_code: "dc",
        user_code: "ABCD-EFGH",
        verification_uri: url + "/activate",
        interval: 1,
        expires_in: opts.expiresIn ?? 60,
      });
    }
    if (u.pathname === "/token") {
      seen.pkceOk = (await s256(form.get("code_verifier") ?? "")) === challenge;
      seen.auth = req.headers.get("authorization") ?? undefined;
      seen.clientId = form.get("client_id") ?? undefined;
      if (form.get("grant_type") === "authorization_code") {
        return Response.json({ id_token: await mint(nonce), token_type: "Bearer" });
      }
      seen.pollTimes.push(Date.now());
      const next = polls.shift() ?? "authorization_pending";
      if (next === "token") return Response.json({ id_token: await mint() });
      return Response.json({ error: next }, { status: 400 });
    }
    return new Response("no", { status: 404 });
  });
  url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    seen,
    /** Plays the browser: reads the printed URL and sends the redirect the issuer would. */
    async browse(line: string) {
      if (!line.startsWith(url)) return;
      const p = new URL(line).searchParams;
      challenge = p.get("code_challenge") ?? "";
      nonce = "nonce" in (opts.claims ?? {}) ? undefined : p.get("nonce") ?? undefined;
      const res = await fetch(`${p.get("redirect_uri")}?code=c0de&state=${p.get("state")}`);
      await res.body?.cancel();
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

Deno.test("browser flow against a scripted issuer: PKCE verifier matches; a good token passes", async () => {
  await using iss = await scriptedIssuer({});
  const opened: string[] = [];
  const printed: string[] = [];
  const token = await interactiveIdentityToken({
    issuer: iss.url,
    clientId: "sigstore",
    flow: "normal", // default redirect URL: http://localhost:0/auth/callback, a free port
    openBrowser: (u) => void opened.push(u),
    print: (l) => (printed.push(l), iss.browse(l)),
  });
  assert(decodeJwt(token).email === "carol@example.com", "token");
  assert(iss.seen.pkceOk === true, "code_verifier does not match the S256 challenge");
  assert(iss.seen.clientId === "sigstore" && iss.seen.auth === undefined, "public client");
  assert(printed[0] === "Your browser will now be opened to:", printed.join("\n"));
  assert(opened.length === 1 && opened[0] === printed[1], "browser not opened on the URL");
  const redirect = new URL(opened[0]!).searchParams.get("redirect_uri") ?? "";
  assert(/^http:\/\/localhost:[1-9]\d*\/auth\/callback$/.test(redirect), redirect);
});

Deno.test("browser flow: a client secret goes in HTTP Basic auth", async () => {
  await using iss = await scriptedIssuer({});
  await interactiveIdentityToken({
    issuer: iss.url,
    clientId: "sigstore",
    clientSecret: "s3cr:t",
    redirectUrl: `http://127.0.0.1:${freePort()}/auth/callback`,
    flow: "normal",
    print: (l) => iss.browse(l),
  });
  assert(iss.seen.auth === "Basic " + btoa("sigstore:s3cr%3At"), `auth ${iss.seen.auth}`);
  assert(iss.seen.clientId === undefined, "client_id also in the form");
});

Deno.test("browser flow: no redirect within timeoutMs is a clear error", async () => {
  await using iss = await scriptedIssuer({});
  const redirect = `http://127.0.0.1:${freePort()}/auth/callback`;
  const e = await refused(interactiveIdentityToken({
    issuer: iss.url,
    clientId: "sigstore",
    redirectUrl: redirect,
    flow: "normal",
    timeoutMs: 300,
    print: () => Promise.resolve(),
  }));
  assert(/timed out waiting for the login/.test(e.message), e.message);
  let closed = false;
  try {
    await (await fetch(redirect)).body?.cancel();
  } catch {
    closed = true;
  }
  assert(closed, "listener still open");
});

Deno.test("browser flow: a token with another nonce, key, audience or issuer is refused", async () => {
  const cases: [Parameters<typeof scriptedIssuer>[0], RegExp][] = [
    [{ claims: { nonce: "replayed" } }, /nonce does not match/],
    [{ foreignKey: true }, /ID token from ".*" is invalid: signature verification failed/],
    [{ claims: { aud: "someone-else" } }, /ID token from ".*" is invalid: unexpected "aud"/],
    [{ claims: { iss: "https://evil" } }, /ID token from ".*" is invalid: unexpected "iss"/],
    [{ claims: { exp: 1_000_000 } }, /ID token from ".*" is invalid: "exp" claim/],
  ];
  for (const [opts, pattern] of cases) {
    await using iss = await scriptedIssuer(opts);
    const e = await refused(interactiveIdentityToken({
      issuer: iss.url,
      clientId: "sigstore",
      redirectUrl: `http://127.0.0.1:${freePort()}/auth/callback`,
      flow: "normal",
      print: (l) => iss.browse(l),
    }));
    assert(pattern.test(e.message), `${JSON.stringify(opts)}: ${e.message}`);
  }
});

Deno.test("device flow: authorization_pending then slow_down add to the interval", async () => {
  await using iss = await scriptedIssuer({
    polls: ["authorization_pending", "slow_down", "token"],
  });
  const printed: string[] = [];
  const token = await interactiveIdentityToken({
    issuer: iss.url,
    clientId: "sigstore",
    flow: "device",
    print: (l) => Promise.resolve(void printed.push(l)),
  });
  assert(decodeJwt(token).sub === "carol", "token");
  assert(iss.seen.pkceOk === true, "device flow code_verifier does not match");
  assert(
    printed[0] === `Enter the verification code ABCD-EFGH in your browser at: ${iss.url}/activate`,
    printed.join("\n"),
  );
  const [t0, t1, t2] = iss.seen.pollTimes as [number, number, number];
  assert(iss.seen.pollTimes.length === 3, `${iss.seen.pollTimes.length} polls`);
  assert(t1 - t0 >= 950 && t1 - t0 < 3000, `pending wait ${t1 - t0} ms (interval 1 s)`);
  assert(t2 - t1 >= 5900, `slow_down wait ${t2 - t1} ms (interval 1 s + 5 s)`);
});

Deno.test("device flow: expired_token, access_denied and the code's lifetime end the wait", async () => {
  for (
    const [opts, pattern] of [
      [{ polls: ["expired_token"] }, /the code expired/],
      [{ polls: ["access_denied"] }, /access denied/],
      [{ polls: ["invalid_grant"] }, /HTTP 400, invalid_grant/],
      [{ expiresIn: 1 }, /the code expired/],
    ] as const
  ) {
    await using iss = await scriptedIssuer(opts);
    const e = await refused(interactiveIdentityToken({
      issuer: iss.url,
      clientId: "sigstore",
      flow: "device",
      print: () => Promise.resolve(),
    }));
    assert(pattern.test(e.message), `${JSON.stringify(opts)}: ${e.message}`);
  }
});

Deno.test("browser flow: an error redirect (the user cancelled) is reported", async () => {
  await using iss = await scriptedIssuer({});
  const e = await refused(interactiveIdentityToken({
    issuer: iss.url,
    clientId: "sigstore",
    redirectUrl: `http://127.0.0.1:${freePort()}/auth/callback`,
    flow: "normal",
    print: async (line) => {
      if (!line.startsWith(iss.url)) return;
      const p = new URL(line).searchParams;
      const res = await fetch(
        `${p.get("redirect_uri")}?error=access_denied&error_description=End-User+aborted` +
          `&state=${p.get("state")}`,
      );
      await res.body?.cancel();
    },
  }));
  assert(
    e.message ===
      'OpenID Connect login failed: the issuer answered "access_denied: End-User aborted"',
    e.message,
  );
});
