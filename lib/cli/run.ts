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
import { helpText, parseCommand } from "./args.ts";
import type { Command } from "./command.ts";
import { checkFlagValues } from "./flag_checks.ts";
import { info, stdout } from "./io.ts";
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
}

function programHelp(p: Program): string {
  const width = Math.max(...Object.keys(p.commands).map((c) => c.length)) + 3;
  const rows = Object.entries(p.commands).map(([n, c]) => `  ${n.padEnd(width)}${c.summary}`);
  return `${p.summary}\n\nUsage: ${p.name} COMMAND [flags]\n\nCommands:\n${rows.join("\n")}\n\n` +
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
  try {
    // Bare, `-h`, `--help` and `help`: the program's help, exit 0 (as cobra does).
    if (argv.length === 0 && !p.defaultCommand || ["-h", "--help", "help"].includes(argv[0]!)) {
      const topic = argv[0] === "help" ? argv.slice(1) : [];
      const named = topic.length ? findCommand(p, topic) : undefined;
      if (named) {
        await stdout(helpText(p.name, (await p.commands[named[0]]!.load()).spec));
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
    const parsed = parseCommand(cmd.spec, rest, (n) => Deno.env.get(n));
    if (parsed.help) {
      await stdout(helpText(p.name, cmd.spec));
      return 0;
    }
    await checkFlagValues(cmd.spec, parsed.flags);
    return (await cmd.run(parsed)) ?? 0;
  } catch (e) {
    return await reportError(e, debug, report);
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
