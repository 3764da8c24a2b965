/**
 * Attestations in the transparency log, and verify-blob's online log search, against the
 * loopback Rekor (tests/harness/rekor.ts, which canonicalizes and stores entries as Rekor does):
 * - `attest` uploads a dsse (default) or intoto 0.0.2 entry and stores cosign's bundle annotation
 *   on the `.att` layer; `verify-attestation` checks it offline against `--trusted-root` or
 *   `SIGSTORE_REKOR_PUBLIC_KEY`, and refuses a tampered annotation, another attestation's entry,
 *   another log's trust material, no annotation, and no trust material;
 * - `attest-blob --bundle` writes the legacy bundle; `verify-blob-attestation --bundle` checks it
 *   with the network denied, with the same negatives;
 * - `verify-blob` without a bundle finds the signature's entry by the blob's SHA-256 (ECDSA keys
 *   over the digest, Ed25519 keys over the message, from a file or stdin).
 */
import { getBlob, putManifest } from "./harness/raw.ts";
import { inspectRaw, pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import { type Rekor, startRekor } from "./harness/rekor.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  cosignOffline,
  FIXTURES,
  type RunResult,
  sh,
  tempDir,
} from "./helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PRED = FIXTURES + "predicates/test-result.json";
const TEST_RESULT = "https://example.com/TestResult/v1";
const BUNDLE = "dev.sigstore.cosign/bundle";
const OFFLINE_LINE = "Existence of the claims in the transparency log was verified offline";

type Env = Record<string, string>;

interface Manifest {
  layers: { digest: string; annotations: Record<string, string> }[];
}

interface RekorBundle {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes))).toHex();
}

function b64json(s: string): Record<string, unknown> {
  return JSON.parse(dec.decode(Uint8Array.fromBase64(s)));
}

function proposals(rekor: Rekor): Record<string, unknown>[] {
  return rekor.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/log/entries")
    .map((r) => JSON.parse(r.body));
}

