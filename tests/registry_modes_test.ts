/**
 * The registry client against the real CNCF distribution registry in its four modes (no auth,
 * htpasswd Basic, TLS with a test CA, Bearer tokens), with credentials from flags, docker's
 * `auths`, a credential helper on PATH and `cosign login`, through the real CLI.
 */
import { pushImage, type Registry, skopeo, skopeoFlags, startRegistry } from "./harness/mod.ts";
import { assert, assertEquals, assertFails, cosign, tempDir } from "./helpers.ts";
import { sha256Digest } from "../lib/oci/digest.ts";

function credFlags(reg: Registry): string[] {
  const f: string[] = [];
  if (reg.caCertPath) f.push("--registry-cacert", reg.caCertPath);
  if (reg.username) {
    f.push("--registry-username", reg.username, "--registry-password", reg.password!);
  }
  return f;
}

/** Pull (resolve a skopeo-pushed image) and push (upload a blob), then read the push back with skopeo. */
async function pullAndPush(reg: Registry, flags: string[], env: Record<string, string> = {}) {
  const pushed = await pushImage(reg, "test/single:v1");
  const t = await cosign([
    "triangulate",
    "--type",
    "digest",
    ...flags,
    `${reg.host}/test/single:v1`,
  ], { env });
  assertEquals(t.code, 0, t.stderr);
  assertEquals(t.out, `${reg.host}/test/single@${pushed.digest}\n`);
  await using d = await tempDir();
  await Deno.writeTextFile(`${d.path}/hello.sh`, "echo hello\n");
  const u = await cosign([
    "upload",
    "blob",
    "-f",
    `${d.path}/hello.sh`,
    ...flags,
    `${reg.host}/test/blob:v1`,
  ], { env });
  assertEquals(u.code, 0, u.stderr);
  const digest = u.out.trim().split("@")[1]!;
  const raw = await skopeo([
    "inspect",
    "--raw",
    ...skopeoFlags(reg),
    `docker://${reg.host}/test/blob:v1`,
  ]);
  assertEquals(raw.code, 0, raw.stderr);
  assertEquals(sha256Digest(raw.out), digest, "skopeo reads back the manifest we pushed");
  const m = JSON.parse(new TextDecoder().decode(raw.out));
  assertEquals(m.layers[0].mediaType, "text/plain");
  assertEquals(m.layers[0].digest, sha256Digest(new TextEncoder().encode("echo hello\n")));
}

for (const mode of ["noauth", "htpasswd", "tls", "token"] as const) {
  Deno.test(`registry (${mode}): pull and push with flags`, async () => {
    await using reg = await startRegistry({ mode });
    await pullAndPush(reg, credFlags(reg), { HOME: "/nonexistent" });
  });
}

for (const mode of ["htpasswd", "token"] as const) {
  Deno.test(`registry (${mode}): credentials from docker config auths`, async () => {
    await using reg = await startRegistry({ mode });
    await using d = await tempDir();
    await Deno.writeTextFile(
      `${d.path}/config.json`,
      JSON.stringify({ auths: { [reg.host]: { auth: btoa(`${reg.username}:${reg.password}`) } } }),
    );
    await pullAndPush(reg, [], { DOCKER_CONFIG: d.path, HOME: d.path });
  });

  Deno.test(`registry (${mode}): credentials from a credential helper on PATH`, async () => {
    await using reg = await startRegistry({ mode });
    await using d = await tempDir();
    await Deno.mkdir(`${d.path}/bin`);
    const helper = `${d.path}/bin/docker-credential-testhelper`;
    await Deno.writeTextFile(
      helper,
      `#!/bin/sh\nread server\n[ "$1" = get ] && [ "$server" = "${reg.host}" ] || exit 1\n` +
        `printf '{"ServerURL":"%s","Username":"${reg.username}","Secret":"${reg.password}"}' "$server"\n`,
    );
    await Deno.chmod(helper, 0o755);
    await Deno.writeTextFile(
      `${d.path}/config.json`,
      JSON.stringify({ credHelpers: { [reg.host]: "testhelper" } }),
    );
    await pullAndPush(reg, [], {
      DOCKER_CONFIG: d.path,
      HOME: d.path,
      PATH: `${d.path}/bin:${Deno.env.get("PATH")}`,
    });
  });

  Deno.test(`registry (${mode}): wrong or missing credentials are a one-line error naming the registry`, async () => {
    await using reg = await startRegistry({ mode });
    await pushImage(reg, "test/single:v1");
    const env = { HOME: "/nonexistent" };
    const wrong = await cosign(
      [
        "triangulate",
        "--registry-username",
        "testuser",
        "--registry-password",
        "nope",
        `${reg.host}/test/single:v1`,
      ],
      { env },
    );
    assertFails(wrong, 1, new RegExp(`Authentication to ${reg.host.replace(/\./g, "\\.")} failed`));
    await using d = await tempDir();
    await Deno.writeTextFile(`${d.path}/f`, "x");
    const anon = await cosign(["upload", "blob", "-f", `${d.path}/f`, `${reg.host}/test/blob:v1`], {
      env,
    });
    assertFails(anon, 1, new RegExp(reg.host.replace(/\./g, "\\.")));
  });
}

