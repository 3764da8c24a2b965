/**
 * Builds a signed release into `dist/` (`deno task release VERSION`):
 *
 * ```
 * deno task release VERSION [--key KEYREF] [--oci REPOSITORY] [--tlog-upload=false]
 *                           [--sign-arg ARG]... [--out-dir DIR]
 * ```
 *
 * What `dist/` then holds:
 * - `cosign.js`, `sget.js`: the single-file programs (`deno task bundle`), built from a copy of
 *   the sources whose `deno.json` says VERSION, so `cosign version` prints it;
 * - `cosign-TARGET`, `sget-TARGET`: compiled executables, only when `DENORT_BIN` names a denort
 *   (for that runtime's target): `deno compile` cannot download one here. Without it this step is
 *   skipped with a message;
 * - `install.sh`: the installer (scripts/install.sh);
 * - `sbom.spdx.json`: an SPDX 2.3 SBOM of every npm package in `deno.lock`, with its integrity
 *   hash, purl, declared license (from the package in Deno's cache, when there) and dependencies;
 *   the packages the programs do not use (test tools) are marked as development dependencies;
 * - `VERSION`: the version, one line;
 * - `checksums.txt`: SHA-256 of each of the above, in `sha256sum -c` format;
 * - `NAME.sigstore.json` for each of the above and for `checksums.txt`: a Sigstore bundle made by
 *   the release's own `cosign.js sign-blob --new-bundle-format --bundle`, with the key `--key`
 *   (or `COSIGN_RELEASE_KEY`; its password from `COSIGN_PASSWORD`), or keylessly when there is no
 *   key and an identity token is at hand (`SIGSTORE_ID_TOKEN`, or `--sign-arg
 *   --identity-token=…`). `--tlog-upload=false` and every `--sign-arg` go to each signing command.
 *
 * With `--oci REPOSITORY` (or `COSIGN_RELEASE_OCI`), every file above except the per-file bundles
 * is pushed with `cosign upload blob` as the single-layer image `REPOSITORY:VERSION-NAME`, and all
 * of them are signed with one `cosign sign`, so `sget --key … REPOSITORY:VERSION-NAME` fetches a
 * verified file (the installer does).
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { executableTarget, PROGRAMS } from "./compile.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const dec = new TextDecoder();

/** What a release must be called: SemVer without build metadata (it goes into image tags). */
export const VERSION_PATTERN = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z][0-9A-Za-z.-]*)?$/;
/** The SBOM's file name. */
export const SBOM_NAME = "sbom.spdx.json";

class ReleaseError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// SBOM

interface LockPackage {
  integrity?: string;
  dependencies?: string[];
}

interface Lock {
  specifiers?: Record<string, string>;
  npm?: Record<string, LockPackage>;
}

/** `name@version` → [name, version] (scoped names keep their leading `@`). */
export function splitPackageKey(key: string): [string, string] {
  const at = key.indexOf("@", 1);
  if (at < 0) throw new ReleaseError(`deno.lock: package key without a version: ${key}`);
  // peer-dependency suffixes (`a@1.0.0_b@2.0.0`) are not part of the version
  return [key.slice(0, at), key.slice(at + 1).split("_")[0]!];
}

function spdxId(key: string): string {
  return "SPDXRef-npm-" + key.replace(/[^A-Za-z0-9.-]/g, "-");
}

function purl(name: string, version: string): string {
  const n = name.startsWith("@") ? "%40" + name.slice(1) : name;
  return `pkg:npm/${n}@${version}`;
}

function tarballUrl(name: string, version: string): string {
  const base = name.includes("/") ? name.split("/")[1]! : name;
  return `https://registry.npmjs.org/${name}/-/${base}-${version}.tgz`;
}

