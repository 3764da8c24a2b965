/**
 * Attestations: `attest`, `verify-attestation`, `attest-blob`, `verify-blob-attestation`
 * (cosign-spec §4). Statements are signed into DSSE envelopes; on images they are stored as
 * layers of the `sha256-<hex>.att` image.
 *
 * Transparency log (cosign-spec §6): `attest` and `attest-blob` upload each envelope to Rekor
 * (`--rekor-entry-type dsse`, the default since cosign v2.2.3, or `intoto` 0.0.2) unless
 * `--tlog-upload=false`; `attest` stores the entry as the layer's `dev.sigstore.cosign/bundle`
 * annotation, `attest-blob --bundle` in cosign's legacy bundle. `verify-attestation` and
 * `verify-blob-attestation` then require that entry and check it offline against
 * `--trusted-root` (or `SIGSTORE_REKOR_PUBLIC_KEY`), unless `--insecure-ignore-tlog`.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError, UsageError } from "../errors.ts";
import {
  appendAttachments,
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  DSSE_MEDIA_TYPE,
  maxAttachmentSize,
  RFC3161_ANNOTATION,
  SIGNATURE_ANNOTATION,
} from "../cosign/attachments.ts";
import { fileChunks } from "../cosign/blob.ts";
import type { Bundle } from "../cosign/bundle.ts";
import {
  CA_VERIFY_FLAGS,
  CERTIFICATE_VERIFY_FLAGS,
  certificatePolicyFromFlags,
  hasIdentityFlags,
  SIGNER_CERTIFICATE_FLAGS,
  signerCertificate,
} from "./certificate_flags.ts";
import { parseEnvelope, signEnvelope } from "../cosign/dsse.ts";
import { descriptorsToSign, getImage } from "../cosign/image_signatures.ts";
import { verifyImageAttestations } from "../cosign/image_attestations.ts";
import {
  buildStatement,
  checkStatement,
  hasSubjectDigest,
  predicateTypeFor,
} from "../cosign/intoto.ts";
import {
  KEYLESS_SIGN_FLAGS,
  keylessSignerFromFlags,
  signingServices,
  timestampsFor,
} from "./keyless.ts";
import { fileError, loadSigner, loadVerifier, readFileBytes } from "../cosign/keyref.ts";
import { attachmentRef, attachmentRepository } from "../cosign/tags.ts";
import { fromBase64, utf8 } from "../crypto/encoding.ts";
import { legacyBundleJson, rekorBundleJson } from "../cosign/legacy_bundle.ts";
import {
  ATTESTATION_ENTRY_TYPES,
  type AttestationEntryType,
  type RekorEntry,
} from "../tlog/rekor.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { parseReference, referenceName, repositoryName } from "../oci/reference.ts";
import { bool, type FlagValues, required, str } from "./args.ts";
import {
  bundleOutput,
  type Command,
  NEW_BUNDLE_FORMAT_FLAG,
  SIGN_TLOG_FLAGS,
  VERIFY_TLOG_FLAGS,
} from "./command.ts";
import { info, stdout, stdoutLine, writeFileAtomic } from "./io.ts";
import { readPassword } from "./password.ts";
import { providerOptions, REGISTRY_FLAGS, TIMEOUT_FLAG, withRegistry } from "./registry_flags.ts";
import {
  attachmentOptions,
  checkReferrersFlags,
  dockerMediaTypes,
  REFERRERS_FLAGS,
} from "./sign.ts";
import { checkVerifyFlags, VERIFY_FLAGS } from "./verify.ts";
import { verifyBlobAttestation } from "../cosign/blob_attestation.ts";
import { loadTrustedRoot } from "./trust.ts";
import { openTransparencyLogs } from "./tlog_record.ts";

const TYPE_FLAG = {
  type: "string",
  default: "custom",
  value: "TYPE",
  description:
    "custom, slsaprovenance, slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln, openvex or a URI",
} as const;

const REKOR_ENTRY_TYPE_FLAG = {
  type: "string",
  default: "dsse",
  value: "dsse|intoto",
  description: "the kind of transparency-log entry to upload",
} as const;

/** `--rekor-entry-type`, validated. */
function entryType(flags: FlagValues): AttestationEntryType {
  const v = str(flags, "rekor-entry-type") ?? "dsse";
  if (!(ATTESTATION_ENTRY_TYPES as readonly string[]).includes(v)) {
    throw new UsageError(`invalid --rekor-entry-type "${v}" (dsse or intoto)`);
  }
  return v as AttestationEntryType;
}

