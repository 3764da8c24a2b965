/**
 * The keyless side of the signing commands (cosign-spec §7, §15): without `--key`, `sign`,
 * `attest`, `sign-blob` and `attest-blob` get a certificate for an ephemeral key from Fulcio
 * (lib/cosign/keyless_sign.ts). Flags, service selection and the trust check of Fulcio's answer.
 *
 * Services (cosign v3, `signcommon.LoadTrustedMaterialAndSigningConfig`): with
 * `--use-signing-config` (the default) or `--signing-config FILE`, Fulcio, the OIDC issuer,
 * Rekor and the TSAs come from the signing config (the file, else `signing_config.v0.2.json`
 * from TUF); explicit `--fulcio-url`, `--rekor-url` (other than the default), `--oidc-issuer`
 * (other than the default) or `--timestamp-server-url` with it are a usage error, and so is
 * `--tlog-upload=false`. With `--use-signing-config=false` the explicit flags are used.
 * Rekor v1 and v2 logs are selected (the highest version with a valid entry, as sigstore-go);
 * every selected log records the signature (lib/cli/tlog_record.ts). As in cosign, keyless
 * signing with a Rekor v2 log needs a TSA (Rekor v2 gives no signed time), and Rekor v2
 * entries go only into Sigstore bundles (the legacy layouts hold a v1 SET).
 *
 * Difference from cosign v3: signing with `--key` uses a signing config only when
 * `--signing-config FILE` is given; otherwise it keeps cosign v2's `--rekor-url` and
 * `--timestamp-server-url` (cosign v3 would also read TUF's signing config for a keyed signature
 * unless `--use-signing-config=false`).
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import type { VerifiableSigner } from "../crypto/key_signer.ts";
import { readFileBytes, readTextFile } from "../cosign/keyref.ts";
import { bool, type FlagValues, str } from "./args.ts";
import { info } from "./io.ts";
import { loadTrustedRoot, tufOptionsFromEnv } from "./trust.ts";
import { commandDeadline } from "./deadline_flag.ts";

/** Flags of keyless signing (cosign v3 names). */
export const KEYLESS_SIGN_FLAGS = {
  "fulcio-url": {
    type: "string",
    value: "URL",
    check: "url",
    description: "address of Fulcio (with --use-signing-config=false)",
  },
  "timestamp-server-url": {
    type: "string",
    value: "URL",
    check: "url",
    description: "RFC 3161 timestamp authority to timestamp the signature",
  },
  "identity-token": {
    type: "string",
    value: "JWT|FILE",
    description: "OIDC identity token for Fulcio, or a file holding it",
  },
  "oidc-issuer": {
    type: "string",
    default: "https://oauth2.sigstore.dev/auth",
    value: "URL",
    check: "url",
    description: "OIDC provider for interactive login",
  },
  "oidc-client-id": {
    type: "string",
    default: "sigstore",
    value: "ID",
    description: "OIDC client ID for interactive login",
  },
  "oidc-client-secret-file": {
    type: "string",
    value: "FILE",
    check: "file",
    description: "file holding the OIDC client secret for interactive login",
  },
  "oidc-redirect-url": {
    type: "string",
    value: "URL",
    check: "url",
    description:
      "loopback redirect URL of the browser login (default http://localhost:0/auth/callback)",
  },
  "fulcio-auth-flow": {
    type: "string",
    value: "normal|device",
    description:
      "interactive login: browser (normal) or device flow (default device when stdin is not a terminal)",
  },
  "oidc-disable-ambient-providers": {
    type: "boolean",
    default: false,
    description: "do not look for tokens in SIGSTORE_ID_TOKEN, GitHub Actions or the filesystem",
  },
  "use-signing-config": {
    type: "boolean",
    default: true,
    description:
      "pick Fulcio, Rekor and TSA from a signing config; false: --fulcio-url, --rekor-url, --timestamp-server-url",
  },
  "signing-config": {
    type: "string",
    value: "FILE",
    check: "file",
    description: "signing_config.json (v0.2) naming Fulcio, Rekor and TSA",
  },
} as const;

