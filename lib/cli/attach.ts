/**
 * `cosign attach signature` and `cosign download signature`.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { INTOTO_PAYLOAD_TYPE, parseEnvelope } from "../cosign/dsse.ts";
import { parseStatement, predicateTypeFor } from "../cosign/intoto.ts";
import { buildImage } from "../oci/image.ts";
import { DOCKER_CONFIG, DOCKER_MANIFEST } from "../oci/media_types.ts";
import {
  appendAttachments,
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  DSSE_MEDIA_TYPE,
  listAttachments,
  loadLayers,
  maxAttachmentSize,
  type NewLayer,
  RFC3161_ANNOTATION,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from "../cosign/attachments.ts";
import { decodeSignature } from "../cosign/blob.ts";
import { getImage } from "../cosign/image_signatures.ts";
import { type ImageBundle, listImageBundles } from "../cosign/image_bundles.ts";
import { fileError, readFileBytes } from "../cosign/keyref.ts";
import { simpleSigningPayload } from "../cosign/payload.ts";
import { attachmentRef } from "../cosign/tags.ts";
import { exceedsJsonDepth, goMarshal } from "../cosign/verify_signatures.ts";
import { fromBase64, utf8 } from "../crypto/encoding.ts";
import { isDerEcdsaSignature } from "../crypto/der.ts";
import { parseReference, referenceName, repositoryName } from "../oci/reference.ts";
import { required, str } from "./args.ts";
import { type Command, PLATFORM_FLAG } from "./command.ts";
import { imageForPlatform } from "../oci/platform.ts";
import { info, stdout, stdoutLine } from "./io.ts";
import { REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";
import { attachmentOptions, dockerMediaTypes } from "./sign.ts";
import { escapeForTerminal } from "../text/escape.ts";

/**
 * Reads `--signature`: a file (base64 or raw bytes), or else the base64 text of the signature
 * itself. A value that names no file must be base64 of a DER (ECDSA) signature, or of a raw one
 * of an Ed25519 or RSA size; anything else is an error naming both readings, so a mistyped file
 * name is never attached as a signature.
 * @throws {CosignError} `FILE_READ` (a directory, an unreadable file),
 *   `SIGNATURE_INVALID_ENCODING` (neither a file nor a signature in base64; an empty file)
 */
async function signatureArg(value: string): Promise<Uint8Array> {
  let content: Uint8Array | undefined;
  try {
    content = await Deno.readFile(value);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fileError(e, value, "signature");
  }
  if (content === undefined) {
    const decoded = fromBase64(value.trim());
    const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
    if (decoded === undefined) {
      throw new CosignError(
        "SIGNATURE_INVALID_ENCODING",
        `--signature ${shown} is neither a file (no such file) nor a signature in base64 ` +
          `(not valid base64)`,
      );
    }
    if (!isDerEcdsaSignature(decoded) && ![64, 256, 384, 512].includes(decoded.length)) {
      throw new CosignError(
        "SIGNATURE_INVALID_ENCODING",
        `--signature ${shown} is neither a file (no such file) nor a signature in base64 ` +
          `(it decodes to ${decoded.length} bytes that are not a DER signature)`,
      );
    }
    return decoded;
  }
  const sig = decodeSignature(content);
  if (sig.length === 0) {
    throw new CosignError("SIGNATURE_INVALID_ENCODING", `Signature file ${value} is empty`);
  }
  return sig;
}