const TLOG_WARNING =
  "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the attestation.";

/** `cosign attest`. */
export const attestCommand: Command = {
  spec: {
    name: "attest",
    summary: "Signs an in-toto attestation for an image and stores it in the registry.",
    usage:
      "(--key KEYREF [--certificate FILE [--certificate-chain FILE]] | [--signing-config FILE | --use-signing-config=false --fulcio-url URL] [--identity-token JWT]) --predicate FILE [--type TYPE] [--replace] [--rekor-url URL] [--rekor-entry-type dsse|intoto] [--tlog-upload=false] IMAGE",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      predicate: {
        type: "string",
        value: "FILE",
        check: "file",
        description: "the predicate (- for stdin)",
      },
      type: TYPE_FLAG,
      replace: {
        type: "boolean",
        default: false,
        description: "replace attestations of the same predicate type",
      },
      recursive: {
        type: "boolean",
        short: "r",
        default: false,
        description: "also attest each image of an index",
      },
      "no-upload": {
        type: "boolean",
        default: false,
        description: "print the envelope instead of uploading it",
      },
      yes: {
        type: "boolean",
        short: "y",
        default: false,
        description: "skip confirmation prompts",
      },
      ...SIGNER_CERTIFICATE_FLAGS,
      ...SIGN_TLOG_FLAGS,
      "rekor-entry-type": REKOR_ENTRY_TYPE_FLAG,
      ...KEYLESS_SIGN_FLAGS,
      ...REFERRERS_FLAGS,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    const predicatePath = required(flags, "predicate");
    const newBundleFormat = checkReferrersFlags(flags);
    if (newBundleFormat && bool(flags, "replace")) {
      throw new UsageError(
        "--replace rewrites the sha256-<hex>.att image; with it pass --new-bundle-format=false (referrers are never rewritten)",
      );
    }
    const kind = entryType(flags);
    const type = str(flags, "type") ?? "custom";
    predicateTypeFor(type, { requireUri: true });
    const predicate = predicatePath === "-"
      ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
      : await readFileBytes(predicatePath, "predicate file");
    const ref = parseReference(positionals[0]!);
    // As `sign --upload=false`, `--no-upload` sends nothing anywhere, the log included.
    const services = await signingServices(flags, {
      keyless: !keyRef,
      upload: !bool(flags, "no-upload"),
      legacyOutput: newBundleFormat ? undefined : "the .att image (--new-bundle-format=false)",
    });
    // Without --key: keyless, an ephemeral key certified by Fulcio (checked before use).
    const keyless = keyRef ? undefined : await keylessSignerFromFlags(flags, services);
    const signer = keyless?.signer ?? await loadSigner(keyRef!, {
      password: () => readPassword({ confirm: false, stdinInUse: predicatePath === "-" }),
      ...providerOptions(flags),
    });
    const certificate = keyless?.certificate ??
      await signerCertificate(flags, await signer.publicKeyPem());
    // With a certificate, the log records the certificate (as cosign does), not the bare key.
    const publicKeyPem = certificate?.pem ?? await signer.publicKeyPem();
    const { decodePem } = await import("../crypto/pem.ts");
    const certificateDer = certificate
      ? decodePem(certificate.pem, "certificate").bytes
      : undefined;
    await using logs = await openTransparencyLogs(flags, services.rekorLogs, {
      publicKeyPem,
      certificateDer,
    }, { tuf: services.fromSigningConfig });
    await withRegistry(flags, async (client) => {
      const image = await getImage(client, ref);
      for (const subject of descriptorsToSign(image, bool(flags, "recursive"))) {
        const digest = subject.digest;
        const st = buildStatement(type, predicate, {
          name: repositoryName(ref),
          sha256: digest.slice(7),
        });
        const envelope = await signEnvelope(signer, st.bytes);
        if (bool(flags, "no-upload")) {
          await stdout(envelope);
          await stdout("\n");
          continue;
        }
        if (newBundleFormat) {
          const { cosignRepository } = attachmentOptions(flags);
          client.willPush(attachmentRepository(ref, cosignRepository));
          const entries = logs.active
            ? await logs.record({ type: kind, envelope }, { proof: true })
            : [];
          const { bundleV03Json } = await import("../cosign/bundle_writer.ts");
          const bundle = bundleV03Json({
            content: { type: "dsseEnvelope", envelope },
            verificationMaterial: certificateDer
              ? { type: "certificate", der: certificateDer }
              : { type: "publicKey", publicKeyPem },
            tlogEntries: entries,
            rfc3161Timestamps: await timestampsFor(services, envelopeSignature(envelope), flags),
          });
          const { storeImageBundle } = await import("../cosign/image_bundles.ts");
          await storeImageBundle(client, ref, subject, bundle, st.predicateType, {
            ...(cosignRepository ? { cosignRepository } : {}),
          });
          await info(
            `Pushing attestation to: ${
              repositoryName(attachmentRepository(ref, cosignRepository))
            }`,
          );
          continue;
        }
        const attRef = attachmentRef(ref, digest, "att", attachmentOptions(flags));
        client.willPush(attRef);
        const annotations: Record<string, string> = {
          [SIGNATURE_ANNOTATION]: "",
          predicateType: st.predicateType,
        };
        if (certificate) {
          annotations[CERTIFICATE_ANNOTATION] = certificate.pem;
          annotations[CHAIN_ANNOTATION] = certificate.chainPem;
        }
        if (logs.active) {
          const [entry] = await logs.recordV1({ type: kind, envelope });
          if (entry) annotations[BUNDLE_ANNOTATION] = rekorBundleJson(entry);
        }
        // cosign's legacy attestation layer timestamps the whole envelope (its signature
        // annotation is empty), in the same annotation as a `.sig` layer.
        const [stamp] = await timestampsFor(services, envelope);
        if (stamp) {
          annotations[RFC3161_ANNOTATION] = JSON.stringify({
            SignedRFC3161Timestamp: stamp.toBase64(),
          });
        }
        await appendAttachments(client, attRef, [{
          payload: envelope,
          mediaType: DSSE_MEDIA_TYPE,
          annotations,
        }], {
          dockerMediaTypes: dockerMediaTypes(),
          ...(bool(flags, "replace")
            ? { replace: (l) => l.annotations?.predicateType === st.predicateType }
            : {}),
        });
        await info(`Pushing attestation to: ${repositoryName(attRef)}`);
      }
    });
  },
};

