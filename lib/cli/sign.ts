/**
 * `cosign sign` and `cosign verify` for container images with keys.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import type { HashName } from "../crypto/key_signer.ts";
import {
  type AttachmentOptions,
  signImage,
  verifyImage,
  type VerifyImageResult,
} from "../cosign/image_signatures.ts";
import { loadSigner, loadVerifier } from "../cosign/keyref.ts";
import {
  KEYLESS_SIGN_FLAGS,
  keylessSignerFromFlags,
  signingServices,
  timestampsFor,
} from "./keyless.ts";
import { parseAnnotations } from "../cosign/payload.ts";
import { BUNDLE_ANNOTATION, maxAttachmentSize } from "../cosign/attachments.ts";
import { attachmentRef, attachmentRepository } from "../cosign/tags.ts";
import { outputPayload } from "../cosign/verify_signatures.ts";
import { bundleOutputPayload } from "../cosign/image_bundles.ts";
import { parseReference, type Reference, referenceName, repositoryName } from "../oci/reference.ts";
import type { ImageStore } from "../oci/store.ts";
import { bool, type FlagValues, parseBool, str } from "./args.ts";
import { type Command, SIGN_TLOG_FLAGS, VERIFY_TLOG_FLAGS } from "./command.ts";
import { info, stdout, writeFileAtomic } from "./io.ts";
import { readPassword } from "./password.ts";
import { loadTrustedRoot } from "./trust.ts";
import {
  CERTIFICATE_VERIFY_FLAGS,
  certificatePolicyFromFlags,
  hasIdentityFlags,
  SIGNER_CERTIFICATE_FLAGS,
  signerCertificate,
} from "./certificate_flags.ts";
import type { CertificateCheck } from "../cosign/bundle_certificate.ts";
import type { KeylessLayerOptions } from "../cosign/layer_bundle.ts";
import { rekorBundleJson } from "../cosign/legacy_bundle.ts";
import { decodePem } from "../crypto/pem.ts";
import { RekorClient } from "../tlog/rekor.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { openTransparencyLogs, sha256Digest } from "./tlog_record.ts";
import { providerOptions, REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";

/** `COSIGN_REPOSITORY` and `--attachment-tag-prefix`. */
export function attachmentOptions(flags: FlagValues): AttachmentOptions {
  const repo = Deno.env.get("COSIGN_REPOSITORY");
  const prefix = str(flags, "attachment-tag-prefix");
  return { ...(repo ? { cosignRepository: repo } : {}), ...(prefix ? { tagPrefix: prefix } : {}) };
}

/** `COSIGN_DOCKER_MEDIA_TYPES` as Go's ParseBool reads it (unset or invalid: false). */
export function dockerMediaTypes(): boolean {
  const v = Deno.env.get("COSIGN_DOCKER_MEDIA_TYPES");
  if (!v) return false;
  try {
    return parseBool(v, "COSIGN_DOCKER_MEDIA_TYPES");
  } catch {
    return false;
  }
}

const TAG_WARNING = (ref: string) =>
  `WARNING: Image reference ${ref} uses a tag, not a digest, to identify the image to sign.
    This can lead you to sign a different image than the intended one. Please use a
    digest (example.com/ubuntu@sha256:abc123...) rather than tag
    (example.com/ubuntu:latest) for the input to cosign. The ability to refer to
    images by tag will be removed in a future release.
`;

const ATTACHMENT_FLAGS = {
  "attachment-tag-prefix": {
    type: "string",
    default: "",
    value: "PREFIX",
    description: "prefix of the sha256-<hex>.sig tags",
  },
} as const;

/** `--new-bundle-format` and `--registry-referrers-mode` of `sign` and `attest`. */
export const REFERRERS_FLAGS = {
  "new-bundle-format": {
    type: "boolean",
    default: true,
    description:
      "store a Sigstore bundle as an OCI 1.1 referrer (cosign v3); false: the sha256-<hex>.sig/.att tag",
  },
  "registry-referrers-mode": {
    type: "string",
    default: "",
    value: "legacy|oci-1-1",
    description: "how referrers are stored: oci-1-1 (the referrers API, else the fallback tag)",
  },
} as const;

/**
 * Reads `--new-bundle-format` and `--registry-referrers-mode`; returns whether to write the v3
 * format. `oci-1-1` with the legacy format is cosign's experimental mode, which is not supported.
 * @throws {UsageError} an unknown mode, or `oci-1-1` with `--new-bundle-format=false`
 */
