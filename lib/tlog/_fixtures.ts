/**
 * Test support (not exported by `mod.ts`): reads the real bundles, trusted roots and conformance
 * cases under `../shared/fixtures` and pulls out their tlog entries.
 * @module
 */

import { CosignError } from "../errors.ts";
import { FIXTURES } from "../../tests/helpers.ts";
import { decodeProtoBytes } from "./bytes.ts";
import { parseTrustedRoot, type TrustedRoot } from "../trust/trusted_root.ts";

/** A bundle tlog entry with its protojson `bytes` fields decoded. */
export interface FixtureEntry {
  logIndex: bigint;
  logId: Uint8Array;
  kind: string;
  version: string;
  integratedTime: bigint | undefined;
  signedEntryTimestamp: Uint8Array | undefined;
  body: Uint8Array;
  proof:
    | {
      logIndex: bigint;
      treeSize: bigint;
      rootHash: Uint8Array;
      hashes: Uint8Array[];
      checkpoint: string | undefined;
    }
    | undefined;
}

function b64(v: unknown): Uint8Array {
  const out = typeof v === "string" ? decodeProtoBytes(v) : undefined;
  if (!out) throw new CosignError("TLOG_INVALID", `fixture: not base64: ${String(v)}`);
  return out;
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** Reads `path` (relative to the fixtures folder) as JSON. */
export function readJson(path: string): Any {
  return JSON.parse(Deno.readTextFileSync(FIXTURES + path));
}

/** The first tlog entry of the bundle at `path` (relative to the fixtures folder). */
export function bundleEntry(path: string): FixtureEntry {
  const e = readJson(path).verificationMaterial.tlogEntries[0];
  const p = e.inclusionProof;
  return {
    logIndex: BigInt(e.logIndex ?? 0),
    logId: b64(e.logId.keyId),
    kind: e.kindVersion.kind,
    version: e.kindVersion.version,
    integratedTime: e.integratedTime === undefined ? undefined : BigInt(e.integratedTime),
    signedEntryTimestamp: e.inclusionPromise
      ? b64(e.inclusionPromise.signedEntryTimestamp)
      : undefined,
    body: b64(e.canonicalizedBody),
    proof: p
      ? {
        logIndex: BigInt(p.logIndex ?? 0),
        treeSize: BigInt(p.treeSize),
        rootHash: b64(p.rootHash),
        hashes: (p.hashes as string[]).map(b64),
        checkpoint: p.checkpoint?.envelope,
      }
      : undefined,
  };
}

/** The trusted root at `path` (relative to the fixtures folder). */
export function trustedRoot(path: string): TrustedRoot {
  return parseTrustedRoot(Deno.readTextFileSync(FIXTURES + path));
}

/** A conformance case: its tlog entry and the trusted root it is verified with. */
export function conformanceCase(name: string): { entry: FixtureEntry; root: TrustedRoot } {
  const cases: Any[] = readJson("conformance/cases.json");
  const c = cases.find((x) => x.name === name);
  if (!c) throw new Error(`no conformance case ${name}`);
  return {
    entry: bundleEntry("conformance/" + c.bundle),
    root: trustedRoot("conformance/" + c.trusted_root),
  };
}

/** The public-good bundle and its trusted root. */
export const OCI_BUNDLE = "bundles/oci-attestation.sigstore.json";
/** The trusted root that verifies {@link OCI_BUNDLE}. */
export const PGI_ROOT = "bundles/trusted_root_pgi.json";

/**
 * Asserts that `fn` throws a {@link CosignError} with `code` (and a one-line message matching
 * `pattern`); returns the error. `label` names the case in failure messages.
 */
export function assertThrowsCode(
  fn: () => unknown,
  code: string,
  pattern?: RegExp,
  label = "",
): CosignError {
  const at = label ? `${label}: ` : "";
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof CosignError)) {
    throw new Error(`${at}expected a CosignError ${code}, got ${err ?? "no error"}`);
  }
  if (err.code !== code) {
    throw new Error(`${at}expected code ${code}, got ${err.code}: ${err.message}`);
  }
  if (err.message.includes("\n")) throw new Error(`${at}message is not one line: ${err.message}`);
  if (pattern && !pattern.test(err.message)) {
    throw new Error(`${at}message ${JSON.stringify(err.message)} does not match ${pattern}`);
  }
  return err;
}
