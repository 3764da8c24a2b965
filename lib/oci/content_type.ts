/**
 * Media-type sniffing for `cosign upload blob` without `--ct`: the common cases of Go's
 * `http.DetectContentType` (the part before `;`), looking at the first 512 bytes.
 * @module
 */

const SIGNATURES: [bytes: number[], type: string][] = [
  [[0x25, 0x50, 0x44, 0x46, 0x2d], "application/pdf"],
  [[0x25, 0x21, 0x50, 0x53, 0x2d, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x2d], "application/postscript"],
  [[0x1f, 0x8b, 0x08], "application/x-gzip"],
  [[0x50, 0x4b, 0x03, 0x04], "application/zip"],
  [[0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x00], "application/x-rar-compressed"],
  [[0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00], "application/x-rar-compressed"],
  [[0x00, 0x61, 0x73, 0x6d], "application/wasm"],
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "image/png"],
  [[0xff, 0xd8, 0xff], "image/jpeg"],
  [[0x47, 0x49, 0x46, 0x38, 0x37, 0x61], "image/gif"],
  [[0x47, 0x49, 0x46, 0x38, 0x39, 0x61], "image/gif"],
  [[0x42, 0x4d], "image/bmp"],
  [[0x4f, 0x67, 0x67, 0x53, 0x00], "application/ogg"],
  [[0x7f, 0x45, 0x4c, 0x46], "application/octet-stream"],
];

function startsWith(b: Uint8Array, sig: number[]): boolean {
  return sig.every((x, i) => b[i] === x);
}

/** Sniffs a media type from the first bytes of a file. */
export function detectContentType(head: Uint8Array): string {
  const b = head.subarray(0, 512);
  for (const [sig, type] of SIGNATURES) if (startsWith(b, sig)) return type;
  // UTF-16/UTF-8 byte-order marks mean text.
  if (startsWith(b, [0xfe, 0xff]) || startsWith(b, [0xff, 0xfe])) return "text/plain";
  if (startsWith(b, [0xef, 0xbb, 0xbf])) return "text/plain";
  let i = 0;
  while (i < b.length && [0x09, 0x0a, 0x0c, 0x0d, 0x20].includes(b[i]!)) i++;
  const text = new TextDecoder("latin1").decode(b.subarray(i, i + 16)).toLowerCase();
  if (/^<!doctype html|^<html|^<head|^<script|^<body|^<!--|^<h1|^<p[ >]|^<table|^<div/.test(text)) {
    return "text/html";
  }
  if (text.startsWith("<?xml")) return "text/xml";
  // Go: text when no byte is a "binary data byte".
  const binary = b.some((x) =>
    x <= 0x08 || x === 0x0b || (x >= 0x0e && x <= 0x1a) || (x >= 0x1c && x <= 0x1f)
  );
  return binary ? "application/octet-stream" : "text/plain";
}
