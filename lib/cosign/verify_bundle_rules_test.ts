/**
 * The time source rule of keyless verification: the certificate is checked at the verified
 * signing times (log integrated times, RFC 3161 timestamps). When the log is not ignored and no
 * verified time exists, verification refuses; only `--insecure-ignore-tlog` may fall back to
 * checking the certificate at "now".
 */
import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { parseCertificate } from "../x509/certificate.ts";
import { type Bundle, parseBundle } from "./bundle.ts";
import { verifyBundle } from "./verify_bundle.ts";

// A Rekor v2 keyless bundle: its log entry has an inclusion proof and a checkpoint but no
// integrated time, so its only signing time is its RFC 3161 timestamp.
const CASE = `${FIXTURES}conformance/public/rekor2-timestamp-without-embedded-cert/`;
const POLICY = {
  identity: {
    identity:
      "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
    issuer: "https://token.actions.githubusercontent.com",
  },
};

async function load() {
  const bundle = parseBundle(await Deno.readFile(`${CASE}bundle.sigstore.json`));
  const root = parseTrustedRoot(await Deno.readFile(`${CASE}trusted_root.json`));
  const artifact = { bytes: await Deno.readFile(`${FIXTURES}conformance/public/a.txt`) };
  const vm = bundle.verificationMaterial;
  assert(vm.type === "certificate", "a keyless bundle");
  const leaf = parseCertificate(vm.certificates[0]!, "the signing certificate");
  // "now" inside the certificate's validity: checking the certificate at now would pass.
  const now = new Date(leaf.notAfter.getTime() - 1000);
  assert(bundle.tlogEntries.length > 0, "the bundle has a log entry");
  assert(
    bundle.tlogEntries.every((e) => e.integratedTime === undefined),
    "no integrated time",
  );
  assert(bundle.rfc3161Timestamps.length > 0, "the bundle has a timestamp");
  return { bundle, root, artifact, now };
}

function withoutTimestamps(bundle: Bundle): Bundle {
  return { ...bundle, rfc3161Timestamps: [] };
}

Deno.test("verify_bundle rules: with its timestamp the Rekor v2 bundle verifies", async () => {
  const { bundle, root, artifact, now } = await load();
  const r = await verifyBundle(bundle, artifact, root, { certificate: POLICY }, { now });
  assertEquals(r.certificate?.verifiedAt.length, 1);
  assertEquals(r.certificate?.verifiedAt[0]?.getTime(), r.timestamps[0]?.time.getTime());
});

Deno.test("verify_bundle rules: no verified signing time and the log not ignored: refused, not checked at now", async () => {
  const { bundle, root, artifact, now } = await load();
  let error: unknown;
  try {
    await verifyBundle(withoutTimestamps(bundle), artifact, root, { certificate: POLICY }, {
      now,
    });
  } catch (e) {
    error = e;
  }
  assert(error instanceof CosignError, `expected a refusal, got ${error}`);
  assertEquals(error.code, "TIMESTAMP_MISSING", error.message);
});

Deno.test("verify_bundle rules: only --insecure-ignore-tlog falls back to checking the certificate at now", async () => {
  const { bundle, root, artifact, now } = await load();
  const r = await verifyBundle(withoutTimestamps(bundle), artifact, root, {
    certificate: POLICY,
  }, { now, ignoreTlog: true });
  assertEquals(r.certificate?.verifiedAt.map((t) => t.getTime()), [now.getTime()]);
  assertEquals(r.tlogVerifiedOffline, false);
});

Deno.test("verify_bundle rules: an integrated time no verified SET signs is no signing time", async () => {
  const conf = `${FIXTURES}conformance/`;
  const json = JSON.parse(
    await Deno.readTextFile(`${conf}public/happy-path-v0.3/bundle.sigstore.json`),
  );
  const root = parseTrustedRoot(await Deno.readFile(`${conf}trusted_root.production.json`));
  const artifact = { bytes: await Deno.readFile(`${conf}public/a.txt`) };
  const policy = {
    identity: {
      identity:
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
      issuer: "https://token.actions.githubusercontent.com",
    },
  };
  // Honest: the SET signs the integrated time, which the certificate is checked at.
  const ok = await verifyBundle(parseBundle(json), artifact, root, { certificate: policy });
  assertEquals(ok.tlogEntries[0]?.setVerified, true);
  assertEquals(ok.certificate?.verifiedAt.length, 1);
  // Without its SET, the entry is still proven by its inclusion proof and checkpoint, but its
  // integrated time is signed by nothing: there is no verified signing time.
  const entry = json.verificationMaterial.tlogEntries[0];
  delete entry.inclusionPromise;
  let error: unknown;
  try {
    await verifyBundle(parseBundle(json), artifact, root, { certificate: policy });
  } catch (e) {
    error = e;
  }
  assert(error instanceof CosignError, `refused: ${error}`);
  assertEquals(error.code, "TIMESTAMP_MISSING");
  // saying why: the integrated time it does carry is not a verified signing time
  assert(/No verified signing time/.test(error.message), error.message);
  assert(/an inclusion proof does not sign the integrated time/.test(error.message), error.message);
  // A shifted integrated time under the SET fails the SET.
  const shifted = JSON.parse(
    await Deno.readTextFile(`${conf}public/happy-path-v0.3/bundle.sigstore.json`),
  );
  const e2 = shifted.verificationMaterial.tlogEntries[0];
  e2.integratedTime = String(Number(e2.integratedTime) - 60);
  let error2: unknown;
  try {
    await verifyBundle(parseBundle(shifted), artifact, root, { certificate: policy });
  } catch (e) {
    error2 = e;
  }
  assert(error2 instanceof CosignError, `refused: ${error2}`);
  assertEquals(error2.code, "TLOG_INVALID");
});
