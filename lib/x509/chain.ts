/**
 * Certificate path validation against the certificate authorities of a trusted root, as
 * sigstore-go's `VerifyLeafCertificate` does with Go's `x509.Verify`: for each authority valid
 * at the given time, build a path leaf → intermediates → the authority's trust anchor (the
 * last certificate of its chain; trust anchors never come from elsewhere), then require that
 * every certificate of the path is valid at that time, that every issuer is a CA allowed to
 * sign certificates within its path-length constraint, that no certificate's extended key
 * usage excludes the requested one, that the leaf names the requested extended key usage and
 * is not a CA, and that every CA's name constraints allow the names below it.
 *
 * The search is Go's `buildChains`: depth-first, without loops, at most
 * {@link MAX_PATH_LENGTH} certificates long and at most {@link MAX_ISSUER_CANDIDATES}
 * candidate issuers examined per verification, so intermediates supplied by a bundle (which
 * could cross-sign each other to make the number of paths explode) cost bounded work.
 * @module
 */

import { CosignError } from "../errors.ts";
import { type CertificateAuthority, isValidAt } from "../trust/trusted_root.ts";
import {
  bytesEqual,
  type Certificate,
  describeCertificate,
  formatTime,
  isSignedBy,
  OID,
  parseCertificate,
} from "./certificate.ts";
import { nameConstraintViolation } from "./name_constraints.ts";

/** A validated path and the authority it leads to. */
export interface ChainResult {
  /** The certificate authority whose trust anchor ends the path. */
  readonly authority: CertificateAuthority;
  /** The path, leaf first, trust anchor last. */
  readonly path: readonly Certificate[];
}

/** Options for {@link verifyCertificateChain}. */
export interface ChainOptions {
  /**
   * The extended key usage the leaf must name (default `1.3.6.1.5.5.7.3.3`, code signing;
   * timestamp verification passes `1.3.6.1.5.5.7.3.8`, time stamping).
   */
  extKeyUsage?: string | undefined;
  /** A name for the leaf in messages (default "certificate"). */
  what?: string | undefined;
  /** When given, receives the number of candidate issuers the search examined (diagnostics). */
  stats?: { issuerCandidates: number } | undefined;
}

/** Longest path considered, leaf and trust anchor included. */
export const MAX_PATH_LENGTH = 10;
/**
 * Most candidate issuers examined in one verification (each costs at most one signature
 * check), across all authorities: Go's x509 `maxChainSignatureChecks`. Intermediates that
 * cross-sign each other can make the number of paths grow exponentially with their count; this
 * bounds the work whatever the bundle holds.
 */
export const MAX_ISSUER_CANDIDATES = 100;

const EKU_NAMES: Record<string, string> = {
  [OID.codeSigning]: "code signing",
  [OID.timeStamping]: "time stamping",
};

interface Problem {
  code: "CERTIFICATE_EXPIRED" | "CERTIFICATE_UNTRUSTED";
  message: string;
}

/** The work done by one path search, shared by every authority tried. */
interface Search {
  examined: number;
  limitReached: boolean;
}

const parsedAuthorities = new WeakMap<CertificateAuthority, Certificate[]>();

/** The authority's chain as parsed certificates (cached per authority object). */
function authorityCertificates(ca: CertificateAuthority): Certificate[] {
  let certs = parsedAuthorities.get(ca);
  if (!certs) {
    certs = ca.certChain.map((c, i) => {
      try {
        return parseCertificate(c.der, `certificate ${i + 1} of certificate authority ${ca.uri}`);
      } catch (e) {
        throw new CosignError(
          "TRUSTED_ROOT_INVALID",
          `Invalid trusted root: ${(e as Error).message}`,
          { cause: e },
        );
      }
    });
    parsedAuthorities.set(ca, certs);
  }
  return certs;
}

function subjectAltNameValue(cert: Certificate): Uint8Array | undefined {
  return cert.extensions.find((e) => e.oid === OID.subjectAltName)?.value;
}

/**
 * Go's `alreadyInChain`: the path already holds a certificate with the candidate's subject,
 * public key and subjectAltName extension (a re-issue or cross-sign of the same CA), so the
 * candidate would only walk a loop.
 */
function alreadyInPath(candidate: Certificate, path: readonly Certificate[]): boolean {
  const san = subjectAltNameValue(candidate);
  return path.some((c) => {
    if (!bytesEqual(c.subjectDer, candidate.subjectDer) || !bytesEqual(c.spki, candidate.spki)) {
      return false;
    }
    const other = subjectAltNameValue(c);
    return san === undefined || other === undefined ? san === other : bytesEqual(san, other);
  });
}

