/**
 * The subpath entry points (issue 18): `deno.json` exports `./verify`, `./sign`, `./oci`,
 * `./bundle` and `./keys`, each a file that imports with no side effects; and a `deno run
 * --no-config` script outside the repository, importing `mod.ts` by `file://` URL and
 * `verify.ts` by its path, verifies what the CLI signed and attested on a real registry:
 * legacy `.sig` signatures and v3 bundles, attestations of each storage filtered by type, and a
 * blob attestation.
 */
import { pushImage, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, cosign, FIXTURES, ROOT, tempDir } from "./helpers.ts";

const dec = new TextDecoder();
const SUBPATHS = ["./verify", "./sign", "./oci", "./bundle", "./keys"];

async function runScript(dir: string, source: string, args: string[] = []) {
  await Deno.writeTextFile(`${dir}/script.ts`, source);
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--quiet",
      "--no-prompt",
      "--allow-read",
      "--allow-env",
      "--allow-net=127.0.0.1",
      `${dir}/script.ts`,
      ...args,
    ],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("subpaths: deno.json exports each entry point; each imports without side effects", async () => {
  const cfg = JSON.parse(await Deno.readTextFile(ROOT + "deno.json")) as {
    exports: Record<string, string>;
  };
  assertEquals(cfg.exports["."], "./mod.ts");
  for (const sub of SUBPATHS) {
    assert(typeof cfg.exports[sub] === "string", `deno.json exports ${sub}`);
  }
  await using d = await tempDir();
  const files = SUBPATHS.map((s) => new URL(cfg.exports[s]!, "file://" + ROOT).href);
  const r = await runScript(
    d.path,
    files.map((f, i) => `import * as m${i} from "${f}";\n`).join("") +
      `const n = [${
        files.map((_, i) => `m${i}`).join(", ")
      }].map((m) => Object.keys(m).length);\n` +
      `console.log(JSON.stringify(n));\n`,
  );
  assertEquals(r.code, 0, r.err);
  const counts = JSON.parse(r.out) as number[];
  assert(counts.every((n) => n > 5), `every entry point exports its API: ${r.out}`);
});