/** The raw signature bytes of a one-signature DSSE envelope (what a TSA timestamps). */
function envelopeSignature(envelope: Uint8Array): Uint8Array {
  const env = JSON.parse(new TextDecoder().decode(envelope)) as { signatures: { sig: string }[] };
  return Uint8Array.fromBase64(env.signatures[0]!.sig);
}

/** `cosign verify-attestation`. */
export const verifyAttestationCommand: Command = {
  spec: {
    name: "verify-attestation",
    summary:
      "Verifies an image's attestations with a public key or keylessly; prints the matching envelopes.",
    usage:
      "(--key KEYREF | --certificate-identity ID --certificate-oidc-issuer URL) [--type TYPE] (--trusted-root FILE | --insecure-ignore-tlog) IMAGE",
    args: [1, Infinity],
    flags: { ...VERIFY_FLAGS, type: TYPE_FLAG },
  },
  async run({ flags, positionals }) {
    const { keyRef, trustedRoot, keyless } = await checkVerifyFlags(flags, { keyless: true });
    const wanted = predicateTypeFor(str(flags, "type") ?? "custom");
    const verifier = keyless
      ? undefined
      : await loadVerifier(keyRef, { onWarning: info, ...providerOptions(flags) });
    const checkClaims = bool(flags, "check-claims");
    await withRegistry(flags, async (client) => {
      for (const text of positionals) {
        const ref = parseReference(text);
        const r = await verifyImageAttestations(client, ref, verifier, {
          predicateType: wanted,
          checkClaims,
          maxLayerBytes: maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")),
          ...attachmentOptions(flags),
          // With a key, no trusted root means --insecure-ignore-tlog (checkVerifyFlags).
          ...(trustedRoot ? { trustedRoot } : { ignoreTlog: true }),
          ...(keyless ? { keyless } : {}),
        });
        for (const t of r.otherTypes) {
          await info(`Skipped a verified attestation of another type: ${t} (wanted ${wanted})`);
        }
        const lines = [
          "",
          `Verification for ${referenceName(ref)} --`,
          "The following checks were performed on each of these signatures:",
        ];
        if (checkClaims) lines.push("  - The cosign claims were validated");
        if (r.tlogVerified) {
          lines.push("  - Existence of the claims in the transparency log was verified offline");
        }
        lines.push(
          keyless
            ? "  - The code-signing certificate was verified using trusted certificate authority certificates"
            : "  - The signatures were verified against the specified public key",
        );
        await info(lines.join("\n"));
        if (r.skipped.length) {
          await info(
            `(${r.skipped.length} other attestation(s) did not verify: ${
              r.skipped.map((s) => s.reason).join("; ")
            })`,
          );
        }
        for (const m of r.verified) await stdoutLine(m.envelope);
      }
    });
  },
};