export function checkReferrersFlags(flags: FlagValues): boolean {
  const mode = str(flags, "registry-referrers-mode") ?? "";
  if (mode !== "" && mode !== "legacy" && mode !== "oci-1-1") {
    throw new UsageError(`invalid --registry-referrers-mode "${mode}" (legacy or oci-1-1)`);
  }
  const v3 = bool(flags, "new-bundle-format");
  if (mode === "oci-1-1" && !v3) {
    throw new UsageError(
      "--registry-referrers-mode=oci-1-1 with --new-bundle-format=false (cosign's experimental OCI 1.1 signature images) is not supported; the default --new-bundle-format already stores signatures as OCI 1.1 referrers",
    );
  }
  return v3;
}

/** `cosign sign`. */
export const signCommand: Command = {
  spec: {
    name: "sign",
    summary: "Signs container images and stores the signatures in the registry.",
    usage:
      "(--key KEYREF [--certificate FILE [--certificate-chain FILE]] | [--signing-config FILE | --use-signing-config=false --fulcio-url URL] [--identity-token JWT]) [-a key=value]... [--recursive] [--tlog-upload=false] IMAGE...",
    args: [1, Infinity],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      annotations: {
        type: "string",
        short: "a",
        multiple: true,
        value: "key=value",
        description: "payload annotation",
      },
      recursive: {
        type: "boolean",
        short: "r",
        default: false,
        description: "also sign each image of an index",
      },
      upload: { type: "boolean", default: true, description: "push the signature to the registry" },
      "output-signature": {
        type: "string",
        value: "FILE",
        description: "write the base64 signature here",
      },
      "output-payload": {
        type: "string",
        value: "FILE",
        description: "write the signed payload here",
      },
      yes: {
        type: "boolean",
        short: "y",
        default: false,
        description: "skip confirmation prompts",
      },
      ...SIGNER_CERTIFICATE_FLAGS,
      ...SIGN_TLOG_FLAGS,
      ...KEYLESS_SIGN_FLAGS,
      ...ATTACHMENT_FLAGS,
      ...REFERRERS_FLAGS,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    const newBundleFormat = checkReferrersFlags(flags);
    const refs = positionals.map((p) => [p, parseReference(p)] as const);
    const annotations = parseAnnotations(flags.annotations as string[] | undefined);
    const services = await signingServices(flags, {
      keyless: !keyRef,
      upload: bool(flags, "upload"),
      legacyOutput: newBundleFormat ? undefined : "the .sig image (--new-bundle-format=false)",
    });
    // Without --key: keyless, an ephemeral key certified by Fulcio (checked before use).
    const keyless = keyRef ? undefined : await keylessSignerFromFlags(flags, services);
    const signer = keyless?.signer ??
      await loadSigner(keyRef!, {
        password: () => readPassword({ confirm: false }),
        ...providerOptions(flags),
      });
    const certificate = keyless?.certificate ??
      await signerCertificate(flags, await signer.publicKeyPem());
    // With a certificate, the log records the certificate (as cosign does), not the bare key.
    const publicKeyPem = certificate?.pem ?? await signer.publicKeyPem();
    const certificateDer = keyless?.certificateDer ??
      (certificate ? decodePem(certificate.pem, "certificate").bytes : undefined);
    await using logs = await openTransparencyLogs(flags, services.rekorLogs, {
      publicKeyPem,
      certificateDer,
    }, { tuf: services.fromSigningConfig });
    const timestamps = services.tsaUrls.length > 0
      ? (signature: Uint8Array) => timestampsFor(services, signature)
      : undefined;
    // Each signature is recorded in the log (its answer checked); its entry becomes the layer's
    // bundle annotation.
    const tlog = logs.active
      ? async (payload: Uint8Array, signature: Uint8Array) => {
        const [entry] = await logs.recordV1({
          type: "hashedrekord",
          digest: sha256Digest(payload),
          signature,
        });
        return rekorBundleJson(entry!);
      }
      : undefined;
    // cosign v3: the envelope is recorded (a dsse entry in Rekor v1); the bundle carries each
    // entry with its proof.
    const bundleTlog = logs.active
      ? (envelope: Uint8Array) => logs.record({ type: "dsse", envelope }, { proof: true })
      : undefined;
    await withRegistry(flags, async (client) => {
      for (const [text, ref] of refs) {
        if (!ref.digest) await info(TAG_WARNING(text));
        if (bool(flags, "upload") && newBundleFormat) {
          client.willPush(attachmentRepository(ref, attachmentOptions(flags).cosignRepository));
        } else if (bool(flags, "upload")) {
          client.willPush(
            attachmentRef(ref, "sha256:" + "0".repeat(64), "sig", attachmentOptions(flags)),
          );
        }
        const signed = await signImage(client, ref, signer, {
          annotations,
          recursive: bool(flags, "recursive"),
          upload: bool(flags, "upload"),
          dockerMediaTypes: dockerMediaTypes(),
          verifier: signer.verifier(),
          ...(tlog ? { tlog } : {}),
          ...(timestamps ? { timestamps } : {}),
          ...(certificate ? { certificate } : {}),
          ...attachmentOptions(flags),
          ...(newBundleFormat
            ? {
              newBundleFormat,
              publicKeyPem,
              ...(bundleTlog ? { bundleTlog } : {}),
            }
            : {}),
        });
        for (const s of signed) {
          if (s.signatureRef) await info(`Pushing signature to: ${repositoryName(s.signatureRef)}`);
        }
        const last = signed.at(-1)!;
        const sigOut = str(flags, "output-signature");
        if (sigOut) await writeFileAtomic(sigOut, last.signature.toBase64(), 0o644);
        const payloadOut = str(flags, "output-payload");
        if (payloadOut) await writeFileAtomic(payloadOut, last.payload, 0o644);
      }
    });
  },
};

