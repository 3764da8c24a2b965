/**
 * A loopback HashiCorp Vault / OpenBao transit engine for tests: `GET /v1/MOUNT/keys/K`,
 * `POST /v1/MOUNT/keys/K` (create), `POST /v1/MOUNT/sign/K/sha2-NNN` (prehashed or not),
 * answering as Vault does (`{"data": …}`, `{"errors": […]}`, `vault:vN:` signatures). Every
 * request must carry the right `X-Vault-Token` (403 `permission denied` otherwise, as Vault).
 * Keys are made and used by openssl. Faults on request: 429 with `Retry-After`.
 *
 * Use with `await using vault = await startFakeVault({ dir, token })`.
 * @module
 */

import { createHash } from "node:crypto";
import { makeKey, signDigest, type TestHash, type TestKey, type TestKeyKind } from "./kms_keys.ts";

/** A transit key. */
export interface FakeVaultKey {
  type: string;
  /** Absent for symmetric keys. */
  key?: TestKey;
  version: number;
}

/** A request the fake answered. */
export interface VaultCall {
  method: string;
  path: string;
  body: Record<string, unknown>;
  raw: string;
  status: number;
}

/** A running fake. */
export interface FakeVault extends AsyncDisposable {
  url: string;
  calls: VaultCall[];
  keys: Map<string, FakeVaultKey>;
  /** Adds a key under `name`. */
  addKey(name: string, kind: TestKeyKind | "aes256-gcm96"): Promise<FakeVaultKey>;
  /** Answer the next `n` requests with 429. */
  throttle(n: number): void;
  stop(): Promise<void>;
}

const TYPES: Partial<Record<TestKeyKind, string>> = {
  "ec-p256": "ecdsa-p256",
  "ec-p384": "ecdsa-p384",
  "ec-p521": "ecdsa-p521",
  "rsa-2048": "rsa-2048",
  "rsa-3072": "rsa-3072",
  "rsa-4096": "rsa-4096",
  "ed25519": "ed25519",
};

/** Starts the fake on a free loopback port; `mount` defaults to `transit`. */
export function startFakeVault(
  opts: { dir: string; token: string; mount?: string },
): Promise<FakeVault> {
  const mount = opts.mount ?? "transit";
  const keys = new Map<string, FakeVaultKey>();
  const calls: VaultCall[] = [];
  let throttleLeft = 0;

  const addKey = async (name: string, kind: TestKeyKind | "aes256-gcm96") => {
    const k: FakeVaultKey = kind === "aes256-gcm96"
      ? { type: kind, version: 1 }
      : { type: TYPES[kind]!, key: await makeKey(opts.dir, kind), version: 1 };
    keys.set(name, k);
    return k;
  };

  const json = (status: number, o: unknown, headers: Record<string, string> = {}) =>
    new Response(status === 204 ? null : JSON.stringify(o), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  const errors = (status: number, ...e: string[]) => json(status, { errors: e });

  const handle = async (req: Request, path: string, body: Record<string, unknown>) => {
    if (throttleLeft > 0) {
      throttleLeft--;
      return json(429, { errors: ["request rate limit exceeded"] }, { "retry-after": "0" });
    }
    if (req.headers.get("x-vault-token") !== opts.token) return errors(403, "permission denied");
    const prefix = `/v1/${mount}/`;
    if (!path.startsWith(prefix)) return errors(404, `no handler for route "${path.slice(4)}"`);
    const [op, name, alg] = path.slice(prefix.length).split("/");
    if (op === "keys" && name && req.method === "GET") {
      const k = keys.get(name);
      if (!k) return errors(404);
      const versions: Record<string, unknown> = {};
      versions[String(k.version)] = k.key
        ? {
          // Vault gives Ed25519 keys as base64 of the raw 32 bytes, others as PEM.
          public_key: k.type === "ed25519" ? k.key.spkiDer.slice(-32).toBase64() : k.key.publicPem,
          name: k.type,
          creation_time: new Date().toISOString(),
        }
        : 1700000000;
      return json(200, {
        data: {
          name,
          type: k.type,
          latest_version: k.version,
          min_decryption_version: 1,
          supports_signing: !!k.key,
          supports_encryption: !k.key,
          keys: versions,
        },
      });
    }
    if (op === "keys" && name && req.method === "POST") {
      if (!keys.has(name)) {
        const kind = Object.entries(TYPES).find(([, t]) => t === (body.type ?? "aes256-gcm96"))
          ?.[0] as TestKeyKind | undefined;
        await addKey(name, kind ?? "aes256-gcm96");
      }
      return json(204, null);
    }
    if (op === "sign" && name && req.method === "POST") {
      const k = keys.get(name);
      if (!k) return errors(400, "signing key not found");
      if (!k.key) return errors(400, `key type ${k.type} does not support signing`);
      const hash = ({ "sha2-256": "sha256", "sha2-384": "sha384", "sha2-512": "sha512" } as const)[
        alg as "sha2-256"
      ] as TestHash | undefined;
      if (!hash) return errors(400, `unsupported hash algorithm ${alg}`);
      if (body.key_version !== undefined && Number(body.key_version) !== k.version) {
        return errors(400, "requested version for signing does not exist");
      }
      const input = Uint8Array.fromBase64(String(body.input ?? ""));
      const digest = body.prehashed === true ? input : createHash(hash).update(input).digest();
      const sig = await signDigest(k.key, digest, hash, body.signature_algorithm === "pss");
      return json(200, { data: { signature: `vault:v${k.version}:${sig.toBase64()}` } });
    }
    return errors(405, "unsupported operation");
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const raw = await req.text();
    let body: Record<string, unknown> = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      return errors(400, "failed to parse JSON input");
    }
    const res = await handle(req, path, body);
    calls.push({ method: req.method, path, body, raw, status: res.status });
    return res;
  });
  const fake: FakeVault = {
    url: `http://127.0.0.1:${server.addr.port}`,
    calls,
    keys,
    addKey,
    throttle(n) {
      throttleLeft = n;
    },
    async stop() {
      await server.shutdown();
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
  return Promise.resolve(fake);
}