/** `cosign attach signature`. */
export const attachSignatureCommand: Command = {
  spec: {
    name: "attach signature",
    summary: "Attaches a signature made elsewhere to an image.",
    usage: "--signature FILE|BASE64 [--payload FILE] IMAGE",
    args: [1, 1],
    flags: {
      signature: {
        type: "string",
        value: "FILE|BASE64",
        description: "the signature (base64 or raw)",
      },
      payload: {
        type: "string",
        value: "FILE",
        check: "file",
        description: "the signed payload (default: the simple-signing payload of IMAGE)",
      },
      certificate: {
        type: "string",
        value: "FILE",
        check: "file",
        description: "PEM certificate of the signer",
      },
      "certificate-chain": {
        type: "string",
        value: "FILE",
        check: "file",
        description: "PEM chain of the certificate",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const ref = parseReference(positionals[0]!);
    const sig = await signatureArg(required(flags, "signature"));
    const payloadPath = str(flags, "payload");
    const cert = str(flags, "certificate");
    const chain = str(flags, "certificate-chain");
    const annotations: Record<string, string> = { [SIGNATURE_ANNOTATION]: sig.toBase64() };
    if (cert) {
      annotations[CERTIFICATE_ANNOTATION] = new TextDecoder().decode(
        await readFileBytes(cert, "certificate"),
      );
      annotations[CHAIN_ANNOTATION] = chain
        ? new TextDecoder().decode(await readFileBytes(chain, "certificate chain"))
        : "";
    }
    await withRegistry(flags, async (client) => {
      const digest = (await getImage(client, ref)).digest;
      let payload: Uint8Array;
      if (payloadPath) payload = await readFileBytes(payloadPath, "payload");
      else {
        await info(
          "Using the simple-signing payload generated for the image as the signed payload",
        );
        payload = simpleSigningPayload(repositoryName(ref), digest);
      }
      const sigRef = attachmentRef(ref, digest, "sig", attachmentOptions(flags));
      await appendAttachments(client, sigRef, [{
        payload,
        mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
        annotations,
      }], {
        dockerMediaTypes: dockerMediaTypes(),
      });
      await info(`Pushing signature to: ${repositoryName(sigRef)}`);
    });
  },
};

function jsonOrNull(text: string | undefined): unknown {
  if (!text) return null;
  try {
    const v = JSON.parse(text);
    return exceedsJsonDepth(v) ? null : v; // Go's decoder refuses it too
  } catch {
    return null;
  }
}

/**
 * The Sigstore bundles stored as referrers of `digest` (cosign v3), loaded; those that cannot be
 * used are reported on stderr and left out.
 */
async function referrerBundles(
  client: Parameters<typeof listImageBundles>[0],
  ref: Parameters<typeof listImageBundles>[1],
  digest: string,
  cosignRepository: string | undefined,
): Promise<ImageBundle[]> {
  const listing = await listImageBundles(client, ref, digest, {
    ...(cosignRepository ? { cosignRepository } : {}),
    maxLayerBytes: maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")),
  });
  for (const s of listing.skipped) {
    await info(`WARNING: skipped a referrer: ${escapeForTerminal(s.reason)}`);
  }
  const out: ImageBundle[] = [];
  for (const p of listing.bundles) {
    try {
      out.push(await p.load());
    } catch (e) {
      if (!(e instanceof CosignError && e.code === "REFERRER_INVALID")) throw e;
      await info(`WARNING: skipped a referrer: ${escapeForTerminal(e.message)}`);
    }
  }
  return out;
}

/**
 * A bundle as one line of output: the stored bytes when they are one line of JSON with nothing a
 * terminal would act on, else the same JSON re-serialised compactly with such characters escaped.
 */
export function bundleLine(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes).trim();
  // deno-lint-ignore no-control-regex
  const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
  if (!unsafe.test(text)) return text + "\n";
  return JSON.stringify(JSON.parse(text)).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  ) + "\n";
}

