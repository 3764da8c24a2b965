/**
 * Bundles that try to say two things: a second envelope or signature beside the signed one, a
 * field given twice or in another case, a timestamp over one signature dating another. Each is
 * refused; the honest bundle beside it verifies.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { assert, assertEquals } from "../../tests/helpers.ts";
import { createKeylessTrust } from "../../tests/harness/fulcio.ts";
import { CosignError } from "../errors.ts";
import { utf8 } from "../crypto/encoding.ts";
import { KeySigner } from "../crypto/key_signer.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { INTOTO_PAYLOAD_TYPE, pae } from "./dsse.ts";
import { parseBundle, verifyBundle } from "./bundle.ts";
import { verifySignatureLayers } from "./verify_signatures.ts";
import { simpleSigningPayload } from "./payload.ts";
import type { AttachmentLayer } from "./attachments.ts";

const ID = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER = "https://token.actions.githubusercontent.com";
const V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";

function statement(sha256Hex: string): Uint8Array {
  return utf8(JSON.stringify({
    _type: "https://in-toto.io/Statement/v1",
    predicateType: "https://cosign.sigstore.dev/attestation/v1",
    subject: [{ name: "x", digest: { sha256: sha256Hex } }],
    predicate: {},
  }));
}

function codeOf(e: unknown): string {
  if (!(e instanceof CosignError)) throw e;
  assert(!e.message.includes("\n"), `one line: ${e.message}`);
  return e.code;
}

Deno.test("bundle forgery: a timestamp over one signature of a two-signature envelope does not date the other", async () => {
  const trust = await createKeylessTrust();
  const root = parseTrustedRoot(JSON.stringify(trust.trustedRoot()));
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const cert = await trust.issue(keys.publicKey, { san: ID, issuer: ISSUER });
  const benign = statement("11".repeat(32));
  const evil = statement("22".repeat(32));
  // S0: over a benign statement, timestamped. S1: over the malicious statement of the envelope.
  const s0 = new Uint8Array(sign("sha256", pae(INTOTO_PAYLOAD_TYPE, benign), keys.privateKey));
  const s1 = new Uint8Array(sign("sha256", pae(INTOTO_PAYLOAD_TYPE, evil), keys.privateKey));
  const bundle = (sigs: Uint8Array[], timestamped: Uint8Array) =>
    trust.timestamp(timestamped).then((ts) => ({
      mediaType: V03,
      verificationMaterial: {
        certificate: { rawBytes: cert.toBase64() },
        tlogEntries: [],
        timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: ts.toBase64() }] },
      },
      dsseEnvelope: {
        payload: evil.toBase64(),
        payloadType: INTOTO_PAYLOAD_TYPE,
        signatures: sigs.map((s) => ({ sig: s.toBase64(), keyid: "" })),
      },
    }));
  const verify = async (json: unknown) =>
    await verifyBundle(
      parseBundle(json),
      { digest: { alg: "sha256", hex: "22".repeat(32) } },
      root,
      { certificate: { identity: { identity: ID, issuer: ISSUER } } },
      { ignoreTlog: true },
    );
  // Honest: one signature, the timestamp over it.
  const ok = await verify(await bundle([s1], s1));
  assertEquals(ok.timestamps.length, 1);
  assertEquals(ok.claimsVerified, true);
  // The attack: S0 timestamped, S1 verifies. And garbage beside a valid signature.
  for (const [sigs, ts] of [[[s0, s1], s0], [[s1, s0], s1], [[utf8("garbage"), s1], s1]] as const) {
    const code = await verify(await bundle([...sigs], ts)).then(() => "verified", codeOf);
    assertEquals(code, "DSSE_INVALID", "two signatures are refused");
  }
});

Deno.test("bundle forgery: unknown, duplicated and case-variant fields are refused at every level", () => {
  const base = {
    mediaType: V03,
    verificationMaterial: {
      publicKey: { hint: "abc" },
      tlogEntries: [],
    },
    messageSignature: {
      messageDigest: { algorithm: "SHA2_256", digest: new Uint8Array(32).toBase64() },
      signature: utf8("sig").toBase64(),
    },
  };
  assertEquals(parseBundle(base).content.type, "messageSignature");
  const variants: [string, unknown, RegExp][] = [
    [
      "legacy beside Sigstore",
      { ...base, base64Signature: "AAAA" },
      /unknown field "base64Signature"/,
    ],
    ["case variant", { ...base, MessageSignature: base.messageSignature }, /unknown field/],
    ["both names", { ...base, message_signature: base.messageSignature }, /given twice/],
    [
      "nested unknown",
      { ...base, messageSignature: { ...base.messageSignature, Signature: "AAAA" } },
      /messageSignature\.has an unknown field "Signature"|unknown field "Signature"/,
    ],
    [
      "material unknown",
      { ...base, verificationMaterial: { ...base.verificationMaterial, certificates: [] } },
      /unknown field "certificates"/,
    ],
    ["legacy unknown", { base64Signature: "AAAA", Cert: "x" }, /unknown field "Cert"/],
  ];
  for (const [what, json, pattern] of variants) {
    let message = "";
    try {
      parseBundle(json);
    } catch (e) {
      assertEquals(codeOf(e), "BUNDLE_INVALID", what);
      message = (e as Error).message;
    }
    assert(pattern.test(message), `${what}: ${message}`);
  }
  // The caller's expectation decides a legacy bundle's content; a contradicting entry is refused.
  const sig = { base64Signature: utf8("{not an envelope}").toBase64() };
  assertEquals(parseBundle(sig).content.type, "messageSignature");
  let refused = "";
  try {
    parseBundle(base, { content: "dsseEnvelope" });
  } catch (e) {
    refused = codeOf(e);
  }
  assertEquals(refused, "BUNDLE_INVALID");
});

Deno.test("bundle forgery: a signed payload naming the image under two spellings is refused", async () => {
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const signer = new KeySigner(keys.privateKey);
  const digest = "sha256:" + "ab".repeat(32);
  const other = "sha256:" + "cd".repeat(32);
  const honest = simpleSigningPayload("r/x", digest);
  const twoClaims = utf8(
    `{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},` +
      `"Critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"${other}"},"type":"cosign container image signature"},"optional":null}`,
  );
  const layer = async (payload: Uint8Array, n: number): Promise<AttachmentLayer> => ({
    descriptor: {
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      digest: `sha256:${String(n).repeat(64)}`,
      size: payload.length,
    },
    payload,
    annotations: {
      "dev.cosignproject.cosign/signature": (await signer.sign(payload)).toBase64(),
    },
  } as AttachmentLayer);
  const r = await verifySignatureLayers(
    [await layer(honest, 1), await layer(twoClaims, 2)],
    signer.verifier(),
    { digest },
  );
  assertEquals(r.verified.length, 1, "the honest payload verifies");
  assertEquals(r.skipped.length, 1);
  assert(/two spellings/.test(r.skipped[0]!.reason), r.skipped[0]!.reason);
});
