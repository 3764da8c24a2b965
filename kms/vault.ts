/**
 * HashiCorp Vault and OpenBao transit keys: `hashivault://KEY`, `openbao://KEY` (cosign-spec §8),
 * over `fetch` (the transit HTTP API is small; no SDK). Loaded only by `lib/cosign/keyref.ts`,
 * by dynamic `import()`.
 *
 * - Server: `VAULT_ADDR`, else `BAO_ADDR`. Token: `VAULT_TOKEN`, else `BAO_TOKEN`, else the
 *   default token helper's file `~/.vault-token`. Namespace: `VAULT_NAMESPACE` / `BAO_NAMESPACE`.
 *   Mount: `TRANSIT_SECRET_ENGINE_PATH` (default `transit`).
 * - `GET /v1/MOUNT/keys/KEY` once gives the key type and the latest version's public key; the
 *   digest follows the type (P-256 → SHA-256, P-384 → SHA-384, P-521 → SHA-512, RSA → SHA-256
 *   PKCS#1 v1.5).
 * - Signing: `POST /v1/MOUNT/sign/KEY/sha2-NNN` with the base64 digest, `prehashed: true`, the
 *   latest `key_version`; the `vault:vN:` prefix of the answer is stripped.
 * - Verification is local with that public key.
 * - `generate-key-pair --kms hashivault://KEY` reuses the key or creates an `ecdsa-p256` key.
 * - 429 and 5xx answers and network failures are retried with jittered backoff (honouring
 *   `Retry-After`) inside the command's deadline.
 * @module
 */

import { createPublicKey } from "node:crypto";
import type { HashName, KeyVerifier, VerifiableSigner } from "../lib/crypto/key_signer.ts";
import {
  type CreatedKey,
  DigestSigner,
  kmsError,
  kmsFetch,
  type KmsOptions,
  kmsRefError,
  oneLine,
  type RemoteKey,
  remoteKeyVerifier,
  withRetries,
} from "../lib/crypto/kms.ts";
import { publicKeyPem } from "../lib/crypto/keys.ts";
import { CosignError } from "../lib/errors.ts";

const REF = /^(hashivault|openbao):\/\/(\w(?:[\w.-]*\w)?)$/;
const FORM = "hashivault://KEY or openbao://KEY (a transit key name: letters, digits, _ . -)";

/** A parsed reference. */
export interface VaultKeyRef {
  scheme: "hashivault" | "openbao";
  /** The transit key name. */
  name: string;
}

/** Parses a `hashivault://` or `openbao://` reference; a usage error giving the form otherwise. */
export function parseRef(ref: string): VaultKeyRef {
  const m = REF.exec(ref);
  if (!m) throw kmsRefError(ref, FORM);
  return { scheme: m[1] as VaultKeyRef["scheme"], name: m[2]! };
}

const HASHES: Record<string, HashName> = {
  "ecdsa-p256": "sha256",
  "ecdsa-p384": "sha384",
  "ecdsa-p521": "sha512",
  "rsa-2048": "sha256",
  "rsa-3072": "sha256",
  "rsa-4096": "sha256",
  // Verification only (pure Ed25519 signs whole messages; signing refuses it).
  "ed25519": "sha512",
};

interface Server {
  provider: string;
  addr: string;
  token: string;
  namespace: string | undefined;
  mount: string;
}

async function server(ref: string, parsed: VaultKeyRef, options: KmsOptions): Promise<Server> {
  const env = options.getEnv;
  const provider = parsed.scheme === "openbao" ? "OpenBao" : "Vault";
  const addr = env("VAULT_ADDR") || env("BAO_ADDR");
  if (!addr) throw kmsError("KMS_ERROR", provider, ref, "VAULT_ADDR or BAO_ADDR is not set");
  let token = env("VAULT_TOKEN") || env("BAO_TOKEN");
  if (!token) {
    const home = env("HOME");
    try {
      token = home ? (await Deno.readTextFile(`${home}/.vault-token`)).trim() : undefined;
    } catch {
      token = undefined;
    }
  }
  if (!token) {
    throw kmsError(
      "KMS_DENIED",
      provider,
      ref,
      "no token: set VAULT_TOKEN (or BAO_TOKEN), or log in so that ~/.vault-token exists",
    );
  }
  const mount = (env("TRANSIT_SECRET_ENGINE_PATH") || "transit").replace(/^\/+|\/+$/g, "");
  return {
    provider,
    addr: addr.replace(/\/+$/, ""),
    token,
    namespace: env("VAULT_NAMESPACE") || env("BAO_NAMESPACE") || undefined,
    mount,
  };
}

