/**
 * Tests of the fake Rekor harness: it starts and stops, answers a hashedrekord entry with a
 * Rekor v1 LogEntry, and our own tlog code (SET, Merkle proof, checkpoint) accepts what it signs;
 * dsse and intoto entries are canonicalized as Rekor stores them; entries can be looked up by
 * UUID, log index and hash; an identical entry gets 409.
 */

import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { assert, assertEquals } from "../helpers.ts";
import {
  type MockLogEntry,
  type Rekor,
  REKOR_ENTRIES_PATH,
  REKOR_INDEX_PATH,
  startRekor,
} from "./rekor.ts";
import { findTlog, parseTrustedRoot, type TrustedRoot } from "../../lib/trust/trusted_root.ts";
import { setPayload, verifySet } from "../../lib/tlog/set.ts";
import { leafHash, verifyInclusion } from "../../lib/tlog/merkle.ts";
import { checkCheckpointMatchesProof, verifyCheckpoint } from "../../lib/tlog/checkpoint.ts";
import { canonicalize, type JsonValue } from "../../lib/tlog/canonical_json.ts";
import { CosignError } from "../../lib/errors.ts";

const enc = new TextEncoder();

/** A hashedrekord 0.0.1 proposed entry for `data`, signed with a fresh ECDSA key. */
function hashedRekord(data: string): Record<string, unknown> {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = publicKey.export({ format: "pem", type: "spki" }).toString();
  const sig = sign("sha256", enc.encode(data), privateKey);
  return {
    apiVersion: "0.0.1",
    kind: "hashedrekord",
    spec: {
      signature: {
        content: sig.toString("base64"),
        publicKey: { content: enc.encode(pem).toBase64() },
      },
      data: {
        hash: { algorithm: "sha256", value: createHash("sha256").update(data).digest("hex") },
      },
    },
  };
}

async function post(rekor: Rekor, entry: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(rekor.url + REKOR_ENTRIES_PATH, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(entry),
  });
  return { status: res.status, text: await res.text() };
}

/** Parses the 201 answer and checks it is `{uuid: LogEntry}` with the documented field types. */
function onlyEntry(text: string): { uuid: string; entry: MockLogEntry } {
  const json: unknown = JSON.parse(text);
  assert(typeof json === "object" && json !== null && !Array.isArray(json), "an object");
  const keys = Object.keys(json);
  assertEquals(keys.length, 1, "one entry");
  const uuid = keys[0]!;
  assert(/^[0-9a-f]{64}$/.test(uuid), `uuid ${uuid}`);
  const e = (json as Record<string, MockLogEntry>)[uuid]!;
  assertEquals(Object.keys(e).sort(), [
    "body",
    "integratedTime",
    "logID",
    "logIndex",
    "verification",
  ]);
  assert(typeof e.body === "string", "body");
  assert(Number.isSafeInteger(e.integratedTime), "integratedTime");
  assert(Number.isSafeInteger(e.logIndex) && e.logIndex >= 0, "logIndex");
  assert(/^[0-9a-f]{64}$/.test(e.logID), "logID");
  assert(typeof e.verification.signedEntryTimestamp === "string", "SET");
  return { uuid, entry: e };
}

function toSetEntry(e: MockLogEntry) {
  return {
    body: Uint8Array.fromBase64(e.body),
    integratedTime: e.integratedTime,
    logIndex: e.logIndex,
    logId: Uint8Array.fromHex(e.logID),
    signedEntryTimestamp: Uint8Array.fromBase64(e.verification.signedEntryTimestamp),
  };
}

async function loadRoot(rekor: Rekor): Promise<TrustedRoot> {
  return parseTrustedRoot(await Deno.readTextFile(rekor.trustedRootPath));
}

function assertThrowsCode(fn: () => unknown, code: string, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert(e instanceof CosignError, `expected a CosignError, got ${String(e)}`);
    assertEquals(e.code, code);
    assert(pattern.test(e.message), `message ${e.message} does not match ${pattern}`);
    return;
  }
  throw new Error("expected an error");
}

