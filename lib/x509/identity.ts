/**
 * Fulcio certificate extensions (OID arc 1.3.6.1.4.1.57264.1) and cosign's keyless identity
 * policy: the expected subject (matched against every subject alternative name) and OIDC
 * issuer, exactly or by an unanchored regular expression, plus the optional GitHub workflow
 * claims compared exactly with the raw `.2`–`.6` extensions.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { compileRe2 } from "./re2.ts";
import type { Certificate } from "./certificate.ts";
import { DerError, readString, readWhole } from "./_der.ts";

/** The Fulcio extensions of a certificate, by readable name. Absent extensions are omitted. */
export interface FulcioExtensions {
  /** The OIDC issuer: `.8` (DER UTF8String) when present, else `.1` (raw). */
  issuer?: string;
  /** `.1` Issuer (deprecated; raw UTF-8). Legacy cosign reads only this one. */
  issuerV1?: string;
  /** `.8` Issuer V2 (DER UTF8String). */
  issuerV2?: string;
  /** `.2` GitHub Workflow Trigger (raw). */
  githubWorkflowTrigger?: string;
  /** `.3` GitHub Workflow SHA (raw). */
  githubWorkflowSha?: string;
  /** `.4` GitHub Workflow Name (raw). */
  githubWorkflowName?: string;
  /** `.5` GitHub Workflow Repository (raw). */
  githubWorkflowRepository?: string;
  /** `.6` GitHub Workflow Ref (raw). */
  githubWorkflowRef?: string;
  /** `.9` Build Signer URI. */
  buildSignerUri?: string;
  /** `.10` Build Signer Digest. */
  buildSignerDigest?: string;
  /** `.11` Runner Environment. */
  runnerEnvironment?: string;
  /** `.12` Source Repository URI. */
  sourceRepositoryUri?: string;
  /** `.13` Source Repository Digest. */
  sourceRepositoryDigest?: string;
  /** `.14` Source Repository Ref. */
  sourceRepositoryRef?: string;
  /** `.15` Source Repository Identifier. */
  sourceRepositoryIdentifier?: string;
  /** `.16` Source Repository Owner URI. */
  sourceRepositoryOwnerUri?: string;
  /** `.17` Source Repository Owner Identifier. */
  sourceRepositoryOwnerIdentifier?: string;
  /** `.18` Build Config URI. */
  buildConfigUri?: string;
  /** `.19` Build Config Digest. */
  buildConfigDigest?: string;
  /** `.20` Build Trigger. */
  buildTrigger?: string;
  /** `.21` Run Invocation URI. */
  runInvocationUri?: string;
  /** `.22` Source Repository Visibility At Signing. */
  sourceRepositoryVisibilityAtSigning?: string;
  /** `.23` Deployment Environment. */
  deploymentEnvironment?: string;
  /** `.24` Token Subject. */
  subject?: string;
}

type ExtensionName = Exclude<keyof FulcioExtensions, "issuer">;

const FULCIO_ARC = "1.3.6.1.4.1.57264.1.";

/** Extension number within the Fulcio arc → field name; `raw` ones are not DER-wrapped. */
const FULCIO_EXTENSIONS: Record<number, { name: ExtensionName; raw: boolean; label: string }> = {
  1: { name: "issuerV1", raw: true, label: "Issuer" },
  2: { name: "githubWorkflowTrigger", raw: true, label: "GitHub Workflow Trigger" },
  3: { name: "githubWorkflowSha", raw: true, label: "GitHub Workflow SHA" },
  4: { name: "githubWorkflowName", raw: true, label: "GitHub Workflow Name" },
  5: { name: "githubWorkflowRepository", raw: true, label: "GitHub Workflow Repository" },
  6: { name: "githubWorkflowRef", raw: true, label: "GitHub Workflow Ref" },
  8: { name: "issuerV2", raw: false, label: "Issuer (V2)" },
  9: { name: "buildSignerUri", raw: false, label: "Build Signer URI" },
  10: { name: "buildSignerDigest", raw: false, label: "Build Signer Digest" },
  11: { name: "runnerEnvironment", raw: false, label: "Runner Environment" },
  12: { name: "sourceRepositoryUri", raw: false, label: "Source Repository URI" },
  13: { name: "sourceRepositoryDigest", raw: false, label: "Source Repository Digest" },
  14: { name: "sourceRepositoryRef", raw: false, label: "Source Repository Ref" },
  15: { name: "sourceRepositoryIdentifier", raw: false, label: "Source Repository Identifier" },
  16: { name: "sourceRepositoryOwnerUri", raw: false, label: "Source Repository Owner URI" },
  17: {
    name: "sourceRepositoryOwnerIdentifier",
    raw: false,
    label: "Source Repository Owner Identifier",
  },
  18: { name: "buildConfigUri", raw: false, label: "Build Config URI" },
  19: { name: "buildConfigDigest", raw: false, label: "Build Config Digest" },
  20: { name: "buildTrigger", raw: false, label: "Build Trigger" },
  21: { name: "runInvocationUri", raw: false, label: "Run Invocation URI" },
  22: {
    name: "sourceRepositoryVisibilityAtSigning",
    raw: false,
    label: "Source Repository Visibility At Signing",
  },
  23: { name: "deploymentEnvironment", raw: false, label: "Deployment Environment" },
  24: { name: "subject", raw: false, label: "Token Subject" },
};

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads the Fulcio extensions of `cert`: `.1`–`.6` as raw UTF-8, `.8`–`.24` as DER strings.
 * @throws {CosignError} `CERTIFICATE_INVALID` when an extension's value is malformed
 * @example
 * ```ts ignore
 * const { issuer, sourceRepositoryUri } = fulcioExtensions(cert);
 * ```
 */
