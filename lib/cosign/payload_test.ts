import { assertEquals } from "../../tests/helpers.ts";
import { parseAnnotations, simpleSigningPayload } from "./payload.ts";

const D = "sha256:" + "ab".repeat(32);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("payload: exact bytes without and with annotations", () => {
  assertEquals(
    dec(simpleSigningPayload("index.docker.io/library/busybox", D)),
    `{"critical":{"identity":{"docker-reference":"index.docker.io/library/busybox"},"image":{"docker-manifest-digest":"${D}"},"type":"cosign container image signature"},"optional":null}`,
  );
  assertEquals(
    dec(simpleSigningPayload("localhost:5000/x", D, { z: "1", a: "<b>&\u2028" })),
    `{"critical":{"identity":{"docker-reference":"localhost:5000/x"},"image":{"docker-manifest-digest":"${D}"},"type":"cosign container image signature"},"optional":{"a":"\\u003cb\\u003e\\u0026\\u2028","z":"1"}}`,
  );
});

Deno.test("payload: -a values split as CSV on the first '=', later keys win", () => {
  assertEquals(parseAnnotations(["x=1,y=2", "k=a=b", "x=3", '"q=1,2",r=']), {
    x: "3",
    y: "2",
    k: "a=b",
    q: "1,2",
    r: "",
  });
});
