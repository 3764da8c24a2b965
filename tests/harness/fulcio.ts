/**
 * Keyless test material from `npm:@sigstore/mock`: a Fulcio-like CA (a self-signed ECDSA P-384
 * root, `CN=sigstore,O=sigstore.mock`) that issues 10-minute code-signing certificates with a
 * URI SAN, Fulcio extensions and an embedded SCT from a mock CT log, and a mock RFC 3161 TSA.
 * {@link KeylessTrust.trustedRoot} lists them (plus an optional Rekor key) as a
 * `trusted_root.json`, so tests drive the product's real verification path.
 *
 * Certificates are issued in-process (no HTTP): the mock's Fulcio handler only wraps the same
 * `issueCertificate` call.
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { initializeCA, initializeCTLog, initializeTSA } from "@sigstore/mock";

/** OID of Fulcio's OIDC issuer extension (v1, raw UTF-8). */
export const OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1";
/** OID of Fulcio's OIDC issuer extension (v2, DER UTF8String). */
export const OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8";

function p256(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function spki(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: "der", type: "spki" }));
}

/** What to put in an issued certificate. */
export interface IssueOptions {
  /** The URI SAN. */
  readonly san: string;
  /** The OIDC issuer, written as both the v1 and v2 extensions. */
  readonly issuer: string;
  /** Extra extensions (`legacy` = raw bytes as Fulcio's .1–.6, else a DER UTF8String). */
  readonly extensions?: readonly { oid: string; value: string; legacy?: boolean }[];
}

/** The mock CA, CT log and TSA, and a trusted root listing them. */
export interface KeylessTrust {
  /** The CA root certificate (DER). */
  readonly rootDer: Uint8Array;
  /** The TSA chain (DER), leaf first. */
  readonly tsaChain: readonly Uint8Array[];
  /** Issues a certificate for `publicKey` (DER). */
  issue(publicKey: KeyObject, options: IssueOptions): Promise<Uint8Array>;
  /** A DER `TimeStampResp` token over `data` (SHA-256 imprint). */
  timestamp(data: Uint8Array): Promise<Uint8Array>;
  /** A DER `TimeStampResp` over a SHA-256 digest with the requester's nonce. */
  timestampDigest(digest: Uint8Array, nonce: bigint): Promise<Uint8Array>;
  /**
   * A trusted_root.json object with the CA, CT log and TSA (valid from `validFrom`, default
   * the epoch) and, when given, a Rekor key (PEM).
   */
  trustedRoot(
    options?: { rekorPublicKeyPem?: string; validFrom?: string },
  ): Record<string, unknown>;
}

/** PEM of a DER certificate. */
export function certificatePem(der: Uint8Array): string {
  const body = b64(der).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/**
 * Creates the mock CA, CT log and TSA.
 * @param clock a fixed "now" for issuing (certificates are valid for 10 minutes from it)
 * @param options `withoutSct`: the CA embeds no SCT (no CT log)
 */
export async function createKeylessTrust(
  clock?: Date,
  options: { withoutSct?: boolean } = {},
): Promise<KeylessTrust> {
  const ctKeys = p256();
  const ctLog = await initializeCTLog(ctKeys, clock);
  const ca = await initializeCA(p256(), options.withoutSct ? undefined : ctLog, clock);
  const tsa = await initializeTSA(p256(), clock);
  // The mock's genTime keeps milliseconds, which pkijs writes without trailing zeros
  // ("…01.5Z"); sigstore-js reads only three digits or none. Whole seconds suit both.
  if (clock === undefined) {
    (tsa as unknown as { getCurrentTime: () => Date }).getCurrentTime = () =>
      new Date(Math.floor(Date.now() / 1000) * 1000);
  }
  const rootDer = new Uint8Array(ca.rootCertificate.buffer.slice(0));
  const tsaChain = [
    new Uint8Array(tsa.intCertificate.buffer.slice(0)),
    new Uint8Array(tsa.rootCertificate.buffer.slice(0)),
  ];
  const validity = (start: string) => ({ start });
  return {
    rootDer,
    tsaChain,
    async issue(publicKey, options) {
      const cert = await ca.issueCertificate({
        publicKey: spki(publicKey) as Uint8Array<ArrayBuffer>,
        subjectAltName: options.san,
        extensions: [
          { oid: OID_ISSUER_V1, value: options.issuer, legacy: true },
          { oid: OID_ISSUER_V2, value: options.issuer },
          ...(options.extensions ?? []),
        ],
      });
      return new Uint8Array(cert.buffer.slice(0));
    },
    async timestamp(data) {
      const token = await tsa.timestamp({
        artifactHash: createHash("sha256").update(data).digest(),
        hashAlgorithmOID: "2.16.840.1.101.3.4.2.1",
        nonce: Math.floor(Math.random() * 1e9),
        policyOID: "1.2.3.4",
        certReq: true,
      });
      return new Uint8Array(token.buffer.slice(0));
    },
    async timestampDigest(digest, nonce) {
      const token = await tsa.timestamp({
        artifactHash: Buffer.from(digest),
        hashAlgorithmOID: "2.16.840.1.101.3.4.2.1",
        nonce: Number(nonce),
        policyOID: "1.2.3.4",
        certReq: true,
      });
      return new Uint8Array(token.buffer.slice(0));
    },
    trustedRoot(options = {}) {
      const start = options.validFrom ?? "1970-01-01T00:00:00Z";
      const ctDer = spki(ctKeys.publicKey);
      const tlogs = [];
      if (options.rekorPublicKeyPem) {
        const der = Uint8Array.fromBase64(
          options.rekorPublicKeyPem.replace(/-----[^-]+-----|\s/g, ""),
        );
        tlogs.push({
          baseUrl: "http://127.0.0.1",
          hashAlgorithm: "SHA2_256",
          publicKey: {
            rawBytes: b64(der),
            keyDetails: "PKIX_ECDSA_P256_SHA_256",
            validFor: validity(start),
          },
          logId: { keyId: b64(createHash("sha256").update(der).digest()) },
        });
      }
      return {
        mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        tlogs,
        certificateAuthorities: [{
          subject: { organization: "sigstore.mock", commonName: "sigstore" },
          uri: "https://fulcio.mock",
          certChain: { certificates: [{ rawBytes: b64(rootDer) }] },
          validFor: validity(start),
        }],
        ctlogs: [{
          baseUrl: "https://ctfe.mock",
          hashAlgorithm: "SHA2_256",
          publicKey: {
            rawBytes: b64(ctDer),
            keyDetails: "PKIX_ECDSA_P256_SHA_256",
            validFor: validity(start),
          },
          logId: { keyId: b64(new Uint8Array(ctLog.logID.buffer.slice(0))) },
        }],
        timestampAuthorities: [{
          subject: { organization: "sigstore.mock", commonName: "tsa" },
          uri: "https://tsa.mock",
          certChain: { certificates: tsaChain.map((c) => ({ rawBytes: b64(c) })) },
          validFor: validity(start),
        }],
      };
    },
  };
}
