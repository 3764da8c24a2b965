/**
 * The registry flags every registry command takes (cosign-spec §11.1), and the one
 * registry client a command builds from them.
 * @module
 */

import { UsageError } from "../errors.ts";
import { type ProviderOptions, readTextFile } from "../cosign/keyref.ts";
import { type Credentials, defaultKeychain, staticKeychain } from "../oci/keychain.ts";
import { type KnownHost, RegistryClient } from "../oci/registry.ts";
import { deadlineOption, parseDuration } from "./deadline_flag.ts";
import { bool, type FlagValues, str } from "./args.ts";
import type { FlagSpec } from "./args.ts";

export { parseDuration } from "./deadline_flag.ts";

/** Registry flags. */
export const REGISTRY_FLAGS: Record<string, FlagSpec> = {
  "allow-insecure-registry": {
    type: "boolean",
    default: false,
    description: "skip TLS certificate verification of the registry",
  },
  "allow-http-registry": {
    type: "boolean",
    default: false,
    description: "allow plain HTTP to registries that are not on this machine",
  },
  "registry-cacert": {
    type: "string",
    value: "FILE",
    check: "file",
    description: "PEM CA certificates to trust for the registry, besides the system roots",
  },
  "registry-client-cert": {
    type: "string",
    value: "FILE",
    check: "file",
    description:
      "PEM client certificate for mutual TLS with the registry (with --registry-client-key)",
  },
  "registry-client-key": {
    type: "string",
    value: "FILE",
    check: "file",
    description: "PEM private key of --registry-client-cert",
  },
  "registry-server-name": {
    type: "string",
    value: "NAME",
    description: "name to send as SNI and check the registry's TLS certificate against",
  },
  "k8s-keychain": {
    type: "boolean",
    default: false,
    description: "use the Kubernetes keychain",
    unsupported:
      "its in-process cloud credential helpers are not built in; name a docker-credential-* helper in credHelpers of ~/.docker/config.json instead",
  },
  "attachment-tag-prefix": {
    type: "string",
    default: "",
    value: "PREFIX",
    description: "prefix of the attachment tags: PREFIXsha256-<hex>.sig, .att and .sbom",
  },
  "registry-username": { type: "string", value: "USER", description: "registry user (Basic)" },
  "registry-password": { type: "string", value: "PASS", description: "registry password (Basic)" },
  "registry-token": { type: "string", value: "TOKEN", description: "registry bearer token" },
  timeout: {
    type: "string",
    short: "t",
    default: "3m0s",
    value: "DURATION",
    check: "duration",
    description:
      "deadline for the whole command's network work: every request, retry and backoff (e.g. 30s, 3m0s)",
  },
};

/** `--timeout` for commands without registry flags: the deadline of KMS requests (cosign's global flag). */
export const TIMEOUT_FLAG = {
  type: "string",
  short: "t",
  default: "3m0s",
  value: "DURATION",
  check: "duration",
  description: "deadline for KMS requests, retries included (e.g. 30s, 3m0s)",
} as const;

/** What key providers (KMS, k8s://) take from a command's flags: `--timeout` as their deadline. */
export function providerOptions(flags: FlagValues): ProviderOptions {
  const t = str(flags, "timeout");
  return t === undefined ? {} : { timeoutMs: parseDuration(t) };
}

/**
 * The file remembering each registry's scheme between runs (nothing else: no secrets, and no
 * auth challenges, so credentials only ever go to a realm the registry named in this run).
 * `COSIGN_DENO_NO_CACHE=1` turns it off.
 */
export function knownHostsPath(): string | undefined {
  if (Deno.env.get("COSIGN_DENO_NO_CACHE") === "1") return undefined;
  const base = Deno.env.get("XDG_CACHE_HOME") ??
    (Deno.env.get("HOME") ? `${Deno.env.get("HOME")}/.cache` : undefined);
  return base ? `${base}/cosign-deno/registries.json` : undefined;
}

