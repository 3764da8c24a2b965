/**
 * Differential test: our hand-written RFC 3161 / CMS parser (`parseTimestamp` in
 * `lib/tlog/timestamp.ts`) against `pkijs` (TimeStampResp, ContentInfo, SignedData, SignerInfo,
 * TSTInfo; `asn1js`, its BER layer, for the ESS signing-certificate attribute pkijs has no class
 * for), on every RFC 3161 timestamp in the shared fixtures and seeded mutations of them (bit
 * flips, truncations, field edits that keep the DER well formed, reaching into the TSTInfo and
 * the embedded certificates).
 *
 * Both sides must agree on validity and, when both parse, on every field: the response status,
 * the TSTInfo (policy, hash algorithm, imprint, serial, genTime, nonce, TSA name, accuracy) and
 * its bytes, the embedded certificates, and the signer (identifier, digest algorithm, signed
 * attributes as signed, contentType, messageDigest, ESS certificate hash, signature algorithm
 * and value). A disagreement passes only when one rule of {@link KNOWN_DIFFERENCES} explains it,
 * each with the reason ours is right and a check of that reason on the peer's own parse; any
 * other disagreement fails the test.
 *
 * Ours parses what sigstore-go's timestamp verification (digitorus/timestamp) can use: one
 * signer with signed attributes, SHA-256/384/512; pkijs parses any CMS SignedData. Most known
 * differences are that, or pkijs reading BER.
 * @module
 */
import { Buffer } from "node:buffer";
import { CosignError } from "../lib/errors.ts";
import { type ParsedTimestamp, parseTimestamp } from "../lib/tlog/timestamp.ts";
import {
  derEncode,
  type DerNode,
  derTree,
  fixtureCorpus,
  mutants,
  Rng,
} from "./harness/differential.ts";
import { asn1js, pkijs } from "./harness/peers.ts";
import { assert, assertEquals } from "./helpers.ts";

const hex = (b: ArrayBuffer | Uint8Array): string =>
  Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");

/** Everything compared, in one comparable shape. */
interface TimestampView {
  status: number | null;
  policy: string;
  hashAlgorithm: string;
  messageImprint: string;
  serial: string;
  genTime: string;
  nonce: string | null;
  tsaName: string | null;
  accuracyMs: number | null;
  tstInfo: string;
  certificates: string[];
  signerId: string;
  digestAlgorithm: string;
  signedAttributes: string;
  contentType: string;
  messageDigest: string;
  signingCertificate: string | null;
  signatureAlgorithm: string;
  signature: string;
}

type Side = { ok: true; view: TimestampView } | { ok: false; error: string };

const HASH_NAMES: Record<string, string> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
  "1.3.14.3.2.26": "sha1",
};

/** An INTEGER's content as hex, with the sign byte of a positive number dropped. */
function serialText(content: Uint8Array): string {
  return hex(content).replace(/^00(?=[89a-f])/, "");
}

// ---------------------------------------------------------------------------------------------
// Ours

function oursView(t: ParsedTimestamp): TimestampView {
  const { info, signer } = t;
  const id = signer.id;
  return {
    status: t.status ?? null,
    policy: info.policy,
    hashAlgorithm: info.hashAlgorithm,
    messageImprint: hex(info.messageImprint),
    serial: info.serialHex,
    genTime: info.genTime.toISOString(),
    nonce: info.nonce === undefined ? null : info.nonce.toString(),
    tsaName: info.tsaName ?? null,
    accuracyMs: info.accuracyMs ?? null,
    tstInfo: hex(t.tstInfo),
    certificates: t.certificates.map(hex),
    signerId: id.kind === "subjectKeyIdentifier"
      ? `ski:${hex(id.keyId)}`
      : `issuer:${hex(id.issuerDer)} serial:${id.serialHex}`,
    digestAlgorithm: signer.digestAlgorithm,
    signedAttributes: hex(signer.signedAttributes),
    contentType: signer.contentType,
    messageDigest: hex(signer.messageDigest),
    signingCertificate: signer.signingCertificate
      ? `${signer.signingCertificate.hashAlgorithm}:${hex(signer.signingCertificate.certHash)}`
      : null,
    signatureAlgorithm: signer.signatureAlgorithm,
    signature: hex(signer.signature),
  };
}

