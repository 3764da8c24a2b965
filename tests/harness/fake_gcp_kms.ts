/**
 * A loopback Google Cloud KMS (REST v1) and OAuth token endpoint for tests. The token endpoint
 * accepts a service account's RS256 JWT assertion (signature checked with the account's public
 * key, `aud` = the token URL, the Cloud KMS scope) and issues an access token; every KMS call
 * needs `Authorization: Bearer <that token>` (401 UNAUTHENTICATED otherwise). Requests and
 * answers carry CRC32C checksums as Cloud KMS's do (computed here with a bitwise CRC32C, not the
 * product's table). Keys are made and used by openssl. Faults on request: 429, 403, a wrong
 * signature checksum.
 *
 * Use with `await using gcp = await startFakeGcpKms({ dir })`; `credentialsPath` is a service
 * account key file for it.
 * @module
 */

import { createHash, createVerify } from "node:crypto";
import { makeKey, signDigest, type TestHash, type TestKey, type TestKeyKind } from "./kms_keys.ts";

/** A key version. */
export interface FakeGcpVersion {
  name: string;
  state: "ENABLED" | "DISABLED" | "DESTROYED";
  algorithm: string;
  key?: TestKey;
}

/** A crypto key. */
export interface FakeGcpKey {
  name: string;
  purpose: "ASYMMETRIC_SIGN" | "ENCRYPT_DECRYPT";
  versions: FakeGcpVersion[];
}

/** A request the fake answered. */
export interface GcpCall {
  method: string;
  path: string;
  body: Record<string, unknown>;
  raw: string;
  status: number;
}

/** A running fake. */
export interface FakeGcpKms extends AsyncDisposable {
  url: string;
  /** A service account key file whose `token_uri` is this fake. */
  credentialsPath: string;
  calls: GcpCall[];
  keys: Map<string, FakeGcpKey>;
  keyRings: Set<string>;
  /** Adds a key with one ENABLED version (or a symmetric key). */
  addKey(
    name: string,
    kind: TestKeyKind | "symmetric",
    opts?: { pss?: boolean },
  ): Promise<FakeGcpKey>;
  /** Answer the next `n` KMS requests with 429. */
  throttle(n: number): void;
  deny: boolean;
  /** Give the next signature a wrong `signatureCrc32c`. */
  corruptNextSignature: boolean;
  stop(): Promise<void>;
}

