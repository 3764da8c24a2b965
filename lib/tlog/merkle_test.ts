import { assert, assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode, bundleEntry, type FixtureEntry, OCI_BUNDLE } from "./_fixtures.ts";
import { leafHash, nodeHash, rootFromInclusionProof, verifyInclusion } from "./merkle.ts";

function proofOf(e: FixtureEntry): NonNullable<FixtureEntry["proof"]> {
  assert(e.proof !== undefined, "the entry has an inclusion proof");
  return e.proof;
}

function flipBit(bytes: Uint8Array, bit = 0): Uint8Array {
  const out = new Uint8Array(bytes);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

// The classic RFC 6962 test tree (certificate-transparency / transparency-dev test data): eight
// leaves and the root of each prefix of the tree.
const RFC6962_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map((h) => Uint8Array.fromHex(h));
const RFC6962_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

// Reference implementation straight from RFC 6962 §2.1 (MTH) and §2.1.1 (PATH), recursive, used
// to generate proofs for every index of small trees.
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leafHash(leaves[0]!);
  const k = largestPowerOfTwoBelow(leaves.length);
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}
function path(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length === 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  return m < k
    ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))]
    : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

Deno.test("merkle: leaf and node hashes and roots match the RFC 6962 test vectors", () => {
  assertEquals(leafHash(new Uint8Array()).toHex(), RFC6962_ROOTS[0]);
  for (let n = 1; n <= RFC6962_LEAVES.length; n++) {
    assertEquals(mth(RFC6962_LEAVES.slice(0, n)).toHex(), RFC6962_ROOTS[n - 1], `size ${n}`);
  }
});

Deno.test("merkle: every proof of every leaf of trees of 1..33 leaves verifies; tampering fails", () => {
  const leaves = Array.from({ length: 33 }, (_, i) => new Uint8Array([i, i * 7 & 0xff]));
  for (let size = 1; size <= leaves.length; size++) {
    const tree = leaves.slice(0, size);
    const root = mth(tree);
    for (let i = 0; i < size; i++) {
      const proof = path(i, tree);
      const leaf = leafHash(tree[i]!);
      verifyInclusion(leaf, i, size, proof, root);
      assertEquals(rootFromInclusionProof(leaf, BigInt(i), size, proof).toHex(), root.toHex());
      if (size > 1) {
        // another index, or another leaf, with the same proof must not verify
        assertThrowsCode(
          () => verifyInclusion(leaf, (i + 1) % size, size, proof, root),
          "TLOG_INVALID",
        );
        assertThrowsCode(
          () => verifyInclusion(leafHash(tree[(i + 1) % size]!), i, size, proof, root),
          "TLOG_INVALID",
        );
      }
      proof.forEach((_, j) => {
        const bad = proof.map((p, k) => k === j ? flipBit(p, 255) : p);
        assertThrowsCode(() => verifyInclusion(leaf, i, size, bad, root), "TLOG_INVALID");
      });
    }
  }
});

Deno.test("merkle: the real inclusion proof of the public-good OCI attestation bundle verifies", () => {
  const e = bundleEntry(OCI_BUNDLE);
  const p = proofOf(e);
  // The leaf is the canonicalized body; the index is the shard-local proof index, not the
  // entry's global log index (175508996).
  assert(p.logIndex === 53604734n, `proof index ${p.logIndex}`);
  assert(e.logIndex === 175508996n, `log index ${e.logIndex}`);
  assert(p.treeSize === 53604735n, `tree size ${p.treeSize}`);
  assertEquals(p.hashes.length, 16);
  verifyInclusion(leafHash(e.body), p.logIndex, p.treeSize, p.hashes, p.rootHash);
  // protojson int64 strings are accepted as well
  verifyInclusion(leafHash(e.body), "53604734", "53604735", p.hashes, p.rootHash);
});

