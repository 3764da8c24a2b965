/**
 * Blob commands: `sign-blob` and `verify-blob` (cosign-spec §5). The blob is streamed from
 * its file (or stdin as `-`) and hashed once, in constant memory.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError, UsageError } from "../errors.ts";
import { decodeSignature, fileChunks, signBlob, verifyBlob } from "../cosign/blob.ts";
import {
  fileError,
  loadSigner,
  loadVerifier,
  readFileBytes,
  readKeyRef,
} from "../cosign/keyref.ts";
import { legacyBundleJson } from "../cosign/legacy_bundle.ts";
import { hashedRekordEntry, RekorClient, type RekorEntry } from "../tlog/rekor.ts";
import type { HashName } from "../crypto/key_signer.ts";
import { toBase64, utf8 } from "../crypto/encoding.ts";
import { bool, type FlagValues, required, str } from "./args.ts";
import { type Command, requireIgnoreTlog, SIGN_TLOG_FLAGS, VERIFY_TLOG_FLAGS } from "./command.ts";
import { info, stdout, writeFileAtomic } from "./io.ts";
import { readPassword } from "./password.ts";
import { loadTrustedRoot } from "./trust.ts";

/** Opens a blob for streaming: a file path, or `-` for stdin. */
export async function openBlob(path: string): Promise<AsyncIterable<Uint8Array>> {
  if (path === "-") return fileChunks(Deno.stdin);
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) {
      throw new CosignError("FILE_READ", `Cannot read blob ${path}: it is a directory`);
    }
    return fileChunks(await Deno.open(path));
  } catch (e) {
    if (e instanceof CosignError) throw e;
    throw fileError(e, path, "blob");
  }
}

/** `cosign sign-blob`. */
export const signBlobCommand: Command = {
  spec: {
    name: "sign-blob",
    summary: "Signs a file (or stdin as -) and prints the base64 signature.",
    usage: "--key KEYREF [--output-signature FILE] [--tlog-upload=false] FILE|-",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      "output-signature": {
        type: "string",
        value: "FILE",
        description: "write the signature to FILE instead of stdout",
      },
      b64: { type: "boolean", default: true, description: "base64-encode the signature" },
      bundle: {
        type: "string",
        value: "FILE",
        description: "write cosign's bundle (signature, key, transparency-log entry) here",
      },
      yes: {
        type: "boolean",
        short: "y",
        default: false,
        description: "skip confirmation prompts for uploading to the transparency log",
      },
      ...SIGN_TLOG_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = required(flags, "key");
    const path = positionals[0]!;
    const signer = await loadSigner(keyRef, {
      password: () => readPassword({ confirm: false, stdinInUse: path === "-" }),
    });
    await info(`Using payload from: ${path}`);
    // Hash the blob in the same pass as signing: the log entry needs its SHA-256.
    const hash = createHash("sha256");
    const blob = await openBlob(path);
    const sig = await signBlob(
      signer,
      (async function* () {
        for await (const c of blob) {
          hash.update(c);
          yield c;
        }
      })(),
    );
    const hex = hash.digest("hex");
    const publicKeyPem = await signer.publicKeyPem();
    let entry: RekorEntry | undefined;
    if (bool(flags, "tlog-upload")) {
      const rekor = new RekorClient(str(flags, "rekor-url"));
      try {
        entry = await rekor.upload(hashedRekordEntry(hex, sig, publicKeyPem));
      } finally {
        rekor.close();
      }
      await info(`tlog entry created with index: ${entry.logIndex}`);
    }
    const bundlePath = str(flags, "bundle");
    if (bundlePath) {
      await writeFileAtomic(bundlePath, legacyBundleJson(sig, publicKeyPem, entry), 0o644);
      await info(`Wrote bundle to file ${bundlePath}`);
    }
    const b64 = bool(flags, "b64");
    const out = str(flags, "output-signature");
    if (out) {
      await writeFileAtomic(out, b64 ? toBase64(sig) : sig, 0o644);
      await info(`Wrote signature to file ${out}`);
    } else if (!bundlePath) {
      await stdout(b64 ? toBase64(sig) + "\n" : sig);
    }
  },
};

const HASHES: HashName[] = ["sha224", "sha256", "sha384", "sha512"];

/** Where `--signature` found the signature. */
type SignatureSource = "url" | "file" | "literal";

/**
 * Reads `--signature`: an `http(s)://` URL, a file, or the signature itself; then decodes
 * base64 when the content is base64 (else takes the raw bytes).
 */
async function readSignature(value: string): Promise<{ sig: Uint8Array; from: SignatureSource }> {
  let content: Uint8Array;
  let from: SignatureSource = "file";
  if (value.startsWith("http://") || value.startsWith("https://")) {
    content = utf8(await readKeyRef(value, {}, "signature"));
    from = "url";
  } else {
    try {
      content = await Deno.readFile(value);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw fileError(e, value, "signature");
      content = utf8(value); // not a file: the flag holds the signature itself
      from = "literal";
    }
  }
  const sig = decodeSignature(content);
  if (sig.length === 0) {
    throw new CosignError(
      "SIGNATURE_INVALID_ENCODING",
      `Cannot read signature ${value}: it is empty`,
    );
  }
  return { sig, from };
}