/** CRC32C, bit by bit (independent of the product's table-driven one). */
export function crc32cBitwise(data: Uint8Array): number {
  let c = ~0 >>> 0;
  for (const b of data) {
    c ^= b;
    for (let i = 0; i < 8; i++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  }
  return ~c >>> 0;
}

const ALG: Partial<Record<TestKeyKind, string>> = {
  "ec-p256": "EC_SIGN_P256_SHA256",
  "ec-p384": "EC_SIGN_P384_SHA384",
  "rsa-2048": "RSA_SIGN_PKCS1_2048_SHA256",
  "rsa-3072": "RSA_SIGN_PKCS1_3072_SHA256",
  "rsa-4096": "RSA_SIGN_PKCS1_4096_SHA256",
};

const hashOf = (alg: string): TestHash =>
  alg.endsWith("SHA256") ? "sha256" : alg.endsWith("SHA384") ? "sha384" : "sha512";

/** Starts the fake on a free loopback port. */
export async function startFakeGcpKms(opts: { dir: string }): Promise<FakeGcpKms> {
  const keys = new Map<string, FakeGcpKey>();
  const keyRings = new Set<string>();
  const calls: GcpCall[] = [];
  const tokens = new Set<string>();
  let throttleLeft = 0;
  const sa = await makeKey(opts.dir, "rsa-2048");
  const saEmail = "signer@test-project.iam.gserviceaccount.com";

  const addKey = async (
    name: string,
    kind: TestKeyKind | "symmetric",
    o: { pss?: boolean } = {},
  ) => {
    keyRings.add(name.replace(/\/cryptoKeys\/[^/]+$/, ""));
    const k: FakeGcpKey = kind === "symmetric"
      ? {
        name,
        purpose: "ENCRYPT_DECRYPT",
        versions: [{
          name: `${name}/cryptoKeyVersions/1`,
          state: "ENABLED",
          algorithm: "GOOGLE_SYMMETRIC_ENCRYPTION",
        }],
      }
      : {
        name,
        purpose: "ASYMMETRIC_SIGN",
        versions: [{
          name: `${name}/cryptoKeyVersions/1`,
          state: "ENABLED",
          algorithm: o.pss ? ALG[kind]!.replace("PKCS1", "PSS") : ALG[kind]!,
          key: await makeKey(opts.dir, kind),
        }],
      };
    keys.set(name, k);
    return k;
  };

  const json = (status: number, o: unknown) =>
    new Response(JSON.stringify(o), { status, headers: { "content-type": "application/json" } });
  const err = (code: number, status: string, message: string) =>
    json(code, { error: { code, status, message } });
  const versionOf = (name: string) => {
    const key = keys.get(name.replace(/\/cryptoKeyVersions\/[^/]+$/, ""));
    return key?.versions.find((v) => v.name === name);
  };

  const tokenEndpoint = (raw: string, url: string) => {
    const form = new URLSearchParams(raw);
    const fail = (why: string) => json(400, { error: "invalid_grant", error_description: why });
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      return fail("unsupported grant type");
    }
    const [h, c, s] = (form.get("assertion") ?? "").split(".");
    if (!h || !c || !s) return fail("malformed assertion");
    const ok = createVerify("RSA-SHA256").update(`${h}.${c}`).verify(
      sa.publicPem,
      Uint8Array.fromBase64(s, { alphabet: "base64url" }),
    );
    if (!ok) return fail("Invalid JWT Signature.");
    const claims = JSON.parse(
      new TextDecoder().decode(Uint8Array.fromBase64(c, { alphabet: "base64url" })),
    );
    if (claims.iss !== saEmail) return fail("unknown issuer");
    if (claims.aud !== url) return fail("wrong audience");
    if (!String(claims.scope).split(" ").includes("https://www.googleapis.com/auth/cloudkms")) {
      return fail("missing scope");
    }
    if (!(claims.exp > Date.now() / 1000)) return fail("expired");
    const t = `ya29.fake-${crypto.randomUUID()}`;
    tokens.add(t);
    return json(200, { access_token: t, expires_in: 3599, token_type: "Bearer" });
  };

  const handle = async (req: Request, url: URL, raw: string, body: Record<string, unknown>) => {
    if (url.pathname === "/token" && req.method === "POST") {
      return tokenEndpoint(raw, `${url.origin}/token`);
    }
    const auth = req.headers.get("authorization") ?? "";
    if (!auth.startsWith("Bearer ") || !tokens.has(auth.slice(7))) {
      return err(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
    }
    if (throttleLeft > 0) {
      throttleLeft--;
      return err(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Cryptographic requests'",
      );
    }
    if (fake.deny) {
      return err(
        403,
        "PERMISSION_DENIED",
        "Permission 'cloudkms.cryptoKeyVersions.useToSign' denied",
      );
    }
    if (!url.pathname.startsWith("/v1/")) return err(404, "NOT_FOUND", "not found");
    const path = decodeURIComponent(url.pathname.slice(4));
    if (req.method === "POST" && path.endsWith(":asymmetricSign")) {
      const v = versionOf(path.slice(0, -":asymmetricSign".length));
      if (!v) return err(404, "NOT_FOUND", `${path} not found.`);
      if (!v.key) return err(400, "FAILED_PRECONDITION", "not an asymmetric signing key");
      if (v.state !== "ENABLED") {
        return err(
          400,
          "FAILED_PRECONDITION",
          `${v.name} is not enabled, current state is: ${v.state}.`,
        );
      }
      const hash = hashOf(v.algorithm);
      const d = (body.digest ?? {}) as Record<string, string>;
      if (Object.keys(d).join() !== hash || !d[hash]) {
        return err(
          400,
          "INVALID_ARGUMENT",
          `The digest type must match the algorithm ${v.algorithm}`,
        );
      }
      const digest = Uint8Array.fromBase64(d[hash]!);
      const verified = body.digestCrc32c !== undefined;
      if (verified && Number(body.digestCrc32c) !== crc32cBitwise(digest)) {
        return err(
          400,
          "INVALID_ARGUMENT",
          "The checksum in field digest_crc32c did not match the data in field digest.",
        );
      }
      const sig = await signDigest(v.key, digest, hash, v.algorithm.includes("_PSS_"));
      let crc = crc32cBitwise(sig);
      if (fake.corruptNextSignature) {
        fake.corruptNextSignature = false;
        crc ^= 1;
      }
      return json(200, {
        signature: sig.toBase64(),
        signatureCrc32c: String(crc),
        verifiedDigestCrc32c: verified,
        name: v.name,
        protectionLevel: "SOFTWARE",
      });
    }
    if (req.method === "GET" && path.endsWith("/publicKey")) {
      const v = versionOf(path.slice(0, -"/publicKey".length));
      if (!v) return err(404, "NOT_FOUND", `${path} not found.`);
      if (!v.key) return err(400, "FAILED_PRECONDITION", "not an asymmetric key");
      const pem = v.key.publicPem;
      return json(200, {
        pem,
        algorithm: v.algorithm,
        pemCrc32c: String(crc32cBitwise(new TextEncoder().encode(pem))),
        name: v.name,
        protectionLevel: "SOFTWARE",
      });
    }
    if (req.method === "GET" && path.endsWith("/cryptoKeyVersions")) {
      const key = keys.get(path.slice(0, -"/cryptoKeyVersions".length));
      if (!key) return err(404, "NOT_FOUND", `${path} not found.`);
      let list = key.versions;
      if (url.searchParams.get("filter") === "state=ENABLED") {
        list = list.filter((v) => v.state === "ENABLED");
      }
      if (url.searchParams.get("orderBy") === "name desc") {
        list = [...list].sort((a, b) => b.name.localeCompare(a.name));
      }
      const n = Number(url.searchParams.get("pageSize") ?? list.length);
      return json(200, {
        cryptoKeyVersions: list.slice(0, n).map(({ key: _k, ...v }) => v),
        totalSize: list.length,
      });
    }
    if (req.method === "GET" && /\/cryptoKeyVersions\/[^/]+$/.test(path)) {
      const v = versionOf(path);
      if (!v) return err(404, "NOT_FOUND", `${path} not found.`);
      const { key: _k, ...out } = v;
      return json(200, out);
    }
    if (req.method === "GET" && /\/cryptoKeys\/[^/]+$/.test(path)) {
      const k = keys.get(path);
      if (!k) return err(404, "NOT_FOUND", `${path} not found.`);
      return json(200, {
        name: k.name,
        purpose: k.purpose,
        versionTemplate: { algorithm: k.versions[0]?.algorithm },
      });
    }
    if (req.method === "GET" && /\/keyRings\/[^/]+$/.test(path)) {
      return keyRings.has(path)
        ? json(200, { name: path })
        : err(404, "NOT_FOUND", `KeyRing ${path} not found.`);
    }
    if (req.method === "POST" && path.endsWith("/keyRings")) {
      const name = `${path}/${url.searchParams.get("keyRingId")}`;
      if (keyRings.has(name)) return err(409, "ALREADY_EXISTS", `KeyRing ${name} already exists.`);
      keyRings.add(name);
      return json(200, { name });
    }
    if (req.method === "POST" && path.endsWith("/cryptoKeys")) {
      if (!keyRings.has(path.slice(0, -"/cryptoKeys".length))) {
        return err(404, "NOT_FOUND", "key ring not found");
      }
      const name = `${path}/${url.searchParams.get("cryptoKeyId")}`;
      if (keys.has(name)) return err(409, "ALREADY_EXISTS", `CryptoKey ${name} already exists.`);
      const alg = (body.versionTemplate as { algorithm?: string } | undefined)?.algorithm;
      const kind = Object.entries(ALG).find(([, a]) => a === alg)?.[0] as TestKeyKind | undefined;
      if (body.purpose !== "ASYMMETRIC_SIGN" || !kind) {
        return err(400, "INVALID_ARGUMENT", "unsupported");
      }
      const k = await addKey(name, kind);
      return json(200, { name: k.name, purpose: k.purpose, versionTemplate: { algorithm: alg } });
    }
    return err(404, "NOT_FOUND", `no route for ${req.method} ${path}`);
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const raw = await req.text();
    let body: Record<string, unknown> = {};
    try {
      body = raw && !url.pathname.startsWith("/token") ? JSON.parse(raw) : {};
    } catch {
      return err(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    }
    const res = await handle(req, url, raw, body);
    calls.push({
      method: req.method,
      path: url.pathname + url.search,
      body,
      raw,
      status: res.status,
    });
    return res;
  });
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const credentialsPath = `${opts.dir}/gcp-sa.json`;
  await Deno.writeTextFile(
    credentialsPath,
    JSON.stringify({
      type: "service_account",
      project_id: "test-project",
      private_key_id: createHash("sha1").update(sa.spkiDer).digest("hex"),
      private_key: await Deno.readTextFile(sa.privatePath),
      client_email: saEmail,
      client_id: "100000000000000000001",
      token_uri: `${origin}/token`,
    }),
  );
  const fake: FakeGcpKms = {
    url: origin + "/",
    credentialsPath,
    calls,
    keys,
    keyRings,
    addKey,
    throttle(n) {
      throttleLeft = n;
    },
    deny: false,
    corruptNextSignature: false,
    async stop() {
      await server.shutdown();
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
  return fake;
}
