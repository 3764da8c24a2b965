/**
 * Interoperability with OpenSSL, and an independent check of the key-file format
 * (scrypt from `openssl kdf`, secretbox from tweetnacl: not the product's code path).
 */
import nacl from "tweetnacl";
import { assert, assertEquals, cosign, sh, tempDir } from "./helpers.ts";

const PW = { COSIGN_PASSWORD: "s3cret" };
const N_P256 = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

async function openssl(args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const r = await sh("openssl", args, stdin ? { stdin } : {});
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.err}`);
  return r.out;
}

function bigintBytes(x: bigint): Uint8Array {
  let hex = x.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const b = Uint8Array.fromHex(hex);
  return b[0]! & 0x80 ? new Uint8Array([0, ...b]) : b;
}

/** Rewrites a DER ECDSA signature (r, s) as (r, n - s) when s is low: an equally valid high-S one. */
function toHighS(der: Uint8Array): Uint8Array {
  let i = 2;
  const rLen = der[i + 1]!;
  const r = der.subarray(i + 2, i + 2 + rLen);
  i += 2 + rLen;
  const s = BigInt("0x" + der.subarray(i + 2, i + 2 + der[i + 1]!).toHex());
  const high = s > N_P256 / 2n ? s : N_P256 - s;
  const rInt = new Uint8Array([2, r.length, ...r]);
  const sb = bigintBytes(high);
  const body = new Uint8Array([...rInt, 2, sb.length, ...sb]);
  return new Uint8Array([0x30, body.length, ...body]);
}

Deno.test("openssl: a blob signed by openssl verifies with verify-blob, including high-S", async () => {
  await using d = await tempDir();
  const p = d.path;
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${p}/k.pem`]);
  await openssl(["pkey", "-in", `${p}/k.pem`, "-pubout", "-out", `${p}/k.pub`]);
  await Deno.writeFile(`${p}/blob`, crypto.getRandomValues(new Uint8Array(4096)));
  await openssl(["dgst", "-sha256", "-sign", `${p}/k.pem`, "-out", `${p}/sig.der`, `${p}/blob`]);
  const der = await Deno.readFile(`${p}/sig.der`);
  const verify = (sig: string) =>
    cosign([
      "verify-blob",
      "--key",
      `${p}/k.pub`,
      "--signature",
      sig,
      "--insecure-ignore-tlog",
      `${p}/blob`,
    ]);
  // Raw DER file, base64 file, and base64 literal.
  await Deno.writeTextFile(`${p}/sig.b64`, der.toBase64() + "\n");
  for (const sig of [`${p}/sig.der`, `${p}/sig.b64`, der.toBase64()]) {
    const r = await verify(sig);
    assertEquals(r.code, 0, `${sig}: ${r.stderr}`);
  }
  const high = toHighS(der);
  await openssl([
    "dgst",
    "-sha256",
    "-verify",
    `${p}/k.pub`,
    "-signature",
    "/dev/stdin",
    `${p}/blob`,
  ], high);
  const r = await verify(high.toBase64());
  assertEquals(r.code, 0, "high-S verifies: " + r.stderr);
});

Deno.test("openssl: our sign-blob signature verifies with openssl dgst -verify", async () => {
  await using d = await tempDir();
  const p = d.path;
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/c`], { env: PW });
  assertEquals(g.code, 0, g.stderr);
  await Deno.writeFile(`${p}/blob`, new Uint8Array(100_000).map((_, i) => (i * 7919) % 251));
  const s = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/c.key`,
      "--tlog-upload=false",
      "--output-signature",
      `${p}/sig`,
      `${p}/blob`,
    ],
    { env: PW },
  );
  assertEquals(s.code, 0, s.stderr);
  assertEquals(s.out, "", "with --output-signature nothing goes to stdout");
  const sigText = await Deno.readTextFile(`${p}/sig`);
  assert(!sigText.endsWith("\n"), "--output-signature writes base64 without a newline");
  await Deno.writeFile(`${p}/sig.der`, Uint8Array.fromBase64(sigText));
  await openssl([
    "dgst",
    "-sha256",
    "-verify",
    `${p}/c.pub`,
    "-signature",
    `${p}/sig.der`,
    `${p}/blob`,
  ]);
  // --b64=false writes the raw DER signature.
  const raw = await cosign(
    ["sign-blob", "--key", `${p}/c.key`, "--tlog-upload=false", "--b64=false", `${p}/blob`],
    { env: PW },
  );
  assertEquals(raw.code, 0, raw.stderr);
  assertEquals(raw.stdout[0], 0x30, "raw DER on stdout");
  await openssl([
    "dgst",
    "-sha256",
    "-verify",
    `${p}/c.pub`,
    "-signature",
    "/dev/stdin",
    `${p}/blob`,
  ], raw.stdout);
});

