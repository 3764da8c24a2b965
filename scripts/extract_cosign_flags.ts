/**
 * Writes docs/cosign-v2.6-flags.json: every flag of every command of Go cosign v2.6.0, read
 * from its source (`cmd/cosign/cli/*.go` for which options each command adds,
 * `cmd/cosign/cli/options/*.go` for the flags each options type registers). Facts for
 * scripts/flag_coverage.ts; run once (again only to move to another cosign version):
 *
 *   deno run -A scripts/extract_cosign_flags.ts [GIT_DIR] [TAG]
 *
 * GIT_DIR defaults to /work/.mirror/sigstore+cosign/repo (a bare clone), TAG to v2.6.0.
 * `login` (crane's command) and `version` (release-utils') are not in cosign's tree: their
 * flags are listed by hand below.
 * @module
 */

const gitDir = Deno.args[0] ?? "/work/.mirror/sigstore+cosign/repo";
const tag = Deno.args[1] ?? "v2.6.0";

async function git(args: string[]): Promise<string> {
  const r = await new Deno.Command("git", { args: ["--git-dir", gitDir, ...args] }).output();
  if (r.code !== 0) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  return new TextDecoder().decode(r.stdout);
}

const show = (path: string) => git(["show", `${tag}:${path}`]);
const list = async (dir: string) =>
  (await git(["ls-tree", "--name-only", `${tag}`, `${dir}/`])).trim().split("\n")
    .filter((p) => p.endsWith(".go") && !p.endsWith("_test.go"));

/** One flag: long name and shorthand (`""` when none). */
interface Flag {
  name: string;
  short: string;
}

/** The body of the Go block that opens at `open` (the index of its `{`). */
function block(src: string, open: number): string {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const ch = src[i];
    if (ch === '"' || ch === "`") {
      const end = src.indexOf(ch, i + 1);
      i = end < 0 ? src.length : end;
      continue;
    }
    if (ch === "{") depth++;
    if (ch === "}" && --depth === 0) return src.slice(open + 1, i);
  }
  throw new Error("unbalanced block");
}

/** The string literals of a Go argument list starting at `at`, up to its closing paren. */
function argStrings(src: string, at: number): (string | null)[] {
  const out: (string | null)[] = [];
  let depth = 0, current: string | null = null, simple = true;
  for (let i = at; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '"') {
      const end = src.indexOf('"', i + 1);
      if (current === null && simple) current = src.slice(i + 1, end);
      else simple = false;
      i = end;
      continue;
    }
    if (ch === "(" || ch === "{" || ch === "[") depth++;
    else if (ch === ")" || ch === "}" || ch === "]") {
      if (depth === 0) {
        out.push(simple ? current : null);
        return out;
      }
      depth--;
    } else if (ch === "," && depth === 0) {
      out.push(simple ? current : null);
      current = null;
      simple = true;
    } else if (!/\s/.test(ch)) {
      if (current !== null) simple = false;
      else if (ch !== '"') simple = simple && false;
    }
  }
  throw new Error("unterminated argument list");
}

const optionsFiles = await list("cmd/cosign/cli/options");
const optionsSrc = (await Promise.all(optionsFiles.map(show))).join("\n");

