/**
 * Registry credentials as docker, crane and go-containerregistry find them:
 * `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (`credHelpers[registry]`, then
 * `credsStore`, then `auths` with `auth`, `username`/`password`, `identitytoken`,
 * `registrytoken`), then `$REGISTRY_AUTH_FILE`, then the containers `auth.json` locations.
 * Entries are looked up as `registry/repository` first, then `registry`; Docker Hub's key is
 * `https://index.docker.io/v1/`. Credential helpers run as `docker-credential-NAME get`, found
 * only through absolute `PATH` entries: an empty, `.` or other relative entry would run a
 * program from the current directory (a cloned repository, say), which Go refuses too
 * (`exec.ErrDot`).
 * @module
 */

import { trace } from "../trace.ts";
import { CosignError } from "../errors.ts";
import { DOCKER_HUB } from "./reference.ts";

/** Credentials for one registry. */
export interface Credentials {
  /** The user name. */
  username?: string;
  /** The password. */
  password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`). */
  identityToken?: string;
  /** A bearer token used as is (docker's `registrytoken`, or `--registry-token`). */
  registryToken?: string;
}

/** Finds credentials for a repository. */
export type Keychain = (registry: string, repository: string) => Promise<Credentials | undefined>;

/** Where the keychain looks (injectable for tests). */
export interface KeychainEnv {
  /** Reads an environment variable. */
  getEnv: (name: string) => string | undefined;
  /** Reads a text file; `undefined` when it does not exist. */
  readFile: (path: string) => Promise<string | undefined>;
  /** Runs `docker-credential-NAME get` for a server URL and returns its output. */
  runHelper: (name: string, serverUrl: string) => Promise<string>;
}

const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

/** Normalises a config key (`https://host/v1/`, `host`, `http://host`) to a host[/path]. */
function normaliseKey(key: string): string {
  let k = key.replace(/^https?:\/\//, "").replace(/\/+$/, "");
  if (k === "index.docker.io/v1" || k === "docker.io" || k === "registry-1.docker.io") {
    k = DOCKER_HUB;
  }
  return k;
}

/** The paths consulted, in order. */
export function configPaths(getEnv: (n: string) => string | undefined): string[] {
  const home = getEnv("HOME") ?? "";
  const paths = [
    getEnv("DOCKER_CONFIG")
      ? `${getEnv("DOCKER_CONFIG")}/config.json`
      : `${home}/.docker/config.json`,
  ];
  const authFile = getEnv("REGISTRY_AUTH_FILE");
  if (authFile) paths.push(authFile);
  const runtime = getEnv("XDG_RUNTIME_DIR");
  if (runtime) paths.push(`${runtime}/containers/auth.json`);
  paths.push(`${getEnv("XDG_CONFIG_HOME") ?? `${home}/.config`}/containers/auth.json`);
  return paths;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}
interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function fromEntry(e: AuthEntry, path: string, key: string): Credentials | undefined {
  const c: Credentials = {};
  if (e.auth) {
    let decoded: string;
    try {
      decoded = new TextDecoder().decode(Uint8Array.fromBase64(e.auth));
    } catch {
      throw new CosignError("REGISTRY_AUTH", `Invalid "auth" for ${key} in ${path}: not base64`);
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new CosignError(
        "REGISTRY_AUTH",
        `Invalid "auth" for ${key} in ${path}: not user:password`,
      );
    }
    c.username = decoded.slice(0, colon);
    c.password = decoded.slice(colon + 1);
  } else if (e.username !== undefined) {
    c.username = e.username;
    c.password = e.password ?? "";
  }
  if (e.identitytoken) c.identityToken = e.identitytoken;
  if (e.registrytoken) c.registryToken = e.registrytoken;
  return Object.keys(c).length ? c : undefined;
}

async function fromHelper(
  env: KeychainEnv,
  helper: string,
  registry: string,
): Promise<Credentials | undefined> {
  const server = registry === DOCKER_HUB ? DOCKER_HUB_KEY : registry;
  const out = await env.runHelper(helper, server);
  if (out.trim() === "" || /credentials not found/i.test(out)) return undefined;
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(out);
  } catch {
    throw new CosignError(
      "REGISTRY_AUTH",
      `docker-credential-${helper} returned invalid JSON for ${registry}`,
    );
  }
  if (!parsed.Secret) return undefined;
  return parsed.Username === "<token>"
    ? { identityToken: parsed.Secret }
    : { username: parsed.Username ?? "", password: parsed.Secret };
}

/** Reads one config file and finds credentials in it, or `undefined`. */
async function lookup(
  env: KeychainEnv,
  path: string,
  registry: string,
  repository: string,
): Promise<Credentials | undefined> {
  const text = await env.readFile(path);
  if (text === undefined) return undefined;
  let cfg: DockerConfig;
  try {
    cfg = JSON.parse(text);
  } catch {
    throw new CosignError("REGISTRY_AUTH", `Cannot read registry credentials: ${path} is not JSON`);
  }
  const helper = cfg.credHelpers?.[registry] ??
    (registry === DOCKER_HUB
      ? cfg.credHelpers?.[DOCKER_HUB_KEY] ?? cfg.credHelpers?.["docker.io"]
      : undefined);
  if (helper) {
    trace(
      `auth: ${registry}: credentials from docker-credential-${helper} (credHelpers in ${path})`,
    );
    return await fromHelper(env, helper, registry);
  }
  const auths = new Map<string, AuthEntry>();
  for (const [k, v] of Object.entries(cfg.auths ?? {})) {
    const nk = normaliseKey(k);
    if (!auths.has(nk) || k === DOCKER_HUB_KEY) auths.set(nk, v);
  }
  for (const key of [`${registry}/${repository}`, registry]) {
    const e = auths.get(key);
    if (e) {
      const c = fromEntry(e, path, key);
      if (c) {
        trace(`auth: ${registry}: credentials from auths["${key}"] in ${path}`);
        return c;
      }
    }
  }
  if (cfg.credsStore) {
    trace(
      `auth: ${registry}: credentials from docker-credential-${cfg.credsStore} (credsStore in ${path})`,
    );
    return await fromHelper(env, cfg.credsStore, registry);
  }
  return undefined;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw new CosignError(
      "REGISTRY_AUTH",
      `Cannot read registry credentials from ${path}: ${(e as Error).message}`,
    );
  }
}

