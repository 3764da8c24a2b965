/**
 * The signed-note key ID of a transparency-log key (C2SP `signed-note`), a pure function of
 * the key kept below both `lib/trust` (which computes log IDs from it) and `lib/tlog` (which
 * matches checkpoint signatures with it).
 * @module
 */

import { createHash, type KeyObject } from "node:crypto";
import { CosignError } from "../errors.ts";
import { utf8 } from "./encoding.ts";

const ED25519_NOTE_TYPE = 0x01;

function sha256(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/**
 * Computes a log key's signed-note key ID (the key hint is its first 4 bytes): SHA-256 of the
 * PKIX DER for ECDSA and RSA keys (Rekor v1's convention, equal to its log ID), and
 * SHA-256(origin ‖ "\n" ‖ 0x01 ‖ raw key) for Ed25519 keys (C2SP, Rekor v2).
 * @param publicKey the log key
 * @param origin the checkpoint origin / key name; required for Ed25519 keys
 * @throws {CosignError} `TLOG_INVALID` for an Ed25519 key without an origin
 */
export function noteKeyId(publicKey: KeyObject, origin?: string): Uint8Array<ArrayBuffer> {
  if (publicKey.asymmetricKeyType === "ed25519") {
    if (origin === undefined || origin === "") {
      throw new CosignError(
        "TLOG_INVALID",
        "Cannot compute the checkpoint key ID of an Ed25519 log key without its origin",
      );
    }
    const jwk = publicKey.export({ format: "jwk" });
    const raw = Uint8Array.fromBase64(jwk.x ?? "", { alphabet: "base64url" });
    return sha256(utf8(origin + "\n"), new Uint8Array([ED25519_NOTE_TYPE]), raw);
  }
  return sha256(new Uint8Array(publicKey.export({ format: "der", type: "spki" })));
}
