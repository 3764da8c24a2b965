/**
 * `cosign upload blob` and `cosign upload wasm`: push files as single-layer images
 * (cosign-spec §3.5). Layers stream from disk; the file is read once.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { parseAnnotations } from "../cosign/payload.ts";
import { fileError } from "../cosign/keyref.ts";
import { detectContentType } from "../oci/content_type.ts";
import { buildImage } from "../oci/image.ts";
import { OCI_INDEX, WASM_CONFIG, WASM_LAYER } from "../oci/media_types.ts";
import { parseReference, type Reference, repositoryName, withDigest } from "../oci/reference.ts";
import type { RegistryClient } from "../oci/registry.ts";
import { sha256Digest } from "../oci/digest.ts";
import type { FlagValues } from "./args.ts";
import { required, str } from "./args.ts";
import type { Command } from "./command.ts";
import { info, stdout } from "./io.ts";
import { REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";

interface FileArg {
  path: string;
  platform?: { os: string; architecture: string; variant?: string };
}

/** Parses `-f FILE[:os/arch[/variant]]`. */
export function parseFileArg(value: string): FileArg {
  const m = /^(.*):([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/.exec(value);
  if (!m) return { path: value };
  const platform: NonNullable<FileArg["platform"]> = { os: m[2]!, architecture: m[3]! };
  if (m[4]) platform.variant = m[4];
  return { path: m[1]!, platform };
}

async function checkFile(path: string): Promise<number> {
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) {
      throw new CosignError("FILE_READ", `Cannot read file ${path}: it is a directory`);
    }
    return st.size;
  } catch (e) {
    if (e instanceof CosignError) throw e;
    throw fileError(e, path, "file");
  }
}

async function sniff(path: string): Promise<string> {
  const f = await Deno.open(path);
  try {
    const buf = new Uint8Array(512);
    const n = await f.read(buf);
    return detectContentType(buf.subarray(0, n ?? 0));
  } finally {
    f.close();
  }
}

/** Pushes one single-layer image for `file`; returns its manifest digest, size and media type. */
async function pushFileImage(
  client: RegistryClient,
  ref: Reference,
  file: FileArg,
  layerMediaType: string,
  configMediaType: string | undefined,
  annotations: Record<string, string>,
  tag: boolean,
) {
  const layer = await client.uploadBlobFile(ref, file.path);
  const scheme = client.schemeOf(ref.registry) ?? "https";
  await info(
    `File [${file.path}] is available directly at [${scheme}://${ref.registry}/v2/${ref.repository}/blobs/${layer.digest}]`,
  );
  const img = buildImage({
    layers: [{ mediaType: layerMediaType, size: layer.size, digest: layer.digest }],
    ...(configMediaType ? { configMediaType } : {}),
    annotations,
  });
  await client.uploadBlob(ref, img.config);
  const target = tag ? ref : withDigest(ref, img.digest);
  await client.putManifest(target, img.manifest, img.manifestMediaType);
  return { digest: img.digest, size: img.manifest.length, mediaType: img.manifestMediaType };
}

async function upload(
  flags: FlagValues,
  refText: string,
  files: FileArg[],
  layerType: (f: FileArg) => Promise<string>,
  configMediaType?: string,
): Promise<void> {
  const ref = parseReference(refText);
  const annotations = parseAnnotations(flags.annotation as string[] | undefined);
  const types: string[] = [];
  for (const f of files) {
    await checkFile(f.path);
    types.push(await layerType(f));
  }
  for (const [i, f] of files.entries()) {
    await info(
      `Uploading file from [${f.path}] to [${repositoryName(ref)}:${
        ref.tag ?? ""
      }] with media type [${types[i]}]`,
    );
  }
  await withRegistry(flags, async (client) => {
    let digest: string;
    if (files.length === 1 && !files[0]!.platform) {
      digest = (await pushFileImage(
        client,
        ref,
        files[0]!,
        types[0]!,
        configMediaType,
        annotations,
        !ref.digest,
      )).digest;
    } else {
      const manifests = [];
      for (const [i, f] of files.entries()) {
        const m = await pushFileImage(client, ref, f, types[i]!, configMediaType, {}, false);
        manifests.push({ ...m, ...(f.platform ? { platform: f.platform } : {}) });
      }
      const index: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
      if (Object.keys(annotations).length) index.annotations = annotations;
      const bytes = new TextEncoder().encode(JSON.stringify(index));
      digest = sha256Digest(bytes);
      await client.putManifest(ref.digest ? withDigest(ref, digest) : ref, bytes, OCI_INDEX);
    }
    await info("Uploaded image to:");
    await stdout(`${repositoryName(ref)}@${digest}\n`);
  });
}

/** `cosign upload blob`. */
export const uploadBlobCommand: Command = {
  spec: {
    name: "upload blob",
    summary: "Uploads files to a registry as a single-layer image (or an index of them).",
    usage: "-f FILE[:os/arch] [-f ...] [--ct MEDIA_TYPE] [-a key=value] IMAGE",
    args: [1, 1],
    flags: {
      files: {
        type: "string",
        short: "f",
        multiple: true,
        value: "FILE[:os/arch]",
        description: "file to upload",
      },
      ct: {
        type: "string",
        value: "MEDIA_TYPE",
        description: "layer media type (default: sniffed from the file)",
      },
      annotation: {
        type: "string",
        short: "a",
        multiple: true,
        value: "key=value",
        description: "manifest annotation",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const files = (flags.files as string[] | undefined ?? []).map(parseFileArg);
    if (files.length === 0) throw new UsageError(`required flag "--files" (-f) not set`);
    const ct = str(flags, "ct");
    await upload(flags, positionals[0]!, files, (f) => ct ? Promise.resolve(ct) : sniff(f.path));
  },
};

/** `cosign upload wasm`. */
export const uploadWasmCommand: Command = {
  spec: {
    name: "upload wasm",
    summary: "Uploads a WebAssembly module to a registry.",
    usage: "-f FILE IMAGE",
    args: [1, 1],
    flags: {
      file: {
        type: "string",
        short: "f",
        value: "FILE",
        check: "file",
        description: "the .wasm module",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const file = { path: required(flags, "file") };
    await upload(flags, positionals[0]!, [file], () => Promise.resolve(WASM_LAYER), WASM_CONFIG);
  },
};
