/**
 * Issue 21.3: what Rekor answers to an upload is checked before anything is written. A hostile
 * log (a `Deno.serve` wrapper in front of the loopback Rekor of tests/harness/rekor.ts) answers
 * every upload with:
 * - 409 whose `Location` names another origin (which must never be contacted) and the UUID of an
 *   entry for another body;
 * - 201 with a genuine entry of the same log for another body;
 * - 201 with our entry but a SET that does not verify.
 * Each fails `sign-blob`, `sign`, `attest` and `attest-blob` with exit 1 and one error line,
 * leaving no bundle, no signature file and no `.sig`/`.att` tag. The honest log still works,
 * and without trust material the upload goes on with one warning line.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { hashedRekordEntry, RekorClient, type RekorEntry } from "../lib/tlog/rekor.ts";
import { pushImage, type Registry, startRegistry } from "./harness/mod.ts";
import { type Rekor, startRekor } from "./harness/rekor.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  FIXTURES,
  type RunResult,
  tempDir,
} from "./helpers.ts";

const PRED = FIXTURES + "predicates/test-result.json";
const TEST_RESULT = "https://example.com/TestResult/v1";

type Mode = "conflict-foreign" | "other-body" | "bad-set";

interface Hostile extends AsyncDisposable {
  url: string;
  /** Requests the foreign origin named by the 409 Location received. */
  foreignHits: string[];
}

/** The raw JSON answer for an entry, as Rekor sends it. */
function rawEntry(e: RekorEntry, set = e.signedEntryTimestamp): Record<string, unknown> {
  return {
    [e.uuid]: {
      body: e.body,
      integratedTime: e.integratedTime,
      logID: e.logID,
      logIndex: e.logIndex,
      verification: {
        signedEntryTimestamp: set,
        ...(e.inclusionProof ? { inclusionProof: e.inclusionProof } : {}),
      },
    },
  };
}

/** An entry for another signature, logged in `rekor` by a stranger's key. */
async function strangersEntry(rekor: Rekor): Promise<RekorEntry> {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const digest = "5e".repeat(32);
  const sig = new Uint8Array(sign("sha256", Uint8Array.fromHex(digest), privateKey));
  const client = new RekorClient(rekor.url);
  try {
    return await client.upload(
      hashedRekordEntry(digest, sig, publicKey.export({ format: "pem", type: "spki" }).toString()),
    );
  } finally {
    client.close();
  }
}

/** A log in front of `rekor` that answers every upload according to `mode`. */
function startHostile(rekor: Rekor, mode: Mode, other: RekorEntry): Hostile {
  const foreignHits: string[] = [];
  const foreign = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    foreignHits.push(`${req.method} ${new URL(req.url).pathname}`);
    return Response.json(rawEntry(other, "AAAA"));
  });
  const foreignUrl = `http://127.0.0.1:${foreign.addr.port}`;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const body = req.body ? await req.text() : undefined;
    if (req.method === "POST" && u.pathname === "/api/v1/log/entries") {
      if (mode === "conflict-foreign") {
        return new Response(JSON.stringify({ code: 409, message: "exists" }), {
          status: 409,
          headers: { location: `${foreignUrl}/api/v1/log/entries/${other.uuid}` },
        });
      }
      if (mode === "other-body") return Response.json(rawEntry(other), { status: 201 });
      // bad-set: our genuine entry, its SET's last byte flipped.
      const res = await fetch(rekor.url + u.pathname, { method: "POST", body: body ?? "" });
      const json = await res.json() as Record<string, { verification: Record<string, string> }>;
      const entry = Object.values(json)[0]!;
      const set = Uint8Array.fromBase64(entry.verification.signedEntryTimestamp!);
      set[set.length - 1]! ^= 1;
      entry.verification.signedEntryTimestamp = set.toBase64();
      return Response.json(json, { status: res.status });
    }
    const res = await fetch(rekor.url + u.pathname + u.search, {
      method: req.method,
      ...(body === undefined ? {} : { body }),
    });
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    foreignHits,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await foreign.shutdown();
    },
  };
}

