/**
 * Commands that move and manage signed images: `copy`, `save`, `load`, `clean`, `tree`.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import {
  type AttachmentCopy,
  checkSbomConflicts,
  type CopiedAttachment,
  type CopiedReferrers,
  copyAttachmentImages,
  copyAttachments,
  copyManifestTree,
  copyReferrers,
  LAYOUT_KIND,
  layoutImage,
  missingFromLayout,
  planAttachmentCopies,
  type ReferrerKind,
} from "../cosign/copy.ts";
import {
  BUNDLE_PREDICATE_TYPE_ANNOTATION,
  listReferrers,
  referrerArtifacts,
} from "../cosign/referrers.ts";
import type { Manifest } from "../oci/registry.ts";
import { cleanAttachment, cleanReferrers } from "../cosign/clean.ts";
import { digestsToSign, getImage } from "../cosign/image_signatures.ts";
import { type AttachmentKind, attachmentRef, attachmentRepository } from "../cosign/tags.ts";
import { INDEXES } from "../oci/media_types.ts";
import { discardTemporaryFilesSync, OciLayout, REF_NAME_ANNOTATION } from "../oci/layout.ts";
import {
  parseReference,
  type Reference,
  referenceName,
  repositoryName,
  withDigest,
  withTag,
} from "../oci/reference.ts";
import { bool, required, str } from "./args.ts";
import { type Command, PLATFORM_FLAG } from "./command.ts";
import { imageForPlatform } from "../oci/platform.ts";
import { confirm, info, onInterrupt, stdinIsTerminal, stdout } from "./io.ts";
import { REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";
import { escapeForTerminal } from "../text/escape.ts";
import { attachmentOptions, dockerMediaTypes } from "./sign.ts";

const KINDS: Record<string, AttachmentKind> = { sig: "sig", att: "att", sbom: "sbom" };
/** The referrers `--only` copies: Sigstore signatures, attestations, and other artifacts. */
const REFERRER_KINDS: Record<AttachmentKind, ReferrerKind> = {
  sig: "sig",
  att: "att",
  sbom: "other",
};

/** Prints what {@link copyReferrers} copied and skipped. */
async function reportReferrers(
  r: CopiedReferrers,
  from: string,
  to: string,
  verb = "Copied",
): Promise<void> {
  for (const s of r.skipped) {
    await info(`WARNING: skipped a referrer: ${escapeForTerminal(s.reason)}`);
  }
  for (const c of r.copied) {
    const what = c.referrer.annotations[BUNDLE_PREDICATE_TYPE_ANNOTATION] ??
      c.referrer.artifactType ?? "artifact";
    await info(
      escapeForTerminal(
        `${verb} referrer ${c.referrer.digest} (${what}) of ${c.subject} from ${from} to ${to}` +
          (c.pushed.api ? "" : ` (listed in ${to}:${c.subject.replace(":", "-")})`),
      ),
    );
  }
}

/** "with 3 attachment images (sig, att) and 1 referrer" for messages. */
function withAttachments(copied: { kind: string }[], referrers = 0): string {
  const r = `${referrers} referrer${referrers === 1 ? "" : "s"}`;
  if (copied.length === 0) {
    return referrers === 0
      ? " (it has no signatures, attestations or SBOMs)"
      : ` with ${r} (OCI 1.1)`;
  }
  const kinds = [...new Set(copied.map((c) => c.kind))].join(", ");
  return ` with ${copied.length} attachment image${copied.length > 1 ? "s" : ""} (${kinds})` +
    (referrers === 0 ? "" : ` and ${r} (OCI 1.1)`);
}
const LAYOUT_ATTACHMENT_KINDS: Record<string, AttachmentKind> = {
  [LAYOUT_KIND.sig]: "sig",
  [LAYOUT_KIND.att]: "att",
  [LAYOUT_KIND.sbom]: "sbom",
};

