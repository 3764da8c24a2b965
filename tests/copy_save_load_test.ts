/**
 * Moving signed images: `copy` to a second registry, `save` to disk and `load` back, offline
 * `verify --local-image` with the registry stopped; `tree`, `clean`, `attach signature` and
 * `download signature`.
 */
import { pushImage, type Registry, skopeo, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, sh, tempDir } from "./helpers.ts";

interface Ctx {
  dir: string;
  env: Record<string, string>;
}

async function setup(dir: string): Promise<Ctx> {
  const env = { COSIGN_PASSWORD: "pw", HOME: dir };
  for (const k of ["k1", "k2"]) {
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/${k}`], { env });
    assertEquals(g.code, 0, g.stderr);
  }
  return { dir, env };
}

async function sign(c: Ctx, key: string, ref: string, extra: string[] = []) {
  const r = await cosign([
    "sign",
    "--key",
    `${c.dir}/${key}.key`,
    "--tlog-upload=false",
    // These tests check the legacy `.sig` layout (tests/referrers_carry_test.ts covers v3).
    "--new-bundle-format=false",
    ...extra,
    ref,
  ], { env: c.env });
  assertEquals(r.code, 0, r.stderr);
}

function verify(c: Ctx, key: string, target: string, extra: string[] = []) {
  return cosign([
    "verify",
    "--key",
    `${c.dir}/${key}.pub`,
    "--insecure-ignore-tlog",
    ...extra,
    target,
  ], { env: c.env });
}

async function childDigests(reg: Registry, repoTag: string): Promise<string[]> {
  const raw = await skopeo([
    "inspect",
    "--raw",
    "--tls-verify=false",
    `docker://${reg.host}/${repoTag}`,
  ]);
  return JSON.parse(new TextDecoder().decode(raw.out)).manifests.map((m: { digest: string }) =>
    m.digest
  );
}

Deno.test("copy: to a second registry with every signature; both keys and children still verify", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using a = await startRegistry();
  await using b = await startRegistry({ mode: "htpasswd" });
  await pushImage(a, "app/multi:v1", { arches: ["amd64", "arm64"] });
  await sign(c, "k1", `${a.host}/app/multi:v1`, ["--recursive"]);
  await sign(c, "k2", `${a.host}/app/multi:v1`);
  const creds = ["--registry-username", "testuser", "--registry-password", "testpass"];
  // Both registries in one process: the flags' credentials go to both; a has no auth and ignores them.
  const r = await cosign(
    ["copy", ...creds, `${a.host}/app/multi:v1`, `${b.host}/mirror/multi:v1`],
    { env: c.env },
  );
  assertEquals(r.code, 0, r.stderr);
  for (const key of ["k1", "k2"]) {
    const v = await verify(c, key, `${b.host}/mirror/multi:v1`, creds);
    assertEquals(v.code, 0, `${key}: ${v.stderr}`);
  }
  for (const child of await childDigests(a, "app/multi:v1")) {
    const v = await verify(c, "k1", `${b.host}/mirror/multi@${child}`, creds);
    assertEquals(v.code, 0, `child ${child}: ${v.stderr}`);
  }
  // Without -f an existing, different destination tag is not overwritten.
  await pushImage(a, "app/other:v1");
  const clash = await cosign([
    "copy",
    ...creds,
    `${a.host}/app/other:v1`,
    `${b.host}/mirror/multi:v1`,
  ], { env: c.env });
  assertFails(clash, 1, /already exists.*-f/);
  const sigOnly = await cosign([
    "copy",
    "--sig-only",
    ...creds,
    `${a.host}/app/other:v1`,
    `${b.host}/mirror/other:v1`,
  ], {
    env: c.env,
  });
  assertEquals(sigOnly.code, 0, sigOnly.stderr);
});

