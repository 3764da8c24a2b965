/**
 * The sigstore-conformance `bundle-verify` cases (`../shared/fixtures/conformance/cases.json`),
 * run through this repository's CLI as
 * `cosign verify-blob --bundle B (--certificate-identity ID --certificate-oidc-issuer ISS |
 * --key KEY) --trusted-root ROOT (ARTIFACT | sha256:HEX)`, and judged.
 *
 * Shared by `scripts/conformance.ts` (`deno task conformance`) and `tests/conformance_test.ts`.
 *
 * Judging: a case whose folder ends in `_fail` must be *rejected by verification*, which here
 * means exit code 1 with one `Error: …` line from the CLI and no sign of a crash (Deno also
 * exits with 1 on an uncaught exception or a module that fails to load, so exit code 1 alone
 * proves nothing). Exit 2 (usage), 3 (internal error) and anything else are wrong for every
 * case. Any other case must exit 0.
 * @module
 */

import { cosign, FIXTURES } from "../helpers.ts";

/** The conformance fixtures folder (read-only, beside the repository). */
export const CONFORMANCE_DIR: string = FIXTURES + "conformance/";

/** Every case runs twice: with the artifact's path, and with only its `sha256:` digest. */
export type Mode = "path" | "digest";
/** Both modes, in the order they are reported. */
export const MODES: readonly Mode[] = ["path", "digest"];

/** What a case must give. */
export type Expect = "pass" | "fail";

/** One conformance case, with absolute paths. */
export interface ConformanceCase {
  /** The upstream case folder name. */
  name: string;
  expect: Expect;
  bundle: string;
  /** Artifact path (PATH mode). */
  artifact: string;
  /** `sha256:<hex>` of the artifact (DIGEST mode). */
  artifactDigest: string;
  trustedRoot: string;
  /** Expected certificate SAN; undefined for key cases. */
  identity: string | undefined;
  /** Expected OIDC issuer; undefined for key cases. */
  issuer: string | undefined;
  /** `key.pub` path, or undefined for certificate cases. */
  key: string | undefined;
  /** The case's upstream README text (what it must be rejected for), if any. */
  description: string | undefined;
}

function field(raw: Record<string, unknown>, name: string, nullable: true): string | undefined;
function field(raw: Record<string, unknown>, name: string, nullable?: false): string;
function field(raw: Record<string, unknown>, name: string, nullable = false): string | undefined {
  const v = raw[name];
  if (typeof v === "string" && v !== "") return v;
  if (nullable && v === null) return undefined;
  throw new Error(`cases.json: case ${JSON.stringify(raw.name)}: bad "${name}": ${v}`);
}

/** Validates one cases.json entry and makes its paths absolute (relative to `dir`). */
export function parseCase(raw: unknown, dir: string = CONFORMANCE_DIR): ConformanceCase {
  if (typeof raw !== "object" || raw === null) throw new Error("cases.json: not an object");
  const r = raw as Record<string, unknown>;
  const name = field(r, "name");
  const expect = field(r, "expect");
  // Upstream: the folder name is the only thing that encodes the outcome.
  const want = name.endsWith("_fail") ? "fail" : "pass";
  if (expect !== want) {
    throw new Error(`cases.json: case "${name}": expect is "${expect}", its name says "${want}"`);
  }
  const digest = field(r, "artifact_digest");
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new Error(`cases.json: case "${name}": bad artifact_digest "${digest}"`);
  }
  const key = field(r, "key", true);
  const identity = field(r, "identity", true);
  const issuer = field(r, "issuer", true);
  if (key === undefined && (identity === undefined || issuer === undefined)) {
    throw new Error(`cases.json: case "${name}": needs a key or an identity and an issuer`);
  }
  return {
    name,
    expect,
    bundle: dir + field(r, "bundle"),
    artifact: dir + field(r, "artifact"),
    artifactDigest: digest,
    trustedRoot: dir + field(r, "trusted_root"),
    identity,
    issuer,
    key: key === undefined ? undefined : dir + key,
    description: field(r, "description", true),
  };
}