Deno.test("rekor: starts on 127.0.0.1, writes a trusted root, stops and frees the port", async () => {
  const rekor = await startRekor();
  const port = Number(new URL(rekor.url).port);
  assert(/^http:\/\/127\.0\.0\.1:\d+$/.test(rekor.url) && port > 0, rekor.url);
  assert(rekor.publicKeyPem.startsWith("-----BEGIN PUBLIC KEY-----\n"), "PEM");

  const root = await loadRoot(rekor);
  assertEquals(root.tlogs.length, 1);
  const log = findTlog(root, rekor.logIdHex, new Date());
  assertEquals(log.baseUrl, rekor.url);
  assertEquals(log.hashAlgorithm, "SHA2_256");
  assertEquals(log.keyDetails, "PKIX_ECDSA_P256_SHA_256");
  assertEquals(log.logIdHex, rekor.logIdHex);
  const der = log.publicKey.export({ format: "der", type: "spki" });
  assertEquals(createHash("sha256").update(der).digest("hex"), rekor.logIdHex);
  assertEquals(log.publicKey.export({ format: "pem", type: "spki" }), rekor.publicKeyPem);

  const pk = await fetch(rekor.url + "/api/v1/log/publicKey");
  assertEquals(pk.status, 200);
  assertEquals(await pk.text(), rekor.publicKeyPem);
  const missing = await fetch(rekor.url + REKOR_ENTRIES_PATH + "/" + "0".repeat(64));
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
  const get = await fetch(rekor.url + REKOR_ENTRIES_PATH);
  assertEquals(get.status, 400, "GET without logIndex");
  await get.body?.cancel();
  assertEquals(rekor.requests.map((r) => `${r.method} ${r.path}`), [
    "GET /api/v1/log/publicKey",
    `GET ${REKOR_ENTRIES_PATH}/${"0".repeat(64)}`,
    `GET ${REKOR_ENTRIES_PATH}`,
  ]);

  await rekor.stop();
  await rekor.stop(); // idempotent
  const dirGone = await Deno.stat(rekor.trustedRootPath).then(() => false, () => true);
  assert(dirGone, "trusted root removed");
  const l = Deno.listen({ hostname: "127.0.0.1", port });
  l.close();
});

Deno.test("rekor: a hashedrekord entry gets 201 and a LogEntry whose SET our verifySet accepts", async () => {
  await using rekor = await startRekor();
  const root = await loadRoot(rekor);
  const proposed = hashedRekord("hello rekor");
  const before = Math.floor(Date.now() / 1000);
  const res = await post(rekor, proposed);
  assertEquals(res.status, 201, res.text);
  const { entry } = onlyEntry(res.text);

  // Request log.
  assertEquals(rekor.requests.length, 1);
  assertEquals(rekor.requests[0]!.method, "POST");
  assertEquals(rekor.requests[0]!.path, REKOR_ENTRIES_PATH);
  assertEquals(rekor.requests[0]!.body, JSON.stringify(proposed));

  // body = JCS of the proposed entry as sent; logID = the log's ID; time = now.
  const body = new TextDecoder().decode(Uint8Array.fromBase64(entry.body));
  assert(body.startsWith('{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":'), body);
  assertEquals(body, canonicalize(proposed as JsonValue));
  assertEquals(entry.logID, rekor.logIdHex);
  assert(
    entry.integratedTime >= before && entry.integratedTime <= Date.now() / 1000 + 1,
    "integratedTime is now",
  );

  // The SET verifies with our code against the trusted root the harness wrote.
  const setEntry = toSetEntry(entry);
  const log = verifySet(setEntry, root);
  assertEquals(log.baseUrl, rekor.url);
  assertEquals(
    new TextDecoder().decode(setPayload(setEntry)),
    `{"body":"${entry.body}","integratedTime":${entry.integratedTime},"logID":"${entry.logID}",` +
      `"logIndex":${entry.logIndex}}`,
  );

  // ...and is bound to every field.
  assertThrowsCode(
    () => verifySet({ ...setEntry, logIndex: entry.logIndex + 1 }, root),
    "TLOG_INVALID",
    /does not verify/,
  );
  assertThrowsCode(
    () => verifySet({ ...setEntry, integratedTime: entry.integratedTime + 1 }, root),
    "TLOG_INVALID",
    /does not verify/,
  );
  assertThrowsCode(
    () => verifySet({ ...setEntry, body: enc.encode(body.replace("0.0.1", "0.0.2")) }, root),
    "TLOG_INVALID",
    /does not verify/,
  );
  // Another log's trusted root does not know this log ID.
  await using other = await startRekor();
  assertThrowsCode(
    () => verifySet(setEntry, parseTrustedRoot(Deno.readTextFileSync(other.trustedRootPath))),
    "TLOG_UNTRUSTED",
    /not in the trusted root/,
  );
});

