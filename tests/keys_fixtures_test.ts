/**
 * Every file in ../shared/fixtures/keys/ behaves as its README says, through the real CLI.
 */
import { assert, assertEquals, assertFails, cosign, KEYS, sh, tempDir } from "./helpers.ts";
import { loadVerifier } from "../mod.ts";

const HELLO = { COSIGN_PASSWORD: "hello" };

/** Signs `blob` with `key` (password hello) and verifies with `pub` via the CLI and openssl. */
async function signsAndVerifies(dir: string, key: string, pub: string, hash = "sha256") {
  await Deno.writeTextFile(`${dir}/blob`, "some payload\n");
  const s = await cosign(["sign-blob", "--key", key, "--tlog-upload=false", `${dir}/blob`], {
    env: HELLO,
  });
  assertEquals(s.code, 0, s.stderr);
  const sigB64 = s.out.trim();
  const v = await cosign([
    "verify-blob",
    "--key",
    pub,
    "--signature",
    sigB64,
    "--insecure-ignore-tlog",
    `${dir}/blob`,
  ]);
  assertEquals(v.code, 0, v.stderr);
  assert(v.stderr.includes("Verified OK"), v.stderr);
  await Deno.writeFile(`${dir}/sig.der`, Uint8Array.fromBase64(sigB64));
  const o = await sh("openssl", [
    "dgst",
    `-${hash}`,
    "-verify",
    pub,
    "-signature",
    `${dir}/sig.der`,
    `${dir}/blob`,
  ]);
  assertEquals(o.code, 0, "openssl verifies: " + o.err);
}

for (const name of ["pemcosignkey", "pemsigstorekey"]) {
  Deno.test(`fixtures: ${name}.key loads with 'hello', signs, and verifies with derived/${name}.pub`, async () => {
    await using d = await tempDir();
    await signsAndVerifies(d.path, KEYS + `${name}.key`, KEYS + `derived/${name}.pub`);
    const p = await cosign(["public-key", "--key", KEYS + `${name}.key`], { env: HELLO });
    assertEquals(p.code, 0, p.stderr);
    assertEquals(p.out, await Deno.readTextFile(KEYS + `derived/${name}.pub`));
  });
}

