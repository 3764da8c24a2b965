/**
 * Issue 14, "RFC 3161 timestamps count toward a threshold, as sigstore-go counts them", on
 * production bundles of the conformance suite whose timestamp lists are edited:
 * - each timestamp is verified on its own; one over another message (a real timestamp of
 *   another bundle) or from an untrusted TSA (one built here) is reported
 *   (`skippedTimestamps`) and skipped, and the bundle verifies on the others;
 * - the same timestamp twice counts once;
 * - verification fails only when fewer than the threshold (default 1) verify, also when a SET
 *   provides another signing time.
 * The "outside the TSA's validity" case is in lib/tlog/timestamp_rules_test.ts (it needs two
 * timestamps over one signature from two authorities, which no fixture has).
 */
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { parseCertificate } from "../x509/certificate.ts";
import { token, tsaPki } from "../tlog/_test_timestamps.ts";
import { type Bundle, parseBundle } from "./bundle.ts";
import { verifyBundle, type VerifyBundleOptions } from "./verify_bundle.ts";

const PUBLIC = `${FIXTURES}conformance/public/`;
const POLICY = {
  identity: {
    identity:
      "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
    issuer: "https://token.actions.githubusercontent.com",
  },
};

/** The first RFC 3161 timestamp of a conformance case's bundle. */
function timestampOf(name: string): Uint8Array {
  const b = parseBundle(Deno.readFileSync(`${PUBLIC}${name}/bundle.sigstore.json`));
  const [t] = b.rfc3161Timestamps;
  assert(t !== undefined, `${name} has a timestamp`);
  return t;
}

/** Rekor v2, no integrated time: its timestamp is its only signing time. */
const GOOD = "rekor2-timestamp-without-embedded-cert";
/** A valid timestamp from the same TSA, over another bundle's signature. */
const OTHER_MESSAGE = timestampOf("rekor2-timestamp-payload-mismatch_fail");
/**
 * A timestamp over the bundle's own signature from a TSA the trusted root does not list (built
 * here: the fixtures' untrusted-TSA timestamp is over another signature).
 */
function untrusted(bundle: Bundle): Uint8Array {
  assert(bundle.content.type === "messageSignature", "a message signature");
  return token(tsaPki({ uri: "https://stranger.test" }), bundle.content.signature);
}

async function load(name: string, artifact = `${PUBLIC}a.txt`) {
  const bundle = parseBundle(await Deno.readFile(`${PUBLIC}${name}/bundle.sigstore.json`));
  const root = parseTrustedRoot(await Deno.readFile(`${PUBLIC}${name}/trusted_root.json`));
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "keyless");
  // "now" inside the certificate's validity, so that no check at now could pass by accident
  const now = new Date(parseCertificate(vm.certificates[0]!).notAfter.getTime() - 1000);
  const verify = (b: Bundle, options: VerifyBundleOptions = {}) =>
    verifyBundle(b, { bytes: Deno.readFileSync(artifact) }, root, { certificate: POLICY }, {
      now,
      ...options,
    });
  return { bundle, verify };
}

const withTimestamps = (bundle: Bundle, ...ts: Uint8Array[]): Bundle => ({
  ...bundle,
  rfc3161Timestamps: ts,
});

async function refusal(fn: () => Promise<unknown>): Promise<CosignError> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    return e;
  }
  throw new Error("expected a refusal");
}

Deno.test("timestamp threshold: a timestamp over another message is reported and skipped", async () => {
  const { bundle, verify } = await load(GOOD);
  const [good] = bundle.rfc3161Timestamps;
  for (const list of [[good!, OTHER_MESSAGE], [OTHER_MESSAGE, good!]]) {
    const r = await verify(withTimestamps(bundle, ...list));
    assertEquals(r.timestamps.length, 1);
    assertEquals(r.skippedTimestamps.length, 1);
    assert(/message imprint/.test(r.skippedTimestamps[0]!), r.skippedTimestamps[0]!);
    assertEquals(r.certificate?.verifiedAt.length, 1);
  }
});

Deno.test("timestamp threshold: a timestamp from an untrusted TSA is reported and skipped", async () => {
  const { bundle, verify } = await load(GOOD);
  const r = await verify(withTimestamps(bundle, untrusted(bundle), ...bundle.rfc3161Timestamps));
  assertEquals(r.timestamps.length, 1);
  assertEquals(r.skippedTimestamps.length, 1);
  assert(/^RFC 3161 timestamp 1: Untrusted/.test(r.skippedTimestamps[0]!), r.skippedTimestamps[0]!);
});

Deno.test("timestamp threshold: the same timestamp twice counts once", async () => {
  const { bundle, verify } = await load(GOOD);
  const [good] = bundle.rfc3161Timestamps;
  const twice = withTimestamps(bundle, good!, good!);
  const r = await verify(twice);
  assertEquals(r.timestamps.length, 1);
  assert(/Duplicate RFC 3161 timestamp/.test(r.skippedTimestamps[0]!), r.skippedTimestamps[0]!);
  // so it cannot meet a threshold of 2 alone
  const e = await refusal(() => verify(twice, { timestampThreshold: 2 }));
  assert(/1 of 2 verified, 2 needed/.test(e.message), e.message);
});

Deno.test("timestamp threshold: fewer verified than the threshold fails, naming each reason", async () => {
  const { bundle, verify } = await load(GOOD);
  const e = await refusal(() => verify(withTimestamps(bundle, OTHER_MESSAGE, untrusted(bundle))));
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/0 of 2 verified, 1 needed/.test(e.message), e.message);
  assert(/timestamp 1: .*message imprint.*; timestamp 2: Untrusted/.test(e.message), e.message);
  const e2 = await refusal(() =>
    verify(withTimestamps(bundle, untrusted(bundle), ...bundle.rfc3161Timestamps), {
      timestampThreshold: 2,
    })
  );
  assertEquals(e2.code, "TIMESTAMP_UNTRUSTED", e2.message);
});

Deno.test("timestamp threshold: a SET beside them does not excuse timestamps that all fail", async () => {
  // v0.2, with a SET and one timestamp, both verified as shipped
  const name = "intoto-with-custom-trust-root";
  const { bundle, verify } = await load(name, `${PUBLIC}${name}/artifact`);
  const ok = await verify(bundle);
  assertEquals([ok.timestamps.length, ok.tlogEntries[0]?.setVerified], [1, true]);
  const e = await refusal(() => verify(withTimestamps(bundle, OTHER_MESSAGE)));
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  // and with its own timestamp beside the bad one, it verifies
  const r = await verify(withTimestamps(bundle, OTHER_MESSAGE, ...bundle.rfc3161Timestamps));
  assertEquals(r.certificate?.verifiedAt.length, 2);
  assertEquals(r.skippedTimestamps.length, 1);
});
