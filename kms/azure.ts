/**
 * Azure Key Vault keys: `azurekms://VAULT-HOST/KEY[/VERSION]` (cosign-spec §8), over
 * `npm:@azure/keyvault-keys` with `npm:@azure/identity`'s `DefaultAzureCredential` (environment
 * service principal, workload identity, managed identity, Azure CLI, …). Loaded only by
 * `lib/cosign/keyref.ts`, by dynamic `import()`.
 *
 * - `GetKey` once gives the JWK; the algorithm follows it: EC P-256/384/521 → ES256/384/512
 *   (SHA-256/384/512), RSA 2048/3072/4096 → RS256/384/512, as cosign.
 * - Signing hashes here and sends `sign{alg, value: digest}`; Key Vault answers raw `r‖s` for
 *   EC keys, converted here to DER.
 * - Verification is always local with the fetched key. Cosign's remote `Verify` for EC keys
 *   sends `r‖r` without left padding (`sBytes := r.Bytes()` in sigstore's azure signer), so it
 *   fails; nothing here calls Key Vault's verify (`tests/kms_azure_test.ts` shows both).
 * - `generate-key-pair --kms azurekms://HOST/KEY` reuses the key or creates an EC P-256 key
 *   (`sign`/`verify`, tag `use=sigstore`).
 * - `AZURE_ENVIRONMENT` (AzureUSGovernment, AzureChinaCloud, AzurePublicCloud) picks the
 *   authority unless `AZURE_AUTHORITY_HOST` is set. The SDK answers Key Vault's 401 challenge
 *   and checks that the challenge's resource matches the vault's domain; for a vault on a
 *   loopback address (an emulator) that check cannot hold and is skipped.
 *
 * The SDKs cost about 0.25 s of start-up (measured on the 2-core test box: `deno run` of a file
 * importing both, 0.30 s ± 0.07 against 0.06 s for an empty script), paid only when an
 * `azurekms://` key is used; in exchange the whole credential chain and the challenge protocol
 * need no code here.
 * @module
 */

// Full specifiers, so that a script importing mod.ts by URL (no import map) can use Azure keys.
// Types only here: the SDKs themselves are imported on first use (loadSdks), so a bundle can
// leave them out.
// deno-lint-ignore no-import-prefix
import type * as Keys from "npm:@azure/keyvault-keys@4.10.2";
// deno-lint-ignore no-import-prefix
import type * as Identity from "npm:@azure/identity@4.14.1";
import { createPublicKey } from "node:crypto";
import { p1363ToDer } from "../lib/crypto/der.ts";
import type { HashName, KeyVerifier, VerifiableSigner } from "../lib/crypto/key_signer.ts";
import {
  type CreatedKey,
  DigestSigner,
  importSdk,
  kmsError,
  type KmsOptions,
  kmsRefError,
  oneLine,
  type RemoteKey,
  remoteKeyVerifier,
} from "../lib/crypto/kms.ts";
import { publicKeyPem } from "../lib/crypto/keys.ts";
import { CosignError } from "../lib/errors.ts";

const PROVIDER = "Azure Key Vault";
const FORM = "azurekms://VAULT-HOST/KEY[/VERSION]";
const REF = /^azurekms:\/\/([^/]+)\/([^/]+)(?:\/([a-z0-9]*))?$/;

/** A parsed `azurekms://` reference. */
export interface AzureKeyRef {
  /** The vault's host (and port). */
  host: string;
  name: string;
  /** Empty for the latest version. */
  version: string;
}

/** Parses an `azurekms://` reference; a usage error giving the form otherwise. */
export function parseRef(ref: string): AzureKeyRef {
  const m = REF.exec(ref);
  if (!m) throw kmsRefError(ref, FORM);
  return { host: m[1]!, name: m[2]!, version: m[3] ?? "" };
}

const EC: Record<string, { hash: HashName; alg: string }> = {
  "P-256": { hash: "sha256", alg: "ES256" },
  "P-384": { hash: "sha384", alg: "ES384" },
  "P-521": { hash: "sha512", alg: "ES512" },
};
const RSA: Record<number, { hash: HashName; alg: string }> = {
  2048: { hash: "sha256", alg: "RS256" },
  3072: { hash: "sha384", alg: "RS384" },
  4096: { hash: "sha512", alg: "RS512" },
};

