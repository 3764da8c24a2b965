/**
 * Finding a signature's entry in Rekor and verifying it offline (cosign-spec §6.8): search the
 * log's index by the signed bytes' SHA-256, fetch the entries found, keep the hashedrekord
 * entries that hold this very signature, and verify one of them like a bundle (body
 * cross-checks, SET, and the inclusion proof with its signed checkpoint when the log sends one)
 * against the trusted root. Used for blobs without a bundle and image signatures without a
 * bundle annotation.
 * @module
 */

import { CosignError } from "../errors.ts";
import { fromBase64, toBase64 } from "../crypto/encoding.ts";
import type { BundleArtifact, BundleSigner, BundleVerification } from "./bundle.ts";
import type { RekorClient, RekorEntry } from "../tlog/rekor.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";

/** Entries fetched at a time while looking for the signature's entry. */
const FETCH_BATCH = 8;

/** What was found and verified in the log. */
export interface OnlineTlogResult {
  /** The verified entry's UUID. */
  readonly uuid: string;
  /** Its global log index. */
  readonly logIndex: number;
  /** Its integrated time. */
  readonly integratedTime: Date;
  /** The inclusion proof and checkpoint verified too (not only the SET). */
  readonly inclusionProofVerified: boolean;
  /** Everything verified, e.g. the certificate for a certificate policy. */
  readonly verification: BundleVerification;
}

/** What to look for. */
export interface OnlineTlogQuery {
  /** The blob's SHA-256, hex: the index key Rekor files a hashedrekord entry under. */
  readonly sha256Hex: string;
  /** The signature bytes the entry must hold. */
  readonly signature: Uint8Array;
  /** The key the signature verifies with, or a certificate policy; the entry must name the key. */
  readonly signer: BundleSigner;
  /** For a certificate policy: the signing certificate and its chain, DER, leaf first. */
  readonly certificates?: readonly Uint8Array[];
  /** RFC 3161 timestamps (DER) over the signature, verified along with the entry. */
  readonly timestamps?: readonly Uint8Array[];
  /** The blob (bytes for Ed25519 keys, else its digest) the entry's signature is checked over. */
  readonly artifact: BundleArtifact;
}

