/**
 * Go regular expressions (RE2 syntax, as `regexp.Compile` parses them with the Perl flags)
 * translated into JavaScript regular expressions with the same meaning, for cosign's
 * `--certificate-identity-regexp` and `--certificate-oidc-issuer-regexp`.
 *
 * The expression is parsed the way Go's `regexp/syntax` parser does (same tokens, same
 * refusals, same case folding) and written out again in JavaScript's `v` (Unicode sets) mode,
 * spelling out every construct whose meaning differs between the two engines:
 * - `\A`, `\z`, `^` and `$` (text boundaries; `(?m)` makes `^` and `$` line boundaries at `\n`
 *   only), `.` (any character but `\n`; `(?s)` any character), `\b` and `\B` (ASCII words
 *   only, never case-folded);
 * - `\d`, `\s`, `\w` and the POSIX classes `[[:alpha:]]` are the ASCII sets Go defines;
 * - `(?i)`, `(?m)`, `(?s)`, `(?U)`, `(?flags:re)` and `(?-flags)` apply to exactly the part of
 *   the expression they cover in Go: case folding becomes a `(?i:…)` modifier group around
 *   each affected character or class (simple case folding, as Go's), the others are resolved
 *   while translating;
 * - `\Q…\E`, octal `\123`, `\x7F`, `\x{10FFFF}`, `\a \f \t \n \r \v` and escaped punctuation
 *   become the characters they stand for;
 * - `\pL`, `\p{Greek}`, `\PL`, `\p{^Greek}`: the general categories and scripts of Go's
 *   `unicode` tables, plus `Any`, `ASCII`, `Assigned`, `LC` and `Cn`.
 *
 * What Go refuses (`\Z`, backreferences, lookaround, `\C`, atomic groups, possessive or
 * stacked repetitions, counts over 1000, unknown escapes or class names, …) is refused here
 * with a {@link UsageError} naming the construct, and so is any class name that cannot be
 * mapped exactly (Go 1.25's case-insensitive aliases such as `\p{letter}`).
 *
 * The result is unanchored, as Go's `MatchString`: `compileRe2("a").test("xay")` is true.
 * @module
 */

import { UsageError } from "../errors.ts";

/** The JavaScript flags every translated expression is compiled with. */
export const RE2_JS_FLAGS = "v";

/** Go's limit on repetition counts and on their nested product. */
const MAX_REPEAT = 1000;
/** Go's limit on the height of the parse tree. */
const MAX_HEIGHT = 1000;

/** A reason an expression is refused; turned into a {@link UsageError} by the caller. */
class Refusal extends Error {}

/** The Perl flags in force at a point of the expression. */
interface Flags {
  /** `i`: case-insensitive. */
  readonly i: boolean;
  /** `m`: `^` and `$` also match at line boundaries. */
  readonly m: boolean;
  /** `s`: `.` matches `\n`. */
  readonly s: boolean;
  /** `U`: repetitions prefer fewer. */
  readonly U: boolean;
}

/** A parsed expression, already holding the JavaScript text of its leaves. */
type Node =
  | { readonly kind: "leaf"; readonly js: string; readonly fold: boolean; readonly height: 1 }
  | { readonly kind: "empty-width"; readonly js: string; readonly height: 1 }
  | {
    readonly kind: "group";
    readonly alternatives: readonly (readonly Node[])[];
    readonly height: number;
  }
  | {
    readonly kind: "repeat";
    readonly sub: Node;
    readonly min: number;
    /** -1: unbounded. */
    readonly max: number;
    readonly lazy: boolean;
    /** `{n,m}` rather than `*`, `+` or `?` (only those count towards Go's repeat limit). */
    readonly counted: boolean;
    readonly height: number;
  };

type Range = readonly [number, number];

const ANY_CHAR = "[\\u{0}-\\u{10FFFF}]";
const NOT_NEWLINE = "[^\\u{A}]";
const BEGIN_LINE = "(?<![^\\u{A}])";
const END_LINE = "(?![^\\u{A}])";

