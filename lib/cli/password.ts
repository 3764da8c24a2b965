/**
 * Where a key's password comes from (cosign-spec §1.2): `COSIGN_PASSWORD` when set, even to
 * the empty string; otherwise a prompt on the terminal (twice when creating a key, never
 * echoed); otherwise all of stdin, taken verbatim (a trailing newline is part of it).
 * @module
 */

import { CosignError } from "../errors.ts";
import { utf8 } from "../crypto/encoding.ts";
import { promptLine, readAllStdin, stdinIsTerminal } from "./io.ts";

/** Options for {@link readPassword}. */
export interface PasswordOptions {
  /** Ask twice and compare (when creating a key). */
  confirm: boolean;
  /** Set when stdin is already taken (e.g. the blob is read from `-`). */
  stdinInUse?: boolean;
}

/** Obtains a key password as cosign does. */
export async function readPassword(options: PasswordOptions): Promise<Uint8Array> {
  const env = Deno.env.get("COSIGN_PASSWORD");
  if (env !== undefined) return utf8(env);
  if (stdinIsTerminal()) {
    const first = await promptLine("Enter password for private key: ", false);
    if (options.confirm) {
      const again = await promptLine("Enter password for private key again: ", false);
      if (again !== first) {
        throw new CosignError("KEY_PASSWORD_MISMATCH", "Passwords do not match");
      }
    }
    return utf8(first);
  }
  if (options.stdinInUse) {
    throw new CosignError(
      "USAGE",
      "Cannot read the key password from stdin while stdin carries the blob; set COSIGN_PASSWORD",
      { exitCode: 2 },
    );
  }
  return await readAllStdin();
}
