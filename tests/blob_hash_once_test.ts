/**
 * Speed by structure: sign-blob and verify-blob read a blob through one hash pass. Every place
 * that hashes message bytes reports its pass to the `-d/--verbose` trace (lib/crypto/
 * digest_pass.ts, KeySigner, KeyVerifier, the KMS DigestSigner), so these tests count bytes
 * hashed instead of timing anything: with a P-256 key, signing (with a log upload and a
 * bundle) and verifying (with a log search, or with --insecure-ignore-tlog) hash each byte of
 * the blob exactly once.
 */
import { startRekor } from "./harness/rekor.ts";
import { assertEquals, cosign, type RunResult, tempDir } from "./helpers.ts";

const SIZE = 3 * (1 << 20) + 12_345; // several read buffers and a partial one

/** The hash passes a run traced: [algorithms, bytes, purpose]. */
function hashPasses(r: RunResult): [string, number, string][] {
  return [...r.stderr.matchAll(/hash pass: (\S+(?: message)?) over (\d+) bytes \((\w+)\)/g)].map((
    m,
  ) => [m[1]!, Number(m[2]), m[3]!]);
}

async function setup() {
  const d = await tempDir();
  const env = { COSIGN_PASSWORD: "pw", HOME: d.path };
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/k`], { env });
  assertEquals(g.code, 0, g.stderr);
  const blob = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) blob[i] = (i * 31 + 7) & 0xff;
  await Deno.writeFile(`${d.path}/blob`, blob);
  return { d, env };
}

Deno.test("hash once: P-256 sign-blob with a log upload and a bundle, then verify-blob", async () => {
  const { d, env } = await setup();
  await using _d = d;
  const p = d.path;
  await using rekor = await startRekor();
  const key = ["--key", `${p}/k.key`, "--rekor-url", rekor.url];
  const s = await cosign(
    [
      "sign-blob",
      "-d",
      ...key,
      "--bundle",
      `${p}/b.json`,
      "--output-signature",
      `${p}/s`,
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(s.code, 0, s.stderr);
  assertEquals(hashPasses(s), [["sha256", SIZE, "sign"]], s.stderr);

  // Online: the log is searched by the blob's SHA-256, the same digest the signature is over.
  const v = await cosign(
    [
      "verify-blob",
      "-d",
      "--key",
      `${p}/k.pub`,
      "--signature",
      `${p}/s`,
      "--rekor-url",
      rekor.url,
      "--trusted-root",
      rekor.trustedRootPath,
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(v.code, 0, v.stderr);
  assertEquals(hashPasses(v), [["sha256", SIZE, "verify"]], v.stderr);

  const i = await cosign(
    [
      "verify-blob",
      "-d",
      "--key",
      `${p}/k.pub`,
      "--signature",
      `${p}/s`,
      "--insecure-ignore-tlog",
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(i.code, 0, i.stderr);
  assertEquals(hashPasses(i), [["sha256", SIZE, "verify"]], i.stderr);

  // The one pass still decides: a changed byte fails.
  const f = await Deno.open(`${p}/blob`, { write: true });
  await f.seek(SIZE - 1, Deno.SeekMode.Start);
  await f.write(new Uint8Array([0]));
  f.close();
  const bad = await cosign(
    [
      "verify-blob",
      "--key",
      `${p}/k.pub`,
      "--signature",
      `${p}/s`,
      "--insecure-ignore-tlog",
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(bad.code, 1, bad.stderr);
});

Deno.test("hash once: sign-blob from stdin without a log, and the Sigstore bundle", async () => {
  const { d, env } = await setup();
  await using _d = d;
  const p = d.path;
  const s = await cosign(
    [
      "sign-blob",
      "-d",
      "--key",
      `${p}/k.key`,
      "--tlog-upload=false",
      "--new-bundle-format",
      "--bundle",
      `${p}/b.json`,
      "-",
    ],
    { env, stdin: await Deno.readFile(`${p}/blob`) },
  );
  assertEquals(s.code, 0, s.stderr);
  assertEquals(hashPasses(s), [["sha256", SIZE, "sign"]], s.stderr);
  const v = await cosign(
    [
      "verify-blob",
      "-d",
      "--key",
      `${p}/k.pub`,
      "--bundle",
      `${p}/b.json`,
      "--insecure-ignore-tlog",
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(v.code, 0, v.stderr);
  assertEquals(hashPasses(v).length, 1, v.stderr);
});
