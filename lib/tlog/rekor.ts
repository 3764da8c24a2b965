/**
 * A Rekor v1 client (cosign-spec §6.1–6.4): builds the proposed entries cosign submits
 * (`hashedrekord` 0.0.1 for signatures, `dsse` 0.0.1 or `intoto` 0.0.2 for attestations),
 * uploads them, and looks entries up by UUID, by log index and by hash. A looked-up entry must be
 * the one asked for (its UUID is the RFC 6962 leaf hash of its body, as cosign checks); an
 * uploaded entry must also record what was sent and, given trust material, carry a SET from a
 * trusted log (`upload_check.ts`). Requests go through the registry transport, so they
 * get the same retries, timeouts and User-Agent.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { fromBase64, toBase64, toHex, utf8 } from "../crypto/encoding.ts";
import { Transport, type TransportOptions } from "../oci/transport.ts";
import { createHash } from "node:crypto";
import { leafHash } from "./merkle.ts";
import { checkUploadedEntry, type UploadCheckOptions } from "./upload_check.ts";

export type { UploadCheckOptions } from "./upload_check.ts";

/** The public-good Rekor instance, cosign's default `--rekor-url`. */
export const DEFAULT_REKOR_URL = "https://rekor.sigstore.dev";

/** A log entry as Rekor returns it. */
export interface RekorEntry {
  /** The entry's UUID (the key of Rekor's answer). */
  uuid: string;
  /** Base64 of the canonicalized entry body. */
  body: string;
  /** When the log integrated the entry, in Unix seconds. */
  integratedTime: number;
  /** Hex SHA-256 of the log's public key. */
  logID: string;
  /** The global log index. */
  logIndex: number;
  /** Base64 DER ECDSA signature: the signed entry timestamp. */
  signedEntryTimestamp?: string;
  /** The Merkle inclusion proof, when the log returned one. */
  inclusionProof?: {
    logIndex: number;
    rootHash: string;
    treeSize: number;
    hashes: string[];
    checkpoint?: string;
  };
}

/**
 * The proposed `hashedrekord` 0.0.1 entry for a signature over a SHA-256 digest.
 * @example
 * ```ts
 * import { hashedRekordEntry, loadSigner, RekorClient } from "@cosign-deno/cosign";
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const blob = await Deno.readFile("app.tar.gz");
 * const hex = new Uint8Array(await crypto.subtle.digest("SHA-256", blob)).toHex();
 * const proposed = hashedRekordEntry(hex, await signer.sign(blob), await signer.publicKeyPem());
 * const entry = await new RekorClient().upload(proposed);
 * console.log(entry.logIndex);
 * ```
 */
export function hashedRekordEntry(
  sha256Hex: string,
  signature: Uint8Array,
  publicKeyPem: string,
): Record<string, unknown> {
  return {
    apiVersion: "0.0.1",
    kind: "hashedrekord",
    spec: {
      data: { hash: { algorithm: "sha256", value: sha256Hex } },
      signature: {
        content: toBase64(signature),
        publicKey: { content: toBase64(utf8(publicKeyPem)) },
      },
    },
  };
}

/** The attestation entry kinds cosign can upload (`--rekor-entry-type`). */
export type AttestationEntryType = "dsse" | "intoto";

/** The `--rekor-entry-type` values, default first (cosign ≥ v2.2.3 uploads `dsse`). */
export const ATTESTATION_ENTRY_TYPES: readonly AttestationEntryType[] = ["dsse", "intoto"];

/**
 * The proposed `dsse` 0.0.1 entry for a DSSE envelope: the envelope JSON as a string, exactly as
 * signed (Rekor hashes these bytes into `envelopeHash`), and the verifying key.
 * @param envelope the envelope JSON bytes as stored (never re-serialised)
 * @param publicKeyPem the signer's public key (or certificate) PEM
 * @example
 * ```ts
 * import { dsseEntry, loadSigner, RekorClient, signEnvelope } from "@cosign-deno/cosign";
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const envelope = await signEnvelope(signer, await Deno.readFile("statement.json"));
 * const entry = await new RekorClient().upload(dsseEntry(envelope, await signer.publicKeyPem()));
 * ```
 */
