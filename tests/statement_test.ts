/**
 * `attest-blob --statement`: an in-toto statement supplied whole is signed byte for byte (no
 * --predicate, no --type), checked to be a statement first, and verifies with
 * verify-blob-attestation like a generated one.
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

Deno.test("attest-blob --statement: signs the statement as given; verifies; refuses non-statements", async () => {
  await using d = await tempDir();
  const p = d.path;
  const env = { HOME: p, COSIGN_PASSWORD: "statement-pw" };
  const c = (args: string[]) => cosign(args, { env });
  assertEquals((await c(["generate-key-pair", "--output-key-prefix", `${p}/k`])).code, 0);
  await Deno.writeTextFile(`${p}/blob`, "the artifact\n");
  const hex = createHash("sha256").update("the artifact\n").digest("hex");
  // Key order, spacing and an in-toto v1 _type are kept exactly: nothing is re-serialised.
  const statement = `{"_type": "https://in-toto.io/Statement/v1",
  "subject": [{"name": "blob", "digest": {"sha256": "${hex}"}}],
  "predicateType": "https://example.com/custom/v1",
  "predicate": {"zeta": 1, "alpha": [true]}}\n`;
  await Deno.writeTextFile(`${p}/st.json`, statement);
  const attest = (extra: string[]) =>
    c([
      "attest-blob",
      "--key",
      `${p}/k.key`,
      "--tlog-upload=false",
      "--output-signature",
      `${p}/env.json`,
      ...extra,
      `${p}/blob`,
    ]);
  const r = await attest(["--statement", `${p}/st.json`]);
  assertEquals(r.code, 0, r.stderr);
  assert(r.stderr.includes(`Using statement from: ${p}/st.json`), r.stderr);
  const envelope = JSON.parse(await Deno.readTextFile(`${p}/env.json`));
  assertEquals(envelope.payloadType, "application/vnd.in-toto+json");
  assertEquals(new TextDecoder().decode(Uint8Array.fromBase64(envelope.payload)), statement);

  const verify = (extra: string[]) =>
    c([
      "verify-blob-attestation",
      "--key",
      `${p}/k.pub`,
      "--signature",
      `${p}/env.json`,
      "--insecure-ignore-tlog",
      ...extra,
      `${p}/blob`,
    ]);
  const v = await verify(["--type", "https://example.com/custom/v1"]);
  assertEquals(v.code, 0, v.stderr);
  assertFails(await verify(["--type", "https://example.com/other"]), 1);

  // A statement about something else signs (as cosign), with a warning; it cannot verify.
  await Deno.writeTextFile(`${p}/other`, "another artifact\n");
  const elsewhere = await c([
    "attest-blob",
    "--key",
    `${p}/k.key`,
    "--tlog-upload=false",
    "--output-signature",
    `${p}/env2.json`,
    "--statement",
    `${p}/st.json`,
    `${p}/other`,
  ]);
  assertEquals(elsewhere.code, 0, elsewhere.stderr);
  assert(
    /WARNING: no subject of the statement has the sha256 digest of/.test(elsewhere.stderr),
    elsewhere.stderr,
  );

  // Exactly one of --predicate and --statement; files that are not statements.
  await Deno.writeTextFile(`${p}/pred.json`, "{}");
  assertFails(
    await attest(["--statement", `${p}/st.json`, "--predicate", `${p}/pred.json`]),
    2,
    /one of --predicate or --statement/,
  );
  assertFails(await attest([]), 2, /one of --predicate or --statement/);
  const bad: [string, RegExp][] = [
    ["not json", /--statement \S*bad\.json is not JSON/],
    ['{"predicate": {}}', /_type .*expected https:\/\/in-toto\.io\/Statement/],
    [
      '{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "x", "subject": []}',
      /no subject/,
    ],
    [
      '{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "x", "subject": [{"name": "a"}]}',
      /subject 1 has no digest/,
    ],
    [
      `{"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"digest": {"sha256": "${hex}"}}]}`,
      /no predicateType/,
    ],
  ];
  for (const [text, why] of bad) {
    await Deno.writeTextFile(`${p}/bad.json`, text);
    assertFails(await attest(["--statement", `${p}/bad.json`]), 1, why);
  }
});
