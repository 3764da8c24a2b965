/**
 * PEM encoding and decoding, as Go's `encoding/pem` does it: 64-column base64 bodies,
 * optional `Key: value` headers, and a body that must be valid base64 (so an OpenPGP armour
 * block, whose checksum line is not base64, is refused).
 * @module
 */

import { CosignError } from "../errors.ts";
import { fromBase64, toBase64 } from "./encoding.ts";

/** One decoded PEM block. */
export interface PemBlock {
  /** The label between `BEGIN ` and the dashes, e.g. `PUBLIC KEY`. */
  type: string;
  /** The decoded body. */
  bytes: Uint8Array<ArrayBuffer>;
}

const BEGIN_RE = /-----BEGIN ([^\r\n]*?)-----\r?\n/;

/**
 * Decodes the first PEM block in `text`.
 * @param text PEM text, possibly with other text around the block
 * @param what a name for error messages, e.g. the file name
 * @throws {CosignError} `PEM_INVALID` when there is no complete, well-formed block
 */
export function decodePem(text: string, what: string): PemBlock {
  const begin = BEGIN_RE.exec(text);
  if (!begin) {
    throw new CosignError("PEM_INVALID", `Cannot read ${what}: no PEM block found`);
  }
  const type = begin[1] ?? "";
  const endMarker = `-----END ${type}-----`;
  const bodyStart = begin.index + begin[0].length;
  const end = text.indexOf(endMarker, bodyStart);
  if (end < 0) {
    throw new CosignError(
      "PEM_INVALID",
      `Cannot read ${what}: PEM block "${type}" has no END line (truncated file?)`,
    );
  }
  const lines = text.slice(bodyStart, end).split(/\r?\n/).map((l) => l.trim());
  let i = 0;
  // RFC 1421 headers: "Key: value" lines, then a blank line.
  if (lines[0]?.includes(":")) {
    while (i < lines.length && lines[i] !== "") i++;
  }
  const body = lines.slice(i).join("");
  const bytes = fromBase64(body);
  if (bytes === undefined || bytes.length === 0) {
    throw new CosignError(
      "PEM_INVALID",
      `Cannot read ${what}: invalid pem block "${type}" (body is not base64)`,
    );
  }
  return { type, bytes };
}

/** Encodes bytes as a PEM block with a 64-column body and a trailing newline. */
export function encodePem(type: string, bytes: Uint8Array): string {
  const b64 = toBase64(bytes);
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + "\n";
  return `-----BEGIN ${type}-----\n${body}-----END ${type}-----\n`;
}