const DIGIT: Range[] = [[0x30, 0x39]];
const SPACE_PERL: Range[] = [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]];
const WORD: Range[] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];

/** `\d \s \w` (ASCII only in Go); upper case negates. */
const PERL_CLASSES: Record<string, Range[]> = { d: DIGIT, s: SPACE_PERL, w: WORD };

/** `[:name:]` (ASCII only in Go). */
const POSIX_CLASSES: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: DIGIT,
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: WORD,
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

/**
 * Go's `unicode.Categories` names whose JavaScript `\p{…}` has the same members (Go's `C` lacks
 * the unassigned code points, so it is spelled out below).
 */
const SAME_CATEGORIES = new Set(
  ("Cc Cf Cn Co Cs L LC Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps " +
    "S Sc Sk Sm So Z Zl Zp Zs ASCII").split(" "),
);

/** Perl group syntax RE2 does not have, and what it is. */
const UNSUPPORTED_GROUPS: readonly [string, string][] = [
  ["(?=", "lookahead"],
  ["(?!", "negative lookahead"],
  ["(?<=", "lookbehind"],
  ["(?<!", "negative lookbehind"],
  ["(?P=", "named backreference"],
  ["(?P>", "recursion"],
  ["(?>", "atomic group"],
  ["(?#", "comment"],
];

/** The largest of `values` (1 for none), without spreading a long array into arguments. */
function highest(values: Iterable<number>): number {
  let max = 1;
  for (const v of values) if (v > max) max = v;
  return max;
}

/** A character as JavaScript `v`-mode source, valid inside and outside a class. */
function jsChar(cp: number): string {
  return /^[0-9A-Za-z]$/.test(String.fromCodePoint(cp))
    ? String.fromCodePoint(cp)
    : `\\u{${cp.toString(16).toUpperCase()}}`;
}

function jsRange([lo, hi]: Range): string {
  return lo === hi ? jsChar(lo) : `${jsChar(lo)}-${jsChar(hi)}`;
}

function jsClass(ranges: readonly Range[], negated: boolean): string {
  return `[${negated ? "^" : ""}${ranges.map(jsRange).join("")}]`;
}

const scriptCache = new Map<string, boolean>();

/** Whether JavaScript knows `name` as a Unicode script. */
function isScript(name: string): boolean {
  let known = scriptCache.get(name);
  if (known === undefined) {
    try {
      new RegExp(`\\p{Script=${name}}`, RE2_JS_FLAGS);
      known = true;
    } catch {
      known = false;
    }
    scriptCache.set(name, known);
  }
  return known;
}

/** `\p{name}` as JavaScript: the class and its negation, or undefined for an unknown name. */
function unicodeClass(name: string): [string, string] | undefined {
  if (name === "Any") return [ANY_CHAR, `[^${ANY_CHAR.slice(1)}`];
  if (name === "C") return ["[\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}]", "[^\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}]"];
  if (name === "Assigned") return ["\\P{Cn}", "\\p{Cn}"];
  if (SAME_CATEGORIES.has(name)) return [`\\p{${name}}`, `\\P{${name}}`];
  // Go's script names: Greek, Old_Italic, SignWriting.
  if (/^[A-Z][A-Za-z]*(?:_[A-Z][A-Za-z]*)*$/.test(name) && isScript(name)) {
    return [`\\p{Script=${name}}`, `\\P{Script=${name}}`];
  }
  return undefined;
}

function isAlnum(c: string | undefined): boolean {
  return c !== undefined && /^[0-9A-Za-z]$/.test(c);
}

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "7";
}

function hexValue(c: string | undefined): number {
  return c !== undefined && /^[0-9A-Fa-f]$/.test(c) ? parseInt(c, 16) : -1;
}

/**
 * Go's `repeatIsValid`: the counts of nested `{n,m}` repetitions, multiplied, stay within
 * `limit` copies of the innermost expression.
 */
