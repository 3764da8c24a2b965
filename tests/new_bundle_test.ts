/**
 * `sign-blob --new-bundle-format --bundle F` (and `attest-blob` likewise) write a Sigstore
 * bundle v0.3 with the loopback Rekor's entry (npm:@sigstore/mock served on 127.0.0.1);
 * `verify-blob --bundle` checks it offline against the log's trusted root. Files are written
 * all or nothing: a failed upload or a log answer without an inclusion proof leaves none.
 */
import { parseBundle, verifyBundleWithKey } from "../lib/cosign/bundle.ts";
import { loadVerifier } from "../lib/cosign/keyref.ts";
import { parseTrustedRoot } from "../lib/trust/trusted_root.ts";
import { startRekor } from "./harness/rekor.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  cosignOffline,
  FIXTURES,
  KEYS,
  tempDir,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const ENV = { COSIGN_PASSWORD: "pw" };
const GOLDEN = FIXTURES + "conformance/public/managed-key-and-trusted-root/bundle.sigstore.json";

async function keyPair(dir: string): Promise<void> {
  const r = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/k`], {
    env: { ...ENV, HOME: dir },
  });
  assertEquals(r.code, 0, r.stderr);
}

async function sha256Hex(path: string): Promise<string> {
  const data = await Deno.readFile(path);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data)).toHex();
}

/** Every object's keys in order, recursively. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (typeof v === "object" && v !== null) {
    return Object.entries(v).map(([k, x]) => [k, shape(x)]);
  }
  return typeof v;
}

/** The names in `dir`, sorted. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

const verify = (args: string[]) => cosignOffline(["verify-blob", ...args]);

Deno.test("new bundle: sign-blob --new-bundle-format writes a v0.3 bundle that verify-blob checks offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  await keyPair(p);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  const s = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "--rekor-url",
      rekor.url,
      "--new-bundle-format",
      "--bundle",
      `${p}/b.json`,
      `${p}/blob`,
    ],
    { env: ENV },
  );
  assertEquals(s.code, 0, s.stderr);
  assert(/tlog entry created with index: \d+/.test(s.stderr), s.stderr);
  assert(s.stderr.includes(`Wrote bundle to file ${p}/b.json`), s.stderr);
  assertEquals(s.out, "");
  const hex = await sha256Hex(`${p}/blob`);
  const posts = rekor.requests.filter((r) => r.method === "POST");
  assertEquals(posts.length, 1);
  const proposed = JSON.parse(posts[0]!.body);
  assertEquals(proposed.spec.data.hash, { algorithm: "sha256", value: hex });

  const bundle: Any = JSON.parse(await Deno.readTextFile(`${p}/b.json`));
  assertEquals(bundle.mediaType, "application/vnd.dev.sigstore.bundle.v0.3+json");
  // The shape of cosign's key-signed v0.3 bundle, key for key and in order. The loopback log's
  // tree has one leaf: its proof has shard index 0 and no hashes, which protojson leaves out.
  const golden: Any = JSON.parse(await Deno.readTextFile(GOLDEN));
  const gp = golden.verificationMaterial.tlogEntries[0].inclusionProof;
  delete gp.logIndex;
  delete gp.hashes;
  assertEquals(shape(bundle), shape(golden));
  const t = bundle.verificationMaterial.tlogEntries[0];
  assertEquals(t.logIndex, /tlog entry created with index: (\d+)/.exec(s.stderr)![1]);
  assertEquals(Uint8Array.fromBase64(t.logId.keyId).toHex(), rekor.logIdHex);
  assertEquals(t.kindVersion, { kind: "hashedrekord", version: "0.0.1" });
  assertEquals(JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(t.canonicalizedBody))), {
    ...proposed,
  });
  assertEquals(bundle.messageSignature.messageDigest, {
    algorithm: "SHA2_256",
    digest: Uint8Array.fromHex(hex).toBase64(),
  });
  assertEquals(bundle.messageSignature.signature, proposed.spec.signature.content);
  const der = (await Deno.readTextFile(`${p}/k.pub`)).replace(/-----[^-]+-----|\s/g, "");
  const hint = new Uint8Array(
    await crypto.subtle.digest("SHA-256", Uint8Array.fromBase64(der)),
  ).toBase64();
  assertEquals(bundle.verificationMaterial.publicKey, { hint });

  const args = ["--key", `${p}/k.pub`, "--bundle", `${p}/b.json`];
  const root = ["--trusted-root", rekor.trustedRootPath];
  const v = await verify([...args, ...root, `${p}/blob`]);
  assertEquals(v.code, 0, v.stderr);
  assert(v.stderr.includes("Verified OK"), v.stderr);
  assert(v.stderr.includes("transparency log was verified offline"), v.stderr);
  const byDigest = await verify([...args, ...root, `sha256:${hex}`]);
  assertEquals(byDigest.code, 0, byDigest.stderr);
  // Without the trusted root, trust comes from TUF; unreachable here, which is said.
  assertFails(await verify([...args, `${p}/blob`]), 1, /trusted-root/);
});

Deno.test("new bundle: a tampered v0.3 bundle, another blob, key or log fail verify-blob with exit 1", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  await keyPair(p);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  const s = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "--rekor-url",
      rekor.url,
      "--new-bundle-format",
      "--bundle",
      `${p}/b.json`,
      `${p}/blob`,
    ],
    { env: ENV },
  );
  assertEquals(s.code, 0, s.stderr);
  const bundle: Any = JSON.parse(await Deno.readTextFile(`${p}/b.json`));
  const root = ["--trusted-root", rekor.trustedRootPath];
  const check = async (name: string, b: Any, extra: string[] = [], blob = `${p}/blob`) => {
    await Deno.writeTextFile(`${p}/${name}.json`, JSON.stringify(b));
    const r = await verify([
      "--key",
      `${p}/k.pub`,
      "--bundle",
      `${p}/${name}.json`,
      ...root,
      ...extra,
      blob,
    ]);
    assertFails(r, 1);
    assert(!r.stderr.includes("Verified OK"), `${name}: ${r.stderr}`);
  };
  const tamper = (f: (b: Any) => void) => {
    const b = structuredClone(bundle);
    f(b);
    return b;
  };
  const entry = (b: Any) => b.verificationMaterial.tlogEntries[0];
  const flip = (b64: string) => {
    const bytes = Uint8Array.fromBase64(b64);
    bytes[bytes.length - 1]! ^= 1;
    return bytes.toBase64();
  };
  await check(
    "digest",
    tamper((b) =>
      b.messageSignature.messageDigest.digest = flip(b.messageSignature.messageDigest.digest)
    ),
  );
  await check(
    "sig",
    tamper((b) => b.messageSignature.signature = flip(b.messageSignature.signature)),
  );
  await check(
    "time",
    tamper((b) => entry(b).integratedTime = String(Number(entry(b).integratedTime) + 1)),
  );
  await check(
    "set",
    tamper((b) =>
      entry(b).inclusionPromise.signedEntryTimestamp = flip(
        entry(b).inclusionPromise.signedEntryTimestamp,
      )
    ),
  );
  await check(
    "root",
    tamper((b) => entry(b).inclusionProof.rootHash = flip(entry(b).inclusionProof.rootHash)),
  );
  await check("body", tamper((b) => entry(b).canonicalizedBody = flip(entry(b).canonicalizedBody)));
  await check("no-entry", tamper((b) => delete b.verificationMaterial.tlogEntries));
  await Deno.writeTextFile(`${p}/other`, "another release\n");
  await check("other-blob", bundle, [], `${p}/other`);
  await using other = await startRekor();
  const r = await verify([
    "--key",
    `${p}/k.pub`,
    "--bundle",
    `${p}/b.json`,
    "--trusted-root",
    other.trustedRootPath,
    `${p}/blob`,
  ]);
  assertFails(r, 1);
});

Deno.test("new bundle: no file is left when Rekor is down or answers without an inclusion proof", async () => {
  await using d = await tempDir();
  const p = d.path;
  await keyPair(p);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  const before = await names(p);
  const sign = (url: string) =>
    cosign(
      [
        "sign-blob",
        "--key",
        `${p}/k.key`,
        "--rekor-url",
        url,
        "--new-bundle-format",
        "--bundle",
        `${p}/b.json`,
        "--output-signature",
        `${p}/sig`,
        `${p}/blob`,
      ],
      { env: ENV },
    );

  const rekor = await startRekor();
  const url = rekor.url;
  await rekor.stop();
  const down = await sign(url);
  assertFails(down, 1, /transparency log/);
  assertEquals(await names(p), before);

  // A log that answers without an inclusion proof, also when the entry is fetched again. Its
  // entry records the proposal (the client checks that before anything else).
  const requests: string[] = [];
  let leaf = "";
  let answer: unknown;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const proposal = await req.text();
    requests.push(`${req.method} ${new URL(req.url).pathname}`);
    if (req.method === "POST") {
      const body = new TextEncoder().encode(proposal);
      leaf = new Uint8Array(
        await crypto.subtle.digest("SHA-256", new Uint8Array([0, ...body])),
      ).toHex();
      answer = {
        [leaf]: {
          body: body.toBase64(),
          integratedTime: 1700000000,
          logID: "00".repeat(32),
          logIndex: 7,
          verification: { signedEntryTimestamp: "MEUCIQ==" },
        },
      };
    }
    return Response.json(answer, { status: req.method === "POST" ? 201 : 200 });
  });
  try {
    const noProof = await sign(`http://127.0.0.1:${server.addr.port}`);
    assertFails(noProof, 1, /has no inclusion proof even when fetched again/);
    assertEquals(requests, ["POST /api/v1/log/entries", `GET /api/v1/log/entries/${leaf}`]);
  } finally {
    await server.shutdown();
  }
  assertEquals(await names(p), before);
});

