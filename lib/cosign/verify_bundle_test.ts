import { assert, assertEquals, FIXTURES } from "../../tests/helpers.ts";
import { parseTrustedRoot } from "../trust/trusted_root.ts";
import { parseBundle } from "./bundle.ts";
import { verifyBundle } from "./verify_bundle.ts";

const CONFORMANCE = `${FIXTURES}conformance/`;
const IDENTITY = {
  identity:
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
  issuer: "https://token.actions.githubusercontent.com",
};

/** Runs `fn` with `fetch` and `Deno.connect*` replaced by functions that fail the test. */
async function withoutNetwork<T>(fn: () => Promise<T>): Promise<{ result: T; attempts: number }> {
  let attempts = 0;
  const refuse = () => {
    attempts++;
    throw new Error("network access during offline verification");
  };
  const saved = { fetch: globalThis.fetch, connect: Deno.connect, connectTls: Deno.connectTls };
  globalThis.fetch = refuse as typeof fetch;
  Deno.connect = refuse as typeof Deno.connect;
  Deno.connectTls = refuse as typeof Deno.connectTls;
  try {
    return { result: await fn(), attempts };
  } finally {
    globalThis.fetch = saved.fetch;
    Deno.connect = saved.connect;
    Deno.connectTls = saved.connectTls;
  }
}

for (
  const [name, root] of [
    ["happy-path-v0.3", "trusted_root.production.json"],
    [
      "rekor2-timestamp-without-embedded-cert",
      "public/rekor2-timestamp-without-embedded-cert/trusted_root.json",
    ],
  ] as const
) {
  Deno.test(`verify_bundle: ${name} verifies keylessly with the network stubbed to fail`, async () => {
    const bundle = parseBundle(
      await Deno.readFile(`${CONFORMANCE}public/${name}/bundle.sigstore.json`),
    );
    const trustedRoot = parseTrustedRoot(await Deno.readFile(`${CONFORMANCE}${root}`));
    const artifact = { bytes: await Deno.readFile(`${CONFORMANCE}public/a.txt`) };
    const { result, attempts } = await withoutNetwork(() =>
      verifyBundle(bundle, artifact, trustedRoot, { certificate: { identity: IDENTITY } })
    );
    assertEquals(attempts, 0);
    assertEquals(result.certificate?.subject, IDENTITY.identity);
    assertEquals(result.certificate?.issuer, IDENTITY.issuer);
    assert(result.certificate!.scts.length > 0, "SCT verified");
    assert(result.tlogEntries.length === 1, "one log entry");
    assert(result.tlogEntries[0]!.inclusionProofVerified, "inclusion proof verified");
    if (name.startsWith("rekor2")) {
      assertEquals(result.timestamps.length, 1);
      assertEquals(result.tlogEntries[0]!.integratedTime, undefined);
    } else {
      assert(result.integratedTime !== undefined, "integrated time");
    }
  });
}
