/**
 * The shape every CLI command module exports.
 * @module
 */

import { UsageError } from "../errors.ts";
import { bool, type CommandSpec, type FlagValues, type ParsedCommand, str } from "./args.ts";

/** A command: its flags, and what it does with them. Returns the exit code (default 0). */
export interface Command {
  spec: CommandSpec;
  run(parsed: ParsedCommand): Promise<number | void>;
}

/**
 * cosign's persistent root flags (`options/root.go`): accepted before the command name and
 * after it, on every command, and from `COSIGN_VERBOSE` / `COSIGN_OUTPUT_FILE`.
 */
export const GLOBAL_FLAGS = {
  verbose: {
    type: "boolean",
    short: "d",
    default: false,
    description: "trace requests and decisions on stderr (credentials and tokens redacted)",
  },
  "output-file": {
    type: "string",
    value: "FILE",
    description: "write what the command prints on stdout to FILE instead (created or truncated)",
  },
} as const;

/** `--platform` of `copy`, `download attestation|sbom`, `sign` and `verify`. */
export const PLATFORM_FLAG = {
  platform: {
    type: "string",
    value: "OS/ARCH[/VARIANT]",
    description: "for a multi-platform index: use its image of this platform (e.g. linux/arm64)",
  },
} as const;

/** Transparency-log flags shared by signing commands (cosign v2 names and defaults). */
export const SIGN_TLOG_FLAGS = {
  "tlog-upload": {
    type: "boolean",
    default: true,
    description: "upload the signature to the transparency log",
  },
  "rekor-url": {
    type: "string",
    default: "https://rekor.sigstore.dev",
    value: "URL",
    check: "url",
    description: "address of the Rekor transparency log",
  },
  "trusted-root": {
    type: "string",
    value: "FILE",
    check: "file",
    description:
      "trusted_root.json whose Rekor keys must have signed the log's answer (or SIGSTORE_REKOR_PUBLIC_KEY)",
  },
} as const;

/** Transparency-log flags shared by verifying commands. */
export const VERIFY_TLOG_FLAGS = {
  "insecure-ignore-tlog": {
    type: "boolean",
    default: false,
    description: "skip the transparency-log check (everything else is still verified)",
  },
  "rekor-url": SIGN_TLOG_FLAGS["rekor-url"],
  "trusted-root": {
    type: "string",
    value: "FILE",
    check: "file",
    description:
      "trusted_root.json: Rekor keys, Fulcio CAs, CT logs and TSAs for offline checks (no network)",
  },
} as const;

/** `--new-bundle-format` of sign-blob and attest-blob (see {@link bundleOutput}). */
export const NEW_BUNDLE_FORMAT_FLAG = {
  type: "boolean",
  default: false,
  description: "write --bundle as a Sigstore bundle v0.3 instead of cosign's legacy bundle",
} as const;

/** `--bundle FILE` of sign-blob and attest-blob, and the Sigstore writer with `--new-bundle-format`. */
export interface BundleOutput {
  /** Where to write the bundle; undefined without `--bundle`. */
  readonly path: string | undefined;
  /** The v0.3 writer with `--new-bundle-format` (loaded only then); else cosign's bundle. */
  readonly writer: typeof import("../cosign/bundle_writer.ts") | undefined;
}

/**
 * Reads `--bundle` and `--new-bundle-format`.
 * @throws {UsageError} `--new-bundle-format` without `--bundle` (cosign v3 cannot write the
 *   Sigstore bundle without a path either; v2 ignored the flag)
 */
export async function bundleOutput(flags: FlagValues): Promise<BundleOutput> {
  const path = str(flags, "bundle");
  if (!bool(flags, "new-bundle-format")) return { path, writer: undefined };
  if (!path) {
    throw new UsageError("--new-bundle-format needs --bundle FILE to write the Sigstore bundle to");
  }
  return { path, writer: await import("../cosign/bundle_writer.ts") };
}
