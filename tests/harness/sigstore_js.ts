/**
 * The sigstore-js peer (`@sigstore/verify` under Node, installed pinned by scripts/setup.sh into
 * `.bench-cache/sigstore-verify/`): verifies a keyless bundle for an identity and issuer against
 * a trusted root, as its `Verifier` does with default thresholds.
 * @module
 */

import { ROOT } from "../helpers.ts";

const PEER_DIR = ROOT + ".bench-cache/sigstore-verify/";
const SCRIPT = PEER_DIR + "verify_keyless.mjs";
const SOURCE = `
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(PEER_DIR + "x.js")});
const { bundleFromJSON } = require("@sigstore/bundle");
const { TrustedRoot } = require("@sigstore/protobuf-specs");
const { toSignedEntity, toTrustMaterial, Verifier } = require("@sigstore/verify");
const [bundle, root, artifact, identity, issuer] = process.argv.slice(2);
const json = (p) => JSON.parse(readFileSync(p, "utf8"));
try {
  const trust = toTrustMaterial(TrustedRoot.fromJSON(json(root)));
  const b = bundleFromJSON(json(bundle));
  const entity = toSignedEntity(b, b.content.$case === "dsseEnvelope" ? undefined : readFileSync(artifact));
  new Verifier(trust).verify(entity, { subjectAlternativeName: identity, extensions: { issuer } });
  process.stderr.write("Verified OK\\n");
} catch (e) {
  process.stderr.write("Error: " + (e && e.message || e) + "\\n");
  process.exitCode = 1;
}
`;

/**
 * Verifies the keyless bundle at `bundle` with sigstore-js.
 * @param args bundle path, trusted root path, artifact path, identity (SAN), OIDC issuer
 */
export async function sigstoreJsVerifyKeyless(
  args: [bundle: string, root: string, artifact: string, identity: string, issuer: string],
): Promise<{ code: number; stderr: string }> {
  await Deno.writeTextFile(SCRIPT, SOURCE);
  const r = await new Deno.Command("node", {
    args: [SCRIPT, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}
