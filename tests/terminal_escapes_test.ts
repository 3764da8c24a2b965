/**
 * A hostile registry on loopback against the terminal (issue 20.6): it serves manifests whose
 * digests, media types and annotations carry escape sequences (clear the screen, set the window
 * title, draw a green "Verified OK", the C1 CSI, a right-to-left override, newlines), a
 * malformed Docker-Content-Digest header, and error bodies made of the same. `tree`, `verify`,
 * `sget` and `download sbom` must refuse malformed digests with one clear line, show every
 * server string escaped as Go's `%q` would, and write no ESC (0x1b), BEL, C1 CSI or bidi
 * override byte to stdout or stderr.
 * @module
 */

import { assert, assertEquals, assertFails, cosign, KEYS, run, type RunResult } from "./helpers.ts";
import { sha256Digest } from "../lib/oci/digest.ts";

const enc = new TextEncoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
/** Clear the screen, home the cursor, print a green "Verified OK". */
const CLEAR = "\x1b[2J\x1b[H\x1b[32mVerified OK\x1b[0m";
/** Set the window title, C1 CSI, a right-to-left override and a forged second line. */
const TITLE = "\x1b]0;owned\x07\u009b31m\u202e\nVerified OK";
const EVIL_DIGEST = `sha256:${CLEAR}`;

/** Bytes a terminal would act on: ESC, BEL, C1 CSI (UTF-8 C2 9B), RLO (UTF-8 E2 80 AE). */
function assertInert(what: string, bytes: Uint8Array): void {
  const text = new TextDecoder().decode(bytes);
  for (
    const [name, ch] of [["ESC", "\x1b"], ["BEL", "\x07"], ["CSI", "\u009b"], ["RLO", "\u202e"]]
  ) {
    assert(!text.includes(ch!), `${what} holds a raw ${name}: ${JSON.stringify(text)}`);
  }
  assert(!bytes.includes(0x1b), `${what} holds byte 0x1b`);
}

function assertClean(r: RunResult, label: string): void {
  assertInert(`${label} stdout`, r.stdout);
  assertInert(`${label} stderr`, enc.encode(r.stderr));
}

interface Answer {
  status: number;
  body: Uint8Array;
  headers: Record<string, string>;
}

/**
 * A registry that serves whatever it is given, on 127.0.0.1. Plain HTTP/1.1 written by hand
 * (one request per connection), so header values may hold bytes `Deno.serve` would refuse.
 */
function hostileRegistry() {
  const routes = new Map<string, Answer>();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const notFound: Answer = {
    status: 404,
    body: enc.encode('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'),
    headers: { "content-type": "application/json" },
  };
  const answer = async (conn: Deno.Conn) => {
    try {
      let head = "";
      const buf = new Uint8Array(16384);
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        if (head === "" && buf[0] === 0x16) {
          // A TLS hello: answer as any plain HTTP server does, so the client falls back to HTTP.
          await conn.write(enc.encode("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"));
          return;
        }
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      const [method, target] = head.split(" ");
      const path = new URL(target!, "http://x").pathname;
      const a = path === "/v2/"
        ? { status: 200, body: enc.encode("{}"), headers: { "content-type": "application/json" } }
        : routes.get(path) ?? notFound;
      const lines = [
        `HTTP/1.1 ${a.status} X`,
        `content-length: ${a.body.length}`,
        "connection: close",
      ];
      for (const [k, v] of Object.entries(a.headers)) lines.push(`${k}: ${v}`);
      const bytes = enc.encode(lines.join("\r\n") + "\r\n\r\n");
      await conn.write(method === "HEAD" ? bytes : new Uint8Array([...bytes, ...a.body]));
    } catch {
      // the client went away
    } finally {
      conn.close();
    }
  };
  const serving = (async () => {
    for await (const conn of listener) answer(conn);
  })().catch(() => {});
  const host = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  return {
    host,
    /** Serves a manifest under `ref` (a tag, or its own digest when `ref` is omitted). */
    manifest(
      repo: string,
      json: unknown,
      opts: { ref?: string; headers?: Record<string, string> } = {},
    ) {
      const body = enc.encode(JSON.stringify(json));
      const digest = sha256Digest(body);
      const mediaType = (json as { mediaType?: string }).mediaType ?? OCI_MANIFEST;
      const answer = { status: 200, body, headers: { "content-type": mediaType, ...opts.headers } };
      routes.set(`/v2/${repo}/manifests/${digest}`, answer);
      if (opts.ref) routes.set(`/v2/${repo}/manifests/${opts.ref}`, answer);
      return digest;
    },
    blob(repo: string, bytes: Uint8Array): string {
      const digest = sha256Digest(bytes);
      routes.set(`/v2/${repo}/blobs/${digest}`, {
        status: 200,
        body: bytes,
        headers: { "content-type": "application/octet-stream" },
      });
      return digest;
    },
    /** Answers every manifest request of `repo` for `ref` with an error body. */
    fail(repo: string, ref: string, status: number, body: string) {
      routes.set(`/v2/${repo}/manifests/${ref}`, {
        status,
        body: enc.encode(body),
        headers: { "content-type": "application/json" },
      });
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving;
    },
  };
}