Deno.test("new bundle: --new-bundle-format needs --bundle; without tlog upload the bundle has no entry", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  await keyPair(p);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  const noPath = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "--rekor-url",
      rekor.url,
      "--new-bundle-format",
      `${p}/blob`,
    ],
    { env: ENV },
  );
  assertFails(noPath, 2, /--new-bundle-format needs --bundle/);
  assertEquals(rekor.requests.length, 0);

  const s = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "--tlog-upload=false",
      "--new-bundle-format",
      "--bundle",
      `${p}/b.json`,
      `${p}/blob`,
    ],
    { env: ENV },
  );
  assertEquals(s.code, 0, s.stderr);
  const bundle: Any = JSON.parse(await Deno.readTextFile(`${p}/b.json`));
  assertEquals(Object.keys(bundle.verificationMaterial), ["publicKey"]);
  const args = ["--key", `${p}/k.pub`, "--bundle", `${p}/b.json`];
  const ignored = await verify([...args, "--insecure-ignore-tlog", `${p}/blob`]);
  assertEquals(ignored.code, 0, ignored.stderr);
  assertFails(
    await verify([...args, "--trusted-root", rekor.trustedRootPath, `${p}/blob`]),
    1,
    /no transparency log entry/,
  );
});

Deno.test("new bundle: a P-384 key's bundle records SHA-384 in messageDigest and the log entry", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const imp = await cosign(
    ["import-key-pair", "--key", KEYS + "validecp384.pem", "--output-key-prefix", `${p}/k`],
    { env: ENV },
  );
  assertEquals(imp.code, 0, imp.stderr);
  await Deno.writeTextFile(`${p}/blob`, "p384\n");
  const s = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "--rekor-url",
      rekor.url,
      "--new-bundle-format",
      "--bundle",
      `${p}/b.json`,
      `${p}/blob`,
    ],
    { env: ENV },
  );
  assertEquals(s.code, 0, s.stderr);
  const data = await Deno.readFile(`${p}/blob`);
  const hex384 = new Uint8Array(await crypto.subtle.digest("SHA-384", data)).toHex();
  const proposed = JSON.parse(rekor.requests.find((r) => r.method === "POST")!.body);
  assertEquals(proposed.spec.data.hash, { algorithm: "sha384", value: hex384 });
  const bundle: Any = JSON.parse(await Deno.readTextFile(`${p}/b.json`));
  assertEquals(bundle.messageSignature.messageDigest, {
    algorithm: "SHA2_384",
    digest: Uint8Array.fromHex(hex384).toBase64(),
  });
  // verify-blob hashes the file with the bundle's algorithm.
  const v = await cosignOffline([
    "verify-blob",
    "--key",
    `${p}/k.pub`,
    "--bundle",
    `${p}/b.json`,
    "--trusted-root",
    rekor.trustedRootPath,
    `${p}/blob`,
  ]);
  assertEquals(v.code, 0, v.stderr);
  // And the library, from the bytes.
  const r = await verifyBundleWithKey(
    parseBundle(await Deno.readFile(`${p}/b.json`)),
    { bytes: data },
    await loadVerifier(`${p}/k.pub`),
    parseTrustedRoot(await Deno.readTextFile(rekor.trustedRootPath)),
  );
  assertEquals(r.messageDigestMatched, true);
  assertEquals(r.tlogEntries[0]?.inclusionProofVerified, true);
});

