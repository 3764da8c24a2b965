/**
 * `mod.ts` imported by URL from a script outside the repository, with `--no-config` (so no
 * import map): it must resolve its own dependencies, do nothing at import time, and work.
 */
import { assertEquals, ROOT, tempDir } from "./helpers.ts";

async function runScript(dir: string, source: string, perms: string[]) {
  await Deno.writeTextFile(`${dir}/script.ts`, source);
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--quiet", "--no-prompt", ...perms, `${dir}/script.ts`],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}

const MOD = new URL("mod.ts", "file://" + ROOT).href;

Deno.test("mod.ts: importing it needs no permissions and prints nothing", async () => {
  await using d = await tempDir();
  const r = await runScript(
    d.path,
    `import * as m from "${MOD}";\nif (!m.signBlob) throw 1;\n`,
    [],
  );
  assertEquals(r.code, 0, r.err);
  assertEquals(r.out, "");
});

Deno.test("mod.ts: a script outside the repo generates, signs (streamed) and verifies", async () => {
  await using d = await tempDir();
  const src = `
import { generateKeyPair, loadSigner, loadVerifier, signBlob, verifyBlob, CosignError } from "${MOD}";
const { privateKeyPem, publicKeyPem } = await generateKeyPair("pw");
await Deno.writeTextFile("k.key", privateKeyPem, { mode: 0o600 });
await Deno.writeTextFile("k.pub", publicKeyPem);
await Deno.writeTextFile("blob", "x".repeat(1 << 20));
const signer = await loadSigner("k.key", { password: async () => "pw" });
const file = await Deno.open("blob");
const sig = await signBlob(signer, file.readable);
const verifier = await loadVerifier("k.pub");
await verifyBlob(verifier, await Deno.readFile("blob"), sig);
try {
  await verifyBlob(verifier, new TextEncoder().encode("other"), sig);
  console.log("accepted a wrong blob");
} catch (e) {
  console.log(e instanceof CosignError ? e.code : "wrong error");
}
`;
  const r = await runScript(d.path, src, ["--allow-read", "--allow-write"]);
  assertEquals(r.code, 0, r.err);
  assertEquals(r.out.trim(), "SIGNATURE_MISMATCH");
});

Deno.test("mod.ts: keyless signing API exported; jose and tuf-js are not in its static import graph", async () => {
  await using d = await tempDir();
  const r = await runScript(
    d.path,
    `import * as m from "${MOD}";\n` +
      `for (const n of ["createKeylessSigner", "getIdentityToken", "interactiveIdentityToken", ` +
      `"parseSigningConfig", "selectServices", "requestSigningCertificate"]) ` +
      `if (typeof (m as Record<string, unknown>)[n] !== "function") throw new Error(n);\n`,
    [],
  );
  assertEquals(r.code, 0, r.err);
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", ROOT + "deno.json", ROOT + "mod.ts"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
    roots: string[];
    redirects: Record<string, string>;
    modules: {
      specifier: string;
      dependencies?: { isDynamic?: boolean; code?: { specifier: string } }[];
    }[];
  };
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const stack = [...graph.roots];
  while (stack.length) {
    let s = stack.pop()!;
    s = graph.redirects[s] ?? s;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const dep of bySpecifier.get(s)?.dependencies ?? []) {
      if (!dep.isDynamic && dep.code) stack.push(dep.code.specifier);
    }
  }
  const heavy = [...seen].filter((s) => /jose|tuf-js|oidc-provider|sigstore/.test(s));
  assertEquals(heavy, [], "loaded at import time");
});