/** 0 when the key identifiers agree (or both are absent), 1 when one is absent, else 2. */
function keyIdRank(cert: Certificate, candidate: Certificate): number {
  const aki = cert.authorityKeyId, ski = candidate.subjectKeyId;
  if (aki === undefined && ski === undefined) return 0;
  if (aki === undefined || ski === undefined) return 1;
  return bytesEqual(aki, ski) ? 0 : 2;
}

/**
 * Depth-first search for paths `leaf` → intermediates from `pool` → `anchor`, as Go's
 * `buildChains`: the anchor is tried first, then intermediates whose subject is the current
 * certificate's issuer (matching key identifiers first, the trusted root's own before
 * supplied ones); a certificate already on the path is skipped, the path is at most
 * {@link MAX_PATH_LENGTH} long, and every candidate examined counts against
 * {@link MAX_ISSUER_CANDIDATES}. `visit` gets each complete path and returns true to stop.
 * @returns true when stopped by `visit` or by the limit
 */
function searchPaths(
  leaf: Certificate,
  pool: readonly Certificate[],
  anchor: Certificate,
  search: Search,
  visit: (path: Certificate[]) => boolean,
): boolean {
  const walk = (path: Certificate[]): boolean => {
    const current = path[path.length - 1]!;
    const candidates: Certificate[] = [];
    if (bytesEqual(current.issuerDer, anchor.subjectDer)) candidates.push(anchor);
    // An intermediate needs room for itself and the anchor after it.
    if (path.length + 2 <= MAX_PATH_LENGTH) {
      const parents = pool.filter((c) => bytesEqual(current.issuerDer, c.subjectDer));
      const rank = parents.map((c) => keyIdRank(current, c));
      const order = parents.map((_, i) => i).sort((a, b) => rank[a]! - rank[b]! || a - b);
      for (const i of order) candidates.push(parents[i]!);
    }
    for (const candidate of candidates) {
      if (alreadyInPath(candidate, path)) continue;
      if (search.examined >= MAX_ISSUER_CANDIDATES) {
        search.limitReached = true;
        return true;
      }
      search.examined++;
      if (!isSignedBy(current, candidate)) continue;
      const next = [...path, candidate];
      if (candidate === anchor ? visit(next) : walk(next)) return true;
    }
    return false;
  };
  return walk([leaf]);
}

function ekuName(oid: string): string {
  return EKU_NAMES[oid] ? `${EKU_NAMES[oid]} (${oid})` : oid;
}

function window(ca: CertificateAuthority): string {
  const start = ca.validFor.start ? formatTime(ca.validFor.start) : "the beginning";
  const end = ca.validFor.end ? formatTime(ca.validFor.end) : "open-ended";
  return `${start} to ${end}`;
}

