/**
 * KMS plugins: a `SCHEME://REF` key reference whose scheme has no built-in provider runs the
 * program `sigstore-kms-SCHEME` from `PATH` with sigstore's CLI plugin protocol v1
 * (`sigstore/sigstore pkg/signature/kms/cliplugin`), so anyone can add a KMS without touching
 * this code. Loaded only by `lib/cosign/keyref.ts`, by dynamic `import()`.
 *
 * Protocol, one process per call: argument 1 is the protocol version `v1`, argument 2 the JSON
 * `{initOptions: {protocolVersion, keyResourceID: REF, hashFunc, ctxDeadline}, methodName,
 * <methodName>: {…}}`; stdin carries the message (empty here: only a digest is ever sent);
 * stdout is the JSON answer (`errorMessage` on failure; byte fields in base64); stderr is
 * passed through; the exit status is ignored, as sigstore does. Hash numbers are Go's
 * `crypto.Hash` (SHA-256 = 5, SHA-384 = 6, SHA-512 = 7).
 *
 * - `publicKey` gives the key; its type gives the digest (P-256 → SHA-256, P-384 → SHA-384,
 *   P-521 → SHA-512, RSA → SHA-256 PKCS#1 v1.5).
 * - Signing: `signMessage` with `messageOptions.digest` and `hashFunc`, empty stdin.
 * - Verification is local with the public key.
 * - `generate-key-pair --kms SCHEME://REF`: `defaultAlgorithm`, then `createKey` with it.
 * - The plugin is killed at the command's deadline.
 * @module
 */

import type { HashName, KeyVerifier, VerifiableSigner } from "../lib/crypto/key_signer.ts";
import { KeyVerifier as Verifier } from "../lib/crypto/key_signer.ts";
import {
  type CreatedKey,
  DigestSigner,
  kmsError,
  type KmsOptions,
  kmsRefError,
  oneLine,
} from "../lib/crypto/kms.ts";
import { type KeyAlgorithm, parsePublicKeyPem } from "../lib/crypto/keys.ts";
import { CosignError } from "../lib/errors.ts";

const SCHEME = /^([A-Za-z0-9][A-Za-z0-9_.+-]*):\/\/(.+)$/s;
const GO_HASH: Record<HashName, number> = { sha224: 4, sha256: 5, sha384: 6, sha512: 7 };
const HASH_OF: Record<KeyAlgorithm, HashName> = {
  "ecdsa-p256": "sha256",
  "ecdsa-p384": "sha384",
  "ecdsa-p521": "sha512",
  "rsa": "sha256",
  "ed25519": "sha512",
};
/** Cap on a plugin's answer. */
const MAX_ANSWER = 1 << 20;

/** A parsed plugin reference. */
export interface PluginKeyRef {
  /** `sigstore-kms-SCHEME`. */
  program: string;
  /** What follows `SCHEME://`, handed to the plugin as `keyResourceID`. */
  keyResourceID: string;
}

/** Parses `SCHEME://REF`; a usage error when the scheme cannot name a program. */
export function parseRef(ref: string): PluginKeyRef {
  const m = SCHEME.exec(ref);
  if (!m) {
    throw kmsRefError(
      ref,
      "SCHEME://REF, SCHEME made of letters, digits and _ . + - (runs sigstore-kms-SCHEME)",
    );
  }
  return { program: `sigstore-kms-${m[1]}`, keyResourceID: m[2]! };
}

function provider(p: PluginKeyRef): string {
  return `plugin ${p.program}`;
}

