/**
 * The runtime check of a keyless identity policy, as sigstore-go requires one: a certificate is
 * accepted only for a named identity (exact or regular expression) from a named issuer. A
 * policy built from unset environment variables, a misspelled field or an empty object would
 * otherwise accept any signer; skipping the identity must be said with
 * `withoutIdentitiesUnsafe: true` (sigstore-go's `WithoutIdentitiesUnsafe()`).
 * @module
 */

import { CosignError } from "../errors.ts";
import type { CertificatePolicy } from "./bundle_certificate.ts";

/** The fields of a {@link CertificatePolicy}. */
const POLICY_FIELDS = new Set(["identity", "ignoreSct", "withoutIdentitiesUnsafe", "detachedSct"]);

/** The fields of an identity policy. */
const IDENTITY_FIELDS = new Set([
  "identity",
  "identityRegexp",
  "issuer",
  "issuerRegexp",
  "githubWorkflowTrigger",
  "githubWorkflowSha",
  "githubWorkflowName",
  "githubWorkflowRepository",
  "githubWorkflowRef",
]);

function incomplete(message: string): never {
  throw new CosignError("CERTIFICATE_POLICY_INCOMPLETE", message);
}

function named(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "string") incomplete(`the identity policy's ${field} is not a string`);
  return value !== "";
}

/**
 * Refuses a policy that would accept any signer: it needs an identity (`identity` or
 * `identityRegexp`, non-empty) and an issuer (`issuer` or `issuerRegexp`, non-empty), unless
 * `withoutIdentitiesUnsafe` is true; unknown fields (a misspelled `identityRegExp`) are refused.
 * @throws {CosignError} `CERTIFICATE_POLICY_INCOMPLETE` naming what is missing or unknown
 * @example
 * ```ts
 * import { checkCertificatePolicy, CosignError } from "@cosign-deno/cosign";
 * checkCertificatePolicy({
 *   identity: { identity: "alice@example.com", issuer: "https://accounts.google.com" },
 * }); // complete: returns
 * try {
 *   checkCertificatePolicy({ identity: { issuer: "https://accounts.google.com" } });
 * } catch (e) {
 *   console.log((e as CosignError).code); // "CERTIFICATE_POLICY_INCOMPLETE"
 * }
 * ```
 */
export function checkCertificatePolicy(policy: CertificatePolicy): void {
  if (typeof policy !== "object" || policy === null) incomplete("no certificate policy given");
  for (const k of Object.keys(policy)) {
    if (!POLICY_FIELDS.has(k)) incomplete(`unknown certificate policy field ${JSON.stringify(k)}`);
  }
  const id = policy.identity as unknown;
  if (typeof id !== "object" || id === null) {
    incomplete(
      "the certificate policy names no identity: give identity (or identityRegexp) and issuer " +
        "(or issuerRegexp), or withoutIdentitiesUnsafe: true to accept any signer",
    );
  }
  for (const k of Object.keys(id)) {
    if (!IDENTITY_FIELDS.has(k)) incomplete(`unknown identity policy field ${JSON.stringify(k)}`);
  }
  const rec = id as Record<string, unknown>;
  const hasIdentity = named(rec.identity, "identity") ||
    named(rec.identityRegexp, "identityRegexp");
  const hasIssuer = named(rec.issuer, "issuer") || named(rec.issuerRegexp, "issuerRegexp");
  for (const k of IDENTITY_FIELDS) named(rec[k], k);
  if (policy.withoutIdentitiesUnsafe === true) return;
  if (!hasIdentity || !hasIssuer) {
    incomplete(
      `the identity policy names no ${
        !hasIdentity && !hasIssuer ? "identity and no issuer" : !hasIdentity ? "identity" : "issuer"
      }: both are required (exact or regexp, non-empty), or withoutIdentitiesUnsafe: true`,
    );
  }
}
