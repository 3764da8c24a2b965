import { assertEquals } from "../../tests/helpers.ts";
import type { CosignError } from "../errors.ts";
import { matchPlatforms, parsePlatform, type PlatformEntry, selectPlatform } from "./platform.ts";
import type { Manifest } from "./registry.ts";

const entry = (digest: string, platform: PlatformEntry["platform"]): PlatformEntry => ({
  digest,
  platform,
});

Deno.test("parsePlatform: os/arch[/variant][:osversion], as go-containerregistry", () => {
  assertEquals(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  assertEquals(parsePlatform(" linux/arm/v7 "), {
    os: "linux",
    architecture: "arm",
    variant: "v7",
  });
  assertEquals(parsePlatform("windows/amd64:10.0.17763"), {
    os: "windows",
    architecture: "amd64",
    osVersion: "10.0.17763",
  });
  assertEquals(parsePlatform("linux"), { os: "linux", architecture: "" });
  for (const bad of ["", "/amd64", "linux/arm/v7/x", "linux//v7", "a:b:c"]) {
    let code = "";
    try {
      parsePlatform(bad);
    } catch (e) {
      code = (e as CosignError).code;
    }
    assertEquals(code, "USAGE", bad);
  }
});

Deno.test("matchPlatforms: parts given must match; Windows three-part os.version is a prefix", () => {
  const all = [
    entry("a", { os: "linux", architecture: "arm", variant: "v6" }),
    entry("b", { os: "linux", architecture: "arm", variant: "v7" }),
    entry("c", { os: "linux", architecture: "amd64" }),
    entry("w", { os: "windows", architecture: "amd64", osVersion: "10.0.17763.1234" }),
  ];
  const m = (s: string) => matchPlatforms(parsePlatform(s), all).map((e) => e.digest);
  assertEquals(m("linux/arm"), ["a", "b"]);
  assertEquals(m("linux/arm/v7"), ["b"]);
  assertEquals(m("linux/amd64"), ["c"]);
  assertEquals(m("linux"), ["a", "b", "c"]);
  assertEquals(m("windows/amd64:10.0.17763"), ["w"]);
  assertEquals(m("windows/amd64:10.0.17763.1234"), ["w"]);
  assertEquals(m("windows/amd64:10.0.1"), []);
  assertEquals(m("linux/s390x"), []);
});

Deno.test("selectPlatform: none, one, several; entries without a platform never chosen", () => {
  const index: Manifest = {
    bytes: new Uint8Array(),
    digest: "sha256:" + "0".repeat(64),
    mediaType: "application/vnd.oci.image.index.v1+json",
    json: {
      manifests: [
        { digest: "sha256:1", platform: { os: "linux", architecture: "arm", variant: "v6" } },
        { digest: "sha256:2", platform: { os: "linux", architecture: "arm", variant: "v7" } },
        { digest: "sha256:3" },
      ],
    },
  };
  assertEquals(selectPlatform(index, "linux/arm/v7", "r").digest, "sha256:2");
  const fails = (spec: string) => {
    try {
      selectPlatform(index, spec, "r");
    } catch (e) {
      return [(e as CosignError).code, (e as CosignError).message];
    }
    return [];
  };
  assertEquals(fails("linux/arm"), [
    "PLATFORM_AMBIGUOUS",
    "--platform linux/arm matches more than one image of r: linux/arm/v6, linux/arm/v7; name the variant too",
  ]);
  assertEquals(fails("linux/amd64"), [
    "IMAGE_NOT_FOUND",
    "r has no image for platform linux/amd64 (it has: linux/arm/v6, linux/arm/v7)",
  ]);
  assertEquals(fails("linux/arm/v7"), []);
  let single = "";
  try {
    selectPlatform(
      { ...index, mediaType: "application/vnd.oci.image.manifest.v1+json" },
      "linux/arm",
      "r",
    );
  } catch (e) {
    single = (e as CosignError).message;
  }
  assertEquals(single, "--platform linux/arm: r is a single image, not a multi-platform index");
});
