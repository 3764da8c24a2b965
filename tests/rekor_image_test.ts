/**
 * Image signatures in the transparency log: `sign` uploads a hashedrekord entry to a loopback
 * Rekor and stores cosign's bundle annotation on the layer; `verify --trusted-root` checks it
 * offline; a signature without an entry, or an entry from an untrusted log, is rejected (tampered
 * entries are covered by lib/cosign/bundle_test.ts); a signature without a bundle annotation is
 * looked up in the log by its payload's digest, unless --offline.
 */
import { createHash } from "node:crypto";
import { hashedRekordEntry, RekorClient } from "../lib/tlog/rekor.ts";
import { pushImage, skopeo, startRegistry } from "./harness/mod.ts";
import { startRekor } from "./harness/rekor.ts";
import { assert, assertEquals, assertFails, cosign, run, sh, tempDir } from "./helpers.ts";

Deno.test("rekor: sign records each signature in the log; verify checks the bundle offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  const img = await pushImage(reg, "app/single:v1");
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  const ref = `${reg.host}/app/single:v1`;
  const s = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "--rekor-url",
    rekor.url,
    ref,
  ], { env });
  assertEquals(s.code, 0, s.stderr);
  assert(/tlog entry created with index: \d+/.test(s.stderr), s.stderr);
  // The layer carries cosign's bundle annotation for this signature.
  const sigTag = `${reg.host}/app/single:sha256-${img.digest.slice(7)}.sig`;
  const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${sigTag}`]);
  const layer = JSON.parse(new TextDecoder().decode(raw.out)).layers[0];
  const bundle = JSON.parse(layer.annotations["dev.sigstore.cosign/bundle"]);
  assertEquals(Object.keys(bundle), ["SignedEntryTimestamp", "Payload"]);
  assertEquals(bundle.Payload.logID, rekor.logIdHex);

  const verify = (extra: string[], e: Record<string, string> = env) =>
    cosign(["verify", "--key", `${p}/k.pub`, ...extra, ref], { env: e });
  const ok = await verify(["--trusted-root", rekor.trustedRootPath]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(
    ok.stderr.includes("Existence of the claims in the transparency log was verified offline"),
    ok.stderr,
  );
  await Deno.writeTextFile(`${p}/rekor.pub`, rekor.publicKeyPem);
  const viaEnv = await verify([], { ...env, SIGSTORE_REKOR_PUBLIC_KEY: `${p}/rekor.pub` });
  assertEquals(viaEnv.code, 0, viaEnv.stderr);
  // Without trust material from the flags it comes from TUF (unreachable here): a clear error
  // naming both ways out, not a silent skip.
  assertFails(await verify([]), 1, /TUF mirror.*--trusted-root.*--insecure-ignore-tlog/);
  // Another log's trust material: the entry is untrusted, so no signature matches.
  await using other = await startRekor();
  assertFails(await verify(["--trusted-root", other.trustedRootPath]), 12, /transparency log/);
  // A signature without a log entry does not satisfy a verify that checks the log.
  await pushImage(reg, "app/other:v1");
  const other2 = `${reg.host}/app/other:v1`;
  const noTlog = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "--tlog-upload=false",
    other2,
  ], {
    env,
  });
  assertEquals(noTlog.code, 0, noTlog.stderr);
  const v2 = await cosign([
    "verify",
    "--key",
    `${p}/k.pub`,
    "--trusted-root",
    rekor.trustedRootPath,
    "--offline",
    other2,
  ], {
    env,
  });
  assertFails(v2, 12, /no transparency-log entry/);
  const v3 = await cosign(["verify", "--key", `${p}/k.pub`, "--insecure-ignore-tlog", other2], {
    env,
  });
  assertEquals(v3.code, 0, v3.stderr);
});

Deno.test("rekor: sget checks each signature's log entry when given trust material", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  await using stranger = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  await Deno.writeTextFile(`${p}/install.sh`, "echo installed\n");
  const up = await cosign(["upload", "blob", "-f", `${p}/install.sh`, `${reg.host}/tools/i:v1`], {
    env,
  });
  assertEquals(up.code, 0, up.stderr);
  const s = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "--rekor-url",
    rekor.url,
    up.out.trim(),
  ], {
    env,
  });
  assertEquals(s.code, 0, s.stderr);
  const sget = (root: string) =>
    run(["sget", "--key", `${p}/k.pub`, "--trusted-root", root, `${reg.host}/tools/i:v1`], { env });
  const ok = await sget(rekor.trustedRootPath);
  assertEquals(ok.code, 0, ok.stderr);
  assertEquals(ok.out, "echo installed\n");
  assert(ok.stderr.includes("transparency log was verified offline"), ok.stderr);
  // Without trust material from the flags it comes from TUF (unreachable here): refused, naming
  // --trusted-root and --insecure-ignore-tlog.
  const untrusted = await run(["sget", "--key", `${p}/k.pub`, `${reg.host}/tools/i:v1`], {
    env: { ...env, SIGSTORE_REKOR_PUBLIC_KEY: "" },
  });
  assertFails(untrusted, 1, /TUF mirror.*--trusted-root.*--insecure-ignore-tlog/);
  assertEquals(untrusted.stdout.length, 0, "nothing on stdout");
  const skipped = await run(
    ["sget", "--key", `${p}/k.pub`, "--insecure-ignore-tlog", `${reg.host}/tools/i:v1`],
    { env },
  );
  assertEquals(skipped.code, 0, skipped.stderr);
  assert(skipped.stderr.includes("WARNING: Skipping tlog verification"), skipped.stderr);
  const refused = await sget(stranger.trustedRootPath);
  assertFails(refused, 12, /transparency log/);
  assertEquals(refused.stdout.length, 0, "nothing on stdout");
});

Deno.test("rekor: verify looks up a signature without a bundle annotation in the log", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  await pushImage(reg, "app/lookup:v1");
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  const ref = `${reg.host}/app/lookup:v1`;
  const verify = (extra: string[]) =>
    cosign(
      [
        "verify",
        "--key",
        `${p}/k.pub`,
        "--trusted-root",
        rekor.trustedRootPath,
        "--rekor-url",
        rekor.url,
        ...extra,
        ref,
      ],
      { env },
    );
  // Signed without the log: nothing to find.
  const s = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${p}/k.key`,
    "--tlog-upload=false",
    "--output-signature",
    `${p}/sig`,
    "--output-payload",
    `${p}/payload`,
    ref,
  ], { env });
  assertEquals(s.code, 0, s.stderr);
  assertFails(await verify([]), 12, /not found in the transparency log/);

  // The same signature logged afterwards (as another tool would): found by the payload's digest.
  const payload = await Deno.readFile(`${p}/payload`);
  const sig = Uint8Array.fromBase64((await Deno.readTextFile(`${p}/sig`)).trim());
  const client = new RekorClient(rekor.url);
  try {
    await client.upload(
      hashedRekordEntry(
        createHash("sha256").update(payload).digest("hex"),
        sig,
        await Deno.readTextFile(`${p}/k.pub`),
      ),
    );
  } finally {
    client.close();
  }
  const ok = await verify([]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes("The claims were present in the transparency log"), ok.stderr);
  assert(!ok.stderr.includes("verified offline"), ok.stderr);
  // --offline: no look-up, so the signature has no proof.
  assertFails(await verify(["--offline"]), 12, /no transparency-log entry/);
});

