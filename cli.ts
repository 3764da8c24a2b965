/**
 * Entry point of both executables. The first argument names the program (`cosign` or
 * `sget`); `deno task`, `deno install` and `deno compile` bake it in, so users never type it.
 *
 * `deno task` runs in the project root; the tasks pass the caller's directory in
 * `COSIGN_DENO_CALLER_CWD` so relative paths resolve where the user is.
 * @module
 */

import { main, start } from "./lib/cli/main.ts";

if (import.meta.main) await start(() => main(Deno.args));
