import { createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { assert, assertEquals, sh } from "../../tests/helpers.ts";
import { certificateSpki, isDerEcdsaSignature } from "./der.ts";
import { decodePem } from "./pem.ts";

Deno.test("der: real ECDSA signatures are DER; malformed ones are not", () => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  for (let i = 0; i < 20; i++) {
    const sig = new Uint8Array(sign("sha256", new Uint8Array([i]), privateKey));
    assert(isDerEcdsaSignature(sig), "node signature is DER");
    assert(!isDerEcdsaSignature(sig.subarray(0, sig.length - 1)), "truncated");
    assert(!isDerEcdsaSignature(new Uint8Array([...sig, 0])), "trailing byte");
  }
  assert(!isDerEcdsaSignature(new Uint8Array(64)), "raw r||s zeros");
  assert(!isDerEcdsaSignature(new Uint8Array([0x30, 0x06, 2, 1, 0, 2, 1, 1])), "r = 0");
  assert(!isDerEcdsaSignature(new Uint8Array([0x30, 0x06, 2, 1, 0x80, 2, 1, 1])), "negative r");
  assert(!isDerEcdsaSignature(new Uint8Array([0x30, 0x07, 2, 2, 0, 1, 2, 1, 1])), "non-minimal r");
  assert(isDerEcdsaSignature(new Uint8Array([0x30, 0x06, 2, 1, 1, 2, 1, 1])), "minimal r=1 s=1");
});

Deno.test("der: certificateSpki finds the subject public key of an openssl certificate", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await sh("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      "/CN=t",
      "-days",
      "1",
      "-keyout",
      `${dir}/k.pem`,
      "-out",
      `${dir}/c.pem`,
    ]);
    assertEquals(r.code, 0, r.err);
    const pub = await sh("openssl", ["pkey", "-in", `${dir}/k.pem`, "-pubout", "-outform", "DER"]);
    const cert = decodePem(await Deno.readTextFile(`${dir}/c.pem`), "cert").bytes;
    const spki = certificateSpki(cert);
    assert(spki, "found an SPKI");
    assertEquals([...spki], [...pub.out]);
    createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
    assertEquals(certificateSpki(pub.out), undefined, "an SPKI is not a certificate");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("p1363ToDer: node's P1363 signatures, converted, verify as DER (short r/s included)", async () => {
  const { generateKeyPairSync, sign, verify } = await import("node:crypto");
  const { p1363ToDer } = await import("./der.ts");
  const msg = new TextEncoder().encode("p1363");
  const curves: [string, string][] = [["prime256v1", "sha256"], ["secp384r1", "sha384"]];
  for (const [namedCurve, hash] of curves) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
    for (let i = 0; i < 300; i++) {
      const raw = sign(hash, msg, { key: privateKey, dsaEncoding: "ieee-p1363" });
      const der = p1363ToDer(new Uint8Array(raw))!;
      if (!isDerEcdsaSignature(der) || !verify(hash, msg, publicKey, der)) {
        throw new Error(`${namedCurve}: ${raw.toString("hex")} did not convert`);
      }
    }
  }
  // Halves with leading zero bytes lose them; a high bit gains a 0x00; P-521 needs a long length.
  const raw = new Uint8Array(64);
  raw[2] = 0x80;
  raw[63] = 0x01;
  assertEquals(
    [...p1363ToDer(raw)!],
    [0x30, 0x24, 0x02, 0x1f, 0x00, 0x80, ...new Array(29).fill(0), 0x02, 0x01, 0x01],
  );
  const big = new Uint8Array(132).fill(0x7f);
  const der = p1363ToDer(big)!;
  assertEquals([...der.subarray(0, 3)], [0x30, 0x81, 0x88]);
  assert(isDerEcdsaSignature(der), "long-form P-521 signature is DER");
  if (p1363ToDer(new Uint8Array(3)) !== undefined) throw new Error("odd length accepted");
});