export function dsseEntry(envelope: Uint8Array, publicKeyPem: string): Record<string, unknown> {
  return {
    apiVersion: "0.0.1",
    kind: "dsse",
    spec: {
      proposedContent: {
        envelope: new TextDecoder().decode(envelope),
        verifiers: [toBase64(utf8(publicKeyPem))],
      },
    },
  };
}

/**
 * The proposed `intoto` 0.0.2 entry for a DSSE envelope (what cosign sends for
 * `--rekor-entry-type intoto`: Rekor's default intoto version). As in Rekor's Go model, the
 * envelope's `payload` and each `sig` (already base64 text) are base64-encoded once more, and
 * `hash` is the SHA-256 of the envelope bytes.
 * @param envelope the envelope JSON bytes as stored
 * @param publicKeyPem the signer's public key (or certificate) PEM
 * @throws {CosignError} `DSSE_INVALID` when `envelope` is not an envelope with signatures
 * @example
 * ```ts
 * import { intotoEntry, loadSigner, RekorClient, signEnvelope } from "@cosign-deno/cosign";
 * const signer = await loadSigner("cosign.key", { password: async () => "pw" });
 * const envelope = await signEnvelope(signer, await Deno.readFile("statement.json"));
 * await new RekorClient().upload(intotoEntry(envelope, await signer.publicKeyPem()));
 * ```
 */
export function intotoEntry(envelope: Uint8Array, publicKeyPem: string): Record<string, unknown> {
  let env: unknown;
  try {
    env = JSON.parse(new TextDecoder().decode(envelope));
  } catch {
    throw new CosignError("DSSE_INVALID", "Cannot make an intoto entry: the envelope is not JSON");
  }
  const e = (typeof env === "object" && env !== null ? env : {}) as Record<string, unknown>;
  const sigs = Array.isArray(e.signatures) ? e.signatures as Record<string, unknown>[] : [];
  if (
    typeof e.payload !== "string" || typeof e.payloadType !== "string" || sigs.length === 0 ||
    sigs.some((x) => typeof x?.sig !== "string")
  ) {
    throw new CosignError(
      "DSSE_INVALID",
      "Cannot make an intoto entry: the envelope lacks a payload, payloadType or signatures",
    );
  }
  const key = toBase64(utf8(publicKeyPem));
  return {
    apiVersion: "0.0.2",
    kind: "intoto",
    spec: {
      content: {
        envelope: {
          payload: toBase64(utf8(e.payload)),
          payloadType: e.payloadType,
          signatures: sigs.map((x) => ({
            ...(typeof x.keyid === "string" && x.keyid !== "" ? { keyid: x.keyid } : {}),
            sig: toBase64(utf8(x.sig as string)),
            publicKey: key,
          })),
        },
        hash: { algorithm: "sha256", value: createHash("sha256").update(envelope).digest("hex") },
      },
    },
  };
}

/** The proposed entry of `type` for an attestation envelope. */
export function attestationEntry(
  type: AttestationEntryType,
  envelope: Uint8Array,
  publicKeyPem: string,
): Record<string, unknown> {
  return type === "intoto"
    ? intotoEntry(envelope, publicKeyPem)
    : dsseEntry(envelope, publicKeyPem);
}

const UUID_RE = /^(?:[0-9a-f]{16})?[0-9a-f]{64}$/;

/** The 64-hex leaf hash part of an entry UUID (64 hex) or EntryID (16 hex tree ID + 64 hex). */
function leafPart(uuid: string): string {
  return uuid.slice(-64).toLowerCase();
}

