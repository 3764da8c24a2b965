/**
 * The `sget` program. Downloading needs the registry client, which this version does not
 * have yet: `sget REF` fails with a clear error and writes nothing.
 * @module
 */

import { CosignError } from "../errors.ts";
import type { Command } from "./command.ts";
import type { Program } from "./run.ts";

const fetchCommand: Command = {
  spec: {
    name: "fetch",
    summary: "Downloads an artifact from an OCI registry after verifying it.",
    usage: "[--key KEYREF] [-o FILE] REF",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "public key that must have signed REF" },
      outfile: { type: "string", short: "o", value: "FILE", description: "write to FILE" },
    },
  },
  run({ positionals }) {
    return Promise.reject(
      new CosignError(
        "NOT_IMPLEMENTED",
        `Cannot fetch ${
          positionals[0]
        }: downloading from registries is not supported by this version yet`,
      ),
    );
  },
};

/** The sget command table: `sget REF` downloads, `sget version` prints the version. */
export const sgetProgram: Program = {
  name: "sget",
  summary: "sget (Deno): download an artifact only after verifying it.",
  defaultCommand: "fetch",
  commands: {
    fetch: {
      summary: "Download a verified artifact (the default)",
      load: () => Promise.resolve(fetchCommand),
    },
    version: {
      summary: "Print the version",
      load: async () => (await import("./version.ts")).versionCommand,
    },
  },
};