export function fulcioExtensions(cert: Certificate): FulcioExtensions {
  const out: FulcioExtensions = {};
  for (const ext of cert.extensions) {
    if (!ext.oid.startsWith(FULCIO_ARC)) continue;
    const known = FULCIO_EXTENSIONS[Number(ext.oid.slice(FULCIO_ARC.length))];
    if (!known) continue;
    try {
      out[known.name] = known.raw
        ? UTF8.decode(ext.value)
        : readString(ext.value, readWhole(ext.value, known.label), known.label);
    } catch (e) {
      throw new CosignError(
        "CERTIFICATE_INVALID",
        `Invalid certificate: Fulcio extension ${ext.oid} (${known.label}) is not ${
          known.raw ? "UTF-8" : "a DER string"
        }${e instanceof DerError ? ` (${e.message})` : ""}`,
        { cause: e },
      );
    }
  }
  const issuer = out.issuerV2 ?? out.issuerV1;
  if (issuer !== undefined) out.issuer = issuer;
  return out;
}

/** What a keyless signature's certificate must show (cosign's `--certificate-*` flags). */
export interface IdentityPolicy {
  /** `--certificate-identity`: a SAN must equal this. */
  identity?: string | undefined;
  /** `--certificate-identity-regexp`: a SAN must match this (unanchored). */
  identityRegexp?: string | undefined;
  /** `--certificate-oidc-issuer`: the issuer must equal this. */
  issuer?: string | undefined;
  /** `--certificate-oidc-issuer-regexp`: the issuer must match this (unanchored). */
  issuerRegexp?: string | undefined;
  /** `--certificate-github-workflow-trigger`: equals raw extension `.2`. */
  githubWorkflowTrigger?: string | undefined;
  /** `--certificate-github-workflow-sha`: equals raw extension `.3`. */
  githubWorkflowSha?: string | undefined;
  /** `--certificate-github-workflow-name`: equals raw extension `.4`. */
  githubWorkflowName?: string | undefined;
  /** `--certificate-github-workflow-repository`: equals raw extension `.5`. */
  githubWorkflowRepository?: string | undefined;
  /** `--certificate-github-workflow-ref`: equals raw extension `.6`. */
  githubWorkflowRef?: string | undefined;
}

/**
 * Compiles a Go (RE2) regular expression as a JavaScript one with the same meaning, unanchored
 * like Go's `MatchString` (see {@link compileRe2}: `\A`, `\z`, flag groups, `\Q…\E`, Unicode
 * and POSIX classes are translated; what RE2 refuses or JavaScript cannot express exactly is
 * refused).
 * @param pattern the expression
 * @param flag the command-line flag it came from, for the error message
 * @throws {UsageError} `Invalid <flag> "<pattern>": <reason>` naming the construct
 * @example
 * ```ts ignore
 * compileGoRegexp("(?i)^https://github\\.com/acme/", "--certificate-identity-regexp").test(san);
 * ```
 */
export function compileGoRegexp(pattern: string, flag: string): RegExp {
  return compileRe2(pattern, flag);
}

