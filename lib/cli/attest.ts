/**
 * Attestations: `attest`, `verify-attestation`, `attest-blob`, `verify-blob-attestation`
 * (cosign-spec §4). Statements are signed into DSSE envelopes; on images they are stored as
 * layers of the `sha256-<hex>.att` image.
 *
 * Transparency log (cosign-spec §6): `attest` and `attest-blob` upload each envelope to Rekor
 * (`--rekor-entry-type dsse`, the default since cosign v2.2.3, or `intoto` 0.0.2) unless
 * `--tlog-upload=false`; `attest` stores the entry as the layer's `dev.sigstore.cosign/bundle`
 * annotation, `attest-blob --bundle` in cosign's legacy bundle. `verify-attestation` and
 * `verify-blob-attestation` then require that entry and check it offline against
 * `--trusted-root` (or `SIGSTORE_REKOR_PUBLIC_KEY`), unless `--insecure-ignore-tlog`.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError, UsageError } from "../errors.ts";
import {
  appendAttachments,
  type AttachmentLayer,
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  DSSE_MEDIA_TYPE,
  listAttachments,
  loadLayers,
  maxAttachmentSize,
  SIGNATURE_ANNOTATION,
} from "../cosign/attachments.ts";
import { fileChunks } from "../cosign/blob.ts";
import type { KeylessLayerOptions } from "../cosign/layer_bundle.ts";
import {
  CERTIFICATE_VERIFY_FLAGS,
  certificatePolicyFromFlags,
  hasIdentityFlags,
  SIGNER_CERTIFICATE_FLAGS,
  signerCertificate,
} from "./certificate_flags.ts";
import {
  INTOTO_PAYLOAD_TYPE,
  parseEnvelope,
  signEnvelope,
  verifyEnvelope,
} from "../cosign/dsse.ts";
import { digestsToSign, getImage } from "../cosign/image_signatures.ts";
import {
  buildStatement,
  checkPredicateShape,
  hasSubjectDigest,
  parseStatement,
  predicateTypeFor,
} from "../cosign/intoto.ts";
import {
  fileError,
  loadSigner,
  loadVerifier,
  readFileBytes,
  readTextFile,
} from "../cosign/keyref.ts";
import { attachmentRef } from "../cosign/tags.ts";
import { getMember } from "../cosign/verify_signatures.ts";
import { fromBase64, toBase64, utf8 } from "../crypto/encoding.ts";
import type { Verifier } from "../crypto/signer.ts";
import { legacyBundleJson, rekorBundleJson } from "../cosign/legacy_bundle.ts";
import {
  ATTESTATION_ENTRY_TYPES,
  attestationEntry,
  type AttestationEntryType,
  RekorClient,
  type RekorEntry,
} from "../tlog/rekor.ts";
import type { TrustedRoot } from "../tlog/trusted_root.ts";
import { parseReference, referenceName, repositoryName, withDigest } from "../oci/reference.ts";
import { bool, type FlagValues, required, str } from "./args.ts";
import {
  bundleOutput,
  type Command,
  NEW_BUNDLE_FORMAT_FLAG,
  SIGN_TLOG_FLAGS,
  VERIFY_TLOG_FLAGS,
} from "./command.ts";
import { info, stdout, writeFileAtomic } from "./io.ts";
import { readPassword } from "./password.ts";
import { REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";
import { attachmentOptions, checkVerifyFlags, dockerMediaTypes, VERIFY_FLAGS } from "./sign.ts";
import { loadTrustedRoot } from "./trust.ts";

const TYPE_FLAG = {
  type: "string",
  default: "custom",
  value: "TYPE",
  description:
    "custom, slsaprovenance, slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln, openvex or a URI",
} as const;

const REKOR_ENTRY_TYPE_FLAG = {
  type: "string",
  default: "dsse",
  value: "dsse|intoto",
  description: "the kind of transparency-log entry to upload",
} as const;

/** `--rekor-entry-type`, validated. */
function entryType(flags: FlagValues): AttestationEntryType {
  const v = str(flags, "rekor-entry-type") ?? "dsse";
  if (!(ATTESTATION_ENTRY_TYPES as readonly string[]).includes(v)) {
    throw new UsageError(`invalid --rekor-entry-type "${v}" (dsse or intoto)`);
  }
  return v as AttestationEntryType;
}