async function genKey(dir: string, name: string, env: Env) {
  const r = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/${name}`], { env });
  assertEquals(r.code, 0, r.stderr);
  return { key: `${dir}/${name}.key`, pub: `${dir}/${name}.pub` };
}

function attTag(digest: string): string {
  return `${digest.replace(":", "-")}.att`;
}

async function attManifest(reg: Registry, repo: string, digest: string): Promise<Manifest> {
  return JSON.parse(dec.decode(await inspectRaw(reg, `${repo}:${attTag(digest)}`)));
}

/** Rewrites the `.att` manifest with the first layer's bundle annotation replaced. */
async function setBundleAnnotation(
  reg: Registry,
  repo: string,
  digest: string,
  value: string,
): Promise<void> {
  const m = await attManifest(reg, repo, digest);
  m.layers[0]!.annotations[BUNDLE] = value;
  await putManifest(reg, repo, attTag(digest), enc.encode(JSON.stringify(m)));
}

/** A failure: exit `code`, one `Error:` line matching `re`, nothing on stdout, no check lines. */
function assertRefused(r: RunResult, re: RegExp, label: string, code = 1): void {
  try {
    assertFails(r, code, re);
    assertEquals(r.out, "", "nothing printed");
    assert(!r.stderr.includes("Verified OK"), "no Verified OK");
  } catch (e) {
    throw new Error(`${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

Deno.test("rekor: attest uploads a dsse entry and the bundle annotation; verify-attestation checks it offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  await using stranger = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  const [k, a, b] = await Promise.all([
    genKey(p, "k", env),
    pushImage(reg, "app/a:v1"),
    pushImage(reg, "app/b:v1", { layerBytes: enc.encode("image b") }),
  ]);
  assert(a.digest !== b.digest, "two images");
  const attest = (ref: string, extra: string[] = []) =>
    cosign([
      "attest",
      "--new-bundle-format=false",
      "--key",
      k.key,
      "--predicate",
      PRED,
      "--type",
      TEST_RESULT,
      "--rekor-url",
      rekor.url,
      ...extra,
      ref,
    ], { env });
  const s = await attest(a.ref);
  assertEquals(s.code, 0, s.stderr);
  const index = /tlog entry created with index: (\d+)/.exec(s.stderr)?.[1];
  assert(index !== undefined, s.stderr);

  // One dsse 0.0.1 upload whose envelope is the layer's bytes, verified by our key.
  const [proposed] = proposals(rekor) as {
    apiVersion: string;
    kind: string;
    spec: { proposedContent: { envelope: string; verifiers: string[] } };
  }[];
  assertEquals([proposed!.kind, proposed!.apiVersion], ["dsse", "0.0.1"]);
  const m = await attManifest(reg, "app/a", a.digest);
  assertEquals(m.layers.length, 1);
  const layerBytes = await getBlob(reg, "app/a", m.layers[0]!.digest);
  assertEquals(proposed!.spec.proposedContent.envelope, dec.decode(layerBytes));
  assertEquals(
    dec.decode(Uint8Array.fromBase64(proposed!.spec.proposedContent.verifiers[0]!)),
    await Deno.readTextFile(k.pub),
  );
  // The annotation is cosign's Rekor bundle of the canonical dsse entry for these bytes.
  const ann = m.layers[0]!.annotations;
  assertEquals(ann["dev.cosignproject.cosign/signature"], "");
  assertEquals(ann.predicateType, TEST_RESULT);
  const rb = JSON.parse(ann[BUNDLE]!) as RekorBundle;
  assertEquals(Object.keys(rb), ["SignedEntryTimestamp", "Payload"]);
  assertEquals(Object.keys(rb.Payload), ["body", "integratedTime", "logIndex", "logID"]);
  assertEquals([rb.Payload.logID, String(rb.Payload.logIndex)], [rekor.logIdHex, index]);
  const body = b64json(rb.Payload.body) as {
    kind: string;
    spec: { envelopeHash: { value: string } };
  };
  assertEquals(body.kind, "dsse");
  assertEquals(body.spec.envelopeHash.value, await sha256Hex(layerBytes));

  const verify = (ref: string, extra: string[], e: Env = env) =>
    cosign(["verify-attestation", "--key", k.pub, "--type", TEST_RESULT, ...extra, ref], {
      env: e,
    });
  const ok = await verify(a.ref, ["--trusted-root", rekor.trustedRootPath]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes(OFFLINE_LINE), ok.stderr);
  assert(ok.stderr.includes("The signatures were verified against the specified public key"), "");
  assertEquals(ok.out, dec.decode(layerBytes) + "\n");
  await Deno.writeTextFile(`${p}/rekor.pub`, rekor.publicKeyPem);
  const viaEnv = await verify(a.ref, [], { ...env, SIGSTORE_REKOR_PUBLIC_KEY: `${p}/rekor.pub` });
  assertEquals(viaEnv.code, 0, viaEnv.stderr);
  // Without trust material: a clear error, not a silent skip. With --insecure-ignore-tlog: OK,
  // with cosign's warning and without the offline line.
  // (With neither, trust comes from TUF: here its mirror cannot be reached, which is named.)
  assertRefused(
    await verify(a.ref, [], { ...env, TUF_MIRROR: "http://127.0.0.1:9" }),
    /127\.0\.0\.1:9/,
    "no trust",
  );
  const skipped = await verify(a.ref, ["--insecure-ignore-tlog"]);
  assertEquals(skipped.code, 0, skipped.stderr);
  assert(skipped.stderr.includes("WARNING: Skipping tlog verification"), skipped.stderr);
  assert(!skipped.stderr.includes(OFFLINE_LINE), skipped.stderr);
  // Another log's key in the trusted root: the entry is not trusted.
  assertRefused(
    await verify(a.ref, ["--trusted-root", stranger.trustedRootPath]),
    /transparency log: .*(not in the trusted root|untrusted)/i,
    "another log",
  );

  // --rekor-entry-type intoto: an intoto 0.0.2 entry, verified the same way.
  const si = await attest(b.ref, ["--rekor-entry-type", "intoto"]);
  assertEquals(si.code, 0, si.stderr);
  const intoto = proposals(rekor).at(-1) as {
    apiVersion: string;
    kind: string;
    spec: { content: { hash: { value: string } } };
  };
  assertEquals([intoto.kind, intoto.apiVersion], ["intoto", "0.0.2"]);
  const mb = await attManifest(reg, "app/b", b.digest);
  const bBytes = await getBlob(reg, "app/b", mb.layers[0]!.digest);
  assertEquals(intoto.spec.content.hash.value, await sha256Hex(bBytes));
  assertEquals(b64json(JSON.parse(mb.layers[0]!.annotations[BUNDLE]!).Payload.body).kind, "intoto");
  const okB = await verify(b.ref, ["--trusted-root", rekor.trustedRootPath]);
  assertEquals(okB.code, 0, okB.stderr);
  assert(okB.stderr.includes(OFFLINE_LINE), okB.stderr);
  const badType = await attest(b.ref, ["--rekor-entry-type", "rekord"]);
  assertFails(badType, 2, /--rekor-entry-type "rekord" \(dsse or intoto\)/);

  // Tampered annotation body: the SET no longer verifies.
  const tampered = structuredClone(rb);
  const tb = b64json(tampered.Payload.body) as { spec: { payloadHash: { value: string } } };
  tb.spec.payloadHash.value = "0".repeat(64);
  tampered.Payload.body = enc.encode(JSON.stringify(tb)).toBase64();
  await setBundleAnnotation(reg, "app/a", a.digest, JSON.stringify(tampered));
  assertRefused(
    await verify(a.ref, ["--trusted-root", rekor.trustedRootPath]),
    /transparency log: .*(payload hash|does not verify)/,
    "tampered body",
  );
  // B's genuine entry on A's attestation: an entry for another artifact.
  await setBundleAnnotation(reg, "app/a", a.digest, mb.layers[0]!.annotations[BUNDLE]!);
  assertRefused(
    await verify(a.ref, ["--trusted-root", rekor.trustedRootPath]),
    /transparency log: .*does not match/,
    "another attestation's entry",
  );
  // Restored, it verifies again (the negatives above failed for the reason given).
  await setBundleAnnotation(reg, "app/a", a.digest, ann[BUNDLE]!);
  assertEquals((await verify(a.ref, ["--trusted-root", rekor.trustedRootPath])).code, 0);

  // An attestation without a log entry does not satisfy a verify that checks the log.
  const c = await pushImage(reg, "app/c:v1", { layerBytes: enc.encode("image c") });
  const noTlog = await attest(c.ref, ["--tlog-upload=false"]);
  assertEquals(noTlog.code, 0, noTlog.stderr);
  assert(!noTlog.stderr.includes("tlog entry created"), noTlog.stderr);
  assert(!(await attManifest(reg, "app/c", c.digest)).layers[0]!.annotations[BUNDLE], "no bundle");
  assertRefused(
    await verify(c.ref, ["--trusted-root", rekor.trustedRootPath]),
    /no transparency-log entry/,
    "no entry",
  );
  assertEquals((await verify(c.ref, ["--insecure-ignore-tlog"])).code, 0);
  // --no-upload sends nothing anywhere (as sign --upload=false), the log included.
  const before = proposals(rekor).length;
  const printed = await attest(c.ref, ["--no-upload"]);
  assertEquals(printed.code, 0, printed.stderr);
  assertEquals(proposals(rekor).length, before, "no upload with --no-upload");
});

