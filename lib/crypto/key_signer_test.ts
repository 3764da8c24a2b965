import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { p521 } from "./deps_curves.ts";
import { assertEquals } from "../../tests/helpers.ts";
import { type HashName, KeyVerifier } from "./key_signer.ts";

const MESSAGE = new TextEncoder().encode("one pass over the message ".repeat(1000));

/** The message as a stream that can be read once only, in chunks, counting its reads. */
function oneShot(): AsyncIterable<Uint8Array> & { reads: number } {
  const s = {
    reads: 0,
    async *[Symbol.asyncIterator]() {
      if (++s.reads > 1) throw new Error("the message was read twice");
      for (let i = 0; i < MESSAGE.length; i += 4096) yield MESSAGE.subarray(i, i + 4096);
    },
  };
  return s;
}

/** Signs as OpenSSL and Go do; Deno's node:crypto cannot sign P-521 over a short digest. */
function signEc(h: HashName, privateKey: KeyObject): Uint8Array {
  if (
    privateKey.asymmetricKeyDetails?.namedCurve !== "secp521r1" || h === "sha384" || h === "sha512"
  ) {
    return new Uint8Array(sign(h, MESSAGE, privateKey));
  }
  const d = Uint8Array.fromBase64(privateKey.export({ format: "jwk" }).d!, {
    alphabet: "base64url",
  });
  const digest = createHash(h).update(MESSAGE).digest();
  return p521.sign(digest, d, { prehash: false }).toDERRawBytes();
}

function keys(curve: string): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: curve });
}

Deno.test("KeyVerifier: acceptSha256 takes SHA-256 or the key's own hash, reading the stream once", async () => {
  const cases: [string, HashName, HashName][] = [
    ["secp384r1", "sha384", "sha512"],
    ["secp521r1", "sha512", "sha384"],
  ];
  for (const [curve, own, other] of cases) {
    const { privateKey, publicKey } = keys(curve);
    const sig = (h: HashName) => signEc(h, privateKey);
    const both = new KeyVerifier(publicKey, { acceptSha256: true });
    assertEquals(both.hashes, [own, "sha256"]);
    for (const h of [own, "sha256"] as const) {
      const stream = oneShot();
      assertEquals(await both.verify(stream, sig(h)), true, `${curve} ${h}`);
      assertEquals(stream.reads, 1, `${curve} ${h}: one pass`);
    }
    const stream = oneShot();
    assertEquals(await both.verify(stream, sig(other)), false, `${curve} ${other}`);
    assertEquals(stream.reads, 1);
    // Without the option only the key's own hash; with `hash`, only that one.
    const def = new KeyVerifier(publicKey);
    assertEquals(await def.verify(MESSAGE, sig(own)), true);
    assertEquals(await def.verify(MESSAGE, sig("sha256")), false);
    const only256 = new KeyVerifier(publicKey, { hash: "sha256", acceptSha256: true });
    assertEquals(only256.hashes, ["sha256"]);
    assertEquals(await only256.verify(oneShot(), sig("sha256")), true);
    assertEquals(await only256.verify(oneShot(), sig(own)), false);
  }
});

Deno.test("KeyVerifier: P-521 over SHA-256 and SHA-224 verifies (Deno's node:crypto refuses short digests)", async () => {
  const { privateKey, publicKey } = keys("secp521r1");
  for (const h of ["sha224", "sha256"] as const) {
    const v = new KeyVerifier(publicKey, { hash: h });
    const sig = signEc(h, privateKey);
    assertEquals(await v.verify(oneShot(), sig), true, h);
    const tampered = MESSAGE.slice();
    tampered[0]! ^= 1;
    assertEquals(await v.verify(tampered, sig), false, h);
  }
});

Deno.test("KeyVerifier: P-256 and RSA keep the one hash they have", () => {
  assertEquals(new KeyVerifier(keys("prime256v1").publicKey, { acceptSha256: true }).hashes, [
    "sha256",
  ]);
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
  assertEquals(new KeyVerifier(rsa, { acceptSha256: true }).hashes, ["sha256"]);
  assertEquals(new KeyVerifier(generateKeyPairSync("ed25519").publicKey).hashes, null);
});

Deno.test("KeyVerifier.verifyDigest and verifyBlobDigest: the digest's signature only", async () => {
  const { verifyBlobDigest } = await import("../cosign/blob.ts");
  for (const [curve, hash] of [["prime256v1", "sha256"], ["secp384r1", "sha384"]] as const) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
    const verifier = new KeyVerifier(publicKey);
    const sig = new Uint8Array(sign(hash, MESSAGE, privateKey));
    const good = new Map([[hash, new Uint8Array(createHash(hash).update(MESSAGE).digest())]]);
    const other = new Map([[hash, new Uint8Array(createHash(hash).update("other").digest())]]);
    assertEquals(await verifier.verifyDigest(good, sig), true, curve);
    assertEquals(await verifier.verifyDigest(other, sig), false, curve);
    await verifyBlobDigest(verifier, good, sig);
    let code = "";
    try {
      await verifyBlobDigest(verifier, other, sig);
    } catch (e) {
      code = (e as { code?: string }).code ?? "";
    }
    assertEquals(code, "SIGNATURE_MISMATCH", curve);
  }
});
