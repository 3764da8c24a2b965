/**
 * Keyless verification flags (cosign-spec §7.5): the expected certificate identity and OIDC
 * issuer, exact or by (unanchored) regular expression, the GitHub workflow claims, and
 * `--insecure-ignore-sct`.
 * @module
 */

import type { CertificatePolicy } from "../cosign/bundle_certificate.ts";
import type { IdentityPolicy } from "../x509/identity.ts";
import { bool, type FlagValues, str } from "./args.ts";
import { CosignError, UsageError } from "../errors.ts";
import { readFileBytes, readTextFile } from "../cosign/keyref.ts";

function flag(value: string, description: string) {
  return { type: "string", value, description } as const;
}

function fileFlag(description: string) {
  return { type: "string", value: "FILE", check: "file", description } as const;
}

/** The flags, shared by every verifying command that accepts keyless signatures. */
export const CERTIFICATE_VERIFY_FLAGS = {
  "certificate-identity": flag("ID", "the identity (SAN) the certificate must hold, exactly"),
  "certificate-identity-regexp": flag("RE", "a regular expression the SAN must match"),
  "certificate-oidc-issuer": flag("URL", "the OIDC issuer the certificate must record, exactly"),
  "certificate-oidc-issuer-regexp": flag("RE", "a regular expression the issuer must match"),
  "certificate-github-workflow-trigger": flag("EVENT", "the GitHub workflow trigger claim"),
  "certificate-github-workflow-sha": flag("SHA", "the GitHub workflow commit claim"),
  "certificate-github-workflow-name": flag("NAME", "the GitHub workflow name claim"),
  "certificate-github-workflow-repository": flag("REPO", "the GitHub workflow repository claim"),
  "certificate-github-workflow-ref": flag("REF", "the GitHub workflow ref claim"),
  "insecure-ignore-sct": {
    type: "boolean",
    default: false,
    description: "do not require an embedded SCT in the certificate",
  },
} as const;

/**
 * Certificate-authority flags of the verify commands (cosign's `CertVerifyOptions`): CAs that
 * replace the trusted root's Fulcio CAs, and a detached SCT.
 */
export const CA_VERIFY_FLAGS = {
  "ca-roots": fileFlag(
    "PEM root CA certificates to verify the signing certificate with, instead of the trusted root's Fulcio CAs",
  ),
  "ca-intermediates": fileFlag("PEM intermediate CA certificates (with --ca-roots)"),
  "certificate-chain": fileFlag(
    "PEM chain of the signing certificate, its issuer first and the root last, instead of the trusted root's Fulcio CAs",
  ),
  sct: fileFlag(
    "a detached SCT for the signing certificate (the JSON of an RFC 6962 add-chain response)",
  ),
} as const;

const IDENTITY_FLAGS = [
  "certificate-identity",
  "certificate-identity-regexp",
  "certificate-oidc-issuer",
  "certificate-oidc-issuer-regexp",
  "certificate-github-workflow-trigger",
  "certificate-github-workflow-sha",
  "certificate-github-workflow-name",
  "certificate-github-workflow-repository",
  "certificate-github-workflow-ref",
] as const;

/** True when any identity flag was given. */
export function hasIdentityFlags(flags: FlagValues): boolean {
  return IDENTITY_FLAGS.some((f) => str(flags, f) !== undefined);
}

/**
 * The certificate policy the flags describe, checked for completeness (identity and issuer are
 * both required, as in cosign) and for valid regular expressions.
 * @throws {UsageError} naming the missing or invalid flag
 */
export async function certificatePolicyFromFlags(flags: FlagValues): Promise<CertificatePolicy> {
  const { checkIdentityPolicy } = await import("../x509/identity.ts");
  const names: [keyof IdentityPolicy, string][] = [
    ["identity", "certificate-identity"],
    ["identityRegexp", "certificate-identity-regexp"],
    ["issuer", "certificate-oidc-issuer"],
    ["issuerRegexp", "certificate-oidc-issuer-regexp"],
    ["githubWorkflowTrigger", "certificate-github-workflow-trigger"],
    ["githubWorkflowSha", "certificate-github-workflow-sha"],
    ["githubWorkflowName", "certificate-github-workflow-name"],
    ["githubWorkflowRepository", "certificate-github-workflow-repository"],
    ["githubWorkflowRef", "certificate-github-workflow-ref"],
  ];
  const identity: IdentityPolicy = Object.fromEntries(
    names.flatMap(([k, f]) => {
      const v = str(flags, f);
      return v === undefined ? [] : [[k, v]];
    }),
  );
  try {
    checkIdentityPolicy(identity);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const sctPath = str(flags, "sct");
  if (sctPath !== undefined && bool(flags, "insecure-ignore-sct")) {
    throw new UsageError("--sct and --insecure-ignore-sct are exclusive");
  }
  return {
    identity,
    ignoreSct: bool(flags, "insecure-ignore-sct"),
    ...(sctPath !== undefined
      ? { detachedSct: await readFileBytes(sctPath, "detached SCT (--sct)") }
      : {}),
  };
}

/** `--certificate` and `--certificate-chain` of `sign` and `attest` (a key with its certificate). */
export const SIGNER_CERTIFICATE_FLAGS = {
  certificate: {
    type: "string",
    value: "FILE",
    check: "file",
    description: "PEM certificate for the signing key, stored with the signature",
  },
  "certificate-chain": {
    type: "string",
    value: "FILE",
    check: "file",
    description: "PEM chain of --certificate (intermediates, then root)",
  },
} as const;

/**
 * Reads `--certificate` (and `--certificate-chain`) and checks that the certificate holds the
 * signing key, as cosign does.
 * @returns the PEM texts, or undefined without `--certificate`
 * @throws {UsageError} `--certificate-chain` without `--certificate`
 * @throws {CosignError} `CERTIFICATE_INVALID` for a file that is not a certificate, or a
 *   certificate for another key
 */
export async function signerCertificate(
  flags: FlagValues,
  signerPublicKeyPem: string,
): Promise<{ pem: string; chainPem: string } | undefined> {
  const certPath = str(flags, "certificate");
  const chainPath = str(flags, "certificate-chain");
  if (!certPath) {
    if (chainPath) throw new UsageError("--certificate-chain needs --certificate");
    return undefined;
  }
  const { parseCertificatePem } = await import("../x509/certificate.ts");
  const { parsePublicKeyPem, spkiDer } = await import("../crypto/keys.ts");
  const { bytesEqual } = await import("../tlog/bytes.ts");
  const pem = await readTextFile(certPath, "certificate");
  const [leaf] = parseCertificatePem(pem, certPath);
  const chainPem = chainPath ? await readTextFile(chainPath, "certificate chain") : "";
  if (chainPath) parseCertificatePem(chainPem, chainPath);
  if (!bytesEqual(leaf!.spki, spkiDer(parsePublicKeyPem(signerPublicKeyPem, "the signing key")))) {
    throw new CosignError(
      "CERTIFICATE_INVALID",
      `The certificate in ${certPath} is for another key than the signing key`,
    );
  }
  return { pem, chainPem };
}
