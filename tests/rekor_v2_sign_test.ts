/**
 * Signing with a Rekor v2 log chosen by a signing config (cosign v3): keyless `sign-blob`,
 * `attest-blob`, `sign` and `attest` against the loopback Fulcio/OIDC/TSA and the loopback
 * Rekor v2 (tests/harness/rekor_v2.ts); bundles verified by ours and by sigstore-js
 * (`@sigstore/verify` under Node). cosign's rules: a TSA is required for keyless signing with
 * Rekor v2, and v2 entries only go into Sigstore bundles. With the `ALL` selector every log
 * records the signature and the bundle carries each entry.
 */

import { pushImage, startRegistry } from "./harness/mod.ts";
import { startRekorV2 } from "./harness/rekor_v2.ts";
import { sigstoreJsVerifyKeyless } from "./harness/sigstore_js.ts";
import { type KeylessServices, startKeylessServices } from "./harness/keyless.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

const sigstoreJs = sigstoreJsVerifyKeyless;

type Log = Awaited<ReturnType<typeof startRekorV2>>;

interface Env {
  svc: KeylessServices;
  logs: Log[];
  dir: string;
  root: string;
  blob: string;
  token: string;
}

const AMBIENT = [
  "SIGSTORE_ID_TOKEN",
  "ACTIONS_ID_TOKEN_REQUEST_URL",
  "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/** Keyless services, two Rekor v2 logs, a trusted root naming all of them. */
async function withEnv(fn: (e: Env) => Promise<void>): Promise<void> {
  await using svc = await startKeylessServices();
  await using a = await startRekorV2();
  await using b = await startRekorV2();
  await using tmp = await tempDir();
  const root = `${tmp.path}/trusted_root.json`;
  const trusted = svc.trustedRoot() as { tlogs: unknown[] };
  trusted.tlogs = [a.tlog, b.tlog];
  await Deno.writeTextFile(root, JSON.stringify(trusted));
  const blob = `${tmp.path}/blob.txt`;
  await Deno.writeTextFile(blob, "hello rekor v2 signing\n");
  const token = await svc.deviceFlowToken("alice");
  await fn({ svc, logs: [a, b], dir: tmp.path, root, blob, token });
}

/** A signing config naming Fulcio, the issuer, the TSA (unless `tsa: false`) and the logs. */
async function signingConfig(
  e: Env,
  options: { logs?: Log[]; selector?: string; tsa?: boolean } = {},
): Promise<string> {
  const svc = (url: string, majorApiVersion = 1, operator = "loopback") => ({
    url,
    majorApiVersion,
    validFor: { start: "2020-01-01T00:00:00Z" },
    operator,
  });
  const logs = options.logs ?? [e.logs[0]!];
  const path = `${e.dir}/signing_config-${crypto.randomUUID()}.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
      caUrls: [svc(e.svc.fulcioUrl)],
      oidcUrls: [svc(e.svc.issuer)],
      rekorTlogUrls: logs.map((l, i) => svc(l.url, 2, `op${i}`)),
      rekorTlogConfig: { selector: options.selector ?? "ANY" },
      tsaUrls: options.tsa === false ? [] : [svc(e.svc.tsaUrl)],
      tsaConfig: { selector: "ANY" },
    }),
  );
  return path;
}

function signFlags(e: Env, config: string): string[] {
  return [
    `--signing-config=${config}`,
    `--trusted-root=${e.root}`,
    `--identity-token=${e.token}`,
    "-y",
  ];
}

const IDENTITY = (e: Env) => [
  "--certificate-identity=alice@example.com",
  `--certificate-oidc-issuer=${e.svc.issuer}`,
];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function created(log: Log): number {
  return log.requests.filter((r) => r.path === "/api/v2/log/entries").length;
}

Deno.test("rekor v2 signing: keyless sign-blob and attest-blob bundles hold v2 entries, verified by ours and sigstore-js", async () => {
  await withEnv(async (e) => {
    const config = await signingConfig(e);
    const log = e.logs[0]!;
    const bundle = `${e.dir}/blob.sigstore.json`;
    const s = await cosign([
      "sign-blob",
      ...signFlags(e, config),
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { unset: AMBIENT });
    assertEquals(s.code, 0, s.stderr);
    assert(/tlog entry created with index: 0/.test(s.stderr), s.stderr);
    assertEquals(created(log), 1);
    const b = JSON.parse(await Deno.readTextFile(bundle));
    const entry = b.verificationMaterial.tlogEntries[0];
    assertEquals(entry.kindVersion, { kind: "hashedrekord", version: "0.0.2" });
    assertEquals(entry.integratedTime, undefined, "Rekor v2 has no integrated time");
    assertEquals(entry.inclusionPromise, undefined, "nor a SET");
    assertEquals(b.verificationMaterial.timestampVerificationData.rfc3161Timestamps.length, 1);
    const v = await cosign([
      "verify-blob",
      `--bundle=${bundle}`,
      `--trusted-root=${e.root}`,
      ...IDENTITY(e),
      e.blob,
    ]);
    assertEquals(v.code, 0, v.stderr);
    const js = await sigstoreJs([bundle, e.root, e.blob, "alice@example.com", e.svc.issuer]);
    assertEquals(js.code, 0, js.stderr);
    // The bundle verifies only for the bytes signed.
    await Deno.writeTextFile(`${e.dir}/other.txt`, "other\n");
    assertFails(
      await cosign([
        "verify-blob",
        `--bundle=${bundle}`,
        `--trusted-root=${e.root}`,
        ...IDENTITY(e),
        `${e.dir}/other.txt`,
      ]),
      1,
    );

    const pred = `${e.dir}/pred.json`;
    await Deno.writeTextFile(pred, JSON.stringify({ hello: "v2" }));
    const abundle = `${e.dir}/att.sigstore.json`;
    const a = await cosign([
      "attest-blob",
      ...signFlags(e, config),
      `--predicate=${pred}`,
      "--type=custom",
      "--new-bundle-format",
      `--bundle=${abundle}`,
      `--output-signature=${e.dir}/env.json`,
      e.blob,
    ], { unset: AMBIENT });
    assertEquals(a.code, 0, a.stderr);
    assertEquals(created(log), 2);
    const ab = JSON.parse(await Deno.readTextFile(abundle));
    // A DSSE envelope is logged as a hashedrekord over its PAE (rekor-tiles takes no dsse).
    assertEquals(ab.verificationMaterial.tlogEntries[0].kindVersion.kind, "hashedrekord");
    const va = await cosign([
      "verify-blob-attestation",
      `--bundle=${abundle}`,
      `--trusted-root=${e.root}`,
      "--type=custom",
      ...IDENTITY(e),
      e.blob,
    ]);
    assertEquals(va.code, 0, va.stderr);
    const jsa = await sigstoreJs([abundle, e.root, e.blob, "alice@example.com", e.svc.issuer]);
    assertEquals(jsa.code, 0, jsa.stderr);
  });
});

Deno.test("rekor v2 signing: keyless sign and attest on the registry (v3 referrers) verify by identity", async () => {
  await withEnv(async (e) => {
    await using reg = await startRegistry();
    const img = await pushImage(reg, "test/rekorv2:v1");
    const config = await signingConfig(e);
    const s = await cosign(["sign", ...signFlags(e, config), img.ref], { unset: AMBIENT });
    assertEquals(s.code, 0, s.stderr);
    const pred = `${e.dir}/pred.json`;
    await Deno.writeTextFile(pred, JSON.stringify({ built: "yes" }));
    const a = await cosign([
      "attest",
      ...signFlags(e, config),
      `--predicate=${pred}`,
      "--type=custom",
      img.ref,
    ], { unset: AMBIENT });
    assertEquals(a.code, 0, a.stderr);
    assertEquals(created(e.logs[0]!), 2);
    const byDigest = `${reg.host}/test/rekorv2@${img.digest}`;
    for (const target of [img.ref, byDigest]) {
      const v = await cosign(["verify", `--trusted-root=${e.root}`, ...IDENTITY(e), target]);
      assertEquals(v.code, 0, `${target}: ${v.stderr}`);
      const va = await cosign([
        "verify-attestation",
        `--trusted-root=${e.root}`,
        "--type=custom",
        ...IDENTITY(e),
        target,
      ]);
      assertEquals(va.code, 0, `${target}: ${va.stderr}`);
    }
    // Another identity is refused.
    const other = await cosign([
      "verify",
      `--trusted-root=${e.root}`,
      "--certificate-identity=mallory@example.com",
      `--certificate-oidc-issuer=${e.svc.issuer}`,
      img.ref,
    ]);
    assertFails(other, 12, /none of the expected identities matched/);
  });
});

Deno.test("rekor v2 signing: the ALL selector records in every log and the bundle carries each entry", async () => {
  await withEnv(async (e) => {
    const config = await signingConfig(e, { logs: e.logs, selector: "ALL" });
    const bundle = `${e.dir}/all.sigstore.json`;
    const s = await cosign([
      "sign-blob",
      ...signFlags(e, config),
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { unset: AMBIENT });
    assertEquals(s.code, 0, s.stderr);
    assertEquals(e.logs.map(created), [1, 1]);
    const b = JSON.parse(await Deno.readTextFile(bundle));
    const ids = b.verificationMaterial.tlogEntries.map((t: { logId: { keyId: string } }) =>
      t.logId.keyId
    );
    assertEquals(ids, e.logs.map((l) => (l.tlog.logId as { keyId: string }).keyId));
    const v = await cosign([
      "verify-blob",
      `--bundle=${bundle}`,
      `--trusted-root=${e.root}`,
      ...IDENTITY(e),
      e.blob,
    ]);
    assertEquals(v.code, 0, v.stderr);
    const js = await sigstoreJs([bundle, e.root, e.blob, "alice@example.com", e.svc.issuer]);
    assertEquals(js.code, 0, js.stderr);
  });
});

Deno.test("rekor v2 signing: keyed sign-blob with a signing config needs no TSA; its bundle verifies with the key", async () => {
  await withEnv(async (e) => {
    const config = await signingConfig(e, { tsa: false });
    const env = { COSIGN_PASSWORD: "pw" };
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${e.dir}/k`], { env });
    assertEquals(g.code, 0, g.stderr);
    const bundle = `${e.dir}/keyed.sigstore.json`;
    const s = await cosign([
      "sign-blob",
      `--signing-config=${config}`,
      `--trusted-root=${e.root}`,
      `--key=${e.dir}/k.key`,
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { env, unset: AMBIENT });
    assertEquals(s.code, 0, s.stderr);
    assertEquals(created(e.logs[0]!), 1);
    const sent = JSON.parse(e.logs[0]!.requests.at(-1)!.body).hashedRekordRequestV002;
    assert(sent.signature.verifier.publicKey, "the key, not a certificate, is logged");
    const v = await cosign([
      "verify-blob",
      `--bundle=${bundle}`,
      `--trusted-root=${e.root}`,
      `--key=${e.dir}/k.pub`,
      e.blob,
    ]);
    assertEquals(v.code, 0, v.stderr);
    // Without --trusted-root, and TUF out of reach: cosign v3 warns and signs on (the log's
    // answer is then checked against what was sent only).
    const bundle2 = `${e.dir}/keyed-no-root.sigstore.json`;
    // Another blob: the key's signatures are deterministic, and the log refuses a duplicate.
    const blob2 = `${e.dir}/blob2.txt`;
    await Deno.writeTextFile(blob2, "another blob\n");
    const s2 = await cosign([
      "sign-blob",
      `--signing-config=${config}`,
      `--key=${e.dir}/k.key`,
      "--new-bundle-format",
      `--bundle=${bundle2}`,
      blob2,
    ], {
      env: { ...env, TUF_MIRROR: "http://127.0.0.1:9", TUF_ROOT: `${e.dir}/tuf` },
      unset: AMBIENT,
    });
    assertEquals(s2.code, 0, s2.stderr);
    assert(/Could not fetch trusted_root\.json from the TUF repository/.test(s2.stderr), s2.stderr);
    const v2 = await cosign([
      "verify-blob",
      `--bundle=${bundle2}`,
      `--trusted-root=${e.root}`,
      `--key=${e.dir}/k.pub`,
      blob2,
    ]);
    assertEquals(v2.code, 0, v2.stderr);
  });
});

