/**
 * Recording a signature in the transparency logs a signing command uses (cosign-spec §6, §15):
 * Rekor v1 (`RekorClient`, `hashedrekord` 0.0.1 / `dsse` / `intoto` entries) or Rekor v2
 * (`uploadRekorV2`, `hashedrekord` 0.0.2), one entry per selected log, each answer checked
 * before it is used. With several logs (a signing config's `ALL` selector), the uploads run in
 * parallel and the bundle carries every entry, as sigstore-go writes them.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";
import type { DigestAlgorithm } from "../crypto/prehashed.ts";
import { toHex } from "../crypto/encoding.ts";
import type { BundleLogEntry } from "../cosign/bundle_writer.ts";
import {
  attestationEntry,
  type AttestationEntryType,
  hashedRekordEntry,
  RekorClient,
  type RekorEntry,
} from "../tlog/rekor.ts";
import type { TrustedRoot } from "../trust/trusted_root.ts";
import type { FlagValues } from "./args.ts";
import { info } from "./io.ts";
import { deadlineOption } from "./deadline_flag.ts";
import type { TransportOptions } from "../oci/transport.ts";
import type { RekorLog } from "./keyless.ts";

/** What to record: a signature over an artifact digest, or a DSSE envelope. */
export type LogRecord =
  | {
    /** A signature over `digest` (blobs; the image signature payload). */
    readonly type: "hashedrekord";
    /** The digest the signature is over. */
    readonly digest: { readonly algorithm: DigestAlgorithm; readonly bytes: Uint8Array };
    /** The signature. */
    readonly signature: Uint8Array;
  }
  | {
    /** An envelope; Rekor v1 records it as this entry kind, Rekor v2 as a `hashedrekord`. */
    readonly type: AttestationEntryType;
    /** The envelope JSON bytes. */
    readonly envelope: Uint8Array;
  };

/** Who signed: the key (PKIX PEM), or the certificate (PEM and DER) that the log records. */
export interface LogSigner {
  /** The public key PEM, or the certificate PEM when there is one (Rekor v1 records it). */
  readonly publicKeyPem: string;
  /** The certificate DER, when the signature is made under a certificate. */
  readonly certificateDer?: Uint8Array | undefined;
}

/** The proposed Rekor v1 entry for `record`. */
function v1Proposal(record: LogRecord, publicKeyPem: string): Record<string, unknown> {
  if (record.type !== "hashedrekord") {
    return attestationEntry(record.type, record.envelope, publicKeyPem);
  }
  const proposed = hashedRekordEntry(
    toHex(record.digest.bytes),
    record.signature,
    publicKeyPem,
  );
  if (record.digest.algorithm === "sha256") return proposed;
  const spec = proposed.spec as { data: { hash: { algorithm: string; value: string } } };
  return {
    ...proposed,
    spec: { ...spec, data: { hash: { ...spec.data.hash, algorithm: record.digest.algorithm } } },
  };
}

/** How to sign without the log, for errors of an upload the command made by default. */
const NO_LOG_HINT = "to sign without the transparency log, pass --tlog-upload=false";
/** The same where the log came from a signing config (`--tlog-upload=false` alone is refused). */
const SIGNING_CONFIG_NO_LOG_HINT =
  "to sign without the transparency log, pass --use-signing-config=false --tlog-upload=false " +
  "(or a signing config without a log)";

/** A log that could not be reached: the error says how to sign without it. */
function withNoLogHint(e: unknown, hint: string): unknown {
  if (!(e instanceof CosignError) || e.code !== "TLOG_UNAVAILABLE") return e;
  return new CosignError(e.code, `${e.message}; ${hint}`, { cause: e });
}

/**
 * The transparency logs of one signing command. Create with {@link openTransparencyLogs}; close
 * with `await using` (or {@link TransparencyLogs.close}).
 */
export class TransparencyLogs implements AsyncDisposable {
  readonly #logs: readonly RekorLog[];
  readonly #signer: LogSigner;
  readonly #trustedRoot: TrustedRoot | undefined;
  readonly #v1 = new Map<string, RekorClient>();
  readonly #hint: string;
  readonly #fetch: typeof fetch | undefined;

  /** @internal use {@link openTransparencyLogs} */
  constructor(
    logs: readonly RekorLog[],
    signer: LogSigner,
    trustedRoot: TrustedRoot | undefined,
    transport: TransportOptions = {},
    hint = NO_LOG_HINT,
  ) {
    this.#hint = hint;
    this.#fetch = transport.deadline?.fetch();
    this.#logs = logs;
    this.#signer = signer;
    this.#trustedRoot = trustedRoot;
    for (const log of logs) {
      if (log.majorApiVersion === 1) this.#v1.set(log.url, new RekorClient(log.url, transport));
    }
  }