Deno.test("rekor: the inclusion proof and checkpoint verify with our Merkle and checkpoint code", async () => {
  await using rekor = await startRekor();
  const root = await loadRoot(rekor);
  const { uuid, entry } = onlyEntry((await post(rekor, hashedRekord("proof"))).text);
  const proof = entry.verification.inclusionProof;
  assert(proof !== undefined, "the mock returns an inclusion proof");
  // A one-leaf tree: shard index 0, size 1, no hashes, root = leaf hash of the body.
  assertEquals(proof.logIndex, 0);
  assertEquals(proof.treeSize, 1);
  assertEquals(proof.hashes, []);
  const leaf = leafHash(Uint8Array.fromBase64(entry.body));
  assertEquals(proof.rootHash, leaf.toHex());
  verifyInclusion(
    leaf,
    proof.logIndex,
    proof.treeSize,
    proof.hashes.map((h) => Uint8Array.fromHex(h)),
    Uint8Array.fromHex(proof.rootHash),
  );
  // As in real Rekor, the UUID is the leaf hash (the harness replaces the mock's random one).
  assertEquals(uuid, leaf.toHex());

  const log = findTlog(root, entry.logID);
  const cp = verifyCheckpoint(proof.checkpoint, log);
  assert(cp.origin.startsWith(`${new URL(rekor.url).host} - `), cp.origin);
  assertEquals(cp.otherContent, [`Timestamp: ${entry.integratedTime * 1_000_000_000}`]);
  checkCheckpointMatchesProof(cp, {
    treeSize: proof.treeSize,
    rootHash: Uint8Array.fromHex(proof.rootHash),
  });
});

Deno.test("rekor: invalid JSON is 400; an identical entry is 409 pointing at the stored one", async () => {
  await using rekor = await startRekor();
  const bad = await fetch(rekor.url + REKOR_ENTRIES_PATH, { method: "POST", body: "nope" });
  assertEquals(bad.status, 400);
  assert((await bad.text()).includes("JSON"), "parser message");
  const proposed = hashedRekord("twice");
  const a = onlyEntry((await post(rekor, proposed)).text);
  const res = await fetch(rekor.url + REKOR_ENTRIES_PATH, {
    method: "POST",
    body: JSON.stringify(proposed),
  });
  assertEquals(res.status, 409, "a duplicate");
  assertEquals(res.headers.get("location"), `${REKOR_ENTRIES_PATH}/${a.uuid}`);
  assertEquals((await res.json()).code, 409);
  const again = await fetch(rekor.url + res.headers.get("location")!);
  assertEquals(onlyEntry(await again.text()), a);
  verifySet(toSetEntry(a.entry), await loadRoot(rekor));
  assertEquals(rekor.entries.size, 1);
});

/** A DSSE envelope JSON signed over PAE with a fresh key (or `key`). */
function dsseEnvelope(
  statement: unknown,
  key = generateKeyPairSync("ec", { namedCurve: "P-256" }),
) {
  const payload = enc.encode(JSON.stringify(statement));
  const type = "application/vnd.in-toto+json";
  const pae = enc.encode(`DSSEv1 ${type.length} ${type} ${payload.length} ${dec.decode(payload)}`);
  const sig = sign("sha256", pae, key.privateKey).toString("base64");
  const text = `{"payloadType":"${type}","payload":"${payload.toBase64()}",` +
    `"signatures":[{"keyid":"","sig":"${sig}"}]}`;
  const pem = key.publicKey.export({ format: "pem", type: "spki" }).toString();
  return { text, sig, payload, pem, key };
}

const dec = new TextDecoder();
const sha256 = (d: Uint8Array | string) => createHash("sha256").update(d).digest("hex");
const SUBJECT = "ab".repeat(32);
const STATEMENT = {
  _type: "https://in-toto.io/Statement/v0.1",
  subject: [{ name: "x", digest: { sha256: SUBJECT } }],
  predicateType: "https://example.com/p",
  predicate: {},
};

