import { assert, assertEquals } from "../../tests/helpers.ts";
import { ENV_VARS, envText } from "./env.ts";

/** Variables of the platform, not cosign's: read, but not listed by `cosign env`. */
const GENERIC = new Set([
  "HOME",
  "PATH",
  "USERPROFILE",
  "XDG_CACHE_HOME",
  "XDG_CONFIG_HOME",
  "XDG_RUNTIME_DIR",
]);
/** Set by `deno task` for the program itself. */
const INTERNAL = new Set(["COSIGN_DENO_CALLER_CWD"]);

async function sources(): Promise<Map<string, string>> {
  const root = new URL("../../", import.meta.url).pathname;
  const out = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(root + dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (p.endsWith(".ts") && !p.endsWith("_test.ts")) {
        // Doc comments name variables in examples; only code counts.
        const code = (await Deno.readTextFile(root + p)).split("\n")
          .filter((l) => !/^\s*(\*|\/\/)/.test(l)).join("\n");
        out.set(p, code);
      }
    }
  };
  for (const d of ["lib", "kms", "piv"]) await walk(d);
  out.set("cli.ts", await Deno.readTextFile(root + "cli.ts"));
  return out;
}

Deno.test("cosign env lists every variable the code reads, and only those", async () => {
  const read = new Set<string>();
  for (const code of (await sources()).values()) {
    for (const m of code.matchAll(/(?:Deno\.env\.get|getEnv|\benv)\(\s*"([A-Z][A-Z0-9_]+)"/g)) {
      read.add(m[1]!);
    }
    for (const m of code.matchAll(/_ENV\s*=\s*"([A-Z][A-Z0-9_]+)"/g)) read.add(m[1]!);
  }
  assert(read.has("COSIGN_PASSWORD") && read.has("SIGSTORE_ROOT_FILE"), [...read].join(" "));
  const missing = [...read].filter((n) => !(n in ENV_VARS) && !GENERIC.has(n) && !INTERNAL.has(n));
  assertEquals(missing, [], "read by the code but not listed by cosign env");
  const all = [...(await sources())].filter(([p]) => p !== "lib/cli/env.ts").map(([, c]) => c)
    .join("\n");
  const unread = Object.keys(ENV_VARS).filter((n) => !all.includes(`"${n}"`));
  assertEquals(unread, [], "listed by cosign env but read nowhere");
});

Deno.test("envText: cosign's format; secrets and unregistered values hidden unless asked", () => {
  const env = {
    COSIGN_PASSWORD: "s3cret",
    COSIGN_REPOSITORY: "example.com/sigs",
    COSIGN_REGISTRY_PASSWORD: "regpass",
    TUF_SOMETHING: "x",
    UNRELATED: "y",
    COSIGN_DENO_CALLER_CWD: "/w",
  };
  const t = envText(env, { showDescriptions: true, showSensitive: false });
  assert(
    t.includes(
      "# COSIGN_REPOSITORY can be used to store signatures in an alternate location\n# Expects: string with a repository\nCOSIGN_REPOSITORY=example.com/sigs\n",
    ),
    t,
  );
  assert(t.includes("COSIGN_PASSWORD=******\n") && !t.includes("s3cret"), t);
  assert(t.includes("SIGSTORE_ID_TOKEN=\n"), "unset sensitive: empty, not stars");
  assert(
    t.includes(
      "# but might still influence cosign's behavior.\nCOSIGN_REGISTRY_PASSWORD=******\nTUF_SOMETHING=******\n",
    ),
    t,
  );
  assert(!t.includes("regpass") && !t.includes("UNRELATED") && !t.includes("CALLER_CWD"), t);
  const plain = envText(env, { showDescriptions: false, showSensitive: true });
  assert(!plain.includes("#"), plain);
  assert(
    plain.includes("COSIGN_PASSWORD=s3cret\n") &&
      plain.includes("COSIGN_REGISTRY_PASSWORD=regpass\n"),
    plain,
  );
  const names = plain.trim().split("\n").map((l) => l.split("=")[0]!);
  const registered = names.slice(0, Object.keys(ENV_VARS).length);
  assertEquals(registered, [...registered].sort(), "sorted, as cosign");
});
