/**
 * Kubernetes secrets as key pairs: `k8s://NAMESPACE/SECRET` (cosign-spec §8,
 * `pkg/cosign/kubernetes/secret.go`), over `fetch`. Loaded only by `lib/cosign/keyref.ts`, by
 * dynamic `import()`.
 *
 * - The Secret holds `cosign.key` (encrypted cosign key), `cosign.pub` and `cosign.password`.
 *   Signing decrypts `cosign.key` with `cosign.password` (no prompt); verifying uses
 *   `cosign.pub`.
 * - `generate-key-pair k8s://NS/NAME` makes a key pair with the password the user gives,
 *   creates the Secret (or updates it, keeping its other data), immutable when the server is
 *   1.21 or later, as cosign.
 * - The API server and credentials: in a pod, the service account
 *   (`KUBERNETES_SERVICE_HOST`/`_PORT`, its token and CA); otherwise the current context of
 *   `KUBECONFIG` (first file) or `~/.kube/config`: server, CA (file or data, or
 *   `insecure-skip-tls-verify`), and a bearer token (`token`, `tokenFile`) or a client
 *   certificate (file or data). `exec` and auth-provider plugins are not run.
 * @module
 */

import type { KeyVerifier, VerifiableSigner } from "../lib/crypto/key_signer.ts";
import { KeySigner, KeyVerifier as Verifier } from "../lib/crypto/key_signer.ts";
import {
  type CreatedKey,
  kmsError,
  kmsFetch,
  type KmsOptions,
  kmsRefError,
  oneLine,
  withRetries,
} from "../lib/crypto/kms.ts";
import { decryptPrivateKey } from "../lib/crypto/encrypted_key.ts";
import { parsePkcs8PrivateKey, parsePublicKeyPem } from "../lib/crypto/keys.ts";
import { generateKeyPair } from "../lib/cosign/keypair.ts";

const PROVIDER = "Kubernetes";
const FORM = "k8s://NAMESPACE/SECRET";
const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A parsed `k8s://` reference. */
export interface K8sSecretRef {
  namespace: string;
  name: string;
}

/** Parses `k8s://NAMESPACE/SECRET`; a usage error giving the form otherwise. */
export function parseRef(ref: string): K8sSecretRef {
  const parts = ref.startsWith("k8s://") ? ref.slice(6).split("/") : [];
  if (parts.length !== 2) throw kmsRefError(ref, FORM);
  const [namespace, name] = parts as [string, string];
  if (!LABEL.test(namespace)) {
    throw kmsRefError(ref, FORM, `"${namespace}" is not a namespace name`);
  }
  if (!SUBDOMAIN.test(name)) throw kmsRefError(ref, FORM, `"${name}" is not a secret name`);
  return { namespace, name };
}

/** Where the API server is and how to authenticate to it. */
interface Cluster {
  server: string;
  token?: string;
  client?: Deno.HttpClient;
  /** Where the settings came from, for messages. */
  source: string;
}

