/**
 * Key references, password sources, stdin, flags from the environment, output options and
 * `version`, through the real CLI.
 */
import { assert, assertEquals, assertFails, cosign, sh, tempDir } from "./helpers.ts";

const PW = { COSIGN_PASSWORD: "pw" };

async function keyPair(p: string, env = PW) {
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/c`], { env });
  assertEquals(g.code, 0, g.stderr);
  assertEquals(g.out, "", "generate-key-pair prints nothing on stdout");
  assert(g.stderr.includes(`Private key written to ${p}/c.key`), g.stderr);
  assert(g.stderr.includes(`Public key written to ${p}/c.pub`), g.stderr);
}

Deno.test("keyref: env://VAR holds the private key (signing) and the public key (verifying)", async () => {
  await using d = await tempDir();
  const p = d.path;
  await keyPair(p);
  await Deno.writeTextFile(`${p}/blob`, "env keys");
  const env = {
    ...PW,
    MY_KEY: await Deno.readTextFile(`${p}/c.key`),
    MY_PUB: await Deno.readTextFile(`${p}/c.pub`),
  };
  const s = await cosign(
    ["sign-blob", "--key", "env://MY_KEY", "--tlog-upload=false", `${p}/blob`],
    { env },
  );
  assertEquals(s.code, 0, s.stderr);
  const v = await cosign(
    [
      "verify-blob",
      "--key",
      "env://MY_PUB",
      "--signature",
      s.out.trim(),
      "--insecure-ignore-tlog",
      `${p}/blob`,
    ],
    { env },
  );
  assertEquals(v.code, 0, v.stderr);
  const unset = await cosign(["public-key", "--key", "env://NOT_SET_ANYWHERE"], { env });
  assertFails(unset, 1, /env:\/\/NOT_SET_ANYWHERE: NOT_SET_ANYWHERE is not set/);
});

Deno.test("keyref: schemes of later providers fail clearly, naming the reference", async () => {
  for (
    const ref of [
      "pkcs11:token=x",
      "gitlab://g/p",
    ]
  ) {
    const r = await cosign(["public-key", "--key", ref], { env: PW });
    assertFails(r, 1, /not supported by this version/);
    assert(r.stderr.includes(ref), `names ${ref}: ${r.stderr}`);
  }
});

Deno.test("keyref: a certificate works as a verification key", async () => {
  await using d = await tempDir();
  const p = d.path;
  await sh("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    "/CN=t",
    "-days",
    "1",
    "-keyout",
    `${p}/k.pem`,
    "-out",
    `${p}/cert.pem`,
  ]);
  await Deno.writeTextFile(`${p}/blob`, "cert");
  const o = await sh("openssl", ["dgst", "-sha256", "-sign", `${p}/k.pem`, `${p}/blob`]);
  assertEquals(o.code, 0, o.err);
  const v = await cosign([
    "verify-blob",
    "--key",
    `${p}/cert.pem`,
    "--signature",
    o.out.toBase64(),
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ]);
  assertEquals(v.code, 0, v.stderr);
});

Deno.test("password: COSIGN_PASSWORD set but empty means the empty password", async () => {
  await using d = await tempDir();
  const p = d.path;
  await keyPair(p, { COSIGN_PASSWORD: "" });
  const ok = await cosign(["public-key", "--key", `${p}/c.key`], { env: { COSIGN_PASSWORD: "" } });
  assertEquals(ok.code, 0, ok.stderr);
  const bad = await cosign(["public-key", "--key", `${p}/c.key`], {
    env: { COSIGN_PASSWORD: " " },
  });
  assertFails(bad, 1, /wrong password/);
});

Deno.test("password: without COSIGN_PASSWORD and a TTY, all of stdin is the password, verbatim", async () => {
  await using d = await tempDir();
  const p = d.path;
  const g = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/c`], {
    stdin: "piped pw\n",
  });
  assertEquals(g.code, 0, g.stderr);
  const withNl = await cosign(["public-key", "--key", `${p}/c.key`], {
    env: { COSIGN_PASSWORD: "piped pw\n" },
  });
  assertEquals(withNl.code, 0, "the trailing newline is part of the password: " + withNl.stderr);
  const without = await cosign(["public-key", "--key", `${p}/c.key`], {
    env: { COSIGN_PASSWORD: "piped pw" },
  });
  assertFails(without, 1, /wrong password/);
  const viaStdin = await cosign(["public-key", "--key", `${p}/c.key`], { stdin: "piped pw\n" });
  assertEquals(viaStdin.code, 0, viaStdin.stderr);
  assertEquals(viaStdin.out, await Deno.readTextFile(`${p}/c.pub`));
});

Deno.test("stdin: sign-blob and verify-blob read the blob from '-'", async () => {
  await using d = await tempDir();
  const p = d.path;
  await keyPair(p);
  const blob = new Uint8Array(300_000).map((_, i) => i % 256);
  const s = await cosign(["sign-blob", "--key", `${p}/c.key`, "--tlog-upload=false", "-"], {
    env: PW,
    stdin: blob,
  });
  assertEquals(s.code, 0, s.stderr);
  await Deno.writeFile(`${p}/blob`, blob);
  const v = await cosign([
    "verify-blob",
    "--key",
    `${p}/c.pub`,
    "--signature",
    s.out.trim(),
    "--insecure-ignore-tlog",
    "-",
  ], { stdin: blob });
  assertEquals(v.code, 0, v.stderr);
  const vf = await cosign([
    "verify-blob",
    "--key",
    `${p}/c.pub`,
    "--signature",
    s.out.trim(),
    "--insecure-ignore-tlog",
    `${p}/blob`,
  ]);
  assertEquals(vf.code, 0, vf.stderr);
  // Password and blob cannot both come from stdin.
  const both = await cosign(["sign-blob", "--key", `${p}/c.key`, "--tlog-upload=false", "-"], {
    stdin: blob,
  });
  assertFails(both, 2, /COSIGN_PASSWORD/);
});

