/**
 * The one sanitiser for text that reaches a terminal: registry answers, manifest fields, error
 * bodies and anything else a server chose. Every code point Go's `strconv.IsPrint` rejects
 * (controls such as ESC, DEL and the C1 range, format characters such as bidirectional
 * overrides, separators other than the ASCII space, private-use and unassigned code points,
 * lone surrogates) is written as Go's `%q` writes it: `\a \b \f \n \r \t \v`, `\xNN` below
 * 0x80, `\uNNNN`, `\UNNNNNNNN`. What a terminal would act on is thereby shown, not obeyed.
 * @module
 */

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const SHORT: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** One code point (or lone surrogate) as Go's `%q` escapes it. */
function escapeCodePoint(ch: string): string {
  const short = SHORT[ch];
  if (short) return short;
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(cp, 2)}`;
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

/** Options for {@link escapeForTerminal}. */
export interface EscapeOptions {
  /**
   * Leave `\n` as is: for text of several lines the program composed itself, where the line
   * breaks are its own (default false: every newline is shown as `\n`).
   */
  keepNewlines?: boolean;
}

/**
 * `text` with every non-printable code point escaped as Go's `%q` does; printable text,
 * backslashes and quotes are left as they are (use {@link quote} to mark where a value starts
 * and ends).
 *
 * @example
 * ```ts
 * import { escapeForTerminal } from "./escape.ts";
 * escapeForTerminal("sha256:\x1b[2J"); // "sha256:\\x1b[2J"
 * ```
 */
export function escapeForTerminal(text: string, options: EscapeOptions = {}): string {
  let out = "";
  for (const ch of text) {
    if (PRINTABLE.test(ch) || (options.keepNewlines && ch === "\n")) out += ch;
    else out += escapeCodePoint(ch);
  }
  return out;
}

/**
 * `value` as Go's `%q` prints it: in double quotes, with `"` and `\` backslashed and every
 * non-printable code point escaped. For naming a server's string inside a message.
 *
 * @example
 * ```ts
 * import { quote } from "./escape.ts";
 * quote('a"b\n'); // "\"a\\\"b\\n\""
 * ```
 */
export function quote(value: string): string {
  let out = '"';
  for (const ch of value) {
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (PRINTABLE.test(ch)) out += ch;
    else out += escapeCodePoint(ch);
  }
  return out + '"';
}

/**
 * `text` fit for one line of a message: shortened to `max` characters (with `…`), then escaped
 * as {@link escapeForTerminal} does, newlines included. For a parser's reason that may quote
 * its input (JSON.parse's does).
 *
 * @example
 * ```ts
 * import { oneLine } from "./escape.ts";
 * oneLine('Unexpected token \'}\', "},\n  "a"" is not valid JSON'); // the \n escaped
 * ```
 */
export function oneLine(text: string, max = 200): string {
  return escapeForTerminal(text.length > max ? text.slice(0, max) + "…" : text);
}
