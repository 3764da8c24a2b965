/**
 * Building trust files for a private Sigstore, as `cosign trusted-root create` and
 * `cosign signing-config create` do: service specifications (`key=value,key=value`, cosign's
 * format) turned into a `trusted_root.json` (protojson of `TrustedRoot`, media type
 * `application/vnd.dev.sigstore.trustedroot+json;version=0.1`) or a
 * `signing_config.v0.2.json`. Files named by a specification are read by the caller through
 * `readFile`, so this module does no I/O of its own.
 * @module
 */

import { createHash, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { CosignError, UsageError } from "../errors.ts";
import { noteKeyId } from "../crypto/note_key.ts";
import { fromBase64 } from "../crypto/encoding.ts";

/** The trusted-root media type cosign v3 writes. */
export const TRUSTED_ROOT_CREATE_MEDIA_TYPE =
  "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/** The signing-config media type. */
export const SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

type Json = Record<string, unknown>;

/** Parses cosign's `key=value,key=value` service specification. */
export function parseServiceSpec(spec: string, flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of spec.split(",")) {
    const i = pair.indexOf("=");
    if (i < 0) throw new UsageError(`Invalid --${flag} "${spec}": "${pair}" is not key=value`);
    out.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  return out;
}

function need(kv: Map<string, string>, keys: string[], flag: string): void {
  for (const k of keys) {
    if (!kv.get(k)) throw new UsageError(`Missing or empty required key '${k}' in --${flag}`);
  }
}

function rfc3339(value: string, flag: string, key: string): string {
  const m = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(value);
  const t = Date.parse(value);
  if (!m || Number.isNaN(t)) {
    throw new UsageError(`Invalid ${key} "${value}" in --${flag}: expected RFC 3339`);
  }
  return protoTime(new Date(t));
}

function protoTime(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, "Z");
}

function validFor(start: string | undefined, end: string | undefined): Json {
  return { ...(start ? { start } : {}), ...(end ? { end } : {}) };
}

/** Reads the PEM file a specification names (injected by the caller). */
export type ReadFile = (path: string, what: string) => Promise<string>;

function pemBlocks(text: string, label: string, path: string, flag: string): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m, i) => {
    const der = fromBase64(m[1]!.replace(/\s+/g, ""));
    if (der === undefined) {
      throw new CosignError(
        "USAGE",
        `Certificate ${i + 1} in ${path} (--${flag} certificate-chain) is not base64`,
      );
    }
    return der;
  });
}

function certificates(text: string, path: string, flag: string): X509Certificate[] {
  const ders = pemBlocks(text, "CERTIFICATE", path, flag);
  if (ders.length === 0) {
    throw new CosignError("USAGE", `No certificates in ${path} (--${flag} certificate-chain)`);
  }
  return ders.map((der, i) => {
    try {
      return new X509Certificate(der);
    } catch {
      throw new CosignError("USAGE", `Certificate ${i + 1} in ${path} is not X.509`);
    }
  });
}

function subjectOf(cert: X509Certificate): Json {
  const parts = new Map(
    cert.subject.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const o = parts.get("O"), cn = parts.get("CN");
  return { ...(o ? { organization: o } : {}), ...(cn ? { commonName: cn } : {}) };
}

function chainJson(certs: X509Certificate[]): Json {
  return { certificates: certs.map((c) => ({ rawBytes: c.raw.toBase64() })) };
}

/** The protobuf `PublicKeyDetails` cosign (sigstore-go) records for `key`. */
export function keyDetailsOf(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case "ec":
      switch (key.asymmetricKeyDetails?.namedCurve) {
        case "secp384r1":
          return "PKIX_ECDSA_P384_SHA_384";
        case "secp521r1":
          return "PKIX_ECDSA_P521_SHA_512";
        default:
          return "PKIX_ECDSA_P256_SHA_256";
      }
    case "ed25519":
      return "PKIX_ED25519";
    case "rsa": {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
      return `PKIX_RSA_PKCS1V15_${bits >= 4096 ? 4096 : bits >= 3072 ? 3072 : 2048}_SHA256`;
    }
    default:
      throw new CosignError("USAGE", `Unsupported log key type ${key.asymmetricKeyType}`);
  }
}

