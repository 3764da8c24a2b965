/**
 * Verification of image signatures, free of I/O (cosign-spec §2.2): given the layers of a
 * `.sig` image, a verifier and the image digest, it returns the signatures that verify and,
 * for every other layer, the reason it was rejected. Each distinct signature is checked once.
 * @module
 */

import { trace } from "../trace.ts";
import { CosignError, EXIT_NO_MATCHING } from "../errors.ts";
import { fromBase64 } from "../crypto/encoding.ts";
import type { Verifier } from "../crypto/signer.ts";
import {
  type AttachmentLayer,
  loadLayers,
  type LoadLayersOptions,
  type PendingLayer,
  SIGNATURE_ANNOTATION,
  type SkippedLayer,
} from "./attachments.ts";
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
  /** How pending layers are fetched (concurrency, bytes held at once). */
  loading?: LoadLayersOptions;
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
  layers: (AttachmentLayer | PendingLayer)[],
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
 * why the others did not ({@link verifySignatureLayers} requires a verified signature). Layers
 * may be given fetched or pending ({@link listAttachments}): a pending layer is fetched only when
 * its signature is to be checked (never for a missing or malformed signature annotation, nor for
 * an identical copy), a few ahead, with the bytes held at once bounded ({@link loadLayers}).
 * @example
 * ```ts
 * import {
 *   attachmentRef,
 *   checkSignatureLayers,
 *   listAttachments,
 *   loadVerifier,
 *   parseReference,
 *   RegistryClient,
 * } from "@cosign-deno/cosign";
 * const client = new RegistryClient();
 * const image = parseReference("localhost:5000/app:v1");
 * const { digest } = await client.getManifest(image);
 * const { layers } = await listAttachments(client, attachmentRef(image, digest, "sig"));
 * const result = await checkSignatureLayers(layers, await loadVerifier("cosign.pub"), { digest });
 * console.log(result.verified.length, result.skipped.map((s) => s.reason));
 * ```
 */
export async function checkSignatureLayers(
  layers: (AttachmentLayer | PendingLayer)[],
  verifier: Verifier | LayerSignatureCheck,
  opts: VerifySignaturesOptions,
): Promise<VerifySignaturesResult> {
  const keyOf = (l: AttachmentLayer | PendingLayer) =>
    `${l.descriptor.digest} ${l.annotations[SIGNATURE_ANNOTATION]}`;
  // Reasons decided from the annotations alone; the layers whose bytes must be checked.
  const outcome = new Map<string, { reason?: string; verified?: VerifiedSignature }>();
  const toCheck: PendingLayer[] = [];
  for (const layer of layers) {
    const key = keyOf(layer);
    if (outcome.has(key)) continue;
    const sigText = layer.annotations[SIGNATURE_ANNOTATION];
    let reason: string | undefined;
    if (sigText === undefined) reason = `no ${SIGNATURE_ANNOTATION} annotation`;
    else if (sigText === "") reason = "empty signature";
    else if (!fromBase64(sigText)) reason = "signature annotation is not base64";
    outcome.set(key, reason ? { reason } : {});
    if (!reason) {
      toCheck.push("payload" in layer ? { ...layer, load: () => Promise.resolve(layer) } : layer);
    }
  }
  for await (const got of loadLayers(toCheck, opts.loading)) {
    const key = keyOf(got.pending);
    if (!got.layer) {
      outcome.set(key, { reason: got.skipped.reason });
      continue;
    }
    const layer = got.layer;
    const sig = fromBase64(layer.annotations[SIGNATURE_ANNOTATION]!)!;
    let reason: string | undefined;
    let payload: unknown;
    let certificate: CertificateCheck | undefined;
    try {
      if (typeof verifier === "function") certificate = await verifier(layer);
      else if (!(await verifier.verify(layer.payload, sig))) {
        reason = "signature does not match the key";
      }
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      reason = e.message.replace(/^Invalid signature: /, "");
    }
    if (!reason) {
      try {
        payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(layer.payload));
        if (exceedsJsonDepth(payload)) {
          // Go's decoder refuses it too; nothing below has to recurse that deep.
          payload = undefined;
          if (opts.checkClaims !== false) {
            reason = `payload is nested deeper than ${MAX_JSON_DEPTH} levels`;
          }
        }
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
    outcome.set(
      key,
      reason
        ? { reason }
        : { verified: { layer, payload, ...(certificate ? { certificate } : {}) } },
    );
  }
  const verified: VerifiedSignature[] = [];
  const skipped: SkippedLayer[] = [];
  const reported = new Set<string>();
  for (const layer of layers) {
    const d = layer.descriptor.digest;
    const key = keyOf(layer);
    const o = outcome.get(key)!;
    if (o.reason) skipped.push({ digest: d, reason: `layer ${short(d)}…: ${o.reason}` });
    else if (o.verified && !reported.has(key)) verified.push(o.verified); // copies count once
    trace(() => `verify: signature layer ${d}: ${o.reason ? `rejected: ${o.reason}` : "verified"}`);
    reported.add(key);
  }
  return { verified, skipped };
}

/** The deepest nesting of arrays and objects Go's `encoding/json` decodes (`maxNestingDepth`). */
export const MAX_JSON_DEPTH = 10_000;

/**
 * True when a parsed JSON value nests arrays and objects more than `max` deep, which Go's
 * decoder refuses ("exceeded max depth"). Iterative: any depth is measured without recursion.
 */
export function exceedsJsonDepth(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth + 1 > max) return true;
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof x === "object" && x !== null) stack.push([x, depth + 1]);
    }
  }
  return false;
}

/** Text {@link goMarshal} writes as is (told apart from JSON string values). */
class Literal {
  constructor(readonly text: string) {}
}

/**
 * Go's `json.Marshal` of an `interface{}`: maps with sorted keys, HTML-safe strings. Iterative,
 * so a value nested as deep as Go's decoder allows ({@link MAX_JSON_DEPTH}) does not overflow
 * the stack.
 */
export function goMarshal(v: unknown): string {
  const out: string[] = [];
  const todo: unknown[] = [v];
  while (todo.length > 0) {
    const x = todo.pop();
    if (x instanceof Literal) out.push(x.text);
    else if (x === null || x === undefined) out.push("null");
    else if (typeof x === "string") out.push(goJsonString(x));
    else if (typeof x === "number" || typeof x === "boolean") out.push(JSON.stringify(x));
    else if (Array.isArray(x)) {
      out.push("[");
      todo.push(new Literal("]"));
      for (let i = x.length - 1; i >= 0; i--) {
        todo.push(x[i]);
        if (i > 0) todo.push(new Literal(","));
      }
    } else {
      const obj = x as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      out.push("{");
      todo.push(new Literal("}"));
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push(obj[keys[i]!]);
        todo.push(new Literal(`${i > 0 ? "," : ""}${goJsonString(keys[i]!)}:`));
      }
    }
  }
  return out.join("");
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
