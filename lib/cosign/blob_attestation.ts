/**
 * Verifying a blob's attestation (`cosign verify-blob-attestation`): a DSSE envelope, or a
 * bundle holding one, checked with a key or keylessly; then its statement: predicate type,
 * predicate shape, the subject naming the blob.
 * @module
 */

import { CosignError } from "../errors.ts";
import type { Bundle } from "./bundle.ts";
import { type Envelope, INTOTO_PAYLOAD_TYPE, verifyEnvelope } from "./dsse.ts";
import {
  checkPredicateShape,
  hasSubjectDigest,
  parseStatement,
  predicateTypeFor,
  type Statement,
} from "./intoto.ts";
import type { BundleSigner, BundleVerification } from "./verify_bundle.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";

/**
 * The artifact handed to `verifyBundle` for DSSE content with `checkClaims: false`: it is not
 * read (the subject is checked by the caller, with cosign's messages).
 */
const NO_ARTIFACT = { bytes: new Uint8Array() } as const;

/** Options for {@link verifyBlobAttestation}. */
export interface VerifyBlobAttestationOptions {
  /** The predicate type: a `--type` short name (`slsaprovenance1`) or a URI. Default `custom`. */
  type?: string;
  /** The blob's digest a subject must name (`--check-claims`). Absent: not checked. */
  subject?: { alg: string; hex: string };
  /** With a bundle: the trust material its log entry and timestamps are checked against. */
  trustedRoot?: TrustedRoot;
  /** With a bundle: accept it without checking its transparency-log entry. */
  ignoreTlog?: boolean;
}

/** An attestation that verified: the envelope whose signature verified, and its statement. */
export interface VerifiedBlobAttestation {
  /** The verified envelope (a bundle's own): the only source of the claims. */
  envelope: Envelope;
  /** Its statement. */
  statement: Statement;
  /** Whether a transparency-log entry was verified offline. */
  tlogVerified: boolean;
  /** With a bundle: what its verification found. */
  verification?: BundleVerification;
}

/**
 * Verifies a blob's attestation: an envelope with a key, or a bundle (with a key, or keylessly
 * with a certificate policy) with its log entry and timestamps offline (cosign-spec §6.7); then
 * that the statement has the predicate type, a well-formed predicate, and, with `subject`, a
 * subject naming the blob. This is what `cosign verify-blob-attestation` runs.
 * @param attestation a parsed envelope (`--signature`) or a parsed bundle (`--bundle`)
 * @param signer `{ key }`, or `{ certificate: policy }` (a bundle only: the certificate is in it)
 * @param options the predicate type, the subject digest, trust material
 * @throws {CosignError} `ATTESTATION_MISMATCH` for another predicate type or no matching subject,
 *   `PREDICATE_INVALID`, `DSSE_INVALID`, and the failures of `verifyEnvelope`/`verifyBundle`
 * @example
 * ```ts
 * import { loadVerifier, parseBundle, parseTrustedRoot } from "@cosign-deno/cosign";
 * import { verifyBlobAttestation } from "@cosign-deno/cosign/verify";
 *
 * const blob = await Deno.readFile("app.tar.gz");
 * const hex = new Uint8Array(await crypto.subtle.digest("SHA-256", blob)).toHex();
 * const r = await verifyBlobAttestation(
 *   { bundle: parseBundle(await Deno.readFile("app.tar.gz.intoto.sigstore.json")) },
 *   { key: await loadVerifier("cosign.pub") },
 *   {
 *     type: "slsaprovenance1",
 *     subject: { alg: "sha256", hex },
 *     trustedRoot: parseTrustedRoot(await Deno.readFile("trusted_root.json")),
 *   },
 * );
 * console.log(r.statement.predicateType, r.tlogVerified);
 * ```
 */
export async function verifyBlobAttestation(
  attestation: { envelope: Envelope } | { bundle: Bundle },
  signer: BundleSigner,
  options: VerifyBlobAttestationOptions = {},
): Promise<VerifiedBlobAttestation> {
  const given = options.type ?? "custom";
  const wanted = predicateTypeFor(given);
  // The claims below are read from `env`: the envelope whose signature was verified here (a
  // bundle's own envelope, the one its log entry and timestamps cover), never another copy.
  let env: Envelope;
  let tlogVerified = false;
  let verification: BundleVerification | undefined;
  if (!("bundle" in attestation)) {
    if (!("key" in signer)) {
      throw new CosignError(
        "USAGE",
        "keyless verification needs a bundle (the certificate is in it)",
        { exitCode: 2 },
      );
    }
    env = attestation.envelope;
    await verifyEnvelope(env, signer.key);
  } else {
    const bundle = attestation.bundle;
    if (bundle.content.type !== "dsseEnvelope") {
      throw new CosignError("BUNDLE_INVALID", "the bundle holds no DSSE envelope");
    }
    env = bundle.content.envelope;
    const { verifyBundle } = await import("./bundle.ts");
    // Keyless: the bundle's certificate; else the key. Then the envelope signature, log entry
    // and timestamps, offline (cosign-spec §6.7); the log only with trust material.
    verification = await verifyBundle(bundle, NO_ARTIFACT, options.trustedRoot, signer, {
      checkClaims: false,
      ignoreTlog: options.ignoreTlog ?? false,
    });
    tlogVerified = verification.tlogVerifiedOffline;
  }
  const st = parseStatement(env.payload);
  if (st.predicateType !== wanted) {
    throw new CosignError(
      "ATTESTATION_MISMATCH",
      `invalid predicate type, expected ${given} got ${st.predicateType}` +
        (given !== wanted ? ` (${given} means ${wanted})` : ""),
    );
  }
  const shape = checkPredicateShape(st.predicateType, st.predicate);
  if (shape) throw new CosignError("PREDICATE_INVALID", shape);
  const claims = options.subject;
  if (claims && !hasSubjectDigest(st, claims.alg, claims.hex)) {
    throw new CosignError("ATTESTATION_MISMATCH", "no matching subject digest found");
  }
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
    throw new CosignError("DSSE_INVALID", "unexpected payload type");
  }
  return { envelope: env, statement: st, tlogVerified, ...(verification ? { verification } : {}) };
}
