import { assert, assertEquals } from "../../tests/helpers.ts";
import {
  assertThrowsCode,
  bundleEntry,
  conformanceCase,
  type FixtureEntry,
  OCI_BUNDLE,
  PGI_ROOT,
  readJson,
  trustedRoot,
} from "./_fixtures.ts";
import { type SetEntry, setPayload, verifySet } from "./set.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";

function setEntry(e: FixtureEntry): SetEntry {
  assert(e.integratedTime !== undefined, "the entry has an integrated time");
  assert(e.signedEntryTimestamp !== undefined, "the entry has a SET");
  return {
    body: e.body,
    integratedTime: e.integratedTime,
    logIndex: e.logIndex,
    logId: e.logId,
    signedEntryTimestamp: e.signedEntryTimestamp,
  };
}

const REKOR_V1_LOG_ID = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";

Deno.test("set: the SET of the public-good OCI attestation bundle verifies with the pgi root", () => {
  const entry = setEntry(bundleEntry(OCI_BUNDLE));
  const log = verifySet(entry, trustedRoot(PGI_ROOT));
  assertEquals(log.baseUrl, "https://rekor.sigstore.dev");
  assertEquals(log.logIdHex, REKOR_V1_LOG_ID);
  // the same with the production root, which also lists a Rekor v2 log
  verifySet(entry, trustedRoot("conformance/trusted_root.production.json"));
});

Deno.test("set: the payload is JCS of body (base64), integratedTime, logID (hex), global logIndex", () => {
  const e = bundleEntry(OCI_BUNDLE);
  const text = new TextDecoder().decode(setPayload(setEntry(e)));
  const bundleBody: string = readJson(OCI_BUNDLE).verificationMaterial.tlogEntries[0]
    .canonicalizedBody;
  assertEquals(
    text,
    `{"body":"${bundleBody}","integratedTime":1740770291,"logID":"${REKOR_V1_LOG_ID}",` +
      `"logIndex":175508996}`,
  );
});

Deno.test("set: altering the integrated time, log index, body or SET fails", () => {
  const root = trustedRoot(PGI_ROOT);
  const good = setEntry(bundleEntry(OCI_BUNDLE));
  const e = bundleEntry(OCI_BUNDLE);
  const body = new Uint8Array(good.body);
  body[body.length - 3]! ^= 1;
  const sig = new Uint8Array(good.signedEntryTimestamp);
  sig[sig.length - 1]! ^= 1;
  const altered: Array<[string, SetEntry]> = [
    ["integratedTime + 1", { ...good, integratedTime: 1740770292n }],
    ["integratedTime - 1", { ...good, integratedTime: 1740770290 }],
    ["logIndex + 1", { ...good, logIndex: 175508997n }],
    // gotcha 8: the shard-local proof index is not what the SET signs
    ["proof logIndex", { ...good, logIndex: e.proof!.logIndex }],
    ["body", { ...good, body }],
    ["SET", { ...good, signedEntryTimestamp: sig }],
    ["truncated SET", { ...good, signedEntryTimestamp: sig.subarray(0, 10) }],
  ];
  for (const [what, entry] of altered) {
    assertThrowsCode(
      () => verifySet(entry, root),
      "TLOG_INVALID",
      /^Signed entry timestamp does not verify with the key of https:\/\/rekor\.sigstore\.dev/,
      what,
    );
  }
});

Deno.test("set: an unknown log ID, an empty trusted root and a negative index fail clearly", () => {
  const good = setEntry(bundleEntry(OCI_BUNDLE));
  const unknown = new Uint8Array(good.logId);
  unknown[0]! ^= 0xff;
  assertThrowsCode(
    () => verifySet({ ...good, logId: unknown }, trustedRoot(PGI_ROOT)),
    "TLOG_UNTRUSTED",
    /^Untrusted transparency log: log ID 3fd23d6a[0-9a-f]{56} is not in the trusted root \(it lists c0d23d6a…\)$/,
  );
  assertThrowsCode(
    () => verifySet(good, trustedRoot("blob-attestation/empty-trusted-root.json")),
    "TLOG_UNTRUSTED",
    /is not in the trusted root \(it lists none\)/,
  );
  // conformance bundle-negative-log-index_fail: logIndex "-1"
  const { entry, root } = conformanceCase("bundle-negative-log-index_fail");
  assertThrowsCode(
    () => verifySet(setEntry(entry), root),
    "TLOG_INVALID",
    /log index: expected a non-negative integer, found -1/,
  );
});

