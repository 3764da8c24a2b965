/**
 * Sigstore signing config v0.2 (`application/vnd.dev.sigstore.signingconfig.v0.2+json`,
 * protobuf-specs `SigningConfig`): where to get a certificate, an identity token, a transparency
 * log entry and a timestamp. {@link parseSigningConfig} reads it as strictly as Go's protojson
 * (unknown fields refused, JSON or proto field names), and {@link selectServices} picks the
 * services to use as sigstore-go does (`pkg/root/signing_config.go`):
 * - only entries valid at `now` (an absent start or end bounds nothing; the end is inclusive);
 * - the highest `majorApiVersion` the client supports that has a valid entry;
 * - among those, newest `validFor.start` first, one entry per operator;
 * - Rekor and TSA then by their selector: `ALL` every entry, `ANY` one at random, `EXACT`
 *   `count` distinct entries at random (more than available is an error).
 * @module
 */

import { CosignError } from "../errors.ts";

/** The only signing-config media type accepted. */
export const SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

/** One service endpoint. */
export interface Service {
  /** The service's base URL. */
  readonly url: string;
  /** The major version of its API (Rekor 1 or 2; Fulcio, TSA, OIDC 1). */
  readonly majorApiVersion: number;
  /** When the entry may be used; an absent bound bounds nothing. */
  readonly validFor: { readonly start?: Date; readonly end?: Date };
  /** Who runs it (services of one operator count once for `ANY`/`EXACT`). */
  readonly operator: string;
}

/** How many of the selected services to use. */
export type ServiceSelector = "SERVICE_SELECTOR_UNDEFINED" | "ALL" | "ANY" | "EXACT";

/** A `ServiceConfiguration`. */
export interface ServiceConfiguration {
  /** How many of the eligible services to use. */
  readonly selector: ServiceSelector;
  /** For `EXACT`: how many. */
  readonly count: number;
}

/** A parsed signing config. */
export interface SigningConfig {
  /** {@link SIGNING_CONFIG_MEDIA_TYPE}. */
  readonly mediaType: string;
  /** Fulcio certificate authorities. */
  readonly caUrls: readonly Service[];
  /** OpenID Connect issuers for interactive login. */
  readonly oidcUrls: readonly Service[];
  /** Rekor transparency logs. */
  readonly rekorTlogUrls: readonly Service[];
  /** How many transparency logs to write to. */
  readonly rekorTlogConfig: ServiceConfiguration;
  /** RFC 3161 timestamp authorities. */
  readonly tsaUrls: readonly Service[];
  /** How many timestamp authorities to ask. */
  readonly tsaConfig: ServiceConfiguration;
}

/** What {@link selectServices} chose. */
export interface SelectedServices {
  /** The Fulcio CA; absent when the config lists none valid now in a supported version. */
  fulcio?: Service;
  /** The OIDC issuer; absent when the config lists none valid now in a supported version. */
  oidc?: Service;
  /** The transparency logs to write to (empty when the config lists none). */
  rekor: Service[];
  /** The timestamp authorities to ask (empty when the config lists none). */
  tsa: Service[];
}

/** Options of {@link selectServices}. */
export interface SelectOptions {
  /** The time entries must be valid at (default: now). */
  now?: Date;
  /** Supported Rekor major API versions (default `[1, 2]`, as sigstore-go). */
  rekorVersions?: readonly number[];
  /** Supported TSA major API versions (default `[1]`). */
  tsaVersions?: readonly number[];
  /** Supported Fulcio major API versions (default `[1]`). */
  caVersions?: readonly number[];
  /** Supported OIDC issuer API versions (default `[1]`). */
  oidcVersions?: readonly number[];
  /** Random numbers in [0, 1) for `ANY` and `EXACT` (default `Math.random`). */
  random?: () => number;
}

type Json = Record<string, unknown>;

