/**
 * `cosign trusted-root create`: writes a `trusted_root.json` for a private Sigstore from
 * `--fulcio`, `--rekor`, `--ctfe` and `--tsa` specifications (cosign v3's flags), optionally
 * on top of the TUF trusted root (`--with-default-services`).
 * @module
 */

import { createTrustedRoot } from "../trust/create.ts";
import { TRUSTED_ROOT_TARGET, updateTuf } from "../trust/tuf.ts";
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

const spec = (what: string, keys: string) => ({
  type: "string" as const,
  multiple: true,
  value: "SPEC",
  description: `${what} specification, as a comma-separated key-value list. ${keys}`,
});
const noDefault = (what: string) => ({
  type: "boolean" as const,
  default: false,
  description: `removes the default ${what} URLs from the trusted root.`,
});

/** `trusted-root create`. */
export const trustedRootCreateCommand: Command = {
  spec: {
    name: "trusted-root create",
    summary: "Create a Sigstore protobuf trusted root",
    usage: "[--fulcio SPEC]... [--rekor SPEC]... [--ctfe SPEC]... [--tsa SPEC]... [--out FILE]",
    args: [0, 0],
    flags: {
      fulcio: spec(
        "fulcio service",
        "Required keys: url, certificate-chain (path to PEM-encoded certificate chain). " +
          "Optional keys: start-time, end-time.",
      ),
      rekor: spec(
        "rekor service",
        "Required keys: url, public-key (path to PEM-encoded public key), start-time. " +
          "Optional keys: end-time, origin.",
      ),
      ctfe: spec(
        "ctfe service",
        "Required keys: url, public-key (path to PEM-encoded public key), start-time. " +
          "Optional keys: end-time, origin.",
      ),
      tsa: spec(
        "timestamping authority",
        "Required keys: url, certificate-chain (path to PEM-encoded certificate chain). " +
          "Optional keys: start-time, end-time.",
      ),
      "with-default-services": {
        type: "boolean",
        default: false,
        description: "use the Sigstore TUF root as default values to populate the trusted root.",
      },
      "no-default-fulcio": noDefault("Fulcio"),
      "no-default-rekor": noDefault("Rekor"),
      "no-default-ctfe": noDefault("CTFE"),
      "no-default-tsa": noDefault("TSA"),
      out: {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "path to output trusted root",
      },
    },
  },
  async run({ flags }) {
    let base: Record<string, unknown> | undefined;
    if (bool(flags, "with-default-services")) {
      const bytes = (await updateTuf([TRUSTED_ROOT_TARGET], await tufOptionsFromEnv()))
        .get(TRUSTED_ROOT_TARGET);
      if (!bytes) throw new CosignError("TUF_INVALID", "The TUF repository has no trusted root");
      base = JSON.parse(new TextDecoder().decode(bytes));
    }
    const root = await createTrustedRoot({
      fulcio: list(flags, "fulcio"),
      rekor: list(flags, "rekor"),
      ctfe: list(flags, "ctfe"),
      tsa: list(flags, "tsa"),
      base,
      noDefault: {
        fulcio: bool(flags, "no-default-fulcio"),
        rekor: bool(flags, "no-default-rekor"),
        ctfe: bool(flags, "no-default-ctfe"),
        tsa: bool(flags, "no-default-tsa"),
      },
    }, readTextFile);
    const text = JSON.stringify(root, null, 2) + "\n";
    const out = str(flags, "out");
    if (out) await writeFileAtomic(out, text, 0o600);
    else await stdout(text);
  },
};