/** `cosign attest-blob`. */
export const attestBlobCommand: Command = {
  spec: {
    name: "attest-blob",
    summary: "Signs an in-toto attestation for a file; writes the DSSE envelope.",
    usage:
      "(--key KEYREF | [--signing-config FILE | --use-signing-config=false --fulcio-url URL] [--identity-token JWT]) (--predicate FILE [--type TYPE] | --statement FILE) [--output-signature F] [--bundle F [--new-bundle-format]] [--rekor-url URL] [--tlog-upload=false] FILE",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      timeout: TIMEOUT_FLAG,
      predicate: { type: "string", value: "FILE", check: "file", description: "the predicate" },
      statement: {
        type: "string",
        value: "FILE",
        check: "file",
        description:
          "a whole in-toto statement to sign as given (instead of --predicate and --type)",
      },
      type: TYPE_FLAG,
      hash: {
        type: "string",
        value: "HEX",
        description: "the file's sha256 instead of reading it",
      },
      "output-signature": {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "write the envelope here (default stdout)",
      },
      "output-attestation": {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "write the statement here",
      },
      bundle: {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "write cosign's bundle (envelope, key, transparency-log entry) here",
      },
      "new-bundle-format": NEW_BUNDLE_FORMAT_FLAG,
      yes: {
        type: "boolean",
        short: "y",
        default: false,
        description: "skip confirmation prompts",
      },
      ...SIGN_TLOG_FLAGS,
      "rekor-entry-type": REKOR_ENTRY_TYPE_FLAG,
      ...KEYLESS_SIGN_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    const predicatePath = str(flags, "predicate");
    const statementPath = str(flags, "statement");
    if ((predicatePath === undefined) === (statementPath === undefined)) {
      throw new UsageError("one of --predicate or --statement must be set");
    }
    const kind = entryType(flags);
    const { path: bundlePath, writer } = await bundleOutput(flags);
    const type = str(flags, "type") ?? "custom";
    const path = positionals[0]!;
    let hex = str(flags, "hash");
    if (hex !== undefined && !/^[0-9a-f]{64}$/.test(hex)) {
      throw new UsageError(`invalid --hash "${hex}" (64 hex digits)`);
    }
    let st: { bytes: Uint8Array };
    if (statementPath !== undefined) {
      // The statement is signed byte for byte as given (cosign's --statement).
      await info(`Using statement from: ${statementPath}`);
      const bytes = await readFileBytes(statementPath, "statement file");
      const parsed = checkStatement(bytes, `--statement ${statementPath}`);
      if (!hex && await isFile(path)) hex = await sha256File(path);
      if (hex && !hasSubjectDigest(parsed, "sha256", hex)) {
        await info(
          `WARNING: no subject of the statement has the sha256 digest of ${path} (${hex}); ` +
            "verify-blob-attestation of that file will fail",
        );
      }
      st = { bytes };
    } else {
      const predicate = await readFileBytes(predicatePath!, "predicate file");
      if (!hex) hex = await sha256File(path);
      st = buildStatement(type, predicate, {
        name: path.slice(path.lastIndexOf("/") + 1),
        sha256: hex,
      });
    }
    const services = await signingServices(flags, {
      keyless: !keyRef,
      legacyOutput: bundlePath && !writer
        ? "the legacy bundle (--new-bundle-format=false)"
        : undefined,
    });
    // Without --key: keyless, an ephemeral key certified by Fulcio (checked before use).
    const keyless = keyRef ? undefined : await keylessSignerFromFlags(flags, services);
    const signer = keyless?.signer ??
      await loadSigner(keyRef!, {
        password: () => readPassword({ confirm: false }),
        ...providerOptions(flags),
      });
    const envelope = await signEnvelope(signer, st.bytes);
    const publicKeyPem = keyless?.certificate?.pem ?? await signer.publicKeyPem();
    const timestamps = await timestampsFor(services, envelopeSignature(envelope), flags);
    await using logs = await openTransparencyLogs(flags, services.rekorLogs, {
      publicKeyPem,
      certificateDer: keyless?.certificateDer,
    }, { tuf: services.fromSigningConfig });
    // A v0.3 bundle needs each entry's inclusion proof; the legacy bundle holds a v1 entry.
    const entries = logs.active
      ? await logs.record({ type: kind, envelope }, { proof: writer !== undefined })
      : [];
    if (bundlePath) {
      // The legacy bundle's base64Signature holds the whole envelope (cosign-spec §4.5).
      const text = writer
        ? writer.bundleV03Json({
          content: { type: "dsseEnvelope", envelope },
          verificationMaterial: keyless?.certificateDer
            ? { type: "certificate", der: keyless.certificateDer }
            : { type: "publicKey", publicKeyPem },
          tlogEntries: entries,
          rfc3161Timestamps: timestamps,
        })
        : legacyBundleJson(envelope, publicKeyPem, entries[0] as RekorEntry | undefined);
      await writeFileAtomic(bundlePath, text, 0o644);
      await info(`Wrote bundle to file ${bundlePath}`);
    }
    const out = str(flags, "output-signature");
    const att = str(flags, "output-attestation");
    if (att) await writeFileAtomic(att, st.bytes, 0o644);
    if (out) {
      await writeFileAtomic(out, envelope, 0o644);
      await info(`Wrote attestation to file ${out}`);
    } else {
      await stdoutLine(envelope);
    }
  },
};