/** An SRI hash (`sha512-BASE64`) as an SPDX checksum. */
function checksum(integrity: string | undefined): { algorithm: string; checksumValue: string }[] {
  const m = /^(sha1|sha256|sha384|sha512)-([A-Za-z0-9+/=]+)$/.exec(integrity ?? "");
  if (!m) return [];
  const hex = [...Uint8Array.fromBase64(m[2]!)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  return [{ algorithm: m[1]!.toUpperCase(), checksumValue: hex }];
}

/** Options for {@link spdxSbom}. */
export interface SbomOptions {
  version: string;
  /** The `npm:` packages (name@version) the shipped programs import directly. */
  shipped: readonly string[];
  /** Declared licenses by package key, where known. */
  licenses?: Record<string, string>;
  /** The document's creation time. */
  created: Date;
}

/** An SPDX 2.3 document describing the release and every npm package in `lock`. */
export function spdxSbom(lock: Lock, options: SbomOptions): Record<string, unknown> {
  const npm = lock.npm ?? {};
  const keys = Object.keys(npm).sort();
  const byName = new Map<string, string[]>();
  for (const k of keys) {
    const [name] = splitPackageKey(k);
    byName.set(name, [...(byName.get(name) ?? []), k]);
  }
  const resolveDep = (dep: string, from: string): string => {
    if (npm[dep]) return dep;
    const named = byName.get(dep.includes("@", 1) ? splitPackageKey(dep)[0] : dep) ?? [];
    if (named.length === 1) return named[0]!;
    throw new ReleaseError(`deno.lock: cannot resolve dependency ${dep} of ${from}`);
  };
  // What the programs carry: the shipped packages and everything they depend on.
  const carried = new Set<string>();
  const stack = options.shipped.map((s) => resolveDep(s, "the programs"));
  while (stack.length) {
    const k = stack.pop()!;
    if (carried.has(k)) continue;
    carried.add(k);
    for (const d of npm[k]?.dependencies ?? []) stack.push(resolveDep(d, k));
  }
  const direct = new Set<string>();
  for (const [spec, version] of Object.entries(lock.specifiers ?? {})) {
    if (!spec.startsWith("npm:")) continue;
    const name = splitPackageKey(spec.slice(4))[0];
    direct.add(resolveDep(`${name}@${version}`, "deno.json"));
  }
  for (const s of options.shipped) direct.add(resolveDep(s, "the programs"));

  const root = "SPDXRef-Package-cosign-deno";
  const packages: Record<string, unknown>[] = [{
    name: "@cosign-deno/cosign",
    SPDXID: root,
    versionInfo: options.version,
    downloadLocation: "NOASSERTION",
    filesAnalyzed: false,
    licenseConcluded: "Apache-2.0",
    licenseDeclared: "Apache-2.0",
    copyrightText: "NOASSERTION",
    primaryPackagePurpose: "APPLICATION",
  }];
  const relationships: Record<string, string>[] = [
    { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: root },
  ];
  for (const k of keys) {
    const [name, version] = splitPackageKey(k);
    packages.push({
      name,
      SPDXID: spdxId(k),
      versionInfo: version,
      downloadLocation: tarballUrl(name, version),
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: options.licenses?.[k] ?? "NOASSERTION",
      copyrightText: "NOASSERTION",
      checksums: checksum(npm[k]!.integrity),
      externalRefs: [{
        referenceCategory: "PACKAGE-MANAGER",
        referenceType: "purl",
        referenceLocator: purl(name, version),
      }],
      primaryPackagePurpose: "LIBRARY",
    });
    if (direct.has(k)) {
      relationships.push(
        carried.has(k)
          ? { spdxElementId: root, relationshipType: "DEPENDS_ON", relatedSpdxElement: spdxId(k) }
          : {
            spdxElementId: spdxId(k),
            relationshipType: "DEV_DEPENDENCY_OF",
            relatedSpdxElement: root,
          },
      );
    }
    for (const d of npm[k]!.dependencies ?? []) {
      relationships.push({
        spdxElementId: spdxId(k),
        relationshipType: "DEPENDS_ON",
        relatedSpdxElement: spdxId(resolveDep(d, k)),
      });
    }
  }
  const lockDigest = createHash("sha256").update(JSON.stringify(lock)).digest("hex");
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `cosign-deno-${options.version}`,
    documentNamespace:
      `https://cosign-deno.invalid/spdx/cosign-deno-${options.version}-${lockDigest}`,
    creationInfo: {
      created: options.created.toISOString().replace(/\.\d{3}Z$/, "Z"),
      creators: ["Tool: cosign-deno scripts/release.ts"],
    },
    documentDescribes: [root],
    packages,
    relationships,
  };
}

