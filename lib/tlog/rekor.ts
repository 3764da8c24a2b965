/**
 * A Rekor v1 client (cosign-spec §6.1–6.4): uploads `hashedrekord` entries and returns the log
 * entry as the server sent it. Requests go through the registry transport, so they get the
 * same retries, timeouts and User-Agent.
 * @module
 */

import { CosignError } from "../errors.ts";
import { toBase64, utf8 } from "../crypto/encoding.ts";
import { Transport, type TransportOptions } from "../oci/transport.ts";

/** The public-good Rekor instance, cosign's default `--rekor-url`. */
export const DEFAULT_REKOR_URL = "https://rekor.sigstore.dev";

/** A log entry as Rekor returns it. */
export interface RekorEntry {
  uuid: string;
  /** Base64 of the canonicalized entry body. */
  body: string;
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

/** The proposed `hashedrekord` 0.0.1 entry for a signature over a SHA-256 digest. */
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

/** Talks to one Rekor instance. */
export class RekorClient {
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

  /**
   * Uploads a proposed entry; an identical entry already in the log (409) is fetched instead.
   * @throws {CosignError} `TLOG_UNAVAILABLE` when the log refuses or cannot be reached
   */
  async upload(proposed: Record<string, unknown>): Promise<RekorEntry> {
    const body = JSON.stringify(proposed);
    let res: Response;
    try {
      res = await this.#transport.send({
        method: "POST",
        url: `${this.url}/api/v1/log/entries`,
        headers: { "content-type": "application/json", accept: "application/json" },
        body: () => body,
        expect: [409],
      });
    } catch (e) {
      if (!(e instanceof CosignError)) throw e;
      throw new CosignError(
        "TLOG_UNAVAILABLE",
        `Cannot upload to the transparency log ${this.url}: ${
          e.message.replace(/^(Cannot reach registry|Registry) \S+:? ?/, "")
        }`,
      );
    }
    if (res.status === 409) {
      await res.body?.cancel();
      const loc = res.headers.get("location");
      if (!loc) {
        throw new CosignError(
          "TLOG_UNAVAILABLE",
          `Rekor at ${this.url} answered 409 without a Location`,
        );
      }
      const again = await this.#transport.send({
        method: "GET",
        url: new URL(loc, this.url + "/").href,
        headers: { accept: "application/json" },
      });
      if (!again.ok) {
        await again.body?.cancel();
        throw new CosignError(
          "TLOG_UNAVAILABLE",
          `Rekor at ${this.url}: HTTP ${again.status} fetching the existing entry`,
        );
      }
      return parseEntries(await again.json(), this.url);
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
    return parseEntries(json, this.url);
  }
}
