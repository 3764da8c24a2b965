/**
 * cosign v3 signatures (Sigstore bundles stored as OCI 1.1 referrers, issue 11) carried by the
 * rest of the CLI: `copy` to another repository and another registry, `save` / `load`,
 * `verify --local-image`, `clean`, `tree`, `triangulate --type referrer` and `download`.
 * The harness registry has no referrers API, so every referrer is listed in the
 * `sha256-<hex>` fallback index; these tests read it back with skopeo.
 */
import { pushImage, type Registry, skopeo, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

const BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";
const SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";

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

/** Signs the cosign v3 way (the default): a referrer, no `.sig` tag. */
async function sign(c: Ctx, key: string, ref: string) {
  const r = await cosign(
    ["sign", "--key", `${c.dir}/${key}.key`, "--tlog-upload=false", ref],
    { env: c.env },
  );
  assertEquals(r.code, 0, r.stderr);
}

function verify(c: Ctx, key: string, target: string, extra: string[] = []) {
  return cosign(
    ["verify", "--key", `${c.dir}/${key}.pub`, "--insecure-ignore-tlog", ...extra, target],
    { env: c.env },
  );
}

/** A manifest or index read with skopeo; undefined when it does not exist. */
// deno-lint-ignore no-explicit-any
async function rawManifest(reg: Registry, ref: string): Promise<any | undefined> {
  const r = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/${ref}`]);
  if (r.code !== 0) return undefined;
  return JSON.parse(new TextDecoder().decode(r.out));
}

async function tags(reg: Registry, repo: string): Promise<string[]> {
  const r = await skopeo(["list-tags", "--tls-verify=false", `docker://${reg.host}/${repo}`]);
  if (r.code !== 0) return [];
  return JSON.parse(new TextDecoder().decode(r.out)).Tags ?? [];
}

/** The fallback index of `digest` in `repo`: its referrer entries. */
async function fallbackEntries(
  reg: Registry,
  repo: string,
  digest: string,
): Promise<{ digest: string; artifactType?: string }[]> {
  const idx = await rawManifest(reg, `${repo}:${digest.replace(":", "-")}`);
  return idx?.manifests ?? [];
}

Deno.test("copy carries v3 referrers to another repository and to a second registry", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using a = await startRegistry();
  await using b = await startRegistry();
  const img = await pushImage(a, "app/img:v1");
  await sign(c, "k1", `${a.host}/app/img:v1`);
  const source = await fallbackEntries(a, "app/img", img.digest);
  assertEquals(source.length, 1, "the v3 signature is a referrer in the fallback index");
  for (const [reg, dst] of [[a, "copies/img:v1"], [b, "mirror/img:v1"]] as const) {
    const r = await cosign(["copy", `${a.host}/app/img:v1`, `${reg.host}/${dst}`], {
      env: c.env,
    });
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes(`referrer ${source[0]!.digest}`), r.stderr);
    const repo = dst.split(":")[0]!;
    const entries = await fallbackEntries(reg, repo, img.digest);
    assertEquals(entries.map((e) => e.digest), [source[0]!.digest]);
    assertEquals(entries[0]!.artifactType, BUNDLE_V03);
    const m = await rawManifest(reg, `${repo}@${source[0]!.digest}`);
    assertEquals(m?.subject?.digest, img.digest);
    const v = await verify(c, "k1", `${reg.host}/${dst}`);
    assertEquals(v.code, 0, `${reg.host}/${dst}: ${v.stderr}`);
    const wrong = await verify(c, "k2", `${reg.host}/${dst}`);
    assertFails(wrong, 12);
  }
  // Copying again changes nothing: the entry is not duplicated.
  const again = await cosign(["copy", `${a.host}/app/img:v1`, `${b.host}/mirror/img:v1`], {
    env: c.env,
  });
  assertEquals(again.code, 0, again.stderr);
  assertEquals((await fallbackEntries(b, "mirror/img", img.digest)).length, 1);
  // --only att leaves the signature referrer behind.
  const onlyAtt = await cosign(
    ["copy", "--only", "att", `${a.host}/app/img:v1`, `${b.host}/att-only/img:v1`],
    { env: c.env },
  );
  assertEquals(onlyAtt.code, 0, onlyAtt.stderr);
  assertEquals(await fallbackEntries(b, "att-only/img", img.digest), []);
});