Deno.test("rekor: a v3 signature's bundle carries the dsse entry with its inclusion proof; verify checks it offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using reg = await startRegistry();
  await using rekor = await startRekor();
  const img = await pushImage(reg, "app/v3:v1");
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  const ref = `${reg.host}/app/v3@${img.digest}`;
  const s = await cosign([
    "sign",
    "--key",
    `${p}/k.key`,
    "--rekor-url",
    rekor.url,
    "--trusted-root",
    rekor.trustedRootPath,
    ref,
  ], { env });
  assertEquals(s.code, 0, s.stderr);
  // The fallback index lists one referrer; its bundle holds the entry, proof and checkpoint.
  const index = await skopeo([
    "inspect",
    "--raw",
    "--tls-verify=false",
    `docker://${reg.host}/app/v3:sha256-${img.digest.slice(7)}`,
  ]);
  const entries = JSON.parse(new TextDecoder().decode(index.out)).manifests;
  assertEquals(entries.length, 1);
  const text = (r: { out: Uint8Array }) => new TextDecoder().decode(r.out);
  const manifest = await sh("curl", [
    "-sf",
    `${reg.url}/v2/app/v3/manifests/${entries[0].digest}`,
    "-H",
    "Accept: application/vnd.oci.image.manifest.v1+json",
  ]);
  const layer = JSON.parse(text(manifest)).layers[0];
  const blob = await sh("curl", ["-sfL", `${reg.url}/v2/app/v3/blobs/${layer.digest}`]);
  const bundle = JSON.parse(text(blob));
  const tlog = bundle.verificationMaterial.tlogEntries[0];
  assertEquals(tlog.kindVersion, { kind: "dsse", version: "0.0.1" });
  assert(tlog.inclusionProof?.checkpoint?.envelope, "the entry carries its checkpoint");
  assert(tlog.inclusionPromise?.signedEntryTimestamp, "and its SET");

  const ok = await cosign(
    ["verify", "--key", `${p}/k.pub`, "--trusted-root", rekor.trustedRootPath, ref],
    { env },
  );
  assertEquals(ok.code, 0, ok.stderr);
  assert(
    ok.stderr.includes("Existence of the claims in the transparency log was verified offline"),
    ok.stderr,
  );
  // A trusted root without this log: the entry is not trusted, so nothing verifies.
  await using other = await startRekor();
  const untrusted = await cosign(
    ["verify", "--key", `${p}/k.pub`, "--trusted-root", other.trustedRootPath, ref],
    { env },
  );
  assertFails(untrusted, 12);
});
