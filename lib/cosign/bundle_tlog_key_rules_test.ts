/**
 * Every kind of log entry is proof only for the key it records: a hashedrekord 0.0.1 entry and
 * an intoto 0.0.2 entry (whose SETs and inclusion proofs verify) do not stand as proof for the
 * same content signed, supposedly, by another key.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { certificateSpki } from "../crypto/der.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { parseBundle } from "./bundle.ts";
import { type BodyContext, verifyEntry } from "./bundle_tlog.ts";

const CONFORMANCE = `${FIXTURES}conformance/`;

async function load(caseName: string, rootPath: string, kindVersion: string) {
  const bundle = parseBundle(
    await Deno.readFile(`${CONFORMANCE}public/${caseName}/bundle.sigstore.json`),
  );
  const root = parseTrustedRoot(await Deno.readFile(CONFORMANCE + rootPath));
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "a keyless bundle");
  const signerSpki = certificateSpki(vm.certificates[0]!)!;
  const entry = bundle.tlogEntries[0]!;
  assertEquals(`${entry.kind}/${entry.version}`, kindVersion);
  const artifact = await Deno.readFile(`${CONFORMANCE}public/a.txt`);
  const digest = bundle.content.type === "messageSignature"
    ? {
      alg: "sha256" as const,
      bytes: new Uint8Array(createHash("sha256").update(artifact).digest()),
    }
    : undefined;
  const ctx = (keySpki: Uint8Array): BodyContext => ({ content: bundle.content, digest, keySpki });
  return { root, signerSpki, entry, ctx };
}

function otherSpki(): Uint8Array {
  const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  return new Uint8Array(key.export({ type: "spki", format: "der" }));
}

for (
  const [caseName, rootPath, kindVersion] of [
    ["happy-path-v0.3", "trusted_root.production.json", "hashedrekord/0.0.1"],
    [
      "intoto-with-custom-trust-root",
      "public/intoto-with-custom-trust-root/trusted_root.json",
      "intoto/0.0.2",
    ],
  ] as const
) {
  Deno.test(`bundle_tlog key rules: ${kindVersion} entry is proof for its own key only`, async () => {
    const { root, signerSpki, entry, ctx } = await load(caseName, rootPath, kindVersion);
    const now = new Date();
    const ok = verifyEntry(entry, ctx(signerSpki), root, now);
    assert(ok.setVerified, "the entry's SET verifies");
    let error: unknown;
    try {
      verifyEntry(entry, ctx(otherSpki()), root, now);
    } catch (e) {
      error = e;
    }
    assert(error instanceof CosignError, `expected a refusal, got ${error}`);
    assertEquals(error.code, "TLOG_BODY_MISMATCH", error.message);
    assert(/signed by a different key/.test(error.message), error.message);
  });
}

Deno.test("bundle_tlog key rules: an entry whose stated kind or version is not its body's is refused", async () => {
  const { root, signerSpki, entry, ctx } = await load(
    "happy-path-v0.3",
    "trusted_root.production.json",
    "hashedrekord/0.0.1",
  );
  for (const [kind, version] of [["hashedrekord", "0.0.2"], ["intoto", "0.0.1"]] as const) {
    let error: unknown;
    try {
      verifyEntry({ ...entry, kind, version }, ctx(signerSpki), root, new Date());
    } catch (e) {
      error = e;
    }
    assert(error instanceof CosignError, `expected a refusal, got ${error}`);
    assertEquals(error.code, "TLOG_BODY_MISMATCH", error.message);
    assert(/the body is a hashedrekord 0\.0\.1 entry/.test(error.message), error.message);
  }
});
