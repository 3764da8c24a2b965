/**
 * Key commands: `generate-key-pair`, `import-key-pair` and `public-key`.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { generateKeyPair, importKeyPair } from "../cosign/keypair.ts";
import { createKmsKey, keyRefKind, loadSigner, readTextFile } from "../cosign/keyref.ts";
import { parseUnencryptedPrivateKeyPem } from "../crypto/keys.ts";
import { bool, required, str } from "./args.ts";
import type { Command } from "./command.ts";
import {
  commitFiles,
  confirm,
  exists,
  info,
  stageFile,
  stdinIsTerminal,
  stdout,
  writeFileAtomic,
} from "./io.ts";
import { readPassword } from "./password.ts";
import { providerOptions, TIMEOUT_FLAG } from "./registry_flags.ts";

/** Checks that writing `<prefix>.key`/`.pub` overwrites nothing without consent (asked once). */
async function checkOverwrite(
  prefix: string,
  yes: boolean,
  suffixes = [".key", ".pub"],
): Promise<void> {
  if (yes) return;
  const existing = [];
  for (const path of suffixes.map((s) => prefix + s)) {
    if (await exists(path)) existing.push(path);
  }
  if (existing.length === 0) return;
  const names = existing.join(" and ");
  if (!stdinIsTerminal()) {
    throw new CosignError(
      "FILE_EXISTS",
      `Refusing to overwrite ${names}: ${
        existing.length > 1 ? "they exist" : "it exists"
      } already (pass --yes to overwrite)`,
    );
  }
  for (const path of existing) await info(`WARNING: File ${path} already exists. Overwrite?`);
  if (!(await confirm("Are you sure you would like to continue? [y/N] "))) {
    throw new CosignError("FILE_EXISTS", `Not overwriting ${names}`);
  }
}

async function writeKeyPair(prefix: string, priv: string, pub: string): Promise<void> {
  const staged = [
    await stageFile(`${prefix}.key`, priv, 0o600),
    await stageFile(`${prefix}.pub`, pub, 0o644),
  ];
  await commitFiles(staged);
  await info(`Private key written to ${prefix}.key`);
  await info(`Public key written to ${prefix}.pub`);
}

async function writePublicKey(prefix: string, pem: string): Promise<void> {
  await writeFileAtomic(`${prefix}.pub`, pem, 0o644);
  await info(`Public key written to ${prefix}.pub`);
}

const YES = {
  type: "boolean",
  short: "y",
  default: false,
  description: "overwrite existing key files without asking",
} as const;

/** `cosign generate-key-pair`. */
export const generateKeyPairCommand: Command = {
  spec: {
    name: "generate-key-pair",
    summary:
      "Generates an ECDSA P-256 key pair for signing and verifying: in files, in a KMS, or in a Kubernetes secret.",
    usage: "[--output-key-prefix PREFIX] [-y] [--kms KMS-URI | k8s://NAMESPACE/SECRET]",
    args: [0, 1],
    flags: {
      "output-key-prefix": {
        type: "string",
        default: "cosign",
        value: "PREFIX",
        check: "key-prefix",
        description: "name of the key files: PREFIX.key and PREFIX.pub",
      },
      "kms": {
        type: "string",
        value: "URI",
        description:
          "create the key in a KMS (awskms://, gcpkms://, azurekms://, hashivault://, …) or reuse it; writes PREFIX.pub",
      },
      yes: YES,
      timeout: TIMEOUT_FLAG,
    },
  },
  async run({ flags, positionals }) {
    const kms = str(flags, "kms");
    const target = positionals[0];
    const prefix = required(flags, "output-key-prefix");
    if (kms !== undefined && target !== undefined) {
      throw new UsageError("pass either --kms URI or a k8s://NAMESPACE/SECRET argument, not both");
    }
    if (target !== undefined) {
      if (keyRefKind(target) !== "k8s") {
        throw new CosignError(
          "KEYREF_UNSUPPORTED",
          `Cannot create key ${target}: the argument must be k8s://NAMESPACE/SECRET (use --kms for a KMS)`,
        );
      }
      await checkOverwrite(prefix, bool(flags, "yes"), [".pub"]);
      const created = await createKmsKey(target, {
        ...providerOptions(flags),
        info,
        password: () => readPassword({ confirm: true }),
      });
      await writePublicKey(prefix, created.publicKeyPem);
      return;
    }
    if (kms !== undefined) {
      if (keyRefKind(kms) !== "kms") {
        throw new UsageError(
          `--kms ${kms}: not a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://, …)`,
        );
      }
      await checkOverwrite(prefix, bool(flags, "yes"), [".pub"]);
      const created = await createKmsKey(kms, { ...providerOptions(flags), info });
      await info(created.existed ? `Using the existing key ${kms}` : `Created key ${kms}`);
      await writePublicKey(prefix, created.publicKeyPem);
      return;
    }
    await checkOverwrite(prefix, bool(flags, "yes"));
    const password = await readPassword({ confirm: true });
    const pair = await generateKeyPair(password);
    await writeKeyPair(prefix, pair.privateKeyPem, pair.publicKeyPem);
  },
};

/** `cosign import-key-pair`. */
export const importKeyPairCommand: Command = {
  spec: {
    name: "import-key-pair",
    summary: "Imports a PEM private key (RSA, ECDSA or Ed25519) as a cosign key pair.",
    usage: "--key FILE [--output-key-prefix PREFIX] [-y]",
    args: [0, 0],
    flags: {
      key: {
        type: "string",
        short: "k",
        value: "FILE",
        check: "file",
        description: "unencrypted PEM private key",
      },
      "output-key-prefix": {
        type: "string",
        short: "o",
        default: "import-cosign",
        value: "PREFIX",
        check: "key-prefix",
        description: "name of the key files: PREFIX.key and PREFIX.pub",
      },
      yes: YES,
    },
  },
  async run({ flags }) {
    const keyPath = required(flags, "key");
    const prefix = required(flags, "output-key-prefix");
    const pem = await readTextFile(keyPath, "private key");
    // Validate before asking anything: a refused key must not cost a password prompt.
    parseUnencryptedPrivateKeyPem(pem, keyPath);
    await checkOverwrite(prefix, bool(flags, "yes"));
    const password = await readPassword({ confirm: true });
    const pair = await importKeyPair(pem, password, keyPath);
    await writeKeyPair(prefix, pair.privateKeyPem, pair.publicKeyPem);
  },
};

/** `cosign public-key`. */
export const publicKeyCommand: Command = {
  spec: {
    name: "public-key",
    summary: "Prints the public key of a private key, a KMS key or a k8s:// secret.",
    usage: "--key KEYREF [--outfile FILE]",
    args: [0, 0],
    flags: {
      key: { type: "string", value: "KEYREF", description: "private key reference" },
      outfile: {
        type: "string",
        value: "FILE",
        check: "out-file",
        description: "write the key here instead of stdout",
      },
      timeout: TIMEOUT_FLAG,
    },
  },
  async run({ flags }) {
    const signer = await loadSigner(required(flags, "key"), {
      password: () => readPassword({ confirm: false }),
      ...providerOptions(flags),
    });
    const pem = await signer.publicKeyPem();
    const outfile = str(flags, "outfile");
    if (outfile) {
      await writeFileAtomic(outfile, pem, 0o644);
      await info(`Public key written to ${outfile}`);
    } else {
      await stdout(pem);
    }
  },
};