function parseEntries(json: unknown, rekorUrl: string): RekorEntry {
  const fail = (why: string) =>
    new CosignError("TLOG_INVALID", `Rekor at ${rekorUrl} sent an unusable log entry: ${why}`);
  if (typeof json !== "object" || json === null) throw fail("not a JSON object");
  const [uuid, raw] = Object.entries(json as Record<string, unknown>)[0] ?? [];
  if (!uuid || typeof raw !== "object" || raw === null) throw fail("no entry");
  const e = raw as Record<string, unknown>;
  if (typeof e.body !== "string") throw fail("no body");
  if (typeof e.integratedTime !== "number") throw fail("no integratedTime");
  if (typeof e.logID !== "string") throw fail("no logID");
  if (typeof e.logIndex !== "number") throw fail("no logIndex");
  const v = (e.verification ?? {}) as Record<string, unknown>;
  const entry: RekorEntry = {
    uuid,
    body: e.body,
    integratedTime: e.integratedTime,
    logID: e.logID,
    logIndex: e.logIndex,
  };
  if (typeof v.signedEntryTimestamp === "string") {
    entry.signedEntryTimestamp = v.signedEntryTimestamp;
  }
  const p = v.inclusionProof as Record<string, unknown> | undefined;
  if (p && typeof p.logIndex === "number" && typeof p.rootHash === "string") {
    entry.inclusionProof = {
      logIndex: p.logIndex,
      rootHash: p.rootHash,
      treeSize: Number(p.treeSize),
      hashes: Array.isArray(p.hashes) ? p.hashes.map(String) : [],
      ...(typeof p.checkpoint === "string" ? { checkpoint: p.checkpoint } : {}),
    };
  }
  return entry;
}

/**
 * Talks to one Rekor instance.
 * @example
 * ```ts
 * import { RekorClient } from "@cosign-deno/cosign";
 * const rekor = new RekorClient("https://rekor.sigstore.dev");
 * const uuids = await rekor.searchByHash("ab".repeat(32));
 * for (const uuid of uuids) console.log((await rekor.getByUuid(uuid)).logIndex);
 * rekor.close();
 * ```
 */
export class RekorClient {
  /** The log's base URL, without a trailing slash. */
  readonly url: string;
  readonly #transport: Transport;

  /**
   * Creates a client for one log.
   * @param url the log's base URL (`--rekor-url`)
   * @param options transport options (timeouts, retries, TLS)
   */
  constructor(url: string = DEFAULT_REKOR_URL, options: TransportOptions = {}) {
    this.url = url.replace(/\/+$/, "");
    this.#transport = new Transport(options);
  }

  /** Releases connections. */
  close(): void {
    this.#transport.close();
  }

