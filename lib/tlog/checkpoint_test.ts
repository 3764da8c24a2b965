import { verify } from "node:crypto";
import { assert, assertEquals } from "../../tests/helpers.ts";
import {
  assertThrowsCode,
  bundleEntry,
  conformanceCase,
  type FixtureEntry,
  OCI_BUNDLE,
  PGI_ROOT,
  trustedRoot,
} from "./_fixtures.ts";
import {
  checkCheckpointMatchesProof,
  noteKeyId,
  parseCheckpoint,
  parseSignedNote,
  verifyCheckpoint,
} from "./checkpoint.ts";
import { leafHash, verifyInclusion } from "./merkle.ts";
import { findTlog, type TransparencyLog, type TrustedRoot } from "../trust/trusted_root.ts";
import { utf8 } from "../crypto/encoding.ts";

function proofOf(e: FixtureEntry): NonNullable<FixtureEntry["proof"]> & { checkpoint: string } {
  const p = e.proof;
  assert(p !== undefined && p.checkpoint !== undefined, "the entry has a checkpoint");
  return { ...p, checkpoint: p.checkpoint };
}

/** Verifies the entry's checkpoint with the log its log ID names, and cross-checks the proof. */
function checkpointPart(e: FixtureEntry, root: TrustedRoot): TransparencyLog {
  const p = proofOf(e);
  const log = findTlog(root, e.logId);
  checkCheckpointMatchesProof(verifyCheckpoint(p.checkpoint, log), p);
  return log;
}

/** Verifies the entry's Merkle inclusion proof. */
function inclusionPart(e: FixtureEntry): void {
  const p = proofOf(e);
  verifyInclusion(leafHash(e.body), p.logIndex, p.treeSize, p.hashes, p.rootHash);
}

Deno.test("checkpoint: the OCI bundle's Rekor v1 checkpoint verifies and matches its proof", () => {
  const e = bundleEntry(OCI_BUNDLE);
  const p = proofOf(e);
  const log = findTlog(trustedRoot(PGI_ROOT), e.logId);
  const cp = verifyCheckpoint(p.checkpoint, log);
  assertEquals(cp.origin, "rekor.sigstore.dev - 1193050959916656506");
  assert(cp.treeSize === 53604735n, `tree size ${cp.treeSize}`);
  assertEquals(cp.rootHash.toHex(), p.rootHash.toHex());
  assertEquals(cp.otherContent, []);
  checkCheckpointMatchesProof(cp, p);

  const note = parseSignedNote(p.checkpoint);
  assertEquals(note.signatures.length, 1);
  assertEquals(note.signatures[0]!.name, "rekor.sigstore.dev");
  // Rekor v1: key hint = first 4 bytes of SHA-256(PKIX DER) = first 4 bytes of the log ID
  assertEquals(note.signatures[0]!.keyHint.toHex(), "c0d23d6a");
  assertEquals(log.checkpointKeyId.toHex(), log.logIdHex);
  assertEquals(log.checkpointOrigin, undefined);
});

Deno.test("checkpoint: a tampered Rekor v1 checkpoint or a mismatching proof fails", () => {
  const e = bundleEntry(OCI_BUNDLE);
  const p = proofOf(e);
  const log = findTlog(trustedRoot(PGI_ROOT), e.logId);
  assertThrowsCode(
    () => verifyCheckpoint(p.checkpoint.replace("\n53604735\n", "\n53604736\n"), log),
    "TLOG_INVALID",
    /^Checkpoint signature from rekor\.sigstore\.dev \(key hint c0d23d6a\) does not verify/,
  );
  assertThrowsCode(
    () => verifyCheckpoint(p.checkpoint.replace("\n\n", "\nextra line\n\n"), log),
    "TLOG_INVALID",
    /does not verify/,
  );
  const cp = verifyCheckpoint(p.checkpoint, log);
  assertThrowsCode(
    () => checkCheckpointMatchesProof(cp, { ...p, treeSize: p.treeSize - 1n }),
    "TLOG_INVALID",
    /^Checkpoint does not match the inclusion proof: tree size 53604735 in the checkpoint, 53604734 in the proof$/,
  );
  const otherRoot = new Uint8Array(p.rootHash);
  otherRoot[0]! ^= 1;
  assertThrowsCode(
    () => checkCheckpointMatchesProof(cp, { treeSize: p.treeSize, rootHash: otherRoot }),
    "TLOG_INVALID",
    /root hash 9ddfd5d4\w+ in the checkpoint, 9cdfd5d4\w+ in the proof/,
  );
  // the checkpoint of one log does not verify with another log's key
  const prod = trustedRoot("conformance/trusted_root.production.json");
  const v2 = prod.tlogs.find((l) => l.publicKey.asymmetricKeyType === "ed25519")!;
  assertThrowsCode(() => verifyCheckpoint(p.checkpoint, v2), "TLOG_INVALID", /origin mismatch/);
  assertThrowsCode(
    () => verifyCheckpoint(p.checkpoint, { ...v2, checkpointOrigin: undefined }),
    "TLOG_INVALID",
    /no signature from the log: expected key hint cf119915, found rekor\.sigstore\.dev c0d23d6a/,
  );
});

