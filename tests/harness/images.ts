/**
 * Deterministic test images: builds an OCI image layout (1 arch → image manifest, several → an
 * index) and pushes it to a test registry with `skopeo copy`. With default input the amd64 image's
 * manifest digest is always {@link AMD64_DIGEST}.
 *
 * Each arch gets one layer: a gzip'd (`gzip -n`) GNU tar (`--sort=name --mtime=2020-01-01
 * --owner=0 --group=0 --numeric-owner`, TZ=UTC) of `./hello.txt` = "hello from ARCH\n", and a config
 * `{"architecture":ARCH,"os":"linux","config":{"Cmd":["/hello"]},"rootfs":{…diff_ids…}}`.
 * @module
 */

import type { Registry } from "./registry.ts";
import { exec, execOk, type ExecResult, sha256Hex } from "./util.ts";

/** Manifest digest of the default single-arch amd64 image. */
export const AMD64_DIGEST =
  "sha256:3ae56bb25ce73920b48d9946d4666cc9ad4b057a903dc167b6dd4e9be97c9dd5";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";

/** One platform image inside a layout. */
export interface BuiltImage {
  arch: string;
  /** "sha256:…" of `manifest`. */
  digest: string;
  manifest: Uint8Array<ArrayBuffer>;
  configDigest: string;
  layerDigest: string;
  layerSize: number;
}

/** What {@link buildLayout} produced. */
export interface BuiltLayout {
  dir: string;
  /** "sha256:…" of the top manifest (single arch) or index (several). */
  digest: string;
  manifest: Uint8Array<ArrayBuffer>;
  mediaType: string;
  /** The platform images, in `arches` order (one for a single-arch layout: the top itself). */
  images: BuiltImage[];
}

/** What {@link pushImage} pushed. */
export interface PushedImage {
  /** "127.0.0.1:PORT/REPO:TAG" */
  ref: string;
  repo: string;
  tag: string;
  /** "sha256:…" of the top manifest/index bytes (what the registry stores). */
  digest: string;
  manifest: Uint8Array<ArrayBuffer>;
  mediaType: string;
  images: BuiltImage[];
}

/** Options for {@link buildLayout} / {@link pushImage}. */
export interface ImageOptions {
  /** Default ["amd64"]; more than one → an OCI index. */
  arches?: string[];
  /**
   * Use these bytes verbatim as every arch's layer blob instead of the hello.txt tarball. Media
   * type is `…tar+gzip` when they start with the gzip magic, else `…tar`; the diff_id is then
   * their own digest (not meaningful for gzip input, which the registry does not check).
   * The push uses `--preserve-digests`, so skopeo does not recompress them.
   */
  layerBytes?: Uint8Array;
}

const enc = new TextEncoder();

async function helloLayer(tmp: string, arch: string): Promise<{ tar: Uint8Array; gz: Uint8Array }> {
  const rootfs = `${tmp}/${arch}/rootfs`;
  await Deno.mkdir(rootfs, { recursive: true });
  await Deno.chmod(rootfs, 0o755); // the "./" entry's mode is part of the tarball
  await Deno.writeTextFile(`${rootfs}/hello.txt`, `hello from ${arch}\n`);
  await Deno.chmod(`${rootfs}/hello.txt`, 0o644);
  const tarPath = `${tmp}/${arch}/layer.tar`;
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", TZ: "UTC", LC_ALL: "C" };
  await execOk("tar", [
    "--sort=name",
    "--mtime=2020-01-01",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "-C",
    rootfs,
    "-cf",
    tarPath,
    ".",
  ], { env });
  const gz = await execOk("gzip", ["-n", "-c", tarPath], { env });
  return { tar: await Deno.readFile(tarPath), gz: gz.out };
}

