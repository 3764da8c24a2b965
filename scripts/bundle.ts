/**
 * Builds the single-file programs with `deno bundle` (`deno task bundle`):
 *
 * ```
 * deno task bundle                 # dist/cosign.js, dist/sget.js
 * deno task bundle --out-dir DIR   # instead of dist/
 * ```
 *
 * Each file holds the whole program with every npm dependency inlined: it imports nothing but
 * Deno's `node:` built-ins, so `deno run cosign.js …` needs no network, no `DENO_DIR` cache and no
 * `deno.json` (checked here: a file that still imports anything else is refused). Each starts
 * with `#!/usr/bin/env -S deno run --no-config PERMISSIONS` (the permissions of the compiled
 * executables, {@link PERMISSIONS}), so it can be run as a command.
 *
 * Lazy loading: every dynamic `import()` in the code base names a module literally, and the
 * bundler turns each into a module that is evaluated on first use only (its code is in the
 * file, its top level does not run at start-up), so commands, the verification stack, the TUF
 * client and the OIDC login cost nothing until used. The KMS providers (`kms/*.ts`) follow the
 * same rule, but the AWS and Azure SDKs they import on first use are left out
 * ({@link ALLOWED_EXTERNAL}): Deno fetches them from npm when such a key is first used, and
 * without the network the provider fails in one line naming the package. PIV tokens are not
 * implemented yet.
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PERMISSIONS, PROGRAMS } from "./compile.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** How long one `deno bundle` may take. */
const BUNDLE_TIMEOUT_MS = 5 * 60_000;
/**
 * Imports a bundle keeps besides `node:` built-ins: the cloud KMS SDKs, which the providers in
 * `kms/` import dynamically on first use. Left out of the bundles (about 3 MB that every
 * command would otherwise parse at start-up), they are fetched by Deno from npm the first time
 * a key of that cloud is used; offline, the provider fails in one line naming the package
 * (`importSdk` in lib/crypto/kms.ts).
 */
export const ALLOWED_EXTERNAL: readonly string[] = [
  "npm:@aws-sdk/client-kms@3.1178.0",
  "npm:@azure/keyvault-keys@4.10.2",
  "npm:@azure/identity@4.14.1",
];

/** The first line of every bundle. */
export const SHEBANG = `#!/usr/bin/env -S deno run --no-config ${PERMISSIONS.join(" ")}`;

class BundleError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** The module specifiers a bundle still imports (static and dynamic), other than `node:`. */
export function foreignImports(code: string): string[] {
  const found = new Set<string>();
  const patterns = [
    /^\s*import\s[^;]*?\sfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /^\s*export\s[^;]*?\sfrom\s*["']([^"']+)["']/gm,
    /\bimport\s*\(\s*["'`]([^"'`]+)["'`]\s*\)/g,
    /\bimport\s*\(\s*(?!["'`])([^)]{0,80})\)/g,
  ];
  for (const re of patterns) {
    for (const m of code.matchAll(re)) {
      const spec = m[1]!.trim();
      if (!spec.startsWith("node:") && !ALLOWED_EXTERNAL.includes(spec)) found.add(spec);
    }
  }
  return [...found].sort();
}

async function bundleOne(program: string, out: string): Promise<void> {
  const entry = join(ROOT, "scripts", "entries", `${program}.ts`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--config",
      join(ROOT, "deno.json"),
      ...ALLOWED_EXTERNAL.flatMap((spec) => ["--external", spec]),
      "--output",
      out,
      entry,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, BUNDLE_TIMEOUT_MS);
  const r = await child.output().finally(() => clearTimeout(timer));
  if (r.code !== 0) {
    await Deno.stderr.write(r.stderr);
    throw new BundleError(`deno bundle ${program} failed (exit ${r.code})`);
  }
}

/** Builds `dist/cosign.js` and `dist/sget.js` (or into `outDir`); returns the paths written. */
export async function buildBundles(outDir: string): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const ignore = join(outDir, ".gitignore");
  if (!(await Deno.stat(ignore).catch(() => null))) await Deno.writeTextFile(ignore, "*\n");
  const stage = await Deno.makeTempDir({ dir: outDir, prefix: ".bundle-" });
  try {
    const built: string[] = [];
    for (const program of PROGRAMS) {
      const staged = join(stage, `${program}.js`);
      await bundleOne(program, staged);
      let code = await Deno.readTextFile(staged);
      if (code.startsWith("#!")) code = code.slice(code.indexOf("\n") + 1);
      const foreign = foreignImports(code);
      if (foreign.length > 0) {
        throw new BundleError(
          `${program}.js still imports ${foreign.join(", ")}: it would need the network or a ` +
            `cache to run`,
        );
      }
      await Deno.writeTextFile(staged, `${SHEBANG}\n${code}`, { mode: 0o755 });
      built.push(staged);
    }
    const written: string[] = [];
    for (const staged of built) {
      const dest = join(outDir, staged.slice(stage.length + 1));
      await Deno.rename(staged, dest);
      await Deno.chmod(dest, 0o755);
      written.push(dest);
    }
    return written;
  } finally {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
  }
}

const USAGE = "usage: deno task bundle [--out-dir DIR]";

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { "out-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new BundleError(`${(e as Error).message}; ${USAGE}`, 2);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const base = Deno.env.get("INIT_CWD") || Deno.cwd();
  const outDir = parsed.values["out-dir"] === undefined
    ? join(ROOT, "dist")
    : resolve(base, parsed.values["out-dir"]);
  for (const path of await buildBundles(outDir)) {
    const size = (await Deno.stat(path)).size;
    console.log(`Bundled ${path} (${(size / 1024).toFixed(0)} KiB)`);
  }
  return 0;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    console.error(`error: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`);
    code = e instanceof BundleError ? e.exitCode : 1;
  }
  Deno.exit(code);
}