/**
 * Finds an executable file named `program` in the absolute entries of `pathList` (a `PATH`
 * value), in order. Empty, `.` and other relative entries are skipped: they name the current
 * directory, whose contents the user did not choose to run.
 * @returns its absolute path, or `undefined`
 */
export async function findOnAbsolutePath(
  program: string,
  pathList: string | undefined,
): Promise<string | undefined> {
  for (const dir of (pathList ?? "").split(":")) {
    if (!dir.startsWith("/")) continue;
    const candidate = `${dir.replace(/\/+$/, "")}/${program}`;
    try {
      const st = await Deno.stat(candidate);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return candidate;
    } catch { /* not there: try the next entry */ }
  }
  return undefined;
}

async function runCredentialHelper(
  name: string,
  serverUrl: string,
  pathList: string | undefined,
): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new CosignError("REGISTRY_AUTH", `Invalid credential helper name "${name}"`);
  }
  const program = await findOnAbsolutePath(`docker-credential-${name}`, pathList);
  if (!program) {
    throw new CosignError(
      "REGISTRY_AUTH",
      `Credential helper docker-credential-${name} not found on PATH ` +
        `(only absolute PATH entries are searched, never the current directory)`,
    );
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: ["get"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new CosignError(
      "REGISTRY_AUTH",
      `Credential helper ${program} could not be run: ${(e as Error).message}`,
    );
  }
  const w = child.stdin.getWriter();
  try {
    await w.write(new TextEncoder().encode(serverUrl));
    await w.close();
  } catch (e) {
    // A helper may exit without reading its input; its exit status and output still decide.
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
  const r = await child.output();
  const out = new TextDecoder().decode(r.stdout);
  if (r.code !== 0) {
    if (/credentials not found/i.test(out + new TextDecoder().decode(r.stderr))) return "";
    throw new CosignError(
      "REGISTRY_AUTH",
      `Credential helper docker-credential-${name} failed for ${serverUrl} (exit ${r.code})`,
    );
  }
  return out;
}

/**
 * The default keychain, reading the real environment, files and helpers.
 * @example
 * ```ts
 * import { defaultKeychain, RegistryClient } from "@cosign-deno/cosign";
 * const keychain = defaultKeychain();
 * const creds = await keychain("ghcr.io", "org/app"); // docker config, credential helpers, …
 * const client = new RegistryClient({ keychain });
 * ```
 */
export function defaultKeychain(env: Partial<KeychainEnv> = {}): Keychain {
  const getEnv = env.getEnv ?? ((n: string) => Deno.env.get(n));
  const full: KeychainEnv = {
    getEnv,
    readFile: env.readFile ?? readIfExists,
    runHelper: env.runHelper ??
      ((name, serverUrl) => runCredentialHelper(name, serverUrl, getEnv("PATH"))),
  };
  return async (registry, repository) => {
    const paths = configPaths(full.getEnv);
    for (const path of paths) {
      const c = await lookup(full, path, registry, repository);
      if (c) return c;
    }
    trace(
      `auth: ${registry}: no credentials in ${paths.join(", ") || "any config file"}; anonymous`,
    );
    return undefined;
  };
}

/**
 * A keychain that answers `creds` for every registry (the `--registry-*` flags).
 * @example
 * ```ts
 * import { RegistryClient, staticKeychain } from "@cosign-deno/cosign";
 * const password = Deno.env.get("REGISTRY_PASSWORD") ?? "";
 * const client = new RegistryClient({ keychain: staticKeychain({ username: "ci", password }) });
 * ```
 */
export function staticKeychain(creds: Credentials): Keychain {
  return (registry) => {
    trace(
      `auth: ${registry}: ${
        creds.registryToken ? "bearer token" : "username and password"
      } from flags`,
    );
    return Promise.resolve(creds);
  };
}
