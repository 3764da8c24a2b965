/**
 * Transparency-log checkpoints: C2SP signed notes (`c2sp.org/signed-note`) carrying a
 * `c2sp.org/tlog-checkpoint` body, as Rekor v1 and Rekor v2 publish them in
 * `inclusionProof.checkpoint.envelope`.
 *
 * ```
 * <origin>\n<tree size>\n<base64 root hash>\n[<other line>\n]*
 * \n
 * — <key name> <base64(4-byte key hint ‖ signature)>\n   (one line per signature)
 * ```
 *
 * The signed message is the note text: everything up to and including the newline before the
 * blank line. The key hint is the first 4 bytes of the key's note key ID:
 * - ECDSA (Rekor v1, and rekor-tiles with an ECDSA key): SHA-256 of the PKIX DER public key,
 *   which equals the Rekor v1 log ID. The signature is ASN.1 DER ECDSA over SHA-256 (P-256).
 * - Ed25519 (Rekor v2): per the signed-note spec, SHA-256(origin ‖ "\n" ‖ 0x01 ‖ raw 32-byte
 *   key). For Rekor v2 this is also the log ID in the trusted root, and the origin is the
 *   host name of the log's base URL. The signature is plain Ed25519 over the note text.
 *
 * A checkpoint can carry other signatures (witness cosignatures, other keys); the ones whose
 * key hint does not belong to the log are ignored. At least one signature from the log is
 * required and every signature that claims to be from the log must verify.
 * @module
 */

import { type KeyObject, verify } from "node:crypto";
import { CosignError } from "../errors.ts";
import { fromBase64, toHex, utf8 } from "../crypto/encoding.ts";
import { bytesEqual, toUint } from "./bytes.ts";
import { noteKeyId } from "../crypto/note_key.ts";

export { noteKeyId };

/** One signature line of a signed note. */
export interface NoteSignature {
  /** The key name (for Rekor: the log's host name). */
  readonly name: string;
  /** The first 4 bytes of the signing key's note key ID. */
  readonly keyHint: Uint8Array;
  /** The signature proper (for witness cosignatures: an 8-byte timestamp, then the signature). */
  readonly signature: Uint8Array;
}

/** A parsed signed note. */
export interface SignedNote {
  /** The signed text, ending with a newline. */
  readonly text: string;
  /** The signature lines in order. */
  readonly signatures: readonly NoteSignature[];
}

/** A parsed checkpoint body. */
export interface Checkpoint {
  /** The log origin, e.g. `rekor.sigstore.dev - 1193050959916656506`. */
  readonly origin: string;
  /** The tree size the checkpoint commits to. */
  readonly treeSize: bigint;
  /** The root hash of that tree. */
  readonly rootHash: Uint8Array;
  /** Any further body lines (e.g. Rekor v1's `Timestamp: …`), without newlines. */
  readonly otherContent: readonly string[];
}

/** The log key material needed to verify a checkpoint (a `TransparencyLog` satisfies it). */
export interface CheckpointKey {
  /** The log's public key (ECDSA or Ed25519). */
  readonly publicKey: KeyObject;
  /** The log's note key ID; its first 4 bytes are the key hint on the log's signature line. */
  readonly checkpointKeyId: Uint8Array;
  /**
   * For logs whose note key ID binds the origin (Ed25519 / Rekor v2): the origin the checkpoint
   * must carry and the name its signature line must carry. `undefined` for Rekor v1, whose
   * origin includes the shard's tree ID and whose key ID does not depend on a name.
   */
  readonly checkpointOrigin?: string | undefined;
}

const SIGNATURE_PREFIX = "\u2014 ";
const MAX_SIGNATURES = 100;
const HINT_SIZE = 4;

function invalid(message: string): never {
  throw new CosignError("TLOG_INVALID", message);
}

function isValidKeyName(name: string): boolean {
  return name !== "" && !/\s/u.test(name) && !name.includes("+");
}

/**
 * Parses a signed note: text, blank line, signature lines.
 * @throws {CosignError} `TLOG_INVALID` when the note is malformed: control characters, no
 *   blank line before the signatures, no signature lines, a malformed signature line
 */
export function parseSignedNote(envelope: string): SignedNote {
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(envelope)) {
    invalid("Malformed checkpoint: the note contains control characters other than newline");
  }
  if (/[\uD800-\uDFFF]/.test(envelope.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))) {
    invalid("Malformed checkpoint: the note is not valid UTF-8 text");
  }
  const split = envelope.lastIndexOf("\n\n");
  if (split < 0) {
    invalid("Malformed checkpoint: expected a blank line before the signatures, found none");
  }
  const text = envelope.slice(0, split + 1);
  const block = envelope.slice(split + 2);
  if (block === "") {
    invalid("Malformed checkpoint: expected at least one signature line, found none");
  }
  if (!block.endsWith("\n")) {
    invalid("Malformed checkpoint: expected the signature block to end with a newline");
  }
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) {
    invalid(
      `Malformed checkpoint: expected at most ${MAX_SIGNATURES} signatures, found ${lines.length}`,
    );
  }
  const signatures = lines.map((line, i): NoteSignature => {
    if (!line.startsWith(SIGNATURE_PREFIX)) {
      invalid(`Malformed checkpoint: signature line ${i + 1} does not start with "— "`);
    }
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? "" : rest.slice(space + 1);
    if (!isValidKeyName(name)) {
      invalid(`Malformed checkpoint: signature line ${i + 1} has an invalid key name "${name}"`);
    }
    const bytes = fromBase64(b64);
    if (bytes === undefined || bytes.length <= HINT_SIZE) {
      invalid(
        `Malformed checkpoint: signature line ${i + 1} (${name}) expected base64 of a key hint ` +
          `and a signature`,
      );
    }
    return {
      name,
      keyHint: bytes.subarray(0, HINT_SIZE),
      signature: bytes.subarray(HINT_SIZE),
    };
  });
  return { text, signatures };
}