/** The hashedrekord signature an entry body records, or undefined for other entries. */
function hashedRekordSignature(entry: RekorEntry): Uint8Array | undefined {
  try {
    const body = JSON.parse(new TextDecoder().decode(fromBase64(entry.body)));
    const content = body?.kind === "hashedrekord" ? body.spec?.signature?.content : undefined;
    return typeof content === "string" ? fromBase64(content) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A Sigstore bundle (v0.1 when the entry has a SET, else v0.2) holding one Rekor v1 entry as the
 * log returned it, so the offline bundle verifier checks it.
 */
function bundleForEntry(entry: RekorEntry, query: OnlineTlogQuery): Record<string, unknown> {
  const body = JSON.parse(new TextDecoder().decode(fromBase64(entry.body)));
  const hex = (h: string) => toBase64(Uint8Array.fromHex(h));
  const p = entry.inclusionProof;
  return {
    mediaType: `application/vnd.dev.sigstore.bundle+json;version=${
      entry.signedEntryTimestamp ? "0.1" : "0.2"
    }`,
    verificationMaterial: {
      ...(query.certificates
        ? {
          x509CertificateChain: {
            certificates: query.certificates.map((c) => ({ rawBytes: toBase64(c) })),
          },
        }
        : { publicKey: {} }),
      tlogEntries: [{
        logIndex: String(entry.logIndex),
        logId: { keyId: hex(entry.logID) },
        kindVersion: { kind: String(body.kind), version: String(body.apiVersion) },
        integratedTime: String(entry.integratedTime),
        ...(entry.signedEntryTimestamp
          ? { inclusionPromise: { signedEntryTimestamp: entry.signedEntryTimestamp } }
          : {}),
        ...(p
          ? {
            inclusionProof: {
              logIndex: String(p.logIndex),
              rootHash: hex(p.rootHash),
              treeSize: String(p.treeSize),
              hashes: p.hashes.map(hex),
              ...(p.checkpoint ? { checkpoint: { envelope: p.checkpoint } } : {}),
            },
          }
          : {}),
        canonicalizedBody: entry.body,
      }],
      ...(query.timestamps?.length
        ? {
          timestampVerificationData: {
            rfc3161Timestamps: query.timestamps.map((t) => ({ signedTimestamp: toBase64(t) })),
          },
        }
        : {}),
    },
    messageSignature: {
      messageDigest: { algorithm: "SHA2_256", digest: hex(query.sha256Hex) },
      signature: toBase64(query.signature),
    },
  };
}

/**
 * Finds the signature's entry in the log and verifies it offline against `trustedRoot`.
 * @throws {CosignError} `TLOG_MISSING` when the log has no entry for the blob, or none holding
 *   this signature; otherwise the first failure of the entries that hold it (e.g.
 *   `TLOG_UNTRUSTED` for a log not in the trusted root, `TLOG_BODY_MISMATCH` for another key),
 *   or `TLOG_UNAVAILABLE` when the log cannot be asked
 * @example
 * ```ts
 * import { findAndVerifyEntry, loadVerifier, parseTrustedRoot, RekorClient } from "@cosign-deno/cosign";
 * const blob = await Deno.readFile("app.tar.gz");
 * const sha256Hex = new Uint8Array(await crypto.subtle.digest("SHA-256", blob)).toHex();
 * const found = await findAndVerifyEntry(
 *   new RekorClient(),
 *   parseTrustedRoot(await Deno.readFile("trusted_root.json")),
 *   {
 *     sha256Hex,
 *     signature: Uint8Array.fromBase64((await Deno.readTextFile("app.tar.gz.sig")).trim()),
 *     signer: { key: await loadVerifier("cosign.pub") },
 *     artifact: { bytes: blob },
 *   },
 * );
 * console.log(found.logIndex, found.integratedTime);
 * ```
 */
export async function findAndVerifyEntry(
  rekor: RekorClient,
  trustedRoot: TrustedRoot,
  query: OnlineTlogQuery,
): Promise<OnlineTlogResult> {
  const uuids = await rekor.searchByHash(query.sha256Hex);
  if (uuids.length === 0) {
    throw new CosignError(
      "TLOG_MISSING",
      `Signature not found in the transparency log ${rekor.url}: no entry for sha256:${query.sha256Hex}`,
    );
  }
  const { parseBundle, verifyBundle } = await import("../cosign/bundle.ts");
  const failures: CosignError[] = [];
  let holding = 0;
  for (let i = 0; i < uuids.length; i += FETCH_BATCH) {
    const batch = uuids.slice(i, i + FETCH_BATCH);
    const fetched = await Promise.allSettled(batch.map((u) => rekor.getByUuid(u)));
    for (const f of fetched) {
      if (f.status === "rejected") {
        if (!(f.reason instanceof CosignError)) throw f.reason;
        failures.push(f.reason);
        continue;
      }
      const entry = f.value;
      const sig = hashedRekordSignature(entry);
      if (!sig || sig.length !== query.signature.length) continue;
      if (!sig.every((b, j) => b === query.signature[j])) continue;
      holding++;
      try {
        const r = await verifyBundle(
          parseBundle(bundleForEntry(entry, query)),
          query.artifact,
          trustedRoot,
          query.signer,
        );
        const check = r.tlogEntries[0]!;
        return {
          uuid: entry.uuid,
          logIndex: entry.logIndex,
          integratedTime: new Date(entry.integratedTime * 1000),
          inclusionProofVerified: check.inclusionProofVerified,
          verification: r,
        };
      } catch (e) {
        if (!(e instanceof CosignError)) throw e;
        failures.push(
          new CosignError(e.code, `entry ${entry.logIndex} (${entry.uuid}): ${e.message}`),
        );
      }
    }
  }
  if (holding === 0) {
    const fetchFailed = failures.length ? ` (${failures.length} could not be read)` : "";
    throw new CosignError(
      "TLOG_MISSING",
      `Signature not found in the transparency log ${rekor.url}: none of the ${uuids.length} ` +
        `entries for sha256:${query.sha256Hex} holds this signature${fetchFailed}`,
    );
  }
  const first = failures[0]!;
  throw new CosignError(
    first.code,
    `No transparency-log entry for this signature verified: ${
      failures.map((f) => f.message).join("; ")
    }`,
  );
}
