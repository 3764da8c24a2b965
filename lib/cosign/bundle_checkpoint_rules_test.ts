/**
 * Issue 14, "an inclusion proof is verified only against a signed checkpoint", on production
 * bundles of the conformance suite edited one field at a time:
 * - v0.2 and v0.3: a proof without a checkpoint makes the bundle malformed, even when a valid
 *   SET stands beside it (the proof is required from v0.2 on, and its checkpoint with it);
 * - v0.1: the SET is required and the proof optional; a proof without a checkpoint is ignored
 *   (neither trusted nor an error), while a proof with a checkpoint is still verified;
 * - `verifyEntry`, handed an entry whatever its origin, refuses a proof without a checkpoint.
 */
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { toBase64 } from "../crypto/encoding.ts";
import { certificateSpki } from "../crypto/der.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { type BundleTlogEntry, parseBundle } from "./bundle.ts";
import { type BodyContext, verifyEntry } from "./bundle_tlog.ts";
import { verifyBundle } from "./verify_bundle.ts";

const CONF = `${FIXTURES}conformance/`;
const POLICY = {
  identity: {
    identity:
      "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
    issuer: "https://token.actions.githubusercontent.com",
  },
};

// deno-lint-ignore no-explicit-any
type Any = any;

function bundleJson(name: string): Any {
  return JSON.parse(Deno.readTextFileSync(`${CONF}public/${name}/bundle.sigstore.json`));
}

const production = () => parseTrustedRoot(Deno.readFileSync(`${CONF}trusted_root.production.json`));
const A_TXT = () => ({ bytes: Deno.readFileSync(`${CONF}public/a.txt`) });

async function refusal(fn: () => unknown): Promise<CosignError> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    return e;
  }
  throw new Error("expected a refusal");
}

Deno.test("checkpoint rules: a v0.3 proof without its checkpoint is refused, though the SET verifies", async () => {
  const json = bundleJson("happy-path-v0.3");
  const entry = json.verificationMaterial.tlogEntries[0];
  assert(entry.inclusionPromise !== undefined, "the SET stays");
  assert(json.verificationMaterial.timestampVerificationData === undefined, "no timestamp");
  // as shipped, it verifies on its SET and on its proof with checkpoint
  const ok = await verifyBundle(parseBundle(json), A_TXT(), production(), { certificate: POLICY });
  assertEquals([ok.tlogEntries[0]?.setVerified, ok.tlogEntries[0]?.inclusionProofVerified], [
    true,
    true,
  ]);
  delete entry.inclusionProof.checkpoint;
  const e = await refusal(() => parseBundle(json));
  assertEquals(e.code, "BUNDLE_INVALID", e.message);
  assert(/tlogEntries\[0\]\.inclusionProof\.checkpoint is missing/.test(e.message), e.message);
  // an empty envelope is no checkpoint either
  entry.inclusionProof.checkpoint = { envelope: "" };
  assertEquals((await refusal(() => parseBundle(json))).code, "BUNDLE_INVALID");
});

Deno.test("checkpoint rules: a v0.2 proof without its checkpoint is refused", async () => {
  const json = bundleJson("intoto-with-custom-trust-root");
  assertEquals(json.mediaType, "application/vnd.dev.sigstore.bundle+json;version=0.2");
  delete json.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
  const e = await refusal(() => parseBundle(json));
  assertEquals(e.code, "BUNDLE_INVALID", e.message);
  assert(/inclusionProof\.checkpoint is missing/.test(e.message), e.message);
});

Deno.test("checkpoint rules: a v0.1 proof without its checkpoint is ignored: the SET stands alone", async () => {
  const json = bundleJson("happy-path-v0.1");
  assertEquals(json.mediaType, "application/vnd.dev.sigstore.bundle+json;version=0.1");
  const proof = json.verificationMaterial.tlogEntries[0].inclusionProof;
  delete proof.checkpoint;
  // the unsigned proof is not even checked: a corrupted one changes nothing
  const h = Uint8Array.fromBase64(proof.hashes[0]);
  h[0]! ^= 1;
  proof.hashes[0] = toBase64(h);
  const bundle = parseBundle(json);
  assertEquals(bundle.tlogEntries[0]?.inclusionProof, undefined);
  const r = await verifyBundle(bundle, A_TXT(), production(), { certificate: POLICY });
  assertEquals(r.tlogEntries[0]?.setVerified, true);
  assertEquals(r.tlogEntries[0]?.inclusionProofVerified, false);
  assert(r.integratedTime !== undefined, "the SET signs the integrated time");
});

Deno.test("checkpoint rules: a v0.1 proof with its checkpoint is verified, not ignored", async () => {
  const json = bundleJson("happy-path-v0.1");
  const proof = json.verificationMaterial.tlogEntries[0].inclusionProof;
  assert(proof.checkpoint?.envelope, "the proof has its checkpoint");
  const h = Uint8Array.fromBase64(proof.hashes[0]);
  h[0]! ^= 1;
  proof.hashes[0] = toBase64(h);
  const e = await refusal(() =>
    verifyBundle(parseBundle(json), A_TXT(), production(), { certificate: POLICY })
  );
  assertEquals(e.code, "TLOG_INVALID", e.message);
  assert(/Inclusion proof does not verify/.test(e.message), e.message);
});

Deno.test("checkpoint rules: verifyEntry refuses a proof without a checkpoint beside a valid SET", () => {
  const bundle = parseBundle(bundleJson("happy-path-v0.3"));
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "keyless");
  const ctx: BodyContext = {
    content: bundle.content,
    digest: {
      alg: "sha256",
      bytes: Uint8Array.fromHex(
        "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
      ),
    },
    keySpki: certificateSpki(vm.certificates[0]!)!,
  };
  const entry = bundle.tlogEntries[0]!;
  const root = production();
  const check = verifyEntry(entry, ctx, root, new Date());
  assert(check.setVerified && check.inclusionProofVerified, "as shipped, both verify");
  const unsigned: BundleTlogEntry = {
    ...entry,
    inclusionProof: { ...entry.inclusionProof!, checkpoint: undefined },
  };
  let error: unknown;
  try {
    verifyEntry(unsigned, ctx, root, new Date());
  } catch (e) {
    error = e;
  }
  assert(error instanceof CosignError, `refused: ${error}`);
  assertEquals(error.code, "TLOG_INVALID", error.message);
  assert(/inclusion proof has no checkpoint/.test(error.message), error.message);
});
