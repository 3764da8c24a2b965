/**
 * Bad input: each case is a one-line error naming the thing and the reason, the right exit
 * code, no stack trace, and no file written or truncated.
 */
import { assert, assertEquals, assertFails, cosign, KEYS, tempDir } from "./helpers.ts";

const PW = { COSIGN_PASSWORD: "pw" };

/** A folder with a key pair, a blob, a valid signature and a precious existing output file. */
async function setup(p: string) {
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/c`], { env: PW });
  assertEquals(g.code, 0, g.stderr);
  await Deno.writeTextFile(`${p}/blob`, "blob");
  const s = await cosign(["sign-blob", "--key", `${p}/c.key`, "--tlog-upload=false", `${p}/blob`], {
    env: PW,
  });
  assertEquals(s.code, 0, s.stderr);
  await Deno.writeTextFile(`${p}/sig`, s.out.trim());
  await Deno.writeTextFile(`${p}/out`, "precious");
}

async function signTo(p: string, key: string, env: Record<string, string> = PW) {
  const r = await cosign(
    [
      "sign-blob",
      "--key",
      key,
      "--tlog-upload=false",
      "--output-signature",
      `${p}/out`,
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(await Deno.readTextFile(`${p}/out`), "precious", "output file untouched");
  assertEquals(r.out, "", "nothing on stdout");
  return r;
}

function verify(p: string, key: string, sig: string, blob = `${p}/blob`) {
  return cosign(["verify-blob", "--key", key, "--signature", sig, "--insecure-ignore-tlog", blob]);
}

function noTempFiles(p: string) {
  const left = [...Deno.readDirSync(p)].filter((e) => e.name.endsWith(".tmp"));
  assertEquals(left.map((e) => e.name), [], "no temporary files left");
}

Deno.test("bad input: wrong password", async () => {
  await using d = await tempDir();
  await setup(d.path);
  assertFails(
    await signTo(d.path, `${d.path}/c.key`, { COSIGN_PASSWORD: "nope" }),
    1,
    /c\.key: wrong password/,
  );
  noTempFiles(d.path);
});

Deno.test("bad input: truncated, garbage and unknown-label key files", async () => {
  await using d = await tempDir();
  const p = d.path;
  await setup(p);
  const key = await Deno.readTextFile(`${p}/c.key`);
  await Deno.writeTextFile(`${p}/trunc.key`, key.slice(0, key.length / 2));
  assertFails(await signTo(p, `${p}/trunc.key`), 1, /trunc\.key.*no END line/);
  await Deno.writeTextFile(
    `${p}/cut.key`,
    key.replace(/\n[A-Za-z0-9+/=]+\n-----END/, "\n-----END"),
  );
  assertFails(await signTo(p, `${p}/cut.key`), 1, /cut\.key/);
  await Deno.writeFile(`${p}/garbage.key`, new Uint8Array(300).map((_, i) => (i * 31) % 256));
  assertFails(await signTo(p, `${p}/garbage.key`), 1, /garbage\.key: no PEM block found/);
  assertFails(await signTo(p, `${p}/c.pub`), 1, /c\.pub: unsupported pem type: PUBLIC KEY/);
  assertFails(await signTo(p, KEYS + "validecp256.pem"), 1, /unsupported pem type: EC PRIVATE KEY/);
  // A public-key slot given a private key file.
  assertFails(await verify(p, `${p}/c.key`, `${p}/sig`), 1, /unknown public key PEM file type/);
});

Deno.test("bad input: unsupported scrypt parameters", async () => {
  await using d = await tempDir();
  const p = d.path;
  await setup(p);
  const pem = await Deno.readTextFile(`${p}/c.key`);
  const body = pem.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
  const env = JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(body)));
  env.kdf.params.N = 16384;
  const b64 = new TextEncoder().encode(JSON.stringify(env)).toBase64();
  await Deno.writeTextFile(
    `${p}/weak.key`,
    `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${b64}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`,
  );
  assertFails(
    await signTo(p, `${p}/weak.key`),
    1,
    /weak\.key: unsupported scrypt parameters N=16384/,
  );
});

Deno.test("bad input: empty, missing and directory paths", async () => {
  await using d = await tempDir();
  const p = d.path;
  await setup(p);
  await Deno.writeTextFile(`${p}/empty`, "");
  await Deno.mkdir(`${p}/dir`);
  assertFails(await signTo(p, `${p}/empty`), 1, /empty: the file is empty/);
  assertFails(await signTo(p, `${p}/missing.key`), 1, /missing\.key: no such file/);
  assertFails(await signTo(p, `${p}/dir`), 1, /dir: it is a directory/);
  assertFails(await verify(p, `${p}/empty`, `${p}/sig`), 1, /empty: the file is empty/);
  assertFails(await verify(p, `${p}/c.pub`, `${p}/empty`), 1, /empty: it is empty/);
  assertFails(await verify(p, `${p}/c.pub`, `${p}/dir`), 1, /dir: it is a directory/);
  assertFails(
    await verify(p, `${p}/c.pub`, `${p}/sig`, `${p}/missing`),
    1,
    /blob .*missing: no such file/,
  );
  assertFails(
    await verify(p, `${p}/c.pub`, `${p}/sig`, `${p}/dir`),
    1,
    /blob .*dir: it is a directory/,
  );
  const r = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/c.key`,
      "--tlog-upload=false",
      "--output-signature",
      `${p}/dir`,
      `${p}/blob`,
    ],
    { env: PW },
  );
  assertFails(r, 1, /dir: it is a directory/);
  const i = await cosign(["import-key-pair", "--key", `${p}/missing.pem`, "-o", `${p}/x`], {
    env: PW,
  });
  assertFails(i, 1, /missing\.pem: no such file/);
  noTempFiles(p);
});