/** `cosign download signature`. */
export const downloadSignatureCommand: Command = {
  spec: {
    name: "download signature",
    summary: "Prints an image's signatures, one JSON object a line.",
    usage: "IMAGE",
    args: [1, 1],
    flags: { ...REGISTRY_FLAGS },
  },
  async run({ flags, positionals }) {
    const ref = parseReference(positionals[0]!);
    await withRegistry(flags, async (client) => {
      const digest = ref.digest ?? (await getImage(client, ref)).digest;
      // cosign v3: the Sigstore bundles stored as referrers, one a line, first.
      const bundles = await referrerBundles(
        client,
        ref,
        digest,
        attachmentOptions(flags).cosignRepository,
      );
      for (const b of bundles) await stdout(bundleLine(b.bytes));
      const read = await listAttachments(
        client,
        attachmentRef(ref, digest, "sig", attachmentOptions(flags)),
        { maxLayerBytes: maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")) },
      );
      for (const s of read.skipped) await info(`WARNING: skipped a signature layer: ${s.reason}`);
      if (!read.found && bundles.length > 0) return;
      if (!read.found) {
        throw new CosignError(
          "NO_SIGNATURES",
          `no signatures found for ${repositoryName(ref)}@${digest}`,
        );
      }
      // One layer at a time (a few fetched ahead), so memory stays bounded.
      for await (const got of loadLayers(read.layers)) {
        if (!got.layer) {
          await info(`WARNING: skipped a signature layer: ${got.skipped.reason}`);
          continue;
        }
        const l = got.layer;
        const a = l.annotations;
        const chain = a[CHAIN_ANNOTATION];
        // Go's SignedPayload field names; certificates as PEM (cosign prints Go x509 structs).
        await stdout(
          `{"Base64Signature":${goMarshal(a[SIGNATURE_ANNOTATION] ?? "")},"Payload":${
            goMarshal(l.payload.toBase64())
          },` +
            `"Cert":${goMarshal(a[CERTIFICATE_ANNOTATION] || null)},` +
            `"Chain":${
              goMarshal(
                chain ? chain.match(/-----BEGIN[\s\S]+?-----END [^-]+-----\n?/g) ?? null : null,
              )
            },` +
            `"Bundle":${goMarshal(jsonOrNull(a[BUNDLE_ANNOTATION]))},` +
            `"RFC3161Timestamp":${goMarshal(jsonOrNull(a[RFC3161_ANNOTATION]))}}\n`,
        );
      }
    });
  },
};

/** Splits a file holding one or more concatenated JSON values (envelopes) into their bytes. */
export function splitJsonStream(text: string): string[] {
  const out: string[] = [];
  let depth = 0, start = -1, inStr = false, esc = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inStr) {
      if (esc) esc = false;
      else if (ch === "\\") esc = true;
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    else if (ch === "{") {
      if (depth++ === 0) start = i;
    } else if (ch === "}") {
      if (--depth === 0) out.push(text.slice(start, i + 1));
      if (depth < 0) break;
    } else if (depth === 0 && !/\s/.test(ch)) {
      throw new CosignError("DSSE_INVALID", `unexpected ${JSON.stringify(ch)} between envelopes`);
    }
  }
  if (depth !== 0) throw new CosignError("DSSE_INVALID", "the file ends inside an envelope");
  return out;
}