async function tags(reg: Registry, repo: string): Promise<string[]> {
  const res = await fetch(`${reg.url}/v2/${repo}/tags/list`);
  const json = await res.json() as { tags?: string[] };
  return (json.tags ?? []).sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function refused(r: RunResult, label: string): void {
  try {
    assertFails(r, 1, /Rekor at .* answered/);
  } catch (e) {
    throw new Error(`${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

Deno.test("rekor: a hostile log's answer fails sign-blob, sign, attest and attest-blob with nothing written", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  const gen = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env });
  assertEquals(gen.code, 0, gen.stderr);
  await Deno.writeTextFile(`${p}/blob.txt`, "hello\n");
  const img = await pushImage(reg, "app/img:v1");
  const other = await strangersEntry(rekor);
  const trust = ["--trusted-root", rekor.trustedRootPath];

  for (const mode of ["conflict-foreign", "other-body", "bad-set"] as const) {
    await using hostile = startHostile(rekor, mode, other);
    const log = ["--rekor-url", hostile.url, ...trust];
    const out = (name: string) => `${p}/${mode}-${name}`;
    const runs: [string, Promise<RunResult>][] = [
      [
        "sign-blob",
        cosign([
          "sign-blob",
          "--key",
          `${p}/k.key`,
          "-y",
          ...log,
          "--bundle",
          out("blob.bundle"),
          "--output-signature",
          out("blob.sig"),
          `${p}/blob.txt`,
        ], { env }),
      ],
      [
        "attest-blob",
        cosign([
          "attest-blob",
          "--key",
          `${p}/k.key`,
          "-y",
          ...log,
          "--predicate",
          PRED,
          "--type",
          TEST_RESULT,
          "--bundle",
          out("att.bundle"),
          "--output-signature",
          out("att.sig"),
          `${p}/blob.txt`,
        ], { env }),
      ],
      [
        "sign (legacy)",
        cosign([
          "sign",
          "--new-bundle-format=false",
          "--key",
          `${p}/k.key`,
          "-y",
          ...log,
          "--output-signature",
          out("img.sig"),
          img.ref,
        ], { env }),
      ],
      [
        "sign (v3)",
        cosign([
          "sign",
          "--key",
          `${p}/k.key`,
          "-y",
          ...log,
          "--output-signature",
          out("img3.sig"),
          img.ref,
        ], { env }),
      ],
      [
        "attest (legacy)",
        cosign([
          "attest",
          "--new-bundle-format=false",
          "--key",
          `${p}/k.key`,
          "-y",
          ...log,
          "--predicate",
          PRED,
          "--type",
          TEST_RESULT,
          img.ref,
        ], { env }),
      ],
      [
        "attest (v3)",
        // Another predicate type than the legacy attest's, so that the two statements differ
        // (the loopback Rekor takes a second entry of the same statement for a duplicate).
        cosign([
          "attest",
          "--key",
          `${p}/k.key`,
          "-y",
          ...log,
          "--predicate",
          PRED,
          "--type",
          "custom",
          img.ref,
        ], { env }),
      ],
    ];
    for (const [name, r] of runs) refused(await r, `${mode} ${name}`);
    for (const f of ["blob.bundle", "blob.sig", "att.bundle", "att.sig", "img.sig", "img3.sig"]) {
      assert(!(await exists(out(f))), `${mode}: ${f} was written`);
    }
    assertEquals(await tags(reg, "app/img"), ["v1"], `${mode}: no .sig/.att tag`);
    assertEquals(hostile.foreignHits, [], `${mode}: the Location's origin was contacted`);
  }

  // Without trust material the body is still checked (another body is refused), with a warning.
  {
    await using hostile = startHostile(rekor, "other-body", other);
    const r = await cosign([
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "-y",
      "--rekor-url",
      hostile.url,
      "--bundle",
      `${p}/untrusted.bundle`,
      `${p}/blob.txt`,
    ], { env });
    assertFails(r, 1, /which records another artifact digest/);
    assert(r.stderr.includes("WARNING: no trust material for the transparency log"), r.stderr);
    assert(!(await exists(`${p}/untrusted.bundle`)), "no bundle");
  }

  // The honest log: every command succeeds; a second upload (409) is fetched and checked.
  for (let i = 0; i < 2; i++) {
    const ok = await cosign([
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "-y",
      "--rekor-url",
      rekor.url,
      ...trust,
      "--bundle",
      `${p}/ok.bundle`,
      `${p}/blob.txt`,
    ], { env });
    assertEquals(ok.code, 0, ok.stderr);
    assert(!ok.stderr.includes("WARNING"), ok.stderr);
  }
  const posts = rekor.requests.filter((r) => r.method === "POST").length;
  const signed = await cosign(
    [
      "sign",
      "--new-bundle-format=false",
      "--key",
      `${p}/k.key`,
      "-y",
      "--rekor-url",
      rekor.url,
      ...trust,
      img.ref,
    ],
    { env },
  );
  assertEquals(signed.code, 0, signed.stderr);
  const attested = await cosign([
    "attest",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "-y",
    "--rekor-url",
    rekor.url,
    "--predicate",
    PRED,
    "--type",
    TEST_RESULT,
    img.ref,
  ], { env });
  assertEquals(attested.code, 0, attested.stderr);
  assert(attested.stderr.includes("WARNING: no trust material"), attested.stderr);
  assertEquals(rekor.requests.filter((r) => r.method === "POST").length, posts + 2);
  const sigTag = `${img.digest.replace(":", "-")}.sig`;
  const attTag = `${img.digest.replace(":", "-")}.att`;
  assertEquals(await tags(reg, "app/img"), [sigTag, attTag, "v1"].sort());
});