Deno.test("bad input: signatures that are not base64, not DER, or for something else", async () => {
  await using d = await tempDir();
  const p = d.path;
  await setup(p);
  assertFails(
    await verify(p, `${p}/c.pub`, "not*base64"),
    1,
    /no such file, and not a base64 signature/,
  );
  await Deno.writeTextFile(`${p}/notder`, new TextEncoder().encode("hello world").toBase64());
  assertFails(
    await verify(p, `${p}/c.pub`, `${p}/notder`),
    1,
    /notder: not a DER-encoded ECDSA signature/,
  );
  const sig = Uint8Array.fromBase64(await Deno.readTextFile(`${p}/sig`));
  const der = sig.slice();
  der[der.length - 1]! ^= 1; // still DER, wrong value
  assertFails(await verify(p, `${p}/c.pub`, der.toBase64()), 1, /does not match/);
  await Deno.writeTextFile(`${p}/blob2`, "other blob");
  assertFails(await verify(p, `${p}/c.pub`, `${p}/sig`, `${p}/blob2`), 1, /does not match/);
  await using d2 = await tempDir();
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${d2.path}/o`], { env: PW });
  assertEquals(g.code, 0);
  assertFails(await verify(p, `${d2.path}/o.pub`, `${p}/sig`), 1, /does not match/);
});

Deno.test("bad input: usage errors exit 2", async () => {
  await using d = await tempDir();
  const p = d.path;
  await setup(p);
  // Keyless without services: cosign v3 reads the signing config from TUF (unreachable here).
  assertFails(
    await cosign(["sign-blob", `${p}/blob`], {
      env: { TUF_MIRROR: "http://127.0.0.1:9", TUF_ROOT: `${p}/tuf` },
    }),
    1,
    /--signing-config.*--key/,
  );
  assertFails(await cosign(["sign-blob", "--key", `${p}/c.key`]), 2, /takes 1 argument/);
  assertFails(await cosign(["sign-blob", "--nope", "x"]), 2, /unknown flag: --nope/);
  assertFails(await cosign(["sign-blob", "--tlog-upload=maybe", "x"]), 2, /not a boolean/);
  assertFails(await cosign(["sign-blob", "x", "--key"]), 2, /flag needs an argument: --key/);
  assertFails(await cosign(["verify-blob", "--key", `${p}/c.pub`, `${p}/blob`]), 2, /--signature/);
  assertFails(await cosign(["frobnicate"]), 2, /unknown command "frobnicate"/);
  const none = await cosign([]);
  // Bare `cosign` prints its help and exits 0, as cobra does (issue 15).
  assertEquals(none.code, 0, "no command prints help");
  assert(none.out.includes("Usage: cosign COMMAND"), "prints help");
});

Deno.test("bad input: an unreachable transparency log fails signing cleanly; verifying needs a proof", async () => {
  await using d = await tempDir();
  const p = d.path;
  await setup(p);
  // A port nothing listens on: the upload (on by default) cannot happen, so nothing is output.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  const s = await cosign(
    [
      "sign-blob",
      "--key",
      `${p}/c.key`,
      "--rekor-url",
      closed,
      "--bundle",
      `${p}/b.json`,
      `${p}/blob`,
    ],
    { env: PW },
  );
  assertFails(s, 1, /Cannot upload to the transparency log http:\/\/127\.0\.0\.1:\d+/);
  assertEquals(s.out, "");
  assert(!(await Deno.stat(`${p}/b.json`).then(() => true, () => false)), "no bundle written");
  const v = await cosign([
    "verify-blob",
    "--key",
    `${p}/c.pub`,
    "--signature",
    `${p}/sig`,
    `${p}/blob`,
  ]);
  assertFails(v, 1, /--insecure-ignore-tlog/);
});

Deno.test("bad input: generate-key-pair never overwrites silently and writes nothing on failure", async () => {
  await using d = await tempDir();
  const p = d.path;
  await setup(p);
  const before = await Deno.readTextFile(`${p}/c.key`);
  const r = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/c`], { env: PW });
  assertFails(r, 1, /Refusing to overwrite .*c\.key.*--yes/);
  assertEquals(await Deno.readTextFile(`${p}/c.key`), before, "old key intact");
  const y = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/c`, "--yes"], {
    env: PW,
  });
  assertEquals(y.code, 0, y.stderr);
  assert((await Deno.readTextFile(`${p}/c.key`)) !== before, "--yes overwrites");
  const n = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/nodir/c`], { env: PW });
  assertFails(n, 1, /nodir\/c\.key: no such directory/);
  noTempFiles(p);
});