/** Builds a deterministic OCI image layout in `dir` (created; must not exist or be empty). */
export async function buildLayout(dir: string, opts: ImageOptions = {}): Promise<BuiltLayout> {
  const arches = opts.arches ?? ["amd64"];
  if (arches.length === 0) throw new Error("buildLayout: no arches");
  const blobs = `${dir}/blobs/sha256`;
  await Deno.mkdir(blobs, { recursive: true });
  const put = async (data: Uint8Array) => {
    const hex = await sha256Hex(data);
    await Deno.writeFile(`${blobs}/${hex}`, data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const tmp = await Deno.makeTempDir({ prefix: "cosign-layer-" });
  try {
    const images: BuiltImage[] = [];
    const descriptors: Record<string, unknown>[] = [];
    for (const arch of arches) {
      let layer: Uint8Array, diffId: string, layerType: string;
      if (opts.layerBytes) {
        layer = opts.layerBytes;
        diffId = `sha256:${await sha256Hex(layer)}`;
        layerType = layer[0] === 0x1f && layer[1] === 0x8b ? OCI_LAYER_GZIP : OCI_LAYER_TAR;
      } else {
        const { tar, gz } = await helloLayer(tmp, arch);
        layer = gz;
        diffId = `sha256:${await sha256Hex(tar)}`;
        layerType = OCI_LAYER_GZIP;
      }
      const l = await put(layer);
      const config = enc.encode(JSON.stringify({
        architecture: arch,
        os: "linux",
        config: { Cmd: ["/hello"] },
        rootfs: { type: "layers", diff_ids: [diffId] },
      }));
      const c = await put(config);
      const manifest = enc.encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: c.digest, size: c.size },
        layers: [{ mediaType: layerType, digest: l.digest, size: l.size }],
      }));
      const m = await put(manifest);
      images.push({
        arch,
        digest: m.digest,
        manifest,
        configDigest: c.digest,
        layerDigest: l.digest,
        layerSize: l.size,
      });
      descriptors.push({
        mediaType: OCI_MANIFEST,
        digest: m.digest,
        size: m.size,
        platform: { architecture: arch, os: "linux" },
      });
    }
    let top: Record<string, unknown>, manifest: Uint8Array<ArrayBuffer>, mediaType: string;
    if (arches.length > 1) {
      manifest = enc.encode(
        JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors }),
      );
      const i = await put(manifest);
      mediaType = OCI_INDEX;
      top = { mediaType: OCI_INDEX, digest: i.digest, size: i.size };
    } else {
      manifest = images[0]!.manifest;
      mediaType = OCI_MANIFEST;
      top = { ...descriptors[0] };
    }
    top.annotations = { "org.opencontainers.image.ref.name": "latest" };
    await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}\n');
    await Deno.writeTextFile(
      `${dir}/index.json`,
      JSON.stringify({ schemaVersion: 2, manifests: [top] }),
    );
    return { dir, digest: `sha256:${await sha256Hex(manifest)}`, manifest, mediaType, images };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Runs skopeo with an isolated HOME/XDG_RUNTIME_DIR (no real auth files or caches are touched) and
 * `--insecure-policy`. Never throws on a non-zero exit.
 */
export async function skopeo(args: string[]): Promise<ExecResult> {
  const home = await Deno.makeTempDir({ prefix: "cosign-skopeo-home-" });
  try {
    return await exec("skopeo", ["--insecure-policy", ...args], {
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: home,
        XDG_RUNTIME_DIR: home,
        XDG_CONFIG_HOME: `${home}/.config`,
        TMPDIR: home,
      },
    });
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

/**
 * skopeo transport flags for `reg`: `prefix` "" (inspect, delete…), "src-" or "dest-" (copy).
 * http → `--tls-verify=false`; tls → `--cert-dir` (folder with only ca.crt); auth → `--creds`.
 */
export function skopeoFlags(reg: Registry, prefix: "" | "src-" | "dest-" = ""): string[] {
  const f: string[] = [];
  if (reg.mode === "tls") f.push(`--${prefix}cert-dir`, reg.certDir!);
  else f.push(`--${prefix}tls-verify=false`);
  if (reg.username !== undefined && reg.password !== undefined) {
    f.push(`--${prefix}creds`, `${reg.username}:${reg.password}`);
  }
  return f;
}

/** `skopeo inspect --raw docker://HOST/REPO:TAG` (or `REPO@DIGEST`) → the manifest bytes (throws on failure). */
export async function inspectRaw(reg: Registry, repoAndRef: string): Promise<Uint8Array> {
  const r = await skopeo([
    "inspect",
    "--raw",
    ...skopeoFlags(reg),
    `docker://${reg.host}/${repoAndRef}`,
  ]);
  if (r.code !== 0) throw new Error(`skopeo inspect ${repoAndRef} failed: ${r.stderr}`);
  return r.out;
}

/** Builds a layout (see {@link ImageOptions}) and pushes it to `reg` as `repoAndTag` ("repo:tag"). */
export async function pushImage(
  reg: Registry,
  repoAndTag: string,
  opts: ImageOptions = {},
): Promise<PushedImage> {
  const i = repoAndTag.lastIndexOf(":");
  if (i <= 0 || repoAndTag.slice(i).includes("/")) {
    throw new Error(`pushImage: expected REPO:TAG, got ${repoAndTag}`);
  }
  const repo = repoAndTag.slice(0, i), tag = repoAndTag.slice(i + 1);
  const dir = await Deno.makeTempDir({ prefix: "cosign-oci-layout-" });
  try {
    const built = await buildLayout(`${dir}/layout`, opts);
    const ref = `${reg.host}/${repo}:${tag}`;
    const args = ["copy", "--preserve-digests", ...skopeoFlags(reg, "dest-")];
    if (built.images.length > 1) args.push("--all");
    args.push(`oci:${built.dir}:latest`, `docker://${ref}`);
    const r = await skopeo(args);
    if (r.code !== 0) {
      throw new Error(`skopeo ${args.join(" ")} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
    }
    return {
      ref,
      repo,
      tag,
      digest: built.digest,
      manifest: built.manifest,
      mediaType: built.mediaType,
      images: built.images,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