/** Finds the program on PATH (as exec.LookPath does), or undefined. */
async function lookPath(program: string, options: KmsOptions): Promise<string | undefined> {
  for (const dir of (options.getEnv("PATH") ?? "").split(":")) {
    const path = `${dir || "."}/${program}`;
    try {
      const st = await Deno.stat(path);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function invoke(
  ref: string,
  p: PluginKeyRef,
  options: KmsOptions,
  method: string,
  args: unknown,
  hash: HashName = "sha256",
): Promise<Record<string, unknown>> {
  const path = await lookPath(p.program, options);
  if (path === undefined) {
    const scheme = ref.slice(0, ref.indexOf("://") + 3);
    throw new CosignError(
      "KEYREF_UNSUPPORTED",
      `Cannot use key ${ref}: no built-in provider for ${scheme} and no plugin ${p.program} on PATH`,
    );
  }
  const deadline = new Date(Date.now() + options.timeoutMs);
  const request = {
    initOptions: {
      ctxDeadline: deadline.toISOString(),
      protocolVersion: "v1",
      keyResourceID: p.keyResourceID,
      hashFunc: GO_HASH[hash],
      rpcOptions: { ctxDeadline: deadline.toISOString() },
    },
    methodName: method,
    [method]: args,
  };
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(path, {
      args: ["v1", JSON.stringify(request)],
      // An empty pipe, closed at once: the plugin reads EOF (the digest travels in the request).
      // Not "null": a closed fd 0 can be taken by the first file the plugin opens.
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    await child.stdin.close();
  } catch (e) {
    throw kmsError(
      "KMS_UNAVAILABLE",
      provider(p),
      ref,
      `cannot run ${path}: ${(e as Error).message}`,
    );
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, options.timeoutMs);
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } finally {
    clearTimeout(timer);
  }
  if (out.signal === "SIGKILL" && Date.now() >= deadline.getTime() - 50) {
    throw kmsError(
      "KMS_UNAVAILABLE",
      provider(p),
      ref,
      `${method}: no answer within the ${options.timeoutMs / 1000} s deadline`,
    );
  }
  if (out.stdout.length > MAX_ANSWER) {
    throw kmsError("KMS_ERROR", provider(p), ref, `${method}: the answer is over 1 MiB`);
  }
  let resp: Record<string, unknown>;
  try {
    resp = JSON.parse(new TextDecoder().decode(out.stdout));
    if (resp === null || typeof resp !== "object") throw new Error("not an object");
  } catch {
    throw kmsError(
      "KMS_ERROR",
      provider(p),
      ref,
      `${method}: the plugin's output is not a JSON answer (exit code ${out.code})`,
    );
  }
  if (typeof resp.errorMessage === "string" && resp.errorMessage !== "") {
    throw kmsError("KMS_ERROR", provider(p), ref, `${method}: ${oneLine(resp.errorMessage)}`);
  }
  const result = resp[method];
  if (result === null || typeof result !== "object") {
    throw kmsError("KMS_ERROR", provider(p), ref, `${method}: the answer has no ${method} field`);
  }
  return result as Record<string, unknown>;
}

function bytes(ref: string, p: PluginKeyRef, v: unknown, what: string): Uint8Array<ArrayBuffer> {
  try {
    if (typeof v !== "string") throw new Error();
    return Uint8Array.fromBase64(v);
  } catch {
    throw kmsError("KMS_ERROR", provider(p), ref, `the answer's ${what} is not base64`);
  }
}

async function publicKey(ref: string, p: PluginKeyRef, options: KmsOptions) {
  const r = await invoke(ref, p, options, "publicKey", { publicKeyOptions: { rpcOptions: {} } });
  const pem = new TextDecoder().decode(bytes(ref, p, r.publicKeyPEM, "publicKeyPEM"));
  return parsePublicKeyPem(pem, `${ref} (public key from ${p.program})`);
}

/** A signer that has the plugin sign digests; its public key is fetched now. */
export async function loadSigner(ref: string, options: KmsOptions): Promise<VerifiableSigner> {
  const p = parseRef(ref);
  const key = await publicKey(ref, p, options);
  const verifier = new Verifier(key);
  const hash = HASH_OF[verifier.algorithm];
  return new DigestSigner(
    { publicKey: key, hash },
    async (digest) => {
      const r = await invoke(ref, p, options, "signMessage", {
        signOptions: {
          rpcOptions: {},
          messageOptions: { digest: digest.toBase64(), hashFunc: GO_HASH[hash] },
        },
      }, hash);
      const sig = bytes(ref, p, r.signature, "signature");
      if (sig.length === 0) throw kmsError("KMS_ERROR", provider(p), ref, "empty signature");
      return sig;
    },
    ref,
    provider(p),
  );
}

/** A local verifier for the plugin's public key. */
export async function loadVerifier(ref: string, options: KmsOptions): Promise<KeyVerifier> {
  const p = parseRef(ref);
  return new Verifier(await publicKey(ref, p, options));
}

/** Has the plugin create the key with its default algorithm. */
export async function createKey(ref: string, options: KmsOptions): Promise<CreatedKey> {
  const p = parseRef(ref);
  const d = await invoke(ref, p, options, "defaultAlgorithm", {});
  const algorithm = typeof d.defaultAlgorithm === "string" ? d.defaultAlgorithm : "";
  const r = await invoke(ref, p, options, "createKey", {
    ctxDeadline: new Date(Date.now() + options.timeoutMs).toISOString(),
    algorithm,
  });
  const pem = new TextDecoder().decode(bytes(ref, p, r.publicKeyPEM, "publicKeyPEM"));
  const key = parsePublicKeyPem(pem, `${ref} (public key from ${p.program})`);
  return { publicKeyPem: await new Verifier(key).publicKeyPem(), existed: false };
}
