/**
 * Registry writes never lose someone else's data (issue 22, items 5–9), against the real
 * registry: `copy` and `load` merge into what the destination has; `clean` is not undone by a
 * concurrent signer and does not untag another image's identical SBOM; signers on different
 * hosts behind a slow registry lose no signature.
 */
import {
  type FaultProxy,
  pushImage,
  type Registry,
  startFaultProxy,
  startRegistry,
} from "./harness/mod.ts";
import { signerRace } from "./harness/signer_race.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";

interface Ctx {
  dir: string;
  env: Record<string, string>;
}

async function setup(dir: string): Promise<Ctx> {
  const env = { COSIGN_PASSWORD: "pw", HOME: dir, TMPDIR: dir };
  for (const k of ["k1", "k2"]) {
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${dir}/${k}`], { env });
    assertEquals(g.code, 0, g.stderr);
  }
  return { dir, env };
}

/** A separate HOME, TMPDIR and XDG_RUNTIME_DIR: a process as if on another machine (own lock). */
async function otherHost(c: Ctx, name: string): Promise<Record<string, string>> {
  const dir = `${c.dir}/${name}`;
  for (const sub of ["home", "tmp", "run"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true, mode: 0o700 });
  }
  return { ...c.env, HOME: `${dir}/home`, TMPDIR: `${dir}/tmp`, XDG_RUNTIME_DIR: `${dir}/run` };
}

async function sign(c: Ctx, key: string, ref: string) {
  const r = await cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${c.dir}/${key}.key`,
    "--tlog-upload=false",
    ref,
  ], {
    env: c.env,
  });
  assertEquals(r.code, 0, r.stderr);
}

function verify(c: Ctx, key: string, ref: string) {
  return cosign(["verify", "--key", `${c.dir}/${key}.pub`, "--insecure-ignore-tlog", ref], {
    env: c.env,
  });
}

async function attachSbom(c: Ctx, ref: string, text: string, name: string) {
  await Deno.writeTextFile(`${c.dir}/${name}`, text);
  const r = await cosign(["attach", "sbom", "--sbom", `${c.dir}/${name}`, "--type", "spdx", ref], {
    env: c.env,
  });
  assertEquals(r.code, 0, r.stderr);
}

/** The manifest at `repo:tag`, read straight from the registry (undefined when missing). */
async function manifestAt(
  reg: Registry,
  repo: string,
  tag: string,
): Promise<
  { digest: string; layers: { digest: string; annotations?: Record<string, string> }[] } | undefined
> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  assert(res.ok, `GET ${repo}:${tag}: ${res.status}`);
  const json = await res.json();
  return { digest: res.headers.get("docker-content-digest") ?? "", layers: json.layers ?? [] };
}

const sigTag = (digest: string, kind = "sig") => `sha256-${digest.slice(7)}.${kind}`;

async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("copy without -f merges: the destination's own signature stays, the source's is added", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const src = await pushImage(reg, "app/src:v1");
  const dst = await pushImage(reg, "app/dst:v1");
  assertEquals(src.digest, dst.digest);
  await sign(c, "k1", src.ref);
  await sign(c, "k2", dst.ref); // the destination's owner signed it too
  const r = await cosign(["copy", src.ref, dst.ref], { env: c.env });
  assertEquals(r.code, 0, r.stderr);
  for (const key of ["k1", "k2"]) {
    const v = await verify(c, key, dst.ref);
    assertEquals(v.code, 0, `${key}: ${v.stderr}`);
  }
  assert(/Merged 1 layer of .* into .*keeping what was there/.test(r.stderr), r.stderr);
  // Copying again adds nothing.
  const again = await cosign(["copy", src.ref, dst.ref], { env: c.env });
  assertEquals(again.code, 0, again.stderr);
  assert(again.stderr.includes("already holds everything in"), again.stderr);
  assertEquals((await manifestAt(reg, "app/dst", sigTag(dst.digest)))!.layers.length, 2);
});