Deno.test("rekor: attest-blob --bundle (dsse, intoto) and verify-blob-attestation offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  await using stranger = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  const k = await genKey(p, "k", env);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  await Deno.writeTextFile(`${p}/other`, "another release\n");
  const attestBlob = (file: string, out: string, extra: string[]) =>
    cosign([
      "attest-blob",
      "--key",
      k.key,
      "--predicate",
      PRED,
      "--type",
      TEST_RESULT,
      "--rekor-url",
      rekor.url,
      "--bundle",
      `${p}/${out}.bundle.json`,
      "--output-signature",
      `${p}/${out}.dsse.json`,
      ...extra,
      file,
    ], { env });
  const vba = (args: string[], e: Env = {}) =>
    cosignOffline(
      ["verify-blob-attestation", "--key", k.pub, "--type", TEST_RESULT, ...args],
      { HOME: p, ...e },
    );
  const root = ["--trusted-root", rekor.trustedRootPath];

  for (const type of ["dsse", "intoto"]) {
    const r = await attestBlob(`${p}/blob`, type, ["--rekor-entry-type", type]);
    assertEquals(r.code, 0, r.stderr);
    assert(/tlog entry created with index: \d+/.test(r.stderr), r.stderr);
    assert(r.stderr.includes(`Wrote bundle to file ${p}/${type}.bundle.json`), r.stderr);
    const envelope = await Deno.readFile(`${p}/${type}.dsse.json`);
    const bundle = JSON.parse(await Deno.readTextFile(`${p}/${type}.bundle.json`));
    assertEquals(Object.keys(bundle), ["base64Signature", "cert", "rekorBundle"]);
    assertEquals(dec.decode(Uint8Array.fromBase64(bundle.base64Signature)), dec.decode(envelope));
    assertEquals(dec.decode(Uint8Array.fromBase64(bundle.cert)), await Deno.readTextFile(k.pub));
    assertEquals(bundle.rekorBundle.Payload.logID, rekor.logIdHex);
    const body = b64json(bundle.rekorBundle.Payload.body);
    assertEquals(
      [body.kind, body.apiVersion],
      type === "dsse" ? ["dsse", "0.0.1"] : [
        "intoto",
        "0.0.2",
      ],
    );
    const ok = await vba(["--bundle", `${p}/${type}.bundle.json`, ...root, `${p}/blob`]);
    assertEquals(ok.code, 0, `${type}: ${ok.stderr}`);
    assert(ok.stderr.includes(OFFLINE_LINE) && ok.stderr.includes("Verified OK"), ok.stderr);
  }
  const args = ["--bundle", `${p}/dsse.bundle.json`];
  await Deno.writeTextFile(`${p}/rekor.pub`, rekor.publicKeyPem);
  const viaEnv = await vba([...args, `${p}/blob`], { SIGSTORE_REKOR_PUBLIC_KEY: `${p}/rekor.pub` });
  assertEquals(viaEnv.code, 0, viaEnv.stderr);

  // Negatives, each failing for its own reason.
  assertRefused(await vba([...args, `${p}/blob`]), /--trusted-root/, "no trusted root");
  assertRefused(
    await vba(["--signature", `${p}/dsse.dsse.json`, ...root, `${p}/blob`]),
    /needs --bundle/,
    "--signature alone cannot show a log entry",
  );
  assertRefused(
    await vba([...args, "--trusted-root", stranger.trustedRootPath, `${p}/blob`]),
    /not in the trusted root|untrusted/i,
    "another log's key",
  );
  assertRefused(
    await vba([...args, ...root, `${p}/other`]),
    /no matching subject digest found/,
    "another blob",
  );
  const bundle = JSON.parse(await Deno.readTextFile(`${p}/dsse.bundle.json`));
  const tampered = structuredClone(bundle);
  tampered.rekorBundle.Payload.integratedTime -= 1;
  await Deno.writeTextFile(`${p}/tampered.json`, JSON.stringify(tampered));
  assertRefused(
    await vba(["--bundle", `${p}/tampered.json`, ...root, `${p}/blob`]),
    /[Ss]igned entry timestamp does not verify/,
    "tampered SET payload",
  );
  // The log entry of another blob's attestation, spliced into this bundle.
  const o = await attestBlob(`${p}/other`, "other", []);
  assertEquals(o.code, 0, o.stderr);
  const other = JSON.parse(await Deno.readTextFile(`${p}/other.bundle.json`));
  await Deno.writeTextFile(
    `${p}/spliced.json`,
    JSON.stringify({ ...bundle, rekorBundle: other.rekorBundle }),
  );
  assertRefused(
    await vba(["--bundle", `${p}/spliced.json`, ...root, `${p}/blob`]),
    /does not match the bundle/,
    "another artifact's entry",
  );
  // No upload: the bundle has no rekorBundle; only --insecure-ignore-tlog accepts it.
  const n = await attestBlob(`${p}/blob`, "none", ["--tlog-upload=false"]);
  assertEquals(n.code, 0, n.stderr);
  assert(!n.stderr.includes("tlog entry"), n.stderr);
  const none = JSON.parse(await Deno.readTextFile(`${p}/none.bundle.json`));
  assertEquals(Object.keys(none), ["base64Signature", "cert"]);
  assertRefused(
    await vba(["--bundle", `${p}/none.bundle.json`, ...root, `${p}/blob`]),
    /no transparency log entry/,
    "no entry",
  );
  const ignored = await vba([
    "--bundle",
    `${p}/none.bundle.json`,
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ]);
  assertEquals(ignored.code, 0, ignored.stderr);
  assert(!ignored.stderr.includes(OFFLINE_LINE), ignored.stderr);
});