/** cosign's default service URLs: equal to them counts as not given (as cosign compares). */
const DEFAULT_REKOR_URL = "https://rekor.sigstore.dev";
const DEFAULT_FULCIO_URL = "https://fulcio.sigstore.dev";
const DEFAULT_OIDC_ISSUER = "https://oauth2.sigstore.dev/auth";

/** The Rekor major API versions this build can write to. */
export const SUPPORTED_REKOR_VERSIONS: readonly number[] = [1, 2];

/** A transparency log to record signatures in. */
export interface RekorLog {
  /** The log's base URL. */
  readonly url: string;
  /** Its API: 1 (`/api/v1/log/entries`) or 2 (`/api/v2/log/entries`). */
  readonly majorApiVersion: 1 | 2;
}

/** The services a signing command uses. */
export interface SigningServices {
  /** Fulcio (keyless only). */
  readonly fulcioUrl?: string | undefined;
  /** The OIDC issuer for interactive login. */
  readonly oidcIssuer: string;
  /** The transparency logs to record the signature in; empty: no upload. */
  readonly rekorLogs: readonly RekorLog[];
  /** The TSAs to timestamp the signature with (a signing config's selection may name several). */
  readonly tsaUrls: readonly string[];
  /** Whether they came from a signing config. */
  readonly fromSigningConfig: boolean;
}

/**
 * The services of a signing command (see the module doc for cosign's rules).
 * @param options `keyless`: no `--key`; `upload`: the command would upload at all (e.g. not
 *   `--upload=false`); `legacyOutput`: the log entry goes into a legacy layout (names it, for
 *   the error when a Rekor v2 log is selected)
 * @throws {UsageError} for explicit URLs with a signing config, `--tlog-upload=false` with a
 *   signing config, keyless without Fulcio, a Rekor v2 log with a legacy layout or (keyless)
 *   without a TSA
 */