function invalid(message: string): never {
  throw new CosignError("TRUSTED_ROOT_INVALID", `Invalid signing config: ${message}`);
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The fields of each message, as `[jsonName, protoName]`. */
const FIELDS = {
  signingConfig: [
    ["mediaType", "media_type"],
    ["caUrls", "ca_urls"],
    ["oidcUrls", "oidc_urls"],
    ["rekorTlogUrls", "rekor_tlog_urls"],
    ["rekorTlogConfig", "rekor_tlog_config"],
    ["tsaUrls", "tsa_urls"],
    ["tsaConfig", "tsa_config"],
  ],
  service: [
    ["url", "url"],
    ["majorApiVersion", "major_api_version"],
    ["validFor", "valid_for"],
    ["operator", "operator"],
  ],
  timeRange: [["start", "start"], ["end", "end"]],
  serviceConfiguration: [["selector", "selector"], ["count", "count"]],
} as const;

function checkFields(obj: Json, where: string, message: keyof typeof FIELDS): void {
  const fields: readonly (readonly [string, string])[] = FIELDS[message];
  for (const key of Object.keys(obj)) {
    if (!fields.some(([json, proto]) => key === json || key === proto)) {
      invalid(`${where}has an unknown field ${JSON.stringify(key)}`);
    }
  }
  for (const [json, proto] of fields) {
    if (json !== proto && json in obj && proto in obj) {
      invalid(`${where}${json} is given twice (as ${json} and ${proto})`);
    }
  }
}

/** A field by JSON or proto name; `null` counts as absent (protojson). */
function field(obj: Json, json: string, proto: string): unknown {
  const v = obj[json] ?? obj[proto];
  return v === null ? undefined : v;
}

function objectAt(
  obj: Json,
  where: string,
  message: keyof typeof FIELDS,
  json: string,
  proto: string,
): Json | undefined {
  const v = field(obj, json, proto);
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid(`${where}${json} is not an object`);
  checkFields(v, `${where}${json}.`, message);
  return v;
}

function stringAt(obj: Json, where: string, json: string, proto: string): string {
  const v = field(obj, json, proto);
  if (v === undefined) return "";
  if (typeof v !== "string") invalid(`${where}${json} is not a string`);
  return v;
}

function uint32At(obj: Json, where: string, json: string, proto: string): number {
  const v = field(obj, json, proto);
  if (v === undefined) return 0;
  let n: number | undefined;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && /^[0-9]+$/.test(v)) n = Number(v);
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    invalid(`${where}${json} is not a uint32: ${JSON.stringify(v)}`);
  }
  return n;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function timeAt(obj: Json, where: string, name: string): Date | undefined {
  const v = field(obj, name, name);
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !RFC3339.test(v)) {
    invalid(`${where}${name} is not an RFC 3339 time: ${JSON.stringify(v)}`);
  }
  const ms = Date.parse(v.replace(/(\.\d{3})\d+/, "$1"));
  if (Number.isNaN(ms)) invalid(`${where}${name} is not a valid time: ${JSON.stringify(v)}`);
  return new Date(ms);
}

function parseService(v: unknown, where: string): Service {
  if (!isObject(v)) invalid(`${where} is not an object`);
  checkFields(v, `${where}.`, "service");
  const url = stringAt(v, `${where}.`, "url", "url");
  let ok = false;
  try {
    const u = new URL(url);
    ok = u.protocol === "https:" || u.protocol === "http:";
  } catch { /* not a URL */ }
  if (!ok) invalid(`${where}.url is not an http(s) URL: ${JSON.stringify(url.slice(0, 200))}`);
  const majorApiVersion = uint32At(v, `${where}.`, "majorApiVersion", "major_api_version");
  const range = objectAt(v, `${where}.`, "timeRange", "validFor", "valid_for");
  const validFor: { start?: Date; end?: Date } = {};
  if (range) {
    const start = timeAt(range, `${where}.validFor.`, "start");
    const end = timeAt(range, `${where}.validFor.`, "end");
    if (start && end && end < start) invalid(`${where}.validFor ends before it starts`);
    if (start) validFor.start = start;
    if (end) validFor.end = end;
  }
  const operator = stringAt(v, `${where}.`, "operator", "operator");
  return { url, majorApiVersion, validFor, operator };
}

