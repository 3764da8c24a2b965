/**
 * X.509 name constraints (RFC 5280 §4.2.1.10) as Go's `crypto/x509` enforces them: the
 * extension is parsed strictly whether it is critical or not; permitted and excluded subtrees
 * of the forms Go handles (rfc822Name, dNSName, uniformResourceIdentifier, iPAddress) apply to
 * the subject alternative names of every certificate below the constrained CA in a path; other
 * subtree forms (otherName, directoryName, …) are left unhandled, which makes a critical
 * extension unusable and a non-critical one ignore them. Subject names (CN, emailAddress) and
 * SAN forms other than those four (Fulcio's otherName username among them) are not checked,
 * as in Go.
 *
 * Matching, per form:
 * - dNSName: a label-wise suffix, case-insensitive (`example.com` covers `example.com` and
 *   `a.example.com`; `.example.com` only subdomains); an excluded subtree also catches a
 *   wildcard SAN that could expand into it (`*.example.com` against `a.example.com`).
 * - rfc822Name: a full mailbox (`alice@example.com`: exact local part, case-insensitive
 *   domain), a host (`example.com`: exactly that host) or a domain (`.example.com`: hosts below
 *   it): RFC 5280's rules, which Go applies since golang/go#81280 (CVE-2026-78664; before, the
 *   domain matched like a dNSName, subdomains included).
 * - URI: the URI's host (after the last `@` of the authority, port removed, lower-cased)
 *   against the same host rules (golang/go#81285, CVE-2026-78665).
 * - iPAddress: the SAN address within the constraint's network, IPv4 and IPv6 apart.
 *
 * An empty constraint value matches every name of its form. As in Go, once a CA in the path
 * has name constraints, every SAN name below it must be readable for its form: a URI without a
 * host or whose host is an IP address, a malformed mailbox or DNS name is refused even when no
 * constraint of its form exists. Work is capped at {@link MAX_CONSTRAINT_COMPARISONS}
 * comparisons per path. No I/O.
 * @module
 */

import type { Certificate } from "./certificate.ts";
import { ascii, content, DerError, kids, readWhole, TAG } from "./_der.ts";

/** A name form that constraints are enforced for. */
export type ConstrainedForm = "email" | "dns" | "uri" | "ip";

/** One permitted or excluded subtree of a handled form. */
export interface NameConstraint {
  /** The GeneralName form the subtree constrains. */
  readonly form: ConstrainedForm;
  /**
   * The subtree as text: a domain or host (maybe with a leading period), a full mailbox, or an
   * IP network as `address/prefix-length`.
   */
  readonly value: string;
  /** For `ip`: the network address bytes (4 or 16). */
  readonly address?: Uint8Array;
  /** For `ip`: the network mask bytes (same length as `address`). */
  readonly mask?: Uint8Array;
}

/** A parsed nameConstraints extension. */
export interface NameConstraints {
  /** Whether the extension is marked critical. */
  readonly critical: boolean;
  /** Permitted subtrees of handled forms, in extension order. */
  readonly permitted: readonly NameConstraint[];
  /** Excluded subtrees of handled forms, in extension order. */
  readonly excluded: readonly NameConstraint[];
  /**
   * The forms of subtrees this verifier does not interpret (`otherName`, `directoryName`, …),
   * as Go's x509 leaves them unhandled: a critical extension holding any cannot be enforced.
   */
  readonly unhandledForms: readonly string[];
}

/**
 * Most constraint-against-name comparisons for one path (the default of Go's
 * `MaxConstraintComparisions`).
 */
export const MAX_CONSTRAINT_COMPARISONS = 250_000;

const GENERAL_NAME_FORMS: Record<number, string> = {
  0xa0: "otherName",
  0x81: "rfc822Name",
  0x82: "dNSName",
  0xa3: "x400Address",
  0xa4: "directoryName",
  0xa5: "ediPartyName",
  0x86: "uniformResourceIdentifier",
  0x87: "iPAddress",
  0x88: "registeredID",
};