function repeatIsValid(node: Node, limit: number): boolean {
  let n = limit;
  if (node.kind === "repeat" && node.counted) {
    let m = node.max;
    if (m === 0) return true;
    if (m < 0) m = node.min;
    if (m > n) return false;
    if (m > 0) n = Math.floor(n / m);
  }
  if (node.kind === "repeat") return repeatIsValid(node.sub, n);
  if (node.kind === "group") {
    return node.alternatives.every((alternative) => alternative.every((s) => repeatIsValid(s, n)));
  }
  return true;
}

function concatHeight(items: readonly Node[]): number {
  const max = highest(items.map((n) => n.height));
  return items.length > 1 ? max + 1 : max;
}

/** An open group: what was parsed before it, and the flags to restore at its `)`. */
interface Frame {
  readonly alternatives: Node[][];
  readonly concat: Node[];
  readonly flags: Flags;
  readonly capture: boolean;
}

/** The parser, following Go's `regexp/syntax.parse` token by token. */
class Parser {
  private readonly chars: string[];
  private pos = 0;
  private flags: Flags = { i: false, m: false, s: false, U: false };
  private readonly frames: Frame[] = [];
  private alternatives: Node[][] = [];
  private concat: Node[] = [];

  constructor(pattern: string) {
    this.chars = Array.from(pattern);
    if (this.chars.some((c) => c.length === 1 && c >= "\ud800" && c <= "\udfff")) {
      throw new Refusal("invalid UTF-8 (a lone surrogate)");
    }
  }

  private text(from: number, to = this.pos): string {
    return this.chars.slice(from, to).join("");
  }

  private push(node: Node): void {
    this.concat.push(node);
  }

  private literal(cp: number): void {
    this.push({ kind: "leaf", js: jsChar(cp), fold: this.flags.i, height: 1 });
  }

