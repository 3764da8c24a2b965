/**
 * The seam between the key-reference resolver and the key providers in `kms/`: what a provider
 * module exports ({@link KmsProvider}), a {@link DigestSigner} that hashes locally in one pass
 * and hands only the digest to a remote key, the providers' one-line errors, and retries with
 * jittered backoff inside a deadline.
 *
 * A provider module is loaded only by dynamic `import()` from `lib/cosign/keyref.ts`; this
 * module is small and loads nothing itself.
 * @module
 */

import type { KeyObject } from "node:crypto";
import { digestPass } from "./digest_pass.ts";
import { CosignError, type ErrorCode, UsageError } from "../errors.ts";
import type { Password } from "./encrypted_key.ts";
import { type HashName, KeyVerifier, type VerifiableSigner } from "./key_signer.ts";
import { type KeyAlgorithm, keyAlgorithm, publicKeyPem } from "./keys.ts";
import type { MessageData } from "./signer.ts";

/** What every provider call receives from the resolver. */
export interface KmsOptions {
  /** Environment lookup (defaults to `Deno.env.get`). */
  getEnv: (name: string) => string | undefined;
  /** The whole operation's deadline, retries included, in milliseconds. */
  timeoutMs: number;
  /** Supplies a password (Kubernetes secrets: to decrypt or to create `cosign.key`). */
  password?: () => Promise<Password>;
  /** Progress for people (the CLI prints it to stderr); the library prints nothing itself. */
  info?: (message: string) => void | Promise<void>;
}

/** What `generate-key-pair --kms` (or `k8s://`) made or found. */
export interface CreatedKey {
  /** The public key as PKIX PEM. */
  publicKeyPem: string;
  /** Whether an existing key was reused. */
  existed: boolean;
}

/** A key provider module: one file in `kms/`, reached by the resolver's dynamic `import()`. */
export interface KmsProvider {
  /** Checks the reference's form, before any request; throws a `UsageError` naming the form. */
  parseRef(ref: string): unknown;
  /** A signer for the key the reference names. */
  loadSigner(ref: string, options: KmsOptions): Promise<VerifiableSigner>;
  /** A local verifier for the key's public key (fetched once). */
  loadVerifier(ref: string, options: KmsOptions): Promise<KeyVerifier>;
  /** Creates the key, or finds the existing one. */
  createKey(ref: string, options: KmsOptions): Promise<CreatedKey>;
}

/** A remote key's public half and signature scheme, as the provider reports it. */
export interface RemoteKey {
  /** The public key. */
  publicKey: KeyObject;
  /** The digest the key signs. */
  hash: HashName;
  /** RSA only: RSASSA-PSS rather than PKCS#1 v1.5. */
  pss?: boolean;
}

/**
 * A {@link VerifiableSigner} over a key that never leaves its provider: the message is hashed
 * here in one pass, and only the digest goes to `signDigest`.
 * @example
 * ```ts
 * import { createPublicKey } from "node:crypto";
 * import { DigestSigner } from "@cosign-deno/cosign";
 * // A provider's client: signs a digest remotely, returns a DER ECDSA signature.
 * declare const kms: { signDigest(digest: Uint8Array): Promise<Uint8Array> };
 * const signer = new DigestSigner(
 *   { publicKey: createPublicKey(await Deno.readTextFile("kms-key.pub")), hash: "sha256" },
 *   (digest) => kms.signDigest(digest),
 *   "example://key",
 *   "example",
 * );
 * const signature = await signer.sign(new TextEncoder().encode("hello"));
 * ```
 */
export class DigestSigner implements VerifiableSigner {
  readonly #key: RemoteKey;
  readonly #signDigest: (digest: Uint8Array) => Promise<Uint8Array>;
  /** The key's algorithm. */
  readonly algorithm: KeyAlgorithm;

  /**
   * Creates a signer.
   * @param key the public key and scheme the provider reported
   * @param signDigest asks the provider to sign a digest; returns cosign's encoding (DER ECDSA)
   * @param ref the reference, for error messages
   * @param provider the provider's name, for error messages
   */
  constructor(
    key: RemoteKey,
    signDigest: (digest: Uint8Array) => Promise<Uint8Array>,
    ref: string,
    provider: string,
  ) {
    this.algorithm = keyAlgorithm(key.publicKey, ref);
    if (this.algorithm === "ed25519") {
      throw kmsError(
        "KMS_KEY_UNSUPPORTED",
        provider,
        ref,
        "Ed25519 keys sign whole messages, and a KMS key is sent only digests",
      );
    }
    this.#key = key;
    this.#signDigest = signDigest;
  }

  /** The digest algorithm the key signs. */
  get hash(): HashName {
    return this.#key.hash;
  }

  /** The hash applied to messages. */
  get messageHash(): HashName {
    return this.#key.hash;
  }

