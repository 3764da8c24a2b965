/**
 * A TUF repository on loopback, built with `npm:@tufjs/models` (the models tuf-js itself uses):
 * consistent snapshots (`N.root.json`, `N.snapshot.json`, `N.targets.json`,
 * `targets/<sha256>.<name>`), Ed25519 keys, root and targets thresholds of 2, root rotation,
 * and hooks to serve hostile variants. Every request is counted.
 * @module
 */

import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
// deno-lint-ignore no-import-prefix
import { Metadata, MetadataKind, Signature } from "npm:@tufjs/models@5.0.2";

/** An Ed25519 signing key with its TUF key ID. */
export interface TufKey {
  id: string;
  publicHex: string;
  privateKey: KeyObject;
}

/** A new Ed25519 key. */
export function newTufKey(): TufKey {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" });
  const publicHex = Uint8Array.fromBase64(jwk.x!, { alphabet: "base64url" }).toHex();
  const id = createHash("sha256").update(publicHex).digest("hex");
  return { id, publicHex, privateKey };
}

function keyJson(k: TufKey): Record<string, unknown> {
  return { keytype: "ed25519", scheme: "ed25519", keyval: { public: k.publicHex } };
}

const enc = new TextEncoder();

/** Signs `signed` (a TUF role body) with `keys`, giving the metadata file's bytes. */
export function signMetadata(
  kind: "root" | "timestamp" | "snapshot" | "targets",
  signed: Record<string, unknown>,
  keys: TufKey[],
): Uint8Array {
  const kinds = {
    root: MetadataKind.Root,
    timestamp: MetadataKind.Timestamp,
    snapshot: MetadataKind.Snapshot,
    targets: MetadataKind.Targets,
  } as const;
  // deno-lint-ignore no-explicit-any
  const md = Metadata.fromJSON(kinds[kind] as any, { signed, signatures: [] } as any);
  for (const k of keys) {
    md.sign(
      (data: Uint8Array) =>
        new Signature({ keyID: k.id, sig: sign(null, data, k.privateKey).toString("hex") }),
      true,
    );
  }
  return enc.encode(JSON.stringify(md.toJSON()));
}

function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** ISO time `days` from now, without milliseconds. */
export function inDays(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
}

