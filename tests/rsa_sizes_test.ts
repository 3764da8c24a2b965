/**
 * Issue 21.4, RSA verification key sizes, with keys and signatures made by openssl:
 * - under 1024 bits is refused with a clear error (Go ≥ 1.24 refuses them);
 * - 1024 bits is accepted with a one-line warning from the CLI (the library only reports it);
 * - keys the runtime cannot load (over 4096 bits: the 5120-bit fixture, a fresh 8192-bit key, as
 *   PKIX and PKCS#1) verify, and a tampered signature or message does not;
 * - up to 16384 bits loads; larger is refused; a malformed large key stays a parse error.
 */
import { CosignError } from "../lib/errors.ts";
import { parsePublicKeyPem, publicKeyPem, spkiDer } from "../lib/crypto/keys.ts";
import { KeyVerifier } from "../lib/crypto/key_signer.ts";
import { verifyPrehashed } from "../lib/crypto/prehashed.ts";
import { loadVerifier } from "../lib/cosign/keyref.ts";
import { encodePem } from "../lib/crypto/pem.ts";
import { assert, assertEquals, assertFails, cosign, KEYS, sh, tempDir } from "./helpers.ts";

async function openssl(args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const r = await sh("openssl", args, stdin ? { stdin } : {});
  assertEquals(r.code, 0, `openssl ${args.join(" ")}: ${r.err}`);
  return r.out;
}

/** A key pair in `dir`: `<name>.key` (private, as given or generated) and `<name>.pub` (PKIX). */
async function keyPair(dir: string, name: string, bits: number | string): Promise<string> {
  const key = `${dir}/${name}.key`;
  if (typeof bits === "string") await Deno.copyFile(bits, key);
  else {
    // Multi-prime keys generate in a fraction of the time; the public key is an ordinary one.
    const primes = bits >= 8192 ? ["-pkeyopt", "rsa_keygen_primes:5"] : [];
    await openssl([
      "genpkey",
      "-algorithm",
      "RSA",
      "-pkeyopt",
      `rsa_keygen_bits:${bits}`,
      ...primes,
      "-out",
      key,
    ]);
  }
  await openssl(["pkey", "-in", key, "-pubout", "-out", `${dir}/${name}.pub`]);
  return `${dir}/${name}`;
}

/** Signs `blob` with openssl (PKCS#1 v1.5, SHA-256); writes the base64 signature beside it. */
async function opensslSign(key: string, blob: string): Promise<string> {
  const sig = await openssl(["dgst", "-sha256", "-sign", `${key}.key`, blob]);
  await Deno.writeTextFile(`${key}.sig`, sig.toBase64());
  return `${key}.sig`;
}

function verifyBlob(pub: string, sig: string, blob: string) {
  return cosign([
    "verify-blob",
    "--key",
    pub,
    "--signature",
    sig,
    "--insecure-ignore-tlog",
    blob,
  ]);
}