Deno.test("rekor v2 signing is refused before anything is sent: keyless without a TSA, legacy layouts, a failing log", async () => {
  await withEnv(async (e) => {
    const log = e.logs[0]!;
    const bundle = `${e.dir}/refused.json`;
    const fulcio = e.svc.fulcioLog.length;
    // cosign: Rekor v2 gives no signed time, so keyless signing needs a TSA.
    const noTsa = await signingConfig(e, { tsa: false });
    const r1 = await cosign([
      "sign-blob",
      ...signFlags(e, noTsa),
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { unset: AMBIENT });
    assertFails(r1, 2, /a timestamp authority must be provided/);
    assertEquals(e.svc.fulcioLog.length, fulcio, "no certificate asked for");
    // Legacy layouts hold a v1 SET, not a v2 entry.
    const config = await signingConfig(e);
    const r2 = await cosign([
      "sign-blob",
      ...signFlags(e, config),
      "--new-bundle-format=false",
      `--bundle=${bundle}`,
      e.blob,
    ], { unset: AMBIENT });
    assertFails(r2, 2, /Rekor v2 log .* only a Sigstore bundle holds.*--new-bundle-format/);
    await using reg = await startRegistry();
    const img = await pushImage(reg, "test/rekorv2:legacy");
    const r3 = await cosign([
      "sign",
      ...signFlags(e, config),
      "--new-bundle-format=false",
      img.ref,
    ], { unset: AMBIENT });
    assertFails(r3, 2, /\.sig image/);
    assertEquals(e.svc.fulcioLog.length, fulcio, "no certificate asked for");
    assertEquals(created(log), 0, "nothing logged");
    // A log that refuses: the error names it; no bundle is written.
    log.failNext = { count: 5, status: 400 };
    const r4 = await cosign([
      "sign-blob",
      ...signFlags(e, config),
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { unset: AMBIENT });
    assertFails(r4, 1, new RegExp(`Rekor v2 at ${log.url.replace(/\./g, "\\.")} refused`));
    assert(!(await exists(bundle)), "no bundle after a failed upload");
    // An answer that records something else is refused too.
    log.failNext = undefined;
    log.rewrite = (answer) => ({ ...answer, logIndex: "7" });
    const r5 = await cosign([
      "sign-blob",
      ...signFlags(e, config),
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { unset: AMBIENT });
    assertFails(r5, 1);
    assert(!(await exists(bundle)), "no bundle after a hostile answer");
  });
});
