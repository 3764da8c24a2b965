/**
 * A dsse 0.0.1 log entry is proof for a signature only when one of the signatures it records was
 * made by the verifying key: an entry recording another key's signature must not stand as this
 * signature's proof, even though its SET and inclusion proof verify.
 */
import { generateKeyPairSync } from "node:crypto";
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { certificateSpki } from "../crypto/der.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { parseBundle } from "./bundle.ts";
import { verifyEntry } from "./bundle_tlog.ts";

async function load() {
  const bundle = parseBundle(
    await Deno.readFile(FIXTURES + "bundles/oci-attestation.sigstore.json"),
  );
  const root = parseTrustedRoot(await Deno.readFile(FIXTURES + "bundles/trusted_root_pgi.json"));
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "a keyless bundle");
  const signerSpki = certificateSpki(vm.certificates[0]!)!;
  const entry = bundle.tlogEntries[0]!;
  assertEquals(`${entry.kind}/${entry.version}`, "dsse/0.0.1");
  return { bundle, root, signerSpki, entry };
}

Deno.test("bundle_tlog dsse: the entry of the signer's own signature verifies (SET and proof)", async () => {
  const { bundle, root, signerSpki, entry } = await load();
  const check = verifyEntry(
    entry,
    { content: bundle.content, digest: undefined, keySpki: signerSpki },
    root,
    new Date(),
  );
  assert(check.setVerified && check.inclusionProofVerified, "SET and inclusion proof verified");
});

Deno.test("bundle_tlog dsse: an entry recording another key's signature is not this key's proof", async () => {
  const { bundle, root, entry } = await load();
  const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const otherSpki = new Uint8Array(otherKey.export({ type: "spki", format: "der" }));
  let error: unknown;
  try {
    verifyEntry(
      entry,
      { content: bundle.content, digest: undefined, keySpki: otherSpki },
      root,
      new Date(),
    );
  } catch (e) {
    error = e;
  }
  assert(error instanceof CosignError, `expected a refusal, got ${error}`);
  assertEquals(error.code, "TLOG_BODY_MISMATCH", error.message);
  assert(/signed by a different key/.test(error.message), error.message);
});
