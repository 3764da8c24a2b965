/**
 * RFC 6962 / RFC 9162 Merkle tree hashing and inclusion-proof verification, as used by Rekor.
 *
 * - leaf hash = SHA-256(0x00 ‖ leaf bytes) — for Rekor, the leaf is the entry's canonicalized
 *   body (the bytes behind `canonicalizedBody` / `LogEntry.body`);
 * - node hash = SHA-256(0x01 ‖ left ‖ right).
 *
 * The leaf index of an inclusion proof is the index **within the shard's tree**
 * (`inclusionProof.logIndex`), not the global log index used by the SET.
 * @module
 */

import { CosignError } from "../errors.ts";
import { toHex } from "../crypto/encoding.ts";
import { bytesEqual, sha256, toUint } from "./bytes.ts";

/** Size in bytes of every hash in a SHA-256 Merkle tree. */
export const MERKLE_HASH_SIZE = 32;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** RFC 6962 leaf hash: SHA-256(0x00 ‖ `leaf`). */
export function leafHash(leaf: Uint8Array): Uint8Array<ArrayBuffer> {
  return sha256(LEAF_PREFIX, leaf);
}

/** RFC 6962 interior node hash: SHA-256(0x01 ‖ `left` ‖ `right`). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array<ArrayBuffer> {
  return sha256(NODE_PREFIX, left, right);
}

function checkHash(hash: Uint8Array, what: string): void {
  if (hash.length !== MERKLE_HASH_SIZE) {
    throw new CosignError(
      "TLOG_INVALID",
      `Invalid inclusion proof: ${what} is ${hash.length} bytes, expected ${MERKLE_HASH_SIZE}`,
    );
  }
}

/**
 * Computes the root hash implied by an inclusion proof (RFC 9162 §2.1.3.2).
 * @param leaf the leaf hash ({@link leafHash} of the entry)
 * @param index the leaf's index in the tree (shard-local for Rekor)
 * @param treeSize the size of the tree the proof is for
 * @param proof the audit path, from the leaf towards the root
 * @throws {CosignError} `TLOG_INVALID` when the index is out of range, a hash has the wrong
 *   length, or the proof has the wrong number of hashes for this index and tree size
 */
export function rootFromInclusionProof(
  leaf: Uint8Array,
  index: number | bigint | string,
  treeSize: number | bigint | string,
  proof: readonly Uint8Array[],
): Uint8Array<ArrayBuffer> {
  const idx = toUint(index, "inclusion proof leaf index", "TLOG_INVALID");
  const size = toUint(treeSize, "inclusion proof tree size", "TLOG_INVALID");
  if (idx >= size) {
    throw new CosignError(
      "TLOG_INVALID",
      `Invalid inclusion proof: leaf index ${idx} is not below tree size ${size}`,
    );
  }
  checkHash(leaf, "the leaf hash");
  proof.forEach((p, i) => checkHash(p, `proof hash ${i}`));

  let fn = idx;
  let sn = size - 1n;
  let r: Uint8Array<ArrayBuffer> = new Uint8Array(leaf);
  for (const p of proof) {
    if (sn === 0n) {
      throw new CosignError(
        "TLOG_INVALID",
        `Invalid inclusion proof: ${proof.length} hashes is too many for leaf ${idx} of a tree of ${size}`,
      );
    }
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) {
    throw new CosignError(
      "TLOG_INVALID",
      `Invalid inclusion proof: ${proof.length} hashes is too few for leaf ${idx} of a tree of ${size}`,
    );
  }
  return r;
}

/**
 * Verifies an RFC 9162 inclusion proof: the leaf at `index` is in the tree of `treeSize`
 * leaves whose root is `rootHash`.
 * @param leaf the leaf hash ({@link leafHash} of the entry body)
 * @param index the leaf index (Rekor: `inclusionProof.logIndex`, shard-local)
 * @param treeSize the tree size (`inclusionProof.treeSize`)
 * @param proof the audit path (`inclusionProof.hashes`)
 * @param rootHash the expected root (`inclusionProof.rootHash`)
 * @throws {CosignError} `TLOG_INVALID` when the proof does not lead to `rootHash`
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number | bigint | string,
  treeSize: number | bigint | string,
  proof: readonly Uint8Array[],
  rootHash: Uint8Array,
): void {
  checkHash(rootHash, "the root hash");
  const computed = rootFromInclusionProof(leaf, index, treeSize, proof);
  if (!bytesEqual(computed, rootHash)) {
    throw new CosignError(
      "TLOG_INVALID",
      `Inclusion proof does not verify: expected root hash ${toHex(rootHash)}, computed ${
        toHex(computed)
      }`,
    );
  }
}
