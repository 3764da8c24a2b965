/**
 * `-t/--timeout`: the deadline of a whole command (cosign's default 3m), shared by every
 * registry and transparency-log client the command makes.
 * @module
 */

import { UsageError } from "../errors.ts";
import { Deadline } from "../oci/deadline.ts";
import { type FlagValues, str } from "./args.ts";

/** `{ deadline }` for a client's options, when the command has `--timeout`. */
export function deadlineOption(flags: FlagValues): { deadline?: Deadline } {
  const deadline = commandDeadline(flags);
  return deadline ? { deadline } : {};
}

/** Parses a Go duration (`1h2m3.5s`, `500ms`, `3m0s`) into milliseconds. */
export function parseDuration(s: string, flag = "duration"): number {
  const units: Record<string, number> = {
    h: 3_600_000,
    m: 60_000,
    s: 1000,
    ms: 1,
    us: 0.001,
    "µs": 0.001,
    ns: 1e-6,
  };
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/y;
  let total = 0;
  let matched = 0;
  while (matched < s.length) {
    re.lastIndex = matched;
    const m = re.exec(s);
    if (!m) break;
    total += Number(m[1]) * units[m[2]!]!;
    matched = re.lastIndex;
  }
  if (s === "" || matched !== s.length || total <= 0) {
    throw new UsageError(`invalid ${flag} "${s}": not a positive duration (e.g. 30s, 3m0s, 1h)`);
  }
  return total;
}

const DEADLINES = new WeakMap<FlagValues, Deadline>();

/**
 * The deadline of the command whose flags are `flags` (`-t/--timeout`, cosign's default 3m),
 * started by the first client that asks for it, so every registry and transparency-log client of
 * the command shares it; `undefined` for a command without `--timeout`.
 * @throws {UsageError} a `--timeout` that is not a positive duration
 */
export function commandDeadline(flags: FlagValues): Deadline | undefined {
  const value = str(flags, "timeout");
  if (value === undefined) return undefined;
  let d = DEADLINES.get(flags);
  if (!d) {
    d = new Deadline(parseDuration(value, "--timeout"));
    DEADLINES.set(flags, d);
  }
  return d;
}
