/**
 * Keyless signing end to end on loopback: tokens from a real OpenID Connect provider
 * (`oidc-provider`, device flow completed by the test as the user), a Fulcio front that checks
 * the token and the proof of possession, the fake Rekor, a TSA; bundles verified by our
 * verify-blob(-attestation)/verify and by sigstore-js (`@sigstore/verify` under Node).
 */

import { pushImage, startRegistry } from "./harness/mod.ts";
import { startRekor } from "./harness/rekor.ts";
import { sigstoreJsVerifyKeyless } from "./harness/sigstore_js.ts";
import { type KeylessServices, startKeylessServices } from "./harness/keyless.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

const sigstoreJs = sigstoreJsVerifyKeyless;

interface Env {
  svc: KeylessServices;
  rekor: Awaited<ReturnType<typeof startRekor>>;
  dir: string;
  root: string;
  token: string;
}

async function withEnv(fn: (e: Env) => Promise<void>): Promise<void> {
  await using svc = await startKeylessServices();
  await using rekor = await startRekor();
  await using tmp = await tempDir();
  const root = `${tmp.path}/trusted_root.json`;
  const trusted = svc.trustedRoot(rekor.publicKeyPem) as { tlogs: { baseUrl: string }[] };
  trusted.tlogs[0]!.baseUrl = rekor.url; // sigstore-js matches the checkpoint's origin to it
  await Deno.writeTextFile(root, JSON.stringify(trusted));
  const token = await svc.deviceFlowToken("alice");
  await fn({ svc, rekor, dir: tmp.path, root, token });
}

function keylessFlags(e: Env, token = e.token): string[] {
  return [
    "--use-signing-config=false",
    `--fulcio-url=${e.svc.fulcioUrl}`,
    `--rekor-url=${e.rekor.url}`,
    `--trusted-root=${e.root}`,
    `--identity-token=${token}`,
    "-y",
  ];
}

const ID = ["--certificate-identity=alice@example.com"];

/** Files under `dir` (recursively) holding a PEM private key. */
async function privateKeyFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const text = new TextDecoder().decode(await Deno.readFile(p));
        if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push(p);
      }
    }
  };
  await walk(dir);
  return found;
}

Deno.test("keyless sign-blob and attest-blob: bundles verify with ours and sigstore-js, key only in memory", async () => {
  await withEnv(async (e) => {
    const blob = `${e.dir}/blob.txt`;
    await Deno.writeTextFile(blob, "hello keyless\n");
    const home = `${e.dir}/home`, tmp = `${e.dir}/tmp`;
    await Deno.mkdir(home);
    await Deno.mkdir(tmp);
    // The Deno cache stays where it is (it is not what is being checked).
    const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
    const env = { HOME: home, TMPDIR: tmp, DENO_DIR: denoDir };
    const issuer = [`--certificate-oidc-issuer=${e.svc.issuer}`];
    for (const tsa of [false, true]) {
      const bundle = `${e.dir}/blob${tsa}.sigstore.json`;
      const extra = tsa ? [`--timestamp-server-url=${e.svc.tsaUrl}`] : [];
      const s = await cosign([
        "sign-blob",
        ...keylessFlags(e),
        ...extra,
        "--new-bundle-format",
        `--bundle=${bundle}`,
        blob,
      ], {
        env,
      });
      assertEquals(s.code, 0, s.stderr);
      const b = JSON.parse(await Deno.readTextFile(bundle));
      assert(b.verificationMaterial.certificate?.rawBytes, "bundle holds the certificate");
      assertEquals(
        (b.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? []).length,
        tsa ? 1 : 0,
      );
      const v = await cosign([
        "verify-blob",
        `--bundle=${bundle}`,
        `--trusted-root=${e.root}`,
        ...ID,
        ...issuer,
        blob,
      ]);
      assertEquals(v.code, 0, v.stderr);
      const wrong = await cosign([
        "verify-blob",
        `--bundle=${bundle}`,
        `--trusted-root=${e.root}`,
        "--certificate-identity=bob@example.com",
        ...issuer,
        blob,
      ]);
      assert(wrong.code !== 0, "another identity is refused");
      const js = await sigstoreJs([bundle, e.root, blob, "alice@example.com", e.svc.issuer]);
      assertEquals(js.code, 0, js.stderr);
      // attest-blob: a DSSE bundle.
      const pred = `${e.dir}/pred.json`;
      await Deno.writeTextFile(pred, JSON.stringify({ hello: "world" }));
      const abundle = `${e.dir}/att${tsa}.sigstore.json`;
      const a = await cosign([
        "attest-blob",
        ...keylessFlags(e),
        ...extra,
        `--predicate=${pred}`,
        "--type=custom",
        "--new-bundle-format",
        `--bundle=${abundle}`,
        `--output-signature=${e.dir}/env.json`,
        blob,
      ], { env });
      assertEquals(a.code, 0, a.stderr);
      const va = await cosign([
        "verify-blob-attestation",
        `--bundle=${abundle}`,
        `--trusted-root=${e.root}`,
        "--type=custom",
        ...ID,
        ...issuer,
        blob,
      ]);
      assertEquals(va.code, 0, va.stderr);
      const jsa = await sigstoreJs([abundle, e.root, blob, "alice@example.com", e.svc.issuer]);
      assertEquals(jsa.code, 0, jsa.stderr);
    }
    assertEquals(e.svc.tsaRequests, 2);
    assertEquals(await privateKeyFiles(home), []);
    assertEquals(await privateKeyFiles(tmp), []);
  });
});