/**
 * Go's `domainNameValid`: printable ASCII (33–126), no empty label, no trailing period; an
 * empty name is accepted (an empty constraint matches everything); a constraint may start with
 * a period.
 */
function domainValid(name: string, constraint: boolean): boolean {
  if (name.length === 0) return true;
  if (name.endsWith(".")) return false;
  const s = constraint && name.startsWith(".") ? name.slice(1) : name;
  for (const label of s.split(".")) {
    if (label.length === 0) return false;
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      if (c < 33 || c > 126) return false;
    }
  }
  return true;
}

/** A mailbox split as RFC 2821 reads it; the local part unquoted and unescaped. */
export interface Mailbox {
  /** The local part, unquoted and unescaped. */
  readonly local: string;
  /** The domain, as written. */
  readonly domain: string;
}

const ATEXT = /[0-9A-Za-z!#$%&'*+\-/=?^_`{|}~.]/;

/**
 * Parses an RFC 2821 mailbox as Go's `parseRFC2821Mailbox` does: a quoted string or a
 * dot-atom local part (backslash escapes accepted), `@`, and a domain of printable labels.
 * @param text the mailbox, e.g. `alice@acme.com`
 * @returns the parts, or undefined when `text` is not a mailbox
 * @example
 * ```ts ignore
 * parseMailbox('"a b"@acme.com'); // { local: "a b", domain: "acme.com" }
 * ```
 */
export function parseMailbox(text: string): Mailbox | undefined {
  if (text.length === 0) return undefined;
  let local = "";
  let i = 0;
  if (text[0] === '"') {
    i = 1;
    for (;;) {
      if (i >= text.length) return undefined;
      const c = text.charCodeAt(i++);
      if (c === 0x22) break;
      if (c === 0x5c) {
        if (i >= text.length) return undefined;
        const e = text.charCodeAt(i);
        if (e === 0 || e === 10 || e === 13 || e > 127) return undefined;
        local += text[i++];
        continue;
      }
      const qtext = (c >= 1 && c <= 8) || c === 11 || c === 12 || (c >= 14 && c <= 33) ||
        (c >= 35 && c <= 91) || (c >= 93 && c <= 127);
      if (!qtext) return undefined;
      local += String.fromCharCode(c);
    }
  } else {
    while (i < text.length) {
      let ch = text[i]!;
      if (ch === "\\") {
        // An escaped character outside quotes is accepted, whatever it is (RFC 3696's examples).
        i++;
        if (i >= text.length) return undefined;
        ch = text[i]!;
      } else if (!ATEXT.test(ch)) {
        break;
      }
      local += ch;
      i++;
    }
    if (local.length === 0 || local.startsWith(".") || local.endsWith(".")) return undefined;
    if (local.includes("..")) return undefined;
  }
  if (text[i] !== "@") return undefined;
  const domain = text.slice(i + 1);
  if (domain.length === 0 || !domainValid(domain, false)) return undefined;
  return { local, domain };
}

function isIpAddressText(host: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255);
  return host.includes(":") && /^[0-9A-Fa-f:.]+$/.test(host);
}

function isValidMask(mask: Uint8Array): boolean {
  let zeros = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >> bit) & 1) === 1;
      if (one && zeros) return false;
      if (!one) zeros = true;
    }
  }
  return true;
}

function prefixLength(mask: Uint8Array): number {
  let n = 0;
  for (const byte of mask) for (let bit = 7; bit >= 0; bit--) n += (byte >> bit) & 1;
  return n;
}

function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  }
  return groups.join(":");
}

