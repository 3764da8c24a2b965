/**
 * Keyless verification flags (cosign-spec §7.5): the expected certificate identity and OIDC
 * issuer, exact or by (unanchored) regular expression, the GitHub workflow claims, and
 * `--insecure-ignore-sct`.
 * @module
 */

import type { CertificatePolicy } from "../cosign/bundle_certificate.ts";
import type { IdentityPolicy } from "../x509/identity.ts";
import { bool, type FlagValues, str } from "./args.ts";
import { UsageError } from "../errors.ts";

function flag(value: string, description: string) {
  return { type: "string", value, description } as const;
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
  return { identity, ignoreSct: bool(flags, "insecure-ignore-sct") };
}