Deno.test("registry (htpasswd): cosign login writes docker's config.json, then commands use it", async () => {
  await using reg = await startRegistry({ mode: "htpasswd" });
  await using d = await tempDir();
  const env = { DOCKER_CONFIG: `${d.path}/docker`, HOME: d.path };
  const l = await cosign(["login", reg.host, "-u", "testuser", "--password-stdin"], {
    env,
    stdin: "testpass\n",
  });
  assertEquals(l.code, 0, l.stderr);
  const path = `${d.path}/docker/config.json`;
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  const cfg = JSON.parse(await Deno.readTextFile(path));
  assertEquals(cfg.auths[reg.host].auth, btoa("testuser:testpass"));
  await pullAndPush(reg, [], env);
  const hub = await cosign(["login", "docker.io", "-u", "a", "-p", "b"], { env });
  assertEquals(hub.code, 0, hub.stderr);
  const cfg2 = JSON.parse(await Deno.readTextFile(path));
  assertEquals(Object.keys(cfg2.auths).sort(), [reg.host, "https://index.docker.io/v1/"].sort());
});

Deno.test("registry (tls): a self-signed registry is refused without --registry-cacert; --allow-insecure-registry works", async () => {
  await using reg = await startRegistry({ mode: "tls" });
  await pushImage(reg, "test/single:v1");
  const env = { HOME: "/nonexistent" };
  const r = await cosign(["triangulate", `${reg.host}/test/single:v1`], { env });
  assertFails(r, 1, /TLS certificate is not trusted.*--registry-cacert/);
  const ok = await cosign([
    "triangulate",
    "--allow-insecure-registry",
    `${reg.host}/test/single:v1`,
  ], { env });
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.out.includes(".sig"), ok.out);
});

Deno.test("registry (token): upload blob of 64 MiB streams in chunks; curl and skopeo read identical bytes", async () => {
  await using reg = await startRegistry({ mode: "token" });
  await using d = await tempDir();
  const file = `${d.path}/big.bin`;
  const f = await Deno.open(file, { write: true, create: true });
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < 64; i++) {
    block.fill(i);
    block[0] = i * 7;
    await f.write(block);
  }
  f.close();
  const want = (await new Deno.Command("sha256sum", { args: [file] }).output()).stdout;
  const wantHex = new TextDecoder().decode(want).split(" ")[0];
  const u = await cosign([
    "upload",
    "blob",
    "-f",
    file,
    ...credFlags(reg),
    `${reg.host}/test/big:v1`,
  ], { env: { HOME: d.path } });
  assertEquals(u.code, 0, u.stderr);
  const url = /available directly at \[(.+?)\]/.exec(u.stderr)?.[1];
  assert(url?.endsWith(`sha256:${wantHex}`), `blob URL names the file digest: ${url}`);
  // curl with a token from the token server (as any client would).
  const tok = await (await fetch(
    `${reg.tokenServer!.realm}?service=${reg.tokenServer!.service}&scope=repository:test/big:pull`,
    {
      headers: { authorization: "Basic " + btoa("testuser:testpass") },
    },
  )).json();
  const curl = await new Deno.Command("sh", {
    args: ["-c", `curl -sf -H "Authorization: Bearer ${tok.token}" "${url}" | sha256sum`],
  }).output();
  assertEquals(new TextDecoder().decode(curl.stdout).split(" ")[0], wantHex, "curl bytes");
  const copy = await skopeo([
    "copy",
    ...skopeoFlags(reg, "src-"),
    `docker://${reg.host}/test/big:v1`,
    `oci:${d.path}/out:v1`,
  ]);
  assertEquals(copy.code, 0, copy.stderr);
  assertEquals(
    (await Deno.stat(`${d.path}/out/blobs/sha256/${wantHex}`)).size,
    64 << 20,
    "skopeo copied the layer",
  );
});
