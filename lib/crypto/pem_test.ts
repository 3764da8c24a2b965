import { assert, assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { decodePem, encodePem } from "./pem.ts";

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof CosignError ? e.code : "not a CosignError";
  }
  return undefined;
}

Deno.test("pem: round trip, 64-column body, trailing newline", () => {
  const bytes = new Uint8Array(100).map((_, i) => i);
  const pem = encodePem("PUBLIC KEY", bytes);
  const lines = pem.split("\n");
  assertEquals(lines[0], "-----BEGIN PUBLIC KEY-----");
  assertEquals(lines[1]!.length, 64);
  assert(pem.endsWith("-----END PUBLIC KEY-----\n"), "trailing newline");
  const back = decodePem("junk before\n" + pem + "junk after", "x");
  assertEquals(back.type, "PUBLIC KEY");
  assertEquals([...back.bytes], [...bytes]);
});

Deno.test("pem: headers are skipped; CRLF accepted", () => {
  const pem = "-----BEGIN X-----\r\nProc-Type: 4\r\n\r\nAQID\r\n-----END X-----\r\n";
  assertEquals([...decodePem(pem, "x").bytes], [1, 2, 3]);
});

Deno.test("pem: malformed blocks are refused with PEM_INVALID", () => {
  assertEquals(code(() => decodePem("", "x")), "PEM_INVALID");
  assertEquals(code(() => decodePem("not pem at all", "x")), "PEM_INVALID");
  assertEquals(code(() => decodePem("-----BEGIN X-----\nAQID\n", "x")), "PEM_INVALID");
  assertEquals(
    code(() => decodePem("-----BEGIN X-----\nA!ID\n-----END X-----\n", "x")),
    "PEM_INVALID",
  );
  assertEquals(code(() => decodePem("-----BEGIN X-----\n-----END X-----\n", "x")), "PEM_INVALID");
  // OpenPGP armour: the checksum line is not base64.
  const pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: x\n\nAQID\n=8+cN\n" +
    "-----END PGP PRIVATE KEY BLOCK-----\n";
  assertEquals(code(() => decodePem(pgp, "x")), "PEM_INVALID");
});