const AUTHORITIES: Record<string, string> = {
  AZUREUSGOVERNMENT: "https://login.microsoftonline.us",
  AZUREUSGOVERNMENTCLOUD: "https://login.microsoftonline.us",
  AZURECHINACLOUD: "https://login.chinacloudapi.cn",
  AZUREPUBLICCLOUD: "https://login.microsoftonline.com",
  AZURECLOUD: "https://login.microsoftonline.com",
};

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

let keys!: typeof Keys;
let identity!: typeof Identity;

/** Imports the SDKs once, before the first request. */
async function loadSdks(ref: string): Promise<void> {
  [keys, identity] = await Promise.all([
    keys ?? importSdk(
      // deno-lint-ignore no-import-prefix
      () => import("npm:@azure/keyvault-keys@4.10.2"),
      "npm:@azure/keyvault-keys@4.10.2",
      PROVIDER,
      ref,
    ),
    identity ?? importSdk(
      // deno-lint-ignore no-import-prefix
      () => import("npm:@azure/identity@4.14.1"),
      "npm:@azure/identity@4.14.1",
      PROVIDER,
      ref,
    ),
  ]);
}

const clients = new Map<string, Keys.KeyClient>();

function client(parsed: AzureKeyRef, options: KmsOptions): Keys.KeyClient {
  let c = clients.get(parsed.host);
  if (c === undefined) {
    const env = options.getEnv;
    const authority = env("AZURE_AUTHORITY_HOST")
      ? undefined
      : AUTHORITIES[(env("AZURE_ENVIRONMENT") ?? "").toUpperCase()];
    const credential = new identity.DefaultAzureCredential(
      authority ? { authorityHost: authority } : {},
    );
    c = new keys.KeyClient(`https://${parsed.host}/`, credential, {
      retryOptions: { maxRetries: 3, retryDelayInMs: 300, maxRetryDelayInMs: 5000 },
      ...(isLoopback(parsed.host) ? { disableChallengeResourceVerification: true } : {}),
    });
    clients.set(parsed.host, c);
  }
  return c;
}

/** Maps an SDK failure to one line naming the provider, the key and the cause. */
function failure(ref: string, e: unknown, what: string, timeoutMs: number): CosignError {
  if (e instanceof CosignError) return e;
  const err = e as Error & { statusCode?: number; code?: string };
  const name = err?.name ?? "Error";
  const msg = oneLine(err?.message ?? String(e));
  if (name === "AbortError" || name === "TimeoutError") {
    return kmsError(
      "KMS_UNAVAILABLE",
      PROVIDER,
      ref,
      `${what}: no answer within the ${timeoutMs / 1000} s deadline`,
    );
  }
  if (
    name === "CredentialUnavailableError" || name === "AuthenticationError" ||
    name === "AggregateAuthenticationError"
  ) {
    return kmsError("KMS_DENIED", PROVIDER, ref, `${what}: no usable Azure credentials (${msg})`);
  }
  const status = err?.statusCode;
  const detail = `${what}: ${status ? `HTTP ${status}` : name}${
    err?.code ? " " + err.code : ""
  }: ${msg}`;
  if (status === 401 || status === 403) {
    return kmsError("KMS_DENIED", PROVIDER, ref, `permission denied (${detail})`);
  }
  if (status === 404) {
    return kmsError("KMS_KEY_NOT_FOUND", PROVIDER, ref, `key not found (${detail})`);
  }
  if (status === 429 || (status !== undefined && status >= 500)) {
    return kmsError("KMS_UNAVAILABLE", PROVIDER, ref, detail);
  }
  if (status === undefined) {
    return kmsError("KMS_UNAVAILABLE", PROVIDER, ref, `${what}: cannot reach the vault (${msg})`);
  }
  return kmsError("KMS_ERROR", PROVIDER, ref, detail);
}

async function run<T>(
  ref: string,
  options: KmsOptions,
  what: string,
  f: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  try {
    return await f(AbortSignal.timeout(options.timeoutMs));
  } catch (e) {
    throw failure(ref, e, what, options.timeoutMs);
  }
}

interface AzureKey extends RemoteKey {
  alg: string;
  /** The key version's id (URL). */
  id: string;
  ec: boolean;
}

const cache = new Map<string, Promise<AzureKey>>();

const b64url = (u: Uint8Array | undefined) =>
  (u ?? new Uint8Array()).toBase64({ alphabet: "base64url", omitPadding: true });

