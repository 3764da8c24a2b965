import { createHash } from "node:crypto";
import { CosignError } from "../errors.ts";
import { OciLayout } from "../oci/layout.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../oci/media_types.ts";
import {
  EMPTY_CONFIG,
  EMPTY_CONFIG_DIGEST,
  indexReferrers,
  listReferrers,
  type Referrer,
  referrerManifest,
  referrersTag,
  referrersTagRef,
  updateReferrersIndex,
} from "./referrers.ts";

function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg}: got ${a}, expected ${e}`);
}

const repo = { registry: "layout", repository: "layout" };
const subject = "sha256:" + "ab".repeat(32);
const digestOf = (n: number) => "sha256:" + n.toString(16).padStart(64, "0");
const entry = (n: number, extra: Partial<Referrer> = {}): Referrer => ({
  mediaType: OCI_MANIFEST,
  digest: digestOf(n),
  size: 100 + n,
  artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
  annotations: { "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1" },
  ...extra,
});

async function layout(): Promise<{ store: OciLayout } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  const store = await OciLayout.open(dir, { create: true });
  return {
    store,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

async function fallbackIndex(store: OciLayout): Promise<Record<string, unknown>[]> {
  const m = await store.getManifest(referrersTagRef(repo, subject));
  assertEquals(m.mediaType, OCI_INDEX, "the fallback tag holds an OCI index");
  return m.json.manifests as Record<string, unknown>[];
}

Deno.test("referrers: the fallback tag of sha256:<hex> is sha256-<hex>; the empty config is {}", () => {
  assertEquals(referrersTag(subject), "sha256-" + "ab".repeat(32));
  assertEquals(
    "sha256:" + createHash("sha256").update(EMPTY_CONFIG).digest("hex"),
    EMPTY_CONFIG_DIGEST,
  );
});

Deno.test("referrers: the manifest has cosign's layout, subject and artifact type", () => {
  const bytes = referrerManifest({
    subject: { mediaType: OCI_MANIFEST, digest: subject, size: 7 },
    artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    layer: {
      mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      digest: digestOf(1),
      size: 3,
    },
    annotations: { "b": "2", "a": "<1>" },
  });
  const text = new TextDecoder().decode(bytes);
  const json = JSON.parse(text);
  assertEquals(Object.keys(json), [
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "annotations",
    "subject",
    "artifactType",
  ]);
  assertEquals(json.subject, { mediaType: OCI_MANIFEST, size: 7, digest: subject });
  assertEquals(json.config.digest, EMPTY_CONFIG_DIGEST);
  assertEquals(json.config.artifactType, json.artifactType);
  assertEquals(Object.keys(json.annotations), ["a", "b"], "annotations sorted as Go writes maps");
  if (!text.includes('"\\u003c1\\u003e"')) throw new Error("strings are escaped as Go's json");
});

Deno.test("referrers: updating the fallback index appends, deduplicates and sorts by digest", async () => {
  await using l = await layout();
  await updateReferrersIndex(l.store, repo, subject, { add: [entry(5)] }, { settleMs: 1 });
  await updateReferrersIndex(l.store, repo, subject, { add: [entry(3), entry(5), entry(9)] }, {
    settleMs: 1,
  });
  const got = await fallbackIndex(l.store);
  assertEquals(got.map((e) => e.digest), [digestOf(3), digestOf(5), digestOf(9)]);
  assertEquals(got[0]!.artifactType, "application/vnd.dev.sigstore.bundle.v0.3+json");
  assertEquals(
    (got[0]!.annotations as Record<string, string>)["dev.sigstore.bundle.predicateType"],
    "https://sigstore.dev/cosign/sign/v1",
    "the entry carries the manifest's annotations",
  );
  await updateReferrersIndex(l.store, repo, subject, { remove: [digestOf(5)] }, { settleMs: 1 });
  assertEquals((await fallbackIndex(l.store)).map((e) => e.digest), [digestOf(3), digestOf(9)]);
});

Deno.test("referrers: a fallback tag that is not an index is reported, and never overwritten", async () => {
  await using l = await layout();
  const image = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: "application/vnd.oci.empty.v1+json",
        digest: EMPTY_CONFIG_DIGEST,
        size: 2,
      },
      layers: [],
    }),
  );
  await l.store.putManifest(referrersTagRef(repo, subject), image, OCI_MANIFEST);
  const listing = await listReferrers(l.store, repo, subject);
  assertEquals(listing.referrers, []);
  if (!/is not an index/.test(listing.skipped[0]?.reason ?? "")) {
    throw new Error(`expected the reason to be listed, got ${JSON.stringify(listing.skipped)}`);
  }
  let code = "none";
  try {
    await updateReferrersIndex(l.store, repo, subject, { add: [entry(1)] }, { settleMs: 1 });
  } catch (e) {
    if (!(e instanceof CosignError)) throw e;
    code = e.code;
  }
  assertEquals(code, "MANIFEST_INVALID");
  const still = await l.store.getManifest(referrersTagRef(repo, subject));
  assertEquals(still.mediaType, OCI_MANIFEST, "the image at the tag is untouched");
});

Deno.test("referrers: index entries without a valid digest or size are skipped with a reason", () => {
  const r = indexReferrers({
    manifests: [
      { mediaType: OCI_MANIFEST, digest: "sha256:zz", size: 1 },
      { mediaType: OCI_MANIFEST, digest: digestOf(1) },
      { mediaType: OCI_MANIFEST, digest: digestOf(2), size: 3 },
      { mediaType: OCI_MANIFEST, digest: digestOf(2), size: 3 },
    ],
  }, "test index");
  assertEquals(r.referrers.map((x) => x.digest), [digestOf(2)]);
  assertEquals(r.skipped.length, 2);
  assertEquals(indexReferrers({}, "empty").skipped[0]?.reason, "empty has no manifests list");
});
