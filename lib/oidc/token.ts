/**
 * Identity tokens for keyless signing (cosign-spec §7.1), from the sources cosign tries in
 * order: `--identity-token` (the JWT, or a file holding it), then the ambient providers
 * (`SIGSTORE_ID_TOKEN`, GitHub Actions, the filesystem token
 * `/var/run/sigstore/cosign/oidc-token`) unless they are disabled, then interactive login when
 * the caller supplies it. The token's claims are read without verifying it: Fulcio verifies it;
 * here they only name the identity the proof of possession signs.
 * @module
 */

import { CosignError } from "../errors.ts";

/** The filesystem token cosign reads (`pkg/providers/filesystem`). */
export const FILESYSTEM_TOKEN_PATH = "/var/run/sigstore/cosign/oidc-token";

/** The audience Fulcio requires. */
export const SIGSTORE_AUDIENCE = "sigstore";

/** Most bytes read for a token (file, environment or GitHub answer). */
const MAX_TOKEN_BYTES = 64 * 1024;

/** An identity token with its (unverified) claims. */
export interface IdentityToken {
  /** The compact JWT. */
  readonly raw: string;
  /** Where it came from: `--identity-token`, `SIGSTORE_ID_TOKEN`, `github-actions`, … */
  readonly source: string;
  /** The payload claims. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The `iss` claim. */
  readonly issuer: string;
  /**
   * What the proof of possession signs: the `email` claim when present (it must then be
   * verified, `email_verified: true`), else `sub`.
   */
  readonly subject: string;
}

/** Where tokens are looked for; every field has a default for the real environment. */
export interface TokenSourceOptions {
  /** `--identity-token`: the JWT itself or a file holding it. */
  readonly identityToken?: string | undefined;
  /** `--oidc-disable-ambient-providers`: skip the environment, CI and filesystem sources. */
  readonly disableAmbientProviders?: boolean | undefined;
  /** Reads environment variables (default `Deno.env.get`). */
  readonly env?: ((name: string) => string | undefined) | undefined;
  /** `fetch` for the GitHub Actions token request (default the global one). */
  readonly fetch?: typeof fetch | undefined;
  /** The filesystem token's path (default {@link FILESYSTEM_TOKEN_PATH}). */
  readonly filesystemTokenPath?: string | undefined;
  /**
   * Interactive login (browser or device flow), tried last; returns the raw JWT. Without it,
   * no token from the other sources is an error naming `--identity-token`.
   */
  readonly interactive?: (() => Promise<string>) | undefined;
}

function invalid(source: string, why: string): CosignError {
  return new CosignError("OIDC_TOKEN_INVALID", `The identity token from ${source} ${why}`);
}

function base64UrlJson(part: string): unknown {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new Error("not base64url");
  const bytes = Uint8Array.fromBase64(part, { alphabet: "base64url" });
  return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
}

/**
 * Parses a compact JWT without verifying it, and derives the proof-of-possession subject.
 * @param raw the token
 * @param source where it came from (for messages)
 * @throws {CosignError} `OIDC_TOKEN_INVALID` for a value that is not a JWT, or a JWT without
 *   `iss`, or without `sub` and a verified `email`
 * @example
 * ```ts
 * import { parseIdentityToken } from "@cosign-deno/cosign";
 * const jwt = await Deno.readTextFile("token.jwt");
 * parseIdentityToken(jwt.trim(), "token.jwt").subject; // e.g. "alice@example.com"
 * ```
 */
export function parseIdentityToken(raw: string, source: string): IdentityToken {
  const token = raw.trim();
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] === "" || parts[1] === "") {
    throw invalid(source, "is not a JWT (expected three base64url parts separated by dots)");
  }
  let header: unknown;
  let claims: unknown;
  try {
    header = base64UrlJson(parts[0]!);
    claims = base64UrlJson(parts[1]!);
  } catch {
    throw invalid(source, "is not a JWT (its header or payload is not base64url JSON)");
  }
  if (typeof header !== "object" || header === null || typeof claims !== "object" || !claims) {
    throw invalid(source, "is not a JWT (its header or payload is not a JSON object)");
  }
  const c = claims as Record<string, unknown>;
  if (typeof c.iss !== "string" || c.iss === "") throw invalid(source, "has no issuer (iss)");
  let subject: string;
  if (typeof c.email === "string" && c.email !== "") {
    if (c.email_verified !== true) {
      throw invalid(source, `has an unverified email "${c.email}" (email_verified is not true)`);
    }
    subject = c.email;
  } else if (typeof c.sub === "string" && c.sub !== "") {
    subject = c.sub;
  } else {
    throw invalid(source, "has neither a subject (sub) nor an email");
  }
  return { raw: token, source, claims: c, issuer: c.iss, subject };
}

