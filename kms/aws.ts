/**
 * AWS KMS keys: `awskms://[HOST[:PORT]]/<key id | key ARN | alias/NAME | alias ARN>`
 * (cosign-spec §8). Loaded only by `lib/cosign/keyref.ts`, by dynamic `import()`.
 *
 * - One `GetPublicKey` per process gives the public key, the key usage and the signing
 *   algorithms; the first one AWS lists is used (for RSA keys AWS lists RSASSA-PSS first).
 * - Signing hashes the message here and sends `Sign{MessageType: DIGEST}`.
 * - Verification is local, with that public key and algorithm.
 * - `generate-key-pair --kms awskms:///alias/NAME` reuses the alias's key or makes an
 *   `ECC_NIST_P256` `SIGN_VERIFY` key and the alias.
 * - Endpoint: `https://HOST:PORT` from the reference (as cosign), else the SDK's own
 *   `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL`. Region: the key ARN's, else the SDK's chain.
 *   Credentials: the SDK's default chain (environment, shared profile, SSO, web identity,
 *   container and instance metadata). Throttling and 5xx are retried by the SDK (standard
 *   mode, jittered backoff) inside the command's deadline.
 *
 * Why the SDK and not SigV4 over `fetch` (`npm:aws4fetch`): measured on the 2-core test box
 * under load, one `GetPublicKey` round trip in a fresh process took 510 ms ± 160 with
 * `@aws-sdk/client-kms` against 126 ms ± 29 with `aws4fetch` (user CPU 170 ms against
 * 30 ms; `deno run` of an empty script is ~70 ms there). The SDK's ~0.1–0.4 s is paid only
 * by commands that use an `awskms://` key (this file is never loaded otherwise), and is
 * about what decrypting a key file costs (scrypt, ~0.4 s); in exchange the whole standard
 * credential chain (profiles with role assumption, SSO, web identity, IMDSv2, ECS), endpoint
 * and region resolution and AWS's own retry rules need no code here, and follow AWS's
 * changes. Revisit if KMS signing start-up starts to matter more than that.
 * @module
 */

// A full specifier, so that a script importing mod.ts by URL (no import map) can use AWS keys.
// Types only here: the SDK itself is imported on first use (loadSdk), so a bundle can leave it out.
// deno-lint-ignore no-import-prefix
import type * as Sdk from "npm:@aws-sdk/client-kms@3.1178.0";
import { createPublicKey } from "node:crypto";
import type { HashName, KeyVerifier, VerifiableSigner } from "../lib/crypto/key_signer.ts";
import {
  type CreatedKey,
  DigestSigner,
  importSdk,
  kmsError,
  type KmsOptions,
  kmsRefError,
  type RemoteKey,
  remoteKeyVerifier,
} from "../lib/crypto/kms.ts";
import { publicKeyPem } from "../lib/crypto/keys.ts";
import { CosignError } from "../lib/errors.ts";

const PROVIDER = "AWS KMS";
const FORM = "awskms://[ENDPOINT]/KEY-ID, awskms://[ENDPOINT]/KEY-ARN, " +
  "awskms://[ENDPOINT]/alias/NAME or awskms://[ENDPOINT]/ALIAS-ARN";

// Key id / ARN / alias shapes, as AWS documents them and sigstore accepts them.
const UUID = "m?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?" +
  "[A-Fa-f0-9]{12}";
const ARN = "arn:(?:aws|aws-us-gov|aws-cn):kms:([a-z0-9-]+):\\d{12}:";
const HOST = "([^/]*)/";
const KEY_ID = new RegExp(`^awskms://${HOST}(${UUID})$`);
const KEY_ARN = new RegExp(`^awskms://${HOST}(${ARN}key/${UUID})$`);
const ALIAS = new RegExp(`^awskms://${HOST}(alias/.+)$`);
const ALIAS_ARN = new RegExp(`^awskms://${HOST}(${ARN}(alias/.+))$`);

/** A parsed `awskms://` reference. */
export interface AwsKeyRef {
  /** `HOST[:PORT]` from the reference, or "" for the SDK's endpoint. */
  endpoint: string;
  /** What `KeyId` is sent as: key id, key ARN, `alias/NAME` or alias ARN. */
  keyId: string;
  /** `alias/NAME` when the reference names an alias. */
  alias?: string;
  /** The region of an ARN. */
  region?: string;
}

/** Parses an `awskms://` reference; a usage error naming the accepted forms otherwise. */
export function parseRef(ref: string): AwsKeyRef {
  let m = KEY_ID.exec(ref);
  if (m) return { endpoint: m[1]!, keyId: m[2]! };
  m = KEY_ARN.exec(ref);
  if (m) return { endpoint: m[1]!, keyId: m[2]!, region: m[3]! };
  m = ALIAS.exec(ref);
  if (m) return { endpoint: m[1]!, keyId: m[2]!, alias: m[2]! };
  m = ALIAS_ARN.exec(ref);
  if (m) return { endpoint: m[1]!, keyId: m[2]!, alias: m[4]!, region: m[3]! };
  throw kmsRefError(ref, FORM);
}