/** Field name → type name, per options struct. */
const structs = new Map<string, Map<string, string>>();
for (const m of optionsSrc.matchAll(/type (\w+) struct \{/g)) {
  const body = block(optionsSrc, m.index! + m[0].length - 1);
  const fields = new Map<string, string>();
  for (const line of body.split("\n")) {
    const f = /^\s*(\w+)\s+\*?(?:options\.)?(\w+)\s*(?:`.*)?$/.exec(line);
    if (f) fields.set(f[1]!, f[2]!);
    const embedded = /^\s*\*?(\w+Options)\s*$/.exec(line);
    if (embedded) fields.set(embedded[1]!, embedded[1]!);
  }
  structs.set(m[1]!, fields);
}

/** Options type → its AddFlags body. */
const addFlags = new Map<string, string>();
for (const m of optionsSrc.matchAll(/func \(\w+ \*(\w+)\) AddFlags\(cmd \*cobra\.Command\) \{/g)) {
  addFlags.set(m[1]!, block(optionsSrc, m.index! + m[0].length - 1));
}

/** The flags an options type registers, its nested options' included. */
function flagsOf(type: string, seen = new Set<string>()): Flag[] {
  if (seen.has(type)) return [];
  seen.add(type);
  const body = addFlags.get(type);
  if (body === undefined) throw new Error(`no AddFlags for ${type}`);
  const out: Flag[] = [];
  const re = /cmd\.(?:Persistent)?Flags\(\)\.(\w+)\(|\b\w+\.(\w+)\.AddFlags\(cmd\)/g;
  for (const m of body.matchAll(re)) {
    if (m[2]) {
      const fieldType = structs.get(type)?.get(m[2]);
      if (!fieldType) throw new Error(`${type}.${m[2]}: unknown field type`);
      out.push(...flagsOf(fieldType, seen));
      continue;
    }
    const method = m[1]!;
    if (!/Var(P)?$/.test(method)) continue; // MarkFlag…, SetNormalizeFunc, …
    const args = argStrings(body, m.index! + m[0].length);
    const name = args[1];
    if (!name) throw new Error(`${type}: cannot read the name of a ${method} flag`);
    out.push({ name, short: method.endsWith("VarP") ? args[2] ?? "" : "" });
  }
  return out;
}

const commands: Record<string, Flag[]> = {};
for (const file of await list("cmd/cosign/cli")) {
  const src = await show(file);
  const funcs = [...src.matchAll(/func (\w+)\(\) \*cobra\.Command \{/g)].map((m) => ({
    name: m[1]!,
    body: block(src, m.index! + m[0].length - 1),
  }));
  const use = (body: string) => /Use:\s*"([\w-]+)/.exec(body)?.[1];
  // A group: an exported function that adds the file's unexported commands.
  const group = funcs.find((f) => /^[A-Z]/.test(f.name) && /AddCommand\(/.test(f.body));
  for (const f of funcs) {
    const u = use(f.body);
    if (!u || f === group || f.name === "New") continue;
    const vars = new Map<string, string>();
    for (const v of f.body.matchAll(/(\w+) := &options\.(\w+)\{\}/g)) vars.set(v[1]!, v[2]!);
    const flags: Flag[] = [];
    for (const a of f.body.matchAll(/(\w+)\.AddFlags\(cmd\)/g)) {
      const t = vars.get(a[1]!);
      if (t) flags.push(...flagsOf(t));
    }
    const name = group ? `${use(group.body)} ${u}` : u;
    commands[name] = flags;
  }
}
// A group's word alone (`piv-tool` of a build without PIV) is not a command of its own.
for (const name of Object.keys(commands)) {
  if (Object.keys(commands).some((c) => c.startsWith(`${name} `))) delete commands[name];
}
// Not in cosign's tree (cmd/cosign/cli/commands.go adds them from other modules):
commands["login"] = [ // crane's `auth login` (go-containerregistry cmd/crane/cmd/auth.go)
  { name: "username", short: "u" },
  { name: "password", short: "p" },
  { name: "password-stdin", short: "" },
];
commands["version"] = [{ name: "json", short: "" }]; // sigs.k8s.io/release-utils/version
const root = await show("cmd/cosign/cli/options/root.go");
const global = flagsOf("RootOptions");
if (!root.includes("RootOptions")) throw new Error("no RootOptions");

const commit = (await git(["rev-list", "-n", "1", tag])).trim();
const sorted = Object.fromEntries(Object.entries(commands).sort(([a], [b]) => a.localeCompare(b)));
const out = {
  source:
    `github.com/sigstore/cosign ${tag} (${commit}), cmd/cosign/cli and cmd/cosign/cli/options`,
  generatedBy: "scripts/extract_cosign_flags.ts",
  global,
  commands: sorted,
};
const path = new URL("../docs/cosign-v2.6-flags.json", import.meta.url).pathname;
await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
const { denoFmt } = await import("./flag_coverage.ts");
await Deno.writeTextFile(path, await denoFmt(JSON.stringify(out, null, 2) + "\n", "json"));
const total = Object.values(commands).reduce((n, f) => n + f.length, 0);
console.log(
  `${Object.keys(commands).length} commands, ${total} flags, ${global.length} global: ${path}`,
);