async function readCapped(path: string, what: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    throw new CosignError("FILE_READ", `Cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  try {
    const buf = new Uint8Array(MAX_TOKEN_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = await file.read(buf.subarray(n));
      if (r === null) break;
      n += r;
      if (n > MAX_TOKEN_BYTES) {
        throw new CosignError("OIDC_TOKEN_INVALID", `${what} ${path} is larger than 64 KiB`);
      }
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    file.close();
  }
}

/** `--identity-token`: a file holding the token when one exists at that path, else the token. */
async function flagToken(value: string): Promise<IdentityToken> {
  const looksLikeJwt = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value.trim());
  if (!looksLikeJwt) {
    let isFile = false;
    try {
      isFile = (await Deno.stat(value)).isFile;
    } catch { /* not a file */ }
    if (isFile) {
      return parseIdentityToken(
        await readCapped(value, "identity token file"),
        `--identity-token file ${value}`,
      );
    }
  }
  return parseIdentityToken(value, "--identity-token");
}

/** GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore` with the bearer token. */
async function githubToken(
  url: string,
  bearer: string,
  fetchImpl: typeof fetch,
): Promise<IdentityToken> {
  const u = new URL(url);
  u.searchParams.set("audience", SIGSTORE_AUDIENCE);
  let res: Response;
  try {
    res = await fetchImpl(u, { headers: { Authorization: `Bearer ${bearer}` } });
  } catch (e) {
    throw new CosignError(
      "NETWORK",
      `Cannot get the GitHub Actions identity token from ${u.origin}: ${(e as Error).message}`,
    );
  }
  const text = await res.text();
  if (!res.ok) {
    throw new CosignError(
      "OIDC_TOKEN_MISSING",
      `Cannot get the GitHub Actions identity token from ${u.origin}: HTTP ${res.status}`,
    );
  }
  let value: unknown;
  try {
    value = (JSON.parse(text) as { value?: unknown }).value;
  } catch { /* below */ }
  if (typeof value !== "string" || text.length > MAX_TOKEN_BYTES) {
    throw invalid("github-actions", "answer is not JSON with a string value");
  }
  return parseIdentityToken(value, "github-actions");
}

/**
 * Finds an identity token in cosign's order (see the module doc).
 * @param options the sources; see {@link TokenSourceOptions}
 * @returns the first token found, parsed (unverified)
 * @throws {CosignError} `OIDC_TOKEN_MISSING` when no source has one (the message names
 *   `--identity-token`); `OIDC_TOKEN_INVALID` when the token found is not a JWT
 * @example
 * ```ts
 * import { getIdentityToken } from "@cosign-deno/cosign";
 * const token = await getIdentityToken({ identityToken: Deno.env.get("MY_JWT") });
 * console.log(token.source, token.issuer, token.subject);
 * ```
 */
export async function getIdentityToken(options: TokenSourceOptions = {}): Promise<IdentityToken> {
  if (options.identityToken !== undefined && options.identityToken !== "") {
    return await flagToken(options.identityToken);
  }
  if (!options.disableAmbientProviders) {
    const env = options.env ?? ((n: string) => Deno.env.get(n));
    const fromEnv = env("SIGSTORE_ID_TOKEN");
    if (fromEnv) return parseIdentityToken(fromEnv, "SIGSTORE_ID_TOKEN");
    const ghUrl = env("ACTIONS_ID_TOKEN_REQUEST_URL");
    const ghBearer = env("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    if (ghUrl && ghBearer) return await githubToken(ghUrl, ghBearer, options.fetch ?? fetch);
    const fsPath = options.filesystemTokenPath ?? FILESYSTEM_TOKEN_PATH;
    let present = false;
    try {
      present = (await Deno.stat(fsPath)).isFile;
    } catch { /* absent */ }
    if (present) {
      return parseIdentityToken(await readCapped(fsPath, "identity token file"), fsPath);
    }
  }
  if (options.interactive) return parseIdentityToken(await options.interactive(), "OIDC login");
  throw new CosignError(
    "OIDC_TOKEN_MISSING",
    "No identity token for keyless signing: pass --identity-token (a JWT or a file holding one)" +
      (options.disableAmbientProviders
        ? ""
        : ", or set SIGSTORE_ID_TOKEN, or run in GitHub Actions with id-token: write") +
      ", or sign with --key",
  );
}
