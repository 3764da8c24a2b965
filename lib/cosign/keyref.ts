/**
 * The one key-reference resolver (cosign-spec §1.7). Checked in cosign's order:
 * `pkcs11:` → `k8s://` → `gitlab://`/`github://` → KMS schemes → `http(s)://`, `env://VAR`,
 * otherwise a local path. Providers that need extra code (KMS, PIV, PKCS#11) are reached only
 * by dynamic `import()` from here, so they are never loaded unless used.
 * @module
 */

import { CosignError } from "../errors.ts";
import { decryptPrivateKey, type Password } from "../crypto/encrypted_key.ts";
import {
  type HashName,
  KeySigner,
  KeyVerifier,
  type VerifiableSigner,
} from "../crypto/key_signer.ts";
import type { CreatedKey, KmsOptions, KmsProvider } from "../crypto/kms.ts";
import { parsePkcs8PrivateKey, parsePublicKeyPem, weakKeyWarning } from "../crypto/keys.ts";

/** KMS URI schemes cosign registers. */
export const KMS_SCHEMES = ["awskms://", "gcpkms://", "azurekms://", "hashivault://", "openbao://"];

/**
 * The key providers, one line each, loaded only when their scheme is used. Adding a provider
 * means adding its file in `kms/` and its line here.
 */
const PROVIDERS: Record<string, () => Promise<KmsProvider>> = {
  awskms: () => import("../../kms/aws.ts"),
  hashivault: () => import("../../kms/vault.ts"),
  openbao: () => import("../../kms/vault.ts"),
  k8s: () => import("../../kms/k8s.ts"),
  gcpkms: () => import("../../kms/gcp.ts"),
  azurekms: () => import("../../kms/azure.ts"),
};

/** Schemes without a built-in provider: cosign's CLI plugin protocol. */
const PLUGIN = () => import("../../kms/plugin.ts");

/** The provider module for a `k8s://` or KMS reference, or undefined for other kinds. */
async function providerFor(ref: string): Promise<KmsProvider | undefined> {
  const kind = keyRefKind(ref);
  if (kind !== "kms" && kind !== "k8s") return undefined;
  // Any other scheme runs the external plugin sigstore-kms-SCHEME.
  const load = PROVIDERS[ref.slice(0, ref.indexOf("://"))] ?? PLUGIN;
  return await load();
}

/** Options every provider call takes, with defaults. */
export interface ProviderOptions {
  /** Environment lookup; defaults to `Deno.env.get`. */
  getEnv?: (name: string) => string | undefined;
  /** Deadline for the provider's requests, retries included (default 3 minutes, as cosign). */
  timeoutMs?: number;
  /** Progress messages (e.g. "Successfully created secret …"). */
  info?: (message: string) => void | Promise<void>;
}

function kmsOptions(
  options: ProviderOptions,
  password?: () => Promise<Password>,
): KmsOptions {
  return {
    getEnv: options.getEnv ?? ((n) => Deno.env.get(n)),
    timeoutMs: options.timeoutMs ?? 180_000,
    ...(password ? { password } : {}),
    ...(options.info ? { info: options.info } : {}),
  };
}

/**
 * Creates the key a KMS or `k8s://` reference names, or finds the existing one
 * (`generate-key-pair --kms URI`, `generate-key-pair k8s://ns/name`).
 * @example
 * ```ts
 * import { createKmsKey } from "@cosign-deno/cosign";
 * const { publicKeyPem } = await createKmsKey("awskms:///alias/release", { timeoutMs: 30_000 });
 * ```
 */
export async function createKmsKey(
  ref: string,
  options: ProviderOptions & { password?: () => Promise<Password> } = {},
): Promise<CreatedKey> {
  const provider = await providerFor(ref);
  if (provider === undefined) {
    throw new CosignError(
      "KEYREF_UNSUPPORTED",
      `Cannot create key ${ref}: not a KMS or k8s:// key reference`,
    );
  }
  provider.parseRef(ref);
  return await provider.createKey(ref, kmsOptions(options, options.password));
}

