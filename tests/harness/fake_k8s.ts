/**
 * A loopback Kubernetes API server (HTTPS, core/v1 Secrets and `/version`) for tests. Every
 * request needs `Authorization: Bearer <token>` (401 `Unauthorized` Status otherwise, as the
 * API server); a namespace can be made forbidden (403, as RBAC answers). Secrets keep their
 * `resourceVersion`; an update must carry the current one and immutable secrets refuse updates.
 *
 * Use with `await using k8s = await startFakeK8s({ dir, token })`; `kubeconfig` is a file
 * pointing at it with the CA and the token.
 * @module
 */

import { makeTls } from "./registry.ts";

/** A secret as stored. */
export interface FakeSecret {
  metadata: { name: string; namespace: string; resourceVersion: string };
  data: Record<string, string>;
  immutable?: boolean;
  type: string;
}

/** A request the fake answered. */
export interface K8sCall {
  method: string;
  path: string;
  status: number;
  authorization: string | null;
}

/** A running fake. */
export interface FakeK8s extends AsyncDisposable {
  url: string;
  /** A kubeconfig file for this server (CA data and bearer token). */
  kubeconfig: string;
  /** The CA certificate file. */
  caPath: string;
  calls: K8sCall[];
  /** Keyed `NS/NAME`. */
  secrets: Map<string, FakeSecret>;
  /** Namespaces where the token may do nothing (403). */
  forbidden: Set<string>;
  stop(): Promise<void>;
}

/** Starts the fake on a free loopback port with its own CA in `dir`. */
export async function startFakeK8s(opts: { dir: string; token: string }): Promise<FakeK8s> {
  const tls = await makeTls(opts.dir);
  const secrets = new Map<string, FakeSecret>();
  const calls: K8sCall[] = [];
  const forbidden = new Set<string>();
  let rv = 100;

  const json = (status: number, o: unknown) =>
    new Response(JSON.stringify(o), { status, headers: { "content-type": "application/json" } });
  const status = (code: number, reason: string, message: string) =>
    json(code, { kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code });

  const handle = async (req: Request, path: string) => {
    if (req.headers.get("authorization") !== `Bearer ${opts.token}`) {
      return status(401, "Unauthorized", "Unauthorized");
    }
    if (path === "/version") {
      return json(200, { major: "1", minor: "30", gitVersion: "v1.30.0-fake" });
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (!m) return status(404, "NotFound", "the server could not find the requested resource");
    const [, ns, name] = m as unknown as [string, string, string | undefined];
    if (forbidden.has(ns)) {
      return status(
        403,
        "Forbidden",
        `secrets is forbidden: User "system:serviceaccount:x:y" cannot ${req.method.toLowerCase()} resource "secrets" in API group "" in the namespace "${ns}"`,
      );
    }
    const notFound = (n: string) => status(404, "NotFound", `secrets "${n}" not found`);
    if (req.method === "GET" && name) {
      const s = secrets.get(`${ns}/${name}`);
      return s ? json(200, { apiVersion: "v1", kind: "Secret", ...s }) : notFound(name);
    }
    if ((req.method === "POST" && !name) || (req.method === "PUT" && name)) {
      const body = await req.json() as {
        metadata?: { name?: string; namespace?: string; resourceVersion?: string };
        data?: Record<string, string>;
        immutable?: boolean;
      };
      const n = body.metadata?.name ?? "";
      if (name && n !== name) return status(400, "BadRequest", "name does not match the path");
      const old = secrets.get(`${ns}/${n}`);
      if (req.method === "POST" && old) {
        return status(409, "AlreadyExists", `secrets "${n}" already exists`);
      }
      if (req.method === "PUT") {
        if (!old) return notFound(n);
        if (old.immutable) {
          return status(422, "Invalid", `Secret "${n}" is invalid: field is immutable`);
        }
        if (body.metadata?.resourceVersion !== old.metadata.resourceVersion) {
          return status(409, "Conflict", "the object has been modified");
        }
      }
      for (const v of Object.values(body.data ?? {})) Uint8Array.fromBase64(v); // must be base64
      const s: FakeSecret = {
        metadata: { name: n, namespace: ns, resourceVersion: String(++rv) },
        data: body.data ?? {},
        type: "Opaque",
        ...(body.immutable ? { immutable: true } : {}),
      };
      secrets.set(`${ns}/${n}`, s);
      return json(req.method === "POST" ? 201 : 200, { apiVersion: "v1", kind: "Secret", ...s });
    }
    return status(405, "MethodNotAllowed", "method not allowed");
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(tls.cert),
    key: await Deno.readTextFile(tls.key),
    onListen: () => {},
  }, async (req) => {
    const path = new URL(req.url).pathname;
    const res = await handle(req, path);
    calls.push({
      method: req.method,
      path,
      status: res.status,
      authorization: req.headers.get("authorization"),
    });
    return res;
  });
  const url = `https://127.0.0.1:${server.addr.port}`;
  const ca = await Deno.readFile(tls.caCert);
  const kubeconfig = `${opts.dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: test",
      "clusters:",
      "- name: fake",
      "  cluster:",
      `    server: ${url}`,
      `    certificate-authority-data: ${ca.toBase64()}`,
      "contexts:",
      "- name: other",
      "  context: {cluster: nowhere, user: nobody}",
      "- name: test",
      "  context:",
      "    cluster: fake",
      "    user: tester",
      "users:",
      "- name: tester",
      "  user:",
      `    token: ${opts.token}`,
      "",
    ].join("\n"),
  );
  const fake: FakeK8s = {
    url,
    kubeconfig,
    caPath: tls.caCert,
    calls,
    secrets,
    forbidden,
    async stop() {
      await server.shutdown();
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
  return fake;
}