/** The remembered hosts, and the file's text as read (to tell whether it needs rewriting). */
async function loadKnownHosts(
  path: string | undefined,
): Promise<{ hosts: Record<string, KnownHost>; text: string }> {
  let text = "";
  let parsed: unknown;
  try {
    if (path) text = await Deno.readTextFile(path);
    parsed = JSON.parse(text);
  } catch {
    return { hosts: {}, text }; // missing or unreadable: start afresh
  }
  // Keep the schemes only: older versions also wrote auth challenges, which are never replayed.
  const hosts: Record<string, KnownHost> = {};
  if (typeof parsed !== "object" || parsed === null) return { hosts, text };
  for (const [registry, entry] of Object.entries(parsed)) {
    const scheme = (entry as { scheme?: unknown } | null)?.scheme;
    if (scheme === "https" || scheme === "http") hosts[registry] = { scheme };
  }
  return { hosts, text };
}

async function saveKnownHosts(
  path: string | undefined,
  before: string,
  hosts: Record<string, KnownHost>,
) {
  if (!path) return;
  const text = JSON.stringify(hosts);
  if (text === before) return;
  try {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    await Deno.writeTextFile(tmp, text, { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch {
    // A cache that cannot be written costs a round trip next time, nothing more.
  }
}

/**
 * Runs `fn` with the command's registry client, remembering what it learned about registries.
 */
export async function withRegistry<T>(
  flags: FlagValues,
  fn: (c: RegistryClient) => Promise<T>,
): Promise<T> {
  const path = knownHostsPath();
  const { hosts: known, text: before } = await loadKnownHosts(path);
  const client = await clientFromFlags(flags, known);
  try {
    return await fn(client);
  } finally {
    await saveKnownHosts(path, before, { ...known, ...client.knownHosts() });
    client.close();
  }
}

/** Builds the registry client for a command from its flags. */
export async function clientFromFlags(
  flags: FlagValues,
  knownHosts: Record<string, KnownHost> = {},
): Promise<RegistryClient> {
  const user = str(flags, "registry-username");
  const pass = str(flags, "registry-password");
  const token = str(flags, "registry-token");
  if ((user === undefined) !== (pass === undefined)) {
    throw new UsageError("--registry-username and --registry-password go together");
  }
  let creds: Credentials | undefined;
  if (token) creds = { registryToken: token };
  else if (user !== undefined) creds = { username: user, password: pass! };
  const cacert = str(flags, "registry-cacert");
  const serverName = str(flags, "registry-server-name");
  if (serverName !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(serverName)) {
    throw new UsageError(`invalid --registry-server-name "${serverName}": not a host name`);
  }
  return new RegistryClient({
    keychain: creds ? staticKeychain(creds) : defaultKeychain(),
    insecureSkipVerify: bool(flags, "allow-insecure-registry"),
    allowHttp: bool(flags, "allow-http-registry"),
    ...deadlineOption(flags),
    knownHosts,
    ...(cacert ? { caCerts: [await readTextFile(cacert, "CA certificate file")] } : {}),
    ...await clientKeyPair(flags),
    ...(serverName ? { serverName } : {}),
  });
}

/**
 * Reads `--registry-client-cert` and `--registry-client-key` and checks that they are PEM and
 * that the key belongs to the certificate (Go's `tls.LoadX509KeyPair` checks the same).
 * @throws {UsageError} one without the other, or a pair that does not fit together
 */
async function clientKeyPair(
  flags: FlagValues,
): Promise<{ clientCert?: string; clientKey?: string }> {
  const certPath = str(flags, "registry-client-cert");
  const keyPath = str(flags, "registry-client-key");
  if (!certPath && !keyPath) return {};
  if (!certPath || !keyPath) {
    throw new UsageError("--registry-client-cert and --registry-client-key go together");
  }
  const cert = await readTextFile(certPath, "registry client certificate");
  const key = await readTextFile(keyPath, "registry client key");
  const { X509Certificate, createPrivateKey } = await import("node:crypto");
  let x509;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new UsageError(
      `--registry-client-cert ${certPath}: not a PEM certificate`,
    );
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new UsageError(
      `--registry-client-key ${keyPath}: not an unencrypted PEM private key`,
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new UsageError(
      `--registry-client-key ${keyPath} is not the key of --registry-client-cert ${certPath}`,
    );
  }
  return { clientCert: cert, clientKey: key };
}
