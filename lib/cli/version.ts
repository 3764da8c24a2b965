/**
 * `cosign version` / `sget version`.
 * @module
 */

import { PRODUCT, VERSION } from "../version.ts";
import { bool } from "./args.ts";
import type { Command } from "./command.ts";
import { stdout } from "./io.ts";

/** Version facts, as printed by `version --json`. */
export function versionInfo(): Record<string, string> {
  return {
    gitVersion: `v${VERSION}`,
    product: PRODUCT,
    denoVersion: Deno.version.deno,
    v8Version: Deno.version.v8,
    typescriptVersion: Deno.version.typescript,
    compiler: "deno",
    platform: `${Deno.build.os}/${Deno.build.arch}`,
  };
}

/** `version`. */
export const versionCommand: Command = {
  spec: {
    name: "version",
    summary: "Prints the version.",
    usage: "[--json]",
    args: [0, 0],
    flags: { json: { type: "boolean", default: false, description: "print JSON" } },
  },
  async run({ flags }) {
    const v = versionInfo();
    if (bool(flags, "json")) {
      await stdout(JSON.stringify(v, null, 2) + "\n");
      return;
    }
    const labels: Record<string, string> = {
      gitVersion: "GitVersion:",
      product: "Product:",
      denoVersion: "DenoVersion:",
      v8Version: "V8Version:",
      typescriptVersion: "TypeScript:",
      compiler: "Compiler:",
      platform: "Platform:",
    };
    await stdout(
      Object.entries(v).map(([k, val]) => `${(labels[k] ?? k).padEnd(18)}${val}`).join("\n") + "\n",
    );
  },
};
