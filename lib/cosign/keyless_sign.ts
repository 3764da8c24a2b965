/**
 * Keyless signing (cosign-spec §7): an ephemeral ECDSA P-256 key held only in memory, certified
 * by Fulcio for the identity an OIDC token proves, with the certificate's chain and SCT checked
 * against the trusted root before the key signs anything. The token source and `fetch` are
 * injectable, so a `deno run` script in CI can sign:
 *
 * ```ts ignore
 * const signer = await createKeylessSigner({
 *   fulcioUrl: "https://fulcio.example", trustedRoot,
 *   token: () => getIdentityToken({ identityToken: Deno.env.get("ID_TOKEN") }),
 * });
 * const signature = await signer.sign(data); // then record it in Rekor; signer.certificate.der
 * ```
 * @module
 */

import { CosignError } from "../errors.ts";
import { KeySigner } from "../crypto/key_signer.ts";
import { generateEcdsaP256, spkiDer } from "../crypto/keys.ts";
import { encodePem } from "../crypto/pem.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import {
  checkFulcioCertificate,
  type FulcioOptions,
  proofSubject,
  requestSigningCertificate,
} from "../fulcio/client.ts";
import type { CertificateCheck } from "./bundle_certificate.ts";
import { getIdentityToken, type IdentityToken, type TokenSourceOptions } from "../oidc/token.ts";

/** Options for {@link createKeylessSigner}. */
export interface KeylessSignerOptions {
  /** Fulcio's base URL. */
  readonly fulcioUrl: string;
  /** The trust material Fulcio's answer must chain to (CAs and CT logs). */
  readonly trustedRoot: TrustedRoot;
  /**
   * The identity token: a parsed token, a function returning one, or the options of
   * {@link getIdentityToken} (cosign's sources; its `interactive` hook is the login).
   */
  readonly token: IdentityToken | (() => Promise<IdentityToken>) | TokenSourceOptions;
  /** `fetch` for Fulcio (default the global one). */
  readonly fetch?: typeof fetch | undefined;
  /** Fulcio retries after 5xx/429 (default 3) and their delay. */
  readonly retries?: FulcioOptions["retries"];
  /** Delay before Fulcio retry `n`, ms. */
  readonly backoffMs?: FulcioOptions["backoffMs"];
}

/** The certificate a {@link KeylessSigner} signs under. */
export interface KeylessCertificate {
  /** The leaf, DER. */
  readonly der: Uint8Array;
  /** The leaf, PEM (what the transparency log records). */
  readonly pem: string;
  /** Intermediates as Fulcio sent them (its root left out), PEM; may be empty. */
  readonly chainPem: string;
  /** The leaf and intermediates, DER. */
  readonly chain: readonly Uint8Array[];
}

/**
 * A {@link KeySigner} over an ephemeral P-256 key that exists only in this object, with the
 * Fulcio certificate for it.
 * @example
 * ```ts
 * import { createKeylessSigner, type KeylessSigner, parseTrustedRoot } from "@cosign-deno/cosign";
 * const signer: KeylessSigner = await createKeylessSigner({
 *   fulcioUrl: "https://fulcio.sigstore.dev",
 *   trustedRoot: parseTrustedRoot(await Deno.readFile("trusted_root.json")),
 *   token: {}, // SIGSTORE_ID_TOKEN, CI providers, …
 * });
 * console.log(signer.token.issuer, signer.certificate.chainPem);
 * ```
 */
export class KeylessSigner extends KeySigner {
  /** The checked Fulcio certificate. */
  readonly certificate: KeylessCertificate;
  /** What was checked about it (subject, issuer, SCTs). */
  readonly check: CertificateCheck;
  /** The identity token it was issued for. */
  readonly token: IdentityToken;

  /** @internal use {@link createKeylessSigner} */
  constructor(
    key: ConstructorParameters<typeof KeySigner>[0],
    certificate: KeylessCertificate,
    check: CertificateCheck,
    token: IdentityToken,
  ) {
    super(key);
    this.certificate = certificate;
    this.check = check;
    this.token = token;
  }
}

function isTokenSourceOptions(
  t: KeylessSignerOptions["token"],
): t is TokenSourceOptions {
  return typeof t === "object" && !("raw" in t);
}

/**
 * Gets an identity token, generates an ephemeral key, asks Fulcio for a certificate with a
 * proof of possession, and checks the answer (key, chain to the trusted root, SCT, issuer)
 * before returning a signer. Nothing is written anywhere.
 * @param options Fulcio, trust and the token source
 * @throws {CosignError} `OIDC_TOKEN_MISSING`/`OIDC_TOKEN_INVALID` for the token;
 *   `FULCIO_ERROR` when Fulcio refuses or fails; `CERTIFICATE_UNTRUSTED`, `SCT_MISSING`,
 *   `SCT_INVALID`, `CERTIFICATE_INVALID`, `CERTIFICATE_IDENTITY_MISMATCH` when its answer does
 *   not check out
 * @example
 * ```ts
 * import { createKeylessSigner, parseTrustedRoot } from "@cosign-deno/cosign";
 * const signer = await createKeylessSigner({
 *   fulcioUrl: "https://fulcio.sigstore.dev",
 *   trustedRoot: parseTrustedRoot(await Deno.readFile("trusted_root.json")),
 *   token: { identityToken: Deno.env.get("SIGSTORE_ID_TOKEN") },
 * });
 * const signature = await signer.sign(new TextEncoder().encode("hello"));
 * console.log(signer.check.subject, signer.certificate.pem);
 * ```
 */
export async function createKeylessSigner(options: KeylessSignerOptions): Promise<KeylessSigner> {
  const t = options.token;
  const token = typeof t === "function"
    ? await t()
    : isTokenSourceOptions(t)
    ? await getIdentityToken(t)
    : t;
  if (options.trustedRoot.certificateAuthorities.length === 0) {
    throw new CosignError(
      "TRUSTED_ROOT_MISSING",
      "Keyless signing needs a trusted root with Fulcio's certificate authorities to check its certificate",
    );
  }
  const key = generateEcdsaP256();
  const ephemeral = new KeySigner(key);
  const publicKeyPem = await ephemeral.publicKeyPem();
  const pop = await ephemeral.sign(proofSubject(token));
  const answer = await requestSigningCertificate(
    {
      url: options.fulcioUrl,
      fetch: options.fetch,
      retries: options.retries,
      backoffMs: options.backoffMs,
    },
    token,
    publicKeyPem,
    pop,
  );
  if (answer.detachedSct !== undefined) {
    throw new CosignError(
      "SCT_MISSING",
      "Fulcio sent a detached SCT; only certificates with an embedded SCT are supported",
    );
  }
  const { check, certificates } = checkFulcioCertificate(
    answer.certificates,
    options.trustedRoot,
    spkiDer(key),
    token.issuer,
  );
  const [leaf, ...rest] = certificates;
  const certificate: KeylessCertificate = {
    der: leaf!,
    pem: encodePem("CERTIFICATE", leaf!),
    chainPem: answer.certificates.slice(1).map((c) => encodePem("CERTIFICATE", c)).join(""),
    chain: [leaf!, ...rest],
  };
  return new KeylessSigner(key, certificate, check, token);
}