function ours(der: Uint8Array): Side {
  try {
    return { ok: true, view: oursView(parseTimestamp(der)) };
  } catch (e) {
    if (!(e instanceof CosignError)) throw e; // an internal error is a bug, never a difference
    return { ok: false, error: e.message };
  }
}

// ---------------------------------------------------------------------------------------------
// Theirs: pkijs

/** The attribute names our TSA-name rendering uses. */
const TSA_NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/** The raw bytes (header included) an asn1js block was decoded from. */
function rawOf(block: asn1js.AsnType): Uint8Array {
  return (block as unknown as { valueBeforeDecodeView: Uint8Array }).valueBeforeDecodeView;
}

function stringOf(block: asn1js.AsnType): string | undefined {
  return block instanceof asn1js.BaseStringBlock ? String(block.valueBlock.value) : undefined;
}

function tsaNameText(gn: pkijs.GeneralName): string {
  switch (gn.type) {
    case 1:
    case 2:
    case 6:
      return String(gn.value);
    case 4: {
      const rdns = gn.value as pkijs.RelativeDistinguishedNames;
      return rdns.typesAndValues.map((atv) => {
        const value = atv.value as asn1js.AsnType;
        const text = stringOf(value) ?? `#${hex(rawOf(value))}`;
        return `${TSA_NAME_ATTRIBUTES[atv.type] ?? atv.type}=${text}`;
      }).join(", ");
    }
    default:
      return `#${hex((gn.toSchema() as asn1js.BaseBlock).toBER())}`;
  }
}

/** The first ESS certificate reference of a signing-certificate(-v2) attribute, read with asn1js. */
function essText(attr: pkijs.Attribute): string | null {
  const v2 = attr.type === "1.2.840.113549.1.9.16.2.47";
  const value = attr.values[0] as asn1js.Sequence;
  const certs = value.valueBlock.value[0] as asn1js.Sequence;
  const first = certs.valueBlock.value[0] as asn1js.Sequence | undefined;
  if (!first) return null;
  const parts = first.valueBlock.value;
  let alg = v2 ? "sha256" : "sha1";
  let at = 0;
  if (v2 && parts[0] instanceof asn1js.Sequence) {
    const oid = parts[0].valueBlock.value[0] as asn1js.ObjectIdentifier;
    alg = HASH_NAMES[oid.valueBlock.toString()] ?? oid.valueBlock.toString();
    at = 1;
  }
  const hash = parts[at] as asn1js.OctetString;
  return `${alg}:${hex(hash.valueBlock.valueHexView)}`;
}

/** The peer's parse, kept for the rules when it got that far. */
interface Peer {
  readonly token?: pkijs.ContentInfo;
  readonly resp?: pkijs.TimeStampResp;
  readonly signed?: pkijs.SignedData;
  readonly tst?: pkijs.TSTInfo;
  readonly eContent?: Uint8Array;
  readonly side: Side;
}

