/**
 * A loopback Azure Key Vault (keys API, HTTPS) and managed-identity token endpoint (App Service
 * style: `IDENTITY_ENDPOINT` + `X-IDENTITY-HEADER`) for tests. Key Vault's authentication is
 * reproduced: a request without a token gets `401` with the `WWW-Authenticate: Bearer
 * authorization=…, resource=…` challenge; a request must then carry a token the identity
 * endpoint issued for that resource. EC signatures are raw `r‖s` as Key Vault returns them;
 * `/verify` is implemented as Key Vault does (raw `r‖s` in), so a client that sent DER or
 * `r‖r` there would be told `false`. Keys are made by openssl; EC signing uses @noble/curves
 * (it signs a given digest), RSA signing uses openssl.
 *
 * Use with `await using kv = await startFakeAzureKv({ dir })`.
 * @module
 */

// deno-lint-ignore no-import-prefix
import { p256, p384, p521 } from "npm:@noble/curves@1.9.7/nist";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { makeTls } from "./registry.ts";
import { makeKey, signDigest, type TestHash, type TestKey, type TestKeyKind } from "./kms_keys.ts";

/** A key in the vault. */
export interface FakeAzureKey {
  name: string;
  version: string;
  key: TestKey;
  enabled: boolean;
  tags: Record<string, string>;
}

/** A request the fake answered. */
export interface AzureCall {
  method: string;
  path: string;
  body: Record<string, unknown>;
  status: number;
  authorized: boolean;
}

/** A running fake. */
export interface FakeAzureKv extends AsyncDisposable {
  /** `127.0.0.1:PORT`, the vault host of `azurekms://HOST/KEY`. */
  host: string;
  /** The CA file to trust (`NODE_EXTRA_CA_CERTS`). */
  caPath: string;
  /** Environment for the managed identity credential. */
  identityEnv: Record<string, string>;
  calls: AzureCall[];
  keys: Map<string, FakeAzureKey>;
  addKey(name: string, kind: TestKeyKind): Promise<FakeAzureKey>;
  /** Make every EC signature's r or s start with a zero byte (shorter than the curve size). */
  shortSignatures: boolean;
  /** Answer every vault request with 403 Forbidden while true. */
  deny: boolean;
  stop(): Promise<void>;
}

const RESOURCE = "https://vault.azure.net";
const CURVES = { "P-256": p256, "P-384": p384, "P-521": p521 } as const;
const CRV: Partial<Record<TestKeyKind, keyof typeof CURVES>> = {
  "ec-p256": "P-256",
  "ec-p384": "P-384",
  "ec-p521": "P-521",
};