/** Uploads an envelope to the log and says so, as cosign does. */
async function uploadEnvelope(
  rekor: RekorClient,
  type: AttestationEntryType,
  envelope: Uint8Array,
  publicKeyPem: string,
): Promise<RekorEntry> {
  const entry = await rekor.upload(attestationEntry(type, envelope, publicKeyPem));
  await info(`tlog entry created with index: ${entry.logIndex}`);
  return entry;
}

const TLOG_WARNING =
  "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the attestation.";

/** `cosign attest`. */
export const attestCommand: Command = {
  spec: {
    name: "attest",
    summary: "Signs an in-toto attestation for an image and stores it in the registry.",
    usage:
      "--key KEYREF [--certificate FILE [--certificate-chain FILE]] --predicate FILE [--type TYPE] [--replace] [--rekor-url URL] [--rekor-entry-type dsse|intoto] [--tlog-upload=false] IMAGE",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      predicate: { type: "string", value: "FILE", description: "the predicate (- for stdin)" },
      type: TYPE_FLAG,
      replace: {
        type: "boolean",
        default: false,
        description: "replace attestations of the same predicate type",
      },
      recursive: {
        type: "boolean",
        short: "r",
        default: false,
        description: "also attest each image of an index",
      },
      "no-upload": {
        type: "boolean",
        default: false,
        description: "print the envelope instead of uploading it",
      },
      yes: {
        type: "boolean",
        short: "y",
        default: false,
        description: "skip confirmation prompts",
      },
      ...SIGNER_CERTIFICATE_FLAGS,
      ...SIGN_TLOG_FLAGS,
      "rekor-entry-type": REKOR_ENTRY_TYPE_FLAG,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = required(flags, "key");
    const predicatePath = required(flags, "predicate");
    const kind = entryType(flags);
    const type = str(flags, "type") ?? "custom";
    predicateTypeFor(type, { requireUri: true });
    const predicate = predicatePath === "-"
      ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
      : await readFileBytes(predicatePath, "predicate file");
    const ref = parseReference(positionals[0]!);
    const signer = await loadSigner(keyRef, {
      password: () => readPassword({ confirm: false, stdinInUse: predicatePath === "-" }),
    });
    // As `sign --upload=false`, `--no-upload` sends nothing anywhere, the log included.
    const rekor = bool(flags, "tlog-upload") && !bool(flags, "no-upload")
      ? new RekorClient(str(flags, "rekor-url"))
      : undefined;
    await using _close = { [Symbol.asyncDispose]: () => Promise.resolve(rekor?.close()) };
    const certificate = await signerCertificate(flags, await signer.publicKeyPem());
    // With a certificate, the log records the certificate (as cosign does), not the bare key.
    const publicKeyPem = certificate?.pem ?? await signer.publicKeyPem();
    await withRegistry(flags, async (client) => {
      const image = await getImage(client, ref);
      for (const digest of digestsToSign(image, bool(flags, "recursive"))) {
        const st = buildStatement(type, predicate, {
          name: repositoryName(ref),
          sha256: digest.slice(7),
        });
        const envelope = await signEnvelope(signer, st.bytes);
        if (bool(flags, "no-upload")) {
          await stdout(envelope);
          await stdout("\n");
          continue;
        }
        const attRef = attachmentRef(ref, digest, "att", attachmentOptions(flags));
        client.willPush(attRef);
        const annotations: Record<string, string> = {
          [SIGNATURE_ANNOTATION]: "",
          predicateType: st.predicateType,
        };
        if (certificate) {
          annotations[CERTIFICATE_ANNOTATION] = certificate.pem;
          annotations[CHAIN_ANNOTATION] = certificate.chainPem;
        }
        if (rekor) {
          const entry = await uploadEnvelope(rekor, kind, envelope, publicKeyPem);
          annotations[BUNDLE_ANNOTATION] = rekorBundleJson(entry);
        }
        await appendAttachments(client, attRef, [{
          payload: envelope,
          mediaType: DSSE_MEDIA_TYPE,
          annotations,
        }], {
          dockerMediaTypes: dockerMediaTypes(),
          ...(bool(flags, "replace")
            ? { replace: (l) => l.annotations?.predicateType === st.predicateType }
            : {}),
        });
        await info(`Pushing attestation to: ${repositoryName(attRef)}`);
      }
    });
  },
};