Deno.test("save and load: a layout on disk carries the image and its signatures; verify --local-image offline", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  const layout = `${d.path}/saved`;
  let digest = "";
  {
    await using a = await startRegistry();
    const img = await pushImage(a, "app/single:v1");
    digest = img.digest;
    await sign(c, "k1", `${a.host}/app/single:v1`, ["-a", "build=7"]);
    const s = await cosign(["save", `${a.host}/app/single:v1`, "--dir", layout], { env: c.env });
    assertEquals(s.code, 0, s.stderr);
    // skopeo reads the saved image from the layout.
    const insp = await skopeo(["inspect", "--raw", `oci:${layout}:v1`]);
    assertEquals(insp.code, 0, insp.stderr);
  } // the registry is stopped here
  const v = await verify(c, "k1", layout, ["--local-image", "-a", "build=7"]);
  assertEquals(v.code, 0, v.stderr);
  assert(v.out.includes(digest), v.out);
  const wrong = await verify(c, "k2", layout, ["--local-image"]);
  assertFails(wrong, 12, /does not match the key/);
  // A tampered layout is caught: flip a byte of the signature payload blob.
  const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
  const sigEntry = index.manifests.find((m: { annotations?: Record<string, string> }) =>
    m.annotations?.kind === "dev.cosignproject.cosign/sigs"
  );
  const sigManifest = JSON.parse(
    await Deno.readTextFile(`${layout}/blobs/sha256/${sigEntry.digest.slice(7)}`),
  );
  await using copyDir = await tempDir();
  await sh("cp", ["-r", layout, `${copyDir.path}/t`]);
  const payloadPath = `${copyDir.path}/t/blobs/sha256/${sigManifest.layers[0].digest.slice(7)}`;
  const bytes = await Deno.readFile(payloadPath);
  bytes[10]! ^= 1;
  await Deno.chmod(payloadPath, 0o644);
  await Deno.writeFile(payloadPath, bytes);
  const tampered = await verify(c, "k1", `${copyDir.path}/t`, ["--local-image"]);
  assertFails(tampered, 12);
  // load into a fresh registry, then verify there.
  await using b = await startRegistry({ mode: "token" });
  const creds = ["--registry-username", "testuser", "--registry-password", "testpass"];
  const l = await cosign(["load", "--dir", layout, ...creds, `${b.host}/restored/single:v1`], {
    env: c.env,
  });
  assertEquals(l.code, 0, l.stderr);
  const vb = await verify(c, "k1", `${b.host}/restored/single:v1`, creds);
  assertEquals(vb.code, 0, vb.stderr);
  assert(vb.out.includes(digest), "same digest after the round trip");
});

Deno.test("tree, clean, attach signature and download signature", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const img = await pushImage(reg, "app/single:v1");
  const ref = `${reg.host}/app/single:v1`;
  const empty = await cosign(["tree", ref], { env: c.env });
  assertEquals(empty.code, 0, empty.stderr);
  assert(empty.out.includes("No Supply Chain Security Related Artifacts found"), empty.out);
  // A signature made by openssl over the generated payload, attached.
  const gen = await cosign(["generate", ref], { env: c.env });
  await Deno.writeTextFile(`${d.path}/payload.json`, gen.out);
  await sh("openssl", [
    "ecparam",
    "-name",
    "prime256v1",
    "-genkey",
    "-noout",
    "-out",
    `${d.path}/o.pem`,
  ]);
  await sh("openssl", ["pkey", "-in", `${d.path}/o.pem`, "-pubout", "-out", `${d.path}/o.pub`]);
  await sh("openssl", [
    "dgst",
    "-sha256",
    "-sign",
    `${d.path}/o.pem`,
    "-out",
    `${d.path}/o.sig`,
    `${d.path}/payload.json`,
  ]);
  const att = await cosign([
    "attach",
    "signature",
    "--payload",
    `${d.path}/payload.json`,
    "--signature",
    `${d.path}/o.sig`,
    ref,
  ], {
    env: c.env,
  });
  assertEquals(att.code, 0, att.stderr);
  const v = await cosign(["verify", "--key", `${d.path}/o.pub`, "--insecure-ignore-tlog", ref], {
    env: c.env,
  });
  assertEquals(v.code, 0, v.stderr);
  await sign(c, "k1", ref);
  const tree = await cosign(["tree", ref], { env: c.env });
  assert(
    tree.out.includes(
      `└── 🔐 Signatures for an image tag: ${reg.host}/app/single:sha256-${
        img.digest.slice(7)
      }.sig`,
    ),
    tree.out,
  );
  assertEquals((tree.out.match(/🍒 sha256:/g) ?? []).length, 2);
  const dl = await cosign(["download", "signature", ref], { env: c.env });
  assertEquals(dl.code, 0, dl.stderr);
  const lines = dl.out.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines.length, 2);
  assertEquals(Object.keys(lines[0]), [
    "Base64Signature",
    "Payload",
    "Cert",
    "Chain",
    "Bundle",
    "RFC3161Timestamp",
  ]);
  assertEquals(new TextDecoder().decode(Uint8Array.fromBase64(lines[0].Payload)), gen.out);
  const noForce = await cosign(["clean", ref], { env: c.env });
  assertFails(noForce, 2, /without -f/);
  const cl = await cosign(["clean", "-f", "--type", "signature", ref], { env: c.env });
  assertEquals(cl.code, 0, cl.stderr);
  assert(cl.stderr.includes(`Removed ${reg.host}/app/single:sha256-`), cl.stderr);
  const after = await verify(c, "k1", ref);
  assertFails(after, 10, /no signatures found/);
});
