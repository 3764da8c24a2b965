/**
 * Certificate path validation against the certificate authorities of a trusted root, as
 * sigstore-go's `VerifyLeafCertificate` does with Go's `x509.Verify`: for each authority valid
 * at the given time, build a path leaf → intermediates → the authority's trust anchor (the
 * last certificate of its chain), then require that every certificate of the path is valid
 * at that time, that every issuer is a CA allowed to sign certificates within its path-length
 * constraint, that no certificate's extended key usage excludes the requested one, and that
 * the leaf names the requested extended key usage and is not a CA.
 * @module
 */

import { CosignError } from "../errors.ts";
import { type CertificateAuthority, isValidAt } from "../tlog/trusted_root.ts";
import {
  bytesEqual,
  type Certificate,
  describeCertificate,
  formatTime,
  isSignedBy,
  OID,
  parseCertificate,
} from "./certificate.ts";

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
}

/** Longest path considered, leaf and anchor included. */
const MAX_PATH_LENGTH = 8;
/** Most candidate paths examined per authority. */
const MAX_PATHS = 16;

const EKU_NAMES: Record<string, string> = {
  [OID.codeSigning]: "code signing",
  [OID.timeStamping]: "time stamping",
};

interface Problem {
  code: "CERTIFICATE_EXPIRED" | "CERTIFICATE_UNTRUSTED";
  message: string;
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

/** Every path from `leaf` through `pool` to `anchor` (signature and name checks only). */
function buildPaths(
  leaf: Certificate,
  pool: readonly Certificate[],
  anchor: Certificate,
): Certificate[][] {
  const paths: Certificate[][] = [];
  const walk = (path: Certificate[]): void => {
    if (paths.length >= MAX_PATHS) return;
    const current = path[path.length - 1]!;
    if (isSignedBy(current, anchor)) {
      paths.push([...path, anchor]);
      return;
    }
    if (path.length + 1 >= MAX_PATH_LENGTH) return;
    for (const candidate of pool) {
      if (path.includes(candidate)) continue;
      if (isSignedBy(current, candidate)) walk([...path, candidate]);
    }
  };
  if (!bytesEqual(leaf.der, anchor.der)) walk([leaf]);
  return paths;
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
  return undefined;
}

function dedupe(certs: readonly Certificate[], except: Certificate): Certificate[] {
  const out: Certificate[] = [];
  for (const c of certs) {
    if (bytesEqual(c.der, except.der) || out.some((o) => bytesEqual(o.der, c.der))) continue;
    out.push(c);
  }
  return out;
}

/**
 * Validates `leaf` against `authorities` at `time` (the signing time: a Rekor integrated time
 * or an RFC 3161 time; chain certificates must all be valid then).
 * @param leaf the signing (or timestamping) certificate
 * @param intermediates extra intermediates, e.g. from the bundle; never trust anchors
 * @param authorities the trusted root's Fulcio (or timestamp) authorities
 * @param time the instant every certificate of the path must be valid at
 * @param options the extended key usage to require, and a name for the leaf in messages
 * @returns the first acceptable path and its authority
 * @throws {CosignError} `CERTIFICATE_EXPIRED` when a path exists but a certificate of it is not
 *   valid at `time`; `CERTIFICATE_UNTRUSTED` when no authority valid at `time` issued the leaf,
 *   or the path breaks a CA, key-usage or path-length rule; `TRUSTED_ROOT_INVALID` when an
 *   authority's certificate cannot be parsed
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
  const problems: Problem[] = [];
  const outOfWindow: CertificateAuthority[] = [];
  for (const authority of authorities) {
    if (!isValidAt(authority.validFor, time)) {
      outOfWindow.push(authority);
      continue;
    }
    const chain = authorityCertificates(authority);
    const anchor = chain[chain.length - 1]!;
    const pool = dedupe([...intermediates, ...chain.slice(0, -1)], anchor);
    for (const path of buildPaths(leaf, pool, anchor)) {
      const problem = checkPath(path, time, eku, what);
      if (!problem) return { authority, path };
      problems.push(problem);
    }
  }
  const first = problems.find((p) => p.code === "CERTIFICATE_EXPIRED") ?? problems[0];
  if (first) throw new CosignError(first.code, first.message);
  for (const authority of outOfWindow) {
    const chain = authorityCertificates(authority);
    const anchor = chain[chain.length - 1]!;
    const pool = dedupe([...intermediates, ...chain.slice(0, -1)], anchor);
    if (buildPaths(leaf, pool, anchor).length > 0) {
      throw new CosignError(
        "CERTIFICATE_UNTRUSTED",
        `Untrusted ${what}: the signing time ${formatTime(time)} is outside the validity ` +
          `window of its certificate authority ${authority.uri || describeCertificate(anchor)} ` +
          `(${window(authority)})`,
      );
    }
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