function parseSubtrees(
  buf: Uint8Array,
  subtrees: ReturnType<typeof readWhole>,
  what: string,
  unhandled: Set<string>,
): NameConstraint[] {
  const out: NameConstraint[] = [];
  for (const subtree of kids(buf, subtrees, what)) {
    if (subtree.tag !== TAG.SEQUENCE) throw new DerError(`${what} holds a non-SEQUENCE subtree`);
    // minimum and maximum (RFC 5280: 0 and absent) are not read, as in Go.
    const [base] = kids(buf, subtree, `${what} subtree`);
    if (!base) throw new DerError(`${what} holds an empty subtree`);
    const bytes = content(buf, base);
    switch (base.tag) {
      case 0x82: { // dNSName
        const value = ascii(bytes, `${what} dNSName`);
        if (!domainValid(value, true)) {
          throw new DerError(`${what} dNSName constraint ${JSON.stringify(value)} is malformed`);
        }
        out.push({ form: "dns", value });
        break;
      }
      case 0x81: { // rfc822Name
        const value = ascii(bytes, `${what} rfc822Name`);
        const ok = value.includes("@")
          ? parseMailbox(value) !== undefined
          : domainValid(value, true);
        if (!ok) {
          throw new DerError(`${what} rfc822Name constraint ${JSON.stringify(value)} is malformed`);
        }
        out.push({ form: "email", value });
        break;
      }
      case 0x86: { // uniformResourceIdentifier: a host or domain
        const value = ascii(bytes, `${what} URI`);
        if (isIpAddressText(value) || !domainValid(value, true)) {
          throw new DerError(
            `${what} URI constraint ${JSON.stringify(value)} is not a host or domain name`,
          );
        }
        out.push({ form: "uri", value });
        break;
      }
      case 0x87: { // iPAddress: address and mask
        if (bytes.length !== 8 && bytes.length !== 32) {
          throw new DerError(`${what} iPAddress constraint is ${bytes.length} bytes, not 8 or 32`);
        }
        const half = bytes.length / 2;
        const address = bytes.slice(0, half), mask = bytes.slice(half);
        if (!isValidMask(mask)) throw new DerError(`${what} iPAddress constraint has a bad mask`);
        for (let i = 0; i < half; i++) address[i]! &= mask[i]!;
        out.push({
          form: "ip",
          value: `${formatAddress(address)}/${prefixLength(mask)}`,
          address,
          mask,
        });
        break;
      }
      default:
        unhandled.add(GENERAL_NAME_FORMS[base.tag] ?? `[${base.tag & 0x1f}]`);
    }
  }
  return out;
}

/**
 * Parses a nameConstraints extension value (`SEQUENCE { permittedSubtrees [0] OPTIONAL,
 * excludedSubtrees [1] OPTIONAL }`) as Go's parser does: at least one non-empty list,
 * well-formed values for the forms it handles, other forms recorded as unhandled.
 * @param value the extnValue contents
 * @param critical whether the extension is critical
 * @throws {DerError} when the extension is malformed or empty
 */
export function parseNameConstraints(value: Uint8Array, critical: boolean): NameConstraints {
  const what = "nameConstraints";
  const fields = kids(value, readWhole(value, what, TAG.SEQUENCE), what);
  let i = 0;
  const permittedEl = fields[i]?.tag === 0xa0 ? fields[i++] : undefined;
  const excludedEl = fields[i]?.tag === 0xa1 ? fields[i++] : undefined;
  if (fields[i]) throw new DerError(`${what} has unexpected fields`);
  if (
    (permittedEl === undefined || permittedEl.end === permittedEl.start) &&
    (excludedEl === undefined || excludedEl.end === excludedEl.start)
  ) {
    throw new DerError(`${what} has neither permitted nor excluded subtrees`);
  }
  const unhandled = new Set<string>();
  const permitted = permittedEl
    ? parseSubtrees(value, permittedEl, `${what} permittedSubtrees`, unhandled)
    : [];
  const excluded = excludedEl
    ? parseSubtrees(value, excludedEl, `${what} excludedSubtrees`, unhandled)
    : [];
  return { critical, permitted, excluded, unhandledForms: [...unhandled] };
}

/** The SAN names of one certificate that constraints apply to. */
interface ConstrainedNames {
  emails: string[];
  dns: string[];
  uris: string[];
  ips: Uint8Array[];
}

const SAN_OID = "2.5.29.17";

