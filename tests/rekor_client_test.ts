/**
 * RekorClient (lib/tlog/rekor.ts) against the loopback Rekor: dsse and intoto proposed entries,
 * 409 for an identical entry answered with the stored one, look-ups by UUID (64 and 80 hex), by
 * log index and by hash, clear errors for unknown entries and malformed input, and refusal of an
 * answer that is not the entry asked for (a lying log, through an injected fetch).
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { CosignError } from "../lib/errors.ts";
import {
  attestationEntry,
  dsseEntry,
  intotoEntry,
  RekorClient,
  type RekorEntry,
} from "../lib/tlog/rekor.ts";
import { startRekor } from "./harness/rekor.ts";
import { assert, assertEquals } from "./helpers.ts";

const enc = new TextEncoder();
const TYPE = "application/vnd.in-toto+json";
const SUBJECT = "5d".repeat(32);

/** A DSSE envelope as cosign writes it, over an in-toto statement naming `SUBJECT`. */
function envelope(): { bytes: Uint8Array; pem: string; payload: Uint8Array } {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const payload = enc.encode(JSON.stringify({
    _type: "https://in-toto.io/Statement/v0.1",
    subject: [{ name: "blob", digest: { sha256: SUBJECT } }],
    predicateType: "https://example.com/p",
    predicate: { n: Math.random() },
  }));
  const pae = new Uint8Array([
    ...enc.encode(`DSSEv1 ${TYPE.length} ${TYPE} ${payload.length} `),
    ...payload,
  ]);
  const sig = sign("sha256", pae, privateKey).toString("base64");
  const bytes = enc.encode(
    `{"payloadType":"${TYPE}","payload":"${payload.toBase64()}","signatures":[{"keyid":"","sig":"${sig}"}]}`,
  );
  return { bytes, pem: publicKey.export({ format: "pem", type: "spki" }).toString(), payload };
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data))).toHex();
}

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof CosignError, `a CosignError, got ${String(e)}`);
    assertEquals(e.code, code, e.message);
    assert(re.test(e.message), `${e.message} does not match ${re}`);
    assert(!e.message.includes("\n"), "one line");
    return;
  }
  throw new Error(`expected ${code}`);
}

Deno.test("RekorClient: proposed dsse 0.0.1 and intoto 0.0.2 entries have cosign's shape", async () => {
  const e = envelope();
  const dsse = dsseEntry(e.bytes, e.pem) as {
    spec: { proposedContent: { envelope: string; verifiers: string[] } };
  };
  assertEquals(Object.keys(dsse), ["apiVersion", "kind", "spec"]);
  assertEquals(dsse.spec.proposedContent.envelope, new TextDecoder().decode(e.bytes));
  assertEquals(dsse.spec.proposedContent.verifiers, [enc.encode(e.pem).toBase64()]);
  const env = JSON.parse(new TextDecoder().decode(e.bytes));
  const intoto = intotoEntry(e.bytes, e.pem);
  assertEquals(intoto, {
    apiVersion: "0.0.2",
    kind: "intoto",
    spec: {
      content: {
        envelope: {
          payload: enc.encode(env.payload).toBase64(),
          payloadType: TYPE,
          signatures: [{
            sig: enc.encode(env.signatures[0].sig).toBase64(),
            publicKey: enc.encode(e.pem).toBase64(),
          }],
        },
        hash: { algorithm: "sha256", value: await sha256Hex(e.bytes) },
      },
    },
  });
  assertEquals(attestationEntry("dsse", e.bytes, e.pem), dsse);
  assertEquals(attestationEntry("intoto", e.bytes, e.pem), intoto);
  try {
    intotoEntry(enc.encode('{"payloadType":"x"}'), e.pem);
    throw new Error("expected DSSE_INVALID");
  } catch (err) {
    assert(err instanceof CosignError && err.code === "DSSE_INVALID", String(err));
  }
});

