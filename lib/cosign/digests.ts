/**
 * The digest algorithms bundles use, by their protobuf names, and their sizes.
 * @module
 */

import { createHash } from "node:crypto";
import type { DigestAlgorithm } from "../crypto/prehashed.ts";

/** `dev.sigstore.common.v1.HashAlgorithm` names and the algorithm each denotes. */
export const PROTO_HASH: Readonly<Record<string, DigestAlgorithm>> = {
  SHA2_256: "sha256",
  SHA2_384: "sha384",
  SHA2_512: "sha512",
};

/** Digest sizes in bytes. */
export const DIGEST_SIZE: Readonly<Record<DigestAlgorithm, number>> = {
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

/** Hashes `data` with `algorithm`. */
export function digestOf(algorithm: DigestAlgorithm, data: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}