/** Outcome of checking one envelope. */
type Checked = { ok: true; predicateType: string; envelope: Uint8Array } | {
  ok: false;
  reason: string;
};

/** Codes of failures that concern the log entry rather than the envelope. */
const TLOG_CODES = new Set([
  "BUNDLE_INVALID",
  "TLOG_BODY_MISMATCH",
  "TLOG_INVALID",
  "TLOG_MISSING",
  "TLOG_UNTRUSTED",
  "TRUSTED_ROOT_MISSING",
]);

/**
 * Verifies an attestation layer's envelope and, with a trusted root, its transparency-log entry
 * (the `dev.sigstore.cosign/bundle` annotation, cosign-spec §6.7): the entry must be a dsse or
 * intoto entry for these envelope bytes, payload, signature and key, with a SET from a trusted
 * log. The envelope signature is verified once either way.
 */
async function verifyLayer(
  layer: AttachmentLayer,
  verifier: Verifier | KeylessLayerOptions,
  trustedRoot: TrustedRoot | undefined,
): Promise<void> {
  if (!("verify" in verifier)) {
    const { keylessLayerCheck } = await import("../cosign/layer_bundle.ts");
    if (!layer.annotations[CERTIFICATE_ANNOTATION]) {
      throw new CosignError("CERTIFICATE_MISSING", "no certificate on the attestation");
    }
    await keylessLayerCheck(verifier)(layer);
    return;
  }
  const annotation = layer.annotations[BUNDLE_ANNOTATION];
  if (trustedRoot === undefined || !annotation) {
    await verifyEnvelope(parseEnvelope(layer.payload), verifier);
    if (trustedRoot === undefined) return;
    throw new CosignError(
      "TLOG_MISSING",
      "no transparency-log entry (no dev.sigstore.cosign/bundle annotation); " +
        "pass --insecure-ignore-tlog to accept attestations without one",
    );
  }
  let rekorBundle: unknown;
  try {
    rekorBundle = JSON.parse(annotation);
  } catch {
    await verifyEnvelope(parseEnvelope(layer.payload), verifier);
    throw new CosignError("TLOG_INVALID", "the transparency-log bundle annotation is not JSON");
  }
  const { parseBundle, verifyBundleWithKey } = await import("../cosign/bundle.ts");
  try {
    // A legacy bundle whose base64Signature is the envelope: checked as attest-blob's bundles.
    const bundle = parseBundle({ base64Signature: toBase64(layer.payload), rekorBundle });
    await verifyBundleWithKey(bundle, NO_ARTIFACT, verifier, trustedRoot, { checkClaims: false });
  } catch (e) {
    if (e instanceof CosignError && TLOG_CODES.has(e.code)) {
      throw new CosignError(e.code, `transparency log: ${e.message}`);
    }
    throw e;
  }
}

/**
 * The artifact handed to `verifyBundleWithKey` for DSSE content with `checkClaims: false`: it is
 * not read (the subject is checked by the caller, with cosign's messages).
 */
const NO_ARTIFACT = { bytes: new Uint8Array() } as const;

/**
 * Checks one attestation layer: DSSE signature (and, with `trustedRoot`, its log entry), payload
 * type, then (with `claims`) that a subject names the digest, and the predicate's shape.
 */
async function checkAttestation(
  layer: AttachmentLayer,
  verifier: Verifier | KeylessLayerOptions,
  claims: { alg: string; hex: string } | undefined,
  trustedRoot: TrustedRoot | undefined,
): Promise<Checked> {
  const envelope = layer.payload;
  try {
    await verifyLayer(layer, verifier, trustedRoot);
    const env = parseEnvelope(envelope);
    const st = parseStatement(env.payload);
    if (claims && !hasSubjectDigest(st, claims.alg, claims.hex)) {
      return { ok: false, reason: "no matching subject digest found" };
    }
    const shape = checkPredicateShape(st.predicateType, st.predicate);
    if (shape) return { ok: false, reason: shape };
    return { ok: true, predicateType: st.predicateType, envelope };
  } catch (e) {
    if (e instanceof CosignError) return { ok: false, reason: e.message };
    throw e;
  }
}