  /** The whole expression, parsed. */
  parse(): Node {
    const chars = this.chars;
    let lastRepeatStart = -1;
    while (this.pos < chars.length) {
      let repeatStart = -1;
      const start = this.pos;
      switch (chars[this.pos]) {
        case "(":
          if (chars[this.pos + 1] === "?") this.parseGroupSyntax();
          else this.openGroup(this.flags, true, 1);
          break;
        case "|":
          this.alternatives.push(this.concat);
          this.concat = [];
          this.pos++;
          break;
        case ")":
          this.closeGroup();
          this.pos++;
          break;
        case "^":
          this.push({ kind: "empty-width", js: this.flags.m ? BEGIN_LINE : "^", height: 1 });
          this.pos++;
          break;
        case "$":
          this.push({ kind: "empty-width", js: this.flags.m ? END_LINE : "$", height: 1 });
          this.pos++;
          break;
        case ".":
          this.push({
            kind: "leaf",
            js: this.flags.s ? ANY_CHAR : NOT_NEWLINE,
            fold: false,
            height: 1,
          });
          this.pos++;
          break;
        case "[":
          this.parseClass();
          break;
        case "*":
        case "+":
        case "?": {
          const op = chars[this.pos++]!;
          const [min, max] = op === "*" ? [0, -1] : op === "+" ? [1, -1] : [0, 1];
          this.repeat(min, max, false, start, lastRepeatStart);
          repeatStart = start;
          break;
        }
        case "{": {
          const counts = this.parseRepeatCounts();
          if (!counts) {
            this.literal(0x7b);
            this.pos++;
            break;
          }
          const [min, max] = counts;
          if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
            throw new Refusal(`invalid repeat count ${this.text(start)}`);
          }
          this.repeat(min, max, true, start, lastRepeatStart);
          repeatStart = start;
          break;
        }
        case "\\":
          this.parseBackslash();
          break;
        default:
          this.literal(chars[this.pos++]!.codePointAt(0)!);
      }
      lastRepeatStart = repeatStart;
    }
    if (this.frames.length > 0) throw new Refusal("missing closing )");
    this.alternatives.push(this.concat);
    return this.group(this.alternatives, false);
  }

  private group(alternatives: Node[][], capture: boolean): Node {
    const height = highest(alternatives.map(concatHeight)) + (alternatives.length > 1 ? 1 : 0) +
      (capture ? 1 : 0);
    if (height > MAX_HEIGHT) throw new Refusal("expression nests too deeply");
    return { kind: "group", alternatives, height };
  }

  private openGroup(restore: Flags, capture: boolean, length: number): void {
    this.frames.push({
      alternatives: this.alternatives,
      concat: this.concat,
      flags: restore,
      capture,
    });
    if (this.frames.length > MAX_HEIGHT) throw new Refusal("expression nests too deeply");
    this.alternatives = [];
    this.concat = [];
    this.pos += length;
  }

  private closeGroup(): void {
    const frame = this.frames.pop();
    if (!frame) throw new Refusal("unexpected )");
    this.alternatives.push(this.concat);
    const node = this.group(this.alternatives, frame.capture);
    this.alternatives = frame.alternatives;
    this.concat = frame.concat;
    this.flags = frame.flags;
    this.push(node);
  }

  /** `(?` at `pos`: a named capture, a flag change, or a flagged non-capturing group. */
  private parseGroupSyntax(): void {
    const chars = this.chars;
    const start = this.pos;
    const third = chars[start + 2];
    const fourth = chars[start + 3];
    const head = this.text(start, start + 4);
    for (const [prefix, what] of UNSUPPORTED_GROUPS) {
      if (head.startsWith(prefix)) throw new Refusal(`${what} ${prefix} is not RE2 syntax`);
    }
    const named = (third === "P" && fourth === "<" && chars.length - start > 4) ||
      (third === "<" && chars.length - start > 3);
    if (named) {
      const end = chars.indexOf(">", start);
      if (end < 0) throw new Refusal(`invalid named capture ${this.text(start, chars.length)}`);
      const name = this.text(start + (third === "P" ? 4 : 3), end);
      if (!/^[0-9A-Za-z_]+$/.test(name)) {
        throw new Refusal(`invalid named capture ${this.text(start, end + 1)}`);
      }
      this.openGroup(this.flags, true, end + 1 - start);
      return;
    }
    const set = { i: this.flags.i, m: this.flags.m, s: this.flags.s, U: this.flags.U };
    let negated = false;
    let sawFlag = false;
    let p = start + 2;
    for (; p < chars.length; p++) {
      const c = chars[p]!;
      if (c === "i" || c === "m" || c === "s" || c === "U") {
        set[c] = !negated;
        sawFlag = true;
      } else if (c === "-" && !negated) {
        negated = true;
        sawFlag = false;
      } else if ((c === ":" || c === ")") && (!negated || sawFlag)) {
        const before = this.flags;
        this.flags = set;
        if (c === ":") this.openGroup(before, false, p + 1 - start);
        else this.pos = p + 1;
        return;
      } else {
        break;
      }
    }
    throw new Refusal(
      `invalid or unsupported Perl syntax ${this.text(start, Math.min(p + 1, chars.length))}`,
    );
  }

  /**
   * Go's `parseRepeat` at `{`: `{n}`, `{n,}` or `{n,m}` as [min, max] (max -1: unbounded;
   * min -1: a number too big), or undefined when the text is not a count (then `{` is a
   * literal). Moves `pos` past the `}` only for a count.
   */
  private parseRepeatCounts(): [number, number] | undefined {
    let p = this.pos + 1;
    const number = (): number | undefined => {
      const from = p;
      while (p < this.chars.length && /^[0-9]$/.test(this.chars[p]!)) p++;
      if (p === from) return undefined;
      if (p - from >= 2 && this.chars[from] === "0") return undefined; // no leading zeros
      return p - from > 8 ? -1 : Number(this.text(from, p));
    };
    let min = number();
    if (min === undefined) return undefined;
    let max = min;
    if (this.chars[p] === ",") {
      p++;
      if (this.chars[p] === "}") {
        max = -1;
      } else {
        const m = number();
        if (m === undefined) return undefined;
        max = m;
        if (max < 0) min = -1;
      }
    }
    if (this.chars[p] !== "}") return undefined;
    this.pos = p + 1;
    return [min, max];
  }

  /** Applies a repetition (its operator text starts at `start`) to the last item. */
  private repeat(
    min: number,
    max: number,
    counted: boolean,
    start: number,
    lastRepeatStart: number,
  ): void {
    let lazy = this.flags.U;
    if (this.chars[this.pos] === "?") {
      this.pos++;
      lazy = !lazy;
    }
    if (lastRepeatStart >= 0) {
      throw new Refusal(`invalid nested repetition operator ${this.text(lastRepeatStart)}`);
    }
    const sub = this.concat.at(-1);
    if (!sub) throw new Refusal(`missing argument to repetition operator ${this.text(start)}`);
    const node: Node = { kind: "repeat", sub, min, max, lazy, counted, height: sub.height + 1 };
    if (node.height > MAX_HEIGHT) throw new Refusal("expression nests too deeply");
    if (counted && (min >= 2 || max >= 2) && !repeatIsValid(node, MAX_REPEAT)) {
      throw new Refusal(`invalid repeat count ${this.text(start)}`);
    }
    this.concat[this.concat.length - 1] = node;
  }

  /** `\` outside a class. */
  private parseBackslash(): void {
    const chars = this.chars;
    const start = this.pos;
    const next = chars[start + 1];
    const emptyWidth: Record<string, string> = { A: "^", z: "$", b: "\\b", B: "\\B" };
    if (next !== undefined && next in emptyWidth) {
      // \b and \B stay outside any (?i:…) group, so they keep Go's ASCII word characters.
      this.push({ kind: "empty-width", js: emptyWidth[next]!, height: 1 });
      this.pos += 2;
      return;
    }
    if (next === "C") throw new Refusal("\\C (any byte) is not supported by RE2");
    if (next === "Q") {
      let end = chars.length;
      for (let p = start + 2; p + 1 < chars.length; p++) {
        if (chars[p] === "\\" && chars[p + 1] === "E") {
          end = p;
          break;
        }
      }
      for (let p = start + 2; p < end; p++) this.literal(chars[p]!.codePointAt(0)!);
      this.pos = Math.min(end + 2, chars.length);
      return;
    }
    const named = this.parseNamedEscape(start);
    if (named) {
      this.push({ kind: "leaf", js: named, fold: this.flags.i, height: 1 });
      return;
    }
    this.literal(this.parseEscape());
  }

  /**
   * `\pN`, `\p{Name}`, `\PN`, `\P{Name}` or `\d \D \s \S \w \W` at `start`, as JavaScript
   * class text, moving `pos` past it; undefined when `start` holds another escape.
   */
  private parseNamedEscape(start: number): string | undefined {
    const chars = this.chars;
    const letter = chars[start + 1];
    if (chars[start] !== "\\" || letter === undefined) return undefined;
    const perl = PERL_CLASSES[letter.toLowerCase()];
    if (perl && /^[dswDSW]$/.test(letter)) {
      this.pos = start + 2;
      return jsClass(perl, letter !== letter.toLowerCase());
    }
    if (letter !== "p" && letter !== "P") return undefined;
    let negated = letter === "P";
    let name: string;
    let end: number;
    if (chars[start + 2] !== "{") {
      name = chars[start + 2] ?? "";
      end = Math.min(start + 3, chars.length);
    } else {
      const close = chars.indexOf("}", start);
      if (close < 0) {
        throw new Refusal(`unknown Unicode class ${this.text(start, chars.length)} (missing })`);
      }
      name = this.text(start + 3, close);
      end = close + 1;
    }
    const sequence = this.text(start, end);
    if (name.startsWith("^")) {
      negated = !negated;
      name = name.slice(1);
    }
    const js = unicodeClass(name);
    if (!js) {
      throw new Refusal(
        `unknown Unicode class ${sequence} (give a Go category such as L or Lu, or a script such as Greek, exactly)`,
      );
    }
    this.pos = end;
    return negated ? js[1] : js[0];
  }

  /** Go's `parseEscape` at `pos`: a single-character escape, moving `pos` past it. */
  private parseEscape(): number {
    const chars = this.chars;
    const start = this.pos;
    const c = chars[start + 1];
    if (c === undefined) throw new Refusal("trailing backslash at end of expression");
    const cp = c.codePointAt(0)!;
    if (cp < 0x80 && !isAlnum(c)) {
      this.pos = start + 2;
      return cp;
    }
    if (c >= "1" && c <= "7" && !isOctal(chars[start + 2])) {
      throw new Refusal(`backreference \\${c} is not RE2 syntax`);
    }
    if (c >= "0" && c <= "7") {
      let value = cp - 0x30;
      let p = start + 2;
      for (let i = 1; i < 3 && isOctal(chars[p]); i++, p++) value = value * 8 + Number(chars[p]);
      this.pos = p;
      return value;
    }
    if (c === "x") {
      if (chars[start + 2] === "{") {
        let value = 0;
        let digits = 0;
        let p = start + 3;
        for (; p < chars.length; p++) {
          if (chars[p] === "}") {
            if (digits === 0) break;
            this.pos = p + 1;
            return value;
          }
          const v = hexValue(chars[p]);
          if (v < 0) break;
          value = value * 16 + v;
          digits++;
          if (value > 0x10ffff) break;
        }
        throw new Refusal(
          `invalid escape sequence ${this.text(start, Math.min(p + 1, chars.length))}`,
        );
      }
      const x = hexValue(chars[start + 2]);
      const y = hexValue(chars[start + 3]);
      if (x < 0 || y < 0) {
        throw new Refusal(`invalid escape sequence ${this.text(start, start + 4)}`);
      }
      this.pos = start + 4;
      return x * 16 + y;
    }
    const controls: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
    if (c in controls) {
      this.pos = start + 2;
      return controls[c]!;
    }
    if (c === "Z") throw new Refusal("\\Z is not RE2 syntax (RE2 writes end of text as \\z)");
    if (c === "8" || c === "9") throw new Refusal(`backreference \\${c} is not RE2 syntax`);
    throw new Refusal(`invalid escape sequence \\${c}`);
  }

  /** Go's `parseClass` at `[`. */
  private parseClass(): void {
    const chars = this.chars;
    const start = this.pos;
    let p = start + 1;
    let negated = false;
    if (chars[p] === "^") {
      negated = true;
      p++;
    }
    const items: string[] = [];
    const missing = () => new Refusal(`missing closing ] in ${this.text(start, chars.length)}`);
    const classChar = (): number => {
      if (p >= chars.length) throw missing();
      if (chars[p] !== "\\") return chars[p++]!.codePointAt(0)!;
      this.pos = p;
      const cp = this.parseEscape();
      p = this.pos;
      return cp;
    };
    let first = true;
    while (p >= chars.length || chars[p] !== "]" || first) {
      first = false;
      if (p >= chars.length) throw missing();
      if (chars[p] === "[" && chars[p + 1] === ":" && p + 2 < chars.length) {
        let close = -1;
        for (let q = p + 2; q + 1 < chars.length; q++) {
          if (chars[q] === ":" && chars[q + 1] === "]") {
            close = q;
            break;
          }
        }
        if (close >= 0) {
          const text = this.text(p, close + 2);
          const inner = this.text(p + 2, close);
          const name = inner.startsWith("^") ? inner.slice(1) : inner;
          const ranges = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
          if (!ranges) throw new Refusal(`unknown POSIX class ${text}`);
          items.push(jsClass(ranges, inner.startsWith("^")));
          p = close + 2;
          continue;
        }
      }
      const named = this.parseNamedEscape(p);
      if (named) {
        items.push(named);
        p = this.pos;
        continue;
      }
      const rangeStart = p;
      const lo = classChar();
      let hi = lo;
      if (chars[p] === "-" && p + 1 < chars.length && chars[p + 1] !== "]") {
        p++;
        hi = classChar();
        if (hi < lo) {
          throw new Refusal(`invalid character class range ${this.text(rangeStart, p)}`);
        }
      }
      items.push(jsRange([lo, hi]));
    }
    this.pos = p + 1;
    this.push({
      kind: "leaf",
      js: `[${negated ? "^" : ""}${items.join("")}]`,
      fold: this.flags.i,
      height: 1,
    });
  }
}