function parseServices(obj: Json, json: string, proto: string): Service[] {
  const v = field(obj, json, proto);
  if (v === undefined) return [];
  if (!Array.isArray(v)) invalid(`${json} is not an array`);
  return v.map((s, i) => parseService(s, `${json}[${i}]`));
}

const SELECTORS: readonly ServiceSelector[] = ["SERVICE_SELECTOR_UNDEFINED", "ALL", "ANY", "EXACT"];

function parseConfiguration(obj: Json, json: string, proto: string): ServiceConfiguration {
  const c = objectAt(obj, "", "serviceConfiguration", json, proto);
  if (!c) return { selector: "SERVICE_SELECTOR_UNDEFINED", count: 0 };
  const s = field(c, "selector", "selector");
  let selector: ServiceSelector = "SERVICE_SELECTOR_UNDEFINED";
  if (typeof s === "string" && (SELECTORS as readonly string[]).includes(s)) {
    selector = s as ServiceSelector;
  } else if (typeof s === "number" && SELECTORS[s] !== undefined) {
    selector = SELECTORS[s]!;
  } else if (s !== undefined) {
    invalid(`${json}.selector is not ALL, ANY or EXACT: ${JSON.stringify(s)}`);
  }
  return { selector, count: uint32At(c, `${json}.`, "count", "count") };
}

/**
 * Parses a signing config v0.2.
 * @throws {CosignError} `TRUSTED_ROOT_INVALID` ("Invalid signing config: …") for input that is
 * not JSON, has another media type, an unknown or doubled field, or a malformed value.
 *
 * @example
 * ```ts
 * import { parseSigningConfig } from "./signing_config.ts";
 * const cfg = parseSigningConfig(JSON.stringify({
 *   mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
 *   caUrls: [{ url: "https://fulcio.sigstore.dev", majorApiVersion: 1,
 *     validFor: { start: "2023-04-14T21:38:40Z" }, operator: "sigstore.dev" }],
 * }));
 * if (cfg.caUrls[0]?.url !== "https://fulcio.sigstore.dev") throw new Error();
 * ```
 */