/** `cosign verify-attestation`. */
export const verifyAttestationCommand: Command = {
  spec: {
    name: "verify-attestation",
    summary:
      "Verifies an image's attestations with a public key or keylessly; prints the matching envelopes.",
    usage:
      "(--key KEYREF | --certificate-identity ID --certificate-oidc-issuer URL) [--type TYPE] (--trusted-root FILE | --insecure-ignore-tlog) IMAGE",
    args: [1, Infinity],
    flags: { ...VERIFY_FLAGS, type: TYPE_FLAG },
  },
  async run({ flags, positionals }) {
    const { keyRef, trustedRoot, keyless } = await checkVerifyFlags(flags, { keyless: true });
    const wanted = predicateTypeFor(str(flags, "type") ?? "custom");
    const verifier = keyless ?? await loadVerifier(keyRef);
    await withRegistry(flags, async (client) => {
      for (const text of positionals) {
        const ref = parseReference(text);
        const digest = ref.digest ?? (await getImage(client, ref)).digest;
        const attRef = attachmentRef(ref, digest, "att", attachmentOptions(flags));
        // Layers are fetched one by one as they are checked (a few ahead): memory stays bounded.
        const read = await listAttachments(client, attRef, {
          maxLayerBytes: maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")),
        });
        const name = referenceName(withDigest(ref, digest));
        if (read.layers.length === 0 && read.skipped.length === 0) {
          throw new CosignError(
            "NO_SIGNATURES",
            `no matching attestations: none found for ${name}`,
          );
        }
        const checkClaims = bool(flags, "check-claims");
        const results: Checked[] = [];
        for await (const got of loadLayers(read.layers)) {
          results.push(
            got.layer
              ? await checkAttestation(
                got.layer,
                verifier,
                checkClaims ? { alg: "sha256", hex: digest.slice(7) } : undefined,
                trustedRoot,
              )
              : { ok: false, reason: got.skipped.reason },
          );
        }
        const reasons = [...read.skipped.map((s) => s.reason)];
        const verified = results.flatMap((r) => (r.ok ? [r] : (reasons.push(r.reason), [])));
        const matching = verified.filter((r) => r.predicateType === wanted);
        const others = verified.filter((r) => r.predicateType !== wanted).map((r) =>
          r.predicateType
        );
        if (verified.length === 0) {
          throw new CosignError(
            "ATTESTATION_MISMATCH",
            `no matching attestations for ${name}: ${reasons.join("; ")}`,
          );
        }
        for (const t of others) {
          await info(`Skipped a verified attestation of another type: ${t} (wanted ${wanted})`);
        }
        if (matching.length === 0) {
          throw new CosignError(
            "ATTESTATION_MISMATCH",
            `none of the attestations matched the predicate type: ${wanted}, found: ${
              [...new Set(others)].join(", ")
            }`,
          );
        }
        const lines = [
          "",
          `Verification for ${referenceName(ref)} --`,
          "The following checks were performed on each of these signatures:",
        ];
        if (checkClaims) lines.push("  - The cosign claims were validated");
        if (trustedRoot || (keyless && !keyless.ignoreTlog)) {
          lines.push("  - Existence of the claims in the transparency log was verified offline");
        }
        lines.push(
          keyless
            ? "  - The code-signing certificate was verified using trusted certificate authority certificates"
            : "  - The signatures were verified against the specified public key",
        );
        await info(lines.join("\n"));
        if (reasons.length) {
          await info(
            `(${reasons.length} other attestation(s) did not verify: ${reasons.join("; ")})`,
          );
        }
        for (const m of matching) await stdout(new Uint8Array([...m.envelope, 0x0a]));
      }
    });
  },
};