/** `cosign copy`. */
export const copyCommand: Command = {
  spec: {
    name: "copy",
    summary: "Copies an image with its signatures, attestations and SBOMs to another repository.",
    usage: "[--sig-only] [--only sig,att,sbom] [--platform os/arch[/variant]] [-f] SRC DST",
    args: [2, 2],
    flags: {
      "sig-only": {
        type: "boolean",
        default: false,
        description: "copy only the signatures (deprecated: --only sig)",
      },
      only: {
        type: "string",
        value: "sig,att,sbom",
        description:
          "copy only these attachments, neither the image nor its tag (default: everything)",
      },
      force: {
        type: "boolean",
        short: "f",
        default: false,
        description:
          "overwrite the destination image and the attachment images copied (without it, " +
          "signatures and attestations are merged into the destination's)",
      },
      ...PLATFORM_FLAG,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const named = parseReference(positionals[0]!);
    const dst = parseReference(positionals[1]!);
    // As cosign: --only names the attachments to copy, and then neither the image nor its tag
    // is copied; --sig-only is --only sig.
    const sigOnly = bool(flags, "sig-only");
    if (sigOnly) await info("--sig-only is deprecated, use --only=sig instead");
    const onlyList = [
      ...(str(flags, "only") ?? "").split(",").map((k) => k.trim()).filter((k) => k !== ""),
      ...(sigOnly ? ["sig"] : []),
    ];
    const attachmentsOnly = onlyList.length > 0;
    const only = attachmentsOnly ? [...new Set(onlyList)].join(",") : undefined;
    const kinds = only ? only.split(",") : ["sig", "att", "sbom"];
    for (const k of kinds) {
      if (!KINDS[k]) throw new UsageError(`invalid --only "${k}" (sig, att or sbom)`);
    }
    const force = bool(flags, "force");
    const prefix = str(flags, "attachment-tag-prefix") ?? "";
    await withRegistry(flags, async (client) => {
      // With --platform, the index's image of that platform is what is copied (and tagged).
      const { ref: src, manifest: image } = await imageForPlatform(
        client,
        named,
        str(flags, "platform"),
        await getImage(client, named),
      );
      // Everything that could refuse is checked before anything is written.
      let target: Reference | undefined;
      if (!attachmentsOnly) {
        target = dst.digest
          ? withDigest(dst, image.digest)
          : withTag(dst, dst.tag ?? named.tag ?? "latest");
        if (dst.digest && dst.digest !== image.digest) {
          throw new UsageError(
            `destination digest ${dst.digest} is not the source's ${image.digest}`,
          );
        }
        if (target.tag && !force) {
          const existing = await client.headManifest(target);
          if (existing && existing.digest !== image.digest) {
            throw new CosignError(
              "FILE_EXISTS",
              `${referenceName(target)} already exists with another image; pass -f to overwrite it`,
            );
          }
        }
      }
      const copies: AttachmentCopy[] = [];
      for (const digest of digestsToSign(image, true)) {
        copies.push(
          ...await planAttachmentCopies(client, src, dst, digest, kinds.map((k) => KINDS[k]!), {
            // cosign copies `PREFIXsha256-<hex>.sig` to the same tag at the destination.
            srcTagPrefix: prefix,
            dstTagPrefix: prefix,
          }),
        );
      }
      if (!force) await checkSbomConflicts(client, copies);
      if (target) {
        await copyManifestTree(client, src, client, target, { manifest: image });
        await info(`Copied ${referenceName(src)} to ${referenceName(target)}`);
      }
      // Without -f, signatures and attestations already at the destination are kept: the
      // source's are merged in. With -f, the attachment kinds copied are overwritten.
      const copied = await copyAttachmentImages(client, client, copies, {
        mode: force ? "replace" : "merge",
        dockerMediaTypes: dockerMediaTypes(),
      });
      for (const c of copied) await info(copiedLine(c));
      // OCI 1.1 referrers (cosign v3 signatures and attestations): re-pushed by digest, each
      // recorded in the destination's fallback index unless it answers the referrers API.
      const referrerKinds = only
        ? [...new Set(kinds.map((k) => REFERRER_KINDS[KINDS[k]!]))]
        : undefined;
      for (const digest of digestsToSign(image, true)) {
        const r = await copyReferrers(
          client,
          attachmentRepository(src),
          client,
          attachmentRepository(dst),
          digest,
          referrerKinds ? { kinds: referrerKinds } : {},
        );
        await reportReferrers(r, repositoryName(src), repositoryName(dst));
      }
    });
  },
};

/** The line `copy` and `load` print for an attachment image. */
function copiedLine(c: CopiedAttachment): string {
  const from = referenceName(c.from), to = referenceName(c.to);
  switch (c.outcome) {
    case "merged":
      return `Merged ${c.added} layer${c.added === 1 ? "" : "s"} of ${from} into ${to}, ` +
        `keeping what was there`;
    case "unchanged":
      return `${to} already holds everything in ${from}`;
    case "replaced":
      return `Replaced ${to} with ${from}`;
    default:
      return `Copied ${from} to ${to}`;
  }
}

/** `cosign save`. */
export const saveCommand: Command = {
  spec: {
    name: "save",
    summary: "Saves an image with its signatures and attestations to an OCI layout on disk.",
    usage: "IMAGE --dir DIR",
    args: [1, 1],
    flags: {
      dir: {
        type: "string",
        value: "DIR",
        check: "out-dir",
        description: "the OCI layout folder to write",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const dir = required(flags, "dir");
    const ref = parseReference(positionals[0]!);
    // Interrupted, the blobs being written are removed (a later save also removes what a killed
    // one left: OciLayout.open).
    using _interrupt = onInterrupt(discardTemporaryFilesSync);
    await withRegistry(flags, async (client) => {
      const image = await getImage(client, ref);
      const layout = await OciLayout.open(dir, { create: true });
      const kind = INDEXES.includes(image.mediaType) ? LAYOUT_KIND.imageIndex : LAYOUT_KIND.image;
      await copyManifestTree(
        client,
        withDigest(ref, image.digest),
        layout,
        withTag(ref, ref.tag ?? "latest"),
        {
          annotations: { kind },
          manifest: image,
        },
      );
      const repo = attachmentOptions(flags).cosignRepository;
      const copied = [];
      for (const digest of digestsToSign(image, true)) {
        // The layout keeps cosign's own tag names; the prefix is the registry's.
        copied.push(
          ...await copyAttachments(client, ref, layout, ref, digest, ["sig", "att", "sbom"], {
            ...(repo ? { srcCosignRepository: repo } : {}),
            srcTagPrefix: str(flags, "attachment-tag-prefix") ?? "",
          }),
        );
      }
      let referrers = 0;
      for (const digest of digestsToSign(image, true)) {
        const r = await copyReferrers(
          client,
          attachmentRepository(ref, repo),
          layout,
          attachmentRepository(ref),
          digest,
        );
        for (const s of r.skipped) {
          await info(`WARNING: skipped a referrer: ${escapeForTerminal(s.reason)}`);
        }
        referrers += r.copied.length;
      }
      await info(
        `Saved ${referenceName(withDigest(ref, image.digest))} to ${dir}` +
          withAttachments(copied, referrers),
      );
    });
  },
};

/** `cosign load`. */
export const loadCommand: Command = {
  spec: {
    name: "load",
    summary: "Pushes an image saved by cosign save, with its signatures and attestations.",
    usage: "--dir DIR IMAGE",
    args: [1, 1],
    flags: {
      dir: {
        type: "string",
        value: "DIR",
        check: "dir",
        description: "the OCI layout folder written by cosign save",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const dir = required(flags, "dir");
    const dst = parseReference(positionals[0]!);
    const layout = await OciLayout.open(dir);
    const { digest } = await layoutImage(layout, dir);
    const local = { registry: "local", repository: "layout" };
    const image = await layout.getManifest(withDigest(local, digest));
    // Every attachment saved (of the image and of an index's children) goes back under its
    // tag, merged into what the registry has now (signatures added after the save are kept).
    const copies: AttachmentCopy[] = [];
    for (const e of await layout.index()) {
      const kind = LAYOUT_ATTACHMENT_KINDS[e.annotations?.kind ?? ""];
      const tag = e.annotations?.[REF_NAME_ANNOTATION];
      if (!kind || !tag) continue;
      const from = withTag(local, tag);
      copies.push({
        kind,
        from,
        to: withTag(dst, (str(flags, "attachment-tag-prefix") ?? "") + tag),
        manifest: await layout.getManifest(from),
      });
    }
    // The whole layout is checked before anything is pushed: a blob missing from it is found
    // here, not after the image's tag already points at content that never arrived.
    const referrerManifests: Manifest[] = [];
    for (const d of digestsToSign(image, true)) {
      for (const r of (await listReferrers(layout, local, d)).referrers) {
        try {
          referrerManifests.push(await layout.getManifest(withDigest(local, r.digest)));
        } catch (e) {
          if (!(e instanceof CosignError)) throw e; // skipped and reported by the copy below
        }
      }
    }
    const missing = await missingFromLayout(layout, local, [
      image,
      ...copies.map((c) => c.manifest),
      ...referrerManifests,
    ]);
    if (missing.length) {
      throw new CosignError(
        "BLOB_UNKNOWN",
        `${dir} is incomplete, so nothing was pushed: ${missing.slice(0, 3).join("; ")}` +
          (missing.length > 3 ? `; and ${missing.length - 3} more` : ""),
      );
    }
    await withRegistry(flags, async (client) => {
      const target = dst.digest ? dst : withTag(dst, dst.tag ?? "latest");
      await checkSbomConflicts(client, copies);
      // Blobs, then manifests by digest, attachments and referrers; the image's tag last, so a
      // failure on the way leaves no tag over content that is not there.
      await copyManifestTree(layout, withDigest(local, digest), client, withDigest(dst, digest));
      const copied = await copyAttachmentImages(layout, client, copies, {
        dockerMediaTypes: dockerMediaTypes(),
      });
      for (const c of copied) if (c.outcome !== "copied") await info(copiedLine(c));
      // The referrers saved (in the layout's fallback indexes and index entries) go back by
      // digest, recorded in the registry's fallback index unless it answers the referrers API.
      let referrers = 0;
      for (const d of digestsToSign(image, true)) {
        const r = await copyReferrers(layout, local, client, attachmentRepository(dst), d);
        for (const s of r.skipped) {
          await info(`WARNING: skipped a referrer: ${escapeForTerminal(s.reason)}`);
        }
        referrers += r.copied.length;
      }
      if (target.tag) {
        await client.putManifest(target, image.bytes, image.mediaType);
        await client.confirmManifest(target, image.digest);
      }
      await info(
        `Loaded ${referenceName(withDigest(dst, digest))}` +
          withAttachments(copied, referrers),
      );
    });
  },
};

const CLEAN_TYPES: Record<string, AttachmentKind[]> = {
  all: ["sig", "att", "sbom"],
  signature: ["sig"],
  attestation: ["att"],
  sbom: ["sbom"],
  referrer: [],
};
/** The clean types that remove Sigstore referrers (cosign v3 signatures and attestations). */
const CLEAN_REFERRERS = new Set(["all", "referrer"]);

/** `cosign clean`. */
export const cleanCommand: Command = {
  spec: {
    name: "clean",
    summary: "Removes an image's signatures, attestations and SBOM from the registry.",
    usage: "[--type all|signature|attestation|referrer|sbom] [-f] IMAGE",
    args: [1, 1],
    flags: {
      type: {
        type: "string",
        default: "all",
        value: "TYPE",
        description: "all, signature, attestation, referrer (cosign v3 bundles) or sbom",
      },
      force: {
        type: "boolean",
        short: "f",
        default: false,
        description: "do not ask for confirmation",
      },
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const type = str(flags, "type") ?? "all";
    const kinds = CLEAN_TYPES[type];
    if (!kinds) {
      throw new UsageError(
        `invalid --type "${type}" (all, signature, attestation, referrer or sbom)`,
      );
    }
    const ref = parseReference(positionals[0]!);
    if (!bool(flags, "force")) {
      const what = type === "all" ? "signatures, attestations, referrers and SBOMs" : `${type}s`;
      if (!stdinIsTerminal()) {
        throw new CosignError(
          "USAGE",
          `Refusing to remove the ${what} of ${positionals[0]} without -f`,
          { exitCode: 2 },
        );
      }
      await info(`WARNING: this will remove all ${what} from ${positionals[0]}`);
      if (!(await confirm("Are you sure you would like to continue? [y/N] "))) {
        throw new CosignError("USAGE", "Nothing removed", { exitCode: 1 });
      }
    }
    await withRegistry(flags, async (client) => {
      const digest = (await getImage(client, ref)).digest;
      // Each tag under its writers' lock, then re-checked over the settle window (in parallel:
      // the windows overlap); the lines are printed in order.
      const done = await Promise.allSettled(kinds.map(async (kind) => {
        const tag = attachmentRef(ref, digest, kind, attachmentOptions(flags));
        const notes: string[] = [];
        const r = await cleanAttachment(client, tag, {
          dockerMediaTypes: dockerMediaTypes(),
          onNote: (m) => notes.push(m),
        });
        return { tag, r, notes };
      }));
      for (const d of done) {
        if (d.status === "rejected") continue;
        const { tag, r, notes } = d.value;
        if (!r.removed) continue;
        await info(
          `Removed ${referenceName(tag)} from ${positionals[0]}` +
            (r.sharedWith
              ? ` (the registry deletes only by digest and tag ${r.sharedWith} shares it: ` +
                `that tag was left alone and this one now holds an empty image)`
              : ""),
        );
        for (const n of notes) await info(n);
      }
      const failed = done.find((d) => d.status === "rejected");
      if (failed) throw failed.reason;
      if (CLEAN_REFERRERS.has(type)) {
        // cosign v3 bundles: out of the fallback index first, then deleted by digest.
        const repo = attachmentRepository(ref, attachmentOptions(flags).cosignRepository);
        const r = await cleanReferrers(client, repo, digest);
        for (const x of r.removed) {
          await info(
            `Removed ${escapeForTerminal(referenceName(withDigest(repo, x.digest)))} from ${
              positionals[0]
            }`,
          );
        }
        if (r.indexTag) {
          await info(
            r.indexRemoved
              ? `Removed ${referenceName(r.indexTag)} from ${positionals[0]} (no referrers left)`
              : `Updated ${referenceName(r.indexTag)}: ${r.removed.length} referrer${
                r.removed.length === 1 ? "" : "s"
              } removed`,
          );
        }
      }
    });
  },
};

/** `cosign tree`. */
export const treeCommand: Command = {
  spec: {
    name: "tree",
    summary: "Shows an image's signatures, attestations and SBOMs.",
    usage: "IMAGE",
    args: [1, 1],
    flags: { ...REGISTRY_FLAGS },
  },
  async run({ flags, positionals }) {
    const ref = parseReference(positionals[0]!);
    await withRegistry(flags, async (client) => {
      await stdout(
        `📦 Supply Chain Security Related artifacts for an image: ${
          escapeForTerminal(referenceName(ref))
        }\n`,
      );
      const digest = (await getImage(client, ref)).digest;
      const titles: [AttachmentKind, string][] = [
        ["sig", "🔐 Signatures for an image tag"],
        ["att", "💾 Attestations for an image tag"],
        ["sbom", "📦 SBOMs for an image tag"],
      ];
      const found = await Promise.all(titles.map(async ([kind]) => {
        const tag = attachmentRef(ref, digest, kind, attachmentOptions(flags));
        try {
          const m = await client.getManifest(tag);
          // parseManifest has checked every layer digest; they are escaped all the same, as
          // everything a registry sends is before it reaches the terminal.
          const layers = Array.isArray(m.json.layers) ? m.json.layers as { digest?: string }[] : [];
          return { tag, layers: layers.map((l) => escapeForTerminal(String(l.digest))) };
        } catch (e) {
          if (e instanceof CosignError && e.code === "MANIFEST_UNKNOWN") return { tag, layers: [] };
          throw e;
        }
      }));
      // cosign v3 lists the referrers with an artifact type after the tags.
      const referrers = await referrerArtifacts(
        client,
        attachmentRepository(ref, attachmentOptions(flags).cosignRepository),
        digest,
      );
      for (const s of referrers.skipped) {
        await info(`WARNING: skipped a referrer: ${escapeForTerminal(s.reason)}`);
      }
      if (
        found.every((f) => f.layers.length === 0) && referrers.artifacts.length === 0
      ) {
        await stdout(
          `No Supply Chain Security Related Artifacts found for image ${
            referenceName(ref)
          },\n start creating one with simply running$ cosign sign <img>`,
        );
        return;
      }
      for (const [i, f] of found.entries()) {
        if (f.layers.length === 0) continue;
        await stdout(`└── ${titles[i]![1]}: ${escapeForTerminal(referenceName(f.tag))}\n`);
        for (const [j, d] of f.layers.entries()) {
          await stdout(`${j === f.layers.length - 1 ? "   └──" : "   ├──"} 🍒 ${d}\n`);
        }
      }
      const repo = attachmentRepository(ref, attachmentOptions(flags).cosignRepository);
      for (const a of referrers.artifacts) {
        await stdout(
          `└── 🔗 ${escapeForTerminal(a.type)} artifacts via OCI referrer: ${
            escapeForTerminal(referenceName(withDigest(repo, a.digest)))
          }\n`,
        );
        for (const [j, d] of a.layers.entries()) {
          await stdout(
            `${j === a.layers.length - 1 ? "   └──" : "   ├──"} 🍒 ${escapeForTerminal(d)}\n`,
          );
        }
      }
    });
  },
};
