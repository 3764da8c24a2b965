import { assert, assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode } from "../tlog/_fixtures.ts";
import { compileRe2, RE2_JS_FLAGS, translateRe2 } from "./re2.ts";

/**
 * RE2 behaviours, as Go's `regexp.MustCompile(pattern).MatchString(input)` answers them
 * (read from Go's regexp/syntax documentation and parser).
 */
const BEHAVIOURS: readonly [pattern: string, input: string, matches: boolean][] = [
  // The attack of issue 19: \z inside an alternation is end of text, not the letter z.
  ["^alice@acme\\.com\\z|^bob@acme\\.com\\z", "alice@acme.comzebra.net", false],
  ["^alice@acme\\.com\\z|^bob@acme\\.com\\z", "bob@acme.com", true],
  ["^alice@acme\\.com\\z|^bob@acme\\.com\\z", "alice@acme.com", true],
  ["^alice@acme\\.com\\z|^bob@acme\\.com\\z", "bob@acme.com\n", false],
  // \A is start of text, anywhere in the pattern.
  ["\\Aa", "ba", false],
  ["\\Aa", "ab", true],
  ["x|\\Aa", "ba", false],
  ["(?:x|\\Ab)a", "ba", true],
  ["(?m)\\Ab", "a\nb", false],
  ["a\\zb", "ab", false],
  ["A", "xAx", true],
  // Unanchored, as MatchString.
  ["acme", "xacmex", true],
  // $ without (?m) is end of text (like \z, not \Z); ^ start of text.
  ["a$", "a\n", false],
  ["a$", "ba", true],
  ["^b", "a\nb", false],
  ["(?m)^b", "a\nb", true],
  ["(?m)a$", "a\nb", true],
  ["(?m)a$", "ab", false],
  // (?m) lines end at \n only.
  ["(?m)^b", "a\rb", false],
  ["(?m)a$", "a\u2028b", false],
  // . is any character but \n (\r and U+2028 included); (?s) adds \n; one code point.
  [".", "\n", false],
  ["a.b", "a\rb", true],
  ["a.b", "a\u2028b", true],
  ["(?s).", "\n", true],
  ["(?s:a.)b|c.d", "c\nd", false],
  ["(?s:a.)b|c.d", "a\nb", true],
  ["^.$", "\u{1F600}", true],
  ["^..$", "\u{1F600}", false],
  // Case folding: global, scoped, set and cleared, persisting across | to the group's end.
  ["(?i)ACME", "acme", true],
  ["ACME", "acme", false],
  ["(?i:A)B", "aB", true],
  ["(?i:A)B", "ab", false],
  ["a(?i)b", "aB", true],
  ["a(?i)b", "AB", false],
  ["(a(?i)b)c", "aBc", true],
  ["(a(?i)b)c", "aBC", false],
  ["x(?i)y|z", "Z", true],
  ["(?i)a(?-i)b", "Ab", true],
  ["(?i)a(?-i)b", "AB", false],
  ["(?i)k", "\u212A", true],
  ["(?i)s", "\u017F", true],
  ["(?i)[^a]", "A", false],
  ["(?i)\\W", "\u017F", false],
  ["\\W", "\u017F", true],
  ["(?i)\\p{Lu}", "a", true],
  ["(?i)\\P{Lu}", "a", false],
  ["\\P{Lu}", "a", true],
  ["(?i)[^\\W]", "\u017F", true],
  // \b is an ASCII word boundary, never case-folded.
  ["\\b", "s", true],
  ["(?i)\\b", "\u017F", false],
  ["\\bé", "é", false],
  ["\\Bé", "é", true],
  // Other flags: (?U) only swaps greediness; (?) changes nothing.
  ["(?U)^a+$", "aaa", true],
  ["(?U)^a+?$", "aaa", true],
  ["(?im-s:a.)", "A\n", false],
  ["(?im-s:a.)", "Ax", true],
  ["(?)a", "a", true],
  // \Q…\E: literal text; without \E to the end; a repetition takes its last character.
  ["\\Q.*\\E", ".*", true],
  ["\\Q.*\\E", "ab", false],
  ["\\Qa.b", "a.b", true],
  ["\\Qa.b", "axb", false],
  ["^\\Qab\\E+$", "abbb", true],
  ["^\\Qab\\E+$", "abab", false],
  ["(?i)\\Qa.\\E", "A.", true],
  ["^a\\Q\\E*$", "aaa", true],
  ["\\Qa\\\\E", "a\\", true],
  // POSIX and Perl classes are ASCII.
  ["[[:digit:]]+", "x12", true],
  ["[[:digit:]]+", "abc", false],
  ["^[[:alpha:]]+$", "abc", true],
  ["[[:alpha:]]", "é", false],
  ["[[:^alpha:]]", "a", false],
  ["[[:^alpha:]]", "1", true],
  ["^[[:word:][:space:]]+$", "a b_\t", true],
  ["[[:space:]]", "\v", true],
  ["[[:punct:]]", "`", true],
  ["[[:xdigit:]]", "g", false],
  ["\\s", "\v", false],
  ["\\s", "\u00A0", false],
  ["\\d", "\u0663", false],
  ["\\w", "é", false],
  ["[[:alpha]", ":", true],
  // Class syntax: ] first, - first, last, or after a class escape is literal; [^…] takes \n.
  ["[\\d-z]", "-", true],
  ["[a-]", "-", true],
  ["[]a]", "]", true],
  ["[^]a]", "]", false],
  ["[^]a]", "b", true],
  ["[^a]", "\n", true],
  ["[a-c-e]", "-", true],
  ["[a-c-e]", "d", false],
  ["[\\x{1F600}-\\x{1F64F}]", "\u{1F601}", true],
  // Unicode classes.
  ["\\pL", "é", true],
  ["\\pL", "1", false],
  ["\\PL", "é", false],
  ["\\PL", "1", true],
  ["\\p{Greek}", "α", true],
  ["\\p{Greek}", "a", false],
  ["\\P{Greek}", "α", false],
  ["\\p{^Greek}", "α", false],
  ["\\P{^Greek}", "α", true],
  ["[\\p{Greek}\\d]", "5", true],
  ["\\pN", "\u0663", true],
  ["\\p{Any}", "\n", true],
  ["^\\pLu$", "Au", true],
  ["\\p{C}", "\u0000", true],
  ["\\p{Old_Italic}", "\u{10300}", true],
  // Escapes.
  ["\\x41", "A", true],
  ["\\x{1F600}", "\u{1F600}", true],
  ["\\101", "A", true],
  ["^\\1234$", "S4", true],
  ["\\0", "\0", true],
  ["^\\08$", "\u00008", true],
  ["\\a\\f\\t\\n\\r\\v", "\x07\f\t\n\r\v", true],
  ["\\_\\ \\#\\/", "_ #/", true],
  // Repetitions; { that does not start a count is literal.
  ["a{,3}", "a{,3}", true],
  ["a{,3}", "aaa", false],
  ["a{01}", "a{01}", true],
  ["^a{2}$", "aa", true],
  ["^a{2}$", "aaa", false],
  ["^(?:a{2}){2,3}$", "aaaaaa", true],
  ["^(?:a{2}){2,3}$", "aaaaa", false],
  ["^a{2,}$", "aaaa", true],
  ["^ab*?c$", "abbc", true],
  ["^*a", "ba", true],
  ["^a(?i)*$", "aaa", true],
  ["^(a{2}){500}$", "a".repeat(1000), true],
  // Groups: named (both spellings), non-capturing, empty alternatives.
  ["(?P<name>a)b", "ab", true],
  ["(?<name>a)b", "ab", true],
  ["^(?:a|)$", "", true],
  ["^()$", "", true],
];

