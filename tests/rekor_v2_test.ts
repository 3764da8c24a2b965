/**
 * Rekor v2 uploads against the loopback Rekor v2 (tests/harness/rekor_v2.ts): a hashedrekord
 * 0.0.2 entry for a blob signature and a DSSE envelope (logged as a hashedrekord over its PAE),
 * written into v0.3 bundles and verified by our verifyBundle and by sigstore-js; the log's own
 * checks (400 for what rekor-tiles refuses); retries on 5xx; hostile answers refused.
 */

import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { CosignError } from "../lib/errors.ts";
import {
  type RekorV2Entry,
  rekorV2LeafHashHex,
  type RekorV2Request,
  uploadRekorV2,
} from "../lib/tlog/rekor_v2.ts";
import { bundleV03Json } from "../lib/cosign/bundle_writer.ts";
import { parseBundle } from "../lib/cosign/bundle.ts";
import { verifyBundle } from "../lib/cosign/verify_bundle.ts";
import { KeyVerifier } from "../lib/crypto/key_signer.ts";
import { parseTrustedRoot } from "../lib/trust/trusted_root.ts";
import { type RekorV2, signCheckpointNote, startRekorV2 } from "./harness/rekor_v2.ts";
import { createKeylessTrust } from "./harness/fulcio.ts";
import { assert, assertEquals, ROOT, tempDir } from "./helpers.ts";

const PEER_DIR = ROOT + ".bench-cache/sigstore-verify/";
const PEER_SCRIPT = `
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createPublicKey } from "node:crypto";
const require = createRequire(${JSON.stringify(PEER_DIR + "x.js")});
const { bundleFromJSON } = require("@sigstore/bundle");
const { TrustedRoot } = require("@sigstore/protobuf-specs");
const { toSignedEntity, toTrustMaterial, Verifier } = require("@sigstore/verify");
const [bundle, root, artifact, keyOrIdentity, issuer] = process.argv.slice(2);
const json = (p) => JSON.parse(readFileSync(p, "utf8"));
try {
  const keyless = issuer !== undefined;
  const keys = () => ({ publicKey: createPublicKey(readFileSync(keyOrIdentity, "utf8")), validFor: () => true });
  const trust = toTrustMaterial(TrustedRoot.fromJSON(json(root)), keys);
  const b = bundleFromJSON(json(bundle));
  const entity = toSignedEntity(b, b.content.$case === "dsseEnvelope" ? undefined : readFileSync(artifact));
  const verifier = new Verifier(trust, keyless ? {} : { ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(entity, keyless ? { subjectAlternativeName: keyOrIdentity, extensions: { issuer } } : undefined);
  process.stderr.write("Verified OK\\n");
} catch (e) {
  process.stderr.write("Error: " + (e && e.message || e) + "\\n");
  process.exitCode = 1;
}
`;

