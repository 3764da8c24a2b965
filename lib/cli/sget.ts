/**
 * The `sget` program: downloads an artifact from an OCI registry and hands over its bytes only
 * after everything checked out (cosign-spec §10). The download is spooled to a private
 * temporary file (0600) while its digest is checked; signatures are verified with `--key`, or
 * keylessly with `--certificate-identity`/`--certificate-oidc-issuer` (one of them is required
 * for tags), each with its transparency-log entry checked offline unless
 * `--insecure-ignore-tlog`, before the download starts. Only then do the bytes go to stdout, or is
 * the file renamed into place for `-o`. On any failure or interruption (SIGINT, SIGTERM, a
 * closed pipe) stdout has received nothing, `-o FILE` is untouched, and the spool is removed.
 * The download is bounded: `--max-size` (default 10 GiB) is checked against the descriptor's
 * size or `Content-Length` before reading, and while streaming.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { LIMITS, parseByteSize } from "../oci/body.ts";
import { locateArtifact } from "../cosign/artifact.ts";
import { fileChunks } from "../cosign/blob.ts";
import { verifyImage, type VerifyImageOptions } from "../cosign/image_signatures.ts";
import { bundleOutputPayload } from "../cosign/image_bundles.ts";
import type { Verifier } from "../crypto/signer.ts";
import { loadVerifier } from "../cosign/keyref.ts";
import { outputPayload } from "../cosign/verify_signatures.ts";
import { parseReference, referenceName, withDigest } from "../oci/reference.ts";
import { bool, type FlagValues, str } from "./args.ts";
import {
  CERTIFICATE_VERIFY_FLAGS,
  certificatePolicyFromFlags,
  hasIdentityFlags,
} from "./certificate_flags.ts";
import type { Command } from "./command.ts";
import { VERIFY_TLOG_FLAGS } from "./command.ts";
import { info, writeAll } from "./io.ts";
import { providerOptions, REGISTRY_FLAGS, withRegistry } from "./registry_flags.ts";
import type { Program } from "./run.ts";
import { loadTrustedRoot } from "./trust.ts";

const enc = new TextEncoder();

/** A progress bar on stderr (only when stderr is a terminal). */
class Progress {
  readonly #total: number | undefined;
  readonly #start = performance.now();
  #done = 0;
  #last = 0;
  readonly #on = Deno.stderr.isTerminal();

  constructor(total: number | undefined) {
    this.#total = total;
  }

