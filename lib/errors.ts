/**
 * Typed errors. Every failure the product reports carries a stable string `code`
 * (tests assert on the code, not on the text) and the process exit code the CLI uses.
 *
 * Exit codes follow cosign: 0 success, 1 a failed operation or verification,
 * 10 no signatures found, 11 image tag not found, 12 no matching signatures,
 * 13 no certificate found on a signature; and, for this implementation,
 * 2 a usage error and 3 an unexpected internal error.
 * @module
 */

/** Exit code for a failed operation or verification. */
export const EXIT_FAILURE = 1;
/** Exit code for a command-line usage error. */
export const EXIT_USAGE = 2;
/** Exit code for an unexpected internal error. */
export const EXIT_INTERNAL = 3;

/** Exit code: no signatures found on the image (cosign's ErrNoSignaturesFound). */
export const EXIT_NO_SIGNATURES = 10;
/** Exit code: the image tag was not found (cosign's ErrImageTagNotFound). */
export const EXIT_IMAGE_NOT_FOUND = 11;
/** Exit code: signatures were found but none matched (cosign's ErrNoMatchingSignatures). */
export const EXIT_NO_MATCHING = 12;
/** Exit code: keyless verification found no certificate on any signature (cosign's 13). */
export const EXIT_NO_CERTIFICATE = 13;

/** The error codes used across the library. */
export type ErrorCode =
  | "USAGE"
  | "FILE_NOT_FOUND"
  | "FILE_READ"
  | "FILE_WRITE"
  | "FILE_EXISTS"
  | "PEM_INVALID"
  | "PEM_UNSUPPORTED_TYPE"
  | "KEY_ENCRYPTED_INVALID"
  | "KEY_UNSUPPORTED_KDF"
  | "KEY_WRONG_PASSWORD"
  | "KEY_PASSWORD_MISMATCH"
  | "KEY_PARSE"
  | "KEY_UNSUPPORTED"
  | "KEYREF_UNSUPPORTED"
  | "KEYREF_INVALID"
  | "KMS_UNAVAILABLE"
  | "KMS_DENIED"
  | "KMS_KEY_NOT_FOUND"
  | "KMS_KEY_UNSUPPORTED"
  | "KMS_ERROR"
  | "SIGNATURE_INVALID_ENCODING"
  | "SIGNATURE_MISMATCH"
  | "TLOG_UNAVAILABLE"
  | "TLOG_INVALID"
  | "TLOG_UNTRUSTED"
  | "TRUSTED_ROOT_INVALID"
  | "JSON_NOT_CANONICALIZABLE"
  | "NETWORK"
  | "DEADLINE_EXCEEDED"
  | "NOT_IMPLEMENTED"
  | "REF_INVALID"
  | "REGISTRY_AUTH"
  | "REGISTRY_UNAVAILABLE"
  | "REGISTRY_ERROR"
  | "REGISTRY_INSECURE"
  | "MANIFEST_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_TOO_LARGE"
  | "BLOB_TOO_LARGE"
  | "BLOB_UNKNOWN"
  | "DIGEST_MISMATCH"
  | "NO_SIGNATURES"
  | "IMAGE_NOT_FOUND"
  | "PLATFORM_AMBIGUOUS"
  | "NO_MATCHING_SIGNATURES"
  | "DSSE_INVALID"
  | "CLAIMS_AMBIGUOUS"
  | "CLAIMS_MISMATCH"
  | "REFERRER_INVALID"
  | "CERTIFICATE_POLICY_INCOMPLETE"
  | "PREDICATE_INVALID"
  | "ATTESTATION_MISMATCH"
  | "BUNDLE_INVALID"
  | "BUNDLE_KEY_REQUIRED"
  | "BUNDLE_KEY_MISMATCH"
  | "ARTIFACT_MISMATCH"
  | "TLOG_BODY_MISMATCH"
  | "TLOG_MISSING"
  | "TRUSTED_ROOT_MISSING"
  | "TLOG_PROOF_MISSING"
  | "CERTIFICATE_INVALID"
  | "CERTIFICATE_UNTRUSTED"
  | "CERTIFICATE_EXPIRED"
  | "CERTIFICATE_IDENTITY_MISMATCH"
  | "SCT_MISSING"
  | "SCT_INVALID"
  | "TIMESTAMP_INVALID"
  | "TIMESTAMP_UNTRUSTED"
  | "TIMESTAMP_MISSING"
  | "CERTIFICATE_MISSING"
  | "TLOG_ENTRY_NOT_FOUND"
  | "LOCK_UNSAFE"
  | "LOCK_TIMEOUT"
  | "WRITE_CONFLICT"
  | "TUF_INVALID"
  | "TUF_UNAVAILABLE"
  | "OIDC_TOKEN_MISSING"
  | "OIDC_TOKEN_INVALID"
  | "FULCIO_ERROR"
  | "TSA_ERROR";

/**
 * The base error: a message for people, a `code` for programs, an `exitCode` for the CLI.
 * @example
 * ```ts
 * import { CosignError, loadVerifier, verifyBlob } from "@cosign-deno/cosign";
 * try {
 *   const sig = await Deno.readFile("blob.sig.raw");
 *   await verifyBlob(await loadVerifier("cosign.pub"), await Deno.readFile("blob"), sig);
 * } catch (e) {
 *   if (!(e instanceof CosignError)) throw e;
 *   console.error(e.code, e.message); // e.g. SIGNATURE_MISMATCH Invalid signature: …
 *   Deno.exitCode = e.exitCode;
 * }
 * ```
 */
export class CosignError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;

  /**
   * Creates an error.
   * @param code stable code
   * @param message one-line, sentence-case message naming the thing and the reason
   * @param options `exitCode` (default 1) and `cause`
   */
  constructor(
    code: ErrorCode,
    message: string,
    options: { exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CosignError";
    this.code = code;
    this.exitCode = options.exitCode ?? EXIT_FAILURE;
  }
}

/**
 * A command-line usage error (exit code 2).
 * @example
 * ```ts
 * import { CosignError, UsageError } from "@cosign-deno/cosign";
 * const e = new UsageError("--key and --sk cannot be used together");
 * console.log(e instanceof CosignError, e.code, e.exitCode); // true "USAGE" 2
 * ```
 */
export class UsageError extends CosignError {
  /**
   * Creates a usage error.
   * @param message what was wrong with the command line
   */
  constructor(message: string) {
    super("USAGE", message, { exitCode: EXIT_USAGE });
    this.name = "UsageError";
  }
}