Deno.test("set: the log key must be valid at the integrated time, end inclusive", () => {
  // conformance trust-root-tlog-validity-end-inclusive: the Rekor key's validFor.end equals the
  // entry's integrated time (1689177396 = 2023-07-12T15:56:36Z); the case must pass.
  const c = readJson("conformance/cases.json").find((x: { name: string }) =>
    x.name === "trust-root-tlog-validity-end-inclusive"
  );
  const { entry } = conformanceCase(c.name);
  assert(entry.integratedTime === 1689177396n, "integrated time");
  const rootJson = readJson("conformance/" + c.trusted_root);
  assertEquals(rootJson.tlogs[0].publicKey.validFor.end, "2023-07-12T15:56:36Z");
  verifySet(setEntry(entry), parseTrustedRoot(rootJson));

  // one second earlier and the key has expired
  rootJson.tlogs[0].publicKey.validFor.end = "2023-07-12T15:56:35Z";
  assertThrowsCode(
    () => verifySet(setEntry(entry), parseTrustedRoot(rootJson)),
    "TLOG_UNTRUSTED",
    /^Untrusted transparency log https:\/\/rekor\.sigstore\.dev: key not valid at 2023-07-12T15:56:36\.000Z \(valid 2021-01-12T11:53:27\.000Z to 2023-07-12T15:56:35\.000Z\)$/,
  );
  // the start is inclusive too
  rootJson.tlogs[0].publicKey.validFor = { start: "2023-07-12T15:56:36Z" };
  verifySet(setEntry(entry), parseTrustedRoot(rootJson));
  rootJson.tlogs[0].publicKey.validFor = { start: "2023-07-12T15:56:37Z" };
  assertThrowsCode(() => verifySet(setEntry(entry), parseTrustedRoot(rootJson)), "TLOG_UNTRUSTED");
  // a key without a validity start is not trusted for SETs (as sigstore-go): the parser
  // refuses such a root, and a root built in code without one is refused here
  const parsed = parseTrustedRoot(rootJson);
  const open = { ...parsed, tlogs: parsed.tlogs.map((l) => ({ ...l, validFor: {} })) };
  assertThrowsCode(
    () => verifySet(setEntry(entry), open),
    "TLOG_UNTRUSTED",
    /has no validity start/,
  );
  delete rootJson.tlogs[0].publicKey.validFor;
  assertThrowsCode(
    () => parseTrustedRoot(rootJson),
    "TRUSTED_ROOT_INVALID",
    /tlogs\[0\]\.publicKey\.validFor is missing/,
  );
});

Deno.test("set: other real SETs verify: happy paths and a custom trust root", () => {
  for (const name of ["happy-path-v0.1", "happy-path-v0.3", "intoto-with-custom-trust-root"]) {
    const { entry, root } = conformanceCase(name);
    verifySet(setEntry(entry), root);
  }
});

Deno.test("set: a SET claimed by an Ed25519 (Rekor v2) log is refused", () => {
  const root = trustedRoot("conformance/trusted_root.production.json");
  const v2 = root.tlogs.find((l) => l.publicKey.asymmetricKeyType === "ed25519");
  assert(v2 !== undefined, "the production root has a Rekor v2 log");
  const entry = { ...setEntry(bundleEntry(OCI_BUNDLE)), integratedTime: 1767225600 };
  assertThrowsCode(
    () => verifySet({ ...entry, logId: v2.logId }, root),
    "TLOG_INVALID",
    /expected an ECDSA log key, found ed25519/,
  );
});