interface KubeConfig {
  "current-context"?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: {
    name: string;
    cluster?: {
      server?: string;
      "certificate-authority"?: string;
      "certificate-authority-data"?: string;
      "insecure-skip-tls-verify"?: boolean;
    };
  }[];
  users?: {
    name: string;
    user?: {
      token?: string;
      tokenFile?: string;
      "client-certificate"?: string;
      "client-certificate-data"?: string;
      "client-key"?: string;
      "client-key-data"?: string;
    };
  }[];
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

const b64text = (s: string) => new TextDecoder().decode(Uint8Array.fromBase64(s));

async function cluster(ref: string, options: KmsOptions): Promise<Cluster> {
  const env = options.getEnv;
  const host = env("KUBERNETES_SERVICE_HOST");
  const kubeconfigs = (env("KUBECONFIG") ?? "").split(":").filter((p) => p !== "");
  if (kubeconfigs.length === 0 && env("HOME")) kubeconfigs.push(`${env("HOME")}/.kube/config`);
  let path: string | undefined, text: string | undefined;
  for (const p of kubeconfigs) {
    text = await readText(p);
    if (text !== undefined) {
      path = p;
      break;
    }
  }
  if (text === undefined && host) {
    const token = await readText(`${SA_DIR}/token`);
    const ca = await readText(`${SA_DIR}/ca.crt`);
    const port = env("KUBERNETES_SERVICE_PORT") ?? "443";
    return {
      server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      ...(token ? { token: token.trim() } : {}),
      ...(ca ? { client: Deno.createHttpClient({ caCerts: [ca] }) } : {}),
      source: "the in-cluster service account",
    };
  }
  if (text === undefined || path === undefined) {
    throw kmsError(
      "KMS_ERROR",
      PROVIDER,
      ref,
      `no cluster configuration: no kubeconfig (${
        kubeconfigs.join(", ") || "KUBECONFIG, ~/.kube/config"
      }) and not in a pod`,
    );
  }
  // YAML is needed only here: loaded with this provider, never at start-up.
  // deno-lint-ignore no-import-prefix
  const { parse } = await import("npm:yaml@2.9.1");
  let cfg: KubeConfig;
  try {
    cfg = parse(text) as KubeConfig;
  } catch (e) {
    throw kmsError("KMS_ERROR", PROVIDER, ref, `cannot parse ${path}: ${(e as Error).message}`);
  }
  const ctxName = cfg?.["current-context"];
  const ctx = cfg?.contexts?.find((c) => c.name === ctxName)?.context;
  const cl = cfg?.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
  const user = cfg?.users?.find((u) => u.name === ctx?.user)?.user ?? {};
  if (!ctx || !cl?.server) {
    throw kmsError(
      "KMS_ERROR",
      PROVIDER,
      ref,
      `${path}: the current context ${ctxName ?? "(none)"} names no cluster with a server`,
    );
  }
  const dir = path.replace(/\/[^/]*$/, "");
  const file = async (p: string, what: string) => {
    const full = p.startsWith("/") ? p : `${dir}/${p}`;
    const t = await readText(full);
    if (t === undefined) throw kmsError("KMS_ERROR", PROVIDER, ref, `cannot read ${what} ${full}`);
    return t;
  };
  const ca = cl["certificate-authority-data"]
    ? b64text(cl["certificate-authority-data"])
    : cl["certificate-authority"]
    ? await file(cl["certificate-authority"], "certificate authority")
    : undefined;
  const cert = user["client-certificate-data"]
    ? b64text(user["client-certificate-data"])
    : user["client-certificate"]
    ? await file(user["client-certificate"], "client certificate")
    : undefined;
  const key = user["client-key-data"]
    ? b64text(user["client-key-data"])
    : user["client-key"]
    ? await file(user["client-key"], "client key")
    : undefined;
  const token = user.token ??
    (user.tokenFile ? (await file(user.tokenFile, "token file")).trim() : undefined);
  const httpOptions: Deno.CreateHttpClientOptions = {
    ...(ca ? { caCerts: [ca] } : {}),
    ...(cert && key ? { cert, key } : {}),
  };
  if (cl["insecure-skip-tls-verify"]) {
    throw kmsError(
      "KMS_ERROR",
      PROVIDER,
      ref,
      `${path}: insecure-skip-tls-verify is not supported; give the cluster's CA instead`,
    );
  }
  return {
    server: cl.server.replace(/\/+$/, ""),
    ...(token ? { token } : {}),
    ...(Object.keys(httpOptions).length ? { client: Deno.createHttpClient(httpOptions) } : {}),
    source: path,
  };
}

interface Secret {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
  immutable?: boolean;
}

/** One API call with retries; returns the JSON answer and the status. */
async function api(
  ref: string,
  c: Cluster,
  options: KmsOptions,
  method: "GET" | "POST" | "PUT",
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (c.token) headers.Authorization = `Bearer ${c.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await withRetries(
    (signal) =>
      kmsFetch(PROVIDER, ref, c.server + path, {
        method,
        headers,
        signal,
        ...(c.client ? { client: c.client } : {}),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
    { deadline: Date.now() + options.timeoutMs },
  );
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    if (res.ok) throw kmsError("KMS_ERROR", PROVIDER, ref, `${method} ${path}: not JSON`);
  }
  return { status: res.status, json };
}

function apiError(ref: string, what: string, status: number, json: Record<string, unknown>) {
  const msg = typeof json.message === "string" ? json.message : `HTTP ${status}`;
  const why = `${what}: HTTP ${status}: ${oneLine(msg)}`;
  if (status === 401 || status === 403) {
    return kmsError("KMS_DENIED", PROVIDER, ref, `permission denied (${why})`);
  }
  if (status === 404) {
    return kmsError("KMS_KEY_NOT_FOUND", PROVIDER, ref, `secret not found (${why})`);
  }
  return kmsError("KMS_ERROR", PROVIDER, ref, why);
}

async function getSecret(ref: string, options: KmsOptions): Promise<Record<string, string>> {
  const { namespace, name } = parseRef(ref);
  const c = await cluster(ref, options);
  try {
    const r = await api(ref, c, options, "GET", `/api/v1/namespaces/${namespace}/secrets/${name}`);
    if (r.status !== 200) throw apiError(ref, "reading the secret", r.status, r.json);
    const data = (r.json as Secret).data ?? {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(data)) {
      try {
        out[k] = new TextDecoder().decode(Uint8Array.fromBase64(v));
      } catch {
        throw kmsError("KMS_ERROR", PROVIDER, ref, `the secret's ${k} is not base64`);
      }
    }
    return out;
  } finally {
    c.client?.close();
  }
}