/** True when `path` is an existing regular file. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function sha256File(path: string, max?: number): Promise<string> {
  let f: Deno.FsFile;
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) {
      throw new CosignError("FILE_READ", `Cannot read blob ${path}: it is a directory`);
    }
    if (max !== undefined && st.size > max) {
      throw new CosignError(
        "FILE_READ",
        `Cannot read blob ${path}: ${st.size} bytes, over the ${max}-byte limit (COSIGN_MAX_ATTACHMENT_SIZE)`,
      );
    }
    f = await Deno.open(path);
  } catch (e) {
    if (e instanceof CosignError) throw e;
    throw fileError(e, path, "blob");
  }
  const h = createHash("sha256");
  for await (const c of fileChunks(f)) h.update(c);
  return h.digest("hex");
}

/**
 * Reads `--signature` (an envelope, possibly base64-encoded) or `--bundle` (legacy or v0.3, parsed
 * strictly: one bundle holds one envelope, and no unknown or duplicated fields).
 */
async function envelopeFromFlags(
  flags: FlagValues,
): Promise<{ envelope: Uint8Array; bundle?: undefined } | { bundle: Bundle }> {
  const sigPath = str(flags, "signature");
  const bundlePath = str(flags, "bundle");
  if (!!sigPath === !!bundlePath) {
    throw new UsageError("pass exactly one of --signature and --bundle");
  }
  if (sigPath) {
    const raw = await readFileBytes(sigPath, "signature file");
    const text = new TextDecoder().decode(raw).trim();
    return { envelope: text.startsWith("{") ? utf8(text) : (fromBase64(text) ?? raw) };
  }
  const bytes = await readFileBytes(bundlePath!, "bundle");
  const { parseBundle } = await import("../cosign/bundle.ts");
  try {
    return { bundle: parseBundle(bytes, { content: "dsseEnvelope" }) };
  } catch (e) {
    if (e instanceof CosignError) {
      throw new CosignError(e.code, `Cannot read bundle ${bundlePath}: ${e.message}`);
    }
    throw e;
  }
}