/** Prints cosign's verification header (stderr) and the verified payloads (stdout). */
async function printVerification(
  name: string,
  r: VerifyImageResult,
  flags: FlagValues,
  tlogChecked: boolean,
): Promise<void> {
  const lines = [
    "",
    `Verification for ${name} --`,
    "The following checks were performed on each of these signatures:",
  ];
  if (bool(flags, "check-claims")) {
    if ((flags.annotations as string[] | undefined)?.length) {
      lines.push("  - The specified annotations were verified.");
    }
    lines.push("  - The cosign claims were validated");
  }
  if (tlogChecked) {
    // A signature with a bundle annotation was checked offline; one without was found online.
    const found = r.verified.map((v) => !!v.layer.annotations[BUNDLE_ANNOTATION]);
    if (found.includes(true) || r.bundles.length > 0) {
      lines.push("  - Existence of the claims in the transparency log was verified offline");
    }
    if (found.includes(false)) {
      lines.push("  - The claims were present in the transparency log");
      lines.push(
        "  - The signatures were integrated into the transparency log when the certificate was valid",
      );
    }
  }
  const keyless = r.verified.some((v) => v.certificate !== undefined) ||
    r.bundles.some((b) => b.verification.certificate !== undefined);
  if (!keyless) lines.push("  - The signatures were verified against the specified public key");
  else {
    lines.push(
      "  - The code-signing certificate was verified using trusted certificate authority certificates",
    );
  }
  await info(lines.join("\n"));
  if (r.skipped.length) {
    await info(
      `(${r.skipped.length} other signature${r.skipped.length > 1 ? "s" : ""} did not verify: ${
        r.skipped.map((s) => s.reason).join("; ")
      })`,
    );
  }
  // cosign v3 prints each verified bundle's statement re-shaped as a simple-signing payload.
  const v3 = r.bundles.map((b) => bundleOutputPayload(b, name, r.digest));
  if (str(flags, "output") === "text") {
    for (const v of r.verified) {
      if (v.certificate) await info(certificateText(v.certificate));
      await stdout(new Uint8Array([...v.layer.payload, 0x0a]));
    }
    for (const [i, b] of r.bundles.entries()) {
      const c = b.verification.certificate;
      if (c) await info(certificateText(c));
      await stdout(v3[i] + "\n");
    }
    return;
  }
  await stdout(
    `\n[${
      [
        ...r.verified.map((v) =>
          outputPayload(v.payload, v.certificate ? certificateClaims(v.certificate) : {})
        ),
        ...v3,
      ].join(",")
    }]\n`,
  );
}