  /** Sends one request; transport failures become `TLOG_UNAVAILABLE` naming `doing`. */
  async #send(
    doing: string,
    method: string,
    path: string,
    body?: string,
    expect: number[] = [],
  ): Promise<Response> {
    try {
      return await this.#transport.send({
        method,
        url: path.startsWith("http") ? path : `${this.url}${path}`,
        headers: body === undefined
          ? { accept: "application/json" }
          : { "content-type": "application/json", accept: "application/json" },
        ...(body === undefined ? {} : { body: () => body }),
        expect,
      });
    } catch (e) {
      if (!(e instanceof CosignError) || e.code === "DEADLINE_EXCEEDED") throw e;
      throw new CosignError(
        "TLOG_UNAVAILABLE",
        `Cannot ${doing} the transparency log ${this.url}: ${
          e.message.replace(/^(Cannot reach registry|Registry) \S+:? ?/, "")
        }`,
      );
    }
  }

  /** Reads a JSON answer; a non-2xx status is `TLOG_UNAVAILABLE` (404: `notFound`). */
  async #json(res: Response, doing: string, notFound?: () => CosignError): Promise<unknown> {
    if (res.status === 404 && notFound) {
      await res.body?.cancel();
      throw notFound();
    }
    if (!res.ok) {
      const text = (await res.text()).slice(0, 200).trim().split("\n")[0];
      throw new CosignError(
        "TLOG_UNAVAILABLE",
        `The transparency log ${this.url} failed to ${doing}: HTTP ${res.status}${
          text ? ` ${text}` : ""
        }`,
      );
    }
    try {
      return await res.json();
    } catch {
      throw new CosignError(
        "TLOG_INVALID",
        `Rekor at ${this.url} sent a response that is not JSON`,
      );
    }
  }

  /**
   * Uploads a proposed entry and checks the answer before returning it (see
   * {@link checkUploadedEntry}): the entry must record `proposed`, its UUID must be the leaf hash
   * of its body, and with `options.trustedRoot` its SET (and any inclusion proof) must verify
   * against a trusted log. For a 409 (the entry exists), as cosign does, only the UUID is taken
   * from the `Location`; the entry is fetched from this log's URL, never from the `Location`'s
   * origin, and checked the same way.
   * @param proposed the proposed entry (e.g. {@link hashedRekordEntry})
   * @param options trust material for the SET; without it the caller should say it was not
   *   checked
   * @throws {CosignError} `TLOG_UNAVAILABLE` when the log refuses or cannot be reached;
   *   `TLOG_INVALID`, `TLOG_BODY_MISMATCH`, `TLOG_UNTRUSTED` when its answer is not our entry or
   *   does not verify
   */
  async upload(
    proposed: Record<string, unknown>,
    options: UploadCheckOptions = {},
  ): Promise<RekorEntry> {
    const res = await this.#send(
      "upload to",
      "POST",
      "/api/v1/log/entries",
      JSON.stringify(proposed),
      [409],
    );
    if (res.status === 409) {
      await res.body?.cancel();
      const loc = res.headers.get("location");
      // cosign: the UUID is the last path segment of the Location.
      let uuid: string | undefined;
      try {
        uuid = loc ? new URL(loc, this.url + "/").pathname.split("/").at(-1) : undefined;
      } catch {
        uuid = undefined;
      }
      if (!uuid || !UUID_RE.test(uuid.toLowerCase())) {
        throw new CosignError(
          "TLOG_INVALID",
          `Rekor at ${this.url} answered 409 without an entry UUID in its Location${
            loc ? ` (${JSON.stringify(loc.slice(0, 200))})` : ""
          }`,
        );
      }
      return await this.getUploaded(uuid, proposed, options);
    }
    if (res.status !== 201) {
      const text = (await res.text()).slice(0, 200).trim().split("\n")[0];
      throw new CosignError(
        "TLOG_UNAVAILABLE",
        `The transparency log ${this.url} refused the entry: HTTP ${res.status}${
          text ? ` ${text}` : ""
        }`,
      );
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      throw new CosignError(
        "TLOG_INVALID",
        `Rekor at ${this.url} sent a response that is not JSON`,
      );
    }
    const entry = parseEntries(json, this.url);
    if (!UUID_RE.test(entry.uuid.toLowerCase())) {
      throw new CosignError(
        "TLOG_INVALID",
        `Rekor at ${this.url} sent an unusable log entry: invalid UUID`,
      );
    }
    checkLeafHash(entry, this.url);
    checkUploadedEntry(proposed, entry, this.url, options);
    return entry;
  }

  /**
   * Fetches an entry of ours by UUID from this log ({@link getByUuid}) and checks it records
   * `proposed` (see {@link upload}); for the existing entry after a 409, or to fetch an entry's
   * inclusion proof after an upload.
   * @throws {CosignError} as {@link getByUuid} and {@link checkUploadedEntry}
   */
  async getUploaded(
    uuid: string,
    proposed: Record<string, unknown>,
    options: UploadCheckOptions = {},
  ): Promise<RekorEntry> {
    const entry = await this.getByUuid(uuid);
    checkUploadedEntry(proposed, entry, this.url, options);
    return entry;
  }

  /**
   * Fetches the entry with this UUID (64 hex) or EntryID (80 hex: tree ID and UUID). The answer
   * must be that entry: same UUID, and the UUID must be the leaf hash of its body.
   * @throws {UsageError} for a malformed UUID
   * @throws {CosignError} `TLOG_ENTRY_NOT_FOUND` (404), `TLOG_INVALID` (another or a malformed
   *   entry), `TLOG_UNAVAILABLE`
   */
  async getByUuid(uuid: string): Promise<RekorEntry> {
    const id = uuid.toLowerCase();
    if (!UUID_RE.test(id)) {
      throw new UsageError(`Invalid Rekor entry UUID "${uuid}": expected 64 or 80 hex digits`);
    }
    const res = await this.#send("read", "GET", `/api/v1/log/entries/${id}`);
    const json = await this.#json(
      res,
      "return an entry",
      () =>
        new CosignError(
          "TLOG_ENTRY_NOT_FOUND",
          `No entry with UUID ${uuid} in the transparency log ${this.url}`,
        ),
    );
    const entry = parseEntries(json, this.url);
    if (leafPart(entry.uuid) !== leafPart(id)) {
      throw new CosignError(
        "TLOG_INVALID",
        `Rekor at ${this.url} answered a request for entry ${uuid} with entry ${entry.uuid}`,
      );
    }
    checkLeafHash(entry, this.url);
    return entry;
  }

  /**
   * Fetches the entry at a global log index (`?logIndex=N`).
   * @throws {UsageError} for a negative or non-integer index
   * @throws {CosignError} `TLOG_ENTRY_NOT_FOUND` (404), `TLOG_INVALID` (an entry at another
   *   index, or whose UUID is not its leaf hash), `TLOG_UNAVAILABLE`
   */
  async getByIndex(index: number): Promise<RekorEntry> {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new UsageError(`Invalid Rekor log index ${index}: expected a non-negative integer`);
    }
    const res = await this.#send("read", "GET", `/api/v1/log/entries?logIndex=${index}`);
    const json = await this.#json(
      res,
      "return an entry",
      () =>
        new CosignError(
          "TLOG_ENTRY_NOT_FOUND",
          `No entry at log index ${index} in the transparency log ${this.url}`,
        ),
    );
    const entry = parseEntries(json, this.url);
    if (entry.logIndex !== index) {
      throw new CosignError(
        "TLOG_INVALID",
        `Rekor at ${this.url} answered a request for log index ${index} with index ${entry.logIndex}`,
      );
    }
    checkLeafHash(entry, this.url);
    return entry;
  }

  /**
   * Searches the log's index by a SHA-256 digest (`POST /api/v1/index/retrieve`): Rekor indexes
   * an entry under its artifact digest (hashedrekord), its payload and envelope digests and
   * in-toto subject digests (dsse, intoto). Returns the entry UUIDs (possibly none).
   * @param sha256Hex 64 hex digits
   * @throws {UsageError} for a malformed digest
   * @throws {CosignError} `TLOG_UNAVAILABLE`, `TLOG_INVALID` (not a list of UUIDs)
   */
  async searchByHash(sha256Hex: string): Promise<string[]> {
    const hex = sha256Hex.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      throw new UsageError(`Invalid SHA-256 digest "${sha256Hex}": expected 64 hex digits`);
    }
    const res = await this.#send(
      "search",
      "POST",
      "/api/v1/index/retrieve",
      JSON.stringify({ hash: `sha256:${hex}` }),
    );
    const json = await this.#json(res, "search its index");
    if (json === null) return []; // Rekor may answer `null` for no match
    if (!Array.isArray(json) || json.some((u) => typeof u !== "string" || !UUID_RE.test(u))) {
      throw new CosignError(
        "TLOG_INVALID",
        `Rekor at ${this.url} answered an index search with something other than entry UUIDs`,
      );
    }
    return [...new Set(json as string[])];
  }

  /**
   * The log's public key PEM (`GET /api/v1/log/publicKey`). Trusting it says nothing about the
   * log: only use it where the user asked to trust what the log serves.
   * @throws {CosignError} `TLOG_UNAVAILABLE`
   */
  async publicKey(): Promise<string> {
    const res = await this.#send("read the public key of", "GET", "/api/v1/log/publicKey");
    if (!res.ok) {
      await res.body?.cancel();
      throw new CosignError(
        "TLOG_UNAVAILABLE",
        `The transparency log ${this.url} failed to return its public key: HTTP ${res.status}`,
      );
    }
    return await res.text();
  }
}

/** cosign's `verifyUUID`: the entry's UUID must be the RFC 6962 leaf hash of its body. */
function checkLeafHash(entry: RekorEntry, rekorUrl: string): void {
  const body = fromBase64(entry.body);
  if (body === undefined || toHex(leafHash(body)) !== leafPart(entry.uuid)) {
    throw new CosignError(
      "TLOG_INVALID",
      `Rekor at ${rekorUrl} sent entry ${entry.uuid} whose body does not hash to its UUID`,
    );
  }
}