/** The certificate's SAN names by form, or undefined when it has no SAN extension. */
function constrainedNames(cert: Certificate): ConstrainedNames | undefined {
  const ext = cert.extensions.find((e) => e.oid === SAN_OID);
  if (!ext) return undefined;
  const v = ext.value;
  const names: ConstrainedNames = { emails: [], dns: [], uris: [], ips: [] };
  // The certificate parser has already read this extension strictly.
  for (const gn of kids(v, readWhole(v, "subjectAltName", TAG.SEQUENCE), "subjectAltName")) {
    const bytes = content(v, gn);
    if (gn.tag === 0x81) names.emails.push(ascii(bytes, "rfc822Name"));
    else if (gn.tag === 0x82) names.dns.push(ascii(bytes, "dNSName"));
    else if (gn.tag === 0x86) names.uris.push(ascii(bytes, "URI"));
    else if (gn.tag === 0x87) names.ips.push(bytes);
  }
  return names;
}

/**
 * Case-insensitive label suffix (Go's `dnsHasSuffix`): `example.com` is a suffix of
 * `a.example.com` but not of `aexample.com`; `.example.com` only of proper subdomains.
 */
function dnsHasSuffix(constraint: string, name: string): boolean {
  if (constraint.length > name.length) return false;
  const c = constraint.toLowerCase(), n = name.toLowerCase();
  if (!n.endsWith(c)) return false;
  if (c.startsWith(".") || n.length === c.length) return true;
  return n[n.length - c.length - 1] === ".";
}

/** RFC 5280 host rule for URI and email constraints: exact host, or below a leading period. */
function hostMatches(constraint: string, host: string): boolean {
  if (constraint.length === 0) return true;
  if (!constraint.startsWith(".") && constraint.length !== host.length) return false;
  return dnsHasSuffix(constraint, host);
}

function trimFirstLabel(name: string): string {
  const dot = name.indexOf(".");
  return dot < 0 ? "" : name.slice(dot);
}

function dnsMatches(constraint: string, name: string, excluded: boolean): boolean {
  if (constraint.length === 0) return true;
  if (dnsHasSuffix(constraint, name)) return true;
  // An excluded a.example.com also excludes *.example.com, which could stand for it.
  if (excluded && name.startsWith("*")) {
    const parent = trimFirstLabel(constraint.toLowerCase());
    return parent !== "" && parent === trimFirstLabel(name.toLowerCase());
  }
  return false;
}

function emailMatches(constraint: string, mailbox: Mailbox): boolean {
  if (constraint.includes("@")) {
    const c = parseMailbox(constraint);
    return c !== undefined && c.local === mailbox.local &&
      c.domain.toLowerCase() === mailbox.domain.toLowerCase();
  }
  return hostMatches(constraint, mailbox.domain.toLowerCase());
}

function ipMatches(constraint: NameConstraint, ip: Uint8Array): boolean {
  const { address, mask } = constraint;
  if (!address || !mask || address.length !== ip.length) return false;
  for (let i = 0; i < ip.length; i++) if ((ip[i]! & mask[i]!) !== address[i]) return false;
  return true;
}

/**
 * The host of a URI as Go's `net/url` finds it, with the port removed and lower-cased, or a
 * reason the URI cannot be matched against constraints.
 */
function uriHost(uri: string): { host: string } | { problem: string } {
  const noHost = { problem: `URI with empty host (${JSON.stringify(uri)}) cannot be matched` };
  let rest = uri.split("#", 1)[0]!;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(rest);
  if (!scheme) return noHost;
  rest = rest.slice(scheme[0].length).split("?", 1)[0]!;
  if (!rest.startsWith("//")) return noHost;
  const authority = rest.slice(2).split("/", 1)[0]!;
  let host = authority.slice(authority.lastIndexOf("@") + 1).toLowerCase();
  if (host.length === 0) return noHost;
  const ipProblem = {
    problem: `URI with IP (${JSON.stringify(uri)}) cannot be matched against constraints`,
  };
  if (host.startsWith("[")) return ipProblem;
  if (host.includes(":")) {
    const colon = host.indexOf(":");
    if (host.indexOf(":", colon + 1) >= 0) {
      return { problem: `URI host ${JSON.stringify(host)} cannot be parsed` };
    }
    host = host.slice(0, colon);
  }
  if (isIpAddressText(host)) return ipProblem;
  if (host.includes("%") || !domainValid(host, false)) {
    return { problem: `URI SAN ${JSON.stringify(uri)} cannot be parsed` };
  }
  return { host };
}