function fetchKey(ref: string, parsed: AzureKeyRef, options: KmsOptions): Promise<AzureKey> {
  const id = `${parsed.host}|${parsed.name}|${parsed.version}`;
  let p = cache.get(id);
  if (p === undefined) {
    p = (async () => {
      await loadSdks(ref);
      const k = await run(
        ref,
        options,
        "GetKey",
        (abortSignal) =>
          client(parsed, options).getKey(parsed.name, {
            ...(parsed.version ? { version: parsed.version } : {}),
            abortSignal,
          }),
      );
      const jwk = k.key ?? {};
      const kty = String(jwk.kty ?? "").replace(/-HSM$/, "");
      if (k.properties.enabled === false) {
        throw kmsError("KMS_KEY_UNSUPPORTED", PROVIDER, ref, "the key is disabled");
      }
      try {
        if (kty === "EC") {
          const scheme = EC[String(jwk.crv)];
          if (!scheme) throw new Error(`curve ${jwk.crv}`);
          const publicKey = createPublicKey({
            key: { kty: "EC", crv: jwk.crv, x: b64url(jwk.x), y: b64url(jwk.y) },
            format: "jwk",
          });
          return { publicKey, ...scheme, id: k.id ?? "", ec: true };
        }
        if (kty === "RSA") {
          const publicKey = createPublicKey({
            key: { kty: "RSA", n: b64url(jwk.n), e: b64url(jwk.e) },
            format: "jwk",
          });
          const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
          const scheme = RSA[bits];
          if (!scheme) throw new Error(`RSA ${bits} bits`);
          return { publicKey, ...scheme, id: k.id ?? "", ec: false };
        }
        throw new Error(`key type ${jwk.kty ?? "(none)"}`);
      } catch (e) {
        throw kmsError(
          "KMS_KEY_UNSUPPORTED",
          PROVIDER,
          ref,
          `unsupported key (${
            (e as Error).message
          }): EC P-256/384/521 or RSA 2048/3072/4096 is needed`,
        );
      }
    })();
    cache.set(id, p);
    p.catch(() => cache.delete(id));
  }
  return p;
}

/** A signer for the key; the key is fetched now. */
export async function loadSigner(ref: string, options: KmsOptions): Promise<VerifiableSigner> {
  const parsed = parseRef(ref);
  const key = await fetchKey(ref, parsed, options);
  return new DigestSigner(
    key,
    async (digest) => {
      const crypto = client(parsed, options).getCryptographyClient(parsed.name, {
        keyVersion: key.id.replace(/\/+$/, "").split("/").pop() ?? "",
      });
      const out = await run(
        ref,
        options,
        "Sign",
        (abortSignal) => crypto.sign(key.alg as Keys.SignatureAlgorithm, digest, { abortSignal }),
      );
      const raw = out.result;
      if (!key.ec) return new Uint8Array(raw);
      const der = p1363ToDer(raw);
      if (der === undefined) {
        throw kmsError("KMS_ERROR", PROVIDER, ref, "Sign returned a malformed EC signature");
      }
      return der;
    },
    ref,
    PROVIDER,
  );
}

/** A local verifier for the key (Key Vault's own verify is never called). */
export async function loadVerifier(ref: string, options: KmsOptions): Promise<KeyVerifier> {
  return remoteKeyVerifier(await fetchKey(ref, parseRef(ref), options));
}

/** Reuses the key, or creates an EC P-256 signing key tagged `use=sigstore`. */
export async function createKey(ref: string, options: KmsOptions): Promise<CreatedKey> {
  const parsed = parseRef(ref);
  if (parsed.version) {
    throw kmsRefError(ref, "azurekms://VAULT-HOST/KEY", "creating a key takes no version");
  }
  try {
    const key = await fetchKey(ref, parsed, options);
    return { publicKeyPem: publicKeyPem(key.publicKey), existed: true };
  } catch (e) {
    if (!(e instanceof CosignError) || e.code !== "KMS_KEY_NOT_FOUND") throw e;
  }
  await run(
    ref,
    options,
    "CreateKey",
    (abortSignal) =>
      client(parsed, options).createKey(parsed.name, "EC", {
        curve: "P-256",
        keyOps: ["sign", "verify"],
        tags: { use: "sigstore" },
        abortSignal,
      }),
  );
  const key = await fetchKey(ref, parsed, options);
  return { publicKeyPem: publicKeyPem(key.publicKey), existed: false };
}