/** cosign's `-o text` lines for a keyless signature's certificate. */
function certificateText(c: CertificateCheck): string {
  const e = c.extensions;
  const lines = [`Certificate subject: ${c.subject}`, `Certificate issuer URL: ${c.issuer}`];
  const gh: [string, string | undefined][] = [
    ["GitHub Workflow Trigger", e.githubWorkflowTrigger],
    ["GitHub Workflow SHA", e.githubWorkflowSha],
    ["GitHub Workflow Name", e.githubWorkflowName],
    ["GitHub Workflow Repository", e.githubWorkflowRepository],
    ["GitHub Workflow Ref", e.githubWorkflowRef],
  ];
  for (const [k, v] of gh) if (v) lines.push(`${k}: ${v}`);
  return lines.join("\n");
}

/** What cosign adds to `optional` for a keyless signature (`-o json`). */
function certificateClaims(c: CertificateCheck): Record<string, string> {
  const e = c.extensions;
  const out: Record<string, string> = { Subject: c.subject, Issuer: c.issuer };
  out["1.3.6.1.4.1.57264.1.1"] = c.issuer;
  const gh: [string, string, string | undefined][] = [
    ["githubWorkflowTrigger", "1.3.6.1.4.1.57264.1.2", e.githubWorkflowTrigger],
    ["githubWorkflowSha", "1.3.6.1.4.1.57264.1.3", e.githubWorkflowSha],
    ["githubWorkflowName", "1.3.6.1.4.1.57264.1.4", e.githubWorkflowName],
    ["githubWorkflowRepository", "1.3.6.1.4.1.57264.1.5", e.githubWorkflowRepository],
    ["githubWorkflowRef", "1.3.6.1.4.1.57264.1.6", e.githubWorkflowRef],
  ];
  for (const [name, oid, v] of gh) {
    if (v) {
      out[name] = v;
      out[oid] = v;
    }
  }
  return out;
}

/** What a verify command verifies with: the key, and (unless the log is skipped) trust material. */
export interface VerifyContext {
  /** The key reference; `""` for keyless verification. */
  keyRef: string;
  /** Logs to check each signature's bundle against; undefined with `--insecure-ignore-tlog`. */
  trustedRoot?: TrustedRoot;
  /** Keyless verification: the certificate policy and trust material. */
  keyless?: KeylessLayerOptions;
}

/** The context of a keyless verification: identity policy and trusted root (CAs and logs). */
async function keylessContext(flags: FlagValues): Promise<VerifyContext> {
  const policy = await certificatePolicyFromFlags(flags);
  const trustedRoot = await loadTrustedRoot(flags);
  if (!trustedRoot || trustedRoot.certificateAuthorities.length === 0) {
    throw new UsageError(
      "keyless verification needs --trusted-root (or SIGSTORE_ROOT_FILE) with the Fulcio certificate authorities",
    );
  }
  const ignoreTlog = bool(flags, "insecure-ignore-tlog");
  if (ignoreTlog) {
    await info(
      "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.",
    );
  }
  return { keyRef: "", keyless: { policy, trustedRoot, ignoreTlog } };
}

/** Verifies `refs` against `store`; shared by `verify` and `verify --local-image`. */
export async function verifyRefs(
  store: ImageStore,
  refs: [string, Reference][],
  flags: FlagValues,
  ctx: VerifyContext,
  displayName?: string,
): Promise<void> {
  const alg = str(flags, "signature-digest-algorithm");
  const verifier = ctx.keyless ? undefined : await loadVerifier(ctx.keyRef, {
    onWarning: info,
    ...providerOptions(flags),
    ...(alg ? { hash: alg as HashName } : {}),
  });
  // Signatures without a bundle annotation are looked up in the log, unless --offline.
  const logChecked = ctx.keyless ? !ctx.keyless.ignoreTlog : !!ctx.trustedRoot;
  const rekor = logChecked && !bool(flags, "offline")
    ? new RekorClient(str(flags, "rekor-url"))
    : undefined;
  await using _close = { [Symbol.asyncDispose]: () => Promise.resolve(rekor?.close()) };
  const keyless = ctx.keyless && rekor ? { ...ctx.keyless, rekor } : ctx.keyless;
  for (const [, ref] of refs) {
    const r = await verifyImage(store, ref, verifier, {
      annotations: parseAnnotations(flags.annotations as string[] | undefined),
      checkClaims: bool(flags, "check-claims"),
      concurrency: Number(str(flags, "max-workers") ?? 10) || 10,
      maxLayerBytes: maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")),
      ...(displayName ? {} : attachmentOptions(flags)),
      // With a key, no trusted root means --insecure-ignore-tlog (checkVerifyFlags).
      ...(ctx.trustedRoot ? { trustedRoot: ctx.trustedRoot } : { ignoreTlog: true }),
      ...(rekor ? { rekor } : {}),
      ...(keyless ? { keyless } : {}),
    });
    await printVerification(displayName ?? referenceName(ref), r, flags, logChecked);
  }
}