  /** Whether there is any log to record in. */
  get active(): boolean {
    return this.#logs.length > 0;
  }

  /**
   * Records `record` in every log and returns the entries, in the logs' order.
   * @param options `proof`: Rekor v1 entries must carry an inclusion proof with a checkpoint (a
   *   v0.3 bundle needs one; it is fetched again when the upload answer had none)
   */
  async record(record: LogRecord, options: { proof: boolean }): Promise<BundleLogEntry[]> {
    try {
      return await Promise.all(this.#logs.map((log) => this.#recordIn(log, record, options)));
    } catch (e) {
      throw withNoLogHint(e, this.#hint);
    }
  }

  /** Records a signature in Rekor v1 logs only (legacy layouts); see {@link record}. */
  async recordV1(record: LogRecord): Promise<RekorEntry[]> {
    const entries = await this.record(record, { proof: false });
    return entries.filter((e): e is RekorEntry => "uuid" in e);
  }

  async #recordIn(
    log: RekorLog,
    record: LogRecord,
    options: { proof: boolean },
  ): Promise<BundleLogEntry> {
    const trustedRoot = this.#trustedRoot;
    if (log.majorApiVersion === 2) {
      const { uploadRekorV2 } = await import("../tlog/rekor_v2.ts");
      const verifier = this.#signer.certificateDer
        ? { certificateDer: this.#signer.certificateDer }
        : { publicKeyPem: this.#signer.publicKeyPem };
      const entry = await uploadRekorV2(
        { url: log.url, trustedRoot, ...(this.#fetch ? { fetch: this.#fetch } : {}) },
        record.type === "hashedrekord"
          ? {
            type: "hashedrekord",
            digest: record.digest.bytes,
            signature: record.signature,
            verifier,
          }
          : { type: "dsse", envelope: record.envelope, verifier },
      );
      await info(`tlog entry created with index: ${entry.logIndex}`);
      return entry;
    }
    const rekor = this.#v1.get(log.url)!;
    const proposed = v1Proposal(record, this.#signer.publicKeyPem);
    const entry = await rekor.upload(proposed, { trustedRoot });
    await info(`tlog entry created with index: ${entry.logIndex}`);
    if (!options.proof) return entry;
    const { withInclusionProof } = await import("../cosign/bundle_writer.ts");
    return await withInclusionProof(
      entry,
      (u) => rekor.getUploaded(u, proposed, { trustedRoot }),
    );
  }

  /** Closes the connections to the logs. */
  close(): void {
    for (const c of this.#v1.values()) c.close();
  }

  /** Closes the connections to the logs. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Opens the logs a signing command records in, with the trust material their answers are
 * checked with (as `uploadTrustedRoot`: without any, a warning, and only the body and the
 * proof are checked).
 * @param logs the selected logs (`SigningServices.rekorLogs`)
 * @param signer the key or certificate the entries record
 * @param options `tuf`: the trusted root may come from TUF (services from a signing config)
 */
export async function openTransparencyLogs(
  flags: FlagValues,
  logs: readonly RekorLog[],
  signer: LogSigner,
  options: { tuf?: boolean } = {},
): Promise<TransparencyLogs> {
  if (logs.length === 0) return new TransparencyLogs(logs, signer, undefined);
  const { uploadTrustedRoot } = await import("./tlog_online.ts");
  const v1 = logs.find((l) => l.majorApiVersion === 1);
  const transport = deadlineOption(flags);
  const hint = options.tuf ? SIGNING_CONFIG_NO_LOG_HINT : NO_LOG_HINT;
  const client = new RekorClient(v1?.url ?? logs[0]!.url, transport);
  try {
    let trustedRoot: TrustedRoot | undefined;
    try {
      trustedRoot = await uploadTrustedRoot(flags, client, options);
    } catch (e) {
      if (!(e instanceof CosignError) || !options.tuf) throw withNoLogHint(e, hint);
      // cosign v3 (LoadTrustedMaterialAndSigningConfig): a trusted root TUF cannot give is a
      // warning; the answers are then checked against what was sent only.
      await info(
        `WARNING: Could not fetch trusted_root.json from the TUF repository: ${e.message}`,
      );
      trustedRoot = await uploadTrustedRoot(flags, client, { tuf: false }).catch((e) => {
        throw withNoLogHint(e, hint);
      });
    }
    return new TransparencyLogs(logs, signer, trustedRoot, transport, hint);
  } finally {
    client.close();
  }
}

/** The SHA-256 digest of `payload`, as a `hashedrekord` record's digest. */
export function sha256Digest(
  payload: Uint8Array,
): { algorithm: "sha256"; bytes: Uint8Array } {
  return {
    algorithm: "sha256",
    bytes: new Uint8Array(createHash("sha256").update(payload).digest()),
  };
}
