/**
 * A manifest fetched by digest is held to that digest, whatever the registry's
 * `Docker-Content-Digest` header says: a hostile registry on loopback serves other bytes and
 * names their digest in the header.
 */
import { assert, assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { sha256Digest } from "./digest.ts";
import { parseReference } from "./reference.ts";
import { RegistryClient } from "./registry.ts";

const MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

function manifestBytes(marker: string): Uint8Array {
  const empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
  return new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: empty, size: 2 },
    layers: [],
    annotations: { marker },
  }));
}

/** A registry answering every manifest request with `served` and the header `headerDigest`. */
function hostileRegistry(served: Uint8Array, headerDigest: string) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v2/") return new Response("{}", { status: 200 });
    if (path.startsWith("/v2/test/app/manifests/")) {
      return new Response(req.method === "HEAD" ? null : served.slice(), {
        status: 200,
        headers: { "content-type": MANIFEST_TYPE, "docker-content-digest": headerDigest },
      });
    }
    return new Response("not found", { status: 404 });
  });
}

function client(): RegistryClient {
  return new RegistryClient({
    keychain: () => Promise.resolve(undefined),
    retry: { baseDelayMs: 1 },
  });
}

Deno.test("registry: a manifest by digest must hash to that digest, not to the registry's header", async () => {
  const wanted = manifestBytes("the image we asked for");
  const wantedDigest = sha256Digest(wanted);
  const other = manifestBytes("something else");
  const otherDigest = sha256Digest(other);
  // The server sends other bytes and a header naming their (correct) digest.
  await using server = hostileRegistry(other, otherDigest);
  const host = `127.0.0.1:${server.addr.port}`;
  let error: unknown;
  try {
    await client().getManifest(parseReference(`${host}/test/app@${wantedDigest}`));
  } catch (e) {
    error = e;
  }
  assert(error instanceof CosignError, `expected a CosignError, got ${error}`);
  assertEquals(error.code, "DIGEST_MISMATCH", error.message);
  assert(error.message.includes(wantedDigest), error.message);
  assert(error.message.includes(otherDigest), error.message);
});

Deno.test("registry: a manifest by digest is accepted when the bytes match, whatever the header", async () => {
  const wanted = manifestBytes("the image we asked for");
  const wantedDigest = sha256Digest(wanted);
  // The bytes are right; the header lies. The bytes decide.
  await using server = hostileRegistry(wanted, sha256Digest(manifestBytes("a lie")));
  const host = `127.0.0.1:${server.addr.port}`;
  const m = await client().getManifest(parseReference(`${host}/test/app@${wantedDigest}`));
  assertEquals(m.digest, wantedDigest);
});
