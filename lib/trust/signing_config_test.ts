import {
  parseSigningConfig,
  selectServices,
  type Service,
  SIGNING_CONFIG_MEDIA_TYPE,
} from "./signing_config.ts";
import { CosignError } from "../errors.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function refused(f: () => unknown, pattern: RegExp): void {
  try {
    f();
  } catch (e) {
    assert(e instanceof CosignError, `not a CosignError: ${e}`);
    assert(e.code === "TRUSTED_ROOT_INVALID", e.code);
    assert(pattern.test(e.message), `message ${JSON.stringify(e.message)} !~ ${pattern}`);
    return;
  }
  throw new Error(`accepted; expected ${pattern}`);
}

/** The shape of sigstore-go's examples/signing_config.v0.2.json (staging, 2025). */
const STAGING = {
  mediaType: SIGNING_CONFIG_MEDIA_TYPE,
  caUrls: [{
    url: "https://fulcio.sigstage.dev",
    majorApiVersion: 1,
    validFor: { start: "2022-04-14T21:38:40Z" },
    operator: "sigstore.dev",
  }],
  oidcUrls: [{
    url: "https://oauth2.sigstage.dev/auth",
    majorApiVersion: 1,
    validFor: { start: "2025-04-16T00:00:00Z" },
    operator: "sigstore.dev",
  }],
  rekorTlogUrls: [{
    url: "https://rekor.sigstage.dev",
    majorApiVersion: 1,
    validFor: { start: "2021-01-12T11:53:27Z" },
    operator: "sigstore.dev",
  }],
  tsaUrls: [{
    url: "https://timestamp.sigstage.dev/api/v1/timestamp",
    majorApiVersion: 1,
    validFor: { start: "2025-04-09T00:00:00Z" },
    operator: "sigstore.dev",
  }],
  rekorTlogConfig: { selector: "ANY" },
  tsaConfig: { selector: "ANY" },
};

const NOW = new Date("2026-01-01T00:00:00Z");

function svc(
  url: string,
  majorApiVersion: number,
  operator: string,
  start?: string,
  end?: string,
) {
  const validFor: Record<string, string> = {};
  if (start) validFor.start = start;
  if (end) validFor.end = end;
  return { url, majorApiVersion, operator, validFor };
}

function config(extra: Record<string, unknown>) {
  return JSON.stringify({ mediaType: SIGNING_CONFIG_MEDIA_TYPE, ...extra });
}

const urls = (s: Service[]) => s.map((x) => x.url).sort();

Deno.test("signing config: sigstore-go's example parses and selects every service", () => {
  const cfg = parseSigningConfig(new TextEncoder().encode(JSON.stringify(STAGING)));
  assert(cfg.caUrls[0]!.validFor.start!.toISOString() === "2022-04-14T21:38:40.000Z", "start");
  assert(cfg.rekorTlogConfig.selector === "ANY" && cfg.tsaConfig.count === 0, "config");
  const s = selectServices(cfg, { now: NOW });
  assert(s.fulcio?.url === "https://fulcio.sigstage.dev", "fulcio");
  assert(s.oidc?.url === "https://oauth2.sigstage.dev/auth", "oidc");
  assert(urls(s.rekor).join() === "https://rekor.sigstage.dev", "rekor");
  assert(urls(s.tsa).join() === "https://timestamp.sigstage.dev/api/v1/timestamp", "tsa");
  // before the OIDC entry starts, there is no issuer
  assert(selectServices(cfg, { now: new Date("2025-04-10T00:00:00Z") }).oidc === undefined, "oidc");
});

Deno.test("signing config: proto field names and numeric enums are accepted", () => {
  const cfg = parseSigningConfig(JSON.stringify({
    media_type: SIGNING_CONFIG_MEDIA_TYPE,
    rekor_tlog_urls: [{ url: "https://r", major_api_version: "2", valid_for: {}, operator: "o" }],
    rekor_tlog_config: { selector: 3, count: "1" },
  }));
  assert(cfg.rekorTlogUrls[0]!.majorApiVersion === 2, "version");
  assert(cfg.rekorTlogConfig.selector === "EXACT" && cfg.rekorTlogConfig.count === 1, "exact");
});

