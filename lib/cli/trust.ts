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
import { CosignError, UsageError } from "../errors.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import { type FlagValues, str } from "./args.ts";
import { info } from "./io.ts";
import type { TufOptions } from "../trust/tuf.ts";

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

/**
 * A trusted root holding one Rekor key, as cosign's `SIGSTORE_REKOR_PUBLIC_KEY` provides it.
 * @param what where the key came from, for messages (default `SIGSTORE_REKOR_PUBLIC_KEY`)
 */
export function rootForRekorKey(
  pem: string,
  what = "SIGSTORE_REKOR_PUBLIC_KEY",
): Record<string, unknown> {
  return { ...emptyRoot(), tlogs: [logFor(pem, what)] };
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

/**
 * The certificate authorities `--ca-roots` (each certificate a trust anchor) with
 * `--ca-intermediates`, or `--certificate-chain` (the signing certificate's issuer first, its
 * root last), name, as trusted-root `certificateAuthorities` items; undefined when neither is
 * given. As cosign: the two forms are exclusive, and intermediates need roots.
 * @throws {UsageError} the flags combined wrongly
 */
export async function authoritiesFromFlags(
  flags: FlagValues,
): Promise<Record<string, unknown>[] | undefined> {
  const roots = str(flags, "ca-roots");
  const intermediates = str(flags, "ca-intermediates");
  const chain = str(flags, "certificate-chain");
  if (chain !== undefined && (roots !== undefined || intermediates !== undefined)) {
    throw new UsageError("--certificate-chain and --ca-roots/--ca-intermediates are exclusive");
  }
  if (intermediates !== undefined && roots === undefined) {
    throw new UsageError("--ca-intermediates needs --ca-roots");
  }
  if (chain !== undefined) {
    const certs = pemCertificates(
      await readTextFile(chain, "--certificate-chain"),
      `--certificate-chain ${chain}`,
    );
    return [chainItem(certs, "")];
  }
  if (roots === undefined) return undefined;
  const anchors = pemCertificates(await readTextFile(roots, "--ca-roots"), `--ca-roots ${roots}`);
  const middle = intermediates === undefined ? [] : pemCertificates(
    await readTextFile(intermediates, "--ca-intermediates"),
    `--ca-intermediates ${intermediates}`,
  );
  // Each root an authority; the intermediates may complete a path to any of them.
  return anchors.map((root) => chainItem([...middle, root], ""));
}

/**
 * The trust material the flags and environment name: `--trusted-root`, else the `SIGSTORE_*`
 * files, else (unless `--offline` or `tuf: false`) the `trusted_root.json` of the TUF
 * repository that `cosign initialize` chose (see {@link tufOptionsFromEnv}); undefined when
 * there is none. `--trusted-root`, the `SIGSTORE_*` files and `--offline` never touch the
 * network or the TUF cache. With `certificateAuthorities` (verify commands), the CAs of
 * {@link authoritiesFromFlags} replace the Fulcio CAs found.
 */
export async function loadTrustedRoot(
  flags: FlagValues,
  options: { tuf?: boolean; certificateAuthorities?: boolean } = {},
): Promise<TrustedRoot | undefined> {
  const { parseTrustedRoot } = await import("../trust/trusted_root.ts");
  const authorities = options.certificateAuthorities
    ? await authoritiesFromFlags(flags)
    : undefined;
  const root = await loadTrustedRootOnly(flags, options);
  if (!authorities) return root;
  // The flags' CAs replace the trusted root's Fulcio CAs; logs and TSAs stay.
  const cas = parseTrustedRoot({ ...emptyRoot(), certificateAuthorities: authorities })
    .certificateAuthorities;
  return root
    ? { ...root, certificateAuthorities: cas }
    : parseTrustedRoot({ ...emptyRoot(), certificateAuthorities: authorities });
}

async function loadTrustedRootOnly(
  flags: FlagValues,
  options: { tuf?: boolean },
): Promise<TrustedRoot | undefined> {
  const rootPath = str(flags, "trusted-root");
  const { parseTrustedRoot } = await import("../trust/trusted_root.ts");
  if (rootPath) return parseTrustedRoot(await readFileBytes(rootPath, "trusted root"));
  const env = (name: string) => Deno.env.get(name) || undefined;
  const rekorKey = env("SIGSTORE_REKOR_PUBLIC_KEY");
  const fulcio = env("SIGSTORE_ROOT_FILE");
  const ctKey = env("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE");
  const tsa = env("SIGSTORE_TSA_CERTIFICATE_FILE");
  if (!rekorKey && !fulcio && !ctKey && !tsa) {
    if (options.tuf === false || flags["offline"] === true) return undefined;
    const { trustedRootFromTuf } = await import("../trust/tuf.ts");
    return await trustedRootFromTuf(await tufOptionsFromEnv());
  }
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

/** The file in the TUF cache folder where `cosign initialize` records the mirror it chose. */
export const TUF_REMOTE_FILE = "remote.json";

/**
 * The TUF cache folder: `TUF_ROOT`, else `~/.sigstore/root` (sigstore-go's `DefaultOptions`,
 * which cosign v3 uses; cosign v2 used the same folder).
 */
export function tufCacheDir(): string {
  const fromEnv = Deno.env.get("TUF_ROOT");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  return `${home ?? Deno.makeTempDirSync()}/.sigstore/root`;
}

/**
 * The TUF client options from the environment: cache `TUF_ROOT` (see {@link tufCacheDir}),
 * mirror `TUF_MIRROR`, else the one `cosign initialize` recorded in the cache, else Sigstore's
 * public-good mirror; initial root `TUF_ROOT_JSON` (a file) when set. Warnings go to stderr.
 */
export async function tufOptionsFromEnv(): Promise<TufOptions> {
  const cacheDir = tufCacheDir();
  let mirror = Deno.env.get("TUF_MIRROR") || undefined;
  if (!mirror) {
    try {
      const remote = JSON.parse(await Deno.readTextFile(`${cacheDir}/${TUF_REMOTE_FILE}`));
      if (typeof remote?.mirror === "string") mirror = remote.mirror;
    } catch {
      // no initialize yet: the default mirror
    }
  }
  const rootFile = Deno.env.get("TUF_ROOT_JSON");
  const root = rootFile ? await readFileBytes(rootFile, "TUF_ROOT_JSON") : undefined;
  return { mirror, cacheDir, root, onWarning: (m) => void info(`WARNING: ${m}`) };
}
