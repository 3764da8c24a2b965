/**
 * A 50 MB SPDX SBOM attested and verified as an image attestation (a real registry) and as a
 * blob attestation (`--signature` and `--bundle`), each verification in bounded memory: the
 * peak RSS of each process is measured and must stay under {@link VERIFY_RSS_LIMIT} (verifying)
 * or {@link ATTEST_RSS_LIMIT} (attesting, which parses and re-serialises the predicate).
 *
 * Before base64 was decoded without a regular expression, verifying failed at about 4 MB with
 * `internal error: Maximum call stack size exceeded`, while attesting worked.
 */
import { pushImage, startRegistry } from "./harness/mod.ts";
import {
  assert,
  assertEquals,
  cosign,
  ROOT,
  type RunResult,
  tempDir,
  TEST_DENO_DIR,
} from "./helpers.ts";

const SBOM_BYTES = 50_000_000;
/**
 * Measured here for the 50 MB SBOM: verifying 370-780 MB, attesting 770-910 MB (BENCHMARKS.md).
 * The bounds are generous (a run-to-run spread of 20% is common); what they catch is a copy
 * per byte, such as a spread into an array, which cost 3.3 GB for one 67 MB envelope.
 */
const VERIFY_RSS_LIMIT = 1200 * 1024 * 1024;
const ATTEST_RSS_LIMIT = 1600 * 1024 * 1024;
const PW = "sbom-pw";

/** Writes an SPDX 2.3 JSON document of at least `size` bytes to `path`, streaming. */
async function writeSpdx(path: string, size: number): Promise<void> {
  const enc = new TextEncoder();
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  let written = 0;
  const put = async (s: string) => {
    const b = enc.encode(s);
    written += b.length;
    for (let off = 0; off < b.length;) off += await f.write(b.subarray(off));
  };
  await put(
    JSON.stringify({
      spdxVersion: "SPDX-2.3",
      dataLicense: "CC0-1.0",
      SPDXID: "SPDXRef-DOCUMENT",
      name: "large",
      documentNamespace: "https://example.com/spdx/large",
      creationInfo: { created: "2024-01-01T00:00:00Z", creators: ["Tool: large_sbom_test"] },
    }).slice(0, -1) + ',"packages":[',
  );
  let chunk = "";
  for (let i = 0; written + chunk.length < size; i++) {
    chunk += (i ? "," : "") + JSON.stringify({
      SPDXID: `SPDXRef-Package-${i}`,
      name: `pkg-${i}`,
      versionInfo: `1.${i % 100}.${i % 7}`,
      downloadLocation: "NOASSERTION",
      licenseConcluded: "MIT",
      checksums: [{
        algorithm: "SHA256",
        checksumValue: ((i * 2654435761) >>> 0).toString(16).padStart(64, "0"),
      }],
      externalRefs: [{
        referenceCategory: "PACKAGE-MANAGER",
        referenceType: "purl",
        referenceLocator: `pkg:npm/pkg-${i}@1.0.0`,
      }],
    });
    if (chunk.length > 1 << 20) {
      await put(chunk);
      chunk = "";
    }
  }
  await put(chunk + "]}");
}

function vmHwm(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined; // gone
  }
}

/**
 * Runs `cosign ARGS` with stdout discarded (an envelope may be printed) and returns the result
 * and the process's peak RSS in bytes: from `/usr/bin/time` where it exists, else the kernel's
 * high-water mark (`VmHWM`) polled until the process exits (a lower bound).
 */
