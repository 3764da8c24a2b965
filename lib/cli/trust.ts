/**
 * Trust material for offline verification: `--trusted-root trusted_root.json`, else cosign's
 * environment variables, each a PEM file: `SIGSTORE_REKOR_PUBLIC_KEY` (a Rekor key),
 * `SIGSTORE_ROOT_FILE` (Fulcio roots and intermediates: self-signed certificates are roots, the
 * others intermediates), `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE` (a CT log key) and
 * `SIGSTORE_TSA_CERTIFICATE_FILE` (a TSA chain, leaf first). Keys and CAs from the environment
 * carry no validity window.
 * @module
 */

import { createHash, X509Certificate } from "node:crypto";
import { readFileBytes, readTextFile } from "../cosign/keyref.ts";
import { toBase64 } from "../crypto/encoding.ts";
import { keyAlgorithm, parsePublicKeyPem, spkiDer } from "../crypto/keys.ts";
import { CosignError } from "../errors.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { type FlagValues, str } from "./args.ts";

const KEY_DETAILS: Record<string, string> = {
  "ecdsa-p256": "PKIX_ECDSA_P256_SHA_256",
  "ecdsa-p384": "PKIX_ECDSA_P384_SHA_384",
  "ecdsa-p521": "PKIX_ECDSA_P521_SHA_512",
  ed25519: "PKIX_ED25519",
  rsa: "PKIX_RSA_PKCS1V15_2048_SHA256",
};

/** A trusted-root `tlogs`/`ctlogs` item for a PEM public key, valid from the epoch on. */
function logFor(pem: string, what: string): Record<string, unknown> {
  const key = parsePublicKeyPem(pem, what);
  const der = spkiDer(key);
  return {
    baseUrl: "",
    hashAlgorithm: "SHA2_256",
    publicKey: {
      rawBytes: toBase64(der),
      keyDetails: KEY_DETAILS[keyAlgorithm(key, what)],
      validFor: { start: "1970-01-01T00:00:00Z" },
    },
    logId: { keyId: toBase64(createHash("sha256").update(der).digest()) },
  };
}

function emptyRoot(): Record<string, unknown[] | string> {
  return {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}

/** A trusted root holding one Rekor key, as cosign's `SIGSTORE_REKOR_PUBLIC_KEY` provides it. */
export function rootForRekorKey(pem: string): Record<string, unknown> {
  return { ...emptyRoot(), tlogs: [logFor(pem, "SIGSTORE_REKOR_PUBLIC_KEY")] };
}

/** All certificates of a PEM bundle. */
function pemCertificates(text: string, what: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) throw new CosignError("PEM_INVALID", `Cannot read ${what}: no certificate found`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new CosignError(
        "PEM_INVALID",
        `Cannot read ${what}: certificate ${i + 1} is not valid (${(e as Error).message})`,
      );
    }
  });
}

function isSelfSigned(c: X509Certificate): boolean {
  return c.checkIssued(c) && c.verify(c.publicKey);
}

function chainItem(chain: X509Certificate[], uri: string): Record<string, unknown> {
  return {
    subject: {},
    uri,
    certChain: { certificates: chain.map((c) => ({ rawBytes: toBase64(c.raw) })) },
    validFor: { start: "1970-01-01T00:00:00Z" },
  };
}

/**
 * Certificate authorities from a PEM bundle (`SIGSTORE_ROOT_FILE`): one per self-signed root,
 * its chain made of the bundle's intermediates that lead to it (leaf-most first).
 */
export function authoritiesFromPem(text: string, what: string): Record<string, unknown>[] {
  const certs = pemCertificates(text, what);
  const roots = certs.filter(isSelfSigned);
  if (roots.length === 0) {
    throw new CosignError("TRUSTED_ROOT_INVALID", `${what} holds no self-signed root certificate`);
  }
  const intermediates = certs.filter((c) => !isSelfSigned(c));
  return roots.map((root) => {
    const chain = [root];
    for (let grew = true; grew;) {
      grew = false;
      for (const c of intermediates) {
        if (!chain.includes(c) && c.checkIssued(chain[0]!) && c.verify(chain[0]!.publicKey)) {
          chain.unshift(c);
          grew = true;
        }
      }
    }
    return chainItem(chain, "");
  });
}

/** The trust material the flags and environment name, or undefined when there is none. */
export async function loadTrustedRoot(flags: FlagValues): Promise<TrustedRoot | undefined> {
  const rootPath = str(flags, "trusted-root");
  const { parseTrustedRoot } = await import("../trust/trusted_root.ts");
  if (rootPath) return parseTrustedRoot(await readFileBytes(rootPath, "trusted root"));
  const env = (name: string) => Deno.env.get(name) || undefined;
  const rekorKey = env("SIGSTORE_REKOR_PUBLIC_KEY");
  const fulcio = env("SIGSTORE_ROOT_FILE");
  const ctKey = env("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE");
  const tsa = env("SIGSTORE_TSA_CERTIFICATE_FILE");
  if (!rekorKey && !fulcio && !ctKey && !tsa) return undefined;
  const root = emptyRoot();
  if (rekorKey) {
    root.tlogs = [
      logFor(await readTextFile(rekorKey, "Rekor public key"), "SIGSTORE_REKOR_PUBLIC_KEY"),
    ];
  }
  if (fulcio) {
    root.certificateAuthorities = authoritiesFromPem(
      await readTextFile(fulcio, "SIGSTORE_ROOT_FILE"),
      "SIGSTORE_ROOT_FILE",
    );
  }
  if (ctKey) {
    root.ctlogs = [
      logFor(await readTextFile(ctKey, "CT log public key"), "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE"),
    ];
  }
  if (tsa) {
    const what = "SIGSTORE_TSA_CERTIFICATE_FILE";
    root.timestampAuthorities = [
      chainItem(pemCertificates(await readTextFile(tsa, what), what), ""),
    ];
  }
  return parseTrustedRoot(root);
}