Deno.test("rsa sizes: 512 refused, 1024 warned, 5120 and 8192 verify openssl signatures", async () => {
  await using d = await tempDir();
  const p = d.path;
  const blob = `${p}/blob.txt`;
  await Deno.writeTextFile(blob, "artifact\n");
  const [k512, k1024, k5120, k8192] = await Promise.all([
    keyPair(p, "rsa512", 512),
    keyPair(p, "rsa1024", KEYS + "invalidrsasmallkey.pem"),
    keyPair(p, "rsa5120", KEYS + "invalidrsalargekey.pem"),
    keyPair(p, "rsa8192", 8192),
  ]);

  const small = await verifyBlob(`${k512}.pub`, await opensslSign(k512, blob), blob);
  assertFails(small, 1, /RSA key size 512 is insecure \(at least 1024 bits/);

  const weak = await verifyBlob(`${k1024}.pub`, await opensslSign(k1024, blob), blob);
  assertEquals(weak.code, 0, weak.stderr);
  const warnings = weak.stderr.split("\n").filter((l) => l.includes("1024-bit RSA key"));
  assertEquals(warnings.length, 1, weak.stderr);
  assert(warnings[0]!.startsWith("WARNING: "), weak.stderr);
  assert(weak.stderr.includes("Verified OK"), weak.stderr);

  for (const key of [k5120, k8192]) {
    const sig = await opensslSign(key, blob);
    const ok = await verifyBlob(`${key}.pub`, sig, blob);
    assertEquals(ok.code, 0, `${key}: ${ok.stderr}`);
    assert(ok.stderr.includes("Verified OK"), ok.stderr);
    assert(!ok.stderr.includes("-bit RSA key"), ok.stderr);
    // The same key as PKCS#1 `RSA PUBLIC KEY`.
    await openssl([
      "rsa",
      "-pubin",
      "-in",
      `${key}.pub`,
      "-RSAPublicKey_out",
      "-out",
      `${key}.pkcs1`,
    ]);
    const pkcs1 = await verifyBlob(`${key}.pkcs1`, sig, blob);
    assertEquals(pkcs1.code, 0, `${key} PKCS#1: ${pkcs1.stderr}`);
    // A flipped signature bit, or another message, fails.
    const bytes = Uint8Array.fromBase64(await Deno.readTextFile(sig));
    bytes[bytes.length - 1]! ^= 1;
    await Deno.writeTextFile(`${key}.bad`, bytes.toBase64());
    const bad = await verifyBlob(`${key}.pub`, `${key}.bad`, blob);
    assert(bad.code !== 0 && !bad.stderr.includes("Verified OK"), bad.stderr);
    assert(!/\n\s+at /.test(bad.stderr), bad.stderr);
  }

  // The library: the key loads, round-trips as PKIX PEM, verifies streamed and prehashed.
  const pem = await Deno.readTextFile(`${k8192}.pub`);
  const key = parsePublicKeyPem(pem, "rsa8192.pub");
  assertEquals(key.asymmetricKeyDetails?.modulusLength, 8192);
  assertEquals(publicKeyPem(key), pem);
  const sig = Uint8Array.fromBase64(await Deno.readTextFile(`${k8192}.sig`));
  const data = await Deno.readFile(blob);
  assert(await new KeyVerifier(key).verify(data, sig), "streamed verify");
  assert(!(await new KeyVerifier(key).verify(new Uint8Array([1]), sig)), "another message");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  assert(verifyPrehashed(key, "sha256", digest, sig), "prehashed verify");
  assert(!verifyPrehashed(key, "sha384", new Uint8Array(48), sig), "another digest");
  const seen: string[] = [];
  await loadVerifier(`${k1024}.pub`, { onWarning: (m) => void seen.push(m) });
  await loadVerifier(`${k8192}.pub`, { onWarning: (m) => void seen.push(m) });
  assertEquals(seen.length, 1, seen.join("; "));
});

/** DER of an RSA SubjectPublicKeyInfo with an odd `bits`-bit modulus (not a real key). */
function syntheticSpki(bits: number, exponent = 65537): Uint8Array {
  const len = (n: number) =>
    n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [];
  const el = (tag: number, content: number[]) => [tag, ...len(content.length), ...content];
  const modulus = new Array(bits / 8).fill(0x5a);
  modulus[0] = 0xc3;
  modulus[modulus.length - 1] = 0x01;
  const e: number[] = [];
  for (let v = exponent; v > 0; v = Math.floor(v / 256)) e.unshift(v % 256);
  if (e[0]! & 0x80) e.unshift(0);
  const pkcs1 = el(0x30, [...el(0x02, [0, ...modulus]), ...el(0x02, e)]);
  const alg = [...Uint8Array.fromHex("300d06092a864886f70d0101010500")];
  return new Uint8Array(el(0x30, [...alg, ...el(0x03, [0, ...pkcs1])]));
}

function rejects(f: () => unknown, code: string, re: RegExp): void {
  try {
    f();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    assertEquals(e.code, code, e.message);
    assert(re.test(e.message), e.message);
    return;
  }
  throw new Error(`expected ${code}`);
}

Deno.test("rsa sizes: up to 16384 bits loads, larger is refused, malformed stays malformed", () => {
  const max = encodePem("PUBLIC KEY", syntheticSpki(16384));
  const key = parsePublicKeyPem(max, "big.pub");
  assertEquals(key.asymmetricKeyDetails?.modulusLength, 16384);
  assertEquals(spkiDer(key), syntheticSpki(16384));
  rejects(
    () => parsePublicKeyPem(encodePem("PUBLIC KEY", syntheticSpki(16392)), "huge.pub"),
    "KEY_UNSUPPORTED",
    /RSA key size 16392 is too large \(at most 16384 bits\)/,
  );
  // An even exponent (or 1) is not an RSA key Go would load.
  for (const e of [65536, 1]) {
    rejects(
      () => parsePublicKeyPem(encodePem("PUBLIC KEY", syntheticSpki(8192, e)), "even.pub"),
      "KEY_PARSE",
      /malformed PUBLIC KEY/,
    );
  }
  const truncated = syntheticSpki(8192).subarray(0, 600);
  rejects(
    () => parsePublicKeyPem(encodePem("PUBLIC KEY", truncated), "cut.pub"),
    "KEY_PARSE",
    /malformed PUBLIC KEY/,
  );
});