function theirs(der: Uint8Array): Peer {
  const out: {
    token?: pkijs.ContentInfo;
    resp?: pkijs.TimeStampResp;
    signed?: pkijs.SignedData;
    tst?: pkijs.TSTInfo;
    eContent?: Uint8Array;
  } = {};
  try {
    let token: pkijs.ContentInfo;
    let status: number | null = null;
    try {
      token = pkijs.ContentInfo.fromBER(der.slice());
    } catch {
      out.resp = pkijs.TimeStampResp.fromBER(der.slice());
      status = out.resp.status.status;
      if (!out.resp.timeStampToken) throw new Error(`no token (status ${status})`);
      token = out.resp.timeStampToken;
    }
    out.token = token;
    const signed = out.signed = new pkijs.SignedData({ schema: token.content });
    const eContent = signed.encapContentInfo.eContent;
    if (!eContent) throw new Error("no eContent");
    const tstBytes = out.eContent = new Uint8Array(eContent.getValue());
    const tst = out.tst = pkijs.TSTInfo.fromBER(tstBytes.slice());
    const signer = signed.signerInfos[0];
    if (!signer) throw new Error("no SignerInfo");
    const attrs = signer.signedAttrs;
    if (!attrs) throw new Error("no signed attributes");
    const attr = (type: string) => attrs.attributes.find((a) => a.type === type);
    const contentType = attr("1.2.840.113549.1.9.3")?.values[0] as asn1js.ObjectIdentifier;
    const digest = attr("1.2.840.113549.1.9.4")?.values[0] as asn1js.OctetString;
    const ess = attr("1.2.840.113549.1.9.16.2.47") ?? attr("1.2.840.113549.1.9.16.2.12");
    const sid = signer.sid;
    const accuracy = tst.accuracy;
    return {
      ...out,
      side: {
        ok: true,
        view: {
          status,
          policy: tst.policy,
          hashAlgorithm: HASH_NAMES[tst.messageImprint.hashAlgorithm.algorithmId] ??
            tst.messageImprint.hashAlgorithm.algorithmId,
          messageImprint: hex(tst.messageImprint.hashedMessage.valueBlock.valueHexView),
          serial: serialText(tst.serialNumber.valueBlock.valueHexView),
          genTime: tst.genTime.toISOString(),
          nonce: tst.nonce ? tst.nonce.toBigInt().toString() : null,
          tsaName: tst.tsa ? tsaNameAsOursRenders(tst.tsa) : null,
          accuracyMs: accuracy
            ? (accuracy.seconds ?? 0) * 1000 + (accuracy.millis ?? 0) +
              (accuracy.micros ?? 0) / 1000
            : null,
          tstInfo: hex(tstBytes),
          certificates: (signed.certificates ?? []).map((c) =>
            hex((c as pkijs.Certificate).toSchema().toBER())
          ),
          signerId: sid instanceof pkijs.IssuerAndSerialNumber
            ? `issuer:${hex(sid.issuer.valueBeforeDecode)} serial:${
              serialText(sid.serialNumber.valueBlock.valueHexView)
            }`
            : `ski:${hex(rawOf(sid as asn1js.AsnType).subarray(2))}`,
          digestAlgorithm: HASH_NAMES[signer.digestAlgorithm.algorithmId] ??
            signer.digestAlgorithm.algorithmId,
          signedAttributes: hex(attrs.encodedValue),
          contentType: contentType?.valueBlock.toString() ?? "(none)",
          messageDigest: digest ? hex(digest.valueBlock.valueHexView) : "(none)",
          signingCertificate: ess ? essText(ess) : null,
          signatureAlgorithm: signer.signatureAlgorithm.algorithmId,
          signature: hex(signer.signature.valueBlock.valueHexView),
        },
      },
    };
  } catch (e) {
    return { ...out, side: { ok: false, error: String((e as Error)?.message ?? e) } };
  }
}

// ---------------------------------------------------------------------------------------------
// Known differences

interface Case {
  readonly source: string;
  readonly der: Uint8Array;
  readonly ours: Side;
  readonly theirs: Peer;
}

interface KnownDifference {
  readonly name: string;
  readonly reason: string;
  readonly applies: (c: Case) => boolean;
}

/** True when asn1js re-encodes `bytes` to other bytes, or leaves some unread: not DER. */
function notDer(bytes: Uint8Array): boolean {
  const { offset, result } = asn1js.fromBER(bytes.slice());
  if (offset !== bytes.length) return true;
  return hex(result.toBER()) !== hex(bytes);
}

