/**
 * `cosign triangulate` and `cosign generate`: where an image's attachments live, and the
 * payload cosign would sign for it.
 * @module
 */

import { UsageError } from "../errors.ts";
import { parseAnnotations, simpleSigningPayload } from "../cosign/payload.ts";
import { attachmentRef, attachmentRepository } from "../cosign/tags.ts";
import { referrersTagRef } from "../cosign/referrers.ts";
import { parseReference, referenceName, repositoryName } from "../oci/reference.ts";
import { str } from "./args.ts";
import type { Command } from "./command.ts";
import { stdout } from "./io.ts";
import { REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";

const TYPES = { signature: "sig", attestation: "att", sbom: "sbom" } as const;

/** `cosign triangulate`. */
export const triangulateCommand: Command = {
  spec: {
    name: "triangulate",
    summary: "Prints where cosign stores an image's signatures, attestations or SBOM.",
    usage: "[--type signature|attestation|sbom|referrer|digest] IMAGE",
    args: [1, 1],
    flags: {
      type: {
        type: "string",
        default: "signature",
        value: "TYPE",
        description:
          "signature, attestation, sbom, referrer (the OCI 1.1 referrers fallback index of " +
          "cosign v3 signatures and attestations) or digest",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const type = str(flags, "type") ?? "signature";
    if (type !== "digest" && type !== "referrer" && !(type in TYPES)) {
      throw new UsageError(
        `invalid --type "${type}" (signature, attestation, sbom, referrer or digest)`,
      );
    }
    const ref = parseReference(positionals[0]!);
    await withRegistry(flags, async (client) => {
      const digest = await client.resolve(ref);
      if (type === "digest") {
        await stdout(`${repositoryName(ref)}@${digest}\n`);
        return;
      }
      const cosignRepository = Deno.env.get("COSIGN_REPOSITORY");
      if (type === "referrer") {
        // Where a registry without the referrers API keeps them: the `sha256-<hex>` index.
        await stdout(
          referenceName(referrersTagRef(attachmentRepository(ref, cosignRepository), digest)) +
            "\n",
        );
        return;
      }
      const att = attachmentRef(ref, digest, TYPES[type as keyof typeof TYPES], {
        tagPrefix: str(flags, "attachment-tag-prefix") ?? "",
        ...(Deno.env.get("COSIGN_REPOSITORY")
          ? { cosignRepository: Deno.env.get("COSIGN_REPOSITORY")! }
          : {}),
      });
      await stdout(referenceName(att) + "\n");
    });
  },
};

/** `cosign generate`. */
export const generateCommand: Command = {
  spec: {
    name: "generate",
    summary: "Prints the simple-signing payload cosign signs for an image.",
    usage: "[-a key=value]... IMAGE",
    args: [1, 1],
    flags: {
      annotations: {
        type: "string",
        short: "a",
        multiple: true,
        value: "key=value",
        description: "annotation",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const ref = parseReference(positionals[0]!);
    const annotations = parseAnnotations(flags.annotations as string[] | undefined);
    await withRegistry(flags, async (client) => {
      const digest = await client.resolve(ref);
      await stdout(simpleSigningPayload(repositoryName(ref), digest, annotations));
    });
  },
};
