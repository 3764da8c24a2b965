/**
 * `cosign verify` for container images, with keys or keylessly.
 * @module
 */

import { CosignError, EXIT_IMAGE_NOT_FOUND, UsageError } from "../errors.ts";
import { deadlineOption } from "./deadline_flag.ts";
import type { HashName } from "../crypto/key_signer.ts";
import { getImage, verifyImage, type VerifyImageResult } from "../cosign/image_signatures.ts";
import { loadVerifier } from "../cosign/keyref.ts";
import { parseAnnotations } from "../cosign/payload.ts";
import { BUNDLE_ANNOTATION, maxAttachmentSize } from "../cosign/attachments.ts";
import { outputPayload } from "../cosign/verify_signatures.ts";
import { bundleOutputPayload } from "../cosign/image_bundles.ts";
import { parseReference, type Reference, referenceName } from "../oci/reference.ts";
import type { ImageStore } from "../oci/store.ts";
import { bool, type FlagValues, str } from "./args.ts";
import { type Command, PLATFORM_FLAG, VERIFY_TLOG_FLAGS } from "./command.ts";
import { imageForPlatform } from "../oci/platform.ts";
import { info, stdout, stdoutLine } from "./io.ts";
import { loadTrustedRoot } from "./trust.ts";
import {
  CA_VERIFY_FLAGS,
  CERTIFICATE_VERIFY_FLAGS,
  certificatePolicyFromFlags,
  hasIdentityFlags,
} from "./certificate_flags.ts";
import type { CertificateCheck } from "../cosign/bundle_certificate.ts";
import type { KeylessLayerOptions } from "../cosign/layer_bundle.ts";
import { RekorClient } from "../tlog/rekor.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { providerOptions, REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";
import { attachmentOptions } from "./sign.ts";

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
      await stdoutLine(v.layer.payload);
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
  const trustedRoot = await loadTrustedRoot(flags, { certificateAuthorities: true });
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
    ? new RekorClient(str(flags, "rekor-url"), deadlineOption(flags))
    : undefined;
  await using _close = { [Symbol.asyncDispose]: () => Promise.resolve(rekor?.close()) };
  const keyless = ctx.keyless && rekor ? { ...ctx.keyless, rekor } : ctx.keyless;
  const platform = str(flags, "platform");
  for (const [, named] of refs) {
    // With --platform, the index's image of that platform is verified, not the index.
    const ref = platform === undefined ? named : (await imageForPlatform(
      store,
      named,
      platform,
      await getImage(store, named, EXIT_IMAGE_NOT_FOUND),
    )).ref;
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
  "max-workers": {
    type: "string",
    default: "10",
    value: "N",
    check: "count",
    description: "parallel downloads",
  },
  "signature-digest-algorithm": {
    type: "string",
    value: "ALG",
    description: "message hash (default: the key's)",
  },
  offline: { type: "boolean", default: false, description: "make no transparency-log requests" },
  ...VERIFY_TLOG_FLAGS,
  ...CERTIFICATE_VERIFY_FLAGS,
  ...CA_VERIFY_FLAGS,
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
    flags: { ...VERIFY_FLAGS, ...PLATFORM_FLAG },
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
