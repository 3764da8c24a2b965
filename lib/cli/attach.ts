/**
 * `cosign attach signature` and `cosign download signature`.
 * @module
 */

import { CosignError } from "../errors.ts";
import {
  appendAttachments,
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  readAttachments,
  RFC3161_ANNOTATION,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from "../cosign/attachments.ts";
import { decodeSignature } from "../cosign/blob.ts";
import { getImage } from "../cosign/image_signatures.ts";
import { readFileBytes } from "../cosign/keyref.ts";
import { simpleSigningPayload } from "../cosign/payload.ts";
import { attachmentRef } from "../cosign/tags.ts";
import { goMarshal } from "../cosign/verify_signatures.ts";
import { utf8 } from "../crypto/encoding.ts";
import { parseReference, repositoryName } from "../oci/reference.ts";
import { required, str } from "./args.ts";
import type { Command } from "./command.ts";
import { info, stdout } from "./io.ts";
import { REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";
import { attachmentOptions, dockerMediaTypes } from "./sign.ts";

/** Reads `--signature`: a file (base64 or raw bytes) or the base64 text itself. */
async function signatureArg(value: string): Promise<Uint8Array> {
  let content: Uint8Array;
  try {
    content = await Deno.readFile(value);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    content = utf8(value);
  }
  const sig = decodeSignature(content);
  if (sig.length === 0) {
    throw new CosignError("SIGNATURE_INVALID_ENCODING", `Signature ${value} is empty`);
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
        description: "the signed payload (default: the simple-signing payload of IMAGE)",
      },
      certificate: { type: "string", value: "FILE", description: "PEM certificate of the signer" },
      "certificate-chain": {
        type: "string",
        value: "FILE",
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
    return JSON.parse(text);
  } catch {
    return null;
  }
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
      const read = await readAttachments(
        client,
        attachmentRef(ref, digest, "sig", attachmentOptions(flags)),
      );
      for (const s of read.skipped) await info(`WARNING: skipped a signature layer: ${s.reason}`);
      if (!read.found) {
        throw new CosignError(
          "NO_SIGNATURES",
          `no signatures found for ${repositoryName(ref)}@${digest}`,
        );
      }
      for (const l of read.layers) {
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