Deno.test("re2: a table of RE2 behaviours", () => {
  const wrong: string[] = [];
  for (const [pattern, input, expected] of BEHAVIOURS) {
    let got: boolean | string;
    try {
      got = compileRe2(pattern).test(input);
    } catch (e) {
      got = (e as Error).message;
    }
    if (got !== expected) {
      wrong.push(
        `${JSON.stringify(pattern)} on ${JSON.stringify(input)}: expected ${expected}, got ${got}`,
      );
    }
  }
  assertEquals(wrong, []);
});

Deno.test("re2: the translation is Unicode-mode JavaScript", () => {
  assertEquals(RE2_JS_FLAGS, "v");
  assertEquals(compileRe2("a").flags, "v");
  assertEquals(translateRe2("^a\\z"), "(?:^a$)");
});

/** What RE2 refuses (and a few things it accepts that look alike), and the reason given. */
const REFUSALS: readonly [pattern: string, reason: RegExp][] = [
  ["(?=a)", /^lookahead \(\?= is not RE2 syntax$/],
  ["(?!a)", /^negative lookahead \(\?! is not RE2 syntax$/],
  ["(?<=a)b", /^lookbehind \(\?<= is not RE2 syntax$/],
  ["(?<!a)b", /^negative lookbehind \(\?<! is not RE2 syntax$/],
  ["(a)\\1", /^backreference \\1 is not RE2 syntax$/],
  ["(a)\\8", /^backreference \\8 is not RE2 syntax$/],
  ["(?P<n>a)(?P=n)", /^named backreference \(\?P= is not RE2 syntax$/],
  ["\\k<n>", /^invalid escape sequence \\k$/],
  ["a\\Z", /^\\Z is not RE2 syntax \(RE2 writes end of text as \\z\)$/],
  ["[\\Z]", /^\\Z is not RE2 syntax/],
  ["\\C", /^\\C \(any byte\) is not supported by RE2$/],
  ["(?>a)", /^atomic group \(\?> is not RE2 syntax$/],
  ["(?#c)", /^comment \(\?# is not RE2 syntax$/],
  ["a**", /^invalid nested repetition operator \*\*$/],
  ["a++", /^invalid nested repetition operator \+\+$/],
  ["a*?+", /^invalid nested repetition operator \*\?\+$/],
  ["a{2}{3}", /^invalid nested repetition operator \{2\}\{3\}$/],
  ["*a", /^missing argument to repetition operator \*$/],
  ["(*a)", /^missing argument to repetition operator \*$/],
  ["a|*", /^missing argument to repetition operator \*$/],
  ["(?i)*", /^missing argument to repetition operator \*$/],
  ["a{1001}", /^invalid repeat count \{1001\}$/],
  ["a{2,1}", /^invalid repeat count \{2,1\}$/],
  ["a{1000000000}", /^invalid repeat count/],
  ["(a{2}){501}", /^invalid repeat count \{501\}$/],
  ["[z-a]", /^invalid character class range z-a$/],
  ["[[:foo:]]", /^unknown POSIX class \[:foo:\]$/],
  ["\\p{Foo}", /^unknown Unicode class \\p\{Foo\} \(give a Go category/],
  ["\\p{letter}", /^unknown Unicode class \\p\{letter\}/],
  ["\\p{Script=Greek}", /^unknown Unicode class/],
  ["\\pl", /^unknown Unicode class \\pl /],
  ["\\p{Greek", /^unknown Unicode class \\p\{Greek \(missing \}\)$/],
  ["[a", /^missing closing \] in \[a$/],
  ["[]", /^missing closing \] in \[\]$/],
  ["(a", /^missing closing \)$/],
  ["a)", /^unexpected \)$/],
  ["a\\", /^trailing backslash at end of expression$/],
  ["\\e", /^invalid escape sequence \\e$/],
  ["\\u0041", /^invalid escape sequence \\u$/],
  ["\\cA", /^invalid escape sequence \\c$/],
  ["\\G", /^invalid escape sequence \\G$/],
  ["[\\b]", /^invalid escape sequence \\b$/],
  ["[\\Q]", /^invalid escape sequence \\Q$/],
  ["\\E", /^invalid escape sequence \\E$/],
  ["\\é", /^invalid escape sequence \\é$/],
  ["\\x{110000}", /^invalid escape sequence \\x\{110000/],
  ["\\x{}", /^invalid escape sequence \\x\{\}$/],
  ["\\xG0", /^invalid escape sequence \\xG0$/],
  ["\\x4", /^invalid escape sequence \\x4$/],
  ["(?P<>a)", /^invalid named capture \(\?P<>$/],
  ["(?P<a-b>a)", /^invalid named capture \(\?P<a-b>$/],
  ["(?P<a", /^invalid named capture \(\?P<a$/],
  ["(?i-)a", /^invalid or unsupported Perl syntax \(\?i-\)$/],
  ["(?--i)a", /^invalid or unsupported Perl syntax \(\?--$/],
  ["(?x)a", /^invalid or unsupported Perl syntax \(\?x$/],
  ["(?i", /^invalid or unsupported Perl syntax \(\?i$/],
  ["a\ud800", /^invalid UTF-8/],
  ["(".repeat(1001) + ")".repeat(1001), /^expression nests too deeply$/],
  ["a" + "(?)*".repeat(1001), /^expression nests too deeply$/],
];

Deno.test("re2: what RE2 refuses is refused, naming the construct", () => {
  for (const [pattern, reason] of REFUSALS) {
    const err = assertThrowsCode(() => compileRe2(pattern, "--x"), "USAGE", undefined, pattern);
    assertEquals(err.exitCode, 2);
    const prefix = `Invalid --x "${pattern}": `;
    assert(err.message.startsWith(prefix), `${pattern}: ${err.message}`);
    const rest = err.message.slice(prefix.length);
    assert(reason.test(rest), `${pattern}: ${err.message}`);
  }
});

Deno.test("re2: the message quotes the expression as typed, or as JSON when it must", () => {
  assertThrowsCode(
    () => compileRe2("^bob\\Z", "--certificate-identity-regexp"),
    "USAGE",
    /^Invalid --certificate-identity-regexp "\^bob\\Z": \\Z is not RE2 syntax/,
  );
  assertThrowsCode(
    () => compileRe2('"\n\\Z', "--x"),
    "USAGE",
    /^Invalid --x "\\"\\n\\\\Z": \\Z is not RE2 syntax/,
  );
  assertThrowsCode(() => compileRe2("\\Z"), "USAGE", /^Invalid RE2 regular expression "\\Z"/);
});

Deno.test("re2: limits Go accepts are accepted", () => {
  compileRe2("(".repeat(500) + "a" + ")".repeat(500));
  compileRe2("a{1000}");
  compileRe2("(?:a{10}){100}");
  compileRe2("x".repeat(100_000));
  compileRe2(Array.from({ length: 20_000 }, (_, i) => `a${i}`).join("|"));
});
