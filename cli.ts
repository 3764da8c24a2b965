/**
 * Entry point of both executables. The first argument names the program (`cosign` or
 * `sget`); `deno task`, `deno install` and `deno compile` bake it in, so users never type it.
 *
 * `deno task` runs in the project root; the tasks pass the caller's directory in
 * `COSIGN_DENO_CALLER_CWD` so relative paths resolve where the user is.
 * @module
 */

import { cosignProgram } from "./lib/cli/cosign.ts";
import { runProgram } from "./lib/cli/run.ts";
import { sgetProgram } from "./lib/cli/sget.ts";

async function main(args: string[]): Promise<number> {
  const callerCwd = Deno.env.get("COSIGN_DENO_CALLER_CWD");
  if (callerCwd) {
    Deno.env.delete("COSIGN_DENO_CALLER_CWD");
    Deno.chdir(callerCwd);
  }
  const [program, ...rest] = args;
  if (program === "sget") return await runProgram(sgetProgram, rest);
  if (program === "cosign") return await runProgram(cosignProgram, rest);
  // Run directly (`deno run cli.ts sign-blob …`): cosign.
  return await runProgram(cosignProgram, args);
}

if (import.meta.main) {
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    console.error(`Error: internal error: ${ev.reason}`);
    Deno.exit(3);
  });
  Deno.exit(await main(Deno.args));
}