/** The first reason `path` is unacceptable at `time`, or `undefined` when it is acceptable. */
function checkPath(
  path: readonly Certificate[],
  time: Date,
  eku: string,
  what: string,
): Problem | undefined {
  const last = path.length - 1;
  const label = (i: number): string => {
    if (i === 0) return `${what} (${describeCertificate(path[0]!)})`;
    return `${i === last ? "root" : "intermediate"} certificate "${describeCertificate(path[i]!)}"`;
  };
  const t = time.getTime();
  for (let i = 0; i <= last; i++) {
    const c = path[i]!;
    if (t < c.notBefore.getTime()) {
      return {
        code: "CERTIFICATE_EXPIRED",
        message: `The ${label(i)} is not yet valid: valid from ${
          formatTime(c.notBefore)
        }, signing time ${formatTime(time)}`,
      };
    }
    if (t > c.notAfter.getTime()) {
      return {
        code: "CERTIFICATE_EXPIRED",
        message: `The ${label(i)} expired at ${formatTime(c.notAfter)}, signing time ${
          formatTime(time)
        }`,
      };
    }
  }
  const untrusted = (message: string): Problem => ({ code: "CERTIFICATE_UNTRUSTED", message });
  const leaf = path[0]!;
  if (leaf.isCa === true) {
    return untrusted(`Untrusted ${label(0)}: it is a CA certificate, not a leaf`);
  }
  if (!leaf.extKeyUsage?.includes(eku)) {
    return untrusted(
      `Untrusted ${label(0)}: its extended key usage does not include ${ekuName(eku)} (it has ${
        leaf.extKeyUsage ? `[${leaf.extKeyUsage.join(", ")}]` : "none"
      })`,
    );
  }
  for (let i = 1; i <= last; i++) {
    const c = path[i]!;
    // Go's x509 lets a trust anchor without basicConstraints (a v1 root) sign; intermediates
    // must say cA true.
    if (c.isCa === false || (c.isCa === undefined && i !== last)) {
      return untrusted(`Untrusted ${label(0)}: its issuer, the ${label(i)}, is not a CA`);
    }
    if (c.keyUsage !== undefined && !c.keyUsage.includes("keyCertSign")) {
      return untrusted(
        `Untrusted ${label(0)}: its issuer, the ${label(i)}, may not sign certificates ` +
          `(key usage [${c.keyUsage.join(", ")}] lacks keyCertSign)`,
      );
    }
    if (c.pathLength !== undefined && i - 1 > c.pathLength) {
      return untrusted(
        `Untrusted ${label(0)}: the ${label(i)} allows ${c.pathLength} intermediate ` +
          `certificate(s) below it, the path has ${i - 1}`,
      );
    }
    if (
      c.extKeyUsage !== undefined && !c.extKeyUsage.includes(eku) &&
      !c.extKeyUsage.includes(OID.anyExtendedKeyUsage)
    ) {
      return untrusted(
        `Untrusted ${label(0)}: the ${label(i)} restricts extended key usage to [${
          c.extKeyUsage.join(", ")
        }], which excludes ${ekuName(eku)}`,
      );
    }
  }
  for (let i = 0; i <= last; i++) {
    const nc = path[i]!.nameConstraints;
    if (nc?.critical && nc.unhandledForms.length > 0) {
      // Go's x509: an unhandled critical extension makes the certificate unusable.
      return untrusted(
        `Untrusted ${label(0)}: the ${label(i)} has critical name constraints on ${
          nc.unhandledForms.join(", ")
        } names, which cannot be enforced`,
      );
    }
  }
  const budget = { comparisons: 0 };
  for (let i = 1; i <= last; i++) {
    const nc = path[i]!.nameConstraints;
    if (!nc) continue;
    for (let j = 0; j < i; j++) {
      const violation = nameConstraintViolation(nc, path[j]!, budget);
      if (violation) {
        return untrusted(
          `Untrusted ${label(0)}: the name constraints of the ${label(i)} refuse it: ${violation}${
            j === 0 ? "" : ` (in the ${label(j)})`
          }`,
        );
      }
    }
  }
  return undefined;
}

/** `certs` without repeats (by DER) and without `except`. */
function dedupe(certs: readonly Certificate[], except: Certificate): Certificate[] {
  const out: Certificate[] = [];
  for (const c of certs) {
    if (bytesEqual(c.der, except.der) || out.some((o) => bytesEqual(o.der, c.der))) continue;
    out.push(c);
  }
  return out;
}

/** The authority's trust anchor and the intermediates a path to it may use. */
function searchSpace(
  authority: CertificateAuthority,
  intermediates: readonly Certificate[],
): { anchor: Certificate; pool: Certificate[] } {
  const chain = authorityCertificates(authority);
  const anchor = chain[chain.length - 1]!;
  // The trusted root's own intermediates first: a bundle cannot push them out of the search.
  return { anchor, pool: dedupe([...chain.slice(0, -1), ...intermediates], anchor) };
}

/**
 * Validates `leaf` against `authorities` at `time` (the signing time: a Rekor integrated time
 * or an RFC 3161 time; chain certificates must all be valid then). Trust anchors come only
 * from `authorities`; `intermediates` (from a bundle or a `chain` annotation) may only fill
 * the middle of a path. The search is Go's: depth-limited ({@link MAX_PATH_LENGTH}), without
 * loops, and bounded to {@link MAX_ISSUER_CANDIDATES} candidate issuers in all, so hostile
 * cross-signed intermediates are refused quickly. Name constraints of every CA of the path are
 * enforced on the names below it, critical or not.
 * @param leaf the signing (or timestamping) certificate
 * @param intermediates extra intermediates, e.g. from the bundle; never trust anchors
 * @param authorities the trusted root's Fulcio (or timestamp) authorities
 * @param time the instant every certificate of the path must be valid at
 * @param options the extended key usage to require, and a name for the leaf in messages
 * @returns the first acceptable path and its authority
 * @throws {CosignError} `CERTIFICATE_EXPIRED` when a path exists but a certificate of it is not
 *   valid at `time`; `CERTIFICATE_UNTRUSTED` when no authority valid at `time` issued the leaf,
 *   the path breaks a CA, key-usage, path-length or name-constraint rule, or the search
 *   reached its limit; `TRUSTED_ROOT_INVALID` when an authority's certificate cannot be parsed
 * @example
 * ```ts ignore
 * const { path } = verifyCertificateChain(leaf, [], root.certificateAuthorities, signedAt);
 * ```
 */