  add(n: number): void {
    this.#done += n;
    const now = performance.now();
    if (!this.#on || now - this.#last < 100) return;
    this.#last = now;
    this.#draw(now);
  }

  finish(): void {
    if (!this.#on) return;
    this.#draw(performance.now());
    Deno.stderr.writeSync(enc.encode("\n"));
  }

  #draw(now: number): void {
    const secs = Math.max((now - this.#start) / 1000, 0.001);
    const rate = this.#done / secs;
    const mb = (n: number) => (n / 1048576).toFixed(1);
    let line = `${mb(this.#done)} MiB`;
    if (this.#total) {
      const pct = Math.min(100, (100 * this.#done) / this.#total);
      const bar = "#".repeat(Math.round(pct / 5)).padEnd(20, ".");
      const eta = rate > 0 ? Math.max(0, (this.#total - this.#done) / rate) : 0;
      line = `[${bar}] ${pct.toFixed(0).padStart(3)}% ${mb(this.#done)}/${mb(this.#total)} MiB, ` +
        `${mb(rate)} MiB/s, ETA ${eta.toFixed(0)}s`;
    } else {
      line += `, ${mb(rate)} MiB/s`;
    }
    Deno.stderr.writeSync(enc.encode(`\r${line}\x1b[K`));
  }
}

/** A private spool file, removed on failure or when a signal interrupts the process. */
class Spool {
  readonly path: string;
  #removed = false;
  readonly #onSignal: () => void;

  private constructor(path: string) {
    this.path = path;
    this.#onSignal = () => {
      this.removeSync();
      Deno.exit(130);
    };
    Deno.addSignalListener("SIGINT", this.#onSignal);
    Deno.addSignalListener("SIGTERM", this.#onSignal);
  }

  /** Creates the spool beside `outFile` (so it can be renamed into place) or in the temp folder. */
  static async create(outFile: string | undefined): Promise<Spool> {
    const dir = outFile
      ? (outFile.includes("/") ? outFile.slice(0, outFile.lastIndexOf("/")) || "/" : ".")
      : undefined;
    let path: string;
    try {
      path = await Deno.makeTempFile({
        ...(dir ? { dir } : {}),
        prefix: ".sget-",
        suffix: ".part",
      });
    } catch (e) {
      throw new CosignError(
        "FILE_WRITE",
        `Cannot write ${outFile ?? "a temporary file"}: ${
          e instanceof Deno.errors.NotFound
            ? `no such directory ${dir ?? "(the temporary folder)"}`
            : e instanceof Deno.errors.PermissionDenied
            ? "permission denied"
            : (e as Error).message
        }`,
      );
    }
    await Deno.chmod(path, 0o600);
    return new Spool(path);
  }

  removeSync(): void {
    if (this.#removed) return;
    this.#removed = true;
    try {
      Deno.removeSync(this.path);
    } catch { /* already gone */ }
  }

  /** Stops listening for signals; removes the file unless it was handed over. */
  dispose(): void {
    Deno.removeSignalListener("SIGINT", this.#onSignal);
    Deno.removeSignalListener("SIGTERM", this.#onSignal);
    this.removeSync();
  }

  /** Marks the file as moved elsewhere (renamed into place). */
  handedOver(): void {
    this.#removed = true;
  }
}

/** How the artifact's signatures are checked: with a key or keylessly, and the log offline. */
interface SignatureCheck {
  readonly verifier: Verifier | undefined;
  readonly options: VerifyImageOptions;
  readonly tlogChecked: boolean;
}

/**
 * The signature check the flags ask for, or undefined when none is asked (a digest reference
 * is then enough). A transparency-log proof is required unless `--insecure-ignore-tlog`.
 */
async function signatureCheck(
  flags: FlagValues,
  keyRef: string | undefined,
  keyless: boolean,
): Promise<SignatureCheck | undefined> {
  if (!keyRef && !keyless) return undefined;
  const ignoreTlog = bool(flags, "insecure-ignore-tlog");
  // With a key and the log skipped nothing needs trust material: TUF is not consulted.
  const trustedRoot = await loadTrustedRoot(flags, keyRef && ignoreTlog ? { tuf: false } : {});
  if (ignoreTlog) {
    await info(
      "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.",
    );
  } else if (!trustedRoot) {
    throw new UsageError(
      "checking the signatures' transparency-log entries needs --trusted-root (or SIGSTORE_REKOR_PUBLIC_KEY); pass --insecure-ignore-tlog to skip the log",
    );
  }
  if (keyRef) {
    return {
      verifier: await loadVerifier(keyRef, { onWarning: info, ...providerOptions(flags) }),
      options: !ignoreTlog && trustedRoot ? { trustedRoot } : { ignoreTlog: true },
      tlogChecked: !ignoreTlog,
    };
  }
  const policy = await certificatePolicyFromFlags(flags);
  if (!trustedRoot || trustedRoot.certificateAuthorities.length === 0) {
    throw new UsageError(
      "keyless verification needs --trusted-root (or SIGSTORE_ROOT_FILE) with the Fulcio certificate authorities",
    );
  }
  return {
    verifier: undefined,
    options: { keyless: { policy, trustedRoot, ignoreTlog } },
    tlogChecked: !ignoreTlog,
  };
}

const fetchCommand: Command = {
  spec: {
    name: "fetch",
    summary:
      "Downloads an artifact from an OCI registry, handing over its bytes only once verified.",
    usage:
      "[--key KEYREF | --certificate-identity ID --certificate-oidc-issuer URL] [--trusted-root FILE | --insecure-ignore-tlog] [--max-size SIZE] [-o FILE] REF",
    args: [1, 1],
    flags: {
      key: {
        type: "string",
        value: "KEYREF",
        description: "public key that must have signed REF (required for tags)",
      },
      // cosign v1's sget spelled it -o/--output; --outfile is kept. Neither is read from the
      // environment: COSIGN_OUTPUT is verify's output format.
      output: {
        type: "string",
        short: "o",
        value: "FILE",
        check: "out-file",
        env: false,
        description: "write to FILE instead of stdout",
      },
      outfile: {
        type: "string",
        value: "FILE",
        check: "out-file",
        env: false,
        description: "the same as --output",
      },
      "max-size": {
        type: "string",
        value: "SIZE",
        check: "size",
        description:
          "refuse an artifact larger than this (bytes, or e.g. 500MiB, 20GiB; default 10GiB)",
      },
      ...VERIFY_TLOG_FLAGS,
      ...CERTIFICATE_VERIFY_FLAGS,
      ...REGISTRY_FLAGS,
    },
  },
  async run({ flags, positionals }) {
    const ref = parseReference(positionals[0]!);
    const keyRef = str(flags, "key");
    const keyless = hasIdentityFlags(flags);
    const output = str(flags, "output");
    const outfile = str(flags, "outfile");
    if (output !== undefined && outfile !== undefined && output !== outfile) {
      throw new UsageError("--output and --outfile name different files; pass one");
    }
    const outFile = output ?? outfile;
    const maxSizeText = str(flags, "max-size");
    const maxSize = maxSizeText === undefined
      ? LIMITS.blob
      : parseByteSize(maxSizeText, "--max-size");
    if (keyRef && keyless) {
      throw new UsageError(
        "--key and --certificate-identity/--certificate-oidc-issuer are exclusive",
      );
    }
    if (!ref.digest && !keyRef && !keyless) {
      throw new UsageError(
        "public key must be specified when fetching by tag, you must fetch by digest or supply a public key",
      );
    }
    const signer = await signatureCheck(flags, keyRef, keyless);
    await withRegistry(flags, async (client) => {
      const where = await locateArtifact(client, ref);
      if (where.blob.size !== undefined && where.blob.size > maxSize) {
        throw new CosignError(
          "BLOB_TOO_LARGE",
          `${referenceName(ref)} is ${where.blob.size} bytes, over the ${maxSize}-byte limit ` +
            "(raise it with --max-size)",
        );
      }
      if (signer) {
        const r = await verifyImage(
          client,
          withDigest(ref, where.digest),
          signer.verifier,
          signer.options,
        );
        await info(
          `\nVerification for ${
            referenceName(ref)
          } --\nThe following checks were performed on each of these signatures:\n` +
            `  - The cosign claims were validated\n` +
            (signer.tlogChecked
              ? "  - Existence of the claims in the transparency log was verified offline\n"
              : "") +
            (signer.verifier
              ? "  - The signatures were verified against the specified public key\n"
              : "  - The code-signing certificate was verified using trusted certificate authority certificates\n") +
            [
              ...r.verified.map((v) => outputPayload(v.payload)),
              ...r.bundles.map((b) => bundleOutputPayload(b, referenceName(ref), r.digest)),
            ].join("\n"),
        );
      }
      // The claim checked above is the image digest each verified payload names (read from the
      // signed payload bytes); the blob is the one the manifest of that digest lists, and its
      // bytes are checked against the blob digest while they stream into the spool.
      const spool = await Spool.create(outFile);
      try {
        const progress = new Progress(where.blob.size);
        // The size comes from the manifest's layer descriptor when there is one (a blob named
        // by digest has none): more than it, or than --max-size, is refused while streaming.
        const stream = await client.fetchBlob(ref, where.blob.digest, where.blob.size, {
          maxBytes: maxSize,
        });
        const f = await Deno.open(spool.path, { write: true });
        try {
          // The stream errors at its end if the bytes do not match the digest: nothing leaves
          // the spool until it has ended cleanly.
          for await (const chunk of stream) {
            await writeAll(f, chunk);
            progress.add(chunk.length);
          }
        } finally {
          f.close();
        }
        progress.finish();
        if (outFile) {
          try {
            await Deno.chmod(spool.path, 0o644 & ~Deno.umask());
          } catch { /* keep 0600 */ }
          try {
            await Deno.rename(spool.path, outFile);
          } catch (e) {
            throw new CosignError(
              "FILE_WRITE",
              `Cannot write ${outFile}: ${
                e instanceof Deno.errors.IsADirectory ? "it is a directory" : (e as Error).message
              }`,
            );
          }
          spool.handedOver();
          await info(
            `Wrote ${where.blob.size ?? "all"} bytes of ${
              referenceName(withDigest(ref, where.digest))
            } to ${outFile}`,
          );
        } else {
          for await (const chunk of fileChunks(await Deno.open(spool.path))) {
            await writeAll(Deno.stdout, chunk);
          }
        }
      } finally {
        spool.dispose();
      }
    });
  },
};

/** The sget command table: `sget REF` downloads, `sget version` prints the version. */
export const sgetProgram: Program = {
  name: "sget",
  summary: "sget (Deno): download an artifact only after verifying it.",
  defaultCommand: "fetch",
  commands: {
    fetch: {
      summary: "Download a verified artifact (the default)",
      load: () => Promise.resolve(fetchCommand),
    },
    version: {
      summary: "Print the version",
      load: async () => (await import("./version.ts")).versionCommand,
    },
  },
};
