/**
 * The sigstore-conformance `bundle-verify` cases through the CLI, one test per case with a step
 * per mode (PATH, DIGEST). A pass case must verify (exit 0); a `_fail` case must be rejected by
 * verification (exit 1 with one `Error:` line, no crash): a usage error, an internal error or a
 * crash fails the test. The two modes of a case run at the same time (2 cores).
 * Same judging as `deno task conformance` (`tests/harness/conformance.ts`).
 */
import {
  formatRun,
  isExpected,
  loadCases,
  MODES,
  outcomeOf,
  reasonLine,
  runCase,
} from "./harness/conformance.ts";
import { assert, assertEquals } from "./helpers.ts";

const CASES = await loadCases();

Deno.test("conformance harness: judging", () => {
  assertEquals(CASES.length, 35, "public cases");
  assertEquals(CASES.filter((c) => c.expect === "pass").length, 10, "pass cases");
  assertEquals(outcomeOf(0, "Verified OK\n"), "verified");
  assertEquals(outcomeOf(1, "Error: signature mismatch\n"), "rejected");
  assertEquals(outcomeOf(2, "Error: unknown flag: --x\n"), "usage");
  assertEquals(outcomeOf(3, "Error: internal error: boom\n"), "internal");
  // Deno exits 1 on an uncaught exception or a module that does not load: not a rejection.
  assertEquals(
    outcomeOf(1, "error: Uncaught (in promise) TypeError: x\n    at f (a.ts:1:1)\n"),
    "crash",
  );
  assertEquals(outcomeOf(1, 'error: Module not found "file:///x.ts".\n'), "crash");
  assertEquals(outcomeOf(1, ""), "crash");
  assertEquals(outcomeOf(134, "Error: x\n"), "crash");
  assert(isExpected("fail", "rejected") && !isExpected("fail", "usage"), "fail needs rejected");
  assert(!isExpected("fail", "verified") && !isExpected("fail", "crash"), "fail needs rejected");
  assert(isExpected("pass", "verified") && !isExpected("pass", "rejected"), "pass needs 0");
  assertEquals(reasonLine("WARNING: w\nError: bad\n"), "Error: bad");
  assertEquals(reasonLine("\nVerified OK\n"), "Verified OK");
});

for (const c of CASES) {
  Deno.test(`conformance: ${c.name} (must ${c.expect === "pass" ? "verify" : "be rejected"})`, async (t) => {
    const runs = await Promise.all(MODES.map((mode) => runCase(c, mode)));
    for (const r of runs) {
      await t.step(r.mode, () => {
        assert(
          r.ok,
          `${
            formatRun(r)
          }\n  outcome: ${r.outcome}\n  case: ${c.description}\n  stderr: ${r.stderr}`,
        );
      });
    }
  });
}
