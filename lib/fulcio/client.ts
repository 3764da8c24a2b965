/**
 * Fulcio's v2 API (cosign-spec §7.3): `POST /api/v2/signingCert` with the public key of an
 * ephemeral key pair, a proof of possession (a signature over the token's subject) and the
 * identity token; the answer is a PEM chain, leaf first, whose embedded SCT and chain are
 * checked against the trusted root before anything is signed with the key
 * ({@link checkFulcioCertificate}, no I/O).
 * @module
 */

import { CosignError } from "../errors.ts";
import { toBase64, utf8 } from "../crypto/encoding.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import {
  bytesEqual,
  type Certificate,
  parseCertificate,
  parseCertificatePem,
} from "../x509/certificate.ts";
import {
  type CertificateCheck,
  parseBundleCertificates,
  verifySigningCertificate,
} from "../cosign/bundle_certificate.ts";
import type { IdentityToken } from "../oidc/token.ts";

/** Most bytes read from a Fulcio answer. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** How to reach Fulcio. */
export interface FulcioOptions {
  /** Fulcio's base URL (e.g. `https://fulcio.sigstore.dev`). */
  readonly url: string;
  /** `fetch` to use (default the global one). */
  readonly fetch?: typeof fetch | undefined;
  /** Retries after a 5xx or 429 answer or a network error (default 3). */
  readonly retries?: number | undefined;
  /** Delay before retry `n` (1-based) in ms (default 2^(n-1) s, as sigstore-go). */
  readonly backoffMs?: ((attempt: number) => number) | undefined;
}

/** A certificate chain Fulcio issued, leaf first (DER). */
export interface FulcioChain {
  /** The leaf, then intermediates, then (as Fulcio sends it) the root. */
  readonly certificates: readonly Uint8Array[];
  /** A detached SCT (base64), when Fulcio sent one instead of embedding it. */
  readonly detachedSct?: string | undefined;
}

function fulcioError(url: string, why: string): CosignError {
  return new CosignError("FULCIO_ERROR", `Fulcio ${url} did not issue a certificate: ${why}`);
}

async function readCapped(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new Error("the answer is larger than 1 MiB");
    }
    parts.push(value);
  }
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return new TextDecoder().decode(all);
}

/** Parses the `signedCertificateEmbeddedSct` / `signedCertificateDetachedSct` answer. */
export function parseSigningCertAnswer(url: string, text: string): FulcioChain {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fulcioError(url, "its answer is not JSON");
  }
  const j = (json ?? {}) as Record<string, unknown>;
  const embedded = j.signedCertificateEmbeddedSct as Record<string, unknown> | undefined;
  const detached = j.signedCertificateDetachedSct as Record<string, unknown> | undefined;
  const holder = embedded ?? detached;
  const certs = (holder?.chain as Record<string, unknown> | undefined)?.certificates;
  if (!Array.isArray(certs) || certs.length === 0 || !certs.every((c) => typeof c === "string")) {
    throw fulcioError(url, "its answer holds no certificate chain");
  }
  const ders: Uint8Array[] = [];
  for (const [i, pem] of (certs as string[]).entries()) {
    let parsed: Certificate[];
    try {
      parsed = parseCertificatePem(pem, `Fulcio certificate ${i}`);
    } catch (e) {
      throw fulcioError(
        url,
        `certificate ${i} of its chain does not parse (${(e as Error).message})`,
      );
    }
    for (const c of parsed) ders.push(c.der);
  }
  const sct = typeof detached?.signedCertificateTimestamp === "string"
    ? detached.signedCertificateTimestamp
    : undefined;
  return { certificates: ders, ...(embedded ? {} : { detachedSct: sct }) };
}

/**
 * Requests a code-signing certificate for `publicKeyPem`.
 * @param options Fulcio's URL, `fetch`, retries
 * @param token the identity token (sent as the bearer and in `credentials`)
 * @param publicKeyPem the ephemeral key's PKIX PEM
 * @param proofOfPossession the key's signature over `token.subject`
 * @returns the chain, leaf first
 * @throws {CosignError} `FULCIO_ERROR` for a refusal (the status and Fulcio's message), a 5xx
 *   still failing after the retries, or an answer that is not a certificate chain
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { getIdentityToken, KeySigner, requestSigningCertificate } from "@cosign-deno/cosign";
 * const token = await getIdentityToken();
 * const signer = new KeySigner(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
 * const proof = await signer.sign(new TextEncoder().encode(token.subject));
 * const chain = await requestSigningCertificate(
 *   { url: "https://fulcio.sigstore.dev" },
 *   token,
 *   await signer.publicKeyPem(),
 *   proof,
 * );
 * ```
 */