Deno.test("merkle: the OCI bundle's proof fails with a flipped hash, index, leaf or size", () => {
  const e = bundleEntry(OCI_BUNDLE);
  const p = proofOf(e);
  const leaf = leafHash(e.body);
  // a single flipped bit in any proof hash
  p.hashes.forEach((_, j) => {
    const bad = p.hashes.map((h, k) => k === j ? flipBit(h, 7) : h);
    assertThrowsCode(
      () => verifyInclusion(leaf, p.logIndex, p.treeSize, bad, p.rootHash),
      "TLOG_INVALID",
      /^Inclusion proof does not verify: expected root hash 9ddfd5d4/,
    );
  });
  // a flipped root hash
  assertThrowsCode(
    () => verifyInclusion(leaf, p.logIndex, p.treeSize, p.hashes, flipBit(p.rootHash)),
    "TLOG_INVALID",
  );
  // wrong indices: neighbours, and the global log index (gotcha 8)
  for (const idx of [p.logIndex - 1n, p.logIndex - 2n, 0n]) {
    assertThrowsCode(
      () => verifyInclusion(leaf, idx, p.treeSize, p.hashes, p.rootHash),
      "TLOG_INVALID",
    );
  }
  assertThrowsCode(
    () => verifyInclusion(leaf, e.logIndex, p.treeSize, p.hashes, p.rootHash),
    "TLOG_INVALID",
    /leaf index 175508996 is not below tree size 53604735/,
  );
  // a proof for another leaf: the body with one byte changed, and the raw (un-prefixed) hash
  const otherBody = new Uint8Array(e.body);
  otherBody[10]! ^= 1;
  assertThrowsCode(
    () => verifyInclusion(leafHash(otherBody), p.logIndex, p.treeSize, p.hashes, p.rootHash),
    "TLOG_INVALID",
  );
  assertThrowsCode(
    () =>
      verifyInclusion(
        leafHash(leafHash(e.body)),
        p.logIndex,
        p.treeSize,
        p.hashes,
        p.rootHash,
      ),
    "TLOG_INVALID",
  );
  // a different tree size changes the path shape
  assertThrowsCode(
    () => verifyInclusion(leaf, p.logIndex, p.treeSize + 1n, p.hashes, p.rootHash),
    "TLOG_INVALID",
  );
  // a truncated or extended path
  assertThrowsCode(
    () => verifyInclusion(leaf, p.logIndex, p.treeSize, p.hashes.slice(0, -1), p.rootHash),
    "TLOG_INVALID",
    /15 hashes is too few/,
  );
  assertThrowsCode(
    () => verifyInclusion(leaf, p.logIndex, p.treeSize, [...p.hashes, p.rootHash], p.rootHash),
    "TLOG_INVALID",
    /17 hashes is too many/,
  );
});

Deno.test("merkle: malformed inputs are rejected with one-line errors", () => {
  const leaf = leafHash(new Uint8Array());
  assertThrowsCode(() => verifyInclusion(leaf, 0, 0, [], leaf), "TLOG_INVALID", /not below/);
  assertThrowsCode(
    () => verifyInclusion(leaf, -1, 1, [], leaf),
    "TLOG_INVALID",
    /non-negative integer, found -1/,
  );
  assertThrowsCode(() => verifyInclusion(leaf, 0.5, 1, [], leaf), "TLOG_INVALID", /integer/);
  assertThrowsCode(
    () => verifyInclusion(leaf.subarray(1), 0, 1, [], leaf),
    "TLOG_INVALID",
    /leaf hash is 31 bytes, expected 32/,
  );
  assertThrowsCode(
    () => verifyInclusion(leaf, 0, 2, [new Uint8Array(20)], leaf),
    "TLOG_INVALID",
    /proof hash 0 is 20 bytes/,
  );
  assertThrowsCode(
    () => verifyInclusion(leaf, 0, 1, [], new Uint8Array(0)),
    "TLOG_INVALID",
    /root hash is 0 bytes/,
  );
  // a one-leaf tree: the root is the leaf hash and the proof is empty
  verifyInclusion(leaf, 0, 1, [], leaf);
});