/** Counts comparisons against {@link MAX_CONSTRAINT_COMPARISONS}. */
export interface ComparisonBudget {
  /** Comparisons made so far. */
  comparisons: number;
}

/** One form's permitted and excluded subtrees. */
interface FormConstraints {
  permitted: NameConstraint[];
  excluded: NameConstraint[];
}

const byFormCache = new WeakMap<NameConstraints, Record<ConstrainedForm, FormConstraints>>();

/** The constraints split by form (computed once per extension). */
function byForm(nc: NameConstraints): Record<ConstrainedForm, FormConstraints> {
  let split = byFormCache.get(nc);
  if (!split) {
    const forms: ConstrainedForm[] = ["email", "dns", "uri", "ip"];
    split = Object.fromEntries(forms.map((form) => [form, {
      permitted: nc.permitted.filter((c) => c.form === form),
      excluded: nc.excluded.filter((c) => c.form === form),
    }])) as Record<ConstrainedForm, FormConstraints>;
    byFormCache.set(nc, split);
  }
  return split;
}

function checkForm<T>(
  { permitted, excluded }: FormConstraints,
  kind: string,
  shown: string,
  name: T,
  matches: (c: NameConstraint, name: T, excluded: boolean) => boolean,
  budget: ComparisonBudget,
): string | undefined {
  budget.comparisons += permitted.length + excluded.length;
  if (budget.comparisons > MAX_CONSTRAINT_COMPARISONS) {
    return `checking name constraints needs more than ${MAX_CONSTRAINT_COMPARISONS} comparisons`;
  }
  if (permitted.length > 0 && !permitted.some((c) => matches(c, name, false))) {
    return `${kind} ${JSON.stringify(shown)} is not permitted by any constraint`;
  }
  const hit = excluded.find((c) => matches(c, name, true));
  if (hit) {
    return `${kind} ${JSON.stringify(shown)} is excluded by constraint ${
      JSON.stringify(hit.value)
    }`;
  }
  return undefined;
}

/**
 * Checks the SAN names of `cert` against one CA's name constraints.
 * @param nc the CA's constraints
 * @param cert a certificate below the CA in the path
 * @param budget shared comparison counter for the path
 * @returns the first violation as a phrase (e.g. `email address "m@evil.com" is not permitted
 *   by any constraint`), or undefined when every name is allowed
 */
export function nameConstraintViolation(
  nc: NameConstraints,
  cert: Certificate,
  budget: ComparisonBudget,
): string | undefined {
  const names = constrainedNames(cert);
  if (!names) return undefined;
  const forms = byForm(nc);
  for (const ip of names.ips) {
    const shown = formatAddress(ip);
    const problem = checkForm(forms.ip, "IP address", shown, ip, ipMatches, budget);
    if (problem) return problem;
  }
  for (const dns of names.dns) {
    if (!domainValid(dns, false)) return `dNSName ${JSON.stringify(dns)} cannot be parsed`;
    const problem = checkForm(
      forms.dns,
      "DNS name",
      dns,
      dns,
      (c, n, ex) => dnsMatches(c.value, n, ex),
      budget,
    );
    if (problem) return problem;
  }
  // As in Go, every URI and email of a certificate under constraints must be parseable, whatever
  // forms the constraints name.
  for (const uri of names.uris) {
    const parsed = uriHost(uri);
    if ("problem" in parsed) return parsed.problem;
    const problem = checkForm(
      forms.uri,
      "URI",
      uri,
      parsed.host,
      (c, h) => hostMatches(c.value, h),
      budget,
    );
    if (problem) return problem;
  }
  for (const email of names.emails) {
    const mailbox = parseMailbox(email);
    if (!mailbox) return `rfc822Name ${JSON.stringify(email)} cannot be parsed`;
    const problem = checkForm(
      forms.email,
      "email address",
      email,
      mailbox,
      (c, m) => emailMatches(c.value, m),
      budget,
    );
    if (problem) return problem;
  }
  return undefined;
}
