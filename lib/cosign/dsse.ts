/**
 * DSSE envelopes (cosign-spec §4.1): the signature is over PAE(payloadType, payload), the
 * envelope is written as cosign writes it (one signature, `keyid` present and empty), and
 * reading follows Go's rules (member names case-insensitive; standard base64, falling back to
 * URL-safe base64).
 * @module
 */

import { CosignError } from "../errors.ts";
import { concatBytes, fromBase64, toBase64, utf8 } from "../crypto/encoding.ts";
import type { Signer, Verifier } from "../crypto/signer.ts";
import { goJsonString } from "./payload.ts";
import { getMember } from "./verify_signatures.ts";

/** The in-toto payload type. */
export const INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

/** A parsed envelope: its fields, and the decoded payload. */
export interface Envelope {
  /** The payload type (`""` when absent). */
  payloadType: string;
  /** The decoded payload bytes. */
  payload: Uint8Array;
  /** The signatures: key id (`""` when absent) and decoded signature bytes. */
  signatures: { keyid: string; sig: Uint8Array }[];
}

/**
 * The Pre-Authentication Encoding: `DSSEv1 <len> <type> <len> <payload>`.
 * @example
 * ```ts
 * import { pae } from "@cosign-deno/cosign";
 * new TextDecoder().decode(pae("text/plain", new TextEncoder().encode("hi")));
 * // "DSSEv1 10 text/plain 2 hi"
 * ```
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8(payloadType);
  return concatBytes(utf8(`DSSEv1 ${type.length} `), type, utf8(` ${payload.length} `), payload);
}

/**
 * Signs `payload` into an envelope; returns the envelope JSON bytes exactly as they are stored.
 * @example
 * ```ts
 * import { buildStatement, loadSigner, signEnvelope } from "@cosign-deno/cosign";
 * const blob = await Deno.readFile("app.tar.gz");
 * const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", blob)).toHex();
 * const { bytes } = buildStatement("slsaprovenance1", await Deno.readFile("provenance.json"), {
 *   name: "app.tar.gz",
 *   sha256,
 * });
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * await Deno.writeFile("app.tar.gz.intoto.jsonl", await signEnvelope(signer, bytes));
 * ```
 */
export async function signEnvelope(
  signer: Signer,
  payload: Uint8Array,
  payloadType = INTOTO_PAYLOAD_TYPE,
): Promise<Uint8Array> {
  const sig = await signer.sign(pae(payloadType, payload));
  return utf8(
    `{"payloadType":${goJsonString(payloadType)},"payload":"${toBase64(payload)}",` +
      `"signatures":[{"keyid":"","sig":"${toBase64(sig)}"}]}`,
  );
}

function decodeB64(text: string): Uint8Array | undefined {
  return fromBase64(text) ?? fromBase64(text.replace(/-/g, "+").replace(/_/g, "/"));
}

function invalid(msg: string): CosignError {
  return new CosignError("DSSE_INVALID", msg);
}

/**
 * Parses envelope JSON bytes.
 * @throws {CosignError} `DSSE_INVALID`: `unmarshaling payload data`, `could not find payload`,
 *   `payload field is not a string`, `decoding payload: illegal base64`
 * @example
 * ```ts
 * import { loadVerifier, parseEnvelope, verifyEnvelope } from "@cosign-deno/cosign";
 * const envelope = parseEnvelope(await Deno.readFile("attestation.dsse.json"));
 * await verifyEnvelope(envelope, await loadVerifier("cosign.pub"));
 * console.log(envelope.payloadType, envelope.signatures.length);
 * ```
 */
export function parseEnvelope(bytes: Uint8Array): Envelope {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw invalid("unmarshaling payload data: the envelope is not JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid("unmarshaling payload data: the envelope is not a JSON object");
  }
  const payloadType = getMember(json, "payloadType");
  if (payloadType !== undefined && typeof payloadType !== "string") {
    throw invalid("unmarshaling payload data: payloadType is not a string");
  }
  const p = getMember(json, "payload");
  if (p === undefined) throw invalid("could not find payload");
  if (typeof p !== "string") throw invalid("payload field is not a string");
  const payload = decodeB64(p);
  if (!payload) throw invalid("decoding payload: illegal base64");
  const sigs = getMember(json, "signatures");
  const signatures: Envelope["signatures"] = [];
  for (const s of Array.isArray(sigs) ? sigs : []) {
    const sig = getMember(s, "sig");
    const keyid = getMember(s, "keyid");
    const bytes = typeof sig === "string" ? decodeB64(sig) : undefined;
    if (!bytes) throw invalid("decoding signature: illegal base64");
    signatures.push({ keyid: typeof keyid === "string" ? keyid : "", sig: bytes });
  }
  return { payloadType: payloadType ?? "", payload, signatures };
}

/**
 * Verifies an envelope's signature with a key: the payload type must be in-toto and at least one
 * signature must verify over PAE (threshold 1). It checks the signature only: nothing ties the
 * envelope to an artifact, so image A's attestation passes while "checking" image B. To verify
 * what an attestation says about an image or file, use `verifyImageAttestations` or
 * `verifyBundle` (subjects, log entry, timestamps, and exactly one signature in a bundle).
 * @throws {CosignError} `DSSE_INVALID` with the reason
 * @example
 * ```ts
 * import { hasSubjectDigest, loadVerifier, parseEnvelope, parseStatement, verifyEnvelope } from "@cosign-deno/cosign";
 * const envelope = parseEnvelope(await Deno.readFile("app.tar.gz.intoto.jsonl"));
 * await verifyEnvelope(envelope, await loadVerifier("cosign.pub"));
 * // the signature verified; now tie the statement to the artifact
 * const blob = await Deno.readFile("app.tar.gz");
 * const hex = new Uint8Array(await crypto.subtle.digest("SHA-256", blob)).toHex();
 * if (!hasSubjectDigest(parseStatement(envelope.payload), "sha256", hex)) throw new Error("other");
 * ```
 */
export async function verifyEnvelope(env: Envelope, verifier: Verifier): Promise<void> {
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
    throw invalid(
      `invalid payloadType ${
        JSON.stringify(env.payloadType)
      } on envelope. Expected ${INTOTO_PAYLOAD_TYPE}`,
    );
  }
  if (env.signatures.length === 0) throw invalid("The envelope has no signatures");
  const message = pae(env.payloadType, env.payload);
  for (const s of env.signatures) {
    try {
      if (await verifier.verify(message, s.sig)) return;
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
    }
  }
  throw invalid("The envelope's signature does not match the key");
}