/** `der` without SignedData's certificates [0], re-encoded by asn1js. */
function withoutCertificatesBer(der: Uint8Array): string {
  const top = asn1js.fromBER(der.slice()).result as asn1js.Sequence;
  const kids = (b: asn1js.AsnType) => (b as asn1js.Constructed).valueBlock.value;
  const token = kids(top)[0] instanceof asn1js.Sequence ? kids(top)[1]! : top;
  const signed = kids(kids(token)[1]!)[0]!;
  const list = kids(signed);
  const at = list.findIndex((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0);
  if (at >= 0) list.splice(at, 1);
  return hex(top.toBER());
}

/**
 * True when pkijs, re-encoding what it decoded (certificates left out: ours does not read
 * them while parsing), does not give the input back, or cannot: the input is not the DER of a
 * TimeStampResp/TimeStampToken, whatever pkijs made of it.
 */
function notPkijsDer(c: Case): boolean {
  const { token, resp, signed, tst, eContent } = c.theirs;
  if (!token || !signed) return false;
  try {
    // certificates [0] come right after encapContentInfo (RFC 5652 5.1).
    const tree = derTree(c.der);
    const at = signedDataNode(tree)?.children?.findIndex((n) => n.tag === 0xa0) ?? -1;
    if (at !== -1 && at !== 3) return true;
    if (tst && eContent && hex(tst.toSchema().toBER()) !== hex(eContent)) return true;
    const copy = new pkijs.SignedData({ schema: signed.toSchema(true) });
    delete copy.certificates;
    const rebuilt = new pkijs.ContentInfo({
      contentType: token.contentType,
      content: copy.toSchema(true),
    });
    const out = resp
      ? new pkijs.TimeStampResp({ status: resp.status, timeStampToken: rebuilt }).toSchema()
      : rebuilt.toSchema();
    return hex(out.toBER()) !== withoutCertificatesBer(c.der);
  } catch {
    return true;
  }
}

/** Every block asn1js finds in `der`, looking into OCTET STRINGs that hold BER too. */
function blocks(der: Uint8Array): asn1js.AsnType[] {
  const out: asn1js.AsnType[] = [];
  const visit = (block: asn1js.AsnType) => {
    out.push(block);
    const inner = (block as { valueBlock?: { value?: unknown } }).valueBlock?.value;
    if (Array.isArray(inner)) inner.forEach(visit);
    else if (block instanceof asn1js.OctetString && !block.idBlock.isConstructed) {
      const bytes = block.valueBlock.valueHexView;
      const parsed = asn1js.fromBER(bytes.slice());
      if (parsed.offset === bytes.length) visit(parsed.result);
    }
  };
  const top = asn1js.fromBER(der.slice());
  if (top.offset !== -1) visit(top.result);
  return out;
}

const SHA2 = new Set(["sha256", "sha384", "sha512"]);
const DIGEST_LENGTH: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** An AlgorithmIdentifier of SHA-256/384/512 with absent or NULL parameters (RFC 5754). */
function sha2Identifier(alg: pkijs.AlgorithmIdentifier): boolean {
  const p = alg.algorithmParams as asn1js.AsnType | undefined;
  const nullOrAbsent = p === undefined || (p instanceof asn1js.Null && rawOf(p).length === 2);
  return SHA2.has(HASH_NAMES[alg.algorithmId] ?? "") && nullOrAbsent;
}

/** RFC 5035's shape of an ESS signing-certificate(-v2) attribute value, checked with asn1js. */
function essMalformed(attr: pkijs.Attribute): boolean {
  const v2 = attr.type === "1.2.840.113549.1.9.16.2.47";
  const value = attr.values[0];
  const isSequence = (b: unknown): b is asn1js.Sequence =>
    b instanceof asn1js.Sequence && b.idBlock.isConstructed;
  if (attr.values.length !== 1 || !isSequence(value)) return true;
  const certs = value.valueBlock.value[0];
  if (!isSequence(certs)) return true;
  return certs.valueBlock.value.some((id) => {
    if (!isSequence(id)) return true;
    const parts = id.valueBlock.value;
    let i = 0;
    if (v2 && isSequence(parts[0])) {
      try {
        if (!sha2Identifier(new pkijs.AlgorithmIdentifier({ schema: parts[0] }))) return true;
      } catch {
        return true;
      }
      i = 1;
    }
    return !(parts[i] instanceof asn1js.OctetString);
  });
}

const CONTENT_TYPE = "1.2.840.113549.1.9.3";
const MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
const ESS = ["1.2.840.113549.1.9.16.2.12", "1.2.840.113549.1.9.16.2.47"];

/** The string types ours reads in names (Go's crypto/x509's, plus VisibleString, UniversalString). */
const NAME_STRING_TAGS = [0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e];

/**
 * The TSA name, from pkijs's parse, rendered as ours renders names: `O=…, CN=…` with ours's
 * short names, and (as RFC 4514 does for values it cannot show) `#hex` of the whole element for
 * a value that is not a valid string of a type ours reads: another type, a PrintableString or
 * NumericString outside its alphabet, a UTF8String that is not UTF-8. The name is
 * informational (digitorus/timestamp keeps it raw): this compares pkijs's values with ours,
 * not the two libraries' display conventions.
 */
function tsaNameAsOursRenders(gn: pkijs.GeneralName): string {
  if (gn.type !== 4) return tsaNameText(gn);
  const alphabet: Record<number, RegExp> = {
    0x12: /^[0-9 ]*$/,
    0x13: /^[A-Za-z0-9 '()+,\-./:=?*&]*$/,
    0x16: /^[^\u0080-\uffff]*$/,
    0x1a: /^[^\u0080-\uffff]*$/,
  };
  return (gn.value as pkijs.RelativeDistinguishedNames).typesAndValues.map((atv) => {
    const value = atv.value as asn1js.AsnType;
    const raw = rawOf(value);
    const content = raw.subarray(raw.length - value.valueBlock.blockLength);
    const latin1 = new TextDecoder("latin1").decode(content);
    const text = stringOf(value);
    const fits = text !== undefined && NAME_STRING_TAGS.includes(raw[0]!) &&
      (alphabet[raw[0]!]?.test(latin1) ?? true) && (raw[0] !== 0x0c || isUtf8(content));
    return `${TSA_NAME_ATTRIBUTES[atv.type] ?? atv.type}=${fits ? text : `#${hex(raw)}`}`;
  }).join(", ");
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Elements of the input, found by position in its DER tree. */
type Pick = (tree: DerNode) => { parent: DerNode; index: number }[];

/**
 * True when, with the element `pick` selects removed (or replaced by `replacement`), or each of
 * a list of parts so edited — ours parsed the input, so it is DER — the peer parses it and
 * agrees with ours, and ours saw nothing else differently from the original than `fields`.
 */
function agreesWithout(
  c: Case,
  parts: Pick | readonly { pick: Pick; with?: DerNode }[],
  fields: readonly (keyof TimestampView)[],
  replacement?: DerNode,
): boolean {
  if (!c.ours.ok) return false;
  const tree = derTree(c.der);
  const edits = typeof parts === "function" ? [{ pick: parts, with: replacement }] : parts;
  let changed = false;
  for (const edit of edits) {
    // Last first, so that removals from one parent keep the other indexes valid.
    for (const at of edit.pick(tree).sort((a, b) => b.index - a.index)) {
      at.parent.children!.splice(at.index, 1, ...(edit.with ? [edit.with] : []));
      changed = true;
    }
  }
  if (!changed) return false;
  const der = derEncode(tree);
  const mine = ours(der), peer = theirs(der);
  if (!mine.ok || !peer.side.ok || fieldDiffs(mine.view, peer.side.view).length > 0) return false;
  return fieldDiffs(c.ours.view, mine.view).every((d) => fields.some((f) => d.startsWith(`${f}:`)));
}

/** The token inside a TimeStampResp tree, or the tree itself. */
function tokenNode(tree: DerNode): DerNode {
  return tree.children?.[0]?.tag === 0x30 ? tree.children[1]! : tree;
}

function signedDataNode(tree: DerNode): DerNode | undefined {
  return tokenNode(tree).children?.[1]?.children?.[0];
}

/** The TSTInfo: encapContentInfo [0] EXPLICIT OCTET STRING, holding it. */
function tstInfoNode(tree: DerNode): DerNode | undefined {
  return signedDataNode(tree)?.children?.[2]?.children?.[1]?.children?.[0]?.inner;
}

function signerNode(tree: DerNode): DerNode | undefined {
  return signedDataNode(tree)?.children?.at(-1)?.children?.[0];
}

/** Picks the children of `parent` that `test` accepts (the first only, unless `all`). */
function child(
  parent: DerNode | undefined,
  test: (n: DerNode, i: number) => boolean,
  all = false,
): { parent: DerNode; index: number }[] {
  const out: { parent: DerNode; index: number }[] = [];
  parent?.children?.forEach((n, index) => {
    if ((all || out.length === 0) && test(n, index)) out.push({ parent, index });
  });
  return out;
}

/** The DER of a dotted OID (for finding attributes in a DER tree). */
function oidHex(dotted: string): string {
  return hex(new asn1js.ObjectIdentifier({ value: dotted }).toBER());
}

/** The ESSCertID(v2) of the signing-certificate attribute. */
function essCertId(tree: DerNode): DerNode | undefined {
  const attrs = signerNode(tree)?.children?.find((n) => n.tag === 0xa0);
  const ess = attrs?.children?.find((a) => {
    const oid = a.children?.[0]?.content;
    return oid !== undefined && ESS.map(oidHex).includes(hex(derEncode(a.children![0]!)));
  });
  return ess?.children?.[1]?.children?.[0]?.children?.[0]?.children?.[0];
}

/**
 * Parts of a token ours does not read while parsing, as Go's digitorus/pkcs7 and
 * digitorus/timestamp (under sigstore-go) keep them raw or skip them, each with a neutral
 * replacement (none: removed) and the fields of ours's view the replacement may change.
 */
const OPAQUE_PARTS: {
  name: string;
  pick: Pick;
  fields: (keyof TimestampView)[];
  with?: DerNode;
}[] = [
  {
    name: "embedded certificates (parsed by verifyTimestamp, which refuses bad ones)",
    pick: (t) => child(signedDataNode(t), (n) => n.tag === 0xa0),
    fields: ["certificates"],
  },
  {
    name: "digestAlgorithms parameters (the SignerInfo's digest algorithm is the one used)",
    pick: (t) =>
      (signedDataNode(t)?.children?.[1]?.children ?? []).flatMap((alg) =>
        child(alg, (_, i) => i === 1)
      ),
    fields: [],
  },
  { name: "CRLs", pick: (t) => child(signedDataNode(t), (n) => n.tag === 0xa1), fields: [] },
  {
    name: "the signer's issuer name (matched byte for byte against a certificate)",
    pick: (t) => child(signerNode(t)?.children?.[1], (_, i) => i === 0),
    fields: ["signerId"],
    with: { tag: 0x30, children: [] },
  },
  {
    name: "unsigned attributes",
    pick: (t) => child(signerNode(t), (n) => n.tag === 0xa1),
    fields: [],
  },
  {
    name: "signature algorithm parameters",
    pick: (t) => child(signerNode(t)?.children?.[4], (_, i) => i === 1),
    fields: [],
  },
  {
    name: "signed attributes ours does not interpret (covered by the signature as bytes)",
    pick: (t) =>
      child(signerNode(t)?.children?.find((n) => n.tag === 0xa0), (a) => {
        const oid = a.children?.[0];
        return !oid || ![CONTENT_TYPE, MESSAGE_DIGEST, ...ESS].map(oidHex).includes(
          hex(derEncode(oid)),
        );
      }, true),
    fields: ["signedAttributes"],
  },
  {
    name: "ESS issuerSerial",
    pick: (t) => {
      const id = essCertId(t);
      const hash = id?.children?.findIndex((n) => n.tag === 0x04) ?? -1;
      return child(id, (_, i) => hash >= 0 && i === hash + 1);
    },
    fields: ["signedAttributes"],
  },
  {
    name: "TSA name (informational; ours renders what it cannot read as #hex)",
    pick: (t) => child(tstInfoNode(t), (n) => n.tag === 0xa0),
    fields: ["tsaName", "tstInfo"],
  },
];

const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    name: "not DER",
    reason: "RFC 3161 tokens are DER (the signature covers DER signed attributes, and " +
      "sigstore-go's parser is strict); pkijs reads BER and skips what its schema does not " +
      "name. Checked: asn1js leaves bytes of the input or the TSTInfo unread or re-encodes " +
      "them differently, or pkijs's re-encoding of what it decoded is not the input.",
    applies: (c) =>
      !c.ours.ok &&
      (notDer(c.der) || (!!c.theirs.eContent && notDer(c.theirs.eContent)) || notPkijsDer(c)),
  },
  {
    name: "not a TSTInfo in SignedData",
    reason: "RFC 3161 2.4.2: a TimeStampToken is a ContentInfo of SignedData whose " +
      "eContentType is id-ct-TSTInfo, with one signer (sigstore-go verifies one). Checked on " +
      "pkijs's content types and signer list.",
    applies: (c) => {
      const { token, signed } = c.theirs;
      return !c.ours.ok && !!token && (token.contentType !== "1.2.840.113549.1.7.2" ||
        (!!signed && (signed.encapContentInfo.eContentType !== "1.2.840.113549.1.9.16.1.4" ||
          signed.signerInfos.length !== 1)));
    },
  },
  {
    name: "the TSA refused",
    reason: "RFC 3161 2.4.2: only a status of granted (0) or grantedWithMods (1) comes with a " +
      "usable token. Checked on pkijs's PKIStatus.",
    applies: (c) => {
      const status = c.theirs.resp?.status.status;
      return !c.ours.ok && status !== undefined && status !== 0 && status !== 1;
    },
  },
  {
    name: "signed attributes RFC 5652 refuses",
    reason: "RFC 5652 5.3 and 11: signed attributes are required here (the signature covers " +
      "them), must hold one content-type (an OID) and one message-digest (an OCTET STRING), " +
      "each single-valued and not repeated, and RFC 5035's signing-certificate attribute " +
      "has a fixed shape. Checked on pkijs's SignerInfo, with asn1js for the values.",
    applies: (c) => {
      const signer = c.theirs.signed?.signerInfos[0];
      if (c.ours.ok || !signer) return false;
      const attrs = signer.signedAttrs?.attributes;
      if (!attrs) return true;
      const types = attrs.map((a) => a.type);
      const one = (type: string) => attrs.filter((a) => a.type === type);
      const ct = one(CONTENT_TYPE), md = one(MESSAGE_DIGEST);
      return new Set(types).size !== types.length || ct.length !== 1 || md.length !== 1 ||
        ct[0]!.values.length !== 1 || !(ct[0]!.values[0] instanceof asn1js.ObjectIdentifier) ||
        md[0]!.values.length !== 1 || !(md[0]!.values[0] instanceof asn1js.OctetString) ||
        attrs.some((a) => ESS.includes(a.type) && essMalformed(a));
    },
  },
  {
    name: "hash algorithm",
    reason: "Ours takes SHA-256/384/512 (what Sigstore's TSAs and sigstore-go use; not SHA-1), " +
      "with absent or NULL parameters (RFC 5754), and an imprint of that hash's length " +
      "(RFC 3161 2.4.2). Checked on pkijs's messageImprint and digestAlgorithm.",
    applies: (c) => {
      const { tst, signed } = c.theirs;
      if (c.ours.ok || !tst) return false;
      const imprint = tst.messageImprint;
      const name = HASH_NAMES[imprint.hashAlgorithm.algorithmId] ?? "";
      const signer = signed?.signerInfos[0];
      return !sha2Identifier(imprint.hashAlgorithm) ||
        imprint.hashedMessage.valueBlock.valueHexView.length !== DIGEST_LENGTH[name] ||
        (!!signer && !sha2Identifier(signer.digestAlgorithm));
    },
  },
  {
    name: "version",
    reason: "RFC 3161: TSTInfo version is v1 (1); RFC 5652: SignerInfo version is 1 or 3. " +
      "Checked on pkijs's version fields.",
    applies: (c) => {
      const { tst, signed } = c.theirs;
      const v = signed?.signerInfos[0]?.version;
      return !c.ours.ok &&
        ((!!tst && tst.version !== 1) || (v !== undefined && v !== 1 && v !== 3));
    },
  },
  {
    name: "INTEGER or OBJECT IDENTIFIER not DER",
    reason: "X.690 8.3 and 8.19: an INTEGER has content, without a redundant leading byte; an " +
      "OBJECT IDENTIFIER has content. asn1js keeps such content as it is (so the round trip " +
      "does not see it). Checked with asn1js on the input and the TSTInfo.",
    applies: (c) =>
      !c.ours.ok && blocks(c.der).some((b) => {
        if (b instanceof asn1js.ObjectIdentifier) return b.valueBlock.value.length === 0;
        if (!(b instanceof asn1js.Integer)) return false;
        const v = b.valueBlock.valueHexView;
        return v.length === 0 ||
          (v.length > 1 && ((v[0] === 0 && v[1]! < 0x80) || (v[0] === 0xff && v[1]! >= 0x80)));
      }),
  },
  {
    name: "genTime not a DER GeneralizedTime",
    reason: "RFC 3161 2.4.2: genTime is YYYYMMDDhhmmss[.s...]Z, a real date. Checked on the " +
      "text asn1js read from the TSTInfo.",
    applies: (c) =>
      !c.ours.ok && blocks(c.theirs.eContent ?? new Uint8Array()).some((b) => {
        if (!(b instanceof asn1js.GeneralizedTime)) return false;
        const text = new TextDecoder("latin1").decode(b.valueBlock.valueHexView);
        const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d{1,9})?Z$/.exec(text);
        if (!m) return true;
        const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as number[];
        const t = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
        return t.getUTCMonth() !== mo! - 1 || t.getUTCDate() !== d || t.getUTCHours() !== h ||
          t.getUTCMinutes() !== mi || t.getUTCSeconds() !== s;
      }),
  },
  {
    name: "a part ours does not read while parsing",
    reason: "Ours, like Go's digitorus/pkcs7 and digitorus/timestamp under sigstore-go, keeps " +
      "some parts raw or skips them (see OPAQUE_PARTS: embedded certificates, which " +
      "verifyTimestamp parses and refuses when bad; digestAlgorithms parameters; CRLs; the " +
      "signer's issuer name; unsigned attributes; signature algorithm parameters; signed " +
      "attributes other than the three it reads; ESS issuerSerial; the TSA name); pkijs " +
      "parses them and refuses what it cannot read. Checked: with that part removed or made " +
      "neutral, pkijs parses the token and agrees with ours.",
    applies: (c) =>
      !c.theirs.side.ok &&
      (OPAQUE_PARTS.some((p) => agreesWithout(c, p.pick, p.fields, p.with)) ||
        agreesWithout(c, OPAQUE_PARTS, OPAQUE_PARTS.flatMap((p) => p.fields))),
  },
  {
    name: "embedded certificate not DER",
    reason: "Ours keeps each embedded certificate's bytes as they are; pkijs re-encodes what " +
      "it decoded, which differs when the certificate is not DER (verifyTimestamp then " +
      "refuses it). Checked: only the certificates differ, and without them pkijs agrees.",
    applies: (c) =>
      c.theirs.side.ok && c.ours.ok &&
      fieldDiffs(c.ours.view, c.theirs.side.view).every((d) => d.startsWith("certificates:")) &&
      agreesWithout(c, OPAQUE_PARTS[0]!.pick, ["certificates"]),
  },
];