/** Starts the fake on a free loopback port (TLS with its own CA in `dir`). */
export async function startFakeAzureKv(opts: { dir: string }): Promise<FakeAzureKv> {
  const tls = await makeTls(opts.dir);
  const keys = new Map<string, FakeAzureKey>();
  const calls: AzureCall[] = [];
  const tokens = new Set<string>();
  const identityHeader = crypto.randomUUID();

  const addKey = async (name: string, kind: TestKeyKind) => {
    const k: FakeAzureKey = {
      name,
      version: crypto.randomUUID().replaceAll("-", ""),
      key: await makeKey(opts.dir, kind),
      enabled: true,
      tags: {},
    };
    keys.set(name, k);
    return k;
  };

  const json = (status: number, o: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(o), {
      status,
      headers: { "content-type": "application/json; charset=utf-8", ...headers },
    });
  const kvError = (status: number, code: string, message: string) =>
    json(status, { error: { code, message } });
  const jwkOf = (k: FakeAzureKey, origin: string) => {
    const pub = createPublicKey(k.key.publicPem).export({ format: "jwk" });
    const kid = `${origin}/keys/${k.name}/${k.version}`;
    return {
      key: pub.kty === "EC"
        ? { kid, kty: "EC", crv: pub.crv, x: pub.x, y: pub.y, key_ops: ["sign", "verify"] }
        : { kid, kty: "RSA", n: pub.n, e: pub.e, key_ops: ["sign", "verify"] },
      attributes: { enabled: k.enabled, created: 1700000000, updated: 1700000000 },
      tags: k.tags,
    };
  };
  const hashOf = (alg: string): TestHash =>
    alg.endsWith("256") ? "sha256" : alg.endsWith("384") ? "sha384" : "sha512";

  const vault = async (req: Request, url: URL, body: Record<string, unknown>) => {
    const auth = req.headers.get("authorization");
    if (!auth) {
      return json(401, {
        error: {
          code: "Unauthorized",
          message: "AKV10000: Request is missing a Bearer or PoP token.",
        },
      }, {
        "www-authenticate":
          `Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001", resource="${RESOURCE}"`,
      });
    }
    if (!auth.startsWith("Bearer ") || !tokens.has(auth.slice(7))) {
      return kvError(401, "Unauthorized", "AKV10032: Invalid issuer.");
    }
    if (fake.deny) {
      return kvError(
        403,
        "Forbidden",
        "The user, group or application does not have keys get permission on key vault",
      );
    }
    const [, , name, second, op] = url.pathname.split("/");
    if (!name) return kvError(404, "NotFound", "no such route");
    if (req.method === "POST" && second === "create") {
      const kind = Object.entries(CRV).find(([, c]) => c === body.crv)?.[0] as
        | TestKeyKind
        | undefined;
      if (body.kty !== "EC" || !kind) return kvError(400, "BadParameter", "unsupported key");
      const k = await addKey(name, kind);
      k.tags = (body.tags ?? {}) as Record<string, string>;
      return json(200, jwkOf(k, url.origin));
    }
    const k = keys.get(name);
    if (!k || (second && second !== k.version)) {
      return kvError(
        404,
        "KeyNotFound",
        `A key with (name/id) ${name} was not found in this key vault.`,
      );
    }
    if (req.method === "GET" && !op) return json(200, jwkOf(k, url.origin));
    if (!k.enabled) {
      return kvError(403, "Forbidden", `Operation ${op} is not allowed on a disabled key.`);
    }
    const alg = String(body.alg ?? "");
    const hash = hashOf(alg);
    const crv = CRV[k.key.kind];
    if (req.method === "POST" && op === "sign") {
      const digest = Uint8Array.fromBase64(String(body.value ?? ""), { alphabet: "base64url" });
      let raw: Uint8Array;
      if (crv) {
        const d = createPrivateKey(await Deno.readTextFile(k.key.privatePath)).export({
          format: "jwk",
        }).d!;
        const priv = Uint8Array.fromBase64(d, { alphabet: "base64url" });
        for (;;) {
          raw = CURVES[crv].sign(digest, priv, { lowS: false, extraEntropy: true })
            .toCompactRawBytes();
          if (!fake.shortSignatures || raw[0] === 0 || raw[raw.length / 2] === 0) break;
        }
      } else {
        raw = await signDigest(k.key, digest, hash);
      }
      return json(200, {
        kid: `${url.origin}/keys/${k.name}/${k.version}`,
        value: raw.toBase64({ alphabet: "base64url", omitPadding: true }),
      });
    }
    if (req.method === "POST" && op === "verify" && crv) {
      const digest = Uint8Array.fromBase64(String(body.digest ?? ""), { alphabet: "base64url" });
      const sig = Uint8Array.fromBase64(String(body.value ?? ""), { alphabet: "base64url" });
      const pub = createPublicKey(k.key.publicPem).export({ format: "jwk" });
      const point = new Uint8Array([
        4,
        ...Uint8Array.fromBase64(pub.x!, { alphabet: "base64url" }),
        ...Uint8Array.fromBase64(pub.y!, { alphabet: "base64url" }),
      ]);
      let ok = false;
      try {
        ok = CURVES[crv].verify(sig, digest, point, { lowS: false, format: "compact" });
      } catch {
        ok = false;
      }
      return json(200, { kid: `${url.origin}/keys/${k.name}/${k.version}`, value: ok });
    }
    return kvError(400, "BadParameter", "unsupported operation");
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(tls.cert),
    key: await Deno.readTextFile(tls.key),
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    const raw = await req.text();
    let body: Record<string, unknown> = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      return kvError(400, "BadParameter", "invalid JSON");
    }
    let res: Response;
    if (url.pathname === "/msi/token") {
      if (req.headers.get("x-identity-header") !== identityHeader) {
        res = json(401, { error: "unauthorized" });
      } else {
        const t = `eyJfake.${crypto.randomUUID()}`;
        tokens.add(t);
        res = json(200, {
          access_token: t,
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: url.searchParams.get("resource"),
          token_type: "Bearer",
        });
      }
    } else if (url.pathname.startsWith("/keys/")) {
      res = await vault(req, url, body);
    } else {
      res = kvError(404, "NotFound", "no such route");
    }
    calls.push({
      method: req.method,
      path: url.pathname,
      body,
      status: res.status,
      authorized: req.headers.has("authorization"),
    });
    return res;
  });
  const host = `127.0.0.1:${server.addr.port}`;
  const fake: FakeAzureKv = {
    host,
    caPath: tls.caCert,
    identityEnv: {
      IDENTITY_ENDPOINT: `https://${host}/msi/token`,
      IDENTITY_HEADER: identityHeader,
    },
    calls,
    keys,
    addKey,
    shortSignatures: false,
    deny: false,
    async stop() {
      await server.shutdown();
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
  return fake;
}
