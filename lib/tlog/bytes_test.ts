import { assert, assertEquals } from "../../tests/helpers.ts";
import { assertThrowsCode } from "./_fixtures.ts";
import { bytesEqual, decodeProtoBytes, toUint } from "./bytes.ts";

Deno.test("bytes: protojson bytes accept standard and URL-safe base64, padded or not", () => {
  const want = [0xfb, 0xff, 0xbf, 0x01];
  for (const text of ["+/+/AQ==", "+/+/AQ", "-_-_AQ==", "-_-_AQ"]) {
    assertEquals([...decodeProtoBytes(text)!], want, text);
  }
  assertEquals(decodeProtoBytes("")?.length, 0);
  for (const bad of ["+_", "A", "AQ=", "AQ===", "A Q=", "AQ==AQ==", "é"]) {
    assertEquals(decodeProtoBytes(bad), undefined, bad);
  }
});

Deno.test("bytes: bytesEqual and toUint", () => {
  assert(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), "equal");
  assert(!bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), "differ");
  assert(!bytesEqual(new Uint8Array([1]), new Uint8Array([1, 0])), "length");
  assert(toUint("9223372036854775807", "x", "TLOG_INVALID") === 2n ** 63n - 1n, "int64 string");
  assert(toUint(5, "x", "TLOG_INVALID") === 5n, "number");
  for (const bad of [-1, 1.5, 2 ** 60, "0x10", "", " 1", "-3"]) {
    assertThrowsCode(
      () => toUint(bad, "x", "TLOG_INVALID"),
      "TLOG_INVALID",
      /^Invalid x/,
      String(bad),
    );
  }
});