function fieldDiffs(a: TimestampView, b: TimestampView): string[] {
  const out: string[] = [];
  for (const k of Object.keys(a) as (keyof TimestampView)[]) {
    const x = JSON.stringify(a[k]), y = JSON.stringify(b[k]);
    if (x !== y) out.push(`${k}: ours ${x} theirs ${y}`);
  }
  return out;
}

function describe(c: Case): string {
  const side = (s: Side) => s.ok ? "parses" : `refuses (${s.error})`;
  const t = c.theirs.side;
  if (c.ours.ok && t.ok) {
    return `${c.source}: fields differ: ${fieldDiffs(c.ours.view, t.view).join("; ")}`;
  }
  return `${c.source}: ours ${side(c.ours)}, theirs ${side(t)}`;
}

function agree(c: Case): boolean {
  const t = c.theirs.side;
  if (c.ours.ok !== t.ok) return false;
  return !c.ours.ok || !t.ok || fieldDiffs(c.ours.view, t.view).length === 0;
}

const MUTANTS_PER_TIMESTAMP = Number(Deno.env.get("DIFF_MUTANTS") ?? 150);

Deno.test("differential RFC 3161: ours and pkijs agree on the fixtures and mutations", async () => {
  const { timestamps } = await fixtureCorpus();
  assert(timestamps.length >= 8, `only ${timestamps.length} fixture timestamps found`);
  for (const b of timestamps) {
    const c: Case = { ...b, ours: ours(b.der), theirs: theirs(b.der) };
    assert(agree(c), `unmutated ${describe(c)}`);
  }
  const rng = new Rng(Number(Deno.env.get("DIFF_SEED") ?? 0x5eed14));
  const inputs = timestamps.flatMap((b) =>
    mutants(b.der, rng, MUTANTS_PER_TIMESTAMP).map((m) => ({
      source: `${b.source} (${m.what})`,
      der: m.der,
    }))
  );
  const unexplained: string[] = [];
  const explained = new Map<string, number>();
  let both = 0, neither = 0;
  for (const input of inputs) {
    const c: Case = { ...input, ours: ours(input.der), theirs: theirs(input.der) };
    if (agree(c)) {
      if (c.ours.ok) both++;
      else neither++;
      continue;
    }
    const known = KNOWN_DIFFERENCES.find((k) => {
      try {
        return k.applies(c);
      } catch {
        return false; // the peer cannot decode what the rule inspects: the rule does not apply
      }
    });
    if (known) explained.set(known.name, (explained.get(known.name) ?? 0) + 1);
    else unexplained.push(describe(c));
  }
  console.log(
    `RFC 3161: ${timestamps.length} timestamps and ${inputs.length} mutants; both parse and ` +
      `agree: ${both}; both refuse: ${neither}; known differences: ` +
      ([...explained].map(([k, n]) => `${k} ${n}`).join(", ") || "none"),
  );
  if (Deno.env.get("DIFF_EXPLORE")) console.log(unexplained.join("\n"));
  assert(both > 0 && neither > 0, "the mutants reach both outcomes");
  assertEquals(unexplained.slice(0, 30), [], `${unexplained.length} unexplained disagreements`);
});