export function parseSigningConfig(bytes: Uint8Array | string): SigningConfig {
  const text = typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    invalid(`not JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) invalid("not a JSON object");
  checkFields(doc, "the document ", "signingConfig");
  const mediaType = stringAt(doc, "", "mediaType", "media_type");
  if (mediaType !== SIGNING_CONFIG_MEDIA_TYPE) {
    invalid(
      `unsupported media type ${JSON.stringify(mediaType.slice(0, 200))}, ` +
        `expected ${SIGNING_CONFIG_MEDIA_TYPE}`,
    );
  }
  return {
    mediaType,
    caUrls: parseServices(doc, "caUrls", "ca_urls"),
    oidcUrls: parseServices(doc, "oidcUrls", "oidc_urls"),
    rekorTlogUrls: parseServices(doc, "rekorTlogUrls", "rekor_tlog_urls"),
    rekorTlogConfig: parseConfiguration(doc, "rekorTlogConfig", "rekor_tlog_config"),
    tsaUrls: parseServices(doc, "tsaUrls", "tsa_urls"),
    tsaConfig: parseConfiguration(doc, "tsaConfig", "tsa_config"),
  };
}

/** Whether a service may be used at `t` (sigstore-go `Service.ValidAtTime`). */
export function validAt(s: Service, t: Date): boolean {
  if (s.validFor.start && t < s.validFor.start) return false;
  if (s.validFor.end && t > s.validFor.end) return false;
  return true;
}

/** Entries valid at `now`, newest start first (an absent start sorts as the oldest). */
function newestFirst(services: readonly Service[]): Service[] {
  const start = (s: Service) => s.validFor.start?.getTime() ?? -Infinity;
  return [...services].sort((a, b) => start(b) - start(a));
}

function describeVersions(versions: readonly number[], now: Date): string {
  return `API versions [${versions.join(", ")}] at ${now.toISOString()}`;
}

/** The one service to use: the highest supported version with an entry valid now; or undefined. */
export function selectService(
  services: readonly Service[],
  versions: readonly number[],
  now: Date,
): Service | undefined {
  const sorted = newestFirst(services);
  for (const v of [...versions].sort((a, b) => b - a)) {
    const s = sorted.find((s) => s.majorApiVersion === v && validAt(s, now));
    if (s) return s;
  }
  return undefined;
}

function pick<T>(items: T[], random: () => number): T {
  const i = Math.min(items.length - 1, Math.floor(random() * items.length));
  return items.splice(i, 1)[0]!;
}

/**
 * The services to use of one kind, by the config's selector (sigstore-go `SelectServices`).
 * @throws {CosignError} when none is valid now in a supported version, the selector is not
 * set, or `EXACT` asks for 0 or for more than there are.
 */
export function selectServicesOf(
  kind: string,
  services: readonly Service[],
  config: ServiceConfiguration,
  versions: readonly number[],
  now: Date,
  random: () => number = Math.random,
): Service[] {
  const sorted = newestFirst(services);
  let chosen: Service[] = [];
  for (const v of [...versions].sort((a, b) => b - a)) {
    const operators = new Set<string>();
    for (const s of sorted) {
      if (s.majorApiVersion !== v || !validAt(s, now) || operators.has(s.operator)) continue;
      operators.add(s.operator);
      chosen.push(s);
    }
    if (chosen.length > 0) break;
  }
  if (chosen.length === 0) {
    invalid(`no ${kind} service is valid for ${describeVersions(versions, now)}`);
  }
  switch (config.selector) {
    case "ALL":
      return chosen;
    case "ANY":
      return [pick(chosen, random)];
    case "EXACT": {
      if (config.count === 0) invalid(`${kind} selector EXACT needs a count greater than 0`);
      if (config.count > chosen.length) {
        invalid(
          `${kind} selector EXACT asks for ${config.count} services, but only ` +
            `${chosen.length} ${chosen.length === 1 ? "is" : "are"} usable`,
        );
      }
      chosen = [...chosen];
      const out: Service[] = [];
      for (let i = 0; i < config.count; i++) out.push(pick(chosen, random));
      return out;
    }
    default:
      return invalid(`${kind} selector is not set (expected ALL, ANY or EXACT)`);
  }
}

/**
 * Picks the Fulcio CA, OIDC issuer, Rekor logs and TSAs to use, as cosign v3 does with
 * sigstore-go. Rekor and TSA lists that are empty in the config give empty lists (cosign then
 * skips them); non-empty lists with nothing usable are an error.
 *
 * @example
 * ```ts
 * import { parseSigningConfig, selectServices } from "./signing_config.ts";
 * const cfg = parseSigningConfig(JSON.stringify({
 *   mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
 *   rekorTlogUrls: [
 *     { url: "https://rekor.sigstore.dev", majorApiVersion: 1, operator: "a" },
 *     { url: "https://log2025-1.rekor.sigstore.dev", majorApiVersion: 2, operator: "a" },
 *   ],
 *   rekorTlogConfig: { selector: "ANY" },
 * }));
 * const { rekor } = selectServices(cfg);
 * if (rekor[0]?.majorApiVersion !== 2) throw new Error();
 * ```
 */
export function selectServices(cfg: SigningConfig, options: SelectOptions = {}): SelectedServices {
  const now = options.now ?? new Date();
  const random = options.random ?? Math.random;
  const out: SelectedServices = { rekor: [], tsa: [] };
  const fulcio = selectService(cfg.caUrls, options.caVersions ?? [1], now);
  if (fulcio) out.fulcio = fulcio;
  const oidc = selectService(cfg.oidcUrls, options.oidcVersions ?? [1], now);
  if (oidc) out.oidc = oidc;
  if (cfg.rekorTlogUrls.length > 0) {
    out.rekor = selectServicesOf(
      "Rekor",
      cfg.rekorTlogUrls,
      cfg.rekorTlogConfig,
      options.rekorVersions ?? [1, 2],
      now,
      random,
    );
  }
  if (cfg.tsaUrls.length > 0) {
    out.tsa = selectServicesOf(
      "timestamp authority",
      cfg.tsaUrls,
      cfg.tsaConfig,
      options.tsaVersions ?? [1],
      now,
      random,
    );
  }
  return out;
}