/** `cosign attest-blob`. */
export const attestBlobCommand: Command = {
  spec: {
    name: "attest-blob",
    summary: "Signs an in-toto attestation for a file; writes the DSSE envelope.",
    usage:
      "--key KEYREF --predicate FILE [--type TYPE] [--output-signature F] [--bundle F [--new-bundle-format]] [--rekor-url URL] [--tlog-upload=false] FILE",
    args: [1, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      predicate: { type: "string", value: "FILE", description: "the predicate" },
      type: TYPE_FLAG,
      hash: {
        type: "string",
        value: "HEX",
        description: "the file's sha256 instead of reading it",
      },
      "output-signature": {
        type: "string",
        value: "FILE",
        description: "write the envelope here (default stdout)",
      },
      "output-attestation": {
        type: "string",
        value: "FILE",
        description: "write the statement here",
      },
      bundle: {
        type: "string",
        value: "FILE",
        description: "write cosign's bundle (envelope, key, transparency-log entry) here",
      },
      "new-bundle-format": NEW_BUNDLE_FORMAT_FLAG,
      yes: {
        type: "boolean",
        short: "y",
        default: false,
        description: "skip confirmation prompts",
      },
      ...SIGN_TLOG_FLAGS,
      "rekor-entry-type": REKOR_ENTRY_TYPE_FLAG,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = required(flags, "key");
    const predicate = await readFileBytes(required(flags, "predicate"), "predicate file");
    const kind = entryType(flags);
    const { path: bundlePath, writer } = await bundleOutput(flags);
    const type = str(flags, "type") ?? "custom";
    const path = positionals[0]!;
    let hex = str(flags, "hash");
    if (hex !== undefined && !/^[0-9a-f]{64}$/.test(hex)) {
      throw new UsageError(`invalid --hash "${hex}" (64 hex digits)`);
    }
    if (!hex) hex = await sha256File(path);
    const st = buildStatement(type, predicate, {
      name: path.slice(path.lastIndexOf("/") + 1),
      sha256: hex,
    });
    const signer = await loadSigner(keyRef, { password: () => readPassword({ confirm: false }) });
    const envelope = await signEnvelope(signer, st.bytes);
    const publicKeyPem = await signer.publicKeyPem();
    let entry: RekorEntry | undefined;
    if (bool(flags, "tlog-upload")) {
      const rekor = new RekorClient(str(flags, "rekor-url"));
      try {
        entry = await uploadEnvelope(rekor, kind, envelope, publicKeyPem);
        // A v0.3 bundle needs the entry's inclusion proof: fetch it if the upload had none.
        if (writer) entry = await writer.withInclusionProof(entry, (u) => rekor.getByUuid(u));
      } finally {
        rekor.close();
      }
    }
    if (bundlePath) {
      // The legacy bundle's base64Signature holds the whole envelope (cosign-spec §4.5).
      const text = writer
        ? writer.bundleV03Json({
          content: { type: "dsseEnvelope", envelope },
          verificationMaterial: { type: "publicKey", publicKeyPem },
          tlogEntry: entry,
        })
        : legacyBundleJson(envelope, publicKeyPem, entry);
      await writeFileAtomic(bundlePath, text, 0o644);
      await info(`Wrote bundle to file ${bundlePath}`);
    }
    const out = str(flags, "output-signature");
    const att = str(flags, "output-attestation");
    if (att) await writeFileAtomic(att, st.bytes, 0o644);
    if (out) {
      await writeFileAtomic(out, envelope, 0o644);
      await info(`Wrote attestation to file ${out}`);
    } else {
      await stdout(new Uint8Array([...envelope, 0x0a]));
    }
  },
};

async function sha256File(path: string, max?: number): Promise<string> {
  let f: Deno.FsFile;
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) {
      throw new CosignError("FILE_READ", `Cannot read blob ${path}: it is a directory`);
    }
    if (max !== undefined && st.size > max) {
      throw new CosignError(
        "FILE_READ",
        `Cannot read blob ${path}: ${st.size} bytes, over the ${max}-byte limit (COSIGN_MAX_ATTACHMENT_SIZE)`,
      );
    }
    f = await Deno.open(path);
  } catch (e) {
    if (e instanceof CosignError) throw e;
    throw fileError(e, path, "blob");
  }
  const h = createHash("sha256");
  for await (const c of fileChunks(f)) h.update(c);
  return h.digest("hex");
}

/**
 * Reads `--signature` (an envelope, possibly base64-encoded) or `--bundle` (legacy or v0.3);
 * returns the envelope bytes and, for a bundle, its parsed JSON.
 */