type Hostile = ReturnType<typeof hostileRegistry>;

/** A small valid image in `repo:tag`; returns its digest. */
function image(reg: Hostile, repo: string, tag: string, headers: Record<string, string> = {}) {
  const config = enc.encode("{}");
  const layer = enc.encode("hello");
  return reg.manifest(repo, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.length, digest: reg.blob(repo, config) },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      size: layer.length,
      digest: reg.blob(repo, layer),
    }],
  }, { ref: tag, headers });
}

function attachmentTag(digest: string, kind: string): string {
  return `${digest.replace(":", "-")}.${kind}`;
}

const ERROR_BODY = JSON.stringify({
  errors: [{ code: `DENIED${CLEAR}`, message: `${TITLE} go away` }],
});

Deno.test("terminal: hostile registry strings never reach the terminal raw", async (t) => {
  await using reg = hostileRegistry();
  const home = await Deno.makeTempDir({ prefix: "cosign-escape-home-" });
  const env = { HOME: home };
  const h = reg.host;
  try {
    // evil/app: a valid image (its tag answered with a Docker-Content-Digest holding C1 CSIs) whose .sig
    // image lists a layer "digest" that clears the screen, with annotations that set the title.
    const appDigest = image(reg, "evil/app", "v1", {
      "docker-content-digest": "sha256:\u009b2J\u009b32mVerified OK",
    });
    reg.manifest("evil/app", {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, size: 2, digest: reg.blob("evil/app", enc.encode("{}")) },
      layers: [{
        mediaType: SIMPLE_SIGNING,
        size: 10,
        digest: EVIL_DIGEST,
        annotations: { "dev.cosignproject.cosign/signature": TITLE },
      }],
      annotations: { note: TITLE },
    }, { ref: attachmentTag(appDigest, "sig") });

    // evil/annot: a valid-digest .sig layer whose signature and certificate annotations are escapes.
    const annotDigest = image(reg, "evil/annot", "v1");
    const payload = enc.encode(`{"critical":{"type":"${TITLE.replace(/\n/g, "")}"}}`);
    reg.manifest("evil/annot", {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, size: 2, digest: reg.blob("evil/annot", enc.encode("{}")) },
      layers: [{
        mediaType: SIMPLE_SIGNING,
        size: payload.length,
        digest: reg.blob("evil/annot", payload),
        annotations: {
          "dev.cosignproject.cosign/signature": TITLE,
          "dev.sigstore.cosign/certificate": CLEAR,
        },
      }],
    }, { ref: attachmentTag(annotDigest, "sig") });

    // evil/sbom: a valid image with an SBOM whose media type and annotations are escapes.
    const sbomImage = image(reg, "evil/sbom", "v1");
    const sbom = enc.encode('{"spdxVersion":"SPDX-2.3","name":"plain"}\n');
    reg.manifest("evil/sbom", {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, size: 2, digest: reg.blob("evil/sbom", enc.encode("{}")) },
      layers: [{
        mediaType: `text/spdx+json${TITLE}`,
        size: sbom.length,
        digest: reg.blob("evil/sbom", sbom),
        annotations: { title: CLEAR },
      }],
    }, { ref: attachmentTag(sbomImage, "sbom") });

    // evil/badsbom: an SBOM image whose layer digest is an escape sequence.
    const badSbomImage = image(reg, "evil/badsbom", "v1");
    reg.manifest("evil/badsbom", {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: OCI_CONFIG,
        size: 2,
        digest: reg.blob("evil/badsbom", enc.encode("{}")),
      },
      layers: [{ mediaType: "text/spdx", size: 3, digest: EVIL_DIGEST }],
    }, { ref: attachmentTag(badSbomImage, "sbom") });

    // evil/media: a manifest whose media type is an escape sequence.
    const mediaDigest = reg.manifest("evil/media", {
      schemaVersion: 2,
      mediaType: `${OCI_MANIFEST}${CLEAR}`,
      config: { mediaType: OCI_CONFIG, size: 2, digest: sha256Digest(enc.encode("{}")) },
      layers: [],
    }, { ref: "v1", headers: { "content-type": OCI_MANIFEST } });

    // evil/blob: sget by digest of a manifest whose only layer digest is an escape sequence.
    const blobManifest = reg.manifest("evil/blob", {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, size: 2, digest: sha256Digest(enc.encode("{}")) },
      layers: [{ mediaType: "application/octet-stream", size: 5, digest: EVIL_DIGEST }],
    });

    // evil/denied: every manifest request answered 400 or 404 with an escape-laden error body.
    const anyDigest = sha256Digest(enc.encode("anything"));
    reg.fail("evil/denied", "v1", 400, ERROR_BODY);
    reg.fail("evil/denied", anyDigest, 400, ERROR_BODY);
    reg.fail("evil/gone", "v1", 404, ERROR_BODY);

    const verify = (ref: string) =>
      cosign(["verify", "--key", KEYS + "cosign-test.pub", "--insecure-ignore-tlog", ref], { env });
    const sget = (args: string[]) => run(["sget", ...args], { env });
    const escaped = /sha256:\\x1b\[2J\\x1b\[H\\x1b\[32mVerified OK\\x1b\[0m/;

    await t.step(
      "tree: a layer digest that would clear the screen is refused, shown escaped",
      async () => {
        const r = await cosign(["tree", `${h}/evil/app:v1`], { env });
        assertClean(r, "tree");
        assertFails(
          r,
          1,
          /Manifest .*evil\/app:sha256-[0-9a-f]{64}\.sig: layer 0 has a malformed digest/,
        );
        assert(escaped.test(r.stderr), r.stderr);
      },
    );

    await t.step("verify: malformed digests, hostile annotations and media types", async () => {
      const bad = await verify(`${h}/evil/app:v1`);
      assertClean(bad, "verify evil/app");
      // A .sig image that cannot be read is "no matching signatures" (12), with the reason.
      assertFails(bad, 12, /layer 0 has a malformed digest/);
      assert(escaped.test(bad.stderr), bad.stderr);

      const annot = await verify(`${h}/evil/annot:v1`);
      assertClean(annot, "verify evil/annot");
      assert(annot.code !== 0 && annot.code !== 3, `exit ${annot.code}: ${annot.stderr}`);
      assertEquals(annot.out, "");

      const media = await verify(`${h}/evil/media:v1`);
      assertClean(media, "verify evil/media");
      assertFails(
        media,
        1,
        /unknown media type "application\/vnd\.oci\.image\.manifest\.v1\+json\\x1b\[2J/,
      );

      const viaDigest = await verify(`${h}/evil/media@${mediaDigest}`);
      assertClean(viaDigest, "verify evil/media by digest");
      // By digest, verify reads only the .sig image (as cosign does), which is not there.
      assertFails(viaDigest, 10, /no signatures found/);
    });

    await t.step("registry error bodies are shown escaped, on one line", async () => {
      for (
        const [label, args] of [
          ["tree", ["tree", `${h}/evil/denied:v1`]],
          ["verify", [
            "verify",
            "--key",
            KEYS + "cosign-test.pub",
            "--insecure-ignore-tlog",
            `${h}/evil/denied:v1`,
          ]],
          ["download sbom", ["download", "sbom", `${h}/evil/denied:v1`]],
          ["tree 404", ["tree", `${h}/evil/gone:v1`]],
        ] as const
      ) {
        const r = await cosign([...args], { env });
        assertClean(r, label);
        // A 404 is reported as "not found" without the body; the others quote it, escaped.
        assertFails(
          r,
          r.code,
          label === "tree 404" ? /not found/ : /\\x1b\]0;owned\\a\\u009b31m\\u202e\\nVerified OK/,
        );
        assert(r.code !== 0 && r.code !== 3, `${label}: exit ${r.code}`);
      }
      const s = await sget([`${h}/evil/denied@${anyDigest}`]);
      assertClean(s, "sget denied");
      assertFails(s, 1, /DENIED\\x1b\[2J/);
    });

    await t.step("sget: a malformed layer digest, a malformed digest argument", async () => {
      const r = await sget([`${h}/evil/blob@${blobManifest}`]);
      assertClean(r, "sget evil/blob");
      assertFails(r, 1, /layer 0 has a malformed digest/);
      assert(escaped.test(r.stderr), r.stderr);
      assertEquals(r.out, "");

      const arg = await sget([`${h}/evil/blob@${EVIL_DIGEST}`]);
      assertClean(arg, "sget bad argument");
      assert(arg.code !== 0 && arg.code !== 3, `exit ${arg.code}: ${arg.stderr}`);
    });

    await t.step(
      "download sbom: the media type is shown escaped; a malformed digest refused",
      async () => {
        const r = await cosign(["download", "sbom", `${h}/evil/sbom:v1`], { env });
        assertClean(r, "download sbom");
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.out, new TextDecoder().decode(sbom));
        assert(
          r.stderr.includes(
            String
              .raw`Found SBOM of media type: text/spdx+json\x1b]0;owned\a\u009b31m\u202e\nVerified OK`,
          ),
          r.stderr,
        );
        assertEquals(r.stderr.trim().split("\n").length, 1, "one line, no forged second line");

        const bad = await cosign(["download", "sbom", `${h}/evil/badsbom:v1`], { env });
        assertClean(bad, "download sbom badsbom");
        assertFails(bad, 1, /layer 0 has a malformed digest/);
      },
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