Deno.test("copy: another SBOM at the destination is refused without -f, nothing written; -f --only sbom replaces only the SBOM", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const src = await pushImage(reg, "app/src:v1");
  const dst = await pushImage(reg, "app/dst:v1");
  await sign(c, "k1", src.ref);
  await sign(c, "k2", dst.ref);
  await attachSbom(c, src.ref, "SPDXVersion: SPDX-2.3\nDocumentName: source\n", "a.spdx");
  await attachSbom(c, dst.ref, "SPDXVersion: SPDX-2.3\nDocumentName: theirs\n", "b.spdx");
  const sigBefore = await manifestAt(reg, "app/dst", sigTag(dst.digest));
  const refused = await cosign(["copy", src.ref, dst.ref], { env: c.env });
  assertFails(refused, 1, /already holds another SBOM; nothing was written/);
  assertEquals(await manifestAt(reg, "app/dst", sigTag(dst.digest)), sigBefore, "no merge either");
  const theirs = await cosign(["download", "sbom", dst.ref], { env: c.env });
  assert(theirs.out.includes("theirs"), theirs.out);
  // -f with --only sbom overwrites the SBOM and leaves the signatures alone.
  const forced = await cosign(["copy", "-f", "--only", "sbom", src.ref, dst.ref], { env: c.env });
  assertEquals(forced.code, 0, forced.stderr);
  const ours = await cosign(["download", "sbom", dst.ref], { env: c.env });
  assert(ours.out.includes("source"), ours.out);
  assertEquals(await manifestAt(reg, "app/dst", sigTag(dst.digest)), sigBefore);
  assertFails(await verify(c, "k1", dst.ref), 12);
  // -f on signatures replaces them: what the user asked to overwrite.
  const forcedSig = await cosign(["copy", "-f", "--only", "sig", src.ref, dst.ref], {
    env: c.env,
  });
  assertEquals(forcedSig.code, 0, forcedSig.stderr);
  assert(forcedSig.stderr.includes("Replaced "), forcedSig.stderr);
  assertEquals((await verify(c, "k1", dst.ref)).code, 0);
  assertFails(await verify(c, "k2", dst.ref), 12);
});

Deno.test("load merges: a signature added after save survives loading the saved image back", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const img = await pushImage(reg, "app/single:v1");
  await sign(c, "k1", img.ref);
  const s = await cosign(["save", img.ref, "--dir", `${d.path}/saved`], { env: c.env });
  assertEquals(s.code, 0, s.stderr);
  await sign(c, "k2", img.ref); // after the save
  const l = await cosign(["load", "--dir", `${d.path}/saved`, img.ref], { env: c.env });
  assertEquals(l.code, 0, l.stderr);
  for (const key of ["k1", "k2"]) {
    const v = await verify(c, key, img.ref);
    assertEquals(v.code, 0, `${key}: ${v.stderr}`);
  }
  assertEquals((await manifestAt(reg, "app/single", sigTag(img.digest)))!.layers.length, 2);
});

Deno.test("clean is not undone by a signer elsewhere that read the signatures before the removal", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const img = await pushImage(reg, "app/single:v1");
  await sign(c, "k1", img.ref); // the signature to remove (say, a compromised key's)
  // Both go through a proxy with some latency; the signer's .sig PUT is held back until
  // clean has deleted the tag, so the signer writes back what it read before the delete.
  let release = () => {};
  const gate = new Promise<void>((r) => release = r);
  await using proxy: FaultProxy = await startFaultProxy(reg, {
    keepAlive: true,
    latencyMs: () => 40 + Math.random() * 40,
  });
  proxy.inject({
    method: "PUT",
    path: /\/manifests\/sha256-[0-9a-f]{64}\.sig$/,
    times: 1,
    fault: { gate },
  });
  const viaProxy = `${proxy.host}/app/single@${img.digest}`;
  const signer = cosign([
    "sign",
    "--new-bundle-format=false",
    "--key",
    `${c.dir}/k2.key`,
    "--tlog-upload=false",
    viaProxy,
  ], {
    env: await otherHost(c, "signer"),
  });
  await waitFor("the signer's PUT", () => proxy.log.some((e) => e.fault === "gate"));
  const cleaner = cosign(["clean", "-f", "--type", "signature", viaProxy], {
    env: await otherHost(c, "cleaner"),
  });
  await waitFor(
    "clean's delete",
    () => proxy.log.some((e) => e.method === "DELETE" && e.status >= 200 && e.status < 300),
  );
  release();
  const [s, cl] = await Promise.all([signer, cleaner]);
  assertEquals(s.code, 0, s.stderr);
  assertEquals(cl.code, 0, cl.stderr);
  assertFails(await verify(c, "k1", img.ref), 12); // stays removed
  assertEquals((await verify(c, "k2", img.ref)).code, 0); // the new signature is kept
  const m = await manifestAt(reg, "app/single", sigTag(img.digest));
  assertEquals(m!.layers.length, 1);
  assert(
    /came back .*removing them again and keeping the 1 added since/.test(cl.stderr),
    cl.stderr,
  );
});