for (const form of ["SEC1", "PKCS#8"]) {
  Deno.test(`openssl: an openssl-generated P-256 key (${form}) imports and signs`, async () => {
    await using d = await tempDir();
    const p = d.path;
    await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${p}/sec1.pem`]);
    let key = `${p}/sec1.pem`;
    if (form === "PKCS#8") {
      await openssl(["pkcs8", "-topk8", "-nocrypt", "-in", key, "-out", `${p}/p8.pem`]);
      key = `${p}/p8.pem`;
    }
    const i = await cosign(["import-key-pair", "--key", key, "-o", `${p}/imp`], { env: PW });
    assertEquals(i.code, 0, i.stderr);
    await Deno.writeTextFile(`${p}/blob`, "imported");
    const s = await cosign([
      "sign-blob",
      "--key",
      `${p}/imp.key`,
      "--tlog-upload=false",
      `${p}/blob`,
    ], { env: PW });
    assertEquals(s.code, 0, s.stderr);
    await openssl(["pkey", "-in", key, "-pubout", "-out", `${p}/orig.pub`]);
    await openssl(
      ["dgst", "-sha256", "-verify", `${p}/orig.pub`, "-signature", "/dev/stdin", `${p}/blob`],
      Uint8Array.fromBase64(s.out.trim()),
    );
  });
}

Deno.test("independent: cosign.key opens with openssl scrypt + tweetnacl and matches cosign.pub", async () => {
  await using d = await tempDir();
  const p = d.path;
  const password = "pä$$ wörd\n"; // non-ASCII and a newline: bytes are used verbatim
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/c`], {
    env: { COSIGN_PASSWORD: password },
  });
  assertEquals(g.code, 0, g.stderr);
  const pem = await Deno.readTextFile(`${p}/c.key`);
  assertEquals(pem.split("\n")[0], "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----");
  assert(pem.split("\n").slice(1, -3).every((l) => l.length === 64), "64-column body");
  const body = pem.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
  const env = JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(body)));
  assertEquals(env.kdf.params, { N: 65536, r: 8, p: 1 });
  const salt = Uint8Array.fromBase64(env.kdf.salt);
  const pwHex = new TextEncoder().encode(password).toHex();
  const keyHex = new TextDecoder().decode(
    await openssl([
      "kdf",
      "-keylen",
      "32",
      "-kdfopt",
      `hexpass:${pwHex}`,
      "-kdfopt",
      `hexsalt:${salt.toHex()}`,
      "-kdfopt",
      "n:65536",
      "-kdfopt",
      "r:8",
      "-kdfopt",
      "p:1",
      "-kdfopt",
      "maxmem_bytes:300000000",
      "SCRYPT",
    ]),
  ).trim().replaceAll(":", "").toLowerCase();
  const plain = nacl.secretbox.open(
    Uint8Array.fromBase64(env.ciphertext),
    Uint8Array.fromBase64(env.cipher.nonce),
    Uint8Array.fromHex(keyHex),
  );
  assert(plain, "tweetnacl opens the secretbox with the openssl-derived key");
  assertEquals(plain.length, 138, "PKCS#8 P-256 with public key, as Go writes it");
  const derivedPub = await openssl(["pkey", "-inform", "DER", "-pubout"], plain);
  assertEquals(new TextDecoder().decode(derivedPub), await Deno.readTextFile(`${p}/c.pub`));
  assertEquals((await Deno.stat(`${p}/c.key`)).mode! & 0o777, 0o600);
  assertEquals((await Deno.stat(`${p}/c.pub`)).mode! & 0o777, 0o644);
});
