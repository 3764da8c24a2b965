/**
 * Runs the sigstore-conformance `bundle-verify` cases (`../shared/fixtures/conformance/`)
 * through this repository's CLI, in PATH and DIGEST mode, two at a time
 * (`deno task conformance [--filter SUBSTR]`).
 *
 * Prints one line per run, `PASS|FAIL name [path|digest] expected=pass|fail got=exit N: LINE`,
 * where LINE is the CLI's error line (or its first stderr line); under each `_fail` case, the
 * upstream description of what it must be rejected for (indented), so a person can compare the
 * two. Then
 * `N passed, N failed`. Exits 1 when any run gave the wrong result, 2 on a usage error.
 * See `tests/harness/conformance.ts` for how a result is judged.
 * @module
 */

import { parseArgs } from "node:util";
import {
  type CaseRun,
  formatRun,
  loadCases,
  mapLimit,
  MODES,
  runCase,
  summarize,
} from "../tests/harness/conformance.ts";

/** Runs at once: this machine has 2 cores. */
const PARALLELISM = 2;

const USAGE = "Usage: deno task conformance [--filter SUBSTR]\n";

/** The upstream description of a case, indented under its runs, blank lines dropped. */
function describe(text: string | undefined): string {
  const lines = (text ?? "(no upstream description)").split("\n").filter((l) => l.trim() !== "");
  return lines.map((l, i) => (i === 0 ? "    case: " : "          ") + l.trimEnd()).join("\n");
}

async function main(argv: string[]): Promise<number> {
  let filter: string | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { filter: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      console.log(USAGE.trimEnd());
      return 0;
    }
    filter = values.filter;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const cases = await loadCases(undefined, filter);
  if (!cases.length) {
    console.error(`No conformance case name contains "${filter}".`);
    return 2;
  }
  const jobs = cases.flatMap((c) => MODES.map((mode) => ({ c, mode })));
  // Print in case order as soon as every earlier run is done.
  const done: (CaseRun | undefined)[] = [];
  let printed = 0;
  const flush = () => {
    for (let r = done[printed]; r !== undefined; r = done[++printed]) {
      console.log(formatRun(r));
      const last = r.mode === MODES[MODES.length - 1];
      if (last && r.case.expect === "fail") {
        console.log(describe(r.case.description));
      }
    }
  };
  const runs = await mapLimit(jobs, PARALLELISM, (j) => runCase(j.c, j.mode), (r, i) => {
    done[i] = r;
    flush();
  });
  console.log(summarize(runs));
  return runs.every((r) => r.ok) ? 0 : 1;
}

Deno.exit(await main(Deno.args));