Deno.test("rekor: dsse 0.0.1 is stored as Rekor's canonical body and found by its hashes", async () => {
  await using rekor = await startRekor();
  const e = dsseEnvelope(STATEMENT);
  const proposed = {
    apiVersion: "0.0.1",
    kind: "dsse",
    spec: {
      proposedContent: { envelope: e.text, verifiers: [enc.encode(e.pem).toBase64()] },
    },
  };
  const res = await post(rekor, proposed);
  assertEquals(res.status, 201, res.text);
  const { uuid, entry } = onlyEntry(res.text);
  const body = JSON.parse(dec.decode(Uint8Array.fromBase64(entry.body)));
  assertEquals(body, {
    apiVersion: "0.0.1",
    kind: "dsse",
    spec: {
      envelopeHash: { algorithm: "sha256", value: sha256(e.text) },
      payloadHash: { algorithm: "sha256", value: sha256(e.payload) },
      signatures: [{ signature: e.sig, verifier: enc.encode(e.pem).toBase64() }],
    },
  });
  assertEquals(dec.decode(Uint8Array.fromBase64(entry.body)), canonicalize(body));
  verifySet(toSetEntry(entry), await loadRoot(rekor));
  // Look-ups: by UUID (64 hex and an 80-hex EntryID), by log index, by each indexed hash.
  for (const path of [`/${uuid}`, `/${"0".repeat(15)}1${uuid}`, `?logIndex=${entry.logIndex}`]) {
    const r = await fetch(rekor.url + REKOR_ENTRIES_PATH + path);
    assertEquals(r.status, 200, path);
    assertEquals(onlyEntry(await r.text()).entry, entry);
  }
  const search = async (hash: string) => {
    const r = await fetch(rekor.url + REKOR_INDEX_PATH, {
      method: "POST",
      body: JSON.stringify({ hash }),
    });
    assertEquals(r.status, 200, hash);
    return await r.json();
  };
  assertEquals(await search(`sha256:${sha256(e.payload)}`), [uuid]);
  assertEquals(await search(`sha256:${sha256(e.text)}`), [uuid]);
  assertEquals(await search(`sha256:${SUBJECT}`), [uuid]);
  assertEquals(await search(SUBJECT.toUpperCase()), [uuid], "bare hex, any case");
  assertEquals(await search(`sha256:${"cd".repeat(32)}`), []);
  for (const path of [`/${"1".repeat(64)}`, "?logIndex=10000001"]) {
    const r = await fetch(rekor.url + REKOR_ENTRIES_PATH + path);
    assertEquals(r.status, 404, path);
    assertEquals((await r.json()).code, 404);
  }
  // A signature the verifier does not verify is refused, like Rekor does.
  const other = dsseEnvelope(STATEMENT);
  const forged = structuredClone(proposed);
  forged.spec.proposedContent.verifiers = [enc.encode(other.pem).toBase64()];
  const refused = await post(rekor, forged);
  assertEquals(refused.status, 400);
  assert(refused.text.includes("verifies"), refused.text);
});

Deno.test("rekor: intoto 0.0.2 is stored without the payload, with payloadHash", async () => {
  await using rekor = await startRekor();
  const e = dsseEnvelope(STATEMENT);
  const b64 = (s: string) => enc.encode(s).toBase64();
  const proposed = {
    apiVersion: "0.0.2",
    kind: "intoto",
    spec: {
      content: {
        envelope: {
          payload: b64(e.payload.toBase64()),
          payloadType: "application/vnd.in-toto+json",
          signatures: [{ sig: b64(e.sig), publicKey: b64(e.pem) }],
        },
        hash: { algorithm: "sha256", value: sha256(e.text) },
      },
    },
  };
  const res = await post(rekor, proposed);
  assertEquals(res.status, 201, res.text);
  const { uuid, entry } = onlyEntry(res.text);
  assertEquals(JSON.parse(dec.decode(Uint8Array.fromBase64(entry.body))), {
    apiVersion: "0.0.2",
    kind: "intoto",
    spec: {
      content: {
        envelope: {
          payloadType: "application/vnd.in-toto+json",
          signatures: [{ publicKey: b64(e.pem), sig: b64(e.sig) }],
        },
        hash: { algorithm: "sha256", value: sha256(e.text) },
        payloadHash: { algorithm: "sha256", value: sha256(e.payload) },
      },
    },
  });
  const r = await fetch(rekor.url + REKOR_INDEX_PATH, {
    method: "POST",
    body: JSON.stringify({ hash: `sha256:${SUBJECT}` }),
  });
  assertEquals(await r.json(), [uuid]);
  const bad = structuredClone(proposed);
  bad.spec.content.envelope.signatures[0]!.sig = b64(dsseEnvelope(STATEMENT).sig);
  assertEquals((await post(rekor, bad)).status, 400);
});
