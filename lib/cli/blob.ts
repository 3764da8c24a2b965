/**
 * Blob commands: `sign-blob` and `verify-blob` (cosign-spec §5). The blob is streamed from
 * its file (or stdin as `-`) and hashed once, in constant memory.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import {
  decodeSignature,
  fileChunks,
  signBlob,
  verifyBlob,
  verifyBlobDigest,
} from "../cosign/blob.ts";
import { digestPass, hashAlongside } from "../crypto/digest_pass.ts";
import {
  fileError,
  loadSigner,
  loadVerifier,
  readFileBytes,
  readKeyRef,
  readTextFile,
} from "../cosign/keyref.ts";
import type { BundleArtifact } from "../cosign/bundle.ts";
import { findAndVerifyEntry } from "../cosign/tlog_search.ts";
import { legacyBundleJson } from "../cosign/legacy_bundle.ts";
import { RekorClient, type RekorEntry } from "../tlog/rekor.ts";
import { openTransparencyLogs } from "./tlog_record.ts";
import { type HashName, KeySigner } from "../crypto/key_signer.ts";
import { toBase64, utf8 } from "../crypto/encoding.ts";
import { bool, type FlagValues, required, str } from "./args.ts";
import {
  CA_VERIFY_FLAGS,
  CERTIFICATE_VERIFY_FLAGS,
  certificatePolicyFromFlags,
  hasIdentityFlags,
} from "./certificate_flags.ts";
import {
  bundleOutput,
  type Command,
  NEW_BUNDLE_FORMAT_FLAG,
  SIGN_TLOG_FLAGS,
  VERIFY_TLOG_FLAGS,
} from "./command.ts";
import { commitFiles, discardFiles, info, type StagedFile, stageFile, stdout } from "./io.ts";
import { deadlineOption } from "./deadline_flag.ts";
import { readPassword } from "./password.ts";
import { providerOptions, TIMEOUT_FLAG } from "./registry_flags.ts";
import { loadTrustedRoot } from "./trust.ts";
import {
  KEYLESS_SIGN_FLAGS,
  keylessSignerFromFlags,
  signingServices,
  timestampsFor,
} from "./keyless.ts";

/**
 * The size from which a blob whose digest is also recorded (transparency log, bundle) is hashed
 * once and the signature made or checked over that digest. Below it, an ECDSA key file hashes
 * the blob twice in the same read (its own native hash and the record's): signing or verifying
 * a given digest with ECDSA goes through `@noble/curves`, whose import and first use cost about
 * 0.15 s here, what a second native SHA-256 pass costs over some 200 MiB. RSA keys, and KMS keys
 * (which sign digests anyway), always hash once.
 */
export const PREHASH_MIN_BYTES = 128 << 20;

/** A blob opened for streaming, with its size when it is a file. */
export interface OpenedBlob {
  chunks: AsyncIterable<Uint8Array>;
  size?: number;
}