function emit(node: Node): string {
  switch (node.kind) {
    case "leaf":
      return node.fold ? `(?i:${node.js})` : node.js;
    case "empty-width":
      return node.js;
    case "group":
      return `(?:${node.alternatives.map((a) => a.map(emit).join("")).join("|")})`;
    case "repeat": {
      const { min, max } = node;
      const count = min === 0 && max === -1
        ? "*"
        : min === 1 && max === -1
        ? "+"
        : min === 0 && max === 1
        ? "?"
        : max === -1
        ? `{${min},}`
        : min === max
        ? `{${min}}`
        : `{${min},${max}}`;
      return `(?:${emit(node.sub)})${count}${node.lazy ? "?" : ""}`;
    }
  }
}

/**
 * Quotes an expression for a message: as typed, in double quotes, unless it holds a double
 * quote or a control character (then as a JSON string).
 */
function quote(pattern: string): string {
  // deno-lint-ignore no-control-regex
  return /["\u0000-\u001f\u007f]/.test(pattern) ? JSON.stringify(pattern) : `"${pattern}"`;
}

/**
 * Translates a Go (RE2) regular expression into JavaScript source with the same meaning, to be
 * compiled with {@link RE2_JS_FLAGS}.
 * @param pattern the Go expression
 * @param label what the expression is, for the error message (e.g. the command-line flag)
 * @returns the JavaScript source
 * @throws {UsageError} `Invalid <label> "<pattern>": <reason>` naming the construct RE2 refuses
 *   or that has no exact JavaScript equivalent
 * @example
 * ```ts ignore
 * translateRe2("^alice@acme\\.com\\z|(?i)^BOB@", "--certificate-identity-regexp");
 * ```
 */
export function translateRe2(pattern: string, label = "RE2 regular expression"): string {
  let source: string;
  try {
    source = emit(new Parser(pattern).parse());
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    throw new UsageError(`Invalid ${label} ${quote(pattern)}: ${e.message}`);
  }
  return source;
}

/**
 * Compiles a Go (RE2) regular expression as a JavaScript `RegExp` with the same meaning,
 * unanchored as Go's `MatchString`: use `.test(text)`.
 * @param pattern the Go expression
 * @param label what the expression is, for the error message (e.g. the command-line flag)
 * @throws {UsageError} `Invalid <label> "<pattern>": <reason>`, for what RE2 refuses or what
 *   has no exact JavaScript equivalent
 * @example
 * ```ts ignore
 * const re = compileRe2("^alice@acme\\.com\\z|^bob@acme\\.com\\z", "--certificate-identity-regexp");
 * re.test("bob@acme.com"); // true
 * re.test("alice@acme.comzebra.net"); // false
 * ```
 */
export function compileRe2(pattern: string, label = "RE2 regular expression"): RegExp {
  const source = translateRe2(pattern, label);
  try {
    return new RegExp(source, RE2_JS_FLAGS);
  } catch (e) {
    throw new UsageError(
      `Invalid ${label} ${quote(pattern)}: no JavaScript equivalent (${(e as Error).message})`,
    );
  }
}
