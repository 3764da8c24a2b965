/**
 * Command-line flags the way cosign's cobra/pflag reads them: `--flag value`, `--flag=value`,
 * `-f value`, booleans as `--flag`, `--flag=true` or `--flag=false`, repeatable flags, and any
 * unset flag taken from the environment variable `COSIGN_<FLAG>` (upper case, `-` → `_`).
 * Tokenising is done by `node:util` parseArgs; this module adds typing and validation.
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";

/**
 * What a flag's value must be, checked before the command runs (`flag_checks.ts`): an
 * `http(s)` URL, a positive whole number, a Go duration, a byte size, an existing file (`-` for
 * stdin), a file that can be created (its folder exists; not a folder), a key-pair prefix whose
 * folder exists, an existing folder, or a folder to create (not a file).
 */
export type FlagCheck =
  | "url"
  | "count"
  | "duration"
  | "size"
  | "file"
  | "out-file"
  | "key-prefix"
  | "dir"
  | "out-dir";

/** One flag of a command. */
export interface FlagSpec {
  type: "string" | "boolean";
  /** One-letter alias, e.g. `y` for `--yes`. */
  short?: string;
  /** Repeatable (values collected into an array). */
  multiple?: boolean;
  /** Default value when neither the command line nor the environment sets it. */
  default?: string | boolean;
  /** One line for `--help`. */
  description: string;
  /** Placeholder for the value in `--help`, e.g. `FILE`. */
  value?: string;
  /**
   * `false`: the flag is never read from `COSIGN_<FLAG>`, because that variable means something
   * else (login's `--password` would otherwise pick up the key password, `COSIGN_PASSWORD`).
   */
  env?: boolean;
  /** What the value must be (see {@link FlagCheck}); checked before the command runs. */
  check?: FlagCheck;
  /**
   * Why cosign's flag is not supported here: setting it (to anything but its default) is a
   * usage error naming this reason, and `--help` and the flag table say so.
   */
  unsupported?: string;
}

/** A command's flags and positional arguments. */
export interface CommandSpec {
  /** Full command name, e.g. `sign-blob`. */
  name: string;
  /** One-line summary. */
  summary: string;
  /** Usage line after the command name, e.g. `--key KEYREF [flags] FILE`. */
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Minimum and maximum number of positional arguments. */
  args: [min: number, max: number];
}

/** Parsed flag values. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** The result of parsing a command line. */
export interface ParsedCommand {
  flags: FlagValues;
  positionals: string[];
  help: boolean;
}

/** Go's strconv.ParseBool. */
export function parseBool(value: string, flag: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  throw new UsageError(`invalid argument "${value}" for "--${flag}": not a boolean`);
}

/**
 * Variables cosign reads for their own meaning (cosign's `pkg/cosign/env`, and this
 * implementation's own): a flag whose name would map onto one of them is never set from it, so a
 * secret of one kind never lands in a flag of another (`COSIGN_PASSWORD`, the key password, is
 * not `cosign login --password`).
 */
export const RESERVED_ENV: ReadonlySet<string> = new Set([
  "COSIGN_EXPERIMENTAL",
  "COSIGN_DOCKER_MEDIA_TYPES",
  "COSIGN_PASSWORD",
  "COSIGN_PKCS11_PIN",
  "COSIGN_PKCS11_MODULE_PATH",
  "COSIGN_PKCS11_IGNORE_CERTIFICATE",
  "COSIGN_REPOSITORY",
  "COSIGN_MAX_ATTACHMENT_SIZE",
  "COSIGN_DEBUG",
  "COSIGN_LOCK_TIMEOUT",
]);

/**
 * The environment variable that can set `flag` of `spec`, or `undefined` when none may: the
 * flag opts out (`env: false`), or its name maps onto a variable in {@link RESERVED_ENV}.
 */
export function envNameForFlag(flag: string, spec?: FlagSpec): string | undefined {
  if (spec?.env === false) return undefined;
  const name = "COSIGN_" + flag.toUpperCase().replaceAll("-", "_");
  return RESERVED_ENV.has(name) || name.startsWith("COSIGN_DENO_") ? undefined : name;
}

/**
 * Parses `argv` against `spec`.
 * @param getEnv environment lookup for `COSIGN_<FLAG>` bindings
 * @throws {UsageError} unknown flags, missing values, bad booleans, wrong argument count
 */