/** Names the signature in an encoding error: a file, a URL, or a value that was neither. */
function signatureEncodingError(value: string, from: SignatureSource, e: CosignError): CosignError {
  const reason = e.message.replace(/^Invalid signature: /, "");
  const msg = from === "literal"
    ? `Invalid signature "${value}": no such file, and not a base64 signature (${reason})`
    : `Invalid signature in ${value}: ${reason}`;
  return new CosignError("SIGNATURE_INVALID_ENCODING", msg);
}

/** `cosign verify-blob`. */
export const verifyBlobCommand: Command = {
  spec: {
    name: "verify-blob",
    summary: "Verifies a file's signature with a public key; prints Verified OK.",
    usage: "--key KEYREF --signature FILE|BASE64 [--insecure-ignore-tlog] FILE|-",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "public key or certificate reference" },
      signature: {
        type: "string",
        value: "FILE|URL|BASE64",
        description: "the signature: a file, a URL, or the base64 text itself",
      },
      "signature-digest-algorithm": {
        type: "string",
        value: "ALG",
        description: "message hash: sha224, sha256, sha384 or sha512 (default: the key's own)",
      },
      offline: { type: "boolean", default: false, description: "make no network requests" },
      bundle: {
        type: "string",
        value: "FILE",
        description:
          "a cosign bundle or a Sigstore bundle (v0.1-v0.3) holding signature and log proof",
      },
      "new-bundle-format": {
        type: "boolean",
        default: false,
        description: "the bundle is a Sigstore bundle (detected either way)",
      },
      "trusted-root": {
        type: "string",
        value: "FILE",
        description: "trusted_root.json with the transparency-log keys for --bundle (no network)",
      },
      ...VERIFY_TLOG_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    if (!keyRef && str(flags, "bundle")) {
      // Say why this bundle needs a key (or, for certificate bundles, what is missing).
      const { checkVerificationMaterial, parseBundle } = await import("../cosign/bundle.ts");
      checkVerificationMaterial(
        parseBundle(await readFileBytes(str(flags, "bundle")!, "bundle")),
        false,
      );
    }
    if (!keyRef) {
      throw new CosignError(
        "USAGE",
        "verify-blob needs --key (certificate and bundle verification are not supported by this version yet)",
        { exitCode: 2 },
      );
    }
    const bundlePath = str(flags, "bundle");
    if (bundlePath) {
      if (str(flags, "signature")) throw new UsageError("--signature and --bundle are exclusive");
      await verifyBlobBundle(bundlePath, keyRef, positionals[0]!, flags);
      return;
    }
    const sigFlag = required(flags, "signature");
    const alg = str(flags, "signature-digest-algorithm");
    if (alg !== undefined && !HASHES.includes(alg as HashName)) {
      throw new CosignError(
        "USAGE",
        `Unsupported --signature-digest-algorithm "${alg}" (sha224, sha256, sha384 or sha512)`,
        { exitCode: 2 },
      );
    }
    requireIgnoreTlog(flags);
    await info(
      "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the blob.",
    );
    const verifier = await loadVerifier(keyRef, alg ? { hash: alg as HashName } : {});
    const { sig, from } = await readSignature(sigFlag);
    try {
      await verifyBlob(verifier, await openBlob(positionals[0]!), sig);
    } catch (e) {
      if (e instanceof CosignError && e.code === "SIGNATURE_INVALID_ENCODING") {
        throw signatureEncodingError(sigFlag, from, e);
      }
      throw e;
    }
    await info("Verified OK");
  },
};

/**
 * `verify-blob --bundle`: the signature and the transparency-log proof come from the bundle and
 * are checked offline against `--trusted-root`. The artifact is a file (hashed while streaming),
 * `-` for stdin, or `sha256:<hex>`.
 */
async function verifyBlobBundle(
  bundlePath: string,
  keyRef: string,
  artifactArg: string,
  flags: FlagValues,
): Promise<void> {
  const { parseBundle, verifyBundleWithKey } = await import("../cosign/bundle.ts");
  const bundle = parseBundle(await readFileBytes(bundlePath, "bundle"));
  const trustedRoot = await loadTrustedRoot(flags);
  const ignoreTlog = bool(flags, "insecure-ignore-tlog");
  if (!ignoreTlog && !trustedRoot) {
    throw new UsageError(
      "--bundle needs --trusted-root (or SIGSTORE_REKOR_PUBLIC_KEY) to check its transparency-log proof offline, or --insecure-ignore-tlog",
    );
  }
  if (ignoreTlog) {
    await info(
      "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the blob.",
    );
  }
  const verifier = await loadVerifier(keyRef);
  let artifact: { bytes: Uint8Array } | { digest: { alg: "sha256"; hex: string } };
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(artifactArg);
  if (m) artifact = { digest: { alg: "sha256", hex: m[1]!.toLowerCase() } };
  else if (verifier.algorithm === "ed25519") {
    artifact = { bytes: await readFileBytes(artifactArg, "blob") };
  } else {
    const h = createHash("sha256");
    for await (const c of await openBlob(artifactArg)) h.update(c);
    artifact = { digest: { alg: "sha256", hex: h.digest("hex") } };
  }
  const r = await verifyBundleWithKey(bundle, artifact, verifier, trustedRoot, { ignoreTlog });
  if (r.tlogVerifiedOffline) {
    await info("Existence of the claims in the transparency log was verified offline");
  }
  await info("Verified OK");
}
