import { escapeForTerminal, quote } from "./escape.ts";

function assertEquals(actual: string, expected: string, msg = ""): void {
  if (actual !== expected) {
    throw new Error(`${msg}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

// Expected values are what Go's fmt.Sprintf("%q", s) prints for the same strings.
const GO_QUOTED: [string, string][] = [
  ["sha256:\x1b[2J\x1b[32mVerified OK", String.raw`"sha256:\x1b[2J\x1b[32mVerified OK"`],
  ["\x00\x07\b\f\n\r\t\v\x7f", String.raw`"\x00\a\b\f\n\r\t\v\x7f"`],
  ["\u009b31m", String.raw`"\u009b31m"`], // C1 CSI
  ["a\u202ecod.exe", String.raw`"a\u202ecod.exe"`], // right-to-left override
  ["\u00a0\u2028\u00ad", String.raw`"\u00a0\u2028\u00ad"`],
  ["\ue000\u0378", String.raw`"\ue000\u0378"`], // private use, unassigned
  ["\u{e0001}", String.raw`"\U000e0001"`],
  ['say "hi" \\ bye', String.raw`"say \"hi\" \\ bye"`],
  ["héllo wörld 😀 \ufffd", `"héllo wörld 😀 \ufffd"`],
];

Deno.test("escape: quote matches Go's %q", () => {
  for (const [input, want] of GO_QUOTED) assertEquals(quote(input), want, JSON.stringify(input));
});

Deno.test("escape: escapeForTerminal escapes what %q escapes, and nothing printable", () => {
  for (const [input, want] of GO_QUOTED) {
    if (input.includes('"') || input.includes("\\")) continue;
    assertEquals(escapeForTerminal(input), want.slice(1, -1), JSON.stringify(input));
  }
  assertEquals(escapeForTerminal('a "b" \\c'), 'a "b" \\c');
  assertEquals(escapeForTerminal("\ud800x"), String.raw`\ud800x`, "lone surrogate");
  assertEquals(escapeForTerminal("one\ntwo\x1b"), String.raw`one\ntwo\x1b`);
  assertEquals(
    escapeForTerminal("one\ntwo\x1b\r", { keepNewlines: true }),
    "one\ntwo\\x1b\\r",
  );
});