Deno.test("signing config: the highest supported version valid now wins; newest first", () => {
  const cfg = parseSigningConfig(config({
    caUrls: [
      svc("https://old-ca", 1, "a", "2020-01-01T00:00:00Z"),
      svc("https://new-ca", 1, "a", "2025-01-01T00:00:00Z"),
      svc("https://future-ca", 1, "a", "2030-01-01T00:00:00Z"),
      svc("https://ca-v2", 2, "a", "2020-01-01T00:00:00Z"),
    ],
    rekorTlogUrls: [
      svc("https://rekor-v1", 1, "a", "2020-01-01T00:00:00Z"),
      svc("https://rekor-v2-ended", 2, "a", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
      svc("https://rekor-v2", 2, "b", "2025-06-01T00:00:00Z"),
      svc("https://rekor-v3", 3, "c"),
    ],
    rekorTlogConfig: { selector: "ALL" },
  }));
  const s = selectServices(cfg, { now: NOW });
  assert(s.fulcio?.url === "https://new-ca", `fulcio ${s.fulcio?.url}`);
  assert(urls(s.rekor).join() === "https://rekor-v2", `rekor ${urls(s.rekor)}`);
  const v1only = selectServices(cfg, { now: NOW, rekorVersions: [1] });
  assert(urls(v1only.rekor).join() === "https://rekor-v1", `rekor v1 ${urls(v1only.rekor)}`);
  // the end is inclusive
  const atEnd = selectServices(cfg, {
    now: new Date("2025-01-01T00:00:00Z"),
    rekorVersions: [2],
  });
  assert(urls(atEnd.rekor).join() === "https://rekor-v2-ended", "end inclusive");
});

Deno.test("signing config: ALL is one per operator, ANY one, EXACT count distinct", () => {
  const tsas = [
    svc("https://tsa-a-new", 1, "a", "2025-01-01T00:00:00Z"),
    svc("https://tsa-a-old", 1, "a", "2024-01-01T00:00:00Z"),
    svc("https://tsa-b", 1, "b", "2024-01-01T00:00:00Z"),
    svc("https://tsa-c", 1, "c", "2024-01-01T00:00:00Z"),
  ];
  const all = selectServices(
    parseSigningConfig(config({ tsaUrls: tsas, tsaConfig: { selector: "ALL" } })),
    { now: NOW },
  );
  assert(urls(all.tsa).join() === "https://tsa-a-new,https://tsa-b,https://tsa-c", "all");
  const anyCfg = parseSigningConfig(config({ tsaUrls: tsas, tsaConfig: { selector: "ANY" } }));
  const seen = new Set<string>();
  for (const r of [0, 0.4, 0.99]) {
    const any = selectServices(anyCfg, { now: NOW, random: () => r });
    assert(any.tsa.length === 1, "any gives one");
    seen.add(any.tsa[0]!.url);
  }
  assert(seen.size === 3 && !seen.has("https://tsa-a-old"), [...seen].join());
  const exactCfg = parseSigningConfig(
    config({ tsaUrls: tsas, tsaConfig: { selector: "EXACT", count: 2 } }),
  );
  for (const r of [0, 0.5, 0.99]) {
    const exact = selectServices(exactCfg, { now: NOW, random: () => r });
    assert(exact.tsa.length === 2 && new Set(urls(exact.tsa)).size === 2, urls(exact.tsa).join());
  }
});

Deno.test("signing config: selection failures are clear", () => {
  const tsas = [svc("https://tsa-a", 1, "a"), svc("https://tsa-a2", 1, "a")];
  refused(
    () =>
      selectServices(
        parseSigningConfig(config({ tsaUrls: tsas, tsaConfig: { selector: "EXACT", count: 2 } })),
        { now: NOW },
      ),
    /timestamp authority selector EXACT asks for 2 services, but only 1 is usable/,
  );
  refused(
    () =>
      selectServices(
        parseSigningConfig(config({ tsaUrls: tsas, tsaConfig: { selector: "EXACT" } })),
        { now: NOW },
      ),
    /count greater than 0/,
  );
  refused(
    () => selectServices(parseSigningConfig(config({ rekorTlogUrls: tsas })), { now: NOW }),
    /Rekor selector is not set/,
  );
  refused(
    () =>
      selectServices(
        parseSigningConfig(config({
          rekorTlogUrls: [svc("https://r", 3, "a")],
          rekorTlogConfig: { selector: "ALL" },
        })),
        { now: NOW },
      ),
    /no Rekor service is valid for API versions \[1, 2\]/,
  );
  // no lists: nothing selected, no error
  const none = selectServices(parseSigningConfig(config({})), { now: NOW });
  assert(!none.fulcio && !none.oidc && none.rekor.length === 0 && none.tsa.length === 0, "none");
});

Deno.test("signing config: bad input is refused with the reason", () => {
  refused(() => parseSigningConfig("{not json"), /^Invalid signing config: not JSON/);
  refused(() => parseSigningConfig("[]"), /not a JSON object/);
  refused(
    () => parseSigningConfig(JSON.stringify({ ...STAGING, mediaType: "application/json" })),
    /unsupported media type "application\/json"/,
  );
  refused(
    () =>
      parseSigningConfig(
        JSON.stringify({
          ...STAGING,
          mediaType: "application/vnd.dev.sigstore.signingconfig.v0.1+json",
        }),
      ),
    /unsupported media type/,
  );
  refused(() => parseSigningConfig(JSON.stringify({ caUrls: [] })), /unsupported media type ""/);
  refused(
    () => parseSigningConfig(JSON.stringify({ ...STAGING, fulcioUrl: "https://x" })),
    /the document has an unknown field "fulcioUrl"/,
  );
  refused(
    () => parseSigningConfig(config({ caUrls: [{ ...svc("https://ca", 1, "a"), apiVersion: 1 }] })),
    /caUrls\[0\]\.has an unknown field "apiVersion"/,
  );
  refused(
    () => parseSigningConfig(config({ tsaConfig: { selector: "ANY", limit: 1 } })),
    /tsaConfig\.has an unknown field "limit"/,
  );
  refused(
    () => parseSigningConfig(config({ caUrls: [], ca_urls: [] })),
    /caUrls is given twice/,
  );
  refused(
    () => parseSigningConfig(config({ caUrls: [svc("ftp://ca", 1, "a")] })),
    /caUrls\[0\]\.url is not an http\(s\) URL/,
  );
  refused(
    () => parseSigningConfig(config({ caUrls: [svc("https://ca", -1, "a")] })),
    /majorApiVersion is not a uint32/,
  );
  refused(
    () => parseSigningConfig(config({ caUrls: [svc("https://ca", 1, "a", "yesterday")] })),
    /validFor\.start is not an RFC 3339 time/,
  );
  refused(
    () =>
      parseSigningConfig(config({
        caUrls: [svc("https://ca", 1, "a", "2025-01-01T00:00:00Z", "2024-01-01T00:00:00Z")],
      })),
    /ends before it starts/,
  );
  refused(
    () => parseSigningConfig(config({ rekorTlogConfig: { selector: "SOME" } })),
    /selector is not ALL, ANY or EXACT/,
  );
  refused(() => parseSigningConfig(config({ tsaUrls: {} })), /tsaUrls is not an array/);
});
