import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { certificateSpki } from "../crypto/der.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { type Bundle, type DsseContent, parseBundle } from "./bundle.ts";
import { verifyEntry } from "./bundle_tlog.ts";

// A Rekor v2 entry for a DSSE envelope: hashedrekord 0.0.2 over the envelope's PAE. In this
// conformance case the envelope's signature was swapped for another one over the same payload;
// putting back the signature the log recorded gives a consistent envelope and entry.
const CASE = `${FIXTURES}conformance/public/rekor2-dsse-mismatch-sig_fail/`;

async function load(): Promise<{ bundle: Bundle; loggedSig: Uint8Array }> {
  const bundle = parseBundle(await Deno.readFile(`${CASE}bundle.sigstore.json`));
  const body = JSON.parse(new TextDecoder().decode(bundle.tlogEntries[0]!.canonicalizedBody));
  const loggedSig = Uint8Array.fromBase64(body.spec.hashedRekordV002.signature.content);
  return { bundle, loggedSig };
}

function withSignature(content: DsseContent, sig: Uint8Array): DsseContent {
  return {
    ...content,
    envelope: { ...content.envelope, signatures: [{ keyid: "", sig }] },
  };
}

function fails(fn: () => unknown, code: string, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    assertEquals(e.code, code, e.message);
    assert(pattern.test(e.message), e.message);
    return;
  }
  throw new Error("expected a failure");
}

Deno.test("bundle_tlog: hashedrekord 0.0.2 over a DSSE envelope (Rekor v2)", async () => {
  const { bundle, loggedSig } = await load();
  const root = parseTrustedRoot(await Deno.readFile(`${CASE}trusted_root.json`));
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "certificate bundle");
  const keySpki = certificateSpki(vm.certificates[0]!)!;
  const content = bundle.content as DsseContent;
  const entry = bundle.tlogEntries[0]!;
  const now = new Date();

  // The envelope with the logged signature: the body matches, the proof and checkpoint verify.
  const ok = verifyEntry(
    entry,
    { content: withSignature(content, loggedSig), digest: undefined, keySpki },
    root,
    now,
  );
  assertEquals(ok.kindVersion, "hashedrekord/0.0.2");
  assert(ok.inclusionProofVerified, "inclusion proof verified");
  assertEquals(ok.integratedTime, undefined);

  // As shipped: another signature than the log's.
  fails(
    () => verifyEntry(entry, { content, digest: undefined, keySpki }, root, now),
    "TLOG_BODY_MISMATCH",
    /different signature/,
  );
  // A different payload: the PAE digest differs.
  const otherPayload: DsseContent = {
    ...withSignature(content, loggedSig),
    envelope: {
      ...content.envelope,
      payload: new TextEncoder().encode("{}"),
      signatures: [{ keyid: "", sig: loggedSig }],
    },
  };
  fails(
    () => verifyEntry(entry, { content: otherPayload, digest: undefined, keySpki }, root, now),
    "TLOG_BODY_MISMATCH",
    /PAE digest/,
  );
  // Another key.
  const other = new Uint8Array(keySpki);
  other[other.length - 1]! ^= 1;
  fails(
    () =>
      verifyEntry(
        entry,
        { content: withSignature(content, loggedSig), digest: undefined, keySpki: other },
        root,
        now,
      ),
    "TLOG_BODY_MISMATCH",
    /different key/,
  );
});