export function verifyCertificateChain(
  leaf: Certificate,
  intermediates: readonly Certificate[],
  authorities: readonly CertificateAuthority[],
  time: Date,
  options: ChainOptions = {},
): ChainResult {
  const what = options.what ?? "certificate";
  const eku = options.extKeyUsage ?? OID.codeSigning;
  if (authorities.length === 0) {
    throw new CosignError(
      "CERTIFICATE_UNTRUSTED",
      `Untrusted ${what}: the trusted root has no certificate authorities`,
    );
  }
  const search: Search = { examined: 0, limitReached: false };
  const limitReached = (): CosignError => {
    if (options.stats) options.stats.issuerCandidates = search.examined;
    return new CosignError(
      "CERTIFICATE_UNTRUSTED",
      `Untrusted ${what}: certificate path building stopped at its limit of ` +
        `${MAX_ISSUER_CANDIDATES} candidate issuer certificates without reaching a trusted ` +
        `certificate authority (${intermediates.length} intermediate certificate(s) supplied)`,
    );
  };
  const problems: Problem[] = [];
  const outOfWindow: CertificateAuthority[] = [];
  let found: ChainResult | undefined;
  for (const authority of authorities) {
    if (!isValidAt(authority.validFor, time)) {
      outOfWindow.push(authority);
      continue;
    }
    const { anchor, pool } = searchSpace(authority, intermediates);
    searchPaths(leaf, pool, anchor, search, (path) => {
      const problem = checkPath(path, time, eku, what);
      if (!problem) found = { authority, path };
      else problems.push(problem);
      return found !== undefined;
    });
    if (found) {
      if (options.stats) options.stats.issuerCandidates = search.examined;
      return found;
    }
    if (search.limitReached) throw limitReached();
  }
  if (options.stats) options.stats.issuerCandidates = search.examined;
  const first = problems.find((p) => p.code === "CERTIFICATE_EXPIRED") ?? problems[0];
  if (first) throw new CosignError(first.code, first.message);
  for (const authority of outOfWindow) {
    const { anchor, pool } = searchSpace(authority, intermediates);
    let chains = false;
    searchPaths(leaf, pool, anchor, search, () => chains = true);
    if (options.stats) options.stats.issuerCandidates = search.examined;
    if (chains) {
      throw new CosignError(
        "CERTIFICATE_UNTRUSTED",
        `Untrusted ${what}: the signing time ${formatTime(time)} is outside the validity ` +
          `window of its certificate authority ${authority.uri || describeCertificate(anchor)} ` +
          `(${window(authority)})`,
      );
    }
    if (search.limitReached) throw limitReached();
  }
  throw new CosignError(
    "CERTIFICATE_UNTRUSTED",
    `Untrusted ${what}: no trusted certificate authority issued the certificate (issuer ${
      leaf.issuer || "empty"
    })`,
  );
}

/**
 * Refuses a bundle-supplied certificate chain that contains a self-signed (self-issued)
 * certificate: trust anchors must come only from the trusted root (conformance case
 * `bundle-with-root-cert_fail`).
 * @param certs the bundle's certificates (leaf first, then intermediates)
 * @throws {CosignError} `CERTIFICATE_INVALID` naming the offending certificate
 * @example
 * ```ts ignore
 * checkBundleChain(bundleCerts);
 * ```
 */
export function checkBundleChain(certs: readonly Certificate[]): void {
  certs.forEach((cert, i) => {
    if (cert.selfSigned || bytesEqual(cert.subjectDer, cert.issuerDer)) {
      throw new CosignError(
        "CERTIFICATE_INVALID",
        `Invalid bundle certificate chain: certificate ${i + 1} of ${certs.length} ("${
          describeCertificate(cert)
        }") is self-signed; a trust anchor must come from the trusted root, not the bundle`,
      );
    }
  });
}