export async function signingServices(
  flags: FlagValues,
  options: { keyless: boolean; upload?: boolean; legacyOutput?: string | undefined },
): Promise<SigningServices> {
  const upload = (options.upload ?? true) && bool(flags, "tlog-upload");
  const rekorFlag = str(flags, "rekor-url");
  const fulcioFlag = str(flags, "fulcio-url");
  const issuerFlag = str(flags, "oidc-issuer") ?? DEFAULT_OIDC_ISSUER;
  const tsaFlag = str(flags, "timestamp-server-url");
  const configPath = str(flags, "signing-config");
  const useConfig = configPath !== undefined ||
    (options.keyless && bool(flags, "use-signing-config"));
  if (!useConfig) {
    if (options.keyless && !fulcioFlag) {
      throw new UsageError(
        "keyless signing with --use-signing-config=false needs --fulcio-url (or sign with --key)",
      );
    }
    return await consented(flags, {
      fulcioUrl: fulcioFlag,
      oidcIssuer: issuerFlag,
      rekorLogs: upload ? [{ url: rekorFlag ?? DEFAULT_REKOR_URL, majorApiVersion: 1 }] : [],
      tsaUrls: tsaFlag ? [tsaFlag] : [],
      fromSigningConfig: false,
    });
  }
  const explicit = (rekorFlag !== undefined && rekorFlag !== DEFAULT_REKOR_URL) ||
    (fulcioFlag !== undefined && fulcioFlag !== DEFAULT_FULCIO_URL) ||
    issuerFlag !== DEFAULT_OIDC_ISSUER || tsaFlag !== undefined;
  if (explicit) {
    throw new UsageError(
      "cannot specify service URLs and use signing config: drop --fulcio-url, --rekor-url, --oidc-issuer and --timestamp-server-url, or pass --use-signing-config=false",
    );
  }
  if (!bool(flags, "tlog-upload")) {
    throw new UsageError(
      "--tlog-upload=false is not supported with --signing-config or --use-signing-config: provide a signing config without a transparency log (cosign signing-config create), or pass --use-signing-config=false",
    );
  }
  const { parseSigningConfig, selectServices } = await import("../trust/signing_config.ts");
  let bytes: Uint8Array | undefined;
  if (configPath) bytes = await readFileBytes(configPath, "signing config");
  else {
    const { signingConfigFromTuf } = await import("../trust/tuf.ts");
    try {
      bytes = await signingConfigFromTuf(await tufOptionsFromEnv());
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      throw new CosignError(
        e.code,
        `${e.message} (cannot get the signing config from TUF: pass --signing-config FILE, or --use-signing-config=false with --fulcio-url and --rekor-url, or sign with --key)`,
      );
    }
    if (!bytes) {
      throw new CosignError(
        "TRUSTED_ROOT_INVALID",
        "The TUF repository has no signing_config.v0.2.json: pass --signing-config FILE, or --use-signing-config=false with --fulcio-url and --rekor-url, or sign with --key",
      );
    }
  }
  const selected = selectServices(parseSigningConfig(bytes), {
    rekorVersions: SUPPORTED_REKOR_VERSIONS,
  });
  if (options.keyless && !selected.fulcio) {
    throw new UsageError(
      `the signing config${
        configPath ? ` ${configPath}` : ""
      } names no Fulcio valid now: keyless signing needs one (or sign with --key)`,
    );
  }
  // cosign: a signing config without transparency logs means no upload.
  const rekorLogs = upload
    ? selected.rekor.map((r) => ({ url: r.url, majorApiVersion: r.majorApiVersion as 1 | 2 }))
    : [];
  const v2 = rekorLogs.find((r) => r.majorApiVersion === 2);
  if (v2 && options.legacyOutput) {
    throw new UsageError(
      `the signing config selects the Rekor v2 log ${v2.url}, whose entries only a Sigstore bundle holds, not ${options.legacyOutput}: pass --new-bundle-format`,
    );
  }
  // cosign (pkg/cosign/bundle/sign.go): Rekor v2 gives no signed time, a TSA must.
  if (v2 && options.keyless && selected.tsa.length === 0) {
    throw new UsageError(
      `a timestamp authority must be provided to request a short-lived certificate that will be logged to Rekor v2 (${v2.url}): the signing config names no TSA valid now`,
    );
  }
  return await consented(flags, {
    fulcioUrl: selected.fulcio?.url,
    oidcIssuer: selected.oidc?.url ?? issuerFlag,
    rekorLogs,
    tsaUrls: selected.tsa.map((t) => t.url),
    fromSigningConfig: true,
  });
}

/**
 * cosign (`signcommon.ShouldUploadToTlog`): before a signature is published to a transparency
 * log, keyed or keyless, its privacy notice is shown and, on a terminal without `-y`, `[y/N]`
 * asked, once per process; before any password, token or certificate is asked for.
 */
async function consented(flags: FlagValues, services: SigningServices): Promise<SigningServices> {
  if (services.rekorLogs.length > 0) {
    const { confirmPublication } = await import("./consent.ts");
    await confirmPublication({ yes: bool(flags, "yes") });
  }
  return services;
}

/** RFC 3161 timestamps (DER responses) over `signature` from each of the services' TSAs. */
export async function timestampsFor(
  services: SigningServices,
  signature: Uint8Array,
  flags?: FlagValues,
): Promise<Uint8Array[]> {
  if (services.tsaUrls.length === 0) return [];
  const { requestTimestamp } = await import("../tlog/tsa_client.ts");
  const fetchImpl = flags ? commandDeadline(flags)?.fetch() : undefined;
  const out: Uint8Array[] = [];
  for (const url of services.tsaUrls) {
    out.push(
      await requestTimestamp({ url, ...(fetchImpl ? { fetch: fetchImpl } : {}) }, signature),
    );
  }
  return out;
}

/** The signer a signing command uses, and its certificate when it has one. */
export interface ResolvedSigner {
  /** The signer (a key, or the ephemeral keyless key). */
  readonly signer: VerifiableSigner;
  /** The certificate (PEM) and chain (PEM) recorded with the signature. */
  readonly certificate?: { readonly pem: string; readonly chainPem: string } | undefined;
  /** The leaf certificate DER, for Sigstore bundles. */
  readonly certificateDer?: Uint8Array | undefined;
}