/** One transit API call with retries; returns `data` of the JSON answer. */
async function call(
  ref: string,
  s: Server,
  options: KmsOptions,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<Record<string, unknown> | undefined> {
  const url = `${s.addr}/v1/${s.mount}/${path}`;
  const headers: Record<string, string> = { "X-Vault-Token": s.token };
  if (s.namespace) headers["X-Vault-Namespace"] = s.namespace;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await withRetries(
    (signal) =>
      kmsFetch(s.provider, ref, url, {
        method,
        headers,
        signal,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
    { deadline: Date.now() + options.timeoutMs },
  );
  const text = await res.text();
  let json: { data?: Record<string, unknown>; errors?: unknown[] } = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    if (res.ok) {
      throw kmsError("KMS_ERROR", s.provider, ref, `${method} ${path}: the answer is not JSON`);
    }
  }
  if (res.ok) return json.data;
  const errors = Array.isArray(json.errors) ? json.errors.map(String).join("; ") : "";
  const why = `${method} /v1/${s.mount}/${path}: HTTP ${res.status}${errors ? ": " + errors : ""}`;
  if (res.status === 403 || res.status === 401) {
    throw kmsError("KMS_DENIED", s.provider, ref, `permission denied (${oneLine(why)})`);
  }
  if (res.status === 404 || /not found/i.test(errors)) {
    throw kmsError("KMS_KEY_NOT_FOUND", s.provider, ref, `key not found (${oneLine(why)})`);
  }
  throw kmsError("KMS_ERROR", s.provider, ref, why);
}

interface VaultKey extends RemoteKey {
  version: string;
  type: string;
}

const keys = new Map<string, Promise<VaultKey>>();

function fetchKey(ref: string, s: Server, name: string, options: KmsOptions): Promise<VaultKey> {
  const id = `${s.addr}|${s.namespace ?? ""}|${s.mount}|${name}`;
  let p = keys.get(id);
  if (p === undefined) {
    p = (async () => {
      const data = await call(ref, s, options, "GET", `keys/${name}`);
      const type = String(data?.type ?? "");
      const version = String(data?.latest_version ?? "");
      const hash = HASHES[type];
      if (hash === undefined || data?.supports_signing === false) {
        throw kmsError(
          "KMS_KEY_UNSUPPORTED",
          s.provider,
          ref,
          `unsupported key type ${type || "(none)"}: a signing key of type ${
            Object.keys(HASHES).filter((t) => t !== "ed25519").join(", ")
          } is needed`,
        );
      }
      const entry = (data?.keys as Record<string, { public_key?: unknown }> | undefined)?.[version];
      const pem = entry?.public_key;
      if (typeof pem !== "string") {
        throw kmsError(
          "KMS_ERROR",
          s.provider,
          ref,
          `the key's answer has no public key for version ${version || "(none)"}`,
        );
      }
      try {
        const publicKey = type === "ed25519"
          ? createPublicKey({
            key: {
              kty: "OKP",
              crv: "Ed25519",
              x: Uint8Array.fromBase64(pem).toBase64({ alphabet: "base64url", omitPadding: true }),
            },
            format: "jwk",
          })
          : createPublicKey(pem);
        return { publicKey, hash, version, type };
      } catch {
        throw kmsError("KMS_ERROR", s.provider, ref, "the key's public key is malformed");
      }
    })();
    keys.set(id, p);
    p.catch(() => keys.delete(id));
  }
  return p;
}

/** A signer for the transit key; its public key and type are fetched now. */
export async function loadSigner(ref: string, options: KmsOptions): Promise<VerifiableSigner> {
  const parsed = parseRef(ref);
  const s = await server(ref, parsed, options);
  const key = await fetchKey(ref, s, parsed.name, options);
  const bits = key.hash.slice(3);
  return new DigestSigner(
    key,
    async (digest) => {
      const data = await call(ref, s, options, "POST", `sign/${parsed.name}/sha2-${bits}`, {
        input: digest.toBase64(),
        prehashed: true,
        key_version: Number(key.version),
        signature_algorithm: "pkcs1v15",
      });
      const m = /^vault:v\d+:([A-Za-z0-9+/]+={0,2})$/.exec(String(data?.signature ?? ""));
      if (!m) throw kmsError("KMS_ERROR", s.provider, ref, "the sign answer has no signature");
      return Uint8Array.fromBase64(m[1]!);
    },
    ref,
    s.provider,
  );
}

/** A local verifier for the key's latest public key. */
export async function loadVerifier(ref: string, options: KmsOptions): Promise<KeyVerifier> {
  const parsed = parseRef(ref);
  const s = await server(ref, parsed, options);
  return remoteKeyVerifier(await fetchKey(ref, s, parsed.name, options));
}

/** Reuses the transit key, or creates an `ecdsa-p256` one. */
export async function createKey(ref: string, options: KmsOptions): Promise<CreatedKey> {
  const parsed = parseRef(ref);
  const s = await server(ref, parsed, options);
  try {
    const key = await fetchKey(ref, s, parsed.name, options);
    return { publicKeyPem: publicKeyPem(key.publicKey), existed: true };
  } catch (e) {
    if (!(e instanceof CosignError) || e.code !== "KMS_KEY_NOT_FOUND") throw e;
  }
  await call(ref, s, options, "POST", `keys/${parsed.name}`, { type: "ecdsa-p256" });
  const key = await fetchKey(ref, s, parsed.name, options);
  return { publicKeyPem: publicKeyPem(key.publicKey), existed: false };
}