// --- conformance cases: only the checkpoint / inclusion-proof part of each case is tested here ---

Deno.test("checkpoint: conformance rekor2-checkpoint-missing-log-signature_fail — checkpoint part fails", () => {
  // Checkpoint part: the note has its text and blank line but no signature line, so it cannot be
  // verified. (The inclusion proof itself is intact and verifies.) The case must fail.
  const { entry, root } = conformanceCase("rekor2-checkpoint-missing-log-signature_fail");
  inclusionPart(entry);
  assertThrowsCode(
    () => checkpointPart(entry, root),
    "TLOG_INVALID",
    /^Malformed checkpoint: expected at least one signature line, found none$/,
  );
});

Deno.test("checkpoint: conformance rekor2-checkpoint-missing-root-hash_fail — checkpoint part fails", () => {
  // Checkpoint part: the body has lost its root-hash line, a parse failure. (The proof itself
  // still verifies.) The case must fail.
  const { entry, root } = conformanceCase("rekor2-checkpoint-missing-root-hash_fail");
  inclusionPart(entry);
  assertThrowsCode(
    () => checkpointPart(entry, root),
    "TLOG_INVALID",
    /^Malformed checkpoint: expected a base64 root hash on line 3, found no line$/,
  );
});

Deno.test("checkpoint: conformance rekor2-checkpoint-multiple-cosigs — checkpoint part passes", () => {
  // Checkpoint + inclusion part: the log's Ed25519 signature verifies; the two witness
  // cosignatures (unknown keys) are ignored. The case must pass.
  const { entry, root } = conformanceCase("rekor2-checkpoint-multiple-cosigs");
  inclusionPart(entry);
  const log = checkpointPart(entry, root);
  assertEquals(log.baseUrl, "https://log2025-alpha1.rekor.sigstage.dev");
  assertEquals(log.checkpointOrigin, "log2025-alpha1.rekor.sigstage.dev");
  const sigs = parseSignedNote(proofOf(entry).checkpoint).signatures;
  assertEquals(sigs.map((s) => s.name), [
    "log2025-alpha1.rekor.sigstage.dev",
    "witness.example/w1",
    "witness.example/w2",
  ]);
  // witness cosignatures: 8-byte timestamp + 64-byte Ed25519 signature
  assertEquals(sigs.slice(1).map((s) => s.signature.length), [72, 72]);
});

Deno.test("checkpoint: conformance rekor2-checkpoint-origin-not-first — checkpoint part passes", () => {
  // Checkpoint + inclusion part: the first signature line is a witness's; the log's signature is
  // the second line and verifies. The case must pass.
  const { entry, root } = conformanceCase("rekor2-checkpoint-origin-not-first");
  inclusionPart(entry);
  checkpointPart(entry, root);
  const sigs = parseSignedNote(proofOf(entry).checkpoint).signatures;
  assertEquals(sigs.map((s) => s.name), ["witness.example", "log2025-alpha1.rekor.sigstage.dev"]);
});

Deno.test("checkpoint: conformance rekor2-checkpoint-two-sigs-from-origin — checkpoint part passes", () => {
  // Checkpoint + inclusion part: a second line with the log's name carries an ECDSA signature
  // under an unknown key hint; it is ignored and the log's Ed25519 signature verifies.
  const { entry, root } = conformanceCase("rekor2-checkpoint-two-sigs-from-origin");
  inclusionPart(entry);
  const log = checkpointPart(entry, root);
  const sigs = parseSignedNote(proofOf(entry).checkpoint).signatures;
  assertEquals(sigs.map((s) => s.name), [
    "log2025-alpha1.rekor.sigstage.dev",
    "log2025-alpha1.rekor.sigstage.dev",
  ]);
  assertEquals(sigs.map((s) => s.keyHint.toHex()), [
    log.checkpointKeyId.subarray(0, 4).toHex(),
    "9a2c6355",
  ]);
});

Deno.test("checkpoint: conformance checkpoint-bad-keyhint_fail — checkpoint part fails", () => {
  // Checkpoint part: the only signature line carries key hint c4d23d6a instead of the Rekor
  // key's c0d23d6a, so the checkpoint has no signature from the log. The case must fail.
  const { entry, root } = conformanceCase("checkpoint-bad-keyhint_fail");
  inclusionPart(entry); // the proof itself is fine
  assertThrowsCode(
    () => checkpointPart(entry, root),
    "TLOG_INVALID",
    /^Checkpoint has no signature from the log: expected key hint c0d23d6a, found rekor\.sigstore\.dev c4d23d6a$/,
  );
  // Only the hint was changed: the signature bytes are the log's valid signature of the note.
  const note = parseSignedNote(proofOf(entry).checkpoint);
  const log = findTlog(root, entry.logId);
  assert(
    verify("sha256", utf8(note.text), log.publicKey, note.signatures[0]!.signature),
    "signature bytes are valid",
  );
  const cp = parseCheckpoint(note.text);
  assertEquals(cp.otherContent, ["Timestamp: 1689177396617352539"]);
});

