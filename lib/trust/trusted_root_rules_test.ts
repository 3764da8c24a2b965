/**
 * Issue 14, "trust roots are validated as the protobuf-specs define them", on the production
 * trusted root edited one field at a time:
 * - a required field that is missing makes the root malformed, with an error naming the field:
 *   a log (Rekor or CT) without `logId`, `hashAlgorithm`, `publicKey.keyDetails`,
 *   `publicKey.validFor` or `publicKey.validFor.start` (sigstore-go's `ParseTransparencyLogs`),
 *   an authority without `certChain` or with an empty one;
 * - a `TimeRange` has a start: a missing `start` never means "valid since forever", also on a
 *   certificate or timestamp authority (sigstore-go reads that as open; we refuse it);
 * - a missing `end` means still valid.
 */
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { isValidAt, parseTrustedRoot } from "./trusted_root.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const production = (): Any =>
  JSON.parse(Deno.readTextFileSync(`${FIXTURES}conformance/trusted_root.production.json`));

function refusal(root: Any): CosignError {
  try {
    parseTrustedRoot(root);
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    assertEquals(e.code, "TRUSTED_ROOT_INVALID", e.message);
    return e;
  }
  throw new Error("expected the trusted root to be refused");
}

const cases: [string, (r: Any) => void, RegExp][] = [
  [
    "a Rekor key without validFor.start",
    (r) => delete r.tlogs[0].publicKey.validFor.start,
    /^Invalid trusted root: tlogs\[0\]\.publicKey\.validFor\.start is missing/,
  ],
  [
    "a Rekor v2 key without validFor",
    (r) => delete r.tlogs[1].publicKey.validFor,
    /^Invalid trusted root: tlogs\[1\]\.publicKey\.validFor is missing$/,
  ],
  [
    "a CT log key without validFor.start (its end kept)",
    (r) => delete r.ctlogs[0].publicKey.validFor.start,
    /^Invalid trusted root: ctlogs\[0\]\.publicKey\.validFor\.start is missing/,
  ],
  [
    "a log without logId",
    (r) => delete r.tlogs[0].logId,
    /^Invalid trusted root: tlogs\[0\]\.logId is missing$/,
  ],
  [
    "a log without hashAlgorithm",
    (r) => delete r.tlogs[0].hashAlgorithm,
    /^Invalid trusted root: tlogs\[0\]\.hashAlgorithm is missing$/,
  ],
  [
    "a log with another Merkle hash",
    (r) => r.ctlogs[1].hashAlgorithm = "SHA2_384",
    /^Invalid trusted root: ctlogs\[1\]\.hashAlgorithm is SHA2_384, only SHA2_256 is supported$/,
  ],
  [
    "a log key without keyDetails",
    (r) => delete r.tlogs[0].publicKey.keyDetails,
    /^Invalid trusted root: tlogs\[0\]\.publicKey\.keyDetails is missing$/,
  ],
  [
    "a CA without certChain",
    (r) => delete r.certificateAuthorities[1].certChain,
    /^Invalid trusted root: certificateAuthorities\[1\]\.certChain is missing$/,
  ],
  [
    "a TSA with an empty chain",
    (r) => r.timestampAuthorities[0].certChain.certificates = [],
    /^Invalid trusted root: timestampAuthorities\[0\]\.certChain\.certificates is empty$/,
  ],
  [
    "a CA validFor without start (its end kept)",
    (r) => delete r.certificateAuthorities[0].validFor.start,
    /^Invalid trusted root: certificateAuthorities\[0\]\.validFor\.start is missing/,
  ],
  [
    "a TSA validFor without start",
    (r) => r.timestampAuthorities[0].validFor = {},
    /^Invalid trusted root: timestampAuthorities\[0\]\.validFor\.start is missing/,
  ],
];

for (const [what, edit, pattern] of cases) {
  Deno.test(`trusted_root rules: ${what} is malformed, naming the field`, () => {
    const root = production();
    edit(root);
    const e = refusal(root);
    assert(pattern.test(e.message), e.message);
  });
}

Deno.test("trusted_root rules: as shipped the production root parses; a missing end is still valid", () => {
  const root = parseTrustedRoot(production());
  const rekor = root.tlogs[0]!;
  assertEquals(rekor.validFor.start?.toISOString(), "2021-01-12T11:53:27.000Z");
  assertEquals(rekor.validFor.end, undefined);
  assert(isValidAt(rekor.validFor, new Date("2100-01-01T00:00:00Z")), "open end");
  assert(!isValidAt(rekor.validFor, new Date("2021-01-12T11:53:26Z")), "not before its start");
  // the CT log with an end is not valid after it
  const ct = root.ctlogs[0]!;
  assert(!isValidAt(ct.validFor, new Date("2022-11-01T00:00:00Z")), "closed end");
});

Deno.test("trusted_root rules: an authority without validFor is bounded by its certificates only", () => {
  // sigstore-go, sigstore-python and sigstore-js all accept a CA or TSA without validFor (the
  // field has no REQUIRED mark); its chain's certificates still bound it.
  const json = production();
  delete json.certificateAuthorities[1].validFor;
  const root = parseTrustedRoot(json);
  assertEquals(root.certificateAuthorities[1]!.validFor, {});
});
