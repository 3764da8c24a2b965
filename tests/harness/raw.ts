/**
 * Registry access with independent tools (curl, skopeo, openssl) for tests that check our
 * output from outside or build signature images by hand, as another client would.
 * @module
 */

import { assert, assertEquals, sh } from "../helpers.ts";
import { skopeo, skopeoFlags } from "./images.ts";
import type { Registry } from "./registry.ts";
import { sha256Hex } from "./util.ts";

const dec = new TextDecoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export async function curl(args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const r = await sh("curl", ["-sS", "--fail-with-body", ...args], stdin ? { stdin } : {});
  if (r.code !== 0) {
    throw new Error(`curl ${args.join(" ")} failed (${r.code}): ${r.err} ${dec.decode(r.out)}`);
  }
  return r.out;
}

export async function getBlob(reg: Registry, repo: string, digest: string): Promise<Uint8Array> {
  const b = await curl([`${reg.url}/v2/${repo}/blobs/${digest}`]);
  assertEquals(`sha256:${await sha256Hex(b)}`, digest, "blob content matches its digest");
  return b;
}

export async function pushBlob(
  reg: Registry,
  repo: string,
  data: Uint8Array,
): Promise<{ digest: string; size: number }> {
  const digest = `sha256:${await sha256Hex(data)}`;
  const head = dec.decode(await curl(["-i", "-X", "POST", `${reg.url}/v2/${repo}/blobs/uploads/`]));
  const loc = /^location:\s*(\S+)/im.exec(head)?.[1];
  assert(loc, `upload Location in ${head}`);
  const url = new URL(loc, reg.url);
  url.searchParams.set("digest", digest);
  await curl([
    "-X",
    "PUT",
    "-H",
    "Content-Type: application/octet-stream",
    "--data-binary",
    "@-",
    url.href,
  ], data);
  return { digest, size: data.length };
}

export async function putManifest(
  reg: Registry,
  repo: string,
  ref: string,
  body: Uint8Array,
  mediaType = OCI_MANIFEST,
): Promise<void> {
  await curl([
    "-X",
    "PUT",
    "-H",
    `Content-Type: ${mediaType}`,
    "--data-binary",
    "@-",
    `${reg.url}/v2/${repo}/manifests/${ref}`,
  ], body);
}

export async function skopeoDigest(reg: Registry, repoAndRef: string): Promise<string> {
  const r = await skopeo(["inspect", ...skopeoFlags(reg), `docker://${reg.host}/${repoAndRef}`]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).Digest;
}

export async function tagExists(reg: Registry, repoAndRef: string): Promise<boolean> {
  const r = await skopeo([
    "inspect",
    "--raw",
    ...skopeoFlags(reg),
    `docker://${reg.host}/${repoAndRef}`,
  ]);
  if (r.code !== 0) {
    assert(/manifest unknown|not found|name unknown/i.test(r.stderr), `skopeo: ${r.stderr}`);
  }
  return r.code === 0;
}

/** The config blob ggcr writes for an image with these layer digests. */
export function goConfig(diffIds: string[]): string {
  return `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[${
    diffIds.map(() => '{"created":"0001-01-01T00:00:00Z"}').join(",")
  }],"os":"","rootfs":{"type":"layers","diff_ids":[${
    diffIds.map((d) => `"${d}"`).join(",")
  }]},"config":{}}`;
}

export async function opensslSign(pem: string, data: Uint8Array): Promise<Uint8Array> {
  const r = await sh("openssl", ["dgst", "-sha256", "-sign", pem], { stdin: data });
  assertEquals(r.code, 0, r.err);
  return r.out;
}
