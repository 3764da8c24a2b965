/**
 * `cosign sign` for container images, with keys or keylessly.
 * @module
 */

import { UsageError } from "../errors.ts";
import { type AttachmentOptions, getImage, signImage } from "../cosign/image_signatures.ts";
import { loadSigner } from "../cosign/keyref.ts";
import {
  KEYLESS_SIGN_FLAGS,
  keylessSignerFromFlags,
  signingServices,
  timestampsFor,
} from "./keyless.ts";
import { parseAnnotations } from "../cosign/payload.ts";
import { attachmentRef, attachmentRepository } from "../cosign/tags.ts";
import { parseReference, repositoryName } from "../oci/reference.ts";
import { bool, type FlagValues, parseBool, str } from "./args.ts";
import { type Command, PLATFORM_FLAG, SIGN_TLOG_FLAGS } from "./command.ts";
import { imageForPlatform, parsePlatform } from "../oci/platform.ts";
import { info, writeFileAtomic } from "./io.ts";
import { readPassword } from "./password.ts";
import { SIGNER_CERTIFICATE_FLAGS, signerCertificate } from "./certificate_flags.ts";
import { rekorBundleJson } from "../cosign/legacy_bundle.ts";
import { decodePem } from "../crypto/pem.ts";
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
      ...PLATFORM_FLAG,
      upload: { type: "boolean", default: true, description: "push the signature to the registry" },
      "output-signature": {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "write the base64 signature here",
      },
      "output-payload": {
        type: "string",
        value: "FILE",
        check: "out-file",
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
      ...REFERRERS_FLAGS,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    const newBundleFormat = checkReferrersFlags(flags);
    const platform = str(flags, "platform");
    if (platform !== undefined && bool(flags, "recursive")) {
      throw new UsageError("--platform and --recursive are exclusive: sign one platform or all");
    }
    if (platform !== undefined) parsePlatform(platform);
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
      ? (signature: Uint8Array) => timestampsFor(services, signature, flags)
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
      for (const [text, named] of refs) {
        if (!named.digest) await info(TAG_WARNING(text));
        // With --platform, the index's image of that platform is signed, not the index.
        const ref = platform === undefined
          ? named
          : (await imageForPlatform(client, named, platform, await getImage(client, named))).ref;
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
