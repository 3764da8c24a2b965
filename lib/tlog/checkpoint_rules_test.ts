/**
 * The rule for checkpoint signatures that claim the log's key. What sigstore-go does:
 * - Rekor v1 checkpoints (rekor's `SignedNote.Verify`): every signature line must carry the
 *   log's key hint and verify; one bad line fails the checkpoint, in any position.
 * - Rekor v2 checkpoints (`golang.org/x/mod/sumdb/note.Open`, through rekor-tiles): the first
 *   line with the log's name and key hint must verify or the note is refused; later lines with
 *   the same name and hint are dropped unverified.
 * Both refuse a bad log line followed by a good one; for a good line followed by a bad one
 * Rekor v1's rule refuses and note.Open accepts. We apply the stricter rule to both (when in
 * doubt, refuse): every line that claims the log's key (its hint, and for Rekor v2 its name)
 * must verify, and at least one must be there. Lines from other keys (witnesses) are ignored.
 */
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { assert } from "../../tests/helpers.ts";
import { utf8 } from "../crypto/encoding.ts";
import { assertThrowsCode } from "./_fixtures.ts";
import { type CheckpointKey, noteKeyId, verifyCheckpoint } from "./checkpoint.ts";
import { sha256 } from "./bytes.ts";

const ORIGIN = "log.example.test";
const BODY = `${ORIGIN}\n42\n${sha256(utf8("root")).toBase64()}\n`;

interface TestLog {
  readonly key: CheckpointKey;
  readonly privateKey: KeyObject;
  readonly hint: Uint8Array;
  readonly name: string;
}

function ecdsaLog(): TestLog {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const id = noteKeyId(publicKey);
  return {
    key: { publicKey, checkpointKeyId: id },
    privateKey,
    hint: id.subarray(0, 4),
    name: "rekor.example.test",
  };
}

function ed25519Log(): TestLog {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const id = noteKeyId(publicKey, ORIGIN);
  return {
    key: { publicKey, checkpointKeyId: id, checkpointOrigin: ORIGIN },
    privateKey,
    hint: id.subarray(0, 4),
    name: ORIGIN,
  };
}

function signatureOver(log: TestLog, text: string): Uint8Array {
  const bytes = utf8(text);
  return new Uint8Array(
    log.privateKey.asymmetricKeyType === "ed25519"
      ? sign(null, bytes, log.privateKey)
      : sign("sha256", bytes, { key: log.privateKey, dsaEncoding: "der" }),
  );
}

function line(name: string, hint: Uint8Array, signature: Uint8Array): string {
  const raw = new Uint8Array(hint.length + signature.length);
  raw.set(hint);
  raw.set(signature, hint.length);
  return `\u2014 ${name} ${raw.toBase64()}\n`;
}

/** A line from the log's key that verifies. */
function goodLine(log: TestLog): string {
  return line(log.name, log.hint, signatureOver(log, BODY));
}

/** A line claiming the log's key whose signature is over other text. */
function badLine(log: TestLog): string {
  return line(log.name, log.hint, signatureOver(log, BODY.replace("\n42\n", "\n43\n")));
}

/** A witness cosignature: another key, another hint. */
function witnessLine(): string {
  const witness = ecdsaLog();
  return line("witness.example.test", witness.hint, signatureOver(witness, BODY));
}

function note(...lines: string[]): string {
  return `${BODY}\n${lines.join("")}`;
}

for (
  const [label, makeLog] of [["Rekor v1 (ECDSA)", ecdsaLog], [
    "Rekor v2 (Ed25519)",
    ed25519Log,
  ]] as const
) {
  Deno.test(`checkpoint rules ${label}: one valid log signature verifies, witnesses ignored`, () => {
    const log = makeLog();
    assert(verifyCheckpoint(note(goodLine(log)), log.key).treeSize === 42n, "tree size 42");
    assert(
      verifyCheckpoint(note(witnessLine(), goodLine(log)), log.key).treeSize === 42n,
      "tree size 42",
    );
    assert(
      verifyCheckpoint(note(goodLine(log), goodLine(log)), log.key).treeSize === 42n,
      "tree size 42",
    );
  });

  Deno.test(`checkpoint rules ${label}: a valid log signature then a bad one with the same hint fails`, () => {
    const log = makeLog();
    assertThrowsCode(
      () => verifyCheckpoint(note(goodLine(log), badLine(log)), log.key),
      "TLOG_INVALID",
      /^Checkpoint signature from \S+ \(key hint [0-9a-f]{8}\) does not verify with the log key$/,
    );
  });

  Deno.test(`checkpoint rules ${label}: a bad log signature then a valid one with the same hint fails`, () => {
    const log = makeLog();
    assertThrowsCode(
      () => verifyCheckpoint(note(badLine(log), goodLine(log)), log.key),
      "TLOG_INVALID",
      /does not verify with the log key$/,
    );
  });

  Deno.test(`checkpoint rules ${label}: witness lines alone are not the log's signature`, () => {
    const log = makeLog();
    assertThrowsCode(
      () => verifyCheckpoint(note(witnessLine()), log.key),
      "TLOG_INVALID",
      /^Checkpoint has no signature from the log/,
    );
  });
}

Deno.test("checkpoint rules Rekor v2: a line with the log's hint but another name is not the log's", () => {
  const log = ed25519Log();
  // Same hint, other key name: not the log's line, so it neither counts nor fails the note.
  const foreign = line("other.example.test", log.hint, signatureOver(log, "other text\n"));
  assert(verifyCheckpoint(note(foreign, goodLine(log)), log.key).treeSize === 42n, "tree size 42");
  assertThrowsCode(
    () => verifyCheckpoint(note(foreign), log.key),
    "TLOG_INVALID",
    /^Checkpoint has no signature from the log/,
  );
});