async function envelopeFromFlags(
  flags: FlagValues,
): Promise<{ envelope: Uint8Array; bundle?: unknown }> {
  const sigPath = str(flags, "signature");
  const bundlePath = str(flags, "bundle");
  if (!!sigPath === !!bundlePath) {
    throw new UsageError("pass exactly one of --signature and --bundle");
  }
  if (sigPath) {
    const raw = await readFileBytes(sigPath, "signature file");
    const text = new TextDecoder().decode(raw).trim();
    return { envelope: text.startsWith("{") ? utf8(text) : (fromBase64(text) ?? raw) };
  }
  const text = await readTextFile(bundlePath!, "bundle");
  let b: unknown;
  try {
    b = JSON.parse(text);
  } catch {
    throw new CosignError("DSSE_INVALID", `Cannot read bundle ${bundlePath}: it is not JSON`);
  }
  const legacy = getMember(b, "base64Signature");
  if (typeof legacy === "string") {
    const env = fromBase64(legacy);
    if (!env) {
      throw new CosignError(
        "DSSE_INVALID",
        `Cannot read bundle ${bundlePath}: base64Signature is not base64`,
      );
    }
    return { envelope: env, bundle: b };
  }
  const dsse = getMember(b, "dsseEnvelope");
  if (typeof dsse !== "object" || dsse === null) {
    throw new CosignError("DSSE_INVALID", `Bundle ${bundlePath} holds no DSSE envelope`);
  }
  // A v0.3 bundle's envelope is protojson: same field names as the envelope JSON.
  return { envelope: utf8(JSON.stringify(dsse)), bundle: b };
}

const DIGEST_ALGS = ["sha256", "sha384", "sha512"];

/** `cosign verify-blob-attestation`. */
export const verifyBlobAttestationCommand: Command = {
  spec: {
    name: "verify-blob-attestation",
    summary: "Verifies a file's attestation with a public key or keylessly; prints Verified OK.",
    usage:
      "(--key KEYREF | --certificate-identity ID --certificate-oidc-issuer URL) (--bundle F --trusted-root FILE | --signature F --insecure-ignore-tlog) [--type TYPE] [--digest HEX --digestAlg sha256] [FILE]",
    args: [0, 1],
    flags: {
      key: { type: "string", value: "KEYREF", description: "public key or certificate reference" },
      signature: {
        type: "string",
        value: "FILE",
        description: "the DSSE envelope (JSON or base64)",
      },
      bundle: {
        type: "string",
        value: "FILE",
        description: "a cosign bundle or a Sigstore v0.3 bundle",
      },
      type: TYPE_FLAG,
      "check-claims": {
        type: "boolean",
        default: true,
        description: "check that a subject names the file",
      },
      digest: {
        type: "string",
        value: "HEX",
        description: "the file's digest instead of the file",
      },
      digestAlg: {
        type: "string",
        default: "sha256",
        value: "ALG",
        description: "sha256, sha384 or sha512",
      },
      "new-bundle-format": {
        type: "boolean",
        default: false,
        description: "the bundle is a Sigstore bundle",
      },
      ...VERIFY_TLOG_FLAGS,
      ...CERTIFICATE_VERIFY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const keyRef = str(flags, "key");
    const keyless = hasIdentityFlags(flags);
    if (keyRef && keyless) {
      throw new UsageError(
        "--key and --certificate-identity/--certificate-oidc-issuer are exclusive",
      );
    }
    if (!keyRef && !keyless) {
      throw new UsageError(
        "--key, or --bundle with --certificate-identity and --certificate-oidc-issuer, is required",
      );
    }
    const policy = keyless ? await certificatePolicyFromFlags(flags) : undefined;
    const alg = str(flags, "digestAlg") ?? "sha256";
    if (!DIGEST_ALGS.includes(alg)) {
      throw new UsageError(`invalid --digestAlg "${alg}" (sha256, sha384 or sha512)`);
    }
    const wanted = predicateTypeFor(str(flags, "type") ?? "custom");
    const trustedRoot = policy
      ? await keylessBlobAttestationTrust(flags)
      : await blobAttestationTrust(flags);
    const { envelope: envelopeBytes, bundle } = await envelopeFromFlags(flags);
    const checkClaims = bool(flags, "check-claims");
    let claims: { alg: string; hex: string } | undefined;
    if (checkClaims) {
      const given = str(flags, "digest");
      const path = positionals[0];
      if (given) claims = { alg, hex: given.toLowerCase() };
      else if (path) {
        claims = {
          alg: "sha256",
          hex: await sha256File(
            path,
            maxAttachmentSize(Deno.env.get("COSIGN_MAX_ATTACHMENT_SIZE")),
          ),
        };
      } else throw new UsageError("pass the file, or --digest, to check the attestation's subject");
    }
    const env = parseEnvelope(envelopeBytes);
    let tlogVerified = false;
    if (policy) {
      // Keyless: the bundle's certificate, envelope signature, log entry and timestamps.
      const { parseBundle, verifyBundle } = await import("../cosign/bundle.ts");
      const r = await verifyBundle(
        parseBundle(bundle),
        NO_ARTIFACT,
        trustedRoot,
        { certificate: policy },
        { checkClaims: false, ignoreTlog: bool(flags, "insecure-ignore-tlog") },
      );
      tlogVerified = r.tlogVerifiedOffline;
    } else if (trustedRoot) {
      const verifier = await loadVerifier(keyRef!);
      // The bundle's envelope signature, then its log entry, offline (cosign-spec §6.7).
      const { parseBundle, verifyBundleWithKey } = await import("../cosign/bundle.ts");
      const r = await verifyBundleWithKey(parseBundle(bundle), NO_ARTIFACT, verifier, trustedRoot, {
        checkClaims: false,
      });
      tlogVerified = r.tlogVerifiedOffline;
    } else {
      await verifyEnvelope(env, await loadVerifier(keyRef!));
    }
    const st = parseStatement(env.payload);
    if (st.predicateType !== wanted) {
      const given = str(flags, "type") ?? "custom";
      throw new CosignError(
        "ATTESTATION_MISMATCH",
        `invalid predicate type, expected ${given} got ${st.predicateType}` +
          (given !== wanted ? ` (${given} means ${wanted})` : ""),
      );
    }
    const shape = checkPredicateShape(st.predicateType, st.predicate);
    if (shape) throw new CosignError("PREDICATE_INVALID", shape);
    if (claims && !hasSubjectDigest(st, claims.alg, claims.hex)) {
      throw new CosignError("ATTESTATION_MISMATCH", "no matching subject digest found");
    }
    if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
      throw new CosignError("DSSE_INVALID", "unexpected payload type");
    }
    if (tlogVerified) {
      await info("Existence of the claims in the transparency log was verified offline");
    }
    await info("Verified OK");
  },
};