/** Reads and validates `cases.json` in `dir`; optionally keeps the names containing `filter`. */
export async function loadCases(
  dir: string = CONFORMANCE_DIR,
  filter?: string,
): Promise<ConformanceCase[]> {
  const raw: unknown = JSON.parse(await Deno.readTextFile(dir + "cases.json"));
  if (!Array.isArray(raw) || raw.length === 0) throw new Error("cases.json: not a case array");
  const cases = raw.map((c) => parseCase(c, dir));
  return filter === undefined ? cases : cases.filter((c) => c.name.includes(filter));
}

/** The CLI arguments (after `cosign`) that verify case `c` in `mode`. */
export function verifyArgs(c: ConformanceCase, mode: Mode): string[] {
  const who = c.key !== undefined
    ? ["--key", c.key]
    : ["--certificate-identity", c.identity!, "--certificate-oidc-issuer", c.issuer!];
  return [
    "verify-blob",
    "--bundle",
    c.bundle,
    ...who,
    "--trusted-root",
    c.trustedRoot,
    mode === "path" ? c.artifact : c.artifactDigest,
  ];
}

/**
 * How a run ended: `verified` (exit 0), `rejected` (exit 1 with one CLI `Error:` line and no
 * crash), `usage` (exit 2), `internal` (exit 3), `crash` (anything else, including exit 1 from
 * an uncaught exception).
 */
export type Outcome = "verified" | "rejected" | "usage" | "internal" | "crash";

/** Signs of a Deno-level failure: an uncaught error, a load/type error, a stack trace, a panic. */
const CRASH = /^error: |^\s+at \S|panicked at|RUST_BACKTRACE/m;

/** Classifies an exit code and stderr. */
export function outcomeOf(code: number, stderr: string): Outcome {
  if (code === 0) return "verified";
  if (code === 2) return "usage";
  if (code === 3) return "internal";
  if (code === 1 && !CRASH.test(stderr)) {
    const errors = stderr.split("\n").filter((l) => l.startsWith("Error: "));
    if (errors.length === 1) return "rejected";
  }
  return "crash";
}

/** Whether `outcome` is the right result for a case that expects `expect`. */
export function isExpected(expect: Expect, outcome: Outcome): boolean {
  return expect === "pass" ? outcome === "verified" : outcome === "rejected";
}

/** The line that says why: the first error line, or else the first non-empty line of stderr. */
export function reasonLine(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.find((l) => /^error:/i.test(l)) ?? lines[0] ?? "(no stderr)";
}

/** One case run in one mode. */
export interface CaseRun {
  case: ConformanceCase;
  mode: Mode;
  code: number;
  stderr: string;
  outcome: Outcome;
  /** Whether the result is the one the case expects. */
  ok: boolean;
}

/** Runs case `c` in `mode` through the CLI (a subprocess) and judges the result. */
export async function runCase(c: ConformanceCase, mode: Mode): Promise<CaseRun> {
  const r = await cosign(verifyArgs(c, mode));
  const outcome = outcomeOf(r.code, r.stderr);
  return {
    case: c,
    mode,
    code: r.code,
    stderr: r.stderr,
    outcome,
    ok: isExpected(c.expect, outcome),
  };
}

/** `PASS|FAIL name [mode] expected=pass|fail got=exit N: <reason line>`. */
export function formatRun(r: CaseRun): string {
  return `${r.ok ? "PASS" : "FAIL"} ${r.case.name} [${r.mode}] expected=${r.case.expect} ` +
    `got=exit ${r.code}: ${reasonLine(r.stderr)}`;
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results keep the items' order.
 * `onDone` is called as each one finishes.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  onDone?: (result: R, index: number) => void,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
      onDone?.(out[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const OUTCOME_TEXT: Record<Outcome, string> = {
  verified: "verified",
  rejected: "rejected",
  usage: "usage error",
  internal: "internal error",
  crash: "crash",
};

/** `N passed, N failed`, then the wrong results counted by outcome. */
export function summarize(runs: readonly CaseRun[]): string {
  const failed = runs.filter((r) => !r.ok);
  const line = `${runs.length - failed.length} passed, ${failed.length} failed`;
  if (!failed.length) return line;
  const kinds = new Map<string, number>();
  for (const r of failed) {
    const k = r.case.expect === "fail" && r.outcome === "verified"
      ? "fail case accepted"
      : `${r.case.expect} case ${OUTCOME_TEXT[r.outcome]}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  return `${line} (${[...kinds].map(([k, n]) => `${n} ${k}`).join(", ")})`;
}