Deno.test("rekor: verify-blob without a bundle finds the signature's entry online", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  await using stranger = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  const k = await genKey(p, "k", env);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  await Deno.writeTextFile(`${p}/quiet`, "never logged\n");
  const signBlob = (file: string, out: string, extra: string[] = []) =>
    cosign([
      "sign-blob",
      "--key",
      k.key,
      "--rekor-url",
      rekor.url,
      "--output-signature",
      `${p}/${out}`,
      ...extra,
      file,
    ], { env });
  assertEquals((await signBlob(`${p}/blob`, "blob.sig")).code, 0);
  // An attestation of the same blob is indexed under its digest too: the search skips it.
  const att = await cosign([
    "attest-blob",
    "--key",
    k.key,
    "--predicate",
    PRED,
    "--rekor-url",
    rekor.url,
    `${p}/blob`,
  ], { env });
  assertEquals(att.code, 0, att.stderr);
  const verify = (file: string, sig: string, extra: string[], e: Env = env) =>
    cosign([
      "verify-blob",
      "--key",
      k.pub,
      "--signature",
      `${p}/${sig}`,
      "--rekor-url",
      rekor.url,
      ...extra,
      file,
    ], { env: e });
  const root = ["--trusted-root", rekor.trustedRootPath];
  const ok = await verify(`${p}/blob`, "blob.sig", root);
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes("The claims were present in the transparency log"), ok.stderr);
  assert(/tlog entry verified with uuid: [0-9a-f]{64} index: \d+/.test(ok.stderr), ok.stderr);
  assert(ok.stderr.trimEnd().endsWith("Verified OK"), ok.stderr);
  const searches = rekor.requests.filter((r) => r.path === "/api/v1/index/retrieve");
  assertEquals(searches.length, 1);
  assertEquals(JSON.parse(searches[0]!.body), {
    hash: `sha256:${await sha256Hex(await Deno.readFile(`${p}/blob`))}`,
  });
  // From stdin too.
  const stdin = await cosign([
    "verify-blob",
    "--key",
    k.pub,
    "--signature",
    `${p}/blob.sig`,
    "--rekor-url",
    rekor.url,
    ...root,
    "-",
  ], { env, stdin: await Deno.readFile(`${p}/blob`) });
  assertEquals(stdin.code, 0, stdin.stderr);

  // Not in the log: a clear error, exit 1.
  assertEquals((await signBlob(`${p}/quiet`, "quiet.sig", ["--tlog-upload=false"])).code, 0);
  assertRefused(
    await verify(`${p}/quiet`, "quiet.sig", root),
    /Signature not found in the transparency log .*: no entry for sha256:[0-9a-f]{64}$/,
    "not logged",
  );
  // The entries for the blob exist, but none holds this signature (another key's, not logged).
  const k2 = await genKey(p, "k2", env);
  const other = await cosign([
    "sign-blob",
    "--key",
    k2.key,
    "--tlog-upload=false",
    "--output-signature",
    `${p}/k2.sig`,
    `${p}/blob`,
  ], { env });
  assertEquals(other.code, 0, other.stderr);
  assertRefused(
    await cosign([
      "verify-blob",
      "--key",
      k2.pub,
      "--signature",
      `${p}/k2.sig`,
      "--rekor-url",
      rekor.url,
      ...root,
      `${p}/blob`,
    ], { env }),
    /none of the 2 entries for sha256:[0-9a-f]{64} holds this signature/,
    "another signature",
  );
  // The entry is there but signed by another log than the trusted one.
  assertRefused(
    await verify(`${p}/blob`, "blob.sig", ["--trusted-root", stranger.trustedRootPath]),
    /No transparency-log entry for this signature verified: .*(not in the trusted root|untrusted)/i,
    "another log's key",
  );
  // No trust material: an error naming the ways to provide it; the log's own key only on request.
  // (Trust comes from TUF by default: here its mirror cannot be reached, which is named.)
  assertRefused(
    await verify(`${p}/blob`, "blob.sig", [], { ...env, TUF_MIRROR: "http://127.0.0.1:9" }),
    /127\.0\.0\.1:9/,
    "no trust",
  );
  const api = await verify(`${p}/blob`, "blob.sig", [], {
    ...env,
    SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY: "1",
  });
  assertEquals(api.code, 0, api.stderr);
  assert(api.stderr.includes("Fetching public key from Rekor API directly"), api.stderr);
  // --offline cannot search; --insecure-ignore-tlog makes no request at all.
  assertRefused(
    await verify(`${p}/blob`, "blob.sig", [...root, "--offline"]),
    /offline verification failed/,
    "--offline",
  );
  const count = rekor.requests.length;
  const skipped = await verify(`${p}/blob`, "blob.sig", ["--insecure-ignore-tlog"]);
  assertEquals(skipped.code, 0, skipped.stderr);
  assertEquals(rekor.requests.length, count, "no request with --insecure-ignore-tlog");
  // A bad signature is still a bad signature (checked before the log).
  await Deno.writeTextFile(`${p}/blob`, "a changed release\n");
  assertRefused(await verify(`${p}/blob`, "blob.sig", root), /signature/i, "changed blob");
});

