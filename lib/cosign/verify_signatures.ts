/**
 * Verification of image signatures, free of I/O (cosign-spec §2.2): given the layers of a
 * `.sig` image, a verifier and the image digest, it returns the signatures that verify and,
 * for every other layer, the reason it was rejected. Each distinct signature is checked once.
 * @module
 */

import { CosignError, EXIT_NO_MATCHING } from "../errors.ts";
import { fromBase64 } from "../crypto/encoding.ts";
import type { Verifier } from "../crypto/signer.ts";
import { type AttachmentLayer, SIGNATURE_ANNOTATION, type SkippedLayer } from "./attachments.ts";
import { goJsonString } from "./payload.ts";
import type { CertificateCheck } from "./bundle_certificate.ts";

/** Options for {@link verifySignatureLayers}. */
export interface VerifySignaturesOptions {
  /** The image digest the payloads must name (`sha256:<hex>`). */
  digest: string;
  /** Check the payload's claims (digest and `annotations`). Default true. */
  checkClaims?: boolean;
  /** `-a key=value` pairs each payload's `optional` must hold, as strings. */
  annotations?: Record<string, string>;
}

/** A signature that verified. */
export interface VerifiedSignature {
  /** The layer that holds the signature. */
  layer: AttachmentLayer;
  /** The parsed payload (when it is JSON). */
  payload: unknown;
  /** For keyless signatures: what was verified about the signing certificate. */
  certificate?: CertificateCheck;
}

/**
 * Verifies one layer's signature some other way than with a key (keyless: the layer's
 * certificate). Resolves to the certificate check; throws a `CosignError` to reject the layer.
 */
export type LayerSignatureCheck = (layer: AttachmentLayer) => Promise<CertificateCheck>;

/** The outcome: what verified, and why the rest did not. */
export interface VerifySignaturesResult {
  /** The signatures that verified. */
  verified: VerifiedSignature[];
  /** The layers that did not, each with its reason. */
  skipped: SkippedLayer[];
}

/**
 * Reads a JSON object member as Go's decoder does: key names match case-insensitively. An object
 * holding the member under two spellings (`critical` and `Critical`) is refused: Go would read
 * the last, a reader preferring the exact name the first, so the signed bytes would make two
 * different claims.
 * @throws {CosignError} `CLAIMS_AMBIGUOUS` naming both spellings
 */
