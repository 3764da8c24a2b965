/**
 * X.509 for keyless verification, free of I/O: certificate parsing, path validation to the
 * trusted root's Fulcio (or timestamp) authorities, embedded SCT verification against its CT
 * logs, and the Fulcio identity policy.
 * @module
 */

export {
  bytesEqual,
  type Certificate,
  type CertificateExtension,
  describeCertificate,
  formatTime,
  isSignedBy,
  OID,
  parseCertificate,
  parseCertificatePem,
  type SubjectAlternativeName,
} from "./certificate.ts";
export {
  type ChainOptions,
  type ChainResult,
  checkBundleChain,
  MAX_ISSUER_CANDIDATES,
  MAX_PATH_LENGTH,
  verifyCertificateChain,
} from "./chain.ts";
export {
  type ConstrainedForm,
  MAX_CONSTRAINT_COMPARISONS,
  type NameConstraint,
  type NameConstraints,
} from "./name_constraints.ts";
export {
  type EmbeddedSct,
  parseSctList,
  precertificateTbs,
  type SctCheck,
  type SctOptions,
  sctSignedData,
  verifyEmbeddedScts,
} from "./sct.ts";
export {
  checkIdentityPolicy,
  compileGoRegexp,
  type FulcioExtensions,
  fulcioExtensions,
  type IdentityPolicy,
  verifyIdentity,
} from "./identity.ts";
