/**
 * KMS providers are loaded only when their scheme is used: no file under kms/ and no cloud SDK
 * is in the graph `cli.ts` and `mod.ts` import statically; each provider is reached only by a
 * dynamic `import()` (from lib/cosign/keyref.ts). The run-time check (V8's list of executed
 * modules) is the module check of `deno task bench`.
 */
import { assert, ROOT } from "./helpers.ts";

interface Dep {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Graph {
  modules: { specifier: string; dependencies?: Dep[] }[];
  redirects: Record<string, string>;
  roots: string[];
}

const FORBIDDEN = /\/kms\/[^/]+\.ts$|@aws-sdk\/|@google-cloud\/|@azure\/|google-auth-library/;

async function graph(entry: string): Promise<Graph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", ROOT + "deno.json", ROOT + entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.code === 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** The modules reachable from the root through static imports only, and the dynamic edges. */
function reach(g: Graph): { statics: Set<string>; dynamics: Set<string> } {
  const byName = new Map(g.modules.map((m) => [m.specifier, m]));
  const root = g.roots[0]!;
  const statics = new Set<string>([root]);
  const dynamics = new Set<string>();
  const todo = [root];
  while (todo.length) {
    const m = byName.get(todo.pop()!);
    for (const d of m?.dependencies ?? []) {
      const s = d.code?.specifier;
      if (s === undefined) continue;
      const target = g.redirects[s] ?? s;
      if (d.isDynamic) {
        dynamics.add(target);
        continue;
      }
      if (!statics.has(target)) {
        statics.add(target);
        todo.push(target);
      }
    }
  }
  return { statics, dynamics };
}

for (const entry of ["cli.ts", "mod.ts"]) {
  Deno.test(`kms: ${entry} imports no provider and no cloud SDK statically`, async () => {
    const { statics, dynamics } = reach(await graph(entry));
    const bad = [...statics].filter((s) => FORBIDDEN.test(s));
    assert(bad.length === 0, `statically imported: ${bad.join(", ")}`);
    assert(
      [...dynamics].some((s) => s.endsWith("/kms/aws.ts")),
      `the providers are reached by dynamic import: ${[...dynamics].join(", ")}`,
    );
  });
}