/** ISO time `seconds` from now, without milliseconds (rounded down). */
export function inSeconds(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

/** A TUF repository in memory. */
export class TufRepo {
  rootKeys: TufKey[] = [newTufKey(), newTufKey(), newTufKey()];
  rootThreshold = 2;
  targetsKeys: TufKey[] = [newTufKey(), newTufKey()];
  snapshotKey: TufKey = newTufKey();
  timestampKey: TufKey = newTufKey();
  rootVersion = 0;
  targetsVersion = 0;
  snapshotVersion = 0;
  timestampVersion = 0;
  /** Files served, by path (no leading slash). */
  files: Map<string, Uint8Array> = new Map();
  targets: Record<string, Uint8Array> = {};
  /** The first root, for clients to start from. */
  initialRoot: Uint8Array = new Uint8Array();

  constructor(targets: Record<string, Uint8Array>) {
    this.targets = targets;
    this.publishRoot(this.rootKeys);
    this.initialRoot = this.files.get("1.root.json")!;
    this.publishTargets();
  }

  rootSigned(version: number): Record<string, unknown> {
    const keys: Record<string, unknown> = {};
    for (const k of [...this.rootKeys, ...this.targetsKeys, this.snapshotKey, this.timestampKey]) {
      keys[k.id] = keyJson(k);
    }
    return {
      _type: "root",
      spec_version: "1.0.31",
      version,
      expires: inDays(365),
      consistent_snapshot: true,
      keys,
      roles: {
        root: { keyids: this.rootKeys.map((k) => k.id), threshold: this.rootThreshold },
        targets: { keyids: this.targetsKeys.map((k) => k.id), threshold: 2 },
        snapshot: { keyids: [this.snapshotKey.id], threshold: 1 },
        timestamp: { keyids: [this.timestampKey.id], threshold: 1 },
      },
    };
  }

  /** Publishes the next root version signed by `signers` (old and new root keys). */
  publishRoot(signers: TufKey[], edit?: (signed: Record<string, unknown>) => void): Uint8Array {
    this.rootVersion++;
    const signed = this.rootSigned(this.rootVersion);
    edit?.(signed);
    const bytes = signMetadata("root", signed, signers);
    this.files.set(`${this.rootVersion}.root.json`, bytes);
    this.files.set("root.json", bytes);
    return bytes;
  }

  /** Rotates the root keys: the new root is signed by `oldSigners` and all new keys. */
  rotateRoot(oldSigners: TufKey[] = this.rootKeys): void {
    this.rootKeys = [newTufKey(), newTufKey(), newTufKey()];
    this.publishRoot([...oldSigners, ...this.rootKeys]);
  }

  /** Publishes targets, snapshot and timestamp (new versions). */
  publishTargets(
    opts: {
      timestampExpires?: string;
      targetBytes?: Record<string, Uint8Array>;
      snapshotVersion?: number;
      /** Lengths to claim in targets.json instead of the real ones. */
      targetLengths?: Record<string, number>;
      /** Also record targets.json's length and sha256 in the snapshot's meta. */
      snapshotHashes?: boolean;
    } = {},
  ): void {
    this.targetsVersion++;
    const targets: Record<string, unknown> = {};
    for (const [name, bytes] of Object.entries(this.targets)) {
      const hash = sha256Hex(bytes);
      targets[name] = {
        length: opts.targetLengths?.[name] ?? bytes.length,
        hashes: { sha256: hash },
      };
      this.files.set(`targets/${hash}.${name}`, opts.targetBytes?.[name] ?? bytes);
    }
    const t = signMetadata("targets", {
      _type: "targets",
      spec_version: "1.0.31",
      version: this.targetsVersion,
      expires: inDays(90),
      targets,
    }, this.targetsKeys);
    this.files.set(`${this.targetsVersion}.targets.json`, t);
    this.snapshotVersion = opts.snapshotVersion ?? this.snapshotVersion + 1;
    const s = signMetadata("snapshot", {
      _type: "snapshot",
      spec_version: "1.0.31",
      version: this.snapshotVersion,
      expires: inDays(30),
      meta: {
        "targets.json": opts.snapshotHashes
          ? { version: this.targetsVersion, length: t.length, hashes: { sha256: sha256Hex(t) } }
          : { version: this.targetsVersion },
      },
    }, [this.snapshotKey]);
    this.files.set(`${this.snapshotVersion}.snapshot.json`, s);
    this.publishTimestamp(opts.timestampExpires);
  }

  /** Publishes a new timestamp for the current snapshot. */
  publishTimestamp(expires = inDays(1)): void {
    this.timestampVersion++;
    const s = this.files.get(`${this.snapshotVersion}.snapshot.json`)!;
    this.files.set(
      "timestamp.json",
      signMetadata("timestamp", {
        _type: "timestamp",
        spec_version: "1.0.31",
        version: this.timestampVersion,
        expires,
        meta: {
          "snapshot.json": {
            version: this.snapshotVersion,
            length: s.length,
            hashes: { sha256: sha256Hex(s) },
          },
        },
      }, [this.timestampKey]),
    );
  }
}

/** A TUF repository served on 127.0.0.1. */
export interface TufServer extends AsyncDisposable {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  stop(): Promise<void>;
}

/** Serves `repo.files` (read at each request, so tests may change them). */
export function serveTuf(repo: TufRepo): TufServer {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname.replace(/^\/+/, "");
    requests.push(path);
    const body = repo.files.get(path);
    return body
      ? new Response(body.slice(), { headers: { "content-type": "application/json" } })
      : new Response("not found", { status: 404 });
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