/** A Fulcio or TSA entry from `url=…,certificate-chain=FILE[,start-time=…][,end-time=…]`. */
async function authority(spec: string, flag: string, readFile: ReadFile, tsa: boolean) {
  const kv = parseServiceSpec(spec, flag);
  need(kv, ["url", "certificate-chain"], flag);
  const path = kv.get("certificate-chain")!;
  const certs = certificates(await readFile(path, `--${flag} certificate-chain`), path, flag);
  if (tsa && certs[0]!.ca) {
    throw new UsageError(
      `--${flag} certificate-chain ${path}: the first certificate must be the TSA's leaf`,
    );
  }
  const rootCert = certs.at(-1)!;
  const start = kv.get("start-time")
    ? rfc3339(kv.get("start-time")!, flag, "start-time")
    : protoTime(new Date(tsa ? certs[0]!.validFrom : rootCert.validFrom));
  const end = kv.get("end-time") ? rfc3339(kv.get("end-time")!, flag, "end-time") : undefined;
  return {
    subject: subjectOf(rootCert),
    uri: kv.get("url")!,
    certChain: chainJson(certs),
    validFor: validFor(start, end),
  };
}

/** A Rekor or CT log entry from `url=…,public-key=FILE,start-time=…[,end-time=…][,origin=…]`. */
async function log(spec: string, flag: string, readFile: ReadFile) {
  const kv = parseServiceSpec(spec, flag);
  need(kv, ["url", "public-key", "start-time"], flag);
  const path = kv.get("public-key")!;
  const text = await readFile(path, `--${flag} public-key`);
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch {
    throw new CosignError("USAGE", `${path} (--${flag} public-key) is not a PEM public key`);
  }
  const der = new Uint8Array(key.export({ format: "der", type: "spki" }));
  const origin = kv.get("origin");
  const logId = origin
    ? noteKeyId(key, origin)
    : new Uint8Array(createHash("sha256").update(der).digest());
  return {
    baseUrl: kv.get("url")!,
    hashAlgorithm: "SHA2_256",
    publicKey: {
      rawBytes: der.toBase64(),
      keyDetails: keyDetailsOf(key),
      validFor: validFor(
        rfc3339(kv.get("start-time")!, flag, "start-time"),
        kv.get("end-time") ? rfc3339(kv.get("end-time")!, flag, "end-time") : undefined,
      ),
    },
    logId: { keyId: logId.toBase64() },
  };
}

/** Inputs of {@link createTrustedRoot}: cosign's repeatable specifications. */
export interface TrustedRootSpecs {
  fulcio?: readonly string[];
  rekor?: readonly string[];
  ctfe?: readonly string[];
  tsa?: readonly string[];
  /** A trusted root (parsed JSON) whose entries come first (`--with-default-services`). */
  base?: Json | undefined;
  /** Which lists of `base` to drop (`--no-default-*`). */
  noDefault?: { fulcio?: boolean; rekor?: boolean; ctfe?: boolean; tsa?: boolean };
}

/**
 * Builds a trusted root from service specifications, as `cosign trusted-root create`. A log
 * given again (same log ID) replaces the base's entry, as cosign's map does.
 * @throws {UsageError} on a malformed specification
 */
export async function createTrustedRoot(
  specs: TrustedRootSpecs,
  readFile: ReadFile,
): Promise<Json> {
  const base = specs.base ?? {};
  const nd = specs.noDefault ?? {};
  const list = (k: string, drop?: boolean) =>
    !drop && Array.isArray(base[k]) ? [...(base[k] as Json[])] : [];
  const cas = list("certificateAuthorities", nd.fulcio);
  const tsas = list("timestampAuthorities", nd.tsa);
  const tlogs = list("tlogs", nd.rekor);
  const ctlogs = list("ctlogs", nd.ctfe);
  const putLog = (logs: Json[], entry: Json) => {
    const id = (entry.logId as Json).keyId;
    const i = logs.findIndex((l) => (l.logId as Json | undefined)?.keyId === id);
    if (i >= 0) logs[i] = entry;
    else logs.push(entry);
  };
  for (const s of specs.fulcio ?? []) cas.push(await authority(s, "fulcio", readFile, false));
  for (const s of specs.tsa ?? []) tsas.push(await authority(s, "tsa", readFile, true));
  for (const s of specs.rekor ?? []) putLog(tlogs, await log(s, "rekor", readFile));
  for (const s of specs.ctfe ?? []) putLog(ctlogs, await log(s, "ctfe", readFile));
  return {
    mediaType: TRUSTED_ROOT_CREATE_MEDIA_TYPE,
    tlogs,
    certificateAuthorities: cas,
    ctlogs,
    timestampAuthorities: tsas,
  };
}

/** One service of a signing config from `url=…,api-version=N,start-time=…,operator=…[,end-time=…]`. */
export function parseSigningService(spec: string, flag: string): Json {
  const kv = parseServiceSpec(spec, flag);
  need(kv, ["url", "api-version", "start-time", "operator"], flag);
  const v = kv.get("api-version")!;
  if (!/^\d{1,9}$/.test(v)) throw new UsageError(`Invalid api-version "${v}" in --${flag}`);
  return {
    url: kv.get("url")!,
    majorApiVersion: Number(v),
    validFor: validFor(
      rfc3339(kv.get("start-time")!, flag, "start-time"),
      kv.get("end-time") ? rfc3339(kv.get("end-time")!, flag, "end-time") : undefined,
    ),
    operator: kv.get("operator")!,
  };
}

