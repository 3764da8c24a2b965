/**
 * sign-blob uploads a hashedrekord entry to a loopback Rekor (npm:@sigstore/mock's log served
 * on 127.0.0.1) and writes cosign's bundle; verify-blob checks that bundle offline (network
 * denied) against a trusted root or SIGSTORE_REKOR_PUBLIC_KEY: signature, digest, SET and the
 * entry's cross-checks.
 */
import { startRekor } from "./harness/rekor.ts";
import { assert, assertEquals, assertFails, cosign, cosignOffline, tempDir } from "./helpers.ts";

const offlineVerify = (args: string[], env: Record<string, string> = {}) =>
  cosignOffline(["verify-blob", ...args], env);

Deno.test("rekor: sign-blob uploads and bundles; verify-blob checks the bundle offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  assertEquals(
    (await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env })).code,
    0,
  );
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  const s = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/k.key`,
      "--rekor-url",
      rekor.url,
      "--bundle",
      `${p}/b.json`,
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(s.code, 0, s.stderr);
  assert(/tlog entry created with index: \d+/.test(s.stderr), s.stderr);
  assert(s.stderr.includes(`Wrote bundle to file ${p}/b.json`), s.stderr);
  // One hashedrekord upload, with the blob's digest and our signature and key.
  assertEquals(rekor.requests.filter((r) => r.method === "POST").length, 1);
  const proposed = JSON.parse(rekor.requests[0]!.body);
  assertEquals(proposed.kind, "hashedrekord");
  const hex = new TextDecoder().decode(
    (await new Deno.Command("sha256sum", { args: [`${p}/blob`], stdout: "piped" }).output()).stdout,
  ).split(" ")[0];
  assertEquals(proposed.spec.data.hash.value, hex);
  const bundle = JSON.parse(await Deno.readTextFile(`${p}/b.json`));
  assertEquals(Object.keys(bundle), ["base64Signature", "cert", "rekorBundle"]);
  assertEquals(Object.keys(bundle.rekorBundle), ["SignedEntryTimestamp", "Payload"]);
  assertEquals(Object.keys(bundle.rekorBundle.Payload), [
    "body",
    "integratedTime",
    "logIndex",
    "logID",
  ]);
  assertEquals(bundle.rekorBundle.Payload.logID, rekor.logIdHex);
  assertEquals(proposed.spec.signature.content, bundle.base64Signature);

  const args = ["--key", `${p}/k.pub`, "--bundle", `${p}/b.json`];
  const v = await offlineVerify([...args, "--trusted-root", rekor.trustedRootPath, `${p}/blob`]);
  assertEquals(v.code, 0, v.stderr);
  assert(
    v.stderr.includes("Existence of the claims in the transparency log was verified offline"),
    v.stderr,
  );
  const missing = await offlineVerify([...args, `${p}/blob`], {
    SIGSTORE_REKOR_PUBLIC_KEY: `${p}/rekor.pub`,
  });
  assertFails(missing, 1, /rekor\.pub: no such file/);
  await Deno.writeTextFile(`${p}/rekor.pub`, rekor.publicKeyPem);
  const v2 = await offlineVerify([...args, `${p}/blob`], {
    SIGSTORE_REKOR_PUBLIC_KEY: `${p}/rekor.pub`,
  });
  assertEquals(v2.code, 0, v2.stderr);
  const byDigest = await offlineVerify([
    ...args,
    "--trusted-root",
    rekor.trustedRootPath,
    `sha256:${hex}`,
  ]);
  assertEquals(byDigest.code, 0, byDigest.stderr);

  // Tampering: another blob, an altered SET, an entry for another signature, an untrusted log.
  await Deno.writeTextFile(`${p}/other`, "another release\n");
  const other = await offlineVerify([
    ...args,
    "--trusted-root",
    rekor.trustedRootPath,
    `${p}/other`,
  ]);
  assert(other.code === 1 && !other.stderr.includes("Verified OK"), other.stderr);
  const bad = structuredClone(bundle);
  bad.rekorBundle.Payload.integratedTime += 1;
  await Deno.writeTextFile(`${p}/bad.json`, JSON.stringify(bad));
  const badSet = await offlineVerify([
    "--key",
    `${p}/k.pub`,
    "--bundle",
    `${p}/bad.json`,
    "--trusted-root",
    rekor.trustedRootPath,
    `${p}/blob`,
  ]);
  assertFails(badSet, 1);
  await using other2 = await startRekor();
  const untrusted = await offlineVerify([
    ...args,
    "--trusted-root",
    other2.trustedRootPath,
    `${p}/blob`,
  ]);
  assertFails(untrusted, 1);
});