/**
 * Checks that a keyless verification policy names an identity and an issuer (exactly or by
 * regexp), as cosign requires, and that its regular expressions compile.
 * @throws {UsageError} with cosign's wording when either is missing, or naming the flag whose
 *   regular expression is invalid
 * @example
 * ```ts ignore
 * checkIdentityPolicy({ identity: "me@example.com", issuer: "https://accounts.google.com" });
 * ```
 */
export function checkIdentityPolicy(policy: IdentityPolicy): void {
  if (!policy.identity && !policy.identityRegexp) {
    throw new UsageError(
      "--certificate-identity or --certificate-identity-regexp is required for verification in keyless mode",
    );
  }
  if (!policy.issuer && !policy.issuerRegexp) {
    throw new UsageError(
      "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for verification in keyless mode",
    );
  }
  if (policy.identityRegexp) {
    compileGoRegexp(policy.identityRegexp, "--certificate-identity-regexp");
  }
  if (policy.issuerRegexp) compileGoRegexp(policy.issuerRegexp, "--certificate-oidc-issuer-regexp");
}

const GITHUB_CHECKS: Array<[keyof IdentityPolicy & ExtensionName, string]> = [
  ["githubWorkflowTrigger", "GitHub Workflow Trigger"],
  ["githubWorkflowSha", "GitHub Workflow SHA"],
  ["githubWorkflowName", "GitHub Workflow Name"],
  ["githubWorkflowRepository", "GitHub Workflow Repository"],
  ["githubWorkflowRef", "GitHub Workflow Ref"],
];

function mismatch(message: string): never {
  throw new CosignError("CERTIFICATE_IDENTITY_MISMATCH", message);
}

/**
 * Checks `cert` against `policy` as cosign's `CheckCertificatePolicy` does: the issuer (`.8`
 * else `.1`) must equal `issuer` or match `issuerRegexp`; some subject alternative name
 * (email, URI, DNS, IP, Fulcio otherName) must equal `identity` or match `identityRegexp`;
 * a regexp, when given, takes precedence over the exact value; regexps are unanchored.
 * Each GitHub workflow value given must equal the raw extension.
 * @returns the matched subject and the certificate's issuer
 * @throws {CosignError} `CERTIFICATE_IDENTITY_MISMATCH` saying what was expected and what the
 *   certificate holds; {@link UsageError} for an invalid regexp
 * @example
 * ```ts ignore
 * const { subject, issuer } = verifyIdentity(leaf, {
 *   identity: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
 *   issuer: "https://token.actions.githubusercontent.com",
 * });
 * ```
 */
export function verifyIdentity(
  cert: Certificate,
  policy: IdentityPolicy,
): { subject: string; issuer: string } {
  const ext = fulcioExtensions(cert);
  const issuer = ext.issuer ?? "";
  const sans = cert.subjectAlternativeNames.map((s) => s.value);

  let issuerMatches = true;
  if (policy.issuerRegexp) {
    issuerMatches = compileGoRegexp(policy.issuerRegexp, "--certificate-oidc-issuer-regexp")
      .test(issuer);
  } else if (policy.issuer) {
    issuerMatches = policy.issuer === issuer;
  }

  let subject: string | undefined = sans[0] ?? "";
  if (policy.identityRegexp) {
    const re = compileGoRegexp(policy.identityRegexp, "--certificate-identity-regexp");
    subject = sans.find((s) => re.test(s));
  } else if (policy.identity) {
    subject = sans.find((s) => s === policy.identity);
  }

  if (!issuerMatches || subject === undefined) {
    const expected: string[] = [];
    if (policy.identityRegexp) {
      expected.push(`identity matching ${JSON.stringify(policy.identityRegexp)}`);
    } else if (policy.identity) expected.push(`identity ${JSON.stringify(policy.identity)}`);
    if (policy.issuerRegexp) {
      expected.push(`issuer matching ${JSON.stringify(policy.issuerRegexp)}`);
    } else if (policy.issuer) expected.push(`issuer ${JSON.stringify(policy.issuer)}`);
    mismatch(
      `none of the expected identities matched what was in the certificate, got subjects [${
        sans.join(", ")
      }] with issuer ${issuer || "(none)"} (expected ${expected.join(", ") || "anything"})`,
    );
  }

  for (const [key, label] of GITHUB_CHECKS) {
    const want = policy[key];
    if (want === undefined || want === "") continue;
    const found = ext[key];
    if (found !== want) {
      mismatch(
        `expected ${label} not found in certificate: expected ${JSON.stringify(want)}, found ${
          found === undefined ? "no such extension" : JSON.stringify(found)
        }`,
      );
    }
  }
  return { subject, issuer };
}