Deno.test("fixtures: pemcosigneckey.key decrypts but its SEC1 plaintext is refused", async () => {
  await using d = await tempDir();
  await Deno.writeTextFile(`${d.path}/blob`, "x");
  const r = await cosign(
    ["sign-blob", "--key", KEYS + "pemcosigneckey.key", "--tlog-upload=false", `${d.path}/blob`],
    { env: HELLO },
  );
  assertFails(r, 1, /PKCS#8/);
  assertEquals(r.out, "");
});

Deno.test("fixtures: cosign-test.key with 'hello' is a wrong password", async () => {
  const r = await cosign(["public-key", "--key", KEYS + "cosign-test.key"], { env: HELLO });
  assertFails(r, 1, /cosign-test\.key: wrong password/);
});

Deno.test("fixtures: cosign-test.pub and release-cosign.pub load as P-256 verifiers", async () => {
  for (const f of ["cosign-test.pub", "release-cosign.pub"]) {
    const v = await loadVerifier(KEYS + f);
    assertEquals(v.algorithm, "ecdsa-p256", f);
    // A well-formed signature that is not theirs is a mismatch, not a parse error.
    const r = await cosign([
      "verify-blob",
      "--key",
      KEYS + f,
      "--signature",
      "MAYCAQECAQE=",
      "--insecure-ignore-tlog",
      KEYS + "README.md",
    ]);
    assertFails(r, 1, /does not match/);
  }
});

const IMPORT_OK: [string, string][] = [
  ["validrsa.pem", "sha256"],
  ["validrsapkcs1.pem", "sha256"],
  ["validrsapkcs8.pem", "sha256"],
  ["validecp256.pem", "sha256"],
  ["validecp384.pem", "sha384"],
  ["validecp521.pem", "sha512"],
  ["validecpkcs8.pem", "sha256"],
  ["ed25519key.pem", ""],
];

for (const [file, hash] of IMPORT_OK) {
  Deno.test(`fixtures: import-key-pair accepts ${file}; the result loads and signs`, async () => {
    await using d = await tempDir();
    const r = await cosign(
      ["import-key-pair", "--key", KEYS + file, "--output-key-prefix", `${d.path}/imp`],
      { env: HELLO },
    );
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes(`Private key written to ${d.path}/imp.key`), r.stderr);
    const pem = await Deno.readTextFile(`${d.path}/imp.key`);
    assert(pem.startsWith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"), "label");
    assertEquals((await Deno.stat(`${d.path}/imp.key`)).mode! & 0o777, 0o600);
    // The public key is the one openssl derives from the original.
    const want = await sh("openssl", ["pkey", "-in", KEYS + file, "-pubout"]);
    assertEquals(await Deno.readTextFile(`${d.path}/imp.pub`), new TextDecoder().decode(want.out));
    if (hash) {
      await signsAndVerifies(d.path, `${d.path}/imp.key`, `${d.path}/imp.pub`, hash);
    } else {
      // Ed25519: pure Ed25519 over the blob; check with openssl pkeyutl -rawin.
      await Deno.writeTextFile(`${d.path}/blob`, "ed payload");
      const s = await cosign(
        ["sign-blob", "--key", `${d.path}/imp.key`, "--tlog-upload=false", `${d.path}/blob`],
        { env: HELLO },
      );
      assertEquals(s.code, 0, s.stderr);
      await Deno.writeFile(`${d.path}/sig`, Uint8Array.fromBase64(s.out.trim()));
      const o = await sh("openssl", [
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        `${d.path}/imp.pub`,
        "-rawin",
        "-in",
        `${d.path}/blob`,
        "-sigfile",
        `${d.path}/sig`,
      ]);
      assertEquals(o.code, 0, o.err);
      const v = await cosign([
        "verify-blob",
        "--key",
        `${d.path}/imp.pub`,
        "--signature",
        `${d.path}/sig`,
        "--insecure-ignore-tlog",
        `${d.path}/blob`,
      ]);
      assertEquals(v.code, 0, v.stderr);
    }
  });
}

const IMPORT_REFUSED: [string, RegExp][] = [
  ["invalidrsawithpubkey.pem", /unsupported private key/],
  ["invalidrsasmallkey.pem", /key size 1024 not supported/],
  ["invalidrsalargekey.pem", /key size 5120 not supported/],
  ["invalidecp224.pem", /curve P-224 not allowed/],
  ["invalidecunsupported.pem", /curve secp256k1 not allowed/],
  ["invalidkey.pem", /invalid pem block/],
];

for (const [file, why] of IMPORT_REFUSED) {
  Deno.test(`fixtures: import-key-pair refuses ${file}, writes nothing`, async () => {
    await using d = await tempDir();
    const r = await cosign(
      ["import-key-pair", "--key", KEYS + file, "--output-key-prefix", `${d.path}/imp`],
      { env: HELLO },
    );
    assertFails(r, 1, why);
    assert(r.stderr.includes(file), "names the file");
    assertEquals([...Deno.readDirSync(d.path)].length, 0, "no files written");
  });
}

Deno.test("fixtures: ctlog-pubkeys parse as verifiers (PKIX and PKCS#1 RSA); garbage fails", async () => {
  const dir = KEYS + "ctlog-pubkeys/";
  assertEquals((await loadVerifier(dir + "rsa")).algorithm, "rsa");
  assertEquals((await loadVerifier(dir + "google")).algorithm, "rsa");
  let failed = false;
  try {
    await loadVerifier(dir + "garbage-there-are-limits");
  } catch (e) {
    failed = (e as { code?: string }).code === "PEM_INVALID";
  }
  assert(failed, "garbage is refused with PEM_INVALID");
});