/**
 * Parses a checkpoint body (the text of the signed note): origin, decimal tree size, base64
 * root hash, then optional further lines.
 * @throws {CosignError} `TLOG_INVALID` naming the missing or malformed line
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith("\n")) invalid("Malformed checkpoint: the body must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  const [origin, size, hash, ...otherContent] = lines;
  if (origin === undefined || origin === "") {
    invalid("Malformed checkpoint: expected an origin on line 1, found an empty line");
  }
  if (size === undefined || !/^[0-9]+$/.test(size)) {
    invalid(
      `Malformed checkpoint: expected a decimal tree size on line 2, found ${
        size === undefined ? "no line" : JSON.stringify(size)
      }`,
    );
  }
  if (hash === undefined || hash === "") {
    invalid(
      `Malformed checkpoint: expected a base64 root hash on line 3, found ${
        hash === undefined ? "no line" : "an empty line"
      }`,
    );
  }
  const rootHash = fromBase64(hash);
  if (rootHash === undefined) {
    invalid(`Malformed checkpoint: root hash on line 3 is not base64: ${JSON.stringify(hash)}`);
  }
  if (otherContent.some((l) => l === "")) {
    invalid("Malformed checkpoint: the body contains an empty line");
  }
  return { origin, treeSize: BigInt(size), rootHash, otherContent };
}

function ecdsaHash(key: KeyObject): string {
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case "secp384r1":
      return "sha384";
    case "secp521r1":
      return "sha512";
    default:
      return "sha256";
  }
}

function verifyNoteSignature(key: KeyObject, text: Uint8Array, sig: Uint8Array): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case "ed25519":
        return verify(null, text, key, sig);
      case "ec":
        return verify(ecdsaHash(key), text, { key, dsaEncoding: "der" }, sig);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/**
 * Parses and verifies a checkpoint signed by a log: the note must carry at least one signature
 * line with the log's key hint (and, for origin-bound logs, the log's name and origin), and
 * every such line must verify with the log key. Other signature lines (witnesses, unknown
 * keys) are ignored.
 * @param envelope `inclusionProof.checkpoint.envelope`
 * @param log the log key, e.g. the `TransparencyLog` looked up by the entry's log ID
 * @returns the parsed checkpoint body
 * @throws {CosignError} `TLOG_INVALID` when the note is malformed, carries no signature from the
 *   log, or a signature from the log does not verify
 */
export function verifyCheckpoint(envelope: string, log: CheckpointKey): Checkpoint {
  const note = parseSignedNote(envelope);
  const checkpoint = parseCheckpoint(note.text);
  const expectedOrigin = log.checkpointOrigin;
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    invalid(
      `Checkpoint origin mismatch: expected "${expectedOrigin}", found "${checkpoint.origin}"`,
    );
  }
  if (log.checkpointKeyId.length < HINT_SIZE) {
    invalid(`Invalid log key ID: expected at least ${HINT_SIZE} bytes`);
  }
  const hint = log.checkpointKeyId.subarray(0, HINT_SIZE);
  const fromLog = note.signatures.filter((s) =>
    bytesEqual(s.keyHint, hint) && (expectedOrigin === undefined || s.name === expectedOrigin)
  );
  if (fromLog.length === 0) {
    const found = note.signatures.map((s) => `${s.name} ${toHex(s.keyHint)}`).join(", ");
    invalid(
      `Checkpoint has no signature from the log: expected key hint ${toHex(hint)}${
        expectedOrigin === undefined ? "" : ` from ${expectedOrigin}`
      }, found ${found}`,
    );
  }
  const text = utf8(note.text);
  for (const s of fromLog) {
    if (!verifyNoteSignature(log.publicKey, text, s.signature)) {
      invalid(
        `Checkpoint signature from ${s.name} (key hint ${
          toHex(s.keyHint)
        }) does not verify with the log key`,
      );
    }
  }
  return checkpoint;
}

/**
 * Cross-checks a verified checkpoint against the inclusion proof it came with: the tree size and
 * the root hash must be the same.
 * @throws {CosignError} `TLOG_INVALID` naming the field that differs
 */
export function checkCheckpointMatchesProof(
  checkpoint: Checkpoint,
  proof: { readonly treeSize: number | bigint | string; readonly rootHash: Uint8Array },
): void {
  const size = toUint(proof.treeSize, "inclusion proof tree size", "TLOG_INVALID");
  if (checkpoint.treeSize !== size) {
    invalid(
      `Checkpoint does not match the inclusion proof: tree size ${checkpoint.treeSize} in the ` +
        `checkpoint, ${size} in the proof`,
    );
  }
  if (!bytesEqual(checkpoint.rootHash, proof.rootHash)) {
    invalid(
      `Checkpoint does not match the inclusion proof: root hash ${
        toHex(checkpoint.rootHash)
      } in the checkpoint, ${toHex(proof.rootHash)} in the proof`,
    );
  }
}
