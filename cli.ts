/**
 * Entry point of both executables. The first argument names the program (`cosign` or
 * `sget`); `deno task`, `deno install` and `deno compile` bake it in, so users never type it.
 *
 * `deno task` runs in the project root; the tasks pass the caller's directory in
 * `COSIGN_DENO_CALLER_CWD` so relative paths resolve where the user is.
 * @module
 */

import { runProgram } from "./lib/cli/run.ts";
import { escapeForTerminal } from "./lib/text/escape.ts";

async function main(args: string[]): Promise<number> {
  const callerCwd = Deno.env.get("COSIGN_DENO_CALLER_CWD");
  if (callerCwd) {
    Deno.env.delete("COSIGN_DENO_CALLER_CWD");
    Deno.chdir(callerCwd);
  }
  // Each program (and each command) is loaded only when used, to keep start-up small.
  const [program, ...rest] = args;
  if (program === "sget") {
    return await runProgram((await import("./lib/cli/sget.ts")).sgetProgram, rest);
  }
  const { cosignProgram } = await import("./lib/cli/cosign.ts");
  // Run directly (`deno run cli.ts sign-blob …`): cosign.
  return await runProgram(cosignProgram, program === "cosign" ? rest : args);
}

if (import.meta.main) {
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    console.error(`Error: internal error: ${escapeForTerminal(String(ev.reason))}`);
    Deno.exit(3);
  });
  Deno.exit(await main(Deno.args));
}
