/**
 * The programs' entry: picks `cosign` or `sget` from the first argument and runs it. `cli.ts`
 * (development, `deno install`, `deno compile`) and the single-file bundles
 * (`deno task bundle`, one program each) start here.
 * @module
 */

import { type Program, runProgram } from "./run.ts";
import { escapeForTerminal } from "../text/escape.ts";

/** `deno task` runs in the project root: it passes the caller's directory, to go back there. */
function enterCallerCwd(): void {
  const callerCwd = Deno.env.get("COSIGN_DENO_CALLER_CWD");
  if (callerCwd) {
    Deno.env.delete("COSIGN_DENO_CALLER_CWD");
    Deno.chdir(callerCwd);
  }
}

/**
 * Runs a program: `args[0]` names it (`cosign` or `sget`); anything else runs cosign with all of
 * `args`. Returns the exit code.
 */
export async function main(args: string[]): Promise<number> {
  enterCallerCwd();
  // Each program (and each command) is loaded only when used, to keep start-up small.
  const [program, ...rest] = args;
  if (program === "sget") {
    return await runProgram((await import("./sget.ts")).sgetProgram, rest);
  }
  const { cosignProgram } = await import("./cosign.ts");
  // Run directly (`deno run cli.ts sign-blob …`): cosign.
  return await runProgram(cosignProgram, program === "cosign" ? rest : args);
}

/**
 * Runs the process: `run` gives the exit code; an unhandled rejection is an internal error
 * (exit 3).
 */
export async function start(run: () => Promise<number>): Promise<never> {
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    console.error(`Error: internal error: ${escapeForTerminal(String(ev.reason))}`);
    Deno.exit(3);
  });
  Deno.exit(await run());
}

/** Runs one program with `args` as the process (the bundles' entry). */
export function startProgram(program: Program, args: string[]): Promise<never> {
  return start(() => {
    enterCallerCwd();
    return runProgram(program, args);
  });
}
