/**
 * Where cosign keeps what it attaches to an image (cosign-spec §3.1): tag
 * `[prefix]sha256-<hex>.<sig|att|sbom>` in the image's repository, or in `COSIGN_REPOSITORY`.
 * @module
 */

import { CosignError } from "../errors.ts";
import { parseRepository, type Reference, type Repository, withTag } from "../oci/reference.ts";

/** Kinds of attachment and their tag suffixes. */
export type AttachmentKind = "sig" | "att" | "sbom";

/** The repository attachments go to: `COSIGN_REPOSITORY` when set, else the subject's. */
export function attachmentRepository(subject: Repository, cosignRepository?: string): Repository {
  return cosignRepository
    ? parseRepository(cosignRepository)
    : { registry: subject.registry, repository: subject.repository };
}

/**
 * The attachment tag for a subject digest.
 * @example
 * ```ts
 * import { attachmentTag } from "@cosign-deno/cosign";
 * attachmentTag("sha256:" + "ab".repeat(32), "sig"); // "sha256-abab….sig"
 * ```
 */
export function attachmentTag(digest: string, kind: AttachmentKind, prefix = ""): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) {
    throw new CosignError("REF_INVALID", `Cannot derive a ${kind} tag from digest "${digest}"`);
  }
  return `${prefix}sha256-${m[1]}.${kind}`;
}

/**
 * The attachment reference for a subject digest: `tagPrefix` is `--attachment-tag-prefix`,
 * `cosignRepository` is `COSIGN_REPOSITORY`.
 * @example
 * ```ts
 * import { attachmentRef, parseReference, referenceName } from "@cosign-deno/cosign";
 * const image = parseReference("ghcr.io/org/app:v1");
 * const digest = "sha256:" + "ab".repeat(32);
 * referenceName(attachmentRef(image, digest, "sig")); // "ghcr.io/org/app:sha256-abab….sig"
 * attachmentRef(image, digest, "att", { cosignRepository: "ghcr.io/org/signatures" });
 * ```
 */
export function attachmentRef(
  subject: Repository,
  digest: string,
  kind: AttachmentKind,
  options: {
    cosignRepository?: string;
    tagPrefix?: string;
    /** @deprecated the earlier name of `tagPrefix` */
    prefix?: string;
  } = {},
): Reference {
  return withTag(
    attachmentRepository(subject, options.cosignRepository),
    attachmentTag(digest, kind, options.tagPrefix ?? options.prefix),
  );
}