async function cosignPeakRss(
  args: string[],
  env: Record<string, string>,
  dir: string,
): Promise<{ r: RunResult; rss: number }> {
  const timeBin = await Deno.stat("/usr/bin/time").then(() => true, () => false);
  const cmdArgs = [
    "run",
    "--quiet",
    "--allow-all",
    "--config",
    ROOT + "deno.json",
    ROOT + "cli.ts",
    "cosign",
    ...args,
  ];
  const rssFile = `${dir}/rss.txt`;
  const childEnv = { ...Deno.env.toObject() };
  for (const k of Object.keys(childEnv)) if (k.startsWith("COSIGN_")) delete childEnv[k];
  childEnv.DENO_DIR = TEST_DENO_DIR;
  Object.assign(childEnv, env);
  const child = new Deno.Command(timeBin ? "/usr/bin/time" : Deno.execPath(), {
    args: timeBin ? ["-f", "%M", "-o", rssFile, Deno.execPath(), ...cmdArgs] : cmdArgs,
    env: childEnv,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let polled = 0;
  const poll = timeBin ? undefined : setInterval(() => {
    polled = Math.max(polled, vmHwm(child.pid) ?? 0);
  }, 10);
  const out = await child.output();
  if (poll !== undefined) clearInterval(poll);
  const rss = timeBin
    ? Number((await Deno.readTextFile(rssFile)).trim().split("\n").at(-1)) * 1024
    : polled;
  const r: RunResult = {
    code: out.code,
    stdout: new Uint8Array(),
    out: "",
    stderr: new TextDecoder().decode(out.stderr),
  };
  return { r, rss };
}

function mb(n: number): string {
  return `${Math.round(n / 1024 / 1024)} MB`;
}

Deno.test({
  name:
    "large input: a 50 MB SBOM attests and verifies (image, blob --signature, blob --bundle) in bounded memory",
  sanitizeResources: false,
  fn: async () => {
    await using tmp = await tempDir();
    const p = tmp.path;
    const env = { COSIGN_PASSWORD: PW, HOME: p };
    await using reg = await startRegistry();
    const [img] = await Promise.all([
      pushImage(reg, "large/sbom:v1"),
      writeSpdx(`${p}/sbom.spdx.json`, SBOM_BYTES),
      Deno.writeTextFile(`${p}/artifact.bin`, "the artifact\n"),
    ]);
    assert((await Deno.stat(`${p}/sbom.spdx.json`)).size >= SBOM_BYTES, "SBOM size");
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${p}/k`], { env });
    assertEquals(g.code, 0, g.stderr);
    const key = ["--key", `${p}/k.key`], pub = ["--key", `${p}/k.pub`];
    const sbom = ["--predicate", `${p}/sbom.spdx.json`, "--type", "spdxjson"];

    const peaks: Record<string, number> = {};
    const check = async (name: string, args: string[]) => {
      const { r, rss } = await cosignPeakRss(args, env, p);
      assertEquals(r.code, 0, `${name}: ${r.stderr.slice(0, 2000)}`);
      if (name.startsWith("verify-blob")) assert(r.stderr.includes("Verified OK"), r.stderr);
      if (name.startsWith("verify-attestation")) {
        assert(
          r.stderr.includes("The signatures were verified against the specified public key"),
          r.stderr,
        );
      }
      peaks[name] = rss;
      assert(rss > 0, `${name}: peak RSS measured`);
      const limit = name.startsWith("attest") ? ATTEST_RSS_LIMIT : VERIFY_RSS_LIMIT;
      assert(rss < limit, `${name}: peak RSS ${mb(rss)} over ${mb(limit)}`);
    };

    // Image attestation, in the registry.
    await check("attest (image)", [
      "attest",
      ...key,
      ...sbom,
      "--tlog-upload=false",
      "--new-bundle-format=false",
      img.ref,
    ]);
    await check("verify-attestation (image)", [
      "verify-attestation",
      ...pub,
      "--type",
      "spdxjson",
      "--insecure-ignore-tlog",
      img.ref,
    ]);

    // Blob attestation: the envelope alone with cosign's bundle holding it, then a Sigstore
    // v0.3 bundle.
    await check("attest-blob", [
      "attest-blob",
      ...key,
      ...sbom,
      "--tlog-upload=false",
      "--output-signature",
      `${p}/att.json`,
      "--bundle",
      `${p}/att.bundle`,
      `${p}/artifact.bin`,
    ]);
    await check("attest-blob --new-bundle-format", [
      "attest-blob",
      ...key,
      ...sbom,
      "--tlog-upload=false",
      "--output-signature",
      "/dev/null",
      "--bundle",
      `${p}/att.sigstore.json`,
      "--new-bundle-format",
      `${p}/artifact.bin`,
    ]);
    const blobInputs = [
      ["--signature", "att.json"],
      ["--bundle", "att.bundle"],
      ["--bundle", "att.sigstore.json"],
    ];
    for (const [flag, file] of blobInputs) {
      await check(`verify-blob-attestation ${flag} ${file}`, [
        "verify-blob-attestation",
        ...pub,
        flag!,
        `${p}/${file}`,
        "--type",
        "spdxjson",
        "--insecure-ignore-tlog",
        `${p}/artifact.bin`,
      ]);
    }
    console.log(
      "peak RSS: " + Object.entries(peaks).map(([k, v]) => `${k} ${mb(v)}`).join(", "),
    );
  },
});