Deno.test("flags: COSIGN_<FLAG> environment variables set unset flags; the command line wins", async () => {
  await using d = await tempDir();
  const p = d.path;
  await keyPair(p);
  await Deno.writeTextFile(`${p}/blob`, "env flags");
  const s = await cosign(["sign-blob", `${p}/blob`], {
    env: { ...PW, COSIGN_KEY: `${p}/c.key`, COSIGN_TLOG_UPLOAD: "false" },
  });
  assertEquals(s.code, 0, s.stderr);
  const v = await cosign(["verify-blob", `${p}/blob`], {
    env: {
      COSIGN_KEY: `${p}/nope.pub`,
      COSIGN_SIGNATURE: s.out.trim(),
      COSIGN_INSECURE_IGNORE_TLOG: "1",
    },
  });
  assertFails(v, 1, /nope\.pub: no such file/);
  const v2 = await cosign(["verify-blob", "--key", `${p}/c.pub`, `${p}/blob`], {
    env: {
      COSIGN_KEY: `${p}/nope.pub`,
      COSIGN_SIGNATURE: s.out.trim(),
      COSIGN_INSECURE_IGNORE_TLOG: "1",
    },
  });
  assertEquals(v2.code, 0, v2.stderr);
});

Deno.test("public-key: stdout or --outfile; stderr names the file", async () => {
  await using d = await tempDir();
  const p = d.path;
  await keyPair(p);
  const pub = await Deno.readTextFile(`${p}/c.pub`);
  const a = await cosign(["public-key", "--key", `${p}/c.key`], { env: PW });
  assertEquals(a.out, pub);
  const b = await cosign(["public-key", "--key", `${p}/c.key`, "--outfile", `${p}/out.pub`], {
    env: PW,
  });
  assertEquals(b.code, 0, b.stderr);
  assertEquals(b.out, "");
  assert(b.stderr.includes(`Public key written to ${p}/out.pub`), b.stderr);
  assertEquals(await Deno.readTextFile(`${p}/out.pub`), pub);
});

Deno.test("verify-blob --key: SHA-256 or the key's own hash without --signature-digest-algorithm; with it, only that one", async () => {
  await using d = await tempDir();
  const p = d.path;
  await Deno.writeTextFile(`${p}/blob`, "p384 and p521");
  const blob = await Deno.readFile(`${p}/blob`);
  for (
    const [curve, own, other] of [["secp384r1", "sha384", "sha512"], [
      "secp521r1",
      "sha512",
      "sha384",
    ]]
  ) {
    const k = `${p}/${curve}`;
    await sh("openssl", ["ecparam", "-name", curve!, "-genkey", "-noout", "-out", `${k}.pem`]);
    await sh("openssl", ["pkey", "-in", `${k}.pem`, "-pubout", "-out", `${k}.pub`]);
    const sig = async (hash: string) =>
      (await sh("openssl", ["dgst", `-${hash}`, "-sign", `${k}.pem`, `${p}/blob`])).out;
    const verify = (s: Uint8Array, extra: string[], file = `${p}/blob`) =>
      cosign(
        ["verify-blob", "--key", `${k}.pub`, "--signature", s.toBase64(), "--insecure-ignore-tlog"]
          .concat(extra, [file]),
        { stdin: blob },
      );
    const s256 = await sig("sha256");
    const sOwn = await sig(own!);
    const sOther = await sig(other!);
    // Go cosign's default (and sigstore-python's P-384 signatures), and cosign v3's.
    for (const [name, s] of [["sha256", s256], [own, sOwn]] as const) {
      const r = await verify(s, []);
      assertEquals(r.code, 0, `${curve} ${name}: ${r.stderr}`);
    }
    // From stdin: one pass over the stream checks both hashes.
    const piped = await verify(s256, [], "-");
    assertEquals(piped.code, 0, `${curve} sha256 from stdin: ${piped.stderr}`);
    assertFails(await verify(sOther, []), 1, /does not match/);
    // The flag accepts only the hash it names.
    assertEquals((await verify(s256, ["--signature-digest-algorithm", "sha256"])).code, 0);
    assertFails(
      await verify(sOwn, ["--signature-digest-algorithm", "sha256"]),
      1,
      /does not match/,
    );
    assertEquals((await verify(sOwn, ["--signature-digest-algorithm", own!])).code, 0);
    assertFails(await verify(s256, ["--signature-digest-algorithm", own!]), 1, /does not match/);
  }
  const any = new Uint8Array(8);
  assertFails(
    await cosign([
      "verify-blob",
      "--key",
      `${p}/secp384r1.pub`,
      "--signature",
      any.toBase64(),
      "--signature-digest-algorithm",
      "md5",
      "--insecure-ignore-tlog",
      `${p}/blob`,
    ]),
    2,
    /md5/,
  );
});

Deno.test("version: plain and --json; help", async () => {
  const plain = await cosign(["version"]);
  assertEquals(plain.code, 0);
  assert(/GitVersion:\s+v\d+\.\d+\.\d+/.test(plain.out), plain.out);
  const json = JSON.parse((await cosign(["version", "--json"])).out);
  assert(/^v\d/.test(json.gitVersion), "gitVersion");
  assertEquals(json.denoVersion, Deno.version.deno);
  const help = await cosign(["sign-blob", "--help"]);
  assertEquals(help.code, 0);
  assert(help.out.includes("--output-signature"), help.out);
  const top = await cosign(["--help"]);
  assertEquals(top.code, 0);
  assert(top.out.includes("verify-blob"), top.out);
});
