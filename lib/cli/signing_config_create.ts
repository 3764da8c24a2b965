/**
 * `cosign signing-config create`: writes a `signing_config.v0.2.json` for a private Sigstore
 * from `--fulcio`, `--rekor`, `--oidc-provider` and `--tsa` specifications and the
 * `--rekor-config`/`--tsa-config` selectors (cosign v3's flags), optionally starting from
 * `--base-config FILE` or the TUF signing config (`--with-default-services`).
 * @module
 */

import { createSigningConfig } from "../trust/create.ts";
import { signingConfigFromTuf } from "../trust/tuf.ts";
import { readTextFile } from "../cosign/keyref.ts";
import { CosignError } from "../errors.ts";
import { bool, type FlagValues, str } from "./args.ts";
import type { Command } from "./command.ts";
import { stdout, writeFileAtomic } from "./io.ts";
import { tufOptionsFromEnv } from "./trust.ts";

function list(flags: FlagValues, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

const SERVICE_KEYS = "Required keys: url, api-version (integer), start-time, operator. " +
  "Optional keys: end-time.";
const spec = (what: string) => ({
  type: "string" as const,
  multiple: true,
  value: "SPEC",
  description: `${what} specification, as a comma-separated key-value list. ${SERVICE_KEYS}`,
});
const noDefault = (what: string) => ({
  type: "boolean" as const,
  default: false,
  description: `removes the default ${what} URLs from the signing config.`,
});

function parseJson(text: string, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) return v;
  } catch {
    // fall through
  }
  throw new CosignError("USAGE", `${what} is not a JSON signing config`);
}

/** `signing-config create`. */
export const signingConfigCreateCommand: Command = {
  spec: {
    name: "signing-config create",
    summary: "Create a Sigstore protobuf signing config",
    usage: "[--fulcio SPEC]... [--rekor SPEC]... [--rekor-config SEL] [--oidc-provider SPEC]... " +
      "[--tsa SPEC]... [--tsa-config SEL] [--base-config FILE] [--out FILE]",
    args: [0, 0],
    flags: {
      fulcio: spec("fulcio"),
      rekor: spec("rekor"),
      "oidc-provider": spec("oidc provider"),
      tsa: spec("timestamping authority"),
      "rekor-config": {
        type: "string",
        value: "SEL",
        description: "rekor configuration. Required if --rekor is provided. " +
          "One of: ANY, ALL, EXACT:<count>",
      },
      "tsa-config": {
        type: "string",
        value: "SEL",
        description: "timestamping authority configuration. Required if --tsa is provided. " +
          "One of: ANY, ALL, EXACT:<count>",
      },
      "base-config": {
        type: "string",
        value: "FILE",
        check: "file",
        description: "path to base signing config file to use as starting point.",
      },
      "with-default-services": {
        type: "boolean",
        default: false,
        description: "use the Sigstore TUF root as default values to populate the signing config.",
      },
      "with-default-rekor-v2": {
        type: "boolean",
        default: false,
        description: "as --with-default-services, keeping only the Rekor v2 (tiles) logs.",
      },
      "no-default-fulcio": noDefault("Fulcio"),
      "no-default-rekor": noDefault("Rekor"),
      "no-default-oidc": noDefault("OIDC provider"),
      "no-default-tsa": noDefault("TSA"),
      out: {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "path to output signing config",
      },
    },
  },
  async run({ flags }) {
    const basePath = str(flags, "base-config");
    const base = basePath
      ? parseJson(await readTextFile(basePath, "--base-config"), basePath)
      : undefined;
    let defaults: Record<string, unknown> | undefined;
    const v2 = bool(flags, "with-default-rekor-v2");
    if (bool(flags, "with-default-services") || v2) {
      const bytes = await signingConfigFromTuf(await tufOptionsFromEnv());
      if (!bytes) {
        throw new CosignError("TUF_INVALID", "The TUF repository has no signing config");
      }
      defaults = parseJson(new TextDecoder().decode(bytes), "The TUF signing config");
      if (v2 && Array.isArray(defaults.rekorTlogUrls)) {
        defaults.rekorTlogUrls = (defaults.rekorTlogUrls as { majorApiVersion?: number }[])
          .filter((s) => s.majorApiVersion === 2);
      }
    }
    const config = createSigningConfig({
      fulcio: list(flags, "fulcio"),
      rekor: list(flags, "rekor"),
      oidcProvider: list(flags, "oidc-provider"),
      tsa: list(flags, "tsa"),
      rekorConfig: str(flags, "rekor-config"),
      tsaConfig: str(flags, "tsa-config"),
      base,
      defaults,
      noDefault: {
        fulcio: bool(flags, "no-default-fulcio"),
        rekor: bool(flags, "no-default-rekor"),
        oidc: bool(flags, "no-default-oidc"),
        tsa: bool(flags, "no-default-tsa"),
      },
    });
    const text = JSON.stringify(config, null, 2) + "\n";
    const out = str(flags, "out");
    if (out) await writeFileAtomic(out, text, 0o600);
    else await stdout(text);
  },
};