/** Opens a blob for streaming: a file path, or `-` for stdin (size unknown). */
export async function openBlob(path: string): Promise<OpenedBlob> {
  if (path === "-") return { chunks: fileChunks(Deno.stdin) };
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) {
      throw new CosignError("FILE_READ", `Cannot read blob ${path}: it is a directory`);
    }
    return { chunks: fileChunks(await Deno.open(path)), size: st.size };
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
    usage:
      "(--key KEYREF | [--signing-config FILE | --use-signing-config=false --fulcio-url URL] [--identity-token JWT]) [--output-signature FILE] [--bundle FILE [--new-bundle-format]] [--tlog-upload=false] FILE|-",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      timeout: TIMEOUT_FLAG,
      "output-signature": {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "write the signature to FILE instead of stdout",
      },
      b64: { type: "boolean", default: true, description: "base64-encode the signature" },
      bundle: {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "write cosign's bundle (signature, key, transparency-log entry) here",
      },
      "new-bundle-format": NEW_BUNDLE_FORMAT_FLAG,
      yes: {
        type: "boolean",
        short: "y",
        default: false,
        description: "skip confirmation prompts for uploading to the transparency log",
      },
      ...SIGN_TLOG_FLAGS,
      ...KEYLESS_SIGN_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    const path = positionals[0]!;
    const { path: bundlePath, writer } = await bundleOutput(flags);
    const services = await signingServices(flags, {
      keyless: !keyRef,
      legacyOutput: bundlePath && !writer
        ? "the legacy bundle (--new-bundle-format=false)"
        : undefined,
    });
    // Without --key: keyless, an ephemeral key certified by Fulcio (checked before use).
    const keyless = keyRef ? undefined : await keylessSignerFromFlags(flags, services);
    const signer = keyless?.signer ?? await loadSigner(keyRef!, {
      password: () => readPassword({ confirm: false, stdinInUse: path === "-" }),
      ...providerOptions(flags),
    });
    await info(`Using payload from: ${path}`);
    // Hash the blob in the same pass as signing: the log entry needs its digest. A Sigstore
    // bundle records the digest the key signs (SHA-384 for P-384, as cosign v3); the legacy
    // bundle keeps SHA-256.
    const digestAlg = writer?.messageDigestAlgorithm(signer.algorithm) ?? "sha256";
    const { chunks: blob, size } = await openBlob(path);
    let sig: Uint8Array;
    let digest: Uint8Array;
    const noble = signer instanceof KeySigner && signer.algorithm.startsWith("ecdsa");
    if (
      signer.messageHash === digestAlg && (!noble || (size ?? 0) >= PREHASH_MIN_BYTES)
    ) {
      // One hash pass: the digest is signed and recorded.
      digest = (await digestPass(blob, [digestAlg], { purpose: "sign" })).digests.get(digestAlg)!;
      sig = await signer.signDigest(digest);
    } else {
      // A small blob for an ECDSA key file (see PREHASH_MIN_BYTES), or a key that signs
      // another hash (or the whole message, Ed25519) than the record holds: both hashes in
      // the same read.
      const record = hashAlongside(blob, [digestAlg]);
      sig = await signBlob(signer, record.chunks);
      digest = record.digests().get(digestAlg)!;
    }
    // Keyless: the log and the bundles record the certificate, not the bare key.
    const publicKeyPem = keyless?.certificate?.pem ?? await signer.publicKeyPem();
    const timestamps = await timestampsFor(services, sig, flags);
    await using logs = await openTransparencyLogs(flags, services.rekorLogs, {
      publicKeyPem,
      certificateDer: keyless?.certificateDer,
    }, { tuf: services.fromSigningConfig });
    // A v0.3 bundle needs each entry's inclusion proof; the legacy bundle holds a v1 entry.
    const entries = logs.active
      ? await logs.record(
        { type: "hashedrekord", digest: { algorithm: digestAlg, bytes: digest }, signature: sig },
        { proof: writer !== undefined },
      )
      : [];
    const b64 = bool(flags, "b64");
    const out = str(flags, "output-signature");
    // Build every output first, then write them all or none.
    const outputs: [string, string | Uint8Array][] = [];
    if (bundlePath) {
      outputs.push([
        bundlePath,
        writer
          ? writer.bundleV03Json({
            content: {
              type: "messageSignature",
              digest: { algorithm: digestAlg, bytes: digest },
              signature: sig,
            },
            verificationMaterial: keyless?.certificateDer
              ? { type: "certificate", der: keyless.certificateDer }
              : { type: "publicKey", publicKeyPem },
            tlogEntries: entries,
            rfc3161Timestamps: timestamps,
          })
          : legacyBundleJson(sig, publicKeyPem, entries[0] as RekorEntry | undefined),
      ]);
    }
    if (out) outputs.push([out, b64 ? toBase64(sig) : sig]);
    const staged: StagedFile[] = [];
    try {
      for (const [file, data] of outputs) staged.push(await stageFile(file, data, 0o644));
    } catch (e) {
      await discardFiles(staged);
      throw e;
    }
    await commitFiles(staged);
    if (bundlePath) await info(`Wrote bundle to file ${bundlePath}`);
    if (out) await info(`Wrote signature to file ${out}`);
    else if (!bundlePath) await stdout(b64 ? toBase64(sig) + "\n" : sig);
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
      timeout: TIMEOUT_FLAG,
      signature: {
        type: "string",
        value: "FILE|URL|BASE64",
        description: "the signature: a file, a URL, or the base64 text itself",
      },
      "signature-digest-algorithm": {
        type: "string",
        value: "ALG",
        description:
          "accept only this message hash: sha224, sha256, sha384 or sha512 (default: SHA-256 or the key's own)",
      },
      offline: { type: "boolean", default: false, description: "make no network requests" },
      bundle: {
        type: "string",
        value: "FILE",
        check: "file",
        description:
          "a cosign bundle or a Sigstore bundle (v0.1-v0.3) holding signature and log proof",
      },
      "new-bundle-format": {
        type: "boolean",
        default: false,
        description: "the bundle is a Sigstore bundle (detected either way)",
      },
      ...VERIFY_TLOG_FLAGS,
      ...CERTIFICATE_VERIFY_FLAGS,
      ...CA_VERIFY_FLAGS,
      certificate: {
        type: "string",
        value: "FILE",
        check: "file",
        description: "the signer's PEM certificate (keyless, without --bundle)",
      },
      "rfc3161-timestamp": {
        type: "string",
        value: "FILE",
        check: "file",
        description: "a DER RFC 3161 timestamp over the signature (keyless, without --bundle)",
      },
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    const keyless = hasIdentityFlags(flags);
    if (keyRef && keyless) {
      throw new UsageError(
        "--key and --certificate-identity/--certificate-oidc-issuer are exclusive",
      );
    }
    const bundlePath = str(flags, "bundle");
    if (bundlePath) {
      if (str(flags, "signature")) throw new UsageError("--signature and --bundle are exclusive");
      await verifyBlobBundle(bundlePath, keyRef, positionals[0]!, flags);
      return;
    }
    if (!keyRef && keyless && str(flags, "certificate")) {
      await verifyBlobCertificate(positionals[0]!, flags);
      return;
    }
    if (!keyRef) {
      throw new UsageError(
        "verify-blob needs --key, or --certificate-identity and --certificate-oidc-issuer with --bundle or --certificate",
      );
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
    // No bundle: the signature's entry is searched for in Rekor (--rekor-url) and verified
    // offline against the trusted root (lib/cli/tlog_online.ts), unless --insecure-ignore-tlog.
    const ignoreTlog = await onlineTlogMode(flags);
    // Without the flag a signature over SHA-256 (Go cosign's default, sigstore-python's for
    // P-384) or over the key's own hash (cosign v3's) verifies; with it, only that hash.
    const verifier = await loadVerifier(keyRef, {
      onWarning: info,
      ...providerOptions(flags),
      ...(alg ? { hash: alg as HashName } : { acceptSha256: true }),
    });
    const { sig, from } = await readSignature(sigFlag);
    const tlog = await import("./tlog_online.ts");
    const rekor = ignoreTlog
      ? undefined
      : new RekorClient(str(flags, "rekor-url"), deadlineOption(flags));
    await using _close = { [Symbol.asyncDispose]: () => Promise.resolve(rekor?.close()) };
    const trustedRoot = rekor ? await tlog.onlineTrustedRoot(flags, rekor) : undefined;
    // One read. Without the log, the verifier hashes the stream itself (one native pass).
    // With it (searched by the blob's SHA-256): the digests the signature may use and the
    // log's, each computed once, the signature checked over them; for a small blob and an ECDSA
    // key (see PREHASH_MIN_BYTES) or an RSASSA-PSS key, the verifier's pass beside the log's.
    // Ed25519 signs whole messages (kept in memory, which its log entries also need).
    const { chunks: blob, size } = await openBlob(positionals[0]!);
    const logHash = rekor ? ["sha256"] : [];
    const noble = verifier.algorithm.startsWith("ecdsa");
    let digests: ReadonlyMap<string, Uint8Array>;
    let bytes: Uint8Array | undefined;
    try {
      if (
        verifier.verifiesDigests && logHash.length > 0 &&
        (!noble || (size ?? 0) >= PREHASH_MIN_BYTES)
      ) {
        ({ digests } = await digestPass(blob, [...verifier.hashes!, ...logHash], {
          purpose: "verify",
        }));
        await verifyBlobDigest(verifier, digests, sig);
      } else if (verifier.algorithm === "ed25519") {
        ({ digests, bytes } = await digestPass(blob, logHash, { keepBytes: true }));
        await verifyBlob(verifier, bytes!, sig);
      } else {
        const log = hashAlongside(blob, logHash);
        await verifyBlob(verifier, log.chunks, sig);
        digests = log.digests();
      }
    } catch (e) {
      if (e instanceof CosignError && e.code === "SIGNATURE_INVALID_ENCODING") {
        throw signatureEncodingError(sigFlag, from, e);
      }
      throw e;
    }
    if (rekor) {
      const sha256Hex = digests.get("sha256")!.toHex();
      const found = await findAndVerifyEntry(rekor, trustedRoot!, {
        sha256Hex,
        signature: sig,
        signer: { key: verifier },
        artifact: bytes !== undefined ? { bytes } : { digest: { alg: "sha256", hex: sha256Hex } },
      });
      await info(`tlog entry verified with uuid: ${found.uuid} index: ${found.logIndex}`);
      await info("The claims were present in the transparency log");
    }
    await info("Verified OK");
  },
};