Deno.test("subpaths: a --no-config script verifies images and attestations with mod.ts and ./verify", async () => {
  await using reg = await startRegistry();
  await using d = await tempDir();
  const img = await pushImage(reg, "lib/app:v1");
  const ref = `${img.ref.replace(/:v1$/, "")}@${img.digest}`;
  const env = { COSIGN_PASSWORD: "subpath-pw", HOME: d.path };
  for (const name of ["good", "other"]) {
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d.path}/${name}`], {
      env,
    });
    assertEquals(g.code, 0, g.stderr);
  }
  const key = `${d.path}/good.key`;
  // legacy `.sig` and a v3 bundle; a legacy CycloneDX attestation and a v3 SPDX one
  for (
    const args of [
      ["sign", "--new-bundle-format=false"],
      ["sign", "--new-bundle-format=true"],
      [
        "attest",
        "--new-bundle-format=false",
        "--type",
        "cyclonedx",
        "--predicate",
        FIXTURES + "predicates/bom-go-mod.cyclonedx.json",
      ],
      [
        "attest",
        "--new-bundle-format=true",
        "--type",
        "spdxjson",
        "--predicate",
        FIXTURES + "predicates/bom-go-mod.spdx.json",
      ],
    ]
  ) {
    const r = await cosign([...args, "--key", key, "--tlog-upload=false", "-y", ref], {
      env,
      cwd: d.path,
    });
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  }

  // a blob attestation (a DSSE envelope), for verifyBlobAttestation
  await Deno.writeTextFile(`${d.path}/blob.txt`, "attested blob\n");
  const ab = await cosign([
    "attest-blob",
    "--key",
    key,
    "--type",
    "vuln",
    "--predicate",
    FIXTURES + "predicates/vuln-predicate.json",
    "--output-signature",
    `${d.path}/blob.att`,
    "--tlog-upload=false",
    "-y",
    `${d.path}/blob.txt`,
  ], { env, cwd: d.path });
  assertEquals(ab.code, 0, `attest-blob: ${ab.stderr}`);

  const mod = new URL("mod.ts", "file://" + ROOT).href;
  const verifyPath = ROOT + "verify.ts"; // a plain path, resolved against the script's URL
  const script = `
import { CosignError, loadVerifier, parseReference, RegistryClient } from "${mod}";
import {
  parseEnvelope,
  predicateTypeFor,
  verifyBlobAttestation,
  verifyImage,
  verifyImageAttestations,
} from "${verifyPath}";
const [image, pub, otherPub] = Deno.args;
const client = new RegistryClient();
const ref = parseReference(image!);
const key = await loadVerifier(pub!);
const out: Record<string, unknown> = {};
const sigs = await verifyImage(client, ref, key, { ignoreTlog: true });
out.digest = sigs.digest;
out.legacy = sigs.verified.length;
out.v3 = sigs.bundles.map((b) => b.statement.predicateType);
for (const type of ["cyclonedx", "spdxjson"]) {
  const a = await verifyImageAttestations(client, ref, key, {
    ignoreTlog: true,
    predicateType: predicateTypeFor(type),
  });
  out[type] = a.verified.map((v) => [v.statement.predicateType, v.bundle ? "v3" : "legacy"]);
  out[type + "Others"] = a.otherTypes;
}
const other = await loadVerifier(otherPub!);
for (const [name, run] of [
  ["otherKeyImage", () => verifyImage(client, ref, other, { ignoreTlog: true })],
  ["otherKeyAttestation", () => verifyImageAttestations(client, ref, other, { ignoreTlog: true })],
] as const) {
  try {
    await run();
    out[name] = "accepted";
  } catch (e) {
    out[name] = e instanceof CosignError ? e.code : String(e);
  }
}
const blob = await Deno.readFile("blob.txt");
const hex = new Uint8Array(await crypto.subtle.digest("SHA-256", blob)).toHex();
const envelope = parseEnvelope(await Deno.readFile("blob.att"));
const att = await verifyBlobAttestation({ envelope }, { key }, {
  type: "vuln",
  subject: { alg: "sha256", hex },
});
out.blobAttestation = att.statement.predicateType;
for (const [name, run] of [
  ["blobOtherSubject", () =>
    verifyBlobAttestation({ envelope }, { key }, { type: "vuln", subject: { alg: "sha256", hex: "00".repeat(32) } })],
  ["blobOtherType", () => verifyBlobAttestation({ envelope }, { key }, { type: "spdxjson" })],
  ["blobOtherKey", () => verifyBlobAttestation({ envelope }, { key: other }, { type: "vuln" })],
] as const) {
  try {
    await run();
    out[name] = "accepted";
  } catch (e) {
    out[name] = e instanceof CosignError ? e.code : String(e);
  }
}
console.log(JSON.stringify(out));
`;
  const r = await runScript(d.path, script, [ref, `${d.path}/good.pub`, `${d.path}/other.pub`]);
  assertEquals(r.code, 0, r.err);
  const out = JSON.parse(r.out) as Record<string, unknown>;
  assertEquals(out.digest, img.digest);
  assertEquals(out.legacy, 1, "the legacy signature verified");
  // (the v3 attestation's bundle is a referrer too, and verifies as the CLI's verify counts it)
  assert(
    (out.v3 as string[]).includes("https://sigstore.dev/cosign/sign/v1"),
    `the v3 signature bundle verified: ${JSON.stringify(out.v3)}`,
  );
  const CDX = "https://cyclonedx.org/bom", SPDX = "https://spdx.dev/Document";
  assertEquals(out.cyclonedx, [[CDX, "legacy"]]);
  assert(
    (out.cyclonedxOthers as string[]).includes(SPDX),
    `the type filter set the SPDX attestation aside: ${JSON.stringify(out.cyclonedxOthers)}`,
  );
  assertEquals(out.spdxjson, [[SPDX, "v3"]]);
  assert((out.spdxjsonOthers as string[]).includes(CDX), JSON.stringify(out.spdxjsonOthers));
  assert(out.otherKeyImage !== "accepted", "another key's verification of the image fails");
  assert(out.otherKeyAttestation !== "accepted", "another key's attestation check fails");
  assertEquals(out.blobAttestation, "https://cosign.sigstore.dev/attestation/vuln/v1");
  assertEquals(out.blobOtherSubject, "ATTESTATION_MISMATCH", "another blob's digest is refused");
  assertEquals(out.blobOtherType, "ATTESTATION_MISMATCH", "another predicate type is refused");
  assert(out.blobOtherKey !== "accepted", "another key is refused");
});
