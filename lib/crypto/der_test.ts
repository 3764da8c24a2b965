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