/**
 * Opens `url` in the desktop's browser (`xdg-open`, macOS `open`, Windows `explorer`), without a
 * shell; failures are ignored (the URL is printed anyway).
 */
function openInBrowser(url: string): void {
  const program = Deno.build.os === "darwin"
    ? "open"
    : Deno.build.os === "windows"
    ? "explorer"
    : "xdg-open";
  const child = new Deno.Command(program, {
    args: [url],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.status.catch(() => {});
  child.unref();
}

/** The interactive login the flags describe (`--fulcio-auth-flow`, `--oidc-*`), on stderr. */
export function interactiveLogin(
  flags: FlagValues,
  issuer: string,
): () => Promise<string> {
  const flowFlag = str(flags, "fulcio-auth-flow");
  if (flowFlag !== undefined && flowFlag !== "normal" && flowFlag !== "device") {
    throw new UsageError(`--fulcio-auth-flow must be normal or device, not "${flowFlag}"`);
  }
  return async () => {
    const terminal = Deno.stdin.isTerminal();
    const flow = (flowFlag as "normal" | "device" | undefined) ?? (terminal ? "normal" : "device");
    const secretFile = str(flags, "oidc-client-secret-file");
    const clientSecret = secretFile
      ? (await readTextFile(secretFile, "OIDC client secret file")).trim()
      : undefined;
    const redirectUrl = str(flags, "oidc-redirect-url");
    const { interactiveIdentityToken } = await import("../oidc/interactive.ts");
    return await interactiveIdentityToken({
      issuer,
      clientId: str(flags, "oidc-client-id") ?? "sigstore",
      flow,
      print: (line) => info(line),
      ...(clientSecret ? { clientSecret } : {}),
      ...(redirectUrl ? { redirectUrl } : {}),
      // A person at a terminal gets the browser opened, as cosign does; scripts get the URL.
      ...(terminal ? { openBrowser: openInBrowser } : {}),
    });
  };
}

/**
 * A keyless signer from the flags and the services ({@link signingServices}, which asked
 * cosign's privacy question when the signature will be published): the token (cosign's sources, then interactive login), Fulcio's certificate checked against
 * the trusted root before it is used. Prints the identity certified.
 * @param services from {@link signingServices}
 * @param interactive the interactive login (default {@link interactiveLogin} of the flags)
 */
export async function keylessSignerFromFlags(
  flags: FlagValues,
  services: SigningServices,
  interactive?: () => Promise<string>,
): Promise<ResolvedSigner> {
  const fulcioUrl = services.fulcioUrl;
  if (!fulcioUrl) throw new UsageError("keyless signing needs Fulcio: pass --fulcio-url");
  const login = interactive ?? interactiveLogin(flags, services.oidcIssuer);
  const trustedRoot = await loadTrustedRoot(flags);
  if (!trustedRoot || trustedRoot.certificateAuthorities.length === 0) {
    throw new UsageError(
      "keyless signing needs --trusted-root FILE (or SIGSTORE_ROOT_FILE) with Fulcio's certificate authorities and CT logs, to check the certificate before signing",
    );
  }
  const { createKeylessSigner } = await import("../cosign/keyless_sign.ts");
  const signer = await createKeylessSigner({
    fulcioUrl,
    trustedRoot,
    token: {
      identityToken: str(flags, "identity-token"),
      disableAmbientProviders: bool(flags, "oidc-disable-ambient-providers"),
      interactive: login,
    },
    backoffMs: (n) => 500 * 2 ** (n - 1),
    retries: 2,
    fetch: commandDeadline(flags)?.fetch(),
  });
  await info(
    `Successfully verified SCT...\nCertificate issued for ${signer.check.subject} by ${signer.check.issuer}`,
  );
  return {
    signer,
    certificate: { pem: signer.certificate.pem, chainPem: signer.certificate.chainPem },
    certificateDer: signer.certificate.der,
  };
}
