/**
 * Trust material for offline transparency-log checks: `--trusted-root trusted_root.json`, else
 * cosign's `SIGSTORE_REKOR_PUBLIC_KEY` (a PEM file with one Rekor key).
 * @module
 */

import { createHash } from "node:crypto";
import { readFileBytes, readTextFile } from "../cosign/keyref.ts";
import { toBase64 } from "../crypto/encoding.ts";
import { keyAlgorithm, parsePublicKeyPem } from "../crypto/keys.ts";
import type { TrustedRoot } from "../tlog/trusted_root.ts";
import { type FlagValues, str } from "./args.ts";

/** A trusted root holding one Rekor key, as cosign's `SIGSTORE_REKOR_PUBLIC_KEY` provides it. */
export function rootForRekorKey(pem: string): Record<string, unknown> {
  const key = parsePublicKeyPem(pem, "SIGSTORE_REKOR_PUBLIC_KEY");
  const der = new Uint8Array(key.export({ format: "der", type: "spki" }));
  const details: Record<string, string> = {
    "ecdsa-p256": "PKIX_ECDSA_P256_SHA_256",
    "ecdsa-p384": "PKIX_ECDSA_P384_SHA_384",
    "ecdsa-p521": "PKIX_ECDSA_P521_SHA_512",
    ed25519: "PKIX_ED25519",
    rsa: "PKIX_RSA_PKCS1V15_2048_SHA256",
  };
  return {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [{
      baseUrl: "",
      hashAlgorithm: "SHA2_256",
      publicKey: {
        rawBytes: toBase64(der),
        keyDetails: details[keyAlgorithm(key, "SIGSTORE_REKOR_PUBLIC_KEY")],
        validFor: { start: "1970-01-01T00:00:00Z" },
      },
      logId: { keyId: toBase64(createHash("sha256").update(der).digest()) },
    }],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}

/** The trust material the flags and environment name, or undefined when there is none. */
export async function loadTrustedRoot(flags: FlagValues): Promise<TrustedRoot | undefined> {
  const rootPath = str(flags, "trusted-root");
  const rekorKeyPath = Deno.env.get("SIGSTORE_REKOR_PUBLIC_KEY");
  if (!rootPath && !rekorKeyPath) return undefined;
  const { parseTrustedRoot } = await import("../tlog/trusted_root.ts");
  return rootPath
    ? parseTrustedRoot(await readFileBytes(rootPath, "trusted root"))
    : parseTrustedRoot(rootForRekorKey(await readTextFile(rekorKeyPath!, "Rekor public key")));
}
