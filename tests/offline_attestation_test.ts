/**
 * `verify-blob-attestation --offline` (cosign's `CommonVerifyOptions.Offline`): a bundle is
 * verified with the network denied; without trust material on the command line the TUF
 * repository is not consulted (no request reaches it), where it is without the flag.
 */
import { serveTuf, TufRepo } from "./harness/tuf.ts";
import { startRekor } from "./harness/rekor.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cosign,
  cosignOffline,
  FIXTURES,
  tempDir,
} from "./helpers.ts";

const TEST_RESULT = "https://example.com/TestResult/v1";

Deno.test("verify-blob-attestation --offline: no TUF, no log requests; the bundle verifies offline", async () => {
  await using d = await tempDir();
  const p = d.path;
  await using rekor = await startRekor();
  const env = { COSIGN_PASSWORD: "pw", HOME: p };
  const gen = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env });
  assertEquals(gen.code, 0, gen.stderr);
  await Deno.writeTextFile(`${p}/blob`, "a release\n");
  const at = await cosign([
    "attest-blob",
    "--key",
    `${p}/k.key`,
    "--predicate",
    FIXTURES + "predicates/test-result.json",
    "--type",
    TEST_RESULT,
    "--rekor-url",
    rekor.url,
    "--bundle",
    `${p}/b.json`,
    "--output-signature",
    `${p}/env.json`,
    `${p}/blob`,
  ], { env });
  assertEquals(at.code, 0, at.stderr);
  const base = ["verify-blob-attestation", "--key", `${p}/k.pub`, "--type", TEST_RESULT];
  const bundle = ["--bundle", `${p}/b.json`];

  const ok = await cosignOffline(
    [...base, ...bundle, "--offline", "--trusted-root", rekor.trustedRootPath, `${p}/blob`],
    { HOME: p },
  );
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes("verified offline") && ok.stderr.includes("Verified OK"), ok.stderr);

  // No trust material given: without --offline the TUF repository is asked (and its trusted
  // root verifies the bundle); with --offline it is never asked.
  const repo = new TufRepo({ "trusted_root.json": await Deno.readFile(rekor.trustedRootPath) });
  await Deno.writeFile(`${p}/root.json`, repo.initialRoot);
  await using mirror = serveTuf(repo);
  const tufEnv = {
    HOME: p,
    TUF_ROOT: `${p}/tuf`,
    TUF_MIRROR: mirror.url,
    TUF_ROOT_JSON: `${p}/root.json`,
  };
  const online = await cosign([...base, ...bundle, `${p}/blob`], { env: tufEnv });
  assertEquals(online.code, 0, online.stderr);
  const asked = mirror.requests.length;
  assert(asked > 0, "without --offline the TUF mirror is consulted");
  const offline = await cosign([...base, ...bundle, "--offline", `${p}/blob`], { env: tufEnv });
  assertFails(offline, 1, /needs --trusted-root/);
  assertEquals(mirror.requests.length, asked, "--offline: no request to the TUF mirror");
  assertEquals(rekor.requests.filter((r) => r.method === "GET").length, 0, "no log lookups");

  // From the environment too (COSIGN_OFFLINE), like every flag.
  const fromEnv = await cosign([...base, ...bundle, `${p}/blob`], {
    env: { ...tufEnv, COSIGN_OFFLINE: "true" },
  });
  assertFails(fromEnv, 1, /needs --trusted-root/);
  assertEquals(mirror.requests.length, asked);
});