Deno.test("clean --type sbom A leaves image B's byte-identical SBOM alone (the registry deletes only by digest)", async () => {
  await using d = await tempDir();
  const c = await setup(d.path);
  await using reg = await startRegistry();
  const a = await pushImage(reg, "app/two:a");
  const b = await pushImage(reg, "app/two:b", {
    layerBytes: new TextEncoder().encode("image b\n"),
  });
  const text = "SPDXVersion: SPDX-2.3\nDocumentName: shared\n";
  await attachSbom(c, a.ref, text, "s.spdx");
  await attachSbom(c, b.ref, text, "s.spdx");
  const sbomA = await manifestAt(reg, "app/two", sigTag(a.digest, "sbom"));
  const sbomB = await manifestAt(reg, "app/two", sigTag(b.digest, "sbom"));
  assertEquals(sbomA!.digest, sbomB!.digest, "the two SBOM images are one manifest");
  const cl = await cosign(["clean", "-f", "--type", "sbom", a.ref], { env: c.env });
  assertEquals(cl.code, 0, cl.stderr);
  const stillB = await cosign(["download", "sbom", b.ref], { env: c.env });
  assertEquals(stillB.code, 0, stillB.stderr);
  assertEquals(stillB.out, text);
  assert(cl.stderr.includes(`tag ${sigTag(b.digest, "sbom")} shares it`), cl.stderr);
  const goneA = await cosign(["download", "sbom", a.ref], { env: c.env });
  assertEquals(goneA.out, "", "A has no SBOM left");
  assertEquals((await manifestAt(reg, "app/two", sigTag(a.digest, "sbom")))!.layers.length, 0);
  // Where no other tag shares the manifest, clean deletes it.
  await attachSbom(c, a.ref, "SPDXVersion: SPDX-2.3\nDocumentName: only a\n", "o.spdx");
  const again = await cosign(["clean", "-f", "--type", "sbom", a.ref], { env: c.env });
  assertEquals(again.code, 0, again.stderr);
  assert(!again.stderr.includes("shares it"), again.stderr);
  assertEquals(await manifestAt(reg, "app/two", sigTag(a.digest, "sbom")), undefined);
  assertEquals((await manifestAt(reg, "app/two", sigTag(b.digest, "sbom")))!.digest, sbomB!.digest);
});

Deno.test("6 signers on different hosts (own locks) behind 75–225 ms of latency lose no signature, 3 runs", async () => {
  await using d = await tempDir();
  const runs = await signerRace({
    runs: 3,
    signers: 6,
    latencyMs: [75, 225],
    workDir: d.path,
  });
  for (const r of runs) {
    assertEquals(r.failed, [], `run ${r.run}`);
    assertEquals(r.lost, 0, `run ${r.run}: ${r.lost} of ${r.succeeded} signatures lost`);
  }
});

Deno.test("6 v3 signers on different hosts behind 75–225 ms of latency lose no referrer from the fallback index, 3 runs", async () => {
  await using d = await tempDir();
  const runs = await signerRace({
    runs: 3,
    signers: 6,
    latencyMs: [75, 225],
    workDir: d.path,
    format: "v3",
  });
  for (const r of runs) {
    assertEquals(r.failed, [], `run ${r.run}`);
    assertEquals(r.lost, 0, `run ${r.run}: ${r.lost} of ${r.succeeded} referrers lost`);
  }
});
