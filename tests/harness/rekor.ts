/**
 * A local fake Rekor v1 log: `rekorHandler(initializeTLog(url, keyPair))` from
 * `npm:@sigstore/mock` served by `Deno.serve` on 127.0.0.1 with a free port, plus a
 * `trusted_root.json` listing the log, for tests of tlog upload and SET verification.
 *
 * What the mock does (0.13.0) — and does not:
 * - `POST /api/v1/log/entries` with any JSON → 201, `{<uuid>: {body, integratedTime, logID,
 *   logIndex, verification: {inclusionProof, signedEntryTimestamp}}}` (see {@link MockLogEntry}).
 *   It does **not** validate the proposed entry (any JSON object is "logged"); invalid JSON → 400
 *   with the parser's message as a plain-text body.
 * - `body` = base64 of the RFC 8785 canonical JSON of the proposed entry **exactly as sent** (no
 *   Rekor-style canonicalization: the PEM is not re-encoded, unknown fields are kept).
 * - `logIndex` is random in [0, 10 000 000), `uuid` is 64 random hex digits (**not** the RFC 6962
 *   leaf hash of the body, unlike real Rekor), `logID` = hex SHA-256 of the PKIX DER key.
 * - The SET is DER ECDSA P-256/SHA-256 over JCS `{body, integratedTime, logID, logIndex}`.
 * - The inclusion proof pretends the entry is alone in a fresh tree: `logIndex` 0, `treeSize` 1,
 *   `hashes` [], `rootHash` = hex leaf hash of the body, and a checkpoint signed by the log key
 *   (origin `127.0.0.1:PORT - <random tree ID>`, key hint = first 4 bytes of the log ID).
 * - Nothing is stored: no `GET /api/v1/log/entries/{uuid}`, no `?logIndex=`, no `/retrieve`, no
 *   409 on duplicates (each POST gets a new random index). This harness answers those with 404;
 *   it additionally serves `GET /api/v1/log/publicKey` (the PEM), like real Rekor.
 *
 * Use with `await using rekor = await startRekor()`.
 * @module
 */

import { generateKeyPairSync } from "node:crypto";
import { initializeTLog, rekorHandler } from "@sigstore/mock";

/** The path of Rekor v1's entry-creation endpoint. */
export const REKOR_ENTRIES_PATH = "/api/v1/log/entries";

/** One entry of the mock's `POST /api/v1/log/entries` answer (keyed by a random UUID). */
export interface MockLogEntry {
  /** Base64 of the JCS of the proposed entry as sent. */
  body: string;
  /** Unix seconds. */
  integratedTime: number;
  /** Hex SHA-256 of the log's PKIX DER key. */
  logID: string;
  /** Random global index. */
  logIndex: number;
  verification: {
    /** Base64 DER ECDSA signature. */
    signedEntryTimestamp: string;
    inclusionProof?: {
      logIndex: number;
      treeSize: number;
      /** Hex. */
      rootHash: string;
      /** Hex (always empty: the tree has one leaf). */
      hashes: string[];
      /** Signed-note text. */
      checkpoint: string;
    };
  };
}

/** One request the fake Rekor received. */
export interface RekorRequest {
  method: string;
  /** Path with query. */
  path: string;
  /** The body as text ("" when none). */
  body: string;
}

/** A running fake Rekor. */
export interface Rekor extends AsyncDisposable {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** The log's ECDSA P-256 public key (PKIX PEM). */
  publicKeyPem: string;
  /** Hex SHA-256 of the key's PKIX DER (the Rekor v1 log ID). */
  logIdHex: string;
  /** A `trusted_root.json` listing this log (and nothing else); removed on stop. */
  trustedRootPath: string;
  /** Every request received, in order. */
  requests: RekorRequest[];
  /** Shuts the server down and removes the temporary folder. Idempotent. */
  stop(): Promise<void>;
}

/** The log key's validity start written to the trusted root. */
export const REKOR_VALID_FROM = "2020-01-01T00:00:00Z";

/** Starts a fake Rekor; see the module documentation. */
export async function startRekor(): Promise<Rekor> {
  const requests: RekorRequest[] = [];
  const keyPair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = new Uint8Array(keyPair.publicKey.export({ format: "der", type: "spki" }));
  const publicKeyPem = keyPair.publicKey.export({ format: "pem", type: "spki" }).toString();
  const logId = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  const logIdHex = logId.toHex();

  let handler: ReturnType<typeof rekorHandler> | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const body = req.body ? await req.text() : "";
    requests.push({ method: req.method, path: u.pathname + u.search, body });
    if (u.pathname === "/api/v1/log/publicKey" && req.method === "GET") {
      return new Response(publicKeyPem, { headers: { "content-type": "application/x-pem-file" } });
    }
    if (u.pathname !== REKOR_ENTRIES_PATH || handler === undefined) {
      return new Response("not found\n", { status: 404 });
    }
    if (req.method !== "POST") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "POST" } });
    }
    const r = await handler.fn(body);
    const payload = typeof r.response === "string" ? r.response : new Uint8Array(
      r.response.buffer,
      r.response.byteOffset,
      r.response.byteLength,
    );
    return new Response(payload, {
      status: r.statusCode,
      headers: { "content-type": r.contentType ?? "text/plain; charset=utf-8" },
    });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  let rootDir: string | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await server.shutdown();
      if (rootDir !== undefined) await Deno.remove(rootDir, { recursive: true }).catch(() => {});
    })();
  try {
    handler = rekorHandler(await initializeTLog(url, keyPair));
    rootDir = await Deno.makeTempDir({ prefix: "cosign-rekor-" });
    const trustedRootPath = `${rootDir}/trusted_root.json`;
    const trustedRoot = {
      mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
      tlogs: [{
        baseUrl: url,
        hashAlgorithm: "SHA2_256",
        publicKey: {
          rawBytes: der.toBase64(),
          keyDetails: "PKIX_ECDSA_P256_SHA_256",
          validFor: { start: REKOR_VALID_FROM },
        },
        logId: { keyId: logId.toBase64() },
      }],
      certificateAuthorities: [],
      ctlogs: [],
      timestampAuthorities: [],
    };
    await Deno.writeTextFile(trustedRootPath, JSON.stringify(trustedRoot, null, 2) + "\n");
    return {
      url,
      publicKeyPem,
      logIdHex,
      trustedRootPath,
      requests,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