/** Verifies a bundle with sigstore-js (`@sigstore/verify` under Node). */
async function sigstoreJs(args: string[]): Promise<{ code: number; stderr: string }> {
  const script = PEER_DIR + "verify_rekor_v2.mjs";
  await Deno.writeTextFile(script, PEER_SCRIPT);
  const r = await new Deno.Command("node", {
    args: [script, ...args],
    stdout: "null",
    stderr: "piped",
  })
    .output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

const ARTIFACT = new TextEncoder().encode("hello rekor v2\n");

interface Key {
  privateKey: KeyObject;
  publicKey: KeyObject;
  pem: string;
}

function p256(): Key {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    privateKey,
    publicKey,
    pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
}

function blobRequest(key: Key, artifact = ARTIFACT): RekorV2Request & { type: "hashedrekord" } {
  return {
    type: "hashedrekord",
    digest: new Uint8Array(createHash("sha256").update(artifact).digest()),
    signature: new Uint8Array(sign("sha256", artifact, key.privateKey)),
    verifier: { publicKeyPem: key.pem },
  };
}

function pae(type: string, payload: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `),
    payload,
  ]);
}

function envelopeFor(key: Key, artifact = ARTIFACT): Uint8Array {
  const statement = {
    _type: "https://in-toto.io/Statement/v1",
    subject: [{
      name: "blob",
      digest: { sha256: createHash("sha256").update(artifact).digest("hex") },
    }],
    predicateType: "https://example.com/test/v1",
    predicate: {},
  };
  const payload = Buffer.from(JSON.stringify(statement));
  const type = "application/vnd.in-toto+json";
  const sig = sign("sha256", pae(type, payload), key.privateKey);
  return new TextEncoder().encode(JSON.stringify({
    payloadType: type,
    payload: payload.toString("base64"),
    signatures: [{ keyid: "", sig: sig.toString("base64") }],
  }));
}

async function expectError(p: Promise<unknown>, code: string, pattern: RegExp): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof CosignError, `expected a CosignError, got ${e}`);
    assertEquals(e.code, code, e.message);
    assert(pattern.test(e.message), `message ${JSON.stringify(e.message)} !~ ${pattern}`);
    assert(!e.message.includes("\n"), "one-line error");
    return e.message;
  }
  throw new Error(`expected ${code} ${pattern}, it succeeded`);
}

async function withLog(fn: (log: RekorV2, dir: string) => Promise<void>): Promise<void> {
  await using log = await startRekorV2();
  await using tmp = await tempDir();
  await fn(log, tmp.path);
}

function upload(log: RekorV2, request: RekorV2Request, trusted = true): Promise<RekorV2Entry> {
  return uploadRekorV2({
    url: log.url,
    trustedRoot: trusted ? parseTrustedRoot(log.trustedRoot()) : undefined,
    retryDelayMs: 10,
  }, request);
}

Deno.test("rekor v2: hashedrekord and DSSE entries, v0.3 bundles verified by ours and sigstore-js", async () => {
  await withLog(async (log, dir) => {
    const key = p256();
    const rootJson = log.trustedRoot();
    const root = parseTrustedRoot(rootJson);
    await Deno.writeTextFile(`${dir}/root.json`, JSON.stringify(rootJson));
    await Deno.writeTextFile(`${dir}/key.pem`, key.pem);
    await Deno.writeFile(`${dir}/blob`, ARTIFACT);
    // Some entries first, so that proofs have several hashes.
    for (let i = 0; i < 5; i++) {
      await upload(log, blobRequest(p256(), new TextEncoder().encode(`other ${i}`)));
    }

    const blob = blobRequest(key);
    const entry = await upload(log, blob);
    assertEquals(String(entry.logIndex), "5");
    assertEquals(entry.kindVersion, { kind: "hashedrekord", version: "0.0.2" });
    assertEquals(entry.integratedTime, 0);
    assertEquals(String(entry.inclusionProof.treeSize), "6");
    assert(entry.inclusionProof.hashes.length > 1, "a real audit path");
    assertEquals(Buffer.from(entry.logId).toString("hex"), Buffer.from(log.logId).toString("hex"));
    const sent = JSON.parse(log.requests.at(-1)!.body);
    assertEquals(Object.keys(sent), ["hashedRekordRequestV002"]);
    assertEquals(
      sent.hashedRekordRequestV002.signature.verifier.keyDetails,
      "PKIX_ECDSA_P256_SHA_256",
    );

    const text = bundleV03Json({
      content: {
        type: "messageSignature",
        digest: { algorithm: "sha256", bytes: blob.digest },
        signature: blob.signature,
      },
      verificationMaterial: { type: "publicKey", publicKeyPem: key.pem },
      tlogEntryV2: entry,
    });
    const tle = JSON.parse(text).verificationMaterial.tlogEntries[0];
    assertEquals(tle.kindVersion, { kind: "hashedrekord", version: "0.0.2" });
    assertEquals(tle.integratedTime, undefined);
    assertEquals(tle.inclusionPromise, undefined);
    assertEquals(tle.logIndex, "5");
    const result = await verifyBundle(
      parseBundle(text),
      { bytes: ARTIFACT },
      root,
      { key: new KeyVerifier(key.publicKey) },
    );
    assertEquals(result.tlogEntries[0]?.inclusionProofVerified, true);
    assertEquals(result.tlogEntries[0]?.kindVersion, "hashedrekord/0.0.2");
    await Deno.writeTextFile(`${dir}/blob.sigstore.json`, text);
    const peer = await sigstoreJs([
      `${dir}/blob.sigstore.json`,
      `${dir}/root.json`,
      `${dir}/blob`,
      `${dir}/key.pem`,
    ]);
    assertEquals(peer.code, 0, peer.stderr);

    assertEquals(
      rekorV2LeafHashHex(entry),
      createHash("sha256").update(Buffer.from([0])).update(log.entries[5]!).digest("hex"),
    );

    // Both verifiers need the proof and the log's checkpoint signature: tampered copies fail.
    const tampered = (edit: (tle: Record<string, Record<string, unknown>>) => void) => {
      const b = JSON.parse(text);
      edit(b.verificationMaterial.tlogEntries[0]);
      return JSON.stringify(b);
    };
    const stranger = generateKeyPairSync("ed25519").privateKey;
    const copies = [
      tampered((t) => {
        const h = t.inclusionProof!.hashes as string[];
        h[0] = Buffer.alloc(32, 7).toString("base64");
      }),
      tampered((t) => {
        const env = (t.inclusionProof!.checkpoint as { envelope: string }).envelope;
        const note = env.slice(0, env.lastIndexOf("\n\n") + 1);
        (t.inclusionProof!.checkpoint as { envelope: string }).envelope = signCheckpointNote(
          note,
          log.origin,
          stranger,
          log.publicKey,
        );
      }),
    ];
    for (const [i, copy] of copies.entries()) {
      await expectError(
        verifyBundle(parseBundle(copy), { bytes: ARTIFACT }, root, {
          key: new KeyVerifier(key.publicKey),
        }),
        "TLOG_INVALID",
        /Inclusion proof does not verify|does not verify with the log key/,
      );
      await Deno.writeTextFile(`${dir}/bad${i}.sigstore.json`, copy);
      const bad = await sigstoreJs([
        `${dir}/bad${i}.sigstore.json`,
        `${dir}/root.json`,
        `${dir}/blob`,
        `${dir}/key.pem`,
      ]);
      assertEquals(bad.code, 1, bad.stderr);
    }

    // DSSE: logged as a hashedrekord 0.0.2 over the PAE digest.
    const envelope = envelopeFor(key);
    const dsse = await upload(log, { type: "dsse", envelope, verifier: { publicKeyPem: key.pem } });
    assertEquals(String(dsse.logIndex), "6");
    const dsseText = bundleV03Json({
      content: { type: "dsseEnvelope", envelope },
      verificationMaterial: { type: "publicKey", publicKeyPem: key.pem },
      tlogEntryV2: dsse,
    });
    const dsseResult = await verifyBundle(
      parseBundle(dsseText),
      { bytes: ARTIFACT },
      root,
      { key: new KeyVerifier(key.publicKey) },
    );
    assertEquals(dsseResult.tlogEntries[0]?.inclusionProofVerified, true);
    await Deno.writeTextFile(`${dir}/att.sigstore.json`, dsseText);
    const peer2 = await sigstoreJs([
      `${dir}/att.sigstore.json`,
      `${dir}/root.json`,
      `${dir}/blob`,
      `${dir}/key.pem`,
    ]);
    assertEquals(peer2.code, 0, peer2.stderr);

    // The bundle does not verify against a trusted root without this log.
    const otherLog = parseTrustedRoot({ ...rootJson, tlogs: [] });
    await expectError(
      verifyBundle(parseBundle(text), { bytes: ARTIFACT }, otherLog, {
        key: new KeyVerifier(key.publicKey),
      }),
      "TLOG_UNTRUSTED",
      /./,
    );
  });
});

Deno.test("rekor v2: a certificate verifier, keyless bundle with a timestamp verified by ours and sigstore-js", async () => {
  await withLog(async (log, dir) => {
    const trust = await createKeylessTrust();
    const key = p256();
    const issuer = "https://issuer.example.com";
    const san = "https://example.com/ci@refs/heads/main";
    const der = await trust.issue(key.publicKey, { san, issuer });
    const rootJson = trust.trustedRoot();
    (rootJson.tlogs as unknown[]).push(log.tlog);
    await Deno.writeTextFile(`${dir}/root.json`, JSON.stringify(rootJson));
    await Deno.writeFile(`${dir}/blob`, ARTIFACT);
    const req: RekorV2Request = { ...blobRequest(key), verifier: { certificateDer: der } };
    const entry = await upload(log, req);
    const sent = JSON.parse(log.requests.at(-1)!.body).hashedRekordRequestV002;
    assertEquals(
      sent.signature.verifier.x509Certificate.rawBytes,
      Buffer.from(der).toString("base64"),
    );
    const text = bundleV03Json({
      content: {
        type: "messageSignature",
        digest: { algorithm: "sha256", bytes: (req as { digest: Uint8Array }).digest },
        signature: (req as { signature: Uint8Array }).signature,
      },
      verificationMaterial: { type: "certificate", der },
      tlogEntryV2: entry,
      rfc3161Timestamps: [await trust.timestamp((req as { signature: Uint8Array }).signature)],
    });
    const result = await verifyBundle(
      parseBundle(text),
      { bytes: ARTIFACT },
      parseTrustedRoot(rootJson),
      { certificate: { identity: { identity: san, issuer } } },
    );
    assertEquals(result.tlogEntries[0]?.inclusionProofVerified, true);
    await Deno.writeTextFile(`${dir}/blob.sigstore.json`, text);
    const peer = await sigstoreJs([
      `${dir}/blob.sigstore.json`,
      `${dir}/root.json`,
      `${dir}/blob`,
      san,
      issuer,
    ]);
    assertEquals(peer.code, 0, peer.stderr);
  });
});

Deno.test("rekor v2 log: refuses what rekor-tiles refuses (400) and our client says so", async () => {
  await withLog(async (log) => {
    const key = p256();
    const good = blobRequest(key);
    // A signature by another key.
    await expectError(
      upload(log, { ...good, signature: blobRequest(p256()).signature }),
      "TLOG_UNAVAILABLE",
      /refused the entry: HTTP 400 verifying signature/,
    );
    // The signature over another digest.
    await expectError(
      upload(log, { ...good, digest: new Uint8Array(32) }),
      "TLOG_UNAVAILABLE",
      /HTTP 400 verifying signature/,
    );
    // Key details that do not fit the key.
    await expectError(
      upload(log, {
        ...good,
        digest: new Uint8Array(createHash("sha384").update(ARTIFACT).digest()),
        keyDetails: "PKIX_ECDSA_P384_SHA_384",
      }),
      "TLOG_UNAVAILABLE",
      /HTTP 400 unsupported entry algorithm/,
    );
    const post = (body: string) =>
      fetch(`${log.url}/api/v2/log/entries`, { method: "POST", body }).then(async (r) => ({
        status: r.status,
        json: await r.json(),
      }));
    const sent = JSON.parse(JSON.stringify({
      hashedRekordRequestV002: {
        digest: Buffer.from(good.digest).toString("base64"),
        signature: {
          content: Buffer.from(good.signature).toString("base64"),
          verifier: {
            publicKey: {
              rawBytes: key.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
            },
            keyDetails: "PKIX_ECDSA_P256_SHA_256",
          },
        },
      },
    }));
    const cases: [unknown, RegExp][] = [
      ["{", /invalid JSON/],
      [{ dsseRequestV002: { envelope: {}, verifiers: [] } }, /must be hashedrekord/],
      [
        { hashedRekordRequestV002: { ...sent.hashedRekordRequestV002, digest: "" } },
        /missing digest/,
      ],
      [
        { hashedRekordRequestV002: { digest: sent.hashedRekordRequestV002.digest } },
        /missing signature/,
      ],
      [
        { hashedRekordRequestV002: { ...sent.hashedRekordRequestV002, extra: 1 } },
        /unknown field/,
      ],
      [
        {
          hashedRekordRequestV002: {
            ...sent.hashedRekordRequestV002,
            digest: Buffer.alloc(48).toString("base64"),
          },
        },
        /digest length \(48\)/,
      ],
    ];
    for (const [body, pattern] of cases) {
      const r = await post(typeof body === "string" ? body : JSON.stringify(body));
      assertEquals(r.status, 400, JSON.stringify(body));
      assert(pattern.test(r.json.message), `${r.json.message} !~ ${pattern}`);
    }
    assertEquals(log.entries.length, 0);
    const ok = await post(JSON.stringify(sent));
    assertEquals(ok.status, 201);
    const dup = await post(JSON.stringify(sent));
    assertEquals(dup.status, 409);
    await expectError(
      upload(log, good),
      "TLOG_UNAVAILABLE",
      /already holds this entry \(log index 0\)/,
    );
  });
});

Deno.test("rekor v2: bounded retries on 5xx", async () => {
  await withLog(async (log) => {
    log.failNext = { count: 2, status: 503 };
    const entry = await upload(log, blobRequest(p256()));
    assertEquals(String(entry.logIndex), "0");
    assertEquals(log.requests.length, 3);
    log.failNext = { count: 10, status: 503 };
    await expectError(
      upload(log, blobRequest(p256())),
      "TLOG_UNAVAILABLE",
      /Cannot upload to Rekor v2 at http:\/\/127\.0\.0\.1:\d+ \(3 attempts\): HTTP 503 reached max pushback/,
    );
    assertEquals(log.requests.length, 6);
  });
});

Deno.test("rekor v2: hostile answers are refused", async () => {
  await withLog(async (log) => {
    const key = p256();
    // Deno signs ECDSA deterministically: each upload signs another artifact.
    let n = 0;
    const fresh = () => blobRequest(key, new TextEncoder().encode(`artifact ${n++}`));
    // Another entry in the log, to answer with.
    await upload(log, blobRequest(p256(), new TextEncoder().encode("someone else")));
    const other = Buffer.from(log.entries[0]!).toString("base64");

    log.rewrite = (a) => ({ ...a, canonicalizedBody: other });
    await expectError(
      upload(log, fresh()),
      "TLOG_BODY_MISMATCH",
      /records another digest/,
    );

    // Our body, signed by another key in the verifier (a forged body).
    log.rewrite = (a) => {
      const body = JSON.parse(Buffer.from(a.canonicalizedBody as string, "base64").toString());
      body.spec.hashedRekordV002.signature.verifier.publicKey.rawBytes = p256().publicKey
        .export({ format: "der", type: "spki" }).toString("base64");
      return { ...a, canonicalizedBody: Buffer.from(JSON.stringify(body)).toString("base64") };
    };
    await expectError(upload(log, fresh()), "TLOG_BODY_MISMATCH", /records another key/);

    // A proof that does not lead to the root.
    log.rewrite = (a) => {
      const p = a.inclusionProof as Record<string, unknown>;
      const hashes = (p.hashes as string[]).map(() => Buffer.alloc(32, 7).toString("base64"));
      return { ...a, inclusionProof: { ...p, hashes } };
    };
    await expectError(
      upload(log, fresh()),
      "TLOG_INVALID",
      /does not verify: Inclusion proof does not verify/,
    );

    // A proof for another index.
    log.rewrite = (a) => ({ ...a, logIndex: "0" });
    await expectError(
      upload(log, fresh()),
      "TLOG_INVALID",
      /log index 0 is not its inclusion proof's/,
    );

    // A checkpoint for another root, correctly signed by the log.
    const logKey = log.checkpointKey;
    log.rewrite = (a) => {
      const p = a.inclusionProof as Record<string, unknown>;
      const note = signCheckpointNote(
        `${log.origin}\n${p.treeSize}\n${Buffer.alloc(32, 1).toString("base64")}\n`,
        log.origin,
        logKey,
      );
      return { ...a, inclusionProof: { ...p, checkpoint: { envelope: note } } };
    };
    await expectError(
      upload(log, fresh()),
      "TLOG_INVALID",
      /Checkpoint does not match the inclusion proof/,
    );
    log.rewrite = undefined;

    // A checkpoint signed by another key, under the log's name and key hint.
    log.checkpointKey = generateKeyPairSync("ed25519").privateKey;
    await expectError(
      upload(log, fresh()),
      "TLOG_INVALID",
      /Checkpoint signature from 127\.0\.0\.1 .* does not verify with the log key/,
    );
    // Without a trusted root the signature cannot be checked (the caller must say so).
    await upload(log, fresh(), false);
    // A checkpoint signed by another key with that key's own hint.
    const other2 = generateKeyPairSync("ed25519");
    log.checkpointKey = logKey;
    log.rewrite = (a) => {
      const p = a.inclusionProof as Record<string, unknown>;
      const env = (p.checkpoint as { envelope: string }).envelope;
      const text = env.slice(0, env.lastIndexOf("\n\n") + 1);
      const note = signCheckpointNote(
        text,
        log.origin,
        other2.privateKey,
        createPublicKey(other2.privateKey),
      );
      return { ...a, inclusionProof: { ...p, checkpoint: { envelope: note } } };
    };
    await expectError(
      upload(log, fresh()),
      "TLOG_INVALID",
      /Checkpoint has no signature from the log/,
    );

    // A log the trusted root does not list.
    log.rewrite = (a) => ({ ...a, logId: { keyId: Buffer.alloc(32, 9).toString("base64") } });
    await expectError(upload(log, fresh()), "TLOG_UNTRUSTED", /./);

    // Not JSON.
    log.rewrite = () => ({ canonicalizedBody: "!!" });
    await expectError(
      upload(log, fresh()),
      "TLOG_INVALID",
      /no canonicalized body|not JSON/,
    );
  });
});