export async function requestSigningCertificate(
  options: FulcioOptions,
  token: IdentityToken,
  publicKeyPem: string,
  proofOfPossession: Uint8Array,
): Promise<FulcioChain> {
  const base = options.url.replace(/\/+$/, "");
  const endpoint = `${base}/api/v2/signingCert`;
  const body = JSON.stringify({
    credentials: { oidcIdentityToken: token.raw },
    publicKeyRequest: {
      publicKey: { algorithm: "ECDSA", content: publicKeyPem },
      proofOfPossession: toBase64(proofOfPossession),
    },
  });
  const doFetch = options.fetch ?? fetch;
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? ((n: number) => 1000 * 2 ** (n - 1));
  let last = "";
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, backoff(attempt)));
    let res: Response;
    try {
      res = await doFetch(endpoint, {
        method: "POST",
        headers: {
          "Authorization": `Bearer ${token.raw}`,
          "Content-Type": "application/json",
          "Accept": "application/json",
        },
        body,
      });
    } catch (e) {
      last = `cannot reach it (${(e as Error).message})`;
      continue;
    }
    let text: string;
    try {
      text = await readCapped(res);
    } catch (e) {
      throw fulcioError(base, (e as Error).message);
    }
    if (res.status >= 500 || res.status === 429) {
      last = `HTTP ${res.status}`;
      continue;
    }
    if (res.status !== 200 && res.status !== 201) {
      // Server text is printed: control characters become spaces.
      const msg = [...text].map((c) => c < " " || c === "\x7f" ? " " : c).join("").trim()
        .slice(0, 300);
      throw fulcioError(base, `HTTP ${res.status}${msg ? `: ${JSON.stringify(msg)}` : ""}`);
    }
    return parseSigningCertAnswer(base, text);
  }
  throw fulcioError(base, `${last} after ${retries + 1} attempts`);
}

/**
 * Checks a Fulcio chain before signing with its key: the leaf certifies `publicKeySpki`, chains
 * to a certificate authority of the trusted root now, embeds an SCT from one of its CT logs,
 * and records the token's issuer.
 * @param chain the chain as Fulcio sent it, leaf first (self-signed roots are dropped: the
 *   anchor must come from the trusted root)
 * @param root the trusted root
 * @param publicKeySpki the ephemeral public key (PKIX DER)
 * @param issuer the token's issuer
 * @param now the time to check at (default now)
 * @returns the checked certificate, and the chain without its root
 * @throws {CosignError} `CERTIFICATE_INVALID` for a leaf for another key;
 *   `CERTIFICATE_UNTRUSTED`, `CERTIFICATE_EXPIRED`, `SCT_MISSING`, `SCT_INVALID`,
 *   `CERTIFICATE_IDENTITY_MISMATCH` from the checks
 * @example
 * ```ts
 * import { checkFulcioCertificate, getIdentityToken, KeySigner, parseTrustedRoot, requestSigningCertificate } from "@cosign-deno/cosign";
 * import { createPublicKey, generateKeyPairSync } from "node:crypto";
 * const token = await getIdentityToken();
 * const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
 * const signer = new KeySigner(privateKey);
 * const chain = await requestSigningCertificate(
 *   { url: "https://fulcio.sigstore.dev" },
 *   token,
 *   await signer.publicKeyPem(),
 *   await signer.sign(new TextEncoder().encode(token.subject)),
 * );
 * const spki = new Uint8Array(createPublicKey(privateKey).export({ type: "spki", format: "der" }));
 * const root = parseTrustedRoot(await Deno.readFile("trusted_root.json"));
 * const { check } = checkFulcioCertificate(chain.certificates, root, spki, token.issuer);
 * console.log(check.subject);
 * ```
 */
export function checkFulcioCertificate(
  chain: readonly Uint8Array[],
  root: TrustedRoot,
  publicKeySpki: Uint8Array,
  issuer: string,
  now: Date = new Date(),
): { check: CertificateCheck; certificates: Uint8Array[] } {
  const parsed = chain.map((d, i) =>
    parseCertificate(d, i === 0 ? "Fulcio's certificate" : `Fulcio chain certificate ${i}`)
  );
  const withoutRoots = parsed.filter((c, i) => i === 0 || !c.selfSigned).map((c) => c.der);
  const certs = parseBundleCertificates(withoutRoots);
  if (!bytesEqual(certs[0]!.spki, publicKeySpki)) {
    throw new CosignError(
      "CERTIFICATE_INVALID",
      "Fulcio's certificate is for another public key than the one sent",
    );
  }
  const check = verifySigningCertificate(certs, root, [now], { identity: { issuer } });
  return { check, certificates: withoutRoots };
}

/** UTF-8 bytes of the proof-of-possession subject. */
export function proofSubject(token: IdentityToken): Uint8Array {
  return utf8(token.subject);
}
