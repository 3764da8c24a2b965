/**
 * The library as a package (issue 18): `deno publish --dry-run` passes and ships the license but
 * no tests, fixtures or scripts; `deno doc --lint` is clean for every entry point; every
 * exported function and class has an example that `deno check --doc` type-checks (none marked
 * `ignore`); and the version lives in one place, `deno.json`, which `cosign version` prints.
 */
import { assert, assertEquals, ROOT, tempDir } from "./helpers.ts";

const dec = new TextDecoder();

interface Output {
  code: number;
  out: string;
  err: string;
}

async function deno(args: string[], opts: { cwd?: string } = {}): Promise<Output> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: opts.cwd ?? ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

interface Config {
  version: string;
  license?: string;
  exports: string | Record<string, string>;
}

async function config(): Promise<Config> {
  return JSON.parse(await Deno.readTextFile(ROOT + "deno.json")) as Config;
}

/** The package's entry points (`exports` in deno.json), as paths relative to the root. */
async function entryPoints(): Promise<string[]> {
  const e = (await config()).exports;
  return typeof e === "string" ? [e] : Object.values(e);
}

Deno.test("publish: deno publish --dry-run passes; the license ships, tests and scripts do not", async () => {
  const r = await deno(["publish", "--dry-run", "--allow-dirty"]);
  assertEquals(r.code, 0, `deno publish --dry-run failed:\n${r.err}\n${r.out}`);
  const text = r.out + r.err;
  const files = [...text.matchAll(/file:\/\/(\S+)/g)].map((m) => m[1]!.slice(ROOT.length));
  assert(files.length > 0, `no file list in the dry-run output:\n${text}`);
  assert(files.includes("LICENSE"), "LICENSE is published");
  assert(files.includes("mod.ts"), "mod.ts is published");
  const unwanted = files.filter((f) =>
    /^(tests|scripts|dist|\.ci)\//.test(f) || /_test\.ts$/.test(f) || f === "BENCHMARKS.md"
  );
  assertEquals(unwanted, [], "published files that belong to development");
  assertEquals((await config()).license, "Apache-2.0");
  const license = await Deno.readTextFile(ROOT + "LICENSE");
  assert(license.includes("Apache License\n                           Version 2.0"), "Apache-2.0");
});

Deno.test("publish: deno doc --lint is clean for every entry point", async () => {
  const r = await deno(["doc", "--lint", ...await entryPoints()]);
  assertEquals(r.code, 0, `deno doc --lint:\n${r.err}`);
});

Deno.test("publish: every exported function and class has a type-checked example", async () => {
  const entries = await entryPoints();
  const r = await deno(["doc", "--json", ...entries]);
  assertEquals(r.code, 0, r.err);
  interface Decl {
    kind: string;
    jsDoc?: { tags?: { kind: string; doc?: string }[] };
    location: { filename: string };
  }
  const doc = JSON.parse(r.out) as {
    nodes: Record<string, { symbols: { name: string; declarations: Decl[] }[] }>;
  };
  const missing: string[] = [];
  let counted = 0;
  for (const [entry, node] of Object.entries(doc.nodes)) {
    for (const sym of node.symbols) {
      for (const d of sym.declarations) {
        if (d.kind !== "function" && d.kind !== "class") continue;
        counted++;
        const examples = (d.jsDoc?.tags ?? []).filter((t) => t.kind === "example");
        // an `ignore`d example is not type-checked by deno check --doc
        const checked = examples.filter((t) => !/```ts ignore/.test(t.doc ?? ""));
        if (checked.length === 0) {
          missing.push(
            `${sym.name} (${d.location.filename.slice(7 + ROOT.length)}, ` +
              `exported by ${entry.slice(7 + ROOT.length)})`,
          );
        }
      }
    }
  }
  assert(counted > 50, `only ${counted} exported functions and classes found`);
  assertEquals([...new Set(missing)], [], "exports without a checked example");
});

Deno.test("publish: the version lives in deno.json and cosign version prints it", async () => {
  // A copy of the sources whose deno.json says another version: the CLI must follow it.
  await using d = await tempDir();
  for (const entry of ["lib", "cli.ts", "mod.ts", "deno.lock"]) {
    await new Deno.Command("cp", { args: ["-R", ROOT + entry, d.path + "/"] }).output();
  }
  const cfg = JSON.parse(await Deno.readTextFile(ROOT + "deno.json"));
  cfg.version = "9.8.7-test";
  await Deno.writeTextFile(d.path + "/deno.json", JSON.stringify(cfg, null, 2));
  const r = await deno(["run", "--quiet", "-A", "cli.ts", "cosign", "version", "--json"], {
    cwd: d.path,
  });
  assertEquals(r.code, 0, r.err);
  assertEquals(JSON.parse(r.out).gitVersion, "v9.8.7-test");
  const here = await deno(["run", "--quiet", "-A", "cli.ts", "cosign", "version"]);
  assert(
    here.out.includes(`v${(await config()).version}\n`),
    `cosign version prints deno.json's version: ${here.out}`,
  );
});