export function parseCommand(
  spec: CommandSpec,
  argv: string[],
  getEnv: (name: string) => string | undefined,
): ParsedCommand {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, f] of Object.entries(spec.flags)) {
    // Booleans are tokenised as strings-or-flags below, so `--x=false` keeps its value.
    options[name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  }
  const { tokens } = parseArgs({
    args: argv,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flags: FlagValues = {};
  const positionals: string[] = [];
  let help = false;
  for (const t of tokens ?? []) {
    if (t.kind === "positional") {
      positionals.push(t.value);
      continue;
    }
    if (t.kind === "option-terminator") continue;
    const name = t.name;
    if (name === "help") {
      help = true;
      continue;
    }
    const f = spec.flags[name];
    if (!f) throw new UsageError(`unknown flag: ${t.rawName}`);
    let value: string | boolean;
    if (f.type === "boolean") {
      value = t.inlineValue ? parseBool(t.value ?? "", name) : true;
    } else {
      if (t.value === undefined) throw new UsageError(`flag needs an argument: ${t.rawName}`);
      value = t.value;
    }
    if (f.multiple) {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? prev : []), String(value)];
    } else {
      flags[name] = value;
    }
  }
  for (const [name, f] of Object.entries(spec.flags)) {
    if (flags[name] !== undefined) continue;
    const envName = envNameForFlag(name, f);
    const env = envName === undefined ? undefined : getEnv(envName);
    if (env !== undefined) {
      flags[name] = f.type === "boolean" ? parseBool(env, name) : f.multiple ? env.split(",") : env;
    } else if (f.default !== undefined) {
      flags[name] = f.default;
    }
  }
  for (const [name, f] of Object.entries(spec.flags)) {
    if (f.unsupported && flags[name] !== undefined && flags[name] !== f.default) {
      throw new UsageError(`--${name} is not supported: ${f.unsupported}`);
    }
  }
  if (!help) {
    const [min, max] = spec.args;
    if (positionals.length < min || positionals.length > max) {
      const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min}-${max}`;
      throw new UsageError(
        `${spec.name} takes ${want} argument(s), got ${positionals.length}; see "${spec.name} --help"`,
      );
    }
  }
  return { flags, positionals, help };
}

/** The rows of a flag table: left column (names and value) and right column (description). */
function flagRows(flags: Record<string, FlagSpec>): [string, string][] {
  return Object.entries(flags).map(([name, f]) => {
    const left = (f.short ? `-${f.short}, ` : "    ") + `--${name}` +
      (f.type === "string" ? ` ${f.value ?? "string"}` : "");
    const def = f.default !== undefined && f.default !== "" ? ` (default ${f.default})` : "";
    if (f.unsupported) return [left, `not supported: ${f.unsupported}`];
    return [left, f.description + def];
  });
}

/** Renders `--help` text for a command; `globals` are the program's flags every command takes. */
export function helpText(
  program: string,
  spec: CommandSpec,
  globals: Record<string, FlagSpec> = {},
): string {
  const lines = [spec.summary, "", `Usage: ${program} ${spec.name} ${spec.usage}`, "", "Flags:"];
  const rows = flagRows(spec.flags);
  rows.push(["-h, --help", "help for " + spec.name]);
  const globalRows = flagRows(globals);
  const width = Math.max(...[...rows, ...globalRows].map(([l]) => l.length)) + 3;
  for (const [l, r] of rows) lines.push("  " + l.padEnd(width) + r);
  if (globalRows.length) {
    lines.push("", "Global flags:");
    for (const [l, r] of globalRows) lines.push("  " + l.padEnd(width) + r);
  }
  const noEnv = Object.entries(spec.flags).filter(([n, f]) => envNameForFlag(n, f) === undefined);
  lines.push(
    "",
    `Any flag can also be set with the environment variable COSIGN_<FLAG>` +
      (noEnv.length ? ` (except ${noEnv.map(([n]) => `--${n}`).join(", ")}).` : "."),
  );
  return lines.join("\n") + "\n";
}

/**
 * Splits the program's global flags off the front of `argv` (`cosign -d --output-file F verify
 * …`), so the command can be found; the tokens taken are returned to be parsed with the
 * command's own. Stops at the first token that is not a global flag.
 */
export function leadingGlobalFlags(
  globals: Record<string, FlagSpec>,
  argv: string[],
): [taken: string[], rest: string[]] {
  let i = 0;
  while (i < argv.length) {
    const t = argv[i]!;
    const long = /^--([^=]+)(=.*)?$/.exec(t);
    const name = long
      ? long[1]!
      : Object.entries(globals).find(([, f]) => f.short && t === `-${f.short}`)?.[0];
    const f = name === undefined ? undefined : globals[name];
    if (!f) break;
    i += f.type === "string" && !long?.[2] ? 2 : 1;
  }
  return [argv.slice(0, i), argv.slice(i)];
}

/** Reads a string flag. */
export function str(flags: FlagValues, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads a boolean flag. */
export function bool(flags: FlagValues, name: string): boolean {
  return flags[name] === true;
}

/** Reads a string flag that must be present and non-empty. */
export function required(flags: FlagValues, name: string): string {
  const v = str(flags, name);
  if (!v) throw new UsageError(`required flag "--${name}" not set`);
  return v;
}
