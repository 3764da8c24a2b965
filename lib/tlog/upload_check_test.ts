import { generateKeyPairSync, sign } from "node:crypto";
import { assert, assertEquals } from "../../tests/helpers.ts";
import { startRekor } from "../../tests/harness/rekor.ts";
import { CosignError } from "../errors.ts";
import {
  dsseEntry,
  hashedRekordEntry,
  intotoEntry,
  RekorClient,
  type RekorEntry,
} from "./rekor.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { checkUploadedEntry } from "./upload_check.ts";

const enc = new TextEncoder();
const TYPE = "application/vnd.in-toto+json";

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { privateKey, pem: publicKey.export({ format: "pem", type: "spki" }).toString() };
}

/** A DSSE envelope over a small in-toto statement, signed by a fresh key. */
function envelope(n: number) {
  const k = keyPair();
  const payload = enc.encode(JSON.stringify({ _type: "https://in-toto.io/Statement/v1", n }));
  const pae = enc.encode(`DSSEv1 ${TYPE.length} ${TYPE} ${payload.length} `);
  const sig = sign("sha256", new Uint8Array([...pae, ...payload]), k.privateKey).toString("base64");
  return {
    bytes: enc.encode(
      `{"payloadType":"${TYPE}","payload":"${payload.toBase64()}","signatures":[{"keyid":"","sig":"${sig}"}]}`,
    ),
    pem: k.pem,
  };
}

function rejects(f: () => void, code: string, re: RegExp): void {
  try {
    f();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    assertEquals(e.code, code, e.message);
    assert(re.test(e.message), e.message);
    assert(!e.message.includes("\n"), "one line");
    return;
  }
  throw new Error(`expected ${code}`);
}

