/**
 * In-toto statements as `cosign attest` and `attest-blob` make them (cosign-spec §4.2): one
 * subject, the predicate type from `--type`, and the predicate built from the file the way
 * cosign builds it for that type.
 * @module
 */

import { CosignError } from "../errors.ts";
import { utf8 } from "../crypto/encoding.ts";
import { goJsonString } from "./payload.ts";
import { exceedsJsonDepth, getMember, goMarshal, MAX_JSON_DEPTH } from "./verify_signatures.ts";

/** The statement type cosign writes for `--predicate`. */
export const STATEMENT_V01 = "https://in-toto.io/Statement/v0.1";

/** `--type` short names and their predicate type URIs. */
export const PREDICATE_TYPES: Record<string, string> = {
  custom: "https://cosign.sigstore.dev/attestation/v1",
  slsaprovenance: "https://slsa.dev/provenance/v0.2",
  slsaprovenance02: "https://slsa.dev/provenance/v0.2",
  slsaprovenance1: "https://slsa.dev/provenance/v1",
  link: "https://in-toto.io/Link/v1",
  spdx: "https://spdx.dev/Document",
  spdxjson: "https://spdx.dev/Document",
  cyclonedx: "https://cyclonedx.org/bom",
  vuln: "https://cosign.sigstore.dev/attestation/vuln/v1",
  openvex: "https://openvex.dev/ns",
};

/**
 * The predicate type URI for a `--type` value: a short name, or (for `verify` commands) any
 * other string as is; for `attest`, anything else must be an absolute URI.
 * @example
 * ```ts
 * import { predicateTypeFor } from "@cosign-deno/cosign";
 * predicateTypeFor("slsaprovenance1"); // "https://slsa.dev/provenance/v1"
 * predicateTypeFor("https://example.com/Report/v1", { requireUri: true }); // as given
 * ```
 */
export function predicateTypeFor(type: string, options: { requireUri?: boolean } = {}): string {
  if (type === "") throw new CosignError("PREDICATE_INVALID", "missing predicate type");
  const known = PREDICATE_TYPES[type];
  if (known) return known;
  if (options.requireUri && !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/\S+$/.test(type)) {
    throw new CosignError(
      "PREDICATE_INVALID",
      `invalid predicate type "${type}": use ${Object.keys(PREDICATE_TYPES).join(", ")} or a URI`,
    );
  }
  return type;
}

function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new CosignError("PREDICATE_INVALID", `${what} is not JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new CosignError("PREDICATE_INVALID", `${what} is not a JSON object`);
  }
  if (exceedsJsonDepth(v)) {
    // Go's decoder (cosign) refuses it: "exceeded max depth".
    throw new CosignError(
      "PREDICATE_INVALID",
      `${what} is nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  return v as Record<string, unknown>;
}

const isObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks a predicate against the shape cosign unmarshals it into for its type (cosign fails
 * where Go's decoder would): SLSA 0.2 `builder`/`invocation`/`metadata` objects, vuln
 * `scanner`/`invocation`/`metadata` objects.
 * @returns a reason, or undefined when it fits
 */
export function checkPredicateShape(predicateType: string, predicate: unknown): string | undefined {
  const fields: Record<string, string[]> = {
    [PREDICATE_TYPES.slsaprovenance!]: ["builder", "invocation", "metadata", "buildConfig"],
    [PREDICATE_TYPES.vuln!]: ["invocation", "scanner", "metadata"],
  };
  const want = fields[predicateType];
  if (!want) return undefined;
  if (!isObj(predicate)) return `the ${predicateType} predicate is not a JSON object`;
  for (const f of want) {
    const v = (predicate as Record<string, unknown>)[f];
    if (v !== undefined && v !== null && !isObj(v)) {
      return `the ${predicateType} predicate's "${f}" is not an object`;
    }
  }
  return undefined;
}

/** Builds the predicate JSON text for a `--type` from the predicate file's bytes. */
function predicateJson(type: string, uri: string, file: Uint8Array, now: Date): string {
  if (type === "custom") {
    return `{"Data":${goJsonString(new TextDecoder().decode(file))},"Timestamp":"${
      now.toISOString().replace(/\.\d{3}Z$/, "Z")
    }"}`;
  }
  if (type === "spdx") return goJsonString(new TextDecoder().decode(file));
  const obj = parseJsonObject(file, "the predicate file");
  const reason = checkPredicateShape(uri, obj);
  if (reason) throw new CosignError("PREDICATE_INVALID", reason);
  if (type === "slsaprovenance1") {
    const md = getMember(getMember(obj, "runDetails"), "metadata") as
      | Record<string, unknown>
      | undefined;
    if (isObj(md) && md && "invocationID" in md) {
      md.invocationId = md.invocationID;
      delete md.invocationID;
    }
  }
  return JSON.stringify(obj);
}

/** What a statement is about. */
export interface Subject {
  /** The subject's name (the image repository or the file name). */
  name: string;
  /** Lowercase hex SHA-256. */
  sha256: string;
}

/**
 * Builds a statement. JSON predicates are kept as given; `spdx` wraps the raw file as a JSON
 * string; `custom` wraps it as `{"Data","Timestamp"}`.
 * @example
 * ```ts
 * import { buildStatement } from "@cosign-deno/cosign";
 * const { bytes, predicateType } = buildStatement(
 *   "custom",
 *   new TextEncoder().encode("any text"),
 *   { name: "app.tar.gz", sha256: "ab".repeat(32) },
 * );
 * predicateType; // "https://cosign.sigstore.dev/attestation/v1"
 * ```
 */
export function buildStatement(
  type: string,
  predicateFile: Uint8Array,
  subject: Subject,
  now: Date = new Date(),
): { bytes: Uint8Array; predicateType: string } {
  const uri = predicateTypeFor(type, { requireUri: true });
  const predicate = predicateJson(type, uri, predicateFile, now);
  const subj = `[{"name":${goJsonString(subject.name)},"digest":{"sha256":"${subject.sha256}"}}]`;
  const text = type === "spdx"
    // Go's encoding/json of a map: keys sorted.
    ? `{"_type":"${STATEMENT_V01}","predicate":${predicate},"predicateType":${
      goJsonString(uri)
    },"subject":${subj}}`
    : `{"_type":"${STATEMENT_V01}","subject":${subj},"predicateType":${
      goJsonString(uri)
    },"predicate":${predicate}}`;
  return { bytes: utf8(text), predicateType: uri };
}

/** A parsed statement. */
export interface Statement {
  /** The statement's `_type`, as found. */
  type: unknown;
  /** The predicate type URI (`""` when absent). */
  predicateType: string;
  /** The subjects: each `name` and `digest` map, as found. */
  subjects: { name: unknown; digest: Record<string, unknown> }[];
  /** The predicate, as found. */
  predicate: unknown;
  /** The statement as parsed. */
  json: Record<string, unknown>;
}

/**
 * Parses statement bytes (the DSSE payload).
 * @example
 * ```ts
 * import { parseEnvelope, parseStatement } from "@cosign-deno/cosign";
 * const envelope = parseEnvelope(await Deno.readFile("app.tar.gz.intoto.jsonl"));
 * const statement = parseStatement(envelope.payload);
 * console.log(statement.predicateType, statement.subjects);
 * ```
 */
export function parseStatement(
  bytes: Uint8Array,
  what: string = "the attestation payload",
): Statement {
  const json = parseJsonObject(bytes, what);
  const pt = getMember(json, "predicateType");
  const subjects = getMember(json, "subject");
  return {
    type: getMember(json, "_type"),
    predicateType: typeof pt === "string" ? pt : "",
    subjects: (Array.isArray(subjects) ? subjects : []).map((s) => ({
      name: getMember(s, "name"),
      digest: (isObj(getMember(s, "digest")) ? getMember(s, "digest") : {}) as Record<
        string,
        unknown
      >,
    })),
    predicate: getMember(json, "predicate"),
    json,
  };
}

/** The in-toto statement `_type`s a statement given as is (`attest-blob --statement`) may have. */
export const STATEMENT_TYPES: readonly string[] = [
  STATEMENT_V01,
  "https://in-toto.io/Statement/v1",
];

/**
 * Parses a statement supplied whole (`attest-blob --statement`) and checks it is one: an
 * in-toto `_type`, a predicate type, and at least one subject with a digest. (cosign only
 * checks that it unmarshals; a file that is not a statement would sign as one here.)
 * @throws {CosignError} `PREDICATE_INVALID` naming what is wrong
 */
export function checkStatement(bytes: Uint8Array, what = "the statement"): Statement {
  const st = parseStatement(bytes, what);
  const bad = (why: string): never => {
    throw new CosignError("PREDICATE_INVALID", `${what} is not an in-toto statement: ${why}`);
  };
  if (typeof st.type !== "string" || !STATEMENT_TYPES.includes(st.type)) {
    bad(
      `_type ${JSON.stringify(st.type) ?? "is missing"}, expected ${STATEMENT_TYPES.join(" or ")}`,
    );
  }
  if (st.predicateType === "") bad("no predicateType");
  if (st.subjects.length === 0) bad("no subject");
  st.subjects.forEach((s, i) => {
    const d = Object.entries(s.digest);
    if (d.length === 0 || d.some(([, v]) => typeof v !== "string" || v === "")) {
      bad(`subject ${i + 1} has no digest`);
    }
  });
  return st;
}

/**
 * True when some subject has `digest[alg]` equal to `hex` (case-insensitive hex).
 * @example
 * ```ts
 * import { buildStatement, hasSubjectDigest, parseStatement } from "@cosign-deno/cosign";
 * const { bytes } = buildStatement("custom", new Uint8Array(), { name: "f", sha256: "ab".repeat(32) });
 * hasSubjectDigest(parseStatement(bytes), "sha256", "AB".repeat(32)); // true
 * ```
 */
export function hasSubjectDigest(st: Statement, alg: string, hex: string): boolean {
  return st.subjects.some((s) =>
    typeof s.digest[alg] === "string" &&
    (s.digest[alg] as string).toLowerCase() === hex.toLowerCase()
  );
}

/** For messages: a statement's compact JSON. */
export function statementJson(st: Statement): string {
  return goMarshal(st.json);
}