/** The npm packages (name@version) the programs import, from `deno info` of their entries. */
async function shippedPackages(stage: string): Promise<string[]> {
  const found = new Set<string>();
  for (const program of PROGRAMS) {
    const r = await run(Deno.execPath(), [
      "info",
      "--json",
      "--config",
      join(stage, "deno.json"),
      join(stage, "scripts", "entries", `${program}.ts`),
    ], { cwd: stage });
    const info = JSON.parse(r.stdout) as { modules: { npmPackage?: string }[] };
    for (const m of info.modules) if (m.npmPackage) found.add(m.npmPackage);
  }
  return [...found].sort();
}

/** Declared licenses of the locked packages, read from Deno's npm cache where present. */
async function cachedLicenses(keys: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let cache: string | undefined;
  try {
    const r = await run(Deno.execPath(), ["info", "--json"], { cwd: ROOT });
    cache = (JSON.parse(r.stdout) as { npmCache?: string }).npmCache;
  } catch { /* no cache: NOASSERTION */ }
  if (!cache) return out;
  for (const k of keys) {
    const [name, version] = splitPackageKey(k);
    try {
      const pkg = JSON.parse(
        await Deno.readTextFile(join(cache, "registry.npmjs.org", name, version, "package.json")),
      ) as { license?: unknown };
      if (typeof pkg.license === "string" && /^[A-Za-z0-9.+()\- ]+$/.test(pkg.license)) {
        out[k] = pkg.license;
      }
    } catch { /* not cached */ }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building

async function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<{ stdout: string; stderr: string }> {
  const r = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = dec.decode(r.stdout), stderr = dec.decode(r.stderr);
  if (r.code !== 0) {
    const what = [cmd === Deno.execPath() ? "deno" : cmd, ...args.slice(0, 3)].join(" ");
    throw new ReleaseError(`${what} … failed (exit ${r.code}): ${stderr.trim().split("\n")[0]}`);
  }
  return { stdout, stderr };
}

/** A copy of what the programs are built from, with `version` in its deno.json. */
async function stageSources(version: string): Promise<string> {
  const stage = await Deno.makeTempDir({ prefix: "cosign-release-src-" });
  for (const entry of ["lib", "kms", "piv", "cli.ts", "mod.ts", "deno.lock", "LICENSE"]) {
    await run("cp", ["-R", join(ROOT, entry), stage + "/"], { cwd: ROOT });
  }
  await Deno.mkdir(join(stage, "scripts"));
  for (const entry of ["entries", "bundle.ts", "compile.ts"]) {
    await run("cp", ["-R", join(ROOT, "scripts", entry), join(stage, "scripts") + "/"], {
      cwd: ROOT,
    });
  }
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  config.version = version;
  await Deno.writeTextFile(join(stage, "deno.json"), JSON.stringify(config, null, 2) + "\n");
  return stage;
}

async function readHead(path: string): Promise<Uint8Array> {
  using f = await Deno.open(path);
  const buf = new Uint8Array(4096);
  const n = await f.read(buf);
  return buf.subarray(0, n ?? 0);
}

/** Compiled executables for DENORT_BIN's target, or a reason why there are none. */
async function compileBinaries(stage: string, out: string): Promise<string[] | string> {
  const denort = Deno.env.get("DENORT_BIN");
  if (!denort) {
    return "DENORT_BIN is not set: deno compile cannot download its runtime here; set " +
      "DENORT_BIN to a denort binary to add compiled executables";
  }
  const target = executableTarget(await readHead(denort).catch(() => new Uint8Array()));
  if (!target) throw new ReleaseError(`DENORT_BIN=${denort} is not a denort executable`);
  const dir = join(stage, "compiled");
  await run(Deno.execPath(), [
    "run",
    "--allow-all",
    join(stage, "scripts", "compile.ts"),
    "--target",
    target,
    "--out-dir",
    dir,
  ], { cwd: stage });
  const written: string[] = [];
  for (const program of PROGRAMS) {
    const exe = target.includes("windows") ? ".exe" : "";
    const name = `${program}-${target}${exe}`;
    await Deno.rename(join(dir, target, program + exe), join(out, name));
    written.push(name);
  }
  return written;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  using f = await Deno.open(path);
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

interface Signing {
  key?: string;
  /** Flags for every signing command. */
  args: string[];
}

function cosignIn(out: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(Deno.execPath(), ["run", "--no-config", "--quiet", "-A", "cosign.js", ...args], {
    cwd: out,
  });
}

/** Runs `fn` over `items`, `limit` at a time; results in order. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Processes at once for signing and pushing (each mostly waits on scrypt or the network). */
const CONCURRENCY = 3;

async function signBlobs(out: string, names: string[], signing: Signing): Promise<string[]> {
  return await pool(names, CONCURRENCY, async (name) => {
    const bundle = `${name}.sigstore.json`;
    await cosignIn(out, [
      "sign-blob",
      ...(signing.key ? ["--key", signing.key] : []),
      "--new-bundle-format",
      "--bundle",
      bundle,
      "--output-signature",
      "/dev/null",
      "-y",
      ...signing.args,
      name,
    ]);
    return bundle;
  });
}

async function pushOci(
  out: string,
  repository: string,
  version: string,
  names: string[],
  signing: Signing,
): Promise<string[]> {
  const refs = await pool(names, CONCURRENCY, async (name) => {
    const tag = `${version}-${name}`;
    const r = await cosignIn(out, ["upload", "blob", "-f", name, `${repository}:${tag}`]);
    const ref = r.stdout.trim().split("\n").at(-1) ?? "";
    if (!/@sha256:[0-9a-f]{64}$/.test(ref)) {
      throw new ReleaseError(`cosign upload blob ${name} printed no digest: ${r.stdout}`);
    }
    return ref;
  });
  for (const [i, name] of names.entries()) {
    console.log(`Pushed ${name} as ${repository}:${version}-${name} (${refs[i]!.split("@")[1]})`);
  }
  await cosignIn(out, [
    "sign",
    ...(signing.key ? ["--key", signing.key] : []),
    "-y",
    ...signing.args,
    ...refs,
  ]);
  console.log(`Signed ${refs.length} images in ${repository}`);
  return refs;
}

const USAGE = "usage: deno task release VERSION [--key KEYREF] [--oci REPOSITORY] " +
  "[--tlog-upload=false] [--sign-arg ARG]... [--out-dir DIR]";

interface Options {
  version: string;
  outDir: string;
  defaultOut: boolean;
  signing: Signing;
  oci?: string;
}

function parseOptions(args: string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        key: { type: "string" },
        oci: { type: "string" },
        "tlog-upload": { type: "string" },
        "sign-arg": { type: "string", multiple: true },
        "out-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new ReleaseError(`${(e as Error).message}; ${USAGE}`, 2);
  }
  const v = parsed.values;
  if (v.help) return "help";
  if (parsed.positionals.length !== 1) throw new ReleaseError(USAGE, 2);
  const version = parsed.positionals[0]!.replace(/^v/, "");
  if (!VERSION_PATTERN.test(version)) {
    throw new ReleaseError(`invalid version ${version}: want MAJOR.MINOR.PATCH[-PRERELEASE]`, 2);
  }
  const tlog = v["tlog-upload"];
  if (tlog !== undefined && tlog !== "true" && tlog !== "false") {
    throw new ReleaseError(`--tlog-upload takes true or false, not ${tlog}`, 2);
  }
  const key = v.key ?? (Deno.env.get("COSIGN_RELEASE_KEY") || undefined);
  const signArgs = [...(tlog ? [`--tlog-upload=${tlog}`] : []), ...(v["sign-arg"] ?? [])];
  if (
    !key && !Deno.env.get("SIGSTORE_ID_TOKEN") &&
    !signArgs.some((a) => a.startsWith("--identity-token"))
  ) {
    throw new ReleaseError(
      "no signing identity: pass --key KEYREF (or set COSIGN_RELEASE_KEY), or provide an " +
        "identity token (SIGSTORE_ID_TOKEN) to sign keylessly",
      2,
    );
  }
  const base = Deno.env.get("INIT_CWD") || Deno.cwd();
  const outDir = v["out-dir"] === undefined ? join(ROOT, "dist") : resolve(base, v["out-dir"]);
  const oci = v.oci ?? (Deno.env.get("COSIGN_RELEASE_OCI") || undefined);
  return {
    version,
    outDir,
    defaultOut: v["out-dir"] === undefined,
    signing: { ...(key ? { key } : {}), args: signArgs },
    ...(oci ? { oci } : {}),
  };
}

/** Makes `dir` an empty folder: the default dist/ is emptied, another folder must be empty. */
async function emptyOutDir(dir: string, isDefault: boolean): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const entries: string[] = [];
  for await (const e of Deno.readDir(dir)) entries.push(e.name);
  if (entries.length === 0) return;
  if (!isDefault) throw new ReleaseError(`${dir} is not empty: give an empty or new folder`, 2);
  for (const e of entries) await Deno.remove(join(dir, e), { recursive: true });
}

async function main(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  if (opts === "help") {
    console.log(USAGE);
    return 0;
  }
  const { version, outDir } = opts;
  // Key references relative to where the user is, as cosign reads them.
  if (opts.signing.key && !/^[a-z0-9]+:\/\//.test(opts.signing.key)) {
    opts.signing.key = resolve(Deno.env.get("INIT_CWD") || Deno.cwd(), opts.signing.key);
  }
  await emptyOutDir(outDir, opts.defaultOut);
  await Deno.writeTextFile(join(outDir, ".gitignore"), "*\n");
  const stage = await stageSources(version);
  try {
    // the programs
    await run(Deno.execPath(), [
      "run",
      "--allow-all",
      join(stage, "scripts", "bundle.ts"),
      "--out-dir",
      join(stage, "bundles"),
    ], { cwd: stage });
    const artifacts: string[] = [];
    for (const program of PROGRAMS) {
      await Deno.copyFile(join(stage, "bundles", `${program}.js`), join(outDir, `${program}.js`));
      await Deno.chmod(join(outDir, `${program}.js`), 0o755);
      artifacts.push(`${program}.js`);
    }
    const compiled = await compileBinaries(stage, outDir);
    if (typeof compiled === "string") console.error(`Skipping compiled executables: ${compiled}`);
    else artifacts.push(...compiled);
    await Deno.copyFile(join(ROOT, "scripts", "install.sh"), join(outDir, "install.sh"))
      .then(() => artifacts.push("install.sh"))
      .catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    // the SBOM
    const lock = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.lock"))) as Lock;
    const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
    const sbom = spdxSbom(lock, {
      version,
      shipped: await shippedPackages(stage),
      licenses: await cachedLicenses(Object.keys(lock.npm ?? {})),
      created: epoch ? new Date(Number(epoch) * 1000) : new Date(),
    });
    await Deno.writeTextFile(join(outDir, SBOM_NAME), JSON.stringify(sbom, null, 2) + "\n");
    artifacts.push(SBOM_NAME);
    await Deno.writeTextFile(join(outDir, "VERSION"), version + "\n");
    artifacts.push("VERSION");
    // checksums, then a bundle for every file
    artifacts.sort();
    const lines: string[] = [];
    for (const a of artifacts) lines.push(`${await sha256File(join(outDir, a))}  ${a}`);
    await Deno.writeTextFile(join(outDir, "checksums.txt"), lines.join("\n") + "\n");
    const bundles = await signBlobs(outDir, [...artifacts, "checksums.txt"], opts.signing);
    for (const b of bundles) console.log(`Signed ${b.replace(/\.sigstore\.json$/, "")}`);
    if (opts.oci) {
      await pushOci(outDir, opts.oci, version, [
        ...artifacts,
        "checksums.txt",
        "checksums.txt.sigstore.json",
      ], opts.signing);
    }
    console.log(`Release ${version} in ${outDir}`);
    return 0;
  } finally {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    console.error(`error: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`);
    code = e instanceof ReleaseError ? e.exitCode : 1;
  }
  Deno.exit(code);
}
