/**
 * Keys for the KMS fakes, made and used by openssl only (an implementation independent of the
 * product): generation, signing a digest (`pkeyutl`), signing and verifying a message (`dgst`).
 * @module
 */

import { exec, execOk } from "./util.ts";
import { TEST_DENO_DIR } from "../helpers.ts";

/** Key types the fakes hold. */
export type TestKeyKind =
  | "ec-p256"
  | "ec-p384"
  | "ec-p521"
  | "rsa-2048"
  | "rsa-3072"
  | "rsa-4096"
  | "ed25519";

/** Digest names as openssl spells them. */
export type TestHash = "sha256" | "sha384" | "sha512";

/** A key made by openssl. */
export interface TestKey {
  kind: TestKeyKind;
  /** Unencrypted PKCS#8 PEM file. */
  privatePath: string;
  /** PKIX PEM file. */
  publicPath: string;
  /** PKIX PEM text. */
  publicPem: string;
  /** PKIX DER. */
  spkiDer: Uint8Array<ArrayBuffer>;
}

let counter = 0;

/** Generates a key with `openssl genpkey` in `dir`. */
export async function makeKey(dir: string, kind: TestKeyKind): Promise<TestKey> {
  const base = `${dir}/key-${kind}-${++counter}`;
  const args = kind.startsWith("ec-")
    ? ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:P-${kind.slice(4)}`]
    : kind === "ed25519"
    ? ["-algorithm", "ED25519"]
    : ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${kind.slice(4)}`];
  await execOk("openssl", ["genpkey", ...args, "-out", `${base}.pem`]);
  await execOk("openssl", ["pkey", "-in", `${base}.pem`, "-pubout", "-out", `${base}.pub`]);
  const der = await exec("openssl", ["pkey", "-in", `${base}.pem`, "-pubout", "-outform", "DER"]);
  return {
    kind,
    privatePath: `${base}.pem`,
    publicPath: `${base}.pub`,
    publicPem: await Deno.readTextFile(`${base}.pub`),
    spkiDer: new Uint8Array(der.out),
  };
}

function padding(pss: boolean | undefined, opt: "-pkeyopt" | "-sigopt"): string[] {
  return pss
    ? [
      opt,
      "rsa_padding_mode:pss",
      opt,
      `rsa_pss_saltlen:${opt === "-pkeyopt" ? "digest" : "auto"}`,
    ]
    : [];
}

/**
 * Signs a digest with `openssl pkeyutl` (DER for ECDSA; PKCS#1 v1.5 or PSS with the DigestInfo
 * of `hash` for RSA).
 */
export async function signDigest(
  key: TestKey,
  digest: Uint8Array,
  hash: TestHash,
  pss?: boolean,
): Promise<Uint8Array<ArrayBuffer>> {
  const tmp = await Deno.makeTempFile({ prefix: "kms-digest-" });
  try {
    await Deno.writeFile(tmp, digest);
    const rsa = key.kind.startsWith("rsa-")
      ? ["-pkeyopt", `digest:${hash}`, ...padding(pss, "-pkeyopt")]
      : [];
    const r = await exec("openssl", [
      "pkeyutl",
      "-sign",
      "-inkey",
      key.privatePath,
      "-in",
      tmp,
      ...rsa,
    ]);
    if (r.code !== 0) throw new Error(`openssl pkeyutl -sign failed: ${r.stderr}`);
    return new Uint8Array(r.out);
  } finally {
    await Deno.remove(tmp);
  }
}

/** Signs a message with `openssl dgst -sign`. */
export async function opensslSign(
  key: TestKey,
  data: Uint8Array,
  hash: TestHash,
  pss?: boolean,
): Promise<Uint8Array<ArrayBuffer>> {
  const tmp = await Deno.makeTempFile({ prefix: "kms-msg-" });
  try {
    await Deno.writeFile(tmp, data);
    const r = await exec("openssl", [
      "dgst",
      `-${hash}`,
      "-sign",
      key.privatePath,
      ...padding(pss, "-sigopt").map((s) => s.replace(":digest", ":auto")),
      tmp,
    ]);
    if (r.code !== 0) throw new Error(`openssl dgst -sign failed: ${r.stderr}`);
    return new Uint8Array(r.out);
  } finally {
    await Deno.remove(tmp);
  }
}

/** Verifies a message's signature with `openssl dgst -verify PUBFILE`; returns openssl's verdict. */
export async function opensslVerify(
  publicPath: string,
  data: Uint8Array,
  signature: Uint8Array,
  hash: TestHash,
  pss?: boolean,
): Promise<{ ok: boolean; out: string }> {
  const dir = await Deno.makeTempDir({ prefix: "kms-verify-" });
  try {
    await Deno.writeFile(`${dir}/data`, data);
    await Deno.writeFile(`${dir}/sig`, signature);
    const r = await exec("openssl", [
      "dgst",
      `-${hash}`,
      "-verify",
      publicPath,
      ...padding(pss, "-sigopt"),
      "-signature",
      `${dir}/sig`,
      `${dir}/data`,
    ]);
    return { ok: r.code === 0 && r.stdout.includes("Verified OK"), out: r.stdout + r.stderr };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The runner's Deno cache: a test's fresh HOME must not mean downloading every package again. */
export const DENO_DIR: string = TEST_DENO_DIR;

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