/** How a key reference names its key material. */
export type KeyRefKind = "pkcs11" | "k8s" | "git" | "kms" | "url" | "env" | "file";

/**
 * Classifies a key reference without touching anything.
 * @example
 * ```ts
 * import { keyRefKind } from "@cosign-deno/cosign";
 * keyRefKind("cosign.key"); // "file"
 * keyRefKind("env://COSIGN_PUBLIC_KEY"); // "env"
 * keyRefKind("awskms://alias/release"); // "kms"
 * keyRefKind("k8s://ns/secret"); // "k8s"
 * ```
 */
export function keyRefKind(ref: string): KeyRefKind {
  if (ref.startsWith("pkcs11:")) return "pkcs11";
  if (ref.startsWith("k8s://")) return "k8s";
  if (ref.startsWith("gitlab://") || ref.startsWith("github://")) return "git";
  if (ref.startsWith("http://") || ref.startsWith("https://")) return "url";
  if (ref.startsWith("env://")) return "env";
  if (ref.includes("://")) return "kms";
  return "file";
}

/** Where key material can come from in this build, and what the rest are waiting on. */
function unsupported(ref: string, kind: KeyRefKind): CosignError {
  const what: Record<string, string> = {
    pkcs11: "PKCS#11 key references (pkcs11:)",
    k8s: "Kubernetes secret key references (k8s://)",
    git: "GitHub/GitLab key references",
    kms: KMS_SCHEMES.some((s) => ref.startsWith(s))
      ? `KMS key references (${ref.slice(0, ref.indexOf("://") + 3)})`
      : `key reference scheme "${ref.slice(0, ref.indexOf("://") + 3)}"`,
  };
  return new CosignError(
    "KEYREF_UNSUPPORTED",
    `Cannot use key ${ref}: ${what[kind]} are not supported by this version`,
  );
}

