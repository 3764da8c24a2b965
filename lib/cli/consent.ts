/**
 * cosign's privacy notice and its `[y/N]` question, asked before an identity is published to a
 * public transparency log (keyless signing, uploads to Rekor).
 *
 * Behaviour, as cosign's `signcommon.ShouldUploadToTlog` / `auth.GetOAuthFlow` and
 * `internal/ui/prompt.go`:
 * - the notice and the attestation sentence go to stderr, once per process;
 * - with `-y` (`yes: true`) the question is not asked;
 * - without a terminal on stdin nothing is asked and signing proceeds;
 * - `y` or `Y` proceeds; `n`, `N` or an empty line declines (exit code 1, as cosign, whose
 *   decline is a plain error); anything else is refused as invalid input (exit code 1).
 * @module
 */

import { CosignError, EXIT_FAILURE } from "../errors.ts";
import { escapeForTerminal } from "../text/escape.ts";

/**
 * The privacy statement cosign prints (same words and layout: a leading blank line, each
 * paragraph indented by one tab).
 */
export const PRIVACY_STATEMENT = [
  "",
  "\tThe sigstore service, hosted by sigstore a Series of LF Projects, LLC, is provided " +
  "pursuant to the Hosted Project Tools Terms of Use, available at " +
  "https://lfprojects.org/policies/hosted-project-tools-terms-of-use/.",
  "\tNote that if your submission includes personal data associated with this signed " +
  "artifact, it will be part of an immutable record.",
  "\tThis may include the email address associated with the account with which you " +
  "authenticate your contractual Agreement.",
  "\tThis information will be used for signing this artifact and will be stored in public " +
  "transparency logs and cannot be removed later, and is subject to the Immutable Record " +
  "notice at https://lfprojects.org/policies/hosted-project-tools-immutable-records/.",
  "",
].join("\n");

/** The sentence cosign prints after the statement. */
export const PRIVACY_CONFIRMATION = "By typing 'y', you attest that (1) you are not submitting " +
  "the personal data of any other person; and (2) you understand and agree to the statement " +
  "and the Agreement terms at the URLs listed above.";

/** The question itself (no newline: the answer is typed on the same line). */
export const CONTINUE_QUESTION = "Are you sure you would like to continue? [y/N] ";

/** Where the notice is written and the answer read. */
export interface ConfirmPublicationOptions {
  /** `-y` / `--yes`: skip the question. */
  yes: boolean;
  /** The answer's source (default `Deno.stdin`). Read one byte at a time up to a newline. */
  stdin?: { read(p: Uint8Array): Promise<number | null> };
  /** Where the notice and question go (default `Deno.stderr`). */
  stderr?: { write(p: Uint8Array): Promise<number> };
  /** Whether stdin is a terminal (default `Deno.stdin.isTerminal()`). */
  isTerminal?: boolean;
}

let shown = false;

/** Forgets that the notice was shown in this process (for tests). */
export function resetPrivacyNoticeForTests(): void {
  shown = false;
}

async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  text: string,
): Promise<void> {
  const data = new TextEncoder().encode(text);
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

async function readLine(r: { read(p: Uint8Array): Promise<number | null> }): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  // One byte per read, so nothing typed ahead for a later prompt is consumed. 4 KiB cap.
  while (bytes.length < 4096 && (await r.read(one)) === 1 && one[0] !== 0x0a) bytes.push(one[0]!);
  return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\r$/, "");
}

/**
 * Shows cosign's privacy notice and, on a terminal without `-y`, asks `[y/N]`. Resolves when
 * publication may go ahead; throws a {@link CosignError} (code `USAGE`, exit code 1) when the
 * user declines or answers something other than y/n. The notice and question are shown once
 * per process; a later call after a `y` proceeds silently.
 *
 * @example
 * ```ts ignore
 * import { confirmPublication } from "./consent.ts";
 * await confirmPublication({ yes: false }); // throws if the user types n
 * ```
 */
export async function confirmPublication(options: ConfirmPublicationOptions): Promise<void> {
  if (shown) return;
  const stderr = options.stderr ?? Deno.stderr;
  const stdin = options.stdin ?? Deno.stdin;
  const terminal = options.isTerminal ?? Deno.stdin.isTerminal();
  shown = true;
  await writeAll(stderr, PRIVACY_STATEMENT + "\n" + PRIVACY_CONFIRMATION + "\n");
  if (options.yes || !terminal) return;
  await writeAll(stderr, CONTINUE_QUESTION);
  const answer = await readLine(stdin);
  switch (answer.toLowerCase()) {
    case "y":
      return;
    case "":
    case "n":
      shown = false; // a declined question is asked again if the process tries again
      throw new CosignError("USAGE", "Signing cancelled: user declined the prompt", {
        exitCode: EXIT_FAILURE,
      });
    default:
      shown = false;
      throw new CosignError(
        "USAGE",
        `Signing cancelled: invalid input "${
          escapeForTerminal(answer.slice(0, 64))
        }" (allowed values y, n)`,
        { exitCode: EXIT_FAILURE },
      );
  }
}
