/**
 * Speed by structure: how many times sign-blob and verify-blob hash a blob. Every place that
 * hashes message bytes reports its pass to the `-d/--verbose` trace (lib/crypto/digest_pass.ts,
 * KeySigner, KeyVerifier, the KMS DigestSigner), so these tests count bytes hashed instead of
 * timing anything:
 * - a large blob (from PREHASH_MIN_BYTES) and a P-256 key: signing with a log upload and a
 *   bundle, and verifying with a log search, hash each byte exactly once;
 * - verifying without the log hashes each byte once at any size (the verifier's own pass);
 * - a small blob whose digest is recorded is read once and goes through two native hashes
 *   (the signer's and the record's), cheaper there than loading @noble/curves.
 */
import { PREHASH_MIN_BYTES } from "../lib/cli/blob.ts";
import { startRekor } from "./harness/rekor.ts";
import { assertEquals, cosign, type RunResult, tempDir } from "./helpers.ts";

const LARGE = PREHASH_MIN_BYTES + 12_345; // many read buffers and a partial one
const SMALL = 3 * (1 << 20) + 7;

/** The hash passes a run traced: [algorithms, bytes, purpose]. */
function hashPasses(r: RunResult): [string, number, string][] {
  return [...r.stderr.matchAll(/hash pass: (\S+(?: message)?) over (\d+) bytes \((\w+)\)/g)].map((
    m,
  ) => [m[1]!, Number(m[2]), m[3]!]);
}

async function setup(size: number) {
  const d = await tempDir();
  const env = { COSIGN_PASSWORD: "pw", HOME: d.path };
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/k`], { env });
  assertEquals(g.code, 0, g.stderr);
  const blob = new Uint8Array(size);
  for (let i = 0; i < size; i += 4093) blob[i] = (i * 31 + 7) & 0xff;
  await Deno.writeFile(`${d.path}/blob`, blob);
  return { d, env };
}

Deno.test("hash once: a large blob, P-256 sign-blob with a log upload and a bundle, verify-blob with and without the log", async () => {
  const { d, env } = await setup(LARGE);
  await using _d = d;
  const p = d.path;
  await using rekor = await startRekor();
  const key = ["--key", `${p}/k.key`, "--rekor-url", rekor.url];
  const out = ["--bundle", `${p}/b.json`, "--output-signature", `${p}/s`];
  const s = await cosign(["sign-blob", "-d", ...key, ...out, `${p}/blob`], { env });
  assertEquals(s.code, 0, s.stderr);
  assertEquals(hashPasses(s), [["sha256", LARGE, "sign"]], s.stderr);

  // Online: the log is searched by the blob's SHA-256, the digest the signature is over.
  const verify = ["verify-blob", "-d", "--key", `${p}/k.pub`, "--signature", `${p}/s`];
  const online = ["--rekor-url", rekor.url, "--trusted-root", rekor.trustedRootPath];
  const v = await cosign([...verify, ...online, `${p}/blob`], { env });
  assertEquals(v.code, 0, v.stderr);
  assertEquals(hashPasses(v), [["sha256", LARGE, "verify"]], v.stderr);

  const i = await cosign([...verify, "--insecure-ignore-tlog", `${p}/blob`], { env });
  assertEquals(i.code, 0, i.stderr);
  assertEquals(hashPasses(i), [["sha256", LARGE, "verify"]], i.stderr);

  // The one pass still decides: a changed last byte fails, with and without the log.
  const f = await Deno.open(`${p}/blob`, { write: true });
  await f.seek(LARGE - 1, Deno.SeekMode.Start);
  await f.write(new Uint8Array([1]));
  f.close();
  const bad = await cosign([...verify, "--insecure-ignore-tlog", `${p}/blob`], { env });
  assertEquals(bad.code, 1, bad.stderr);
  const badOnline = await cosign([...verify, ...online, `${p}/blob`], { env });
  assertEquals(badOnline.code, 1, badOnline.stderr);
});

Deno.test("hash once: a small blob is read once; without the log it is hashed once", async () => {
  const { d, env } = await setup(SMALL);
  await using _d = d;
  const p = d.path;
  // The bundle records the digest: the key's pass and the record's, over the same read.
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
      "--output-signature",
      `${p}/s`,
      "-",
    ],
    { env, stdin: await Deno.readFile(`${p}/blob`) },
  );
  assertEquals(s.code, 0, s.stderr);
  assertEquals(hashPasses(s), [["sha256", SMALL, "sign"], ["sha256", SMALL, "digest"]], s.stderr);
  const v = await cosign(
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
  assertEquals(v.code, 0, v.stderr);
  assertEquals(hashPasses(v), [["sha256", SMALL, "verify"]], v.stderr);
  const b = await cosign(
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
  assertEquals(b.code, 0, b.stderr);
  assertEquals(hashPasses(b), [["sha256", SMALL, "verify"]], b.stderr);
});
