/**
 * The signing certificate of a keyless bundle, verified offline (cosign-spec §7.5): its chain to
 * a Fulcio CA of the trusted root at every verified signing time, its embedded SCT against the
 * CT logs, and the identity policy (`--certificate-identity*`, `--certificate-oidc-issuer*`,
 * GitHub workflow claims). No I/O.
 * @module
 */

import { CosignError } from "../errors.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { type Certificate, OID, parseCertificate } from "../x509/certificate.ts";
import { checkBundleChain, verifyCertificateChain } from "../x509/chain.ts";
import { type SctCheck, verifyDetachedSct, verifyEmbeddedScts } from "../x509/sct.ts";
import {
  type FulcioExtensions,
  fulcioExtensions,
  type IdentityPolicy,
  verifyIdentity,
} from "../x509/identity.ts";

/** How a keyless bundle's certificate must look. */
export interface CertificatePolicy {
  /** The expected identity and issuer (exact or regexp) and GitHub workflow claims. */
  readonly identity: IdentityPolicy;
  /** Skip the SCT check (`--insecure-ignore-sct`). */
  readonly ignoreSct?: boolean;
  /**
   * A detached SCT for the leaf (`--sct`: the JSON of an RFC 6962 add-chain response). It must
   * verify; it stands in for an embedded SCT, and an embedded one is checked as well.
   */
  readonly detachedSct?: Uint8Array;
  /**
   * Accept a certificate for any identity and issuer (`identity` may then be `{}`): sigstore-go's
   * `WithoutIdentitiesUnsafe()`. Without it, verification refuses a policy that does not name
   * both an identity and an issuer.
   */
  readonly withoutIdentitiesUnsafe?: boolean;
}

/** What was verified about the signing certificate. */
export interface CertificateCheck {
  /** The leaf certificate. */
  readonly leaf: Certificate;
  /** The SAN that matched the identity policy. */
  readonly subject: string;
  /** The OIDC issuer the certificate records. */
  readonly issuer: string;
  /** All Fulcio extensions of the leaf. */
  readonly extensions: FulcioExtensions;
  /** The CA the chain ends in. */
  readonly authorityUri: string;
  /** The SCTs verified (empty with `ignoreSct`). */
  readonly scts: readonly SctCheck[];
  /** The signing times the chain was verified at. */
  readonly verifiedAt: readonly Date[];
}

/**
 * Parses a bundle's certificates, leaf first. A trust anchor must come from the trusted root
 * only: a bundle whose chain holds a self-signed certificate is refused.
 * @throws {CosignError} `CERTIFICATE_INVALID`
 */
export function parseBundleCertificates(ders: readonly Uint8Array[]): Certificate[] {
  const certs = ders.map((d, i) =>
    parseCertificate(d, i === 0 ? "the signing certificate" : `bundle certificate ${i}`)
  );
  checkBundleChain(certs);
  return certs;
}

/**
 * Verifies the signing certificate at each signing time (transparency-log integrated times and
 * RFC 3161 timestamps, already verified by the caller), its SCT and the identity policy.
 * @param certs the bundle's certificates, leaf first (see {@link parseBundleCertificates})
 * @param root the trusted root (Fulcio CAs, CT logs)
 * @param times verified signing times; at least one
 * @param policy the identity policy
 * @throws {CosignError} `CERTIFICATE_UNTRUSTED`, `CERTIFICATE_EXPIRED`, `SCT_MISSING`,
 *   `SCT_INVALID`, `CERTIFICATE_IDENTITY_MISMATCH`, `TIMESTAMP_MISSING`
 */
export function verifySigningCertificate(
  certs: readonly Certificate[],
  root: TrustedRoot,
  times: readonly Date[],
  policy: CertificatePolicy,
): CertificateCheck {
  const [leaf, ...intermediates] = certs;
  if (leaf === undefined) {
    throw new CosignError("CERTIFICATE_INVALID", "The bundle holds no signing certificate");
  }
  if (times.length === 0) {
    throw new CosignError(
      "TIMESTAMP_MISSING",
      "No verified signing time for the certificate: the bundle needs an RFC 3161 timestamp " +
        "that verifies, or a Rekor v1 entry whose integrated time a verified SET " +
        "(inclusionPromise) signs; an inclusion proof does not sign the integrated time",
    );
  }
  let path: readonly Certificate[] = [];
  let authorityUri = "";
  for (const time of times) {
    const r = verifyCertificateChain(leaf, intermediates, root.certificateAuthorities, time, {
      what: "signing certificate",
    });
    path = r.path;
    authorityUri = r.authority.uri;
  }
  const issuerCert = path[1];
  const scts: SctCheck[] = [];
  if (policy.detachedSct) scts.push(verifyDetachedSct(leaf, policy.detachedSct, root.ctlogs));
  const embedded = leaf.extensions.some((e) => e.oid === OID.sctList);
  if (!policy.ignoreSct && issuerCert !== undefined && (embedded || !policy.detachedSct)) {
    scts.push(...verifyEmbeddedScts(leaf, issuerCert, root.ctlogs));
  }
  const { subject, issuer } = verifyIdentity(leaf, policy.identity);
  return {
    leaf,
    subject,
    issuer,
    extensions: fulcioExtensions(leaf),
    authorityUri,
    scts,
    verifiedAt: times,
  };
}
