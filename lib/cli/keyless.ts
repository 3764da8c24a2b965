/**
 * The keyless side of the signing commands (cosign-spec §7, §15): without `--key`, `sign`,
 * `attest`, `sign-blob` and `attest-blob` get a certificate for an ephemeral key from Fulcio
 * (lib/cosign/keyless_sign.ts). Flags, service selection and the trust check of Fulcio's answer.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import type { KeySigner } from "../crypto/key_signer.ts";
import { bool, type FlagValues, str } from "./args.ts";
import { info } from "./io.ts";
import { loadTrustedRoot } from "./trust.ts";

/** Flags of keyless signing (cosign v3 names). */
export const KEYLESS_SIGN_FLAGS = {
  "fulcio-url": {
    type: "string",
    value: "URL",
    description: "address of Fulcio (with --use-signing-config=false)",
  },
  "timestamp-server-url": {
    type: "string",
    value: "URL",
    description: "RFC 3161 timestamp authority to timestamp the signature",
  },
  "identity-token": {
    type: "string",
    value: "JWT|FILE",
    description: "OIDC identity token for Fulcio, or a file holding it",
  },
  "oidc-issuer": {
    type: "string",
    default: "https://oauth2.sigstore.dev/auth",
    value: "URL",
    description: "OIDC provider for interactive login",
  },
  "oidc-client-id": {
    type: "string",
    default: "sigstore",
    value: "ID",
    description: "OIDC client ID for interactive login",
  },
  "oidc-disable-ambient-providers": {
    type: "boolean",
    default: false,
    description: "do not look for tokens in SIGSTORE_ID_TOKEN, GitHub Actions or the filesystem",
  },
  "use-signing-config": {
    type: "boolean",
    default: true,
    description:
      "pick Fulcio, Rekor and TSA from a signing config; false: --fulcio-url, --rekor-url, --timestamp-server-url",
  },
  "signing-config": {
    type: "string",
    value: "FILE",
    description: "signing_config.json (v0.2) naming Fulcio, Rekor and TSA",
  },
} as const;

/** The signer a signing command uses, and its certificate when it has one. */
export interface ResolvedSigner {
  /** The signer (a key, or the ephemeral keyless key). */
  readonly signer: KeySigner;
  /** The certificate (PEM) and chain (PEM) recorded with the signature. */
  readonly certificate?: { readonly pem: string; readonly chainPem: string } | undefined;
  /** The leaf certificate DER, for Sigstore bundles. */
  readonly certificateDer?: Uint8Array | undefined;
  /** The TSA to timestamp signatures with, when one is configured. */
  readonly timestampServerUrl?: string | undefined;
}

/**
 * The services keyless signing uses. cosign v3 reads them from a signing config by default;
 * until that parser lands, explicit URLs with `--use-signing-config=false` are required.
 * @throws {UsageError} with a message naming `--signing-config` and the explicit flags
 */
export function keylessServices(flags: FlagValues): { fulcioUrl: string; tsaUrl?: string } {
  const fulcioUrl = str(flags, "fulcio-url");
  const tsaUrl = str(flags, "timestamp-server-url");
  if (bool(flags, "use-signing-config")) {
    if (str(flags, "signing-config")) {
      throw new CosignError(
        "NOT_IMPLEMENTED",
        "--signing-config is not supported yet: pass --use-signing-config=false with --fulcio-url and --rekor-url",
      );
    }
    throw new UsageError(
      fulcioUrl || tsaUrl
        ? "--fulcio-url and --timestamp-server-url need --use-signing-config=false"
        : "keyless signing needs its services: pass --signing-config FILE, or --use-signing-config=false with --fulcio-url URL and --rekor-url URL (or sign with --key)",
    );
  }
  if (!fulcioUrl) {
    throw new UsageError(
      "keyless signing with --use-signing-config=false needs --fulcio-url (or sign with --key)",
    );
  }
  return { fulcioUrl, ...(tsaUrl ? { tsaUrl } : {}) };
}

/**
 * A keyless signer from the flags: the token (cosign's sources), Fulcio's certificate checked
 * against `--trusted-root` before it is used. Prints the identity certified.
 * @param interactive the interactive login, when one is available
 */
export async function keylessSignerFromFlags(
  flags: FlagValues,
  interactive?: () => Promise<string>,
): Promise<ResolvedSigner> {
  const { fulcioUrl, tsaUrl } = keylessServices(flags);
  const trustedRoot = await loadTrustedRoot(flags);
  if (!trustedRoot || trustedRoot.certificateAuthorities.length === 0) {
    throw new UsageError(
      "keyless signing needs --trusted-root FILE (or SIGSTORE_ROOT_FILE) with Fulcio's certificate authorities and CT logs, to check the certificate before signing",
    );
  }
  const { createKeylessSigner } = await import("../cosign/keyless_sign.ts");
  const signer = await createKeylessSigner({
    fulcioUrl,
    trustedRoot,
    token: {
      identityToken: str(flags, "identity-token"),
      disableAmbientProviders: bool(flags, "oidc-disable-ambient-providers"),
      ...(interactive ? { interactive } : {}),
    },
    backoffMs: (n) => 500 * 2 ** (n - 1),
    retries: 2,
  });
  await info(
    `Successfully verified SCT...\nCertificate issued for ${signer.check.subject} by ${signer.check.issuer}`,
  );
  return {
    signer,
    certificate: { pem: signer.certificate.pem, chainPem: signer.certificate.chainPem },
    certificateDer: signer.certificate.der,
    ...(tsaUrl ? { timestampServerUrl: tsaUrl } : {}),
  };
}