const DIGEST_ALGS = ["sha256", "sha384", "sha512"];

/** `cosign verify-blob-attestation`. */
export const verifyBlobAttestationCommand: Command = {
  spec: {
    name: "verify-blob-attestation",
    summary: "Verifies a file's attestation with a public key or keylessly; prints Verified OK.",
    usage:
      "(--key KEYREF | --certificate-identity ID --certificate-oidc-issuer URL) (--bundle F --trusted-root FILE | --signature F --insecure-ignore-tlog) [--type TYPE] [--digest HEX --digestAlg sha256] [FILE]",
    args: [0, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "public key or certificate reference" },
      timeout: TIMEOUT_FLAG,
      signature: {
        type: "string",
        value: "FILE",
        check: "file",
        description: "the DSSE envelope (JSON or base64)",
      },
      bundle: {
        type: "string",
        value: "FILE",
        check: "file",
        description: "a cosign bundle or a Sigstore v0.3 bundle",
      },
      type: TYPE_FLAG,
      "check-claims": {
        type: "boolean",
        default: true,
        description: "check that a subject names the file",
      },
      digest: {
        type: "string",
        value: "HEX",
        description: "the file's digest instead of the file",
      },
      digestAlg: {
        type: "string",
        default: "sha256",
        value: "ALG",
        description: "sha256, sha384 or sha512",
      },
      "new-bundle-format": {
        type: "boolean",
        default: false,
        description: "the bundle is a Sigstore bundle",
      },
      offline: {
        type: "boolean",
        default: false,
        description:
          "make no network requests: trust material only from --trusted-root or SIGSTORE_* files, never TUF",
      },
      ...VERIFY_TLOG_FLAGS,
      ...CERTIFICATE_VERIFY_FLAGS,
      ...CA_VERIFY_FLAGS,
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
    if (!keyRef && !keyless) {
      throw new UsageError(
        "--key, or --bundle with --certificate-identity and --certificate-oidc-issuer, is required",
      );
    }
    const policy = keyless ? await certificatePolicyFromFlags(flags) : undefined;
    const alg = str(flags, "digestAlg") ?? "sha256";
    if (!DIGEST_ALGS.includes(alg)) {
      throw new UsageError(`invalid --digestAlg "${alg}" (sha256, sha384 or sha512)`);
    }
    predicateTypeFor(str(flags, "type") ?? "custom"); // an unknown --type fails first
    const trustedRoot = policy
      ? await keylessBlobAttestationTrust(flags)
      : await blobAttestationTrust(flags);
    const input = await envelopeFromFlags(flags);
    const checkClaims = bool(flags, "check-claims");
    let claims: { alg: string; hex: string } | undefined;
    if (checkClaims) {
      const given = str(flags, "digest");
      const path = positionals[0];
      if (given) claims = { alg, hex: given.toLowerCase() };
      else if (path) {
        claims = {
          alg: "sha256",
          hex: await sha256File(
            path,
            maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")),
          ),
        };
      } else throw new UsageError("pass the file, or --digest, to check the attestation's subject");
    }
    const attestation = input.bundle === undefined
      ? { envelope: parseEnvelope(input.envelope) }
      : { bundle: input.bundle };
    const { tlogVerified, verification } = await verifyBlobAttestation(
      attestation,
      policy ? { certificate: policy } : {
        key: await loadVerifier(keyRef!, { onWarning: info, ...providerOptions(flags) }),
      },
      {
        type: str(flags, "type") ?? "custom",
        ...(claims ? { subject: claims } : {}),
        ...(trustedRoot ? { trustedRoot } : {}),
        ignoreTlog: policy ? bool(flags, "insecure-ignore-tlog") : trustedRoot === undefined,
      },
    );
    for (const skipped of verification?.skippedTimestamps ?? []) {
      await info(`WARNING: skipped ${skipped}`);
    }
    if (tlogVerified) {
      await info("Existence of the claims in the transparency log was verified offline");
    }
    await info("Verified OK");
  },
};

