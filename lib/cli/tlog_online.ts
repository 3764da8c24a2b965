/**
 * Trust for the online transparency-log checks (cosign-spec §5.4, §6.8; the search itself is
 * `lib/cosign/tlog_search.ts`).
 *
 * Trust comes from the same places as for offline checks, `--trusted-root` or
 * `SIGSTORE_REKOR_PUBLIC_KEY`. As in cosign, the key the log itself serves
 * (`GET /api/v1/log/publicKey`) is trusted only when `SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY` is set
 * (cosign documents it as for testing: whoever answers for the log could then forge entries), and
 * with a warning, and then TUF is not consulted. Without any of them the trusted root comes from
 * TUF (`cosign initialize`).
 * @module
 */

import { CosignError } from "../errors.ts";
import type { RekorClient } from "../tlog/rekor.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import type { FlagValues } from "./args.ts";
import { info } from "./io.ts";
import { loadTrustedRoot, rootForRekorKey } from "./trust.ts";

/** cosign's environment variable for trusting the key the Rekor API serves (testing only). */
export const TRUST_REKOR_API_KEY_ENV = "SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY";

/**
 * The trust material for checking entries found online: `--trusted-root` or
 * `SIGSTORE_REKOR_PUBLIC_KEY`, plus, with `SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY` set, the key the
 * log serves (after cosign's warning).
 * @throws {CosignError} `TRUSTED_ROOT_MISSING` when there is none
 */
export async function onlineTrustedRoot(
  flags: FlagValues,
  rekor: RekorClient,
  options: { certificateAuthorities?: boolean } = {},
): Promise<TrustedRoot> {
  // With the log's own key asked for, TUF is not consulted (as cosign: that key replaces it).
  const apiKey = !!Deno.env.get(TRUST_REKOR_API_KEY_ENV);
  const root = await loadTrustedRoot(flags, { ...(apiKey ? { tuf: false } : {}), ...options });
  if (!apiKey) {
    if (root) return root;
    throw new CosignError(
      "TRUSTED_ROOT_MISSING",
      `Checking the transparency log ${rekor.url} needs its key: pass --trusted-root FILE or ` +
        `SIGSTORE_REKOR_PUBLIC_KEY=rekor.pub (or set ${TRUST_REKOR_API_KEY_ENV}=1 to trust the ` +
        `key the log serves, for testing); or pass --insecure-ignore-tlog`,
    );
  }
  await info(
    `**Warning ('${TRUST_REKOR_API_KEY_ENV}' is only for testing)** Fetching public key from Rekor API directly`,
  );
  const json = rootForRekorKey(
    await rekor.publicKey(),
    `the public key ${rekor.url} serves (${TRUST_REKOR_API_KEY_ENV})`,
  ) as { tlogs: Record<string, unknown>[] };
  for (const t of json.tlogs) t.baseUrl = rekor.url;
  const { parseTrustedRoot } = await import("../trust/trusted_root.ts");
  const fromApi = parseTrustedRoot(json);
  return root ? { ...root, tlogs: [...root.tlogs, ...fromApi.tlogs] } : fromApi;
}

/**
 * The trust material for checking what the log answers to an upload (issue 21.3): as
 * {@link onlineTrustedRoot}, but when there is none the upload goes on and a one-line warning
 * says its signed entry timestamp cannot be checked (the entry is still checked against what
 * was sent). `options.tuf`: TUF may supply it (services from a signing config, as cosign v3
 * loads the trusted root with one).
 */
export async function uploadTrustedRoot(
  flags: FlagValues,
  rekor: RekorClient,
  options: { tuf?: boolean } = {},
): Promise<TrustedRoot | undefined> {
  if (Deno.env.get(TRUST_REKOR_API_KEY_ENV)) return await onlineTrustedRoot(flags, rekor);
  const root = await loadTrustedRoot(flags, { tuf: options.tuf ?? false });
  if (root === undefined) {
    await info(
      `WARNING: no trust material for the transparency log ${rekor.url} (--trusted-root or ` +
        `SIGSTORE_REKOR_PUBLIC_KEY): its answer is checked against the entry sent, but its ` +
        `signed entry timestamp is not verified`,
    );
  }
  return root;
}