// --- attest-blob ---

/** attest-blob ARGS for `blob` with the custom predicate, into `dir`. */
function attestBlob(dir: string, extra: string[]) {
  return cosign(
    [
      "attest-blob",
      "--key",
      `${dir}/k.key`,
      "--predicate",
      `${dir}/predicate.json`,
      ...extra,
      `${dir}/blob`,
    ],
    { env: ENV },
  );
}

const verifyAttestation = (args: string[]) => cosignOffline(["verify-blob-attestation", ...args]);

for (const kind of ["dsse", "intoto"]) {
  Deno.test(`new bundle: attest-blob --new-bundle-format (${kind} entry) writes a v0.3 bundle that verify-blob-attestation checks`, async () => {
    await using d = await tempDir();
    const p = d.path;
    await using rekor = await startRekor();
    await keyPair(p);
    await Deno.writeTextFile(`${p}/blob`, "a release\n");
    await Deno.writeTextFile(`${p}/predicate.json`, '{"foo":"bar"}');
    const s = await attestBlob(p, [
      "--rekor-url",
      rekor.url,
      "--rekor-entry-type",
      kind,
      "--new-bundle-format",
      "--bundle",
      `${p}/att.json`,
    ]);
    assertEquals(s.code, 0, s.stderr);
    assert(s.stderr.includes(`Wrote bundle to file ${p}/att.json`), s.stderr);
    const envelope: Any = JSON.parse(s.out);
    const bundle: Any = JSON.parse(await Deno.readTextFile(`${p}/att.json`));
    assertEquals(Object.keys(bundle), ["mediaType", "verificationMaterial", "dsseEnvelope"]);
    assertEquals(bundle.mediaType, "application/vnd.dev.sigstore.bundle.v0.3+json");
    assertEquals(Object.keys(bundle.verificationMaterial), ["publicKey", "tlogEntries"]);
    const t = bundle.verificationMaterial.tlogEntries[0];
    assertEquals(t.kindVersion, { kind, version: kind === "dsse" ? "0.0.1" : "0.0.2" });
    assertEquals(Object.keys(t), [
      "logIndex",
      "logId",
      "kindVersion",
      "integratedTime",
      "inclusionPromise",
      "inclusionProof",
      "canonicalizedBody",
    ]);
    // protojson leaves out the empty keyid cosign writes.
    assertEquals(bundle.dsseEnvelope, {
      payload: envelope.payload,
      payloadType: "application/vnd.in-toto+json",
      signatures: [{ sig: envelope.signatures[0].sig }],
    });

    const args = ["--key", `${p}/k.pub`, "--bundle", `${p}/att.json`];
    const root = ["--trusted-root", rekor.trustedRootPath];
    const v = await verifyAttestation([...args, ...root, `${p}/blob`]);
    assertEquals(v.code, 0, v.stderr);
    assert(v.stderr.includes("Verified OK"), v.stderr);
    assert(v.stderr.includes("transparency log was verified offline"), v.stderr);
    const hex = await sha256Hex(`${p}/blob`);
    const byDigest = await verifyAttestation([...args, ...root, "--digest", hex]);
    assertEquals(byDigest.code, 0, byDigest.stderr);

    // Another blob, a changed signature or log entry, another log: exit 1.
    await Deno.writeTextFile(`${p}/other`, "another release\n");
    assertFails(await verifyAttestation([...args, ...root, `${p}/other`]), 1);
    const flip = (b64: string) => {
      const bytes = Uint8Array.fromBase64(b64);
      bytes[bytes.length - 1]! ^= 1;
      return bytes.toBase64();
    };
    for (
      const [name, f] of [
        [
          "sig",
          (b: Any) => b.dsseEnvelope.signatures[0].sig = flip(b.dsseEnvelope.signatures[0].sig),
        ],
        ["set", (b: Any) => {
          const e = b.verificationMaterial.tlogEntries[0];
          e.integratedTime = String(Number(e.integratedTime) + 1);
        }],
        ["body", (b: Any) => {
          const e = b.verificationMaterial.tlogEntries[0];
          e.canonicalizedBody = flip(e.canonicalizedBody);
        }],
      ] as const
    ) {
      const b = structuredClone(bundle);
      f(b);
      await Deno.writeTextFile(`${p}/${name}.json`, JSON.stringify(b));
      const r = await verifyAttestation([
        "--key",
        `${p}/k.pub`,
        "--bundle",
        `${p}/${name}.json`,
        ...root,
        `${p}/blob`,
      ]);
      assertFails(r, 1);
    }
    await using other = await startRekor();
    const untrusted = await verifyAttestation([
      ...args,
      "--trusted-root",
      other.trustedRootPath,
      `${p}/blob`,
    ]);
    assertFails(untrusted, 1);
  });
}

Deno.test("new bundle: attest-blob leaves no bundle when Rekor is down; --new-bundle-format needs --bundle", async () => {
  await using d = await tempDir();
  const p = d.path;
  await keyPair(p);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  await Deno.writeTextFile(`${p}/predicate.json`, '{"foo":"bar"}');
  const before = await names(p);
  const rekor = await startRekor();
  const url = rekor.url;
  const noPath = await attestBlob(p, ["--rekor-url", url, "--new-bundle-format"]);
  assertFails(noPath, 2, /--new-bundle-format needs --bundle/);
  assertEquals(rekor.requests.length, 0);
  await rekor.stop();
  const down = await attestBlob(p, [
    "--rekor-url",
    url,
    "--new-bundle-format",
    "--bundle",
    `${p}/att.json`,
    "--output-signature",
    `${p}/env.json`,
  ]);
  assertFails(down, 1, /transparency log/);
  assertEquals(await names(p), before);
});