Deno.test("rekor: verify-blob's online search with an Ed25519 key checks the entry over the message", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  const g = await sh("openssl", ["genpkey", "-algorithm", "ed25519", "-out", `${p}/ed.pem`]);
  assertEquals(g.code, 0, g.err);
  const imp = await cosign(["import-key-pair", "-k", `${p}/ed.pem`, "-o", `${p}/ed`], { env });
  assertEquals(imp.code, 0, imp.stderr);
  await Deno.writeTextFile(`${p}/blob`, "an ed25519 release\n");
  const s = await cosign([
    "sign-blob",
    "--key",
    `${p}/ed.key`,
    "--rekor-url",
    rekor.url,
    "--output-signature",
    `${p}/sig`,
    `${p}/blob`,
  ], { env });
  assertEquals(s.code, 0, s.stderr);
  const verify = (file: string, stdin?: string) =>
    cosign([
      "verify-blob",
      "--key",
      `${p}/ed.pub`,
      "--signature",
      `${p}/sig`,
      "--rekor-url",
      rekor.url,
      "--trusted-root",
      rekor.trustedRootPath,
      file,
    ], { env, ...(stdin === undefined ? {} : { stdin }) });
  for (const r of [await verify(`${p}/blob`), await verify("-", "an ed25519 release\n")]) {
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes("The claims were present in the transparency log"), r.stderr);
  }
  assertRefused(await verify("-", "another release\n"), /signature/i, "another blob on stdin");
});