Deno.test("checkUploadedEntry: the entry must record the proposal and verify against the trust root", async () => {
  await using rekor = await startRekor();
  const root = parseTrustedRoot(await Deno.readTextFile(rekor.trustedRootPath));
  const client = new RekorClient(rekor.url);
  try {
    const k = keyPair();
    const digest = "ab".repeat(32);
    const sig = new Uint8Array(sign("sha256", Uint8Array.fromHex(digest), k.privateKey));
    const hashed = hashedRekordEntry(digest, sig, k.pem);
    const a = envelope(1), b = envelope(2);
    const entries: [Record<string, unknown>, RekorEntry][] = [];
    for (const proposed of [hashed, dsseEntry(a.bytes, a.pem), intotoEntry(a.bytes, a.pem)]) {
      entries.push([proposed, await client.upload(proposed, { trustedRoot: root })]);
    }
    const [[, hashedEntry], [dsse, dsseAnswer], [intoto, intotoAnswer]] = entries as [
      [Record<string, unknown>, RekorEntry],
      [Record<string, unknown>, RekorEntry],
      [Record<string, unknown>, RekorEntry],
    ];
    const check = (p: Record<string, unknown>, e: RekorEntry, trusted = true) => () =>
      checkUploadedEntry(p, e, rekor.url, trusted ? { trustedRoot: root } : {});

    // Another body: another digest, signature or key; another envelope or kind.
    const otherKey = keyPair();
    rejects(
      check(hashedRekordEntry("cd".repeat(32), sig, k.pem), hashedEntry, false),
      "TLOG_BODY_MISMATCH",
      /records another artifact digest/,
    );
    rejects(
      check(hashedRekordEntry(digest, sig.map((x) => x ^ 1), k.pem), hashedEntry, false),
      "TLOG_BODY_MISMATCH",
      /records another signature/,
    );
    rejects(
      check(hashedRekordEntry(digest, sig, otherKey.pem), hashedEntry, false),
      "TLOG_BODY_MISMATCH",
      /records another key/,
    );
    rejects(
      check(dsseEntry(b.bytes, b.pem), dsseAnswer, false),
      "TLOG_BODY_MISMATCH",
      /records another envelope/,
    );
    rejects(
      check(dsseEntry(a.bytes, otherKey.pem), dsseAnswer, false),
      "TLOG_BODY_MISMATCH",
      /records another key/,
    );
    rejects(
      check(intotoEntry(b.bytes, b.pem), intotoAnswer, false),
      "TLOG_BODY_MISMATCH",
      /records another envelope/,
    );
    rejects(
      check(intoto, dsseAnswer, false),
      "TLOG_BODY_MISMATCH",
      /records a dsse 0.0.1 entry, not intoto 0.0.2/,
    );
    rejects(
      check(dsse, { ...dsseAnswer, body: "not base64!" }, false),
      "TLOG_INVALID",
      /whose body is not base64 JSON/,
    );

    // With trust: the SET is required and must be the log's; the proof must lead to its root.
    check(dsse, dsseAnswer)();
    const { signedEntryTimestamp: _set, ...noSet } = dsseAnswer;
    check(dsse, noSet, false)();
    rejects(
      check(dsse, noSet),
      "TLOG_INVALID",
      /does not verify: no signed entry timestamp/,
    );
    rejects(
      check(dsse, { ...dsseAnswer, logID: "11".repeat(32) }),
      "TLOG_UNTRUSTED",
      /log ID 1111.* is not in the trusted root/,
    );
    rejects(
      check(dsse, { ...dsseAnswer, integratedTime: dsseAnswer.integratedTime + 1 }),
      "TLOG_INVALID",
      /does not verify: Signed entry timestamp does not verify/,
    );
    const proof = dsseAnswer.inclusionProof!;
    rejects(
      check(dsse, { ...dsseAnswer, inclusionProof: { ...proof, rootHash: "00".repeat(32) } }),
      "TLOG_INVALID",
      /Inclusion proof does not verify/,
    );
    const other = await startRekor();
    try {
      const otherRoot = parseTrustedRoot(await Deno.readTextFile(other.trustedRootPath));
      rejects(
        () => checkUploadedEntry(dsse, dsseAnswer, rekor.url, { trustedRoot: otherRoot }),
        "TLOG_UNTRUSTED",
        /not in the trusted root/,
      );
    } finally {
      await other.stop();
    }
  } finally {
    client.close();
  }
});

Deno.test("RekorClient.upload: a 409 is fetched from the log's own URL, never the Location's origin", async () => {
  await using rekor = await startRekor();
  const e = envelope(3);
  const honest = new RekorClient(rekor.url);
  const first = await honest.upload(dsseEntry(e.bytes, e.pem));
  honest.close();
  const hits: string[] = [];
  const foreign = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    hits.push(req.url);
    return new Response("{}");
  });
  const conflict = (location: string) =>
    new RekorClient(rekor.url, {
      fetch: (input, init) => {
        const url = input instanceof Request ? input.url : String(input);
        if (init?.method === "POST" || (input instanceof Request && input.method === "POST")) {
          return Promise.resolve(new Response("{}", { status: 409, headers: { location } }));
        }
        return fetch(url, init);
      },
      retry: { maxAttempts: 1 },
    });
  try {
    const c = conflict(`http://127.0.0.1:${foreign.addr.port}/api/v1/log/entries/${first.uuid}`);
    const again = await c.upload(dsseEntry(e.bytes, e.pem));
    c.close();
    assertEquals(again.uuid, first.uuid);
    assertEquals(hits, []);
    const bad = conflict("/api/v1/log/entries/not-a-uuid");
    try {
      await bad.upload(dsseEntry(e.bytes, e.pem));
      throw new Error("expected TLOG_INVALID");
    } catch (err) {
      assert(err instanceof CosignError && err.code === "TLOG_INVALID", String(err));
      assert(/409 without an entry UUID/.test(err.message), err.message);
    } finally {
      bad.close();
    }
  } finally {
    await foreign.shutdown();
  }
});
