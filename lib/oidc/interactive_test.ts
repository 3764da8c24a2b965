/**
 * Interactive login against a real OpenID Connect provider on loopback (oidc-provider, with
 * devInteractions): the test plays the user through the login and consent forms with fetch.
 */

import { discoverOidc, interactiveIdentityToken } from "./interactive.ts";
import { CosignError } from "../errors.ts";
import { browseAsUser, freePort, startOidcProvider } from "../../tests/harness/oidc_provider.ts";
import { decodeJwt } from "./deps.ts";

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
