/**
 * An entry proven by its inclusion proof alone (no SET) is proven only when:
 * - the signed checkpoint commits to the proof's tree (same size and root hash): a made-up
 *   one-leaf tree whose root is the entry's own leaf hash proves nothing, whatever checkpoint
 *   rides along;
 * - the log whose key signed the checkpoint was valid at the entry's integrated time.
 */
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { certificateSpki } from "../crypto/der.ts";
import { leafHash } from "../tlog/merkle.ts";
import { parseTrustedRoot, type TrustedRoot } from "../trust/trusted_root.ts";
import { type BundleTlogEntry, parseBundle } from "./bundle.ts";
import { type BodyContext, verifyEntry } from "./bundle_tlog.ts";

async function load() {
  const bundle = parseBundle(
    await Deno.readFile(FIXTURES + "bundles/oci-attestation.sigstore.json"),
  );
  const root = parseTrustedRoot(await Deno.readFile(FIXTURES + "bundles/trusted_root_pgi.json"));
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "a keyless bundle");
  const ctx: BodyContext = {
    content: bundle.content,
    digest: undefined,
    keySpki: certificateSpki(vm.certificates[0]!)!,
  };
  const entry = bundle.tlogEntries[0]!;
  assert(entry.inclusionProof?.checkpoint !== undefined, "the entry has a checkpoint");
  assert(entry.integratedTime !== undefined, "the entry has an integrated time");
  // Only the inclusion proof and its checkpoint stand for the entry.
  const proofOnly: BundleTlogEntry = { ...entry, signedEntryTimestamp: undefined };
  return { root, ctx, entry: proofOnly, integratedTime: entry.integratedTime };
}

function refusal(fn: () => unknown): CosignError {
  try {
    fn();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    return e;
  }
  throw new Error("expected the entry to be refused");
}

Deno.test("bundle_tlog proof rules: the real inclusion proof and checkpoint prove the entry", async () => {
  const { root, ctx, entry } = await load();
  const check = verifyEntry(entry, ctx, root, new Date());
  assert(check.inclusionProofVerified && !check.setVerified, "proven by the inclusion proof");
});

Deno.test("bundle_tlog proof rules: a made-up one-leaf tree beside a real checkpoint proves nothing", async () => {
  const { root, ctx, entry } = await load();
  const proof = entry.inclusionProof!;
  const madeUp: BundleTlogEntry = {
    ...entry,
    inclusionProof: {
      ...proof,
      logIndex: 0n,
      treeSize: 1n,
      hashes: [],
      rootHash: leafHash(entry.canonicalizedBody),
    },
  };
  const e = refusal(() => verifyEntry(madeUp, ctx, root, new Date()));
  assertEquals(e.code, "TLOG_INVALID", e.message);
  assert(/Checkpoint does not match the inclusion proof/.test(e.message), e.message);
});

Deno.test("bundle_tlog proof rules: the checkpoint's log must be valid at the integrated time", async () => {
  const { root, ctx, entry, integratedTime } = await load();
  const integratedMs = Number(integratedTime) * 1000;
  // The same log, its key retired a minute before the entry was integrated.
  const retired: TrustedRoot = {
    ...root,
    tlogs: root.tlogs.map((l) =>
      l.logIdHex === entry.logIdHex
        ? { ...l, validFor: { ...l.validFor, end: new Date(integratedMs - 60_000) } }
        : l
    ),
  };
  const e = refusal(() => verifyEntry(entry, ctx, retired, new Date()));
  assertEquals(e.code, "TLOG_UNTRUSTED", e.message);
});
