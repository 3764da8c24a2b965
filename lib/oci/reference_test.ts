import { assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { isLoopbackRegistry, parseReference, parseRepository, referenceName } from "./reference.ts";

Deno.test("reference: Docker Hub defaults, registries, ports, tags, digests", () => {
  const D = "sha256:" + "a".repeat(64);
  const cases: [string, string][] = [
    ["busybox", "index.docker.io/library/busybox:latest"],
    ["docker.io/busybox", "index.docker.io/library/busybox:latest"],
    ["index.docker.io/library/busybox:1.36", "index.docker.io/library/busybox:1.36"],
    ["org/img", "index.docker.io/org/img:latest"],
    ["ghcr.io/org/img:v1", "ghcr.io/org/img:v1"],
    ["localhost/img", "localhost/img:latest"],
    ["localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"],
    ["127.0.0.1:5000/test/single:v1", "127.0.0.1:5000/test/single:v1"],
    [`127.0.0.1:5000/x@${D}`, `127.0.0.1:5000/x@${D}`],
    [`ghcr.io/x:tag@${D}`, `ghcr.io/x@${D}`],
    ["[::1]:5000/x", "[::1]:5000/x:latest"],
    [
      "my-registry.example.com:443/a_b/c-d.e:V1.2_3",
      "my-registry.example.com:443/a_b/c-d.e:V1.2_3",
    ],
  ];
  for (const [input, want] of cases) {
    assertEquals(referenceName(parseReference(input)), want, input);
  }
  const r = parseReference("busybox");
  assertEquals(r, { registry: "index.docker.io", repository: "library/busybox", tag: "latest" });
});

Deno.test("reference: malformed references are REF_INVALID with a reason", () => {
  const bad = [
    "",
    " busybox",
    "Busybox",
    "ghcr.io/Org/img",
    "img:",
    "img:-bad",
    "img@sha256:abc",
    "img@md5:" + "a".repeat(32),
    "ghcr.io/",
    "a//b",
    "a/b/",
    "img:" + "t".repeat(129),
    "bad host!/x",
    "x/-y",
    "ghcr.io/x:tag:tag2",
  ];
  for (const ref of bad) {
    let code = "";
    try {
      parseReference(ref);
    } catch (e) {
      code = e instanceof CosignError ? e.code : "other";
      if (e instanceof CosignError) {
        assertEquals(e.message.startsWith("Invalid image reference"), true);
      }
    }
    assertEquals(code, "REF_INVALID", JSON.stringify(ref));
  }
});

Deno.test("reference: repositories and loopback hosts", () => {
  assertEquals(parseRepository("localhost:5001/hello"), {
    registry: "localhost:5001",
    repository: "hello",
  });
  assertEquals(parseRepository("busybox"), {
    registry: "index.docker.io",
    repository: "library/busybox",
  });
  for (
    const h of [
      "localhost",
      "localhost:5000",
      "a.localhost:1",
      "127.0.0.1:5000",
      "127.1.2.3",
      "[::1]:5000",
    ]
  ) {
    assertEquals(isLoopbackRegistry(h), true, h);
  }
  for (
    const h of ["10.0.0.1:5000", "192.168.1.1", "ghcr.io", "localhost.example.com", "128.0.0.1"]
  ) {
    assertEquals(isLoopbackRegistry(h), false, h);
  }
});