Deno.test("save and load carry v3 referrers; verify --local-image reads them", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  const layout = `${d.path}/saved`;
  let digest = "";
  let referrer = "";
  {
    await using a = await startRegistry();
    digest = (await pushImage(a, "app/img:v1")).digest;
    await sign(c, "k1", `${a.host}/app/img:v1`);
    referrer = (await fallbackEntries(a, "app/img", digest))[0]!.digest;
    const s = await cosign(["save", `${a.host}/app/img:v1`, "--dir", layout], { env: c.env });
    assertEquals(s.code, 0, s.stderr);
    assert(s.stderr.includes("1 referrer"), s.stderr);
  } // the registry is stopped here
  const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
  const tag = index.manifests.find((m: { annotations?: Record<string, string> }) =>
    m.annotations?.["org.opencontainers.image.ref.name"] === digest.replace(":", "-")
  );
  assert(tag, "the layout has the fallback index at tag sha256-<hex>");
  const fallback = JSON.parse(
    await Deno.readTextFile(`${layout}/blobs/sha256/${tag.digest.slice(7)}`),
  );
  assertEquals(fallback.manifests.map((m: { digest: string }) => m.digest), [referrer]);
  const v = await verify(c, "k1", layout, ["--local-image"]);
  assertEquals(v.code, 0, v.stderr);
  assert(v.out.includes(digest), v.out);
  assertFails(await verify(c, "k2", layout, ["--local-image"]), 12);
  await using b = await startRegistry();
  const l = await cosign(["load", "--dir", layout, `${b.host}/restored/img:v1`], { env: c.env });
  assertEquals(l.code, 0, l.stderr);
  assertEquals(
    (await fallbackEntries(b, "restored/img", digest)).map((e) => e.digest),
    [referrer],
  );
  const vb = await verify(c, "k1", `${b.host}/restored/img:v1`);
  assertEquals(vb.code, 0, vb.stderr);
  assert(vb.out.includes(digest), vb.out);
});

Deno.test("tree, triangulate, download and clean see v3 referrers", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const img = await pushImage(reg, "app/img:v1");
  const ref = `${reg.host}/app/img:v1`;
  await sign(c, "k1", ref);
  const [entry] = await fallbackEntries(reg, "app/img", img.digest);
  assert(entry, "signed");
  const tree = await cosign(["tree", ref], { env: c.env });
  assertEquals(tree.code, 0, tree.stderr);
  assert(
    tree.out.includes(
      `└── 🔗 ${SIGN_PREDICATE} artifacts via OCI referrer: ${reg.host}/app/img@${entry.digest}\n`,
    ),
    tree.out,
  );
  const layer = (await rawManifest(reg, `app/img@${entry.digest}`)).layers[0].digest;
  assert(tree.out.includes(`   └── 🍒 ${layer}\n`), tree.out);
  const tri = await cosign(["triangulate", "--type", "referrer", ref], { env: c.env });
  assertEquals(tri.code, 0, tri.stderr);
  assertEquals(tri.out, `${reg.host}/app/img:sha256-${img.digest.slice(7)}\n`);
  const dl = await cosign(["download", "signature", ref], { env: c.env });
  assertEquals(dl.code, 0, dl.stderr);
  const lines = dl.out.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines.length, 1);
  assertEquals(lines[0].mediaType, BUNDLE_V03);
  assert(lines[0].dsseEnvelope?.signatures?.length === 1, dl.out);
  const cl = await cosign(["clean", "-f", "--type", "referrer", ref], { env: c.env });
  assertEquals(cl.code, 0, cl.stderr);
  assert(cl.stderr.includes(`Removed ${reg.host}/app/img@${entry.digest} from ${ref}`), cl.stderr);
  assertFails(await verify(c, "k1", ref), 10, /no signatures found/);
  assertEquals(await rawManifest(reg, `app/img@${entry.digest}`), undefined, "manifest deleted");
  // No tag is left pointing at missing content: the emptied fallback tag went too.
  const left = await tags(reg, "app/img");
  assert(!left.includes(`sha256-${img.digest.slice(7)}`), left.join(" "));
  for (const t of left) assert(await rawManifest(reg, `app/img:${t}`), `tag ${t} resolves`);
  // `clean` (all) removes them too.
  await sign(c, "k2", ref);
  const all = await cosign(["clean", "-f", ref], { env: c.env });
  assertEquals(all.code, 0, all.stderr);
  assertFails(await verify(c, "k2", ref), 10, /no signatures found/);
});
