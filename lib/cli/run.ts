/**
 * The top of both executables: finds the command, parses its flags, runs it, and turns every
 * outcome into an exit code. User mistakes and failed verifications print one line
 * (`Error: …`); anything unexpected is reported as an internal error with exit code 3, never
 * as an uncaught exception. An error's text often carries what a server sent (error bodies,
 * media types, digests), so it is printed through the one sanitiser, {@link escapeForTerminal}:
 * control characters show as `\x1b`, `\n`, … and never act on the terminal.
 * @module
 */

import { CosignError, EXIT_INTERNAL, EXIT_USAGE, UsageError } from "../errors.ts";
import { type FlagSpec, helpText, leadingGlobalFlags, parseCommand, str } from "./args.ts";
import type { Command } from "./command.ts";
import type { CommandSpec, ParsedCommand } from "./args.ts";
import { checkFlagValues } from "./flag_checks.ts";
import { fileError } from "../cosign/keyref.ts";
import { info, redirectStdout, stdout } from "./io.ts";
import { escapeForTerminal } from "../text/escape.ts";

/** A program: a name and its commands, each loaded only when used. */
export interface Program {
  name: string;
  summary: string;
  /** Command name (may contain a space, e.g. `upload blob`) → loader. */
  commands: Record<string, { summary: string; load: () => Promise<Command> }>;
  /** The command to run when the first argument is not a command name (sget's download). */
  defaultCommand?: string;
  /** One line for each command group's help (`attach` of `attach signature`, …). */
  groups?: Record<string, string>;
  /**
   * Flags every command takes, before or after its name (cosign's persistent root flags):
   * `verbose` installs the trace, `output-file` takes the place of stdout.
   */
  globalFlags?: Record<string, FlagSpec>;
}

function programHelp(p: Program): string {
  const width = Math.max(...Object.keys(p.commands).map((c) => c.length)) + 3;
  const rows = Object.entries(p.commands).map(([n, c]) => `  ${n.padEnd(width)}${c.summary}`);
  const globals = Object.entries(p.globalFlags ?? {}).map(([n, f]) =>
    `  ${
      (f.short ? `-${f.short}, ` : "    ") + `--${n}` + (f.type === "string" ? ` ${f.value}` : "")
    }` +
    `  ${f.description}`
  );
  return `${p.summary}\n\nUsage: ${p.name} COMMAND [flags]\n\nCommands:\n${rows.join("\n")}\n\n` +
    (globals.length ? `Global flags:\n${globals.join("\n")}\n\n` : "") +
    `Run "${p.name} COMMAND --help" for a command's flags.\n`;
}

/** The commands of group `group` (`attach` → `attach signature`, …); empty when it is none. */
function groupCommands(p: Program, group: string): string[] {
  return Object.keys(p.commands).filter((c) => c.startsWith(`${group} `));
}

function groupHelp(p: Program, group: string): string {
  const names = groupCommands(p, group);
  const width = Math.max(...names.map((c) => c.length - group.length - 1)) + 3;
  const rows = names.map((n) =>
    `  ${n.slice(group.length + 1).padEnd(width)}${p.commands[n]!.summary}`
  );
  return `${p.groups?.[group] ?? `The ${group} commands.`}\n\n` +
    `Usage: ${p.name} ${group} COMMAND [flags]\n\nCommands:\n${rows.join("\n")}\n\n` +
    `Run "${p.name} ${group} COMMAND --help" for a command's flags.\n`;
}

/** Splits argv into a command name (one or two words) and the rest. */
function findCommand(p: Program, argv: string[]): [string, string[]] | undefined {
  const two = argv.slice(0, 2).join(" ");
  if (argv.length >= 2 && p.commands[two]) return [two, argv.slice(2)];
  if (argv[0] !== undefined && p.commands[argv[0]]) return [argv[0], argv.slice(1)];
  return undefined;
}

/**
 * Runs `program` with `argv`; returns the exit code. Never throws.
 * @param report where the final `Error: …` line goes (default stderr; tests collect it)
 */
