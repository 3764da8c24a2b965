/**
 * A KMS plugin for tests, speaking sigstore's CLI plugin protocol v1 (argument 1 `v1`,
 * argument 2 the JSON request, the answer as JSON on stdout, errors in `errorMessage`): the key
 * reference is the path of a PEM private key, made by `createKey` with openssl and used by
 * openssl. Every call is appended to `<key>.log` (the request and the stdin byte count).
 * `KMS_PLUGIN_FAULT=garbage|error|hang` makes it answer badly.
 *
 * {@link installPlugin} puts it on a PATH folder as `sigstore-kms-NAME`.
 * @module
 */

import { createPrivateKey } from "node:crypto";
import { exec } from "./util.ts";
import { signDigest, type TestHash, type TestKey } from "./kms_keys.ts";

/** Writes `DIR/sigstore-kms-NAME`, a shell wrapper running this plugin under Deno. */
export async function installPlugin(dir: string, name: string): Promise<string> {
  const path = `${dir}/sigstore-kms-${name}`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec "${Deno.execPath()}" run --quiet --allow-all --no-config "${
      new URL(import.meta.url).pathname
    }" "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

const HASHES: Record<number, TestHash> = { 5: "sha256", 6: "sha384", 7: "sha512" };

async function main(): Promise<void> {
  const [version, json] = Deno.args;
  const stdin = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  const req = JSON.parse(json ?? "{}");
  const path: string = req.initOptions?.keyResourceID ?? "";
  await Deno.writeTextFile(
    `${path}.log`,
    JSON.stringify({ version, req, stdin: stdin.length }) + "\n",
    {
      append: true,
    },
  ).catch(() => {});
  const fault = Deno.env.get("KMS_PLUGIN_FAULT");
  const answer = (o: unknown) => console.log(JSON.stringify(o));
  if (fault === "garbage") return console.log("this is not JSON");
  if (fault === "error") return answer({ errorMessage: "the HSM is on fire" });
  if (fault === "hang") await new Promise((r) => setTimeout(r, 3_600_000));
  if (version !== "v1") return answer({ errorMessage: `unknown protocol ${version}` });
  const pub = async () => (await exec("openssl", ["pkey", "-in", path, "-pubout"])).stdout;
  const enc = (s: string) => new TextEncoder().encode(s).toBase64();
  switch (req.methodName) {
    case "defaultAlgorithm":
      return answer({ defaultAlgorithm: { defaultAlgorithm: "ecdsa-p256-sha256" } });
    case "createKey": {
      if (req.createKey?.algorithm !== "ecdsa-p256-sha256") {
        return answer({ errorMessage: `unsupported algorithm ${req.createKey?.algorithm}` });
      }
      const r = await exec("openssl", [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path,
      ]);
      if (r.code !== 0) return answer({ errorMessage: r.stderr });
      return answer({ createKey: { publicKeyPEM: enc(await pub()) } });
    }
    case "publicKey": {
      try {
        await Deno.stat(path);
      } catch {
        return answer({ errorMessage: `key ${path} not found` });
      }
      return answer({ publicKey: { publicKeyPEM: enc(await pub()) } });
    }
    case "signMessage": {
      const mo = req.signMessage?.signOptions?.messageOptions ?? {};
      const hash = HASHES[mo.hashFunc ?? req.initOptions.hashFunc];
      if (!mo.digest || !hash) return answer({ errorMessage: "this plugin signs digests only" });
      const rsa = createPrivateKey(await Deno.readTextFile(path)).asymmetricKeyType === "rsa";
      const key = { kind: rsa ? "rsa-2048" : "ec-p256", privatePath: path } as TestKey;
      const sig = await signDigest(key, Uint8Array.fromBase64(mo.digest), hash);
      return answer({ signMessage: { signature: sig.toBase64() } });
    }
  }
  answer({ errorMessage: `unknown method ${req.methodName}` });
}

if (import.meta.main) await main();
