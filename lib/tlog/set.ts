/**
 * Rekor v1 Signed Entry Timestamps (SET, the bundle's `inclusionPromise`): the log's signature
 * promising to include an entry.
 *
 * The signed message is the RFC 8785 canonical JSON of
 * `{"body":"<base64 of the canonicalized body>","integratedTime":<unix s>,"logID":"<hex>","logIndex":<global index>}`
 * and the signature is an ASN.1 DER ECDSA signature over its SHA-256, by the Rekor key whose
 * log ID is `logID`. The log index is the **global** one (the entry's `logIndex`), not the
 * shard-local `inclusionProof.logIndex` used for the Merkle proof.
 *
 * Rekor v2 entries have no SET (no integrated time); their proof is the signed checkpoint.
 * @module
 */

import { verify } from "node:crypto";
import { CosignError } from "../errors.ts";
import { toBase64, toHex } from "../crypto/encoding.ts";
import { canonicalizeToBytes } from "./canonical_json.ts";
import { toUint } from "./bytes.ts";
import { findTlog, type TransparencyLog, type TrustedRoot } from "../trust/trusted_root.ts";

/** The parts of a tlog entry a SET covers. */
export interface SetPayloadFields {
  /** The canonicalized entry body (decoded bytes of `canonicalizedBody` / `LogEntry.body`). */
  readonly body: Uint8Array;
  /** The integrated time, Unix seconds. */
  readonly integratedTime: number | bigint | string;
  /** The **global** log index (the entry's `logIndex`, not `inclusionProof.logIndex`). */
  readonly logIndex: number | bigint | string;
  /** The log ID (bytes; in a bundle `logId.keyId`). */
  readonly logId: Uint8Array;
}

/** A tlog entry with its SET. */
export interface SetEntry extends SetPayloadFields {
  /** The SET: DER ECDSA signature bytes (`inclusionPromise.signedEntryTimestamp`). */
  readonly signedEntryTimestamp: Uint8Array;
}

/**
 * Builds the SET message: JCS of `{body, integratedTime, logID, logIndex}` with the body as
 * standard base64 and the log ID as lowercase hex.
 * @throws {CosignError} `TLOG_INVALID` when the time or index is not a non-negative integer
 */
export function setPayload(fields: SetPayloadFields): Uint8Array<ArrayBuffer> {
  return canonicalizeToBytes({
    body: toBase64(fields.body),
    integratedTime: toUint(fields.integratedTime, "integrated time", "TLOG_INVALID"),
    logID: toHex(fields.logId),
    logIndex: toUint(fields.logIndex, "log index", "TLOG_INVALID"),
  });
}

/**
 * Verifies a Signed Entry Timestamp against the trusted root: finds the Rekor log by the
 * entry's log ID, checks that its key was valid at the integrated time (closed interval), and
 * verifies the ECDSA signature over the SET message.
 * @param entry the entry fields and SET
 * @param root the trusted root (only its `tlogs` are used)
 * @returns the log that signed the SET
 * @throws {CosignError} `TLOG_UNTRUSTED` when the log ID is unknown or its key was not valid at
 *   the integrated time; `TLOG_INVALID` when the entry is malformed, the log key is not ECDSA,
 *   or the signature does not verify
 */
export function verifySet(entry: SetEntry, root: Pick<TrustedRoot, "tlogs">): TransparencyLog {
  const message = setPayload(entry);
  const seconds = toUint(entry.integratedTime, "integrated time", "TLOG_INVALID");
  const time = new Date(Number(seconds) * 1000);
  const log = findTlog(root, entry.logId, time);
  if (log.validFor.start === undefined) {
    throw new CosignError(
      "TLOG_UNTRUSTED",
      `Untrusted transparency log ${log.baseUrl || log.logIdHex}: its key has no validity start`,
    );
  }
  if (log.publicKey.asymmetricKeyType !== "ec") {
    throw new CosignError(
      "TLOG_INVALID",
      `Cannot verify the signed entry timestamp: expected an ECDSA log key, found ${log.publicKey.asymmetricKeyType} (${
        log.baseUrl || log.logIdHex
      })`,
    );
  }
  let ok = false;
  try {
    ok = verify(
      "sha256",
      message,
      { key: log.publicKey, dsaEncoding: "der" },
      entry.signedEntryTimestamp,
    );
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new CosignError(
      "TLOG_INVALID",
      `Signed entry timestamp does not verify with the key of ${
        log.baseUrl || log.logIdHex
      } (log index ${toUint(entry.logIndex, "log index", "TLOG_INVALID")})`,
    );
  }
  return log;
}