const SIGNING_ALGORITHMS: Record<string, { hash: HashName; pss?: boolean }> = {
  ECDSA_SHA_256: { hash: "sha256" },
  ECDSA_SHA_384: { hash: "sha384" },
  ECDSA_SHA_512: { hash: "sha512" },
  RSASSA_PKCS1_V1_5_SHA_256: { hash: "sha256" },
  RSASSA_PKCS1_V1_5_SHA_384: { hash: "sha384" },
  RSASSA_PKCS1_V1_5_SHA_512: { hash: "sha512" },
  RSASSA_PSS_SHA_256: { hash: "sha256", pss: true },
  RSASSA_PSS_SHA_384: { hash: "sha384", pss: true },
  RSASSA_PSS_SHA_512: { hash: "sha512", pss: true },
};

interface AwsKey extends RemoteKey {
  /** The AWS name of the signing algorithm. */
  algorithm: string;
}

let sdk!: typeof Sdk;

/** Imports the SDK once, before the first request. */
async function loadSdk(ref: string): Promise<void> {
  sdk ??= await importSdk(
    // deno-lint-ignore no-import-prefix
    () => import("npm:@aws-sdk/client-kms@3.1178.0"),
    "npm:@aws-sdk/client-kms@3.1178.0",
    PROVIDER,
    ref,
  );
}

/** One client per endpoint and region. */
const clients = new Map<string, Sdk.KMSClient>();
/** The key's public half and algorithm, fetched once per process. */
const keys = new Map<string, Promise<AwsKey>>();

function client(parsed: AwsKeyRef): Sdk.KMSClient {
  const id = `${parsed.endpoint}|${parsed.region ?? ""}`;
  let c = clients.get(id);
  if (c === undefined) {
    c = new sdk.KMSClient({
      ...(parsed.endpoint ? { endpoint: `https://${parsed.endpoint}` } : {}),
      ...(parsed.region ? { region: parsed.region } : {}),
      retryMode: "standard",
      maxAttempts: 3,
    });
    clients.set(id, c);
  }
  return c;
}

/** Maps an SDK failure to one line naming the provider, the key and the cause. */
function failure(ref: string, e: unknown, what: string, timeoutMs: number): CosignError {
  if (e instanceof CosignError) return e;
  const err = e as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const name = err?.name ?? "Error";
  const msg = err?.message ?? String(e);
  const detail = msg && msg !== name ? `${name}: ${msg}` : name;
  switch (name) {
    case "NotFoundException":
      return kmsError("KMS_KEY_NOT_FOUND", PROVIDER, ref, `${what}: key not found (${detail})`);
    case "AccessDeniedException":
    case "UnrecognizedClientException":
    case "InvalidSignatureException":
    case "IncompleteSignature":
    case "ExpiredTokenException":
    case "MissingAuthenticationToken":
      return kmsError("KMS_DENIED", PROVIDER, ref, `${what}: permission denied (${detail})`);
    case "CredentialsProviderError":
      return kmsError("KMS_DENIED", PROVIDER, ref, `${what}: no AWS credentials found (${msg})`);
    case "ThrottlingException":
    case "LimitExceededException":
    case "KMSInternalException":
    case "DependencyTimeoutException":
    case "KeyUnavailableException":
      return kmsError("KMS_UNAVAILABLE", PROVIDER, ref, `${what}: ${detail}`);
    case "UnsupportedOperationException":
    case "InvalidKeyUsageException":
      return kmsError(
        "KMS_KEY_UNSUPPORTED",
        PROVIDER,
        ref,
        `${what}: not an asymmetric signing key (${detail})`,
      );
    case "DisabledException":
    case "KMSInvalidStateException":
      return kmsError("KMS_ERROR", PROVIDER, ref, `${what}: the key is not usable (${detail})`);
    case "AbortError":
    case "TimeoutError":
      return kmsError(
        "KMS_UNAVAILABLE",
        PROVIDER,
        ref,
        `${what}: no answer within the ${timeoutMs / 1000} s deadline`,
      );
  }
  if (/region is missing/i.test(msg)) {
    return kmsError(
      "KMS_ERROR",
      PROVIDER,
      ref,
      `${what}: no AWS region (set AWS_REGION, a profile region, or use a key ARN)`,
    );
  }
  if (err?.$metadata?.httpStatusCode === undefined) {
    return kmsError(
      "KMS_UNAVAILABLE",
      PROVIDER,
      ref,
      `${what}: cannot reach the endpoint (${msg})`,
    );
  }
  return kmsError("KMS_ERROR", PROVIDER, ref, `${what}: ${detail}`);
}