export async function runProgram(
  p: Program,
  argv: string[],
  report: (line: string) => Promise<void> = info,
): Promise<number> {
  const debug = Deno.env.get("COSIGN_DEBUG") === "1";
  let leading: string[] = [];
  if (p.globalFlags) [leading, argv] = leadingGlobalFlags(p.globalFlags, argv);
  try {
    // Bare, `-h`, `--help` and `help`: the program's help, exit 0 (as cobra does).
    if (argv.length === 0 && !p.defaultCommand || ["-h", "--help", "help"].includes(argv[0]!)) {
      const topic = argv[0] === "help" ? argv.slice(1) : [];
      const named = topic.length ? findCommand(p, topic) : undefined;
      if (named) {
        await stdout(helpText(p.name, (await p.commands[named[0]]!.load()).spec, p.globalFlags));
      } else if (topic[0] && groupCommands(p, topic[0]).length) {
        await stdout(groupHelp(p, topic[0]));
      } else {
        await stdout(programHelp(p));
      }
      return 0;
    }
    let found = findCommand(p, argv);
    if (!found && p.defaultCommand) found = [p.defaultCommand, argv];
    if (!found) {
      const group = groupCommands(p, argv[0]!);
      // A group alone, or with -h/--help: the group's help, exit 0.
      if (group.length && (argv.length === 1 || ["-h", "--help"].includes(argv[1]!))) {
        await stdout(groupHelp(p, argv[0]!));
        return 0;
      }
      if (group.length) {
        const want = argv[1] && !argv[1].startsWith("-")
          ? `unknown command "${argv[0]} ${argv[1]}"; `
          : "";
        throw new UsageError(`${want}"${p.name} ${argv[0]}" needs one of: ${group.join(", ")}`);
      }
      throw new UsageError(`unknown command "${argv[0]}" for "${p.name}"; run "${p.name} --help"`);
    }
    const [name, rest] = found;
    const cmd = await p.commands[name]!.load();
    const spec = p.globalFlags
      ? { ...cmd.spec, flags: { ...p.globalFlags, ...cmd.spec.flags } }
      : cmd.spec;
    const parsed = parseCommand(spec, [...leading, ...rest], (n) => Deno.env.get(n));
    if (parsed.help) {
      await stdout(helpText(p.name, cmd.spec, p.globalFlags));
      return 0;
    }
    await checkFlagValues(cmd.spec, parsed.flags);
    if (!p.globalFlags) return (await cmd.run(parsed)) ?? 0;
    return await withGlobalFlags(spec, parsed.flags, async () => (await cmd.run(parsed)) ?? 0);
  } catch (e) {
    return await reportError(e, debug, report);
  }
}

/**
 * Runs `fn` under the global flags: `--verbose` traces on stderr (every `fetch` of the process
 * traced too), `--output-file` takes the place of stdout. Both are undone afterwards.
 */
async function withGlobalFlags(
  spec: CommandSpec,
  flags: ParsedCommand["flags"],
  fn: () => Promise<number>,
): Promise<number> {
  const verbose = flags.verbose === true;
  const outputFile = str(flags, "output-file");
  const originalFetch = globalThis.fetch;
  let file: Deno.FsFile | undefined;
  if (outputFile !== undefined) {
    try {
      file = await Deno.open(outputFile, { write: true, create: true, truncate: true });
    } catch (e) {
      throw fileError(e, outputFile, "--output-file");
    }
    redirectStdout(file);
  }
  if (verbose) {
    const { setTraceSink, tracedFetch, trace } = await import("../trace.ts");
    const enc = new TextEncoder();
    setTraceSink((line) => {
      try {
        Deno.stderr.writeSync(enc.encode(`DEBUG ${escapeForTerminal(line)}\n`));
      } catch { /* stderr gone: nothing to trace to */ }
    });
    globalThis.fetch = tracedFetch(originalFetch);
    // Names only: values can be secrets (--registry-password).
    const set = Object.keys(flags).filter((k) =>
      flags[k] !== undefined && flags[k] !== spec.flags[k]?.default
    );
    trace(`command: ${spec.name}; flags set: ${set.join(", ") || "none"}`);
  }
  try {
    return await fn();
  } finally {
    if (verbose) {
      globalThis.fetch = originalFetch;
      (await import("../trace.ts")).setTraceSink(undefined);
    }
    if (file) {
      redirectStdout(undefined);
      file.close();
    }
  }
}
async function reportError(
  e: unknown,
  debug: boolean,
  say: (line: string) => Promise<void>,
): Promise<number> {
  try {
    if (e instanceof Deno.errors.BrokenPipe) return 1; // the reader went away; nothing to say
    if (e instanceof CosignError) {
      await say(`Error: ${escapeForTerminal(e.message)}`);
      if (debug && e.stack) await say(escapeForTerminal(e.stack, { keepNewlines: true }));
      return e.exitCode;
    }
    const msg = e instanceof Error ? e.message : String(e);
    await say(`Error: internal error: ${escapeForTerminal(msg.split("\n")[0]!)}`);
    if (debug && e instanceof Error && e.stack) {
      await say(escapeForTerminal(e.stack, { keepNewlines: true }));
    }
    return EXIT_INTERNAL;
  } catch {
    return e instanceof CosignError ? e.exitCode : EXIT_INTERNAL;
  }
}

/** Exit codes re-exported for the entry point. */
export { EXIT_INTERNAL, EXIT_USAGE };