/** `ANY`, `ALL` or `EXACT:<count>` as a protojson `ServiceConfiguration`. */
export function parseServiceSelector(value: string, flag: string): Json {
  const [mode, count, ...rest] = value.split(":");
  const m = mode!.toUpperCase();
  if ((m === "ANY" || m === "ALL") && count === undefined) return { selector: m };
  if (m === "EXACT" && count !== undefined && rest.length === 0 && /^\d{1,9}$/.test(count)) {
    return { selector: m, count: Number(count) };
  }
  throw new UsageError(`Invalid --${flag} "${value}": one of ANY, ALL, EXACT:<count>`);
}

/** Inputs of {@link createSigningConfig}. */
export interface SigningConfigSpecs {
  fulcio?: readonly string[];
  rekor?: readonly string[];
  oidcProvider?: readonly string[];
  tsa?: readonly string[];
  rekorConfig?: string | undefined;
  tsaConfig?: string | undefined;
  /** A signing config (parsed JSON) to start from (`--base-config`). */
  base?: Json | undefined;
  /** The default services (parsed JSON, `--with-default-services`). */
  defaults?: Json | undefined;
  noDefault?: { fulcio?: boolean; rekor?: boolean; oidc?: boolean; tsa?: boolean };
}

/**
 * Builds a signing config v0.2 from service specifications, as `cosign signing-config create`:
 * `base` services a flag does not replace, then `defaults`, then the flags' services.
 * @throws {UsageError} on a malformed specification, or `--rekor`/`--tsa` without their
 * `--*-config`
 */
export function createSigningConfig(specs: SigningConfigSpecs): Json {
  if ((specs.rekor?.length ?? 0) > 0 && !specs.rekorConfig) {
    throw new UsageError("--rekor-config must be provided when --rekor is specified");
  }
  if ((specs.tsa?.length ?? 0) > 0 && !specs.tsaConfig) {
    throw new UsageError("--tsa-config must be provided when --tsa is specified");
  }
  const nd = specs.noDefault ?? {};
  const ca: Json[] = [], oidc: Json[] = [], rekor: Json[] = [], tsa: Json[] = [];
  let rekorCfg: Json | undefined, tsaCfg: Json | undefined;
  const arr = (j: Json | undefined, k: string) => Array.isArray(j?.[k]) ? (j![k] as Json[]) : [];
  const take = (src: Json | undefined, onlyIfNoFlag: boolean) => {
    if (!src) return;
    if (!nd.fulcio && (!onlyIfNoFlag || !specs.fulcio?.length)) ca.push(...arr(src, "caUrls"));
    if (!nd.oidc && (!onlyIfNoFlag || !specs.oidcProvider?.length)) {
      oidc.push(...arr(src, "oidcUrls"));
    }
    if (!nd.rekor && (!onlyIfNoFlag || !specs.rekor?.length)) {
      rekor.push(...arr(src, "rekorTlogUrls"));
      rekorCfg = (src.rekorTlogConfig as Json | undefined) ?? rekorCfg;
    }
    if (!nd.tsa && (!onlyIfNoFlag || !specs.tsa?.length)) {
      tsa.push(...arr(src, "tsaUrls"));
      tsaCfg = (src.tsaConfig as Json | undefined) ?? tsaCfg;
    }
  };
  take(specs.base, true);
  take(specs.defaults, false);
  if (specs.rekorConfig) rekorCfg = parseServiceSelector(specs.rekorConfig, "rekor-config");
  if (specs.tsaConfig) tsaCfg = parseServiceSelector(specs.tsaConfig, "tsa-config");
  for (const s of specs.fulcio ?? []) ca.push(parseSigningService(s, "fulcio"));
  for (const s of specs.rekor ?? []) rekor.push(parseSigningService(s, "rekor"));
  for (const s of specs.oidcProvider ?? []) oidc.push(parseSigningService(s, "oidc-provider"));
  for (const s of specs.tsa ?? []) tsa.push(parseSigningService(s, "tsa"));
  return {
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    ...(ca.length ? { caUrls: ca } : {}),
    ...(oidc.length ? { oidcUrls: oidc } : {}),
    ...(rekor.length ? { rekorTlogUrls: rekor } : {}),
    ...(rekorCfg ? { rekorTlogConfig: rekorCfg } : {}),
    ...(tsa.length ? { tsaUrls: tsa } : {}),
    ...(tsaCfg ? { tsaConfig: tsaCfg } : {}),
  };
}