export function getMember(obj: unknown, name: string): unknown {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  const lower = name.toLowerCase();
  const keys = Object.keys(rec).filter((x) => x.toLowerCase() === lower);
  if (keys.length > 1) {
    throw new CosignError(
      "CLAIMS_AMBIGUOUS",
      `the signed JSON holds ${keys.map((k) => JSON.stringify(k)).join(" and ")}: ` +
        "one member under two spellings is refused",
    );
  }
  return keys.length === 0 ? undefined : rec[keys[0]!];
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

/** Checks the claims of a simple-signing payload; returns a reason when they fail. */
export function checkClaims(payload: unknown, opts: VerifySignaturesOptions): string | undefined {
  const digest = getMember(
    getMember(getMember(payload, "critical"), "image"),
    "docker-manifest-digest",
  );
  if (digest !== opts.digest) {
    return `payload is for ${
      typeof digest === "string" ? digest : JSON.stringify(digest ?? null)
    }, not ${opts.digest}`;
  }
  const optional = getMember(payload, "optional");
  for (const [k, want] of Object.entries(opts.annotations ?? {})) {
    const got = typeof optional === "object" && optional !== null
      ? (optional as Record<string, unknown>)[k]
      : undefined;
    if (got !== want) {
      return `annotation ${k}: expected ${JSON.stringify(want)}, found ${
        got === undefined ? "none" : JSON.stringify(got)
      }`;
    }
  }
  return undefined;
}

/**
 * Verifies the signature layers and throws when none verifies: a wrong key, another image's
 * digest or missing annotations all end in `NO_MATCHING_SIGNATURES` (exit 12) naming each
 * layer's reason. {@link checkSignatureLayers} inspects without throwing.
 * @example
 * ```ts
 * import { loadVerifier, verifySignatureLayers } from "../../mod.ts";
 * import type { AttachmentLayer } from "../../mod.ts";
 * declare const layers: AttachmentLayer[];
 * const { verified } = await verifySignatureLayers(layers, await loadVerifier("cosign.pub"), {
 *   digest: "sha256:" + "ab".repeat(32),
 * });
 * console.log(verified.length);
 * ```
 * @throws {CosignError} `NO_MATCHING_SIGNATURES` when no layer verifies
 */
export async function verifySignatureLayers(
  layers: AttachmentLayer[],
  verifier: Verifier | LayerSignatureCheck,
  opts: VerifySignaturesOptions,
): Promise<VerifySignaturesResult> {
  const r = await checkSignatureLayers(layers, verifier, opts);
  if (r.verified.length === 0) {
    throw new CosignError(
      "NO_MATCHING_SIGNATURES",
      `no matching signatures for ${opts.digest}: ${
        r.skipped.map((s) => s.reason).join("; ") || "no signature layers"
      }`,
      { exitCode: EXIT_NO_MATCHING },
    );
  }
  return r;
}

/**
 * Checks each distinct signature layer once and reports, without throwing, which verified and
 * why the others did not. Use {@link verifySignatureLayers} to require a verified signature.
 */
export async function checkSignatureLayers(
  layers: AttachmentLayer[],
  verifier: Verifier | LayerSignatureCheck,
  opts: VerifySignaturesOptions,
): Promise<VerifySignaturesResult> {
  const verified: VerifiedSignature[] = [];
  const skipped: SkippedLayer[] = [];
  const seen = new Map<string, string | undefined>();
  for (const layer of layers) {
    const d = layer.descriptor.digest;
    const sigText = layer.annotations[SIGNATURE_ANNOTATION];
    const key = `${d} ${sigText}`;
    let reason: string | undefined;
    let payload: unknown;
    let certificate: CertificateCheck | undefined;
    if (seen.has(key)) {
      reason = seen.get(key);
      if (reason === undefined) continue; // an identical copy of a verified signature
    } else {
      if (sigText === undefined) reason = `no ${SIGNATURE_ANNOTATION} annotation`;
      else if (sigText === "") reason = "empty signature";
      const sig = sigText ? fromBase64(sigText) : undefined;
      if (!reason && !sig) reason = "signature annotation is not base64";
      if (!reason) {
        try {
          if (typeof verifier === "function") certificate = await verifier(layer);
          else if (!(await verifier.verify(layer.payload, sig!))) {
            reason = "signature does not match the key";
          }
        } catch (e) {
          if (!(e instanceof CosignError)) throw e;
          reason = e.message.replace(/^Invalid signature: /, "");
        }
      }
      if (!reason) {
        try {
          payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(layer.payload));
        } catch {
          if (opts.checkClaims !== false) reason = "payload is not JSON";
        }
      }
      // The claims come from `layer.payload`: the bytes the signature was verified over (a
      // `.sig` signature is over its layer payload, with a key or keylessly).
      if (!reason && opts.checkClaims !== false) {
        try {
          reason = checkClaims(payload, opts);
        } catch (e) {
          if (!(e instanceof CosignError)) throw e;
          reason = e.message;
        }
      }
      seen.set(key, reason);
    }
    if (reason) skipped.push({ digest: d, reason: `layer ${short(d)}…: ${reason}` });
    else verified.push({ layer, payload, ...(certificate ? { certificate } : {}) });
  }
  return { verified, skipped };
}

/** Go's `json.Marshal` of an `interface{}`: maps with sorted keys, HTML-safe strings. */
export function goMarshal(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return goJsonString(v);
  if (typeof v === "number" || typeof v === "boolean") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(goMarshal).join(",") + "]";
  const obj = v as Record<string, unknown>;
  return "{" +
    Object.keys(obj).sort().map((k) => `${goJsonString(k)}:${goMarshal(obj[k])}`).join(",") + "}";
}

/**
 * A verified payload as `cosign verify -o json` prints it: re-marshalled through Go's
 * `SimpleContainerImage` (fixed field order, `optional` sorted), with `extra` merged into
 * `optional` (e.g. the Rekor `Bundle`).
 */
export function outputPayload(payload: unknown, extra: Record<string, unknown> = {}): string {
  const critical = getMember(payload, "critical");
  const identity = getMember(critical, "identity");
  const image = getMember(critical, "image");
  const str = (x: unknown) => goJsonString(typeof x === "string" ? x : "");
  let optional = getMember(payload, "optional");
  if (Object.keys(extra).length) {
    optional = { ...(typeof optional === "object" && optional !== null ? optional : {}), ...extra };
  }
  return `{"critical":{"identity":{"docker-reference":${
    str(getMember(identity, "docker-reference"))
  }},` +
    `"image":{"docker-manifest-digest":${str(getMember(image, "docker-manifest-digest"))}},` +
    `"type":${str(getMember(critical, "type"))}},"optional":${
      typeof optional === "object" && optional !== null && !Array.isArray(optional)
        ? goMarshal(optional)
        : "null"
    }}`;
}
