import { assert, assertEquals, KEYS } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { decodePem, encodePem } from "./pem.ts";
import { decryptPrivateKey, encryptPrivateKey, SIGSTORE_PRIVATE_KEY_PEM } from "./encrypted_key.ts";

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof CosignError ? e.code : `not a CosignError: ${e}`;
  }
  return undefined;
}

function envelope(pem: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(decodePem(pem, "k").bytes));
}

function rewrap(obj: unknown): string {
  return encodePem(SIGSTORE_PRIVATE_KEY_PEM, new TextEncoder().encode(JSON.stringify(obj)));
}

Deno.test("encrypted key: cosign's fixtures decrypt with 'hello' to 138-byte PKCS#8", async () => {
  for (const f of ["pemcosignkey.key", "pemsigstorekey.key"]) {
    const der = await decryptPrivateKey(await Deno.readTextFile(KEYS + f), "hello", f);
    assertEquals(der.length, 138, f);
    assertEquals(der[0], 0x30, f);
  }
});

Deno.test("encrypted key: wrong password gives KEY_WRONG_PASSWORD", async () => {
  const pem = await Deno.readTextFile(KEYS + "pemsigstorekey.key");
  assertEquals(await code(decryptPrivateKey(pem, "wrong")), "KEY_WRONG_PASSWORD");
  const ci = await Deno.readTextFile(KEYS + "cosign-test.key");
  assertEquals(await code(decryptPrivateKey(ci, "hello")), "KEY_WRONG_PASSWORD");
});

Deno.test("encrypted key: writes cosign's JSON layout with N=65536 and round-trips", async () => {
  const secret = new Uint8Array([9, 8, 7]);
  const pem = await encryptPrivateKey(secret, "");
  assert(pem.startsWith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), "label");
  const env = envelope(pem);
  assertEquals(Object.keys(env), ["kdf", "cipher", "ciphertext"]);
  const kdf = env.kdf as { name: string; params: unknown; salt: string };
  assertEquals(kdf.name, "scrypt");
  assertEquals(kdf.params, { N: 65536, r: 8, p: 1 });
  assertEquals(Uint8Array.fromBase64(kdf.salt).length, 32);
  const cipher = env.cipher as { name: string; nonce: string };
  assertEquals(cipher.name, "nacl/secretbox");
  assertEquals(Uint8Array.fromBase64(cipher.nonce).length, 24);
  assertEquals(Uint8Array.fromBase64(env.ciphertext as string).length, 3 + 16);
  assertEquals([...await decryptPrivateKey(pem, "")], [...secret], "empty password round trip");
  assertEquals(await code(decryptPrivateKey(pem, "x")), "KEY_WRONG_PASSWORD");
});

Deno.test("encrypted key: refuses other scrypt parameters, KDFs, ciphers and labels", async () => {
  const pem = await encryptPrivateKey(new Uint8Array([1]), "pw", { scryptN: 32768 });
  const base = envelope(pem);
  const kdf = base.kdf as Record<string, unknown>;
  const variants: [string, unknown][] = [
    ["KEY_UNSUPPORTED_KDF", { ...base, kdf: { ...kdf, params: { N: 16384, r: 8, p: 1 } } }],
    ["KEY_UNSUPPORTED_KDF", { ...base, kdf: { ...kdf, params: { N: 32768, r: 16, p: 1 } } }],
    ["KEY_UNSUPPORTED_KDF", { ...base, kdf: { ...kdf, params: { N: 1 << 30, r: 8, p: 1 } } }],
    ["KEY_UNSUPPORTED_KDF", { ...base, kdf: { ...kdf, name: "pbkdf2" } }],
    ["KEY_ENCRYPTED_INVALID", { ...base, cipher: { name: "aes-gcm", nonce: "AAAA" } }],
    ["KEY_ENCRYPTED_INVALID", { ...base, ciphertext: "not base64!" }],
  ];
  for (const [want, obj] of variants) {
    assertEquals(await code(decryptPrivateKey(rewrap(obj), "pw")), want, JSON.stringify(obj));
  }
  const other = pem.replaceAll("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED FOO PRIVATE KEY");
  assertEquals(await code(decryptPrivateKey(other, "pw")), "PEM_UNSUPPORTED_TYPE");
  const notJson = encodePem(SIGSTORE_PRIVATE_KEY_PEM, new TextEncoder().encode("{"));
  assertEquals(await code(decryptPrivateKey(notJson, "pw")), "KEY_ENCRYPTED_INVALID");
  assertEquals(
    await code(encryptPrivateKey(new Uint8Array([1]), "pw", { scryptN: 1024 })),
    "KEY_UNSUPPORTED_KDF",
  );
});

Deno.test("encrypted key: JSON member names match case-insensitively, as Go's decoder does", async () => {
  const pem = await encryptPrivateKey(new Uint8Array([5]), "pw", { scryptN: 32768 });
  const text = JSON.stringify(envelope(pem)).replace('"kdf"', '"KDF"').replace(
    '"nonce"',
    '"Nonce"',
  );
  const back = await decryptPrivateKey(rewrap(JSON.parse(text)), "pw");
  assertEquals([...back], [5]);
});
