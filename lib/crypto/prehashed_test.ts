import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { verifyPrehashed } from "./prehashed.ts";

const MESSAGE = new TextEncoder().encode("some-payload");

function digest(alg: "sha224" | "sha256" | "sha384" | "sha512"): Uint8Array {
  return new Uint8Array(createHash(alg).update(MESSAGE).digest());
}

Deno.test("prehashed: ECDSA P-256/P-384/P-521 and RSA signatures verify over the digest", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const cases = [
    [generateKeyPairSync("ec", { namedCurve: "prime256v1" }), "sha256"],
    [generateKeyPairSync("ec", { namedCurve: "secp384r1" }), "sha384"],
    [generateKeyPairSync("ec", { namedCurve: "secp521r1" }), "sha512"],
    [rsa, "sha256"],
    [rsa, "sha384"],
    [rsa, "sha512"],
  ] as const;
  for (const [{ privateKey, publicKey }, alg] of cases) {
    const sig = new Uint8Array(sign(alg, MESSAGE, privateKey));
    assertEquals(verifyPrehashed(publicKey, alg, digest(alg), sig), true, alg);
    const wrong = digest(alg);
    wrong[0]! ^= 1;
    assertEquals(verifyPrehashed(publicKey, alg, wrong, sig), false, alg);
  }
});

Deno.test("prehashed: Ed25519 cannot be verified from a digest; malformed input is refused", () => {
  const ed = generateKeyPairSync("ed25519").publicKey;
  const codes: string[] = [];
  const p256 = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey;
  for (
    const fn of [
      () => verifyPrehashed(ed, "sha256", digest("sha256"), new Uint8Array(64)),
      () => verifyPrehashed(p256, "sha256", new Uint8Array(31), new Uint8Array(8)),
      () => verifyPrehashed(p256, "sha256", digest("sha256"), new Uint8Array(8)),
    ]
  ) {
    try {
      fn();
      codes.push("none");
    } catch (e) {
      codes.push(e instanceof CosignError ? e.code : String(e));
    }
  }
  assertEquals(codes, ["NOT_IMPLEMENTED", "USAGE", "SIGNATURE_INVALID_ENCODING"]);
});

Deno.test("prehashed: signatures made over a digest verify over the message (node:crypto)", async () => {
  const { signPrehashed } = await import("./prehashed.ts");
  const { verify } = await import("node:crypto");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const cases = [
    [generateKeyPairSync("ec", { namedCurve: "prime256v1" }), "sha256"],
    [generateKeyPairSync("ec", { namedCurve: "secp384r1" }), "sha384"],
    [generateKeyPairSync("ec", { namedCurve: "secp521r1" }), "sha512"],
    [rsa, "sha224"],
    [rsa, "sha256"],
    [rsa, "sha512"],
  ] as const;
  for (const [{ privateKey, publicKey }, alg] of cases) {
    const sig = signPrehashed(privateKey, alg, digest(alg));
    assertEquals(verify(alg, MESSAGE, publicKey, sig), true, alg);
    assertEquals(verify(alg, new Uint8Array([1]), publicKey, sig), false, alg);
  }
  const codes: string[] = [];
  for (
    const fn of [
      () => signPrehashed(generateKeyPairSync("ed25519").privateKey, "sha256", digest("sha256")),
      () => signPrehashed(rsa.privateKey, "sha384", digest("sha256")),
    ]
  ) {
    try {
      fn();
    } catch (e) {
      if (e instanceof CosignError) codes.push(e.code);
    }
  }
  assertEquals(codes, ["NOT_IMPLEMENTED", "USAGE"]);
});