Deno.test("checkpoint: conformance inclusion-proof-corrupted-hash_fail — inclusion part fails", () => {
  // Inclusion part: one proof hash has a flipped bit, so the Merkle path does not reach the root.
  // The checkpoint is genuine, verifies and agrees with the proof's root hash and tree size —
  // only the Merkle verification catches the corruption. The case must fail.
  const { entry, root } = conformanceCase("inclusion-proof-corrupted-hash_fail");
  checkpointPart(entry, root);
  assertThrowsCode(
    () => inclusionPart(entry),
    "TLOG_INVALID",
    /^Inclusion proof does not verify: expected root hash 1679e3d7/,
  );
});

Deno.test("checkpoint: Rekor v2 checkpoints are bound to the origin and the Ed25519 key", () => {
  const { entry, root } = conformanceCase("rekor2-checkpoint-multiple-cosigs");
  const envelope = proofOf(entry).checkpoint;
  const log = findTlog(root, entry.logId);
  // the note key ID of an Ed25519 log is SHA-256(origin ‖ "\n" ‖ 0x01 ‖ key), equal to its log ID
  assertEquals(noteKeyId(log.publicKey, "log2025-alpha1.rekor.sigstage.dev").toHex(), log.logIdHex);
  assert(noteKeyId(log.publicKey, "other.example").toHex() !== log.logIdHex, "origin-bound");
  assertThrowsCode(() => noteKeyId(log.publicKey), "TLOG_INVALID", /without its origin/);
  assertThrowsCode(
    () => verifyCheckpoint(envelope, { ...log, checkpointOrigin: "other.example" }),
    "TLOG_INVALID",
    /^Checkpoint origin mismatch: expected "other\.example", found "log2025-alpha1\.rekor\.sigstage\.dev"$/,
  );
  assertThrowsCode(
    () => verifyCheckpoint(envelope.replace("\n736\n", "\n737\n"), log),
    "TLOG_INVALID",
    /^Checkpoint signature from log2025-alpha1\.rekor\.sigstage\.dev \(key hint f30d5a99\) does not verify with the log key$/,
  );
  // an Ed25519 key from another log with the same hint would not verify
  const prod = trustedRoot("conformance/trusted_root.production.json");
  const otherKey = prod.tlogs.find((l) => l.publicKey.asymmetricKeyType === "ed25519")!.publicKey;
  assertThrowsCode(
    () => verifyCheckpoint(envelope, { ...log, publicKey: otherKey }),
    "TLOG_INVALID",
    /does not verify/,
  );
});

Deno.test("checkpoint: malformed notes and bodies are rejected with one-line errors", () => {
  const good = proofOf(bundleEntry(OCI_BUNDLE)).checkpoint;
  const sigLine = good.slice(good.indexOf("\u2014"));
  const cases: Array<[string, RegExp]> = [
    ["", /blank line/],
    ["a\n1\nAAAA\n", /blank line/],
    ["a\n1\nAAAA\n\n", /at least one signature line/],
    ["a\n1\nAAAA\n\n" + sigLine.slice(0, -1), /end with a newline/],
    ["a\n1\nAAAA\n\n- rekor.sigstore.dev AAAAAAAA\n", /does not start with "— "/],
    ["a\n1\nAAAA\n\n\u2014 rekor.sigstore.dev\n", /expected base64/],
    ["a\n1\nAAAA\n\n\u2014 rekor.sigstore.dev AAAA\n", /expected base64 of a key hint/],
    ["a\n1\nAAAA\n\n\u2014 rekor.sigstore.dev !!!!!!!!\n", /expected base64/],
    ["a\n1\nAAAA\n\n\u2014 a+b AAAAAAAA\n", /invalid key name "a\+b"/],
    ["a\r\n1\nAAAA\n\n" + sigLine, /control characters/],
    ["a\n1\nAAAA\n\n" + sigLine.repeat(101), /at most 100 signatures, found 101/],
  ];
  for (const [note, pattern] of cases) {
    assertThrowsCode(() => parseSignedNote(note), "TLOG_INVALID", pattern, JSON.stringify(note));
  }
  const bodies: Array<[string, RegExp]> = [
    ["\n1\nAAAA\n", /origin on line 1/],
    ["o\n", /tree size on line 2, found no line/],
    ["o\n+5\nAAAA\n", /tree size on line 2, found "\+5"/],
    ["o\n12a\nAAAA\n", /found "12a"/],
    ["o\n5\n", /root hash on line 3, found no line/],
    ["o\n5\n\nx\n", /root hash on line 3, found an empty line/],
    ["o\n5\nnot base64\n", /not base64/],
    ["o\n5\nAAAA\n\nx\n", /empty line/],
    ["o\n5\nAAAA", /end with a newline/],
  ];
  for (const [body, pattern] of bodies) {
    assertThrowsCode(() => parseCheckpoint(body), "TLOG_INVALID", pattern, JSON.stringify(body));
  }
  const cp = parseCheckpoint("o\n007\nAAAA\nx\ny\n");
  assert(cp.treeSize === 7n, "decimal tree size");
  assertEquals(cp.otherContent, ["x", "y"]);
});
