/**
 * DSSE envelopes verified as attestations must carry the in-toto payload type: an envelope of
 * another type, correctly signed over its own PAE, is refused (its payload is not a statement
 * the signer meant as an attestation).
 */
import { generateKeyPairSync } from "node:crypto";
import { assert, assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { utf8 } from "../crypto/encoding.ts";
import { KeySigner, KeyVerifier } from "../crypto/key_signer.ts";
import { INTOTO_PAYLOAD_TYPE, parseEnvelope, signEnvelope, verifyEnvelope } from "./dsse.ts";

const PAYLOAD = utf8(JSON.stringify({ _type: "https://in-toto.io/Statement/v1", subject: [] }));

function keys() {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { signer: new KeySigner(privateKey), verifier: new KeyVerifier(publicKey) };
}

Deno.test("dsse rules: an in-toto envelope signed by the key verifies", async () => {
  const { signer, verifier } = keys();
  const env = parseEnvelope(await signEnvelope(signer, PAYLOAD));
  assertEquals(env.payloadType, INTOTO_PAYLOAD_TYPE);
  await verifyEnvelope(env, verifier);
});

Deno.test("dsse rules: an envelope of another payload type is refused though its signature verifies", async () => {
  const { signer, verifier } = keys();
  const env = parseEnvelope(await signEnvelope(signer, PAYLOAD, "application/vnd.other+json"));
  let error: unknown;
  try {
    await verifyEnvelope(env, verifier);
  } catch (e) {
    error = e;
  }
  assert(error instanceof CosignError, `expected a refusal, got ${error}`);
  assertEquals(error.code, "DSSE_INVALID", error.message);
  assert(/invalid payloadType/.test(error.message), error.message);
});