function field(ref: string, data: Record<string, string>, key: string): string {
  const v = data[key];
  if (v === undefined) throw kmsError("KMS_ERROR", PROVIDER, ref, `the secret has no ${key}`);
  return v;
}

/** A signer from the secret's `cosign.key`, decrypted with its `cosign.password`. */
export async function loadSigner(ref: string, options: KmsOptions): Promise<VerifiableSigner> {
  const data = await getSecret(ref, options);
  const pkcs8 = await decryptPrivateKey(
    field(ref, data, "cosign.key"),
    field(ref, data, "cosign.password"),
    `${ref} (cosign.key)`,
  );
  return new KeySigner(parsePkcs8PrivateKey(pkcs8, ref));
}

/** A verifier from the secret's `cosign.pub`. */
export async function loadVerifier(ref: string, options: KmsOptions): Promise<KeyVerifier> {
  const data = await getSecret(ref, options);
  return new Verifier(parsePublicKeyPem(field(ref, data, "cosign.pub"), `${ref} (cosign.pub)`));
}

/** Makes a key pair and stores it in the secret (created, or updated keeping other data). */
export async function createKey(ref: string, options: KmsOptions): Promise<CreatedKey> {
  const { namespace, name } = parseRef(ref);
  if (!options.password) throw new Error("unreachable: createKey needs a password");
  const c = await cluster(ref, options);
  try {
    const password = await options.password();
    const pair = await generateKeyPair(password);
    const pw = typeof password === "string" ? new TextEncoder().encode(password) : password;
    const version = await api(ref, c, options, "GET", "/version");
    const major = Number(version.json.major), minor = parseInt(String(version.json.minor), 10);
    const immutable = version.status === 200 && (major > 1 || (major === 1 && minor >= 21));
    const path = `/api/v1/namespaces/${namespace}/secrets`;
    const got = await api(ref, c, options, "GET", `${path}/${name}`);
    if (got.status !== 200 && got.status !== 404) {
      throw apiError(ref, "reading the secret", got.status, got.json);
    }
    const old = got.status === 200 ? got.json as Secret : undefined;
    const enc = new TextEncoder();
    const secret: Secret & { apiVersion: string; kind: string } = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name,
        namespace,
        ...(old?.metadata?.resourceVersion
          ? { resourceVersion: old.metadata.resourceVersion }
          : {}),
      },
      data: {
        ...(old?.data ?? {}),
        "cosign.key": enc.encode(pair.privateKeyPem).toBase64(),
        "cosign.pub": enc.encode(pair.publicKeyPem).toBase64(),
        "cosign.password": pw.toBase64(),
      },
      ...(immutable ? { immutable: true } : {}),
    };
    const put = old
      ? await api(ref, c, options, "PUT", `${path}/${name}`, secret)
      : await api(ref, c, options, "POST", path, secret);
    if (put.status !== 200 && put.status !== 201) {
      throw apiError(
        ref,
        old ? "updating the secret" : "creating the secret",
        put.status,
        put.json,
      );
    }
    await options.info?.(`Successfully created secret ${name} in namespace ${namespace}`);
    return { publicKeyPem: pair.publicKeyPem, existed: false };
  } finally {
    c.client?.close();
  }
}