/**
 * Without a bundle the log must be searched online: returns true with `--insecure-ignore-tlog`
 * (after cosign's warning), and refuses `--offline`.
 */
async function onlineTlogMode(flags: FlagValues): Promise<boolean> {
  if (bool(flags, "insecure-ignore-tlog")) {
    await info(
      "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the blob.",
    );
    return true;
  }
  if (bool(flags, "offline")) {
    throw new CosignError(
      "TLOG_UNAVAILABLE",
      "offline verification failed: without --bundle the transparency log must be searched " +
        "online; pass --bundle FILE (sign-blob --bundle), or --insecure-ignore-tlog",
    );
  }
  return false;
}

/**
 * Keyless `verify-blob --certificate C [--certificate-chain F] --signature S`: the signature is
 * checked with the certificate's key and the certificate at the signing time: the integrated
 * time of the signature's entry, found in Rekor by the file's SHA-256, or the
 * `--rfc3161-timestamp`; with `--insecure-ignore-tlog` and no timestamp, now.
 */
async function verifyBlobCertificate(artifactArg: string, flags: FlagValues): Promise<void> {
  const [{ parseBundle, verifyBundle }, { parseCertificatePem }] = await Promise.all([
    import("../cosign/bundle.ts"),
    import("../x509/certificate.ts"),
  ]);
  const policy = await certificatePolicyFromFlags(flags);
  const certPath = str(flags, "certificate")!;
  // --certificate-chain (or --ca-roots) takes the place of the trusted root's CAs.
  const certificates = parseCertificatePem(await readTextFile(certPath, "certificate"), certPath)
    .slice(0, 1).map((c) => c.der);
  const { sig } = await readSignature(required(flags, "signature"));
  const tsPath = str(flags, "rfc3161-timestamp");
  const timestamps = tsPath ? [await readFileBytes(tsPath, "RFC 3161 timestamp")] : [];
  const ignoreTlog = await onlineTlogMode(flags);
  const { digests } = await digestPass((await openBlob(artifactArg)).chunks, ["sha256"], {
    purpose: "verify",
  });
  const sha256Hex = digests.get("sha256")!.toHex();
  const artifact: BundleArtifact = { digest: { alg: "sha256", hex: sha256Hex } };
  const signer = { certificate: policy };
  if (!ignoreTlog) {
    // The entry found in the log is verified together with the timestamps, as one bundle.
    const rekor = new RekorClient(str(flags, "rekor-url"), deadlineOption(flags));
    try {
      const tlog = await import("./tlog_online.ts");
      const trustedRoot = await tlog.onlineTrustedRoot(flags, rekor, {
        certificateAuthorities: true,
      });
      const found = await findAndVerifyEntry(rekor, trustedRoot, {
        sha256Hex,
        signature: sig,
        signer,
        certificates,
        timestamps,
        artifact,
      });
      await info(`tlog entry verified with uuid: ${found.uuid} index: ${found.logIndex}`);
      await info("The claims were present in the transparency log");
    } finally {
      rekor.close();
    }
  } else {
    const trustedRoot = await loadTrustedRoot(flags, { certificateAuthorities: true });
    if (!trustedRoot) {
      throw new UsageError(
        "verifying a certificate needs --trusted-root (or SIGSTORE_ROOT_FILE) with the Fulcio CAs",
      );
    }
    await verifyBundle(
      parseBundle({
        mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.2",
        verificationMaterial: {
          x509CertificateChain: {
            certificates: certificates.map((c) => ({ rawBytes: toBase64(c) })),
          },
          tlogEntries: [],
          timestampVerificationData: {
            rfc3161Timestamps: timestamps.map((t) => ({ signedTimestamp: toBase64(t) })),
          },
        },
        messageSignature: {
          messageDigest: { algorithm: "SHA2_256", digest: toBase64(Uint8Array.fromHex(sha256Hex)) },
          signature: toBase64(sig),
        },
      }),
      artifact,
      trustedRoot,
      signer,
      { ignoreTlog: true },
    );
  }
  await info("Verified OK");
}

