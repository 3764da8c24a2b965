/**
 * The entry of the single-file `cosign` bundle (`deno task bundle` → `dist/cosign.js`).
 * @module
 */
import { startProgram } from "../../lib/cli/main.ts";
import { cosignProgram } from "../../lib/cli/cosign.ts";

await startProgram(cosignProgram, Deno.args);
