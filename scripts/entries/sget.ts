/**
 * The entry of the single-file `sget` bundle (`deno task bundle` → `dist/sget.js`).
 * @module
 */
import { startProgram } from "../../lib/cli/main.ts";
import { sgetProgram } from "../../lib/cli/sget.ts";

await startProgram(sgetProgram, Deno.args);