/**
 * The trust material of a keyless verify-blob-attestation: the bundle's certificate needs the
 * Fulcio CAs (and, unless `--insecure-ignore-tlog`, its log entry the Rekor keys).
 */
async function keylessBlobAttestationTrust(flags: FlagValues): Promise<TrustedRoot> {
  if (!str(flags, "bundle")) {
    throw new UsageError("keyless verification needs --bundle (the certificate is in it)");
  }
  if (bool(flags, "insecure-ignore-tlog")) await info(TLOG_WARNING);
  const root = await loadTrustedRoot(flags);
  if (!root || root.certificateAuthorities.length === 0) {
    throw new UsageError(
      "keyless verification needs --trusted-root (or SIGSTORE_ROOT_FILE) with the Fulcio certificate authorities",
    );
  }
  return root;
}

/**
 * The trust material verify-blob-attestation checks the bundle's log entry against; undefined
 * with `--insecure-ignore-tlog` (after cosign's warning).
 * @throws {CosignError} `TLOG_MISSING` without `--bundle` (only a bundle carries the entry),
 *   `TRUSTED_ROOT_MISSING` without `--trusted-root` or `SIGSTORE_REKOR_PUBLIC_KEY`
 */
async function blobAttestationTrust(flags: FlagValues): Promise<TrustedRoot | undefined> {
  if (bool(flags, "insecure-ignore-tlog")) {
    await info(TLOG_WARNING);
    return undefined;
  }
  if (!str(flags, "bundle")) {
    throw new CosignError(
      "TLOG_MISSING",
      "Checking the transparency log needs --bundle FILE (attest-blob --bundle writes the " +
        "envelope with its log entry); or pass --insecure-ignore-tlog to verify --signature alone",
    );
  }
  const root = await loadTrustedRoot(flags);
  if (!root) {
    throw new CosignError(
      "TRUSTED_ROOT_MISSING",
      "Checking the transparency log needs --trusted-root (or SIGSTORE_REKOR_PUBLIC_KEY) to " +
        "verify the bundle's log entry offline; or pass --insecure-ignore-tlog",
    );
  }
  return root;
}