async function send<T>(
  ref: string,
  options: KmsOptions,
  what: string,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  try {
    return await call(AbortSignal.timeout(options.timeoutMs));
  } catch (e) {
    throw failure(ref, e, what, options.timeoutMs);
  }
}

function fetchKey(ref: string, parsed: AwsKeyRef, options: KmsOptions): Promise<AwsKey> {
  const id = `${parsed.endpoint}|${parsed.region ?? ""}|${parsed.keyId}`;
  let p = keys.get(id);
  if (p === undefined) {
    p = (async () => {
      await loadSdk(ref);
      const out = await send(
        ref,
        options,
        "GetPublicKey",
        (abortSignal) =>
          client(parsed).send(new sdk.GetPublicKeyCommand({ KeyId: parsed.keyId }), {
            abortSignal,
          }),
      );
      if (out.KeyUsage !== "SIGN_VERIFY") {
        throw kmsError(
          "KMS_KEY_UNSUPPORTED",
          PROVIDER,
          ref,
          `key usage is ${out.KeyUsage ?? "unknown"}, not SIGN_VERIFY`,
        );
      }
      const algorithm = out.SigningAlgorithms?.[0] ?? "";
      const scheme = SIGNING_ALGORITHMS[algorithm];
      if (scheme === undefined) {
        throw kmsError(
          "KMS_KEY_UNSUPPORTED",
          PROVIDER,
          ref,
          `unsupported key (${out.KeySpec ?? "unknown spec"}, signing algorithm ${
            algorithm || "none"
          })`,
        );
      }
      let publicKey;
      try {
        publicKey = createPublicKey({
          key: Buffer.from(out.PublicKey ?? new Uint8Array()),
          format: "der",
          type: "spki",
        });
      } catch {
        throw kmsError("KMS_ERROR", PROVIDER, ref, "GetPublicKey returned a malformed public key");
      }
      return { publicKey, ...scheme, algorithm };
    })();
    keys.set(id, p);
    p.catch(() => keys.delete(id));
  }
  return p;
}

/** A signer for the key; the public key and algorithm are fetched now. */
export async function loadSigner(ref: string, options: KmsOptions): Promise<VerifiableSigner> {
  const parsed = parseRef(ref);
  const key = await fetchKey(ref, parsed, options);
  return new DigestSigner(
    key,
    async (digest) => {
      const out = await send(
        ref,
        options,
        "Sign",
        (abortSignal) =>
          client(parsed).send(
            new sdk.SignCommand({
              KeyId: parsed.keyId,
              Message: digest,
              MessageType: "DIGEST",
              SigningAlgorithm: key.algorithm as "ECDSA_SHA_256",
            }),
            { abortSignal },
          ),
      );
      if (!out.Signature?.length) {
        throw kmsError("KMS_ERROR", PROVIDER, ref, "Sign returned no signature");
      }
      return new Uint8Array(out.Signature);
    },
    ref,
    PROVIDER,
  );
}

/** A local verifier for the key's public key and signing algorithm. */
export async function loadVerifier(ref: string, options: KmsOptions): Promise<KeyVerifier> {
  return remoteKeyVerifier(await fetchKey(ref, parseRef(ref), options));
}

/** Finds the alias's key, or creates an ECC_NIST_P256 signing key and the alias. */
export async function createKey(ref: string, options: KmsOptions): Promise<CreatedKey> {
  const parsed = parseRef(ref);
  if (parsed.alias === undefined) {
    throw kmsRefError(
      ref,
      "awskms://[ENDPOINT]/alias/NAME or an alias ARN",
      "creating a key needs an alias",
    );
  }
  try {
    const key = await fetchKey(ref, parsed, options);
    return { publicKeyPem: publicKeyPem(key.publicKey), existed: true };
  } catch (e) {
    if (!(e instanceof CosignError) || e.code !== "KMS_KEY_NOT_FOUND") throw e;
  }
  const created = await send(
    ref,
    options,
    "CreateKey",
    (abortSignal) =>
      client(parsed).send(
        new sdk.CreateKeyCommand({
          KeySpec: "ECC_NIST_P256",
          KeyUsage: "SIGN_VERIFY",
          Description: "Created by Sigstore",
        }),
        { abortSignal },
      ),
  );
  const keyId = created.KeyMetadata?.KeyId;
  if (!keyId) throw kmsError("KMS_ERROR", PROVIDER, ref, "CreateKey returned no key id");
  await send(
    ref,
    options,
    `CreateAlias ${parsed.alias}`,
    (abortSignal) =>
      client(parsed).send(
        new sdk.CreateAliasCommand({ AliasName: parsed.alias, TargetKeyId: keyId }),
        {
          abortSignal,
        },
      ),
  );
  const key = await fetchKey(ref, parsed, options);
  return { publicKeyPem: publicKeyPem(key.publicKey), existed: false };
}