/** Flags of `verify` (and `verify-attestation` later). */
export const VERIFY_FLAGS = {
  key: { type: "string", value: "KEYREF", description: "public key or certificate reference" },
  annotations: {
    type: "string",
    short: "a",
    multiple: true,
    value: "key=value",
    description: "required payload annotation",
  },
  "check-claims": { type: "boolean", default: true, description: "check the payload's claims" },
  output: {
    type: "string",
    short: "o",
    default: "json",
    value: "json|text",
    description: "output format",
  },
  "local-image": {
    type: "boolean",
    default: false,
    description: "IMAGE is an OCI layout written by cosign save",
  },
  "max-workers": { type: "string", default: "10", value: "N", description: "parallel downloads" },
  "signature-digest-algorithm": {
    type: "string",
    value: "ALG",
    description: "message hash (default: the key's)",
  },
  offline: { type: "boolean", default: false, description: "make no transparency-log requests" },
  ...VERIFY_TLOG_FLAGS,
  ...CERTIFICATE_VERIFY_FLAGS,
  ...ATTACHMENT_FLAGS,
  ...REGISTRY_FLAGS,
} as const;

/**
 * Checks the flags every verify command shares. The transparency log is checked offline
 * against `--trusted-root` (or `SIGSTORE_REKOR_PUBLIC_KEY`); `--insecure-ignore-tlog` skips it
 * with cosign's warning. With `keyless`, identity flags may stand in for `--key`.
 */
export async function checkVerifyFlags(
  flags: FlagValues,
  options: { keyless?: boolean } = {},
): Promise<VerifyContext> {
  const keyRef = str(flags, "key");
  const out = str(flags, "output");
  if (out !== "json" && out !== "text") {
    throw new UsageError(`invalid --output "${out}" (json or text)`);
  }
  if (keyRef && hasIdentityFlags(flags)) {
    throw new UsageError(
      "--key and --certificate-identity/--certificate-oidc-issuer are exclusive",
    );
  }
  if (options.keyless && !keyRef) return await keylessContext(flags);
  if (!keyRef) {
    throw new UsageError(
      options.keyless
        ? "--key, or --certificate-identity and --certificate-oidc-issuer, is required"
        : "--key is required",
    );
  }
  if (bool(flags, "insecure-ignore-tlog")) {
    await info(
      "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.",
    );
    return { keyRef };
  }
  const trustedRoot = await loadTrustedRoot(flags);
  if (!trustedRoot) {
    throw new CosignError(
      "TLOG_UNAVAILABLE",
      "Checking the transparency log needs --trusted-root (or SIGSTORE_REKOR_PUBLIC_KEY) to verify " +
        "each signature's log entry offline, or pass --insecure-ignore-tlog",
    );
  }
  return { keyRef, trustedRoot };
}

/** `cosign verify`. */
export const verifyCommand: Command = {
  spec: {
    name: "verify",
    summary: "Verifies the signatures of container images with a public key or keylessly.",
    usage:
      "(--key KEYREF | --certificate-identity ID --certificate-oidc-issuer URL) [-a key=value]... [--trusted-root FILE] [--insecure-ignore-tlog] [-o json|text] IMAGE...",
    args: [1, Infinity],
    flags: VERIFY_FLAGS,
  },
  async run({ flags, positionals }) {
    const ctx = await checkVerifyFlags(flags, { keyless: true });
    if (bool(flags, "local-image")) {
      const { verifyLocalImages } = await import("./local_image.ts");
      await verifyLocalImages(positionals, flags, ctx);
      return;
    }
    const refs = positionals.map((p) => [p, parseReference(p)] as [string, Reference]);
    await withRegistry(flags, (client) => verifyRefs(client, refs, flags, ctx));
  },
};
