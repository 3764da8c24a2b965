import { assert, assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode, bundleEntry, OCI_BUNDLE, readJson } from "./_fixtures.ts";
import { canonicalize, canonicalizeToBytes, type JsonValue } from "./canonical_json.ts";

Deno.test("canonical_json: RFC 8785 §3.2.2 example (numbers, string escapes, literals)", () => {
  // The RFC's input, written as JSON text so the number literals go through JSON parsing.
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      '"literals": [null, true, false]}',
  );
  assertEquals(
    canonicalize(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

Deno.test("canonical_json: RFC 8785 §3.2.3 sorting by UTF-16 code units", () => {
  const input = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
  };
  // (Compared as text: JSON.parse would move the integer-like key "1" first again.)
  assertEquals(
    canonicalize(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
      '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

Deno.test("canonical_json: SET payload key order, no whitespace, integers as is", () => {
  assertEquals(
    canonicalize({ logIndex: 175508996n, logID: "c0d2", integratedTime: 1740770291, body: "e30=" }),
    '{"body":"e30=","integratedTime":1740770291,"logID":"c0d2","logIndex":175508996}',
  );
  assertEquals(canonicalize(2n ** 63n - 1n), "9223372036854775807");
  assertEquals(canonicalize([-0, 1e21, 1e-7, 0.1, -5]), "[0,1e+21,1e-7,0.1,-5]");
  assertEquals(canonicalize({ a: undefined, b: [] as JsonValue[], c: {} }), '{"b":[],"c":{}}');
  assertEquals(
    canonicalize("\u2028\u00e9\u0000\u001f\t\b\f"),
    '"\u2028\u00e9\\u0000\\u001f\\t\\b\\f"',
  );
  assertEquals(canonicalizeToBytes({ "é": 1 }).toHex(), "7b22c3a9223a317d");
});

Deno.test("canonical_json: Rekor's real canonicalized bodies are already canonical", () => {
  // Rekor v1 stores entry bodies as JCS; re-canonicalizing each parsed body must give the same
  // bytes. (Rekor v2 bodies are protojson, not JCS, so only v1 kinds are compared.)
  const cases: { bundle: string; name: string }[] = readJson("conformance/cases.json");
  const bundles = [OCI_BUNDLE, ...cases.map((c) => "conformance/" + c.bundle)];
  let compared = 0;
  for (const path of bundles) {
    const e = bundleEntry(path);
    if (e.version !== "0.0.1") continue;
    const text = new TextDecoder().decode(e.body);
    assertEquals(canonicalize(JSON.parse(text)), text, path);
    compared++;
  }
  assert(compared >= 20, `compared ${compared} v1 bodies`);
});

Deno.test("canonical_json: values JSON cannot hold are refused", () => {
  const bad: unknown[] = [
    NaN,
    Infinity,
    "\ud800",
    { k: "a\udc00" },
    { ["\ud83d"]: 1 },
    [undefined],
    new Date(0),
    () => 1,
    Symbol("x"),
    undefined,
    new Map(),
  ];
  for (const v of bad) {
    assertThrowsCode(() => canonicalize(v as JsonValue), "JSON_NOT_CANONICALIZABLE");
  }
  assertThrowsCode(
    () => canonicalize({ a: [1, { b: NaN }] }),
    "JSON_NOT_CANONICALIZABLE",
    /NaN at \$\.a\[1\]\.b is not a finite number/,
  );
  // a well-formed surrogate pair is fine and written literally
  assertEquals(canonicalize("\ud83d\ude00"), '"\ud83d\ude00"');
  // objects without a prototype are plain objects
  const bare = Object.create(null) as Record<string, JsonValue>;
  bare.z = 1;
  bare.a = 2;
  assertEquals(canonicalize(bare), '{"a":2,"z":1}');
});