/** `cosign attach attestation`. */
export const attachAttestationCommand: Command = {
  spec: {
    name: "attach attestation",
    summary: "Attaches DSSE attestation envelopes made elsewhere to an image.",
    usage: "--attestation FILE [--attestation FILE]... IMAGE",
    args: [1, 1],
    flags: {
      attestation: {
        type: "string",
        multiple: true,
        value: "FILE",
        check: "file",
        description: "file of one or more DSSE envelopes",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const files = flags.attestation as string[] | undefined ?? [];
    if (files.length === 0) throw new UsageError(`required flag "--attestation" not set`);
    const layers: NewLayer[] = [];
    for (const f of files) {
      const text = new TextDecoder().decode(await readFileBytes(f, "attestation file"));
      for (const json of splitJsonStream(text)) {
        const env = parseEnvelope(utf8(json));
        if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
          throw new CosignError(
            "DSSE_INVALID",
            `${f}: invalid payloadType ${
              JSON.stringify(env.payloadType)
            }, expected ${INTOTO_PAYLOAD_TYPE}`,
          );
        }
        if (env.signatures.length === 0) {
          throw new CosignError("DSSE_INVALID", `${f}: the envelope has no signatures`);
        }
        const st = parseStatement(env.payload);
        layers.push({
          payload: utf8(json),
          mediaType: DSSE_MEDIA_TYPE,
          annotations: { [SIGNATURE_ANNOTATION]: "", predicateType: st.predicateType },
        });
      }
    }
    const ref = parseReference(positionals[0]!);
    await withRegistry(flags, async (client) => {
      const digest = (await getImage(client, ref)).digest;
      const attRef = attachmentRef(ref, digest, "att", attachmentOptions(flags));
      client.willPush(attRef);
      await appendAttachments(client, attRef, layers, { dockerMediaTypes: dockerMediaTypes() });
      await info(`Attached ${layers.length} attestation(s) to ${repositoryName(attRef)}`);
    });
  },
};

/** `cosign download attestation`. */
export const downloadAttestationCommand: Command = {
  spec: {
    name: "download attestation",
    summary: "Prints an image's attestation envelopes, one a line.",
    usage: "[--predicate-type URI|TYPE] [--platform os/arch[/variant]] IMAGE",
    args: [1, 1],
    flags: {
      "predicate-type": {
        type: "string",
        value: "TYPE",
        description: "only attestations of this predicate type",
      },
      ...PLATFORM_FLAG,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const ref = parseReference(positionals[0]!);
    const want = str(flags, "predicate-type");
    const wantUri = want ? predicateTypeFor(want) : undefined;
    const platform = str(flags, "platform");
    await withRegistry(flags, async (client) => {
      const digest = platform === undefined
        ? ref.digest ?? (await getImage(client, ref)).digest
        : (await imageForPlatform(client, ref, platform, await getImage(client, ref))).manifest
          .digest;
      // cosign v3: the Sigstore bundles stored as referrers (of the predicate type asked for,
      // read from the statement inside), one a line, first.
      let n = 0;
      for (
        const b of await referrerBundles(
          client,
          ref,
          digest,
          attachmentOptions(flags).cosignRepository,
        )
      ) {
        if (wantUri) {
          let type: string | undefined;
          try {
            const content = b.bundle.content;
            if (content.type !== "dsseEnvelope") continue;
            type = parseStatement(content.envelope.payload).predicateType;
          } catch { /* not a statement: not of the type asked for */ }
          if (type !== wantUri) continue;
        }
        await stdout(bundleLine(b.bytes));
        n++;
      }
      const read = await listAttachments(
        client,
        attachmentRef(ref, digest, "att", attachmentOptions(flags)),
        { maxLayerBytes: maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")) },
      );
      for (const s of read.skipped) {
        await info(`WARNING: skipped an attestation layer: ${s.reason}`);
      }
      if (!read.found && n > 0) return;
      if (!read.found) {
        throw new CosignError(
          "NO_SIGNATURES",
          `no attestations found for ${repositoryName(ref)}@${digest}`,
        );
      }
      for await (const got of loadLayers(read.layers)) {
        if (!got.layer) {
          await info(`WARNING: skipped an attestation layer: ${got.skipped.reason}`);
          continue;
        }
        const l = got.layer;
        if (wantUri) {
          let type = l.annotations.predicateType;
          try {
            type = parseStatement(parseEnvelope(l.payload).payload).predicateType;
          } catch { /* fall back to the annotation */ }
          if (type !== wantUri) continue;
        }
        await stdoutLine(l.payload);
        n++;
      }
      if (wantUri && n === 0) {
        throw new CosignError(
          "ATTESTATION_MISMATCH",
          `no attestations of predicate type ${wantUri} for ${repositoryName(ref)}@${digest}`,
        );
      }
    });
  },
};

const SBOM_TYPES: Record<string, Record<string, string>> = {
  spdx: { text: "text/spdx", json: "text/spdx+json" },
  cyclonedx: { xml: "application/vnd.cyclonedx+xml", json: "application/vnd.cyclonedx+json" },
  syft: { json: "application/vnd.syft+json" },
};

/** `cosign attach sbom`. */
export const attachSbomCommand: Command = {
  spec: {
    name: "attach sbom",
    summary: "Attaches an SBOM to an image (the .sbom tag).",
    usage: "--sbom FILE|- --type spdx|cyclonedx|syft [--input-format json|xml|text] IMAGE",
    args: [1, 1],
    flags: {
      sbom: {
        type: "string",
        value: "FILE",
        check: "file",
        description: "the SBOM file, or - for stdin",
      },
      type: {
        type: "string",
        default: "spdx",
        value: "TYPE",
        description: "spdx, cyclonedx or syft",
      },
      "input-format": {
        type: "string",
        value: "FORMAT",
        description: "json, xml or text (default: by type)",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const path = required(flags, "sbom");
    const type = str(flags, "type") ?? "spdx";
    const formats = SBOM_TYPES[type];
    if (!formats) throw new UsageError(`invalid --type "${type}" (spdx, cyclonedx or syft)`);
    const format = str(flags, "input-format") ?? Object.keys(formats)[0]!;
    const mediaType = formats[format];
    if (!mediaType) {
      throw new UsageError(
        `invalid --input-format "${format}" for ${type} (${Object.keys(formats).join(", ")})`,
      );
    }
    // cosign's users sometimes pass the document itself: refuse it before touching the disk,
    // and never echo it back.
    if (path !== "-" && (path.length > 1024 || /[\n{<]/.test(path))) {
      throw new UsageError("--sbom takes a file name (or - for stdin), not the SBOM itself");
    }
    const bytes = path === "-"
      ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
      : await readFileBytes(path, "SBOM file");
    if (bytes.length === 0) throw new CosignError("FILE_READ", `The SBOM ${path} is empty`);
    const ref = parseReference(positionals[0]!);
    await withRegistry(flags, async (client) => {
      const digest = (await getImage(client, ref)).digest;
      const sbomRef = attachmentRef(ref, digest, "sbom", attachmentOptions(flags));
      client.willPush(sbomRef);
      const layer = await client.uploadBlob(sbomRef, bytes);
      const docker = dockerMediaTypes();
      const img = buildImage({
        layers: [{ mediaType, size: layer.size, digest: layer.digest }],
        ...(docker ? { manifestMediaType: DOCKER_MANIFEST, configMediaType: DOCKER_CONFIG } : {}),
      });
      await client.uploadBlob(sbomRef, img.config);
      await client.putManifest(sbomRef, img.manifest, img.manifestMediaType);
      await info(`Attached SBOM to ${referenceName(sbomRef)}`);
    });
  },
};

/** `cosign download sbom`. */
export const downloadSbomCommand: Command = {
  spec: {
    name: "download sbom",
    summary: "Prints the SBOM attached to an image.",
    usage: "[--platform os/arch[/variant]] IMAGE",
    args: [1, 1],
    flags: {
      ...PLATFORM_FLAG,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const ref = parseReference(positionals[0]!);
    await withRegistry(flags, async (client) => {
      const image = await getImage(client, ref);
      const digest = (await imageForPlatform(client, ref, str(flags, "platform"), image))
        .manifest.digest;
      const sbomRef = attachmentRef(ref, digest, "sbom", attachmentOptions(flags));
      let m;
      try {
        m = await client.getManifest(sbomRef);
      } catch (e) {
        if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") {
          throw new CosignError(
            "NO_SIGNATURES",
            `no SBOM attached to ${repositoryName(ref)}@${digest}`,
          );
        }
        throw e;
      }
      const layers = Array.isArray(m.json.layers) ? m.json.layers as unknown[] : [];
      const max = maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE"));
      for (const raw of layers) {
        const l = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
        const digest = typeof l.digest === "string" ? l.digest : "";
        if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
          throw new CosignError(
            "MANIFEST_INVALID",
            `SBOM layer of ${referenceName(sbomRef)} has a malformed digest`,
          );
        }
        // The size comes from the descriptor, and is held to the attachment cap before any
        // byte is fetched; the download may not exceed it.
        if (typeof l.size !== "number" || !Number.isSafeInteger(l.size) || l.size < 0) {
          throw new CosignError(
            "MANIFEST_INVALID",
            `SBOM layer ${digest} of ${referenceName(sbomRef)} has no size`,
          );
        }
        if (l.size > max) {
          throw new CosignError(
            "BLOB_TOO_LARGE",
            `SBOM layer ${digest} is ${l.size} bytes, over the ${max}-byte limit ` +
              "(COSIGN_MAX_ATTACHMENT_SIZE)",
          );
        }
        await info(
          `Found SBOM of media type: ${
            escapeForTerminal(typeof l.mediaType === "string" ? l.mediaType : "")
          }`,
        );
        // Buffer the (capped, verified) SBOM so nothing unverified reaches stdout.
        await stdout(await client.fetchBlobBytes(sbomRef, { digest, size: l.size }, max));
      }
    });
  },
};
