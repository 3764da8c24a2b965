/**
 * `cosign initialize`: fetch and verify the TUF trust material (`trusted_root.json`,
 * `signing_config.v0.2.json`) from a mirror into the cache (`TUF_ROOT`, default
 * `~/.sigstore/root`), and record the mirror there for later commands.
 * @module
 */

import { createHash } from "node:crypto";
import { CosignError, UsageError } from "../errors.ts";
import {
  DEFAULT_TUF_MIRROR,
  SIGNING_CONFIG_TARGET,
  STAGING_TUF_MIRROR,
  TRUSTED_ROOT_TARGET,
  updateTuf,
} from "../trust/tuf.ts";
import { bool, str } from "./args.ts";
import type { Command } from "./command.ts";
import { info } from "./io.ts";
import { readFileBytes } from "../cosign/keyref.ts";
import { TUF_REMOTE_FILE, tufCacheDir } from "./trust.ts";

const ROOT_MAX_BYTES = 512 * 1024;

/** Checks `bytes` against `--root-checksum ALG:HEX` (sha256 or sha512). */
export function checkRootChecksum(bytes: Uint8Array, checksum: string, what: string): void {
  const m = /^(sha256|sha512):([0-9a-fA-F]+)$/.exec(checksum);
  if (!m) {
    throw new UsageError(
      `Invalid --root-checksum "${checksum}": expected sha256:HEX or sha512:HEX`,
    );
  }
  const got = createHash(m[1]!).update(bytes).digest("hex");
  if (got !== m[2]!.toLowerCase()) {
    throw new CosignError(
      "TUF_INVALID",
      `The TUF root ${what} has ${m[1]} ${got}, not the ${m[2]} that --root-checksum expects`,
    );
  }
}

async function loadRoot(
  root: string,
  checksum: string | undefined,
): Promise<Uint8Array> {
  let bytes: Uint8Array;
  if (/^https?:\/\//i.test(root)) {
    if (!checksum) {
      throw new UsageError(`--root ${root} is fetched over the network: pass --root-checksum too`);
    }
    let res: Response;
    try {
      res = await fetch(root);
    } catch (e) {
      throw new CosignError("TUF_UNAVAILABLE", `Cannot fetch the TUF root ${root}: ${e}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new CosignError("TUF_UNAVAILABLE", `Cannot fetch the TUF root ${root}: ${res.status}`);
    }
    bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > ROOT_MAX_BYTES) {
      throw new CosignError("TUF_INVALID", `The TUF root ${root} is larger than ${ROOT_MAX_BYTES}`);
    }
  } else {
    bytes = await readFileBytes(root.replace(/^file:\/\//, ""), "TUF root");
  }
  if (checksum) checkRootChecksum(bytes, checksum, root);
  try {
    JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new CosignError("TUF_INVALID", `The TUF root ${root} is not JSON`);
  }
  return bytes;
}

/** `initialize`. */
export const initializeCommand: Command = {
  spec: {
    name: "initialize",
    summary: "Initializes the TUF trust material (trusted root and signing config) cache.",
    usage: "[--mirror URL|file:///DIR] [--root FILE|URL] [--root-checksum ALG:HEX] [--staging]",
    args: [0, 0],
    flags: {
      mirror: {
        type: "string",
        value: "URL",
        check: "url",
        description: "TUF repository (default: TUF_MIRROR, else " + DEFAULT_TUF_MIRROR + ")",
      },
      root: {
        type: "string",
        value: "FILE|URL",
        description:
          "initial trusted TUF root.json (default: TUF_ROOT_JSON, else the embedded one)",
      },
      "root-checksum": {
        type: "string",
        value: "ALG:HEX",
        description: "sha256:HEX or sha512:HEX of --root (needed for a URL)",
      },
      staging: {
        type: "boolean",
        default: false,
        description: "use Sigstore's staging TUF repository",
      },
    },
  },
  async run({ flags }) {
    const staging = bool(flags, "staging");
    const mirror = str(flags, "mirror") ??
      (staging ? STAGING_TUF_MIRROR : (Deno.env.get("TUF_MIRROR") || DEFAULT_TUF_MIRROR));
    const rootRef = str(flags, "root") ?? (Deno.env.get("TUF_ROOT_JSON") || undefined);
    const checksum = str(flags, "root-checksum");
    if (checksum && !rootRef) throw new UsageError("--root-checksum needs --root");
    const root = rootRef ? await loadRoot(rootRef, checksum) : undefined;
    const cacheDir = tufCacheDir();
    let warned = false;
    const targets = await updateTuf([TRUSTED_ROOT_TARGET, SIGNING_CONFIG_TARGET], {
      mirror,
      cacheDir,
      root,
      replaceRoot: root !== undefined,
      refresh: true,
      onWarning: (m) => {
        warned = true;
        void info(`WARNING: ${m}`);
      },
    });
    if (!targets.has(TRUSTED_ROOT_TARGET)) {
      throw new CosignError(
        "TUF_INVALID",
        `The TUF repository ${mirror} has no ${TRUSTED_ROOT_TARGET} target`,
      );
    }
    if (!targets.has(SIGNING_CONFIG_TARGET)) {
      await info(`WARNING: the TUF repository ${mirror} has no ${SIGNING_CONFIG_TARGET} target`);
    }
    if (!warned) {
      const path = `${cacheDir}/${TUF_REMOTE_FILE}`;
      const tmp = `${path}.tmp-${crypto.randomUUID()}`;
      try {
        await Deno.writeTextFile(tmp, JSON.stringify({ mirror }) + "\n");
        await Deno.rename(tmp, path);
      } catch (e) {
        await Deno.remove(tmp).catch(() => {});
        await info(`WARNING: Cannot record the TUF mirror in ${path}: ${(e as Error).message}`);
      }
    }
    await info(`Initialized TUF trust from ${mirror} in ${cacheDir}`);
  },
};