Deno.test("RekorClient: upload, 409 → the stored entry, get by UUID and index, search by hash", async () => {
  await using rekor = await startRekor();
  const client = new RekorClient(rekor.url + "/");
  try {
    const e = envelope();
    const intoto = await client.upload(intotoEntry(e.bytes, e.pem));
    const dsse = await client.upload(dsseEntry(e.bytes, e.pem));
    assert(intoto.uuid !== dsse.uuid, "two entries");
    assertEquals(
      (JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(intoto.body))) as {
        spec: { content: { hash: { value: string } } };
      }).spec.content.hash.value,
      await sha256Hex(e.bytes),
    );
    // The same entry again: Rekor answers 409 with a Location; the client returns that entry.
    const again = await client.upload(dsseEntry(e.bytes, e.pem));
    assertEquals(again, dsse);
    assertEquals(rekor.requests.at(-2)!.method, "POST");
    assertEquals(rekor.requests.at(-1)!.path, `/api/v1/log/entries/${dsse.uuid}`);

    const same = (a: RekorEntry, b: RekorEntry) =>
      assertEquals([a.uuid, a.body, a.logIndex, a.integratedTime], [
        b.uuid,
        b.body,
        b.logIndex,
        b.integratedTime,
      ]);
    same(await client.getByUuid(dsse.uuid), dsse);
    same(await client.getByUuid(dsse.uuid.toUpperCase()), dsse);
    const entryId = `${"0".repeat(15)}7${dsse.uuid}`;
    assertEquals((await client.getByUuid(entryId)).logIndex, dsse.logIndex);
    same(await client.getByIndex(dsse.logIndex), dsse);
    same(await client.getByIndex(intoto.logIndex), intoto);

    // Search: the payload hash and the in-toto subject find both; the envelope hash only dsse.
    const byPayload = await client.searchByHash(await sha256Hex(e.payload));
    assertEquals(byPayload.sort(), [dsse.uuid, intoto.uuid].sort());
    assertEquals((await client.searchByHash(SUBJECT.toUpperCase())).length, 2);
    assertEquals(await client.searchByHash(await sha256Hex(e.bytes)), [dsse.uuid]);
    assertEquals(await client.searchByHash("ef".repeat(32)), []);

    await rejects(
      client.getByUuid("ab".repeat(32)),
      "TLOG_ENTRY_NOT_FOUND",
      new RegExp(`No entry with UUID ${"ab".repeat(32)} in the transparency log ${rekor.url}$`),
    );
    await rejects(
      client.getByIndex(10_000_001),
      "TLOG_ENTRY_NOT_FOUND",
      /No entry at log index 10000001 in the transparency log/,
    );
    await rejects(client.getByUuid("xyz"), "USAGE", /expected 64 or 80 hex digits/);
    await rejects(client.getByIndex(-1), "USAGE", /non-negative integer/);
    await rejects(client.searchByHash("abc"), "USAGE", /64 hex digits/);
    assertEquals(await client.publicKey(), rekor.publicKeyPem);
  } finally {
    client.close();
  }
});

Deno.test("RekorClient: an answer that is not the entry asked for is refused", async () => {
  await using rekor = await startRekor();
  const honest = new RekorClient(rekor.url);
  const e = envelope();
  const a = await honest.upload(dsseEntry(e.bytes, e.pem));
  const b = await honest.upload(intotoEntry(e.bytes, e.pem));
  honest.close();
  const raw = (uuid: string, entry: RekorEntry) => ({
    [uuid]: {
      body: entry.body,
      integratedTime: entry.integratedTime,
      logID: entry.logID,
      logIndex: entry.logIndex,
      verification: { signedEntryTimestamp: entry.signedEntryTimestamp },
    },
  });
  // A log that answers every look-up with `answer`.
  const lying = (answer: unknown, status = 200) =>
    new RekorClient(rekor.url, {
      fetch: () =>
        Promise.resolve(
          new Response(typeof answer === "string" ? answer : JSON.stringify(answer), { status }),
        ),
      retry: { maxAttempts: 1 },
    });
  const checks: [RekorClient, Promise<unknown>, string, RegExp][] = [];
  const add = (c: RekorClient, f: (c: RekorClient) => Promise<unknown>, code: string, re: RegExp) =>
    checks.push([c, f(c), code, re]);
  add(
    lying(raw(b.uuid, b)),
    (c) => c.getByUuid(a.uuid),
    "TLOG_INVALID",
    /answered a request for entry .* with entry/,
  );
  add(
    lying(raw(a.uuid, b)),
    (c) => c.getByUuid(a.uuid),
    "TLOG_INVALID",
    /does not hash to its UUID/,
  );
  add(
    lying(raw(b.uuid, b)),
    (c) => c.getByIndex(a.logIndex === b.logIndex ? a.logIndex + 1 : a.logIndex),
    "TLOG_INVALID",
    /answered a request for log index \d+ with index/,
  );
  add(lying({ not: "a list" }), (c) => c.searchByHash(SUBJECT), "TLOG_INVALID", /entry UUIDs/);
  add(lying(["nope"]), (c) => c.searchByHash(SUBJECT), "TLOG_INVALID", /entry UUIDs/);
  add(lying("<html>", 200), (c) => c.getByUuid(a.uuid), "TLOG_INVALID", /not JSON/);
  add(
    lying("boom", 400),
    (c) => c.searchByHash(SUBJECT),
    "TLOG_UNAVAILABLE",
    /failed to search its index: HTTP 400 boom/,
  );
  add(
    lying("down", 503),
    (c) => c.getByUuid(a.uuid),
    "TLOG_UNAVAILABLE",
    /Cannot read the transparency log .*HTTP 503/,
  );
  for (const [c, p, code, re] of checks) {
    try {
      await rejects(p, code, re);
    } finally {
      c.close();
    }
  }
  // Control: the null answer Rekor may give for "no match" is an empty list.
  const none = lying(null);
  assertEquals(await none.searchByHash(SUBJECT), []);
  none.close();
});