  /** Hashes `data` in one pass and has the provider sign the digest. */
  async sign(data: MessageData): Promise<Uint8Array> {
    const { digests } = await digestPass(data, [this.#key.hash], { purpose: "sign" });
    return await this.#signDigest(digests.get(this.#key.hash)!);
  }

  /** Has the provider sign a digest made with {@link messageHash}. */
  async signDigest(digest: Uint8Array): Promise<Uint8Array> {
    return await this.#signDigest(digest);
  }

  /** The public key as PKIX PEM. */
  publicKeyPem(): Promise<string> {
    return Promise.resolve(publicKeyPem(this.#key.publicKey));
  }

  /** A local verifier with the key's hash and padding. */
  verifier(): KeyVerifier {
    return remoteKeyVerifier(this.#key);
  }
}

/** A local verifier for a remote key's public half, with its hash and padding. */
export function remoteKeyVerifier(key: RemoteKey): KeyVerifier {
  return new KeyVerifier(key.publicKey, { hash: key.hash, ...(key.pss ? { pss: true } : {}) });
}

/** The error codes providers report. */
export type KmsErrorCode =
  | "KMS_UNAVAILABLE"
  | "KMS_DENIED"
  | "KMS_KEY_NOT_FOUND"
  | "KMS_KEY_UNSUPPORTED"
  | "KMS_ERROR";

/**
 * A provider failure as one line naming the provider, the key and the cause:
 * `Cannot use key awskms:///alias/x (AWS KMS): permission denied: …`.
 */
export function kmsError(
  code: KmsErrorCode & ErrorCode,
  provider: string,
  ref: string,
  cause: string,
): CosignError {
  return new CosignError(code, `Cannot use key ${ref} (${provider}): ${oneLine(cause)}`);
}

/**
 * Imports a provider's cloud SDK on first use. The providers import their SDKs dynamically so
 * that the single-file bundles can leave the SDKs out (`scripts/bundle.ts`): a bundle then has
 * Deno fetch the SDK from npm when a key of that cloud is first used, and a failure (offline,
 * no cache) is one line naming the package.
 * @param load the provider's literal `import("npm:…")`
 * @param pkg the package specifier, for the message
 * @param provider the provider's name
 * @param ref the key reference being used
 */
export async function importSdk<T>(
  load: () => Promise<T>,
  pkg: string,
  provider: string,
  ref: string,
): Promise<T> {
  try {
    return await load();
  } catch (e) {
    // The last clause of Deno's message is the cause ("Connection refused (os error 111)").
    const why = (e instanceof Error ? e.message : String(e)).split(/\n/)[0]!.split(": ").pop()!;
    throw kmsError(
      "KMS_ERROR",
      provider,
      ref,
      `cannot load its SDK ${pkg} (${oneLine(why, 90)}): bundles leave it out for Deno to ` +
        "fetch from npm on first use, which needs the network or a DENO_DIR holding it",
    );
  }
}

/** A malformed reference: a usage error giving the expected form. */
export function kmsRefError(ref: string, form: string, why?: string): UsageError {
  return new UsageError(
    `Invalid key reference ${ref}: ${why ? why + "; " : ""}expected ${form}`,
  );
}

/** Collapses whitespace and caps length, so a server's message stays one short line. */
export function oneLine(text: string, max = 300): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > max ? t.slice(0, max) + "…" : t;
}

/** Options for {@link withRetries}. */
export interface RetryOptions {
  /** When the whole operation must have ended (`Date.now()` milliseconds). */
  deadline: number;
  /** First backoff in ms (default 200), doubled each time up to `maxDelayMs` (default 5000). */
  baseDelayMs?: number;
  /** Longest single wait. */
  maxDelayMs?: number;
  /** Attempts at most (default 5). */
  maxAttempts?: number;
}

/** A failure {@link withRetries} may retry; `retryAfterMs` comes from a `Retry-After` header. */
export class RetryableError extends Error {
  /** The server's requested wait, if any. */
  readonly retryAfterMs: number | undefined;
  /** The error to report if no retry is left. */
  readonly final: CosignError;

  /**
   * @param final what to throw when retries are spent
   * @param retryAfterMs the server's requested wait
   */
  constructor(final: CosignError, retryAfterMs?: number) {
    super(final.message);
    this.final = final;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Runs `attempt` (given an `AbortSignal` that fires at the deadline) until it succeeds, throws
 * something other than a {@link RetryableError}, or the attempts or the deadline run out; waits
 * with full jitter between attempts and honours `Retry-After`.
 */
export async function withRetries<T>(
  attempt: (signal: AbortSignal) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const max = options.maxAttempts ?? 5;
  let delay = options.baseDelayMs ?? 200;
  for (let n = 1;; n++) {
    const left = options.deadline - Date.now();
    const signal = AbortSignal.timeout(Math.max(1, left));
    try {
      return await attempt(signal);
    } catch (e) {
      if (!(e instanceof RetryableError)) throw e;
      const wait = e.retryAfterMs ?? Math.random() * delay;
      delay = Math.min(delay * 2, options.maxDelayMs ?? 5000);
      if (n >= max || Date.now() + wait >= options.deadline) throw e.final;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * `fetch` with the provider's failures mapped to one-line errors: network failures and 429/5xx
 * become retryable; the deadline becomes `KMS_UNAVAILABLE`.
 */
export async function kmsFetch(
  provider: string,
  ref: string,
  url: string,
  init: RequestInit & { signal: AbortSignal },
  fetchImpl: typeof fetch = fetch,
): Promise<Response> {
  let res: Response;
  try {
    res = await fetchImpl(url, init);
  } catch (e) {
    const host = (() => {
      try {
        return new URL(url).host;
      } catch {
        return url;
      }
    })();
    if (init.signal.aborted) {
      throw kmsError(
        "KMS_UNAVAILABLE",
        provider,
        ref,
        `no answer from ${host} before the deadline`,
      );
    }
    throw new RetryableError(
      kmsError("KMS_UNAVAILABLE", provider, ref, `cannot reach ${host}: ${(e as Error).message}`),
    );
  }
  if (res.status === 429 || res.status >= 500) {
    const text = await res.text().catch(() => "");
    throw new RetryableError(
      kmsError(
        "KMS_UNAVAILABLE",
        provider,
        ref,
        `${res.status === 429 ? "throttled" : "server error"} (HTTP ${res.status})${
          text ? ": " + text : ""
        }`,
      ),
      retryAfterMs(res.headers.get("retry-after")),
    );
  }
  return res;
}