Deno.test("keyless sign then verify on the registry, by tag and digest, v3 and legacy", async () => {
  await withEnv(async (e) => {
    await using reg = await startRegistry();
    const img = await pushImage(reg, "test/keyless:v1");
    const byDigest = `${reg.host}/test/keyless@${img.digest}`;
    for (const v3 of [true, false]) {
      const ref = v3 ? img.ref : byDigest;
      const s = await cosign(["sign", ...keylessFlags(e), `--new-bundle-format=${v3}`, ref]);
      assertEquals(s.code, 0, s.stderr);
      for (const target of [img.ref, byDigest]) {
        const v = await cosign([
          "verify",
          `--trusted-root=${e.root}`,
          ...ID,
          `--certificate-oidc-issuer=${e.svc.issuer}`,
          target,
        ]);
        assertEquals(v.code, 0, `${target} v3=${v3}: ${v.stderr}`);
      }
    }
  });
});

Deno.test("keyless signing is refused cleanly: bad tokens, bad Fulcio answers, Rekor down", async () => {
  await withEnv(async (e) => {
    const blob = `${e.dir}/blob.txt`;
    await Deno.writeTextFile(blob, "x");
    const bundle = `${e.dir}/out.json`;
    const refuse = async (flags: string[], pattern: RegExp) => {
      const r = await cosign([
        "sign-blob",
        ...flags,
        "--new-bundle-format",
        `--bundle=${bundle}`,
        blob,
      ]);
      assert(r.code === 1, `${pattern}: exit ${r.code}: ${r.stderr}`);
      assertFails(r, 1, pattern);
      let exists = true;
      try {
        await Deno.stat(bundle);
      } catch {
        exists = false;
      }
      assert(!exists, `no bundle after ${pattern}`);
    };
    const entriesBefore = e.rekor.entries.size;
    await refuse(keylessFlags(e, "not-a-jwt"), /not a JWT/);
    await refuse(keylessFlags(e, await e.svc.forge(e.token)), /HTTP 401.*signature/);
    await refuse(keylessFlags(e, await e.svc.deviceFlowToken("alice", "other")), /HTTP 401.*aud/);
    e.svc.idTokenTtl = 1;
    const short = await e.svc.deviceFlowToken("alice");
    e.svc.idTokenTtl = 600;
    await new Promise((r) => setTimeout(r, 2100));
    await refuse(keylessFlags(e, short), /HTTP 401.*exp/);
    e.svc.fulcioMode = "500";
    const before = e.svc.fulcioLog.length;
    await refuse(keylessFlags(e), /HTTP 500 after 3 attempts/);
    assertEquals(e.svc.fulcioLog.length - before, 3, "bounded retries");
    e.svc.fulcioMode = "garbage";
    await refuse(keylessFlags(e), /no certificate chain/);
    e.svc.fulcioMode = "foreign-chain";
    await refuse(keylessFlags(e), /[Uu]ntrusted/);
    e.svc.fulcioMode = "no-sct";
    await refuse(keylessFlags(e), /signed certificate timestamp/);
    e.svc.fulcioMode = "ok";
    const down = keylessFlags(e).map((f) =>
      f.startsWith("--rekor-url=") ? "--rekor-url=http://127.0.0.1:9" : f
    );
    await refuse(down, /127\.0\.0\.1:9/);
    assertEquals(e.rekor.entries.size, entriesBefore, "nothing logged");
    // No services named and TUF unreachable: the error names --signing-config.
    const r = await cosign(["sign-blob", `--identity-token=${e.token}`, blob], {
      env: { TUF_MIRROR: "http://127.0.0.1:9", TUF_ROOT: `${e.dir}/tuf` },
    });
    assertFails(r, 1, /--signing-config/);
  });
});

Deno.test("keyless sign-blob: one request each to Fulcio, Rekor and the TSA (no more than sigstore-js)", async () => {
  await withEnv(async (e) => {
    const blob = `${e.dir}/count.txt`;
    await Deno.writeTextFile(blob, "count the requests\n");
    const before = {
      fulcio: e.svc.fulcioLog.length,
      rekor: e.rekor.requests.length,
      tsa: e.svc.tsaRequests,
    };
    const s = await cosign([
      "sign-blob",
      ...keylessFlags(e),
      `--timestamp-server-url=${e.svc.tsaUrl}`,
      "--new-bundle-format",
      `--bundle=${e.dir}/count.sigstore.json`,
      blob,
    ]);
    assertEquals(s.code, 0, s.stderr);
    assertEquals({
      fulcio: e.svc.fulcioLog.length - before.fulcio,
      rekor: e.rekor.requests.map((r) => `${r.method} ${r.path}`).slice(before.rekor),
      tsa: e.svc.tsaRequests - before.tsa,
    }, { fulcio: 1, rekor: ["POST /api/v1/log/entries"], tsa: 1 });
  });
});