/**
 * `verify-blob --bundle`: the signature and the transparency-log proof come from the bundle and
 * are checked offline against `--trusted-root`. The artifact is a file (hashed while streaming),
 * `-` for stdin, or `sha256:<hex>`.
 */
async function verifyBlobBundle(
  bundlePath: string,
  keyRef: string | undefined,
  artifactArg: string,
  flags: FlagValues,
): Promise<void> {
  const { parseBundle, verifyBundle } = await import("../cosign/bundle.ts");
  // Claims: the artifact digest is computed here from the file (or given as sha256:<hex>) and
  // compared with the bundle's messageDigest, whose signature verifyBundle checks; a DSSE
  // bundle's subjects come from its one envelope, the bytes whose signature is verified.
  const bundle = parseBundle(await readFileBytes(bundlePath, "bundle"));
  const ignoreTlog = bool(flags, "insecure-ignore-tlog");
  // With a key and the log skipped, trust material is used only when given (timestamps): TUF
  // is not consulted.
  const trustedRoot = await loadTrustedRoot(flags, {
    ...(keyRef !== undefined && ignoreTlog ? { tuf: false } : {}),
    certificateAuthorities: keyRef === undefined,
  });
  if (keyRef === undefined && bundle.verificationMaterial.type !== "certificate") {
    // A key-signed bundle needs --key: say so, whatever else was given.
    const { checkVerificationMaterial } = await import("../cosign/bundle.ts");
    checkVerificationMaterial(bundle, false);
  }
  const signer = keyRef !== undefined
    ? { key: await loadVerifier(keyRef, { onWarning: info, ...providerOptions(flags) }) }
    : { certificate: await certificatePolicyFromFlags(flags) };
  if (!trustedRoot && (!ignoreTlog || "certificate" in signer)) {
    throw new UsageError(
      "key" in signer
        ? "--bundle needs --trusted-root (or SIGSTORE_REKOR_PUBLIC_KEY) to check its transparency-log proof offline, or --insecure-ignore-tlog"
        : "verifying a certificate needs --trusted-root (or SIGSTORE_ROOT_FILE) with the Fulcio CAs, CT logs and transparency logs",
    );
  }
  if (ignoreTlog) {
    await info(
      "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the blob.",
    );
  }
  let artifact: BundleArtifact;
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(artifactArg);
  const needsBytes = "key" in signer && signer.key.algorithm === "ed25519";
  // The file is hashed (streaming) with the algorithm the bundle's message digest uses.
  const alg = bundle.content.type === "messageSignature"
    ? bundle.content.digest?.algorithm ?? "sha256"
    : "sha256";
  if (m && !(await isFile(artifactArg))) {
    artifact = { digest: { alg: "sha256", hex: m[1]!.toLowerCase() } };
  } else if (needsBytes) {
    artifact = { bytes: await readFileBytes(artifactArg, "blob") };
  } else {
    const { digests } = await digestPass((await openBlob(artifactArg)).chunks, [alg], {
      purpose: "verify",
    });
    artifact = { digest: { alg, hex: digests.get(alg)!.toHex() } };
  }
  const r = await verifyBundle(bundle, artifact, trustedRoot, signer, { ignoreTlog });
  for (const skipped of r.skippedTimestamps) await info(`WARNING: skipped ${skipped}`);
  if (r.tlogVerifiedOffline) {
    await info("Existence of the claims in the transparency log was verified offline");
  }
  await info("Verified OK");
}

/** True when `path` names an existing file (a file named like a digest wins, as in cosign). */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
