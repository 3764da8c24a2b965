/**
 * An attestation matches an artifact when some subject of its statement has the artifact's
 * digest: one matching subject among several is enough, and a statement without subjects
 * matches nothing.
 */
import { assert } from "../../tests/helpers.ts";
import { utf8 } from "../crypto/encoding.ts";
import { hasSubjectDigest, parseStatement } from "./intoto.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);

function statement(subjects: unknown[]) {
  return parseStatement(utf8(JSON.stringify({
    _type: "https://in-toto.io/Statement/v1",
    subject: subjects,
    predicateType: "https://example.test/predicate",
    predicate: {},
  })));
}

Deno.test("intoto rules: a statement without subjects matches no artifact", () => {
  assert(!hasSubjectDigest(statement([]), "sha256", A), "no subject, no match");
});

Deno.test("intoto rules: one matching subject among several is enough; none is not", () => {
  const st = statement([
    { name: "other", digest: { sha256: B } },
    { name: "app", digest: { sha256: A.toUpperCase() } },
  ]);
  assert(hasSubjectDigest(st, "sha256", A), "the second subject matches (hex case ignored)");
  assert(!hasSubjectDigest(st, "sha256", "c".repeat(64)), "no subject has this digest");
  assert(!hasSubjectDigest(st, "sha512", A), "the digest is under another algorithm");
});
