/**
 * Transparency-log verification primitives, free of I/O: RFC 6962 Merkle inclusion proofs,
 * RFC 8785 canonical JSON, Rekor Signed Entry Timestamps, signed-note checkpoints and Sigstore
 * trusted roots.
 * @module
 */

export {
  leafHash,
  MERKLE_HASH_SIZE,
  nodeHash,
  rootFromInclusionProof,
  verifyInclusion,
} from "./merkle.ts";
export { canonicalize, canonicalizeToBytes, type JsonValue } from "./canonical_json.ts";
export { type SetEntry, setPayload, type SetPayloadFields, verifySet } from "./set.ts";
export {
  checkCheckpointMatchesProof,
  type Checkpoint,
  type CheckpointKey,
  noteKeyId,
  type NoteSignature,
  parseCheckpoint,
  parseSignedNote,
  type SignedNote,
  verifyCheckpoint,
} from "./checkpoint.ts";
export {
  type CertificateAuthority,
  findLog,
  findTlog,
  isValidAt,
  logIdBytes,
  parseTrustedRoot,
  type TransparencyLog,
  TRUSTED_ROOT_MEDIA_TYPES,
  type TrustedCertificate,
  type TrustedRoot,
  type ValidityPeriod,
} from "../trust/trusted_root.ts";
export { decodeProtoBytes } from "./bytes.ts";