/** Options for reading key material. */
export interface ReadKeyOptions {
  /** Environment lookup for `env://`; defaults to `Deno.env.get`. */
  getEnv?: (name: string) => string | undefined;
  /** `fetch` for `http(s)://` references; defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Reads the bytes a file, `env://` or `http(s)://` reference names, with one-line errors
 * (missing file, directory, empty file, unset variable, HTTP status).
 */
export async function readKeyRef(
  ref: string,
  options: ReadKeyOptions = {},
  what = "key",
): Promise<string> {
  const kind = keyRefKind(ref);
  if (kind === "env") {
    const name = ref.slice("env://".length);
    const value = (options.getEnv ?? ((n) => Deno.env.get(n)))(name);
    if (value === undefined || value === "") {
      throw new CosignError("KEYREF_INVALID", `Cannot read key ${ref}: ${name} is not set`);
    }
    return value;
  }
  if (kind === "url") {
    let res: Response;
    try {
      res = await (options.fetch ?? fetch)(ref);
    } catch (e) {
      throw new CosignError("NETWORK", `Cannot fetch ${what} ${ref}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new CosignError("NETWORK", `Cannot fetch ${what} ${ref}: HTTP ${res.status}`);
    }
    return await res.text();
  }
  if (kind !== "file") throw unsupported(ref, kind);
  return await readTextFile(ref, "key file");
}

/** Reads a text file with one-line errors naming the file and the reason. */
export async function readTextFile(path: string, what: string): Promise<string> {
  return new TextDecoder().decode(await readFileBytes(path, what));
}

/** Reads a file's bytes with one-line errors naming the file and the reason. */
export async function readFileBytes(path: string, what: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw fileError(e, path, what);
  }
  if (bytes.length === 0) {
    throw new CosignError("FILE_READ", `Cannot read ${what} ${path}: the file is empty`);
  }
  return bytes;
}

/** Turns a Deno file-system error into a one-line `CosignError`. */
export function fileError(e: unknown, path: string, what: string): CosignError {
  if (e instanceof Deno.errors.NotFound) {
    return new CosignError("FILE_NOT_FOUND", `Cannot read ${what} ${path}: no such file`);
  }
  if (e instanceof Deno.errors.IsADirectory || (e as { code?: string }).code === "EISDIR") {
    return new CosignError("FILE_READ", `Cannot read ${what} ${path}: it is a directory`);
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new CosignError("FILE_READ", `Cannot read ${what} ${path}: permission denied`);
  }
  return new CosignError("FILE_READ", `Cannot read ${what} ${path}: ${(e as Error).message}`);
}

/** Options for {@link loadSigner}. */
export interface LoadSignerOptions extends ReadKeyOptions, ProviderOptions {
  /** Supplies the key's password; called only when an encrypted key needs one. */
  password: () => Promise<Password>;
}

/**
 * Loads a signer from a key reference: an encrypted cosign key in a file, an `env://`
 * variable or at an `http(s)://` URL; a KMS key (`awskms://`, …); a `k8s://` secret.
 * @example
 * ```ts
 * import { loadSigner } from "../../mod.ts";
 * const signer = await loadSigner("cosign.key", { password: async () => "hello" });
 * ```
 */
export async function loadSigner(
  ref: string,
  options: LoadSignerOptions,
): Promise<VerifiableSigner> {
  const provider = await providerFor(ref);
  if (provider !== undefined) {
    provider.parseRef(ref);
    return await provider.loadSigner(ref, kmsOptions(options, options.password));
  }
  const pem = await readKeyRef(ref, options);
  const pkcs8 = await decryptPrivateKey(pem, await options.password(), ref);
  return new KeySigner(parsePkcs8PrivateKey(pkcs8, ref));
}

/** Options for {@link loadVerifier}. */
export interface LoadVerifierOptions extends ReadKeyOptions, ProviderOptions {
  /** Overrides the key's default message hash (cosign's `--signature-digest-algorithm`). */
  hash?: HashName;
  /**
   * Without `hash`, also accepts signatures over the message's SHA-256 when the key's own hash
   * is another (P-384, P-521), as `verify-blob --key --signature` does: see
   * {@link KeyVerifier}.
   */
  acceptSha256?: boolean;
  /**
   * Receives a warning about a key that is accepted but weak (an RSA key under 2048 bits); the
   * library prints nothing itself.
   */
  onWarning?: (message: string) => void | Promise<void>;
}

/**
 * Loads a verifier from a key reference naming a PEM public key (PKIX or PKCS#1 RSA) or a
 * PEM certificate; for a KMS or `k8s://` reference, the key's public half, fetched once and
 * used locally with the key's own hash and padding.
 * @example
 * ```ts
 * import { loadVerifier } from "../../mod.ts";
 * const fromFile = await loadVerifier("cosign.pub");
 * const fromEnv = await loadVerifier("env://COSIGN_PUBLIC_KEY");
 * console.log(fromFile.algorithm, fromEnv.algorithm); // "ecdsa-p256" …
 * ```
 */
export async function loadVerifier(
  ref: string,
  options: LoadVerifierOptions = {},
): Promise<KeyVerifier> {
  const provider = await providerFor(ref);
  if (provider !== undefined) {
    provider.parseRef(ref);
    return await provider.loadVerifier(ref, kmsOptions(options));
  }
  const pem = await readKeyRef(ref, options);
  const key = parsePublicKeyPem(pem, ref);
  const warning = weakKeyWarning(key, ref);
  if (warning !== undefined) await options.onWarning?.(warning);
  return new KeyVerifier(key, {
    ...(options.hash === undefined ? {} : { hash: options.hash }),
    ...(options.acceptSha256 ? { acceptSha256: true } : {}),
  });
}