/**
 * The trust material of a keyless verify-blob-attestation: the bundle's certificate needs the
 * Fulcio CAs (and, unless `--insecure-ignore-tlog`, its log entry the Rekor keys).
 */
async function keylessBlobAttestationTrust(flags: FlagValues): Promise<TrustedRoot> {
  if (!str(flags, "bundle")) {
    throw new UsageError("keyless verification needs --bundle (the certificate is in it)");
  }
  if (bool(flags, "insecure-ignore-tlog")) await info(TLOG_WARNING);
  const root = await loadTrustedRoot(flags, { certificateAuthorities: true });
  if (!root || root.certificateAuthorities.length === 0) {
    throw new UsageError(
      "keyless verification needs --trusted-root (or SIGSTORE_ROOT_FILE) with the Fulcio certificate authorities",
    );
  }
  return root;
}

/**
 * The trust material verify-blob-attestation checks the bundle's log entry against; undefined
 * with `--insecure-ignore-tlog` (after cosign's warning).
 * @throws {CosignError} `TLOG_MISSING` without `--bundle` (only a bundle carries the entry),
 *   `TRUSTED_ROOT_MISSING` without `--trusted-root` or `SIGSTORE_REKOR_PUBLIC_KEY`
 */
async function blobAttestationTrust(flags: FlagValues): Promise<TrustedRoot | undefined> {
  if (bool(flags, "insecure-ignore-tlog")) {
    await info(TLOG_WARNING);
    return undefined;
  }
  if (!str(flags, "bundle")) {
    throw new CosignError(
      "TLOG_MISSING",
      "Checking the transparency log needs --bundle FILE (attest-blob --bundle writes the " +
        "envelope with its log entry); or pass --insecure-ignore-tlog to verify --signature alone",
    );
  }
  const root = await loadTrustedRoot(flags);
  if (!root) {
    throw new CosignError(
      "TRUSTED_ROOT_MISSING",
      "Checking the transparency log needs --trusted-root (or SIGSTORE_REKOR_PUBLIC_KEY) to " +
        "verify the bundle's log entry offline; or pass --insecure-ignore-tlog",
    );
  }
  return root;
}
