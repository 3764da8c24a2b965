/**
 * Keyless signing through the CLI, end to end on loopback: interactive login against a real
 * OpenID Connect provider (device flow and browser flow, the test playing the user from what
 * the process prints), services from a signing config (a file, or TUF's), cosign's privacy
 * question on a pty, the token sources cosign tries (SIGSTORE_ID_TOKEN, GitHub Actions, the
 * filesystem token), and RFC 3161 timestamps in image bundles.
 */

import { pushImage, startRegistry } from "./harness/mod.ts";
import { startRekor } from "./harness/rekor.ts";
import { startKeylessServices } from "./harness/keyless.ts";
import { browseAsUser, freePort } from "./harness/oidc_provider.ts";
import { serveTuf, TufRepo } from "./harness/tuf.ts";
import {
  assert,
  assertEquals,
  assertFails,
  cliCommand,
  cosign,
  ROOT,
  type RunResult,
  tempDir,
} from "./helpers.ts";
import { getIdentityToken } from "../lib/oidc/token.ts";

/** Ambient token sources of the machine running the tests: never seen by the product. */
const AMBIENT = [
  "SIGSTORE_ID_TOKEN",
  "ACTIONS_ID_TOKEN_REQUEST_URL",
  "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/** A running `cosign ARGS` whose stderr the test reads while it runs. */
function spawnCosign(args: string[], env: Record<string, string> = {}) {
  const child = cliCommand(["cosign", ...args], { env, unset: AMBIENT }, "null").spawn();
  let stderr = "";
  const waiters: { re: RegExp; ok: (m: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = stderr.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.ok(m);
      }
    }
  };
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      check();
    }
  })();
  const done: Promise<RunResult> = (async () => {
    const out = new Uint8Array(await new Response(child.stdout).arrayBuffer());
    const { code } = await child.status;
    await reading;
    return { code, stdout: out, out: new TextDecoder().decode(out), stderr };
  })();
  return {
    done,
    /** Resolves with the first match of `re` in stderr; rejects when the process ends first. */
    waitFor(re: RegExp): Promise<RegExpMatchArray> {
      return new Promise((ok, fail) => {
        waiters.push({ re, ok });
        check();
        done.then((r) => fail(new Error(`exited ${r.code} before ${re}: ${r.stderr}`)));
      });
    },
  };
}

interface Env {
  svc: Awaited<ReturnType<typeof startKeylessServices>>;
  rekor: Awaited<ReturnType<typeof startRekor>>;
  dir: string;
  root: string;
  blob: string;
}

async function withEnv(
  fn: (e: Env) => Promise<void>,
  options: Parameters<typeof startKeylessServices>[0] = {},
): Promise<void> {
  await using svc = await startKeylessServices(options);
  await using rekor = await startRekor();
  await using tmp = await tempDir();
  const root = `${tmp.path}/trusted_root.json`;
  await Deno.writeTextFile(root, JSON.stringify(svc.trustedRoot(rekor.publicKeyPem)));
  const blob = `${tmp.path}/blob.txt`;
  await Deno.writeTextFile(blob, "hello keyless flows\n");
  await fn({ svc, rekor, dir: tmp.path, root, blob });
}

/** The explicit services of `e`, as cosign v2 named them. */
function explicit(e: Env): string[] {
  return [
    "--use-signing-config=false",
    `--fulcio-url=${e.svc.fulcioUrl}`,
    `--rekor-url=${e.rekor.url}`,
    `--trusted-root=${e.root}`,
  ];
}

/** verify-blob of `bundle` for `who@example.com`; returns the result. */
function verifyBlob(e: Env, bundle: string, who: string): Promise<RunResult> {
  return cosign([
    "verify-blob",
    `--bundle=${bundle}`,
    `--trusted-root=${e.root}`,
    `--certificate-identity=${who}@example.com`,
    `--certificate-oidc-issuer=${e.svc.issuer}`,
    e.blob,
  ]);
}

function signingConfig(e: Env, options: { rekor?: boolean; tsa?: boolean } = {}): string {
  const svc = (url: string) => ({
    url,
    majorApiVersion: 1,
    validFor: { start: "2020-01-01T00:00:00Z" },
    operator: "loopback",
  });
  return JSON.stringify({
    mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
    caUrls: [svc(e.svc.fulcioUrl)],
    oidcUrls: [svc(e.svc.issuer)],
    rekorTlogUrls: options.rekor === false ? [] : [svc(e.rekor.url)],
    rekorTlogConfig: { selector: "ANY" },
    tsaUrls: options.tsa === false ? [] : [svc(e.svc.tsaUrl)],
    tsaConfig: { selector: "ANY" },
  });
}

Deno.test("interactive device flow (the default off a terminal): the test logs in as the user; ambient tokens skipped on request", async () => {
  await withEnv(async (e) => {
    const bundle = `${e.dir}/device.json`;
    // SIGSTORE_ID_TOKEN holds alice's token; --oidc-disable-ambient-providers must ignore it.
    const alice = await e.svc.deviceFlowToken("alice");
    const p = spawnCosign([
      "sign-blob",
      ...explicit(e),
      `--oidc-issuer=${e.svc.issuer}`,
      "--oidc-disable-ambient-providers",
      "-y",
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { SIGSTORE_ID_TOKEN: alice });
    const m = await p.waitFor(/Enter the verification code (\S+) in your browser at: (\S+)/);
    const page = await browseAsUser(m[2]!, e.svc.issuer, { login: "dave", userCode: m[1]! });
    assert(/success/i.test(page.body), page.body.slice(0, 300));
    const r = await p.done;
    assertEquals(r.code, 0, r.stderr);
    assert(/Token received!/.test(r.stderr), r.stderr);
    assert(/Certificate issued for dave@example.com/.test(r.stderr), r.stderr);
    assertEquals((await verifyBlob(e, bundle, "dave")).code, 0);
    assertFails(await verifyBlob(e, bundle, "alice"), 1);
  });
});

Deno.test("interactive device flow with a confidential client: --oidc-client-secret-file", async () => {
  await withEnv(async (e) => {
    const secretFile = `${e.dir}/client-secret`;
    await Deno.writeTextFile(secretFile, "s3cret\n");
    const args = (bundle: string, extra: string[]) => [
      "sign-blob",
      ...explicit(e),
      `--oidc-issuer=${e.svc.issuer}`,
      "--fulcio-auth-flow=device",
      ...extra,
      "-y",
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ];
    // Without the secret the provider refuses the client before any code is shown.
    const refused = await cosign(args(`${e.dir}/nosecret.json`, []), { unset: AMBIENT });
    assertFails(refused, 1);
    assert(/invalid_client|client authentication/i.test(refused.stderr), refused.stderr);
    const p = spawnCosign(
      args(`${e.dir}/secret.json`, [`--oidc-client-secret-file=${secretFile}`]),
    );
    const m = await p.waitFor(/Enter the verification code (\S+) in your browser at: (\S+)/);
    await browseAsUser(m[2]!, e.svc.issuer, { login: "frank", userCode: m[1]! });
    const r = await p.done;
    assertEquals(r.code, 0, r.stderr);
    assertEquals((await verifyBlob(e, `${e.dir}/secret.json`, "frank")).code, 0);
  }, { clientSecret: "s3cret" });
});

Deno.test("interactive browser flow: --fulcio-auth-flow normal with --oidc-redirect-url, the test follows the printed URL", async () => {
  const redirect = `http://127.0.0.1:${freePort()}/auth/callback`;
  await withEnv(async (e) => {
    const bundle = `${e.dir}/browser.json`;
    const p = spawnCosign([
      "sign-blob",
      ...explicit(e),
      `--oidc-issuer=${e.svc.issuer}`,
      "--fulcio-auth-flow=normal",
      `--oidc-redirect-url=${redirect}`,
      "-y",
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ]);
    const m = await p.waitFor(/Open this URL in a browser to sign in:\s*\n(\S+)/);
    const end = await browseAsUser(m[1]!, e.svc.issuer, { login: "erin" });
    assert(end.url.startsWith(redirect), `ended at ${end.url}`);
    const r = await p.done;
    assertEquals(r.code, 0, r.stderr);
    assertEquals((await verifyBlob(e, bundle, "erin")).code, 0);
    // A flow that is neither: a usage error before anything happens.
    const bad = await cosign(["sign-blob", ...explicit(e), "--fulcio-auth-flow=magic", e.blob], {
      unset: AMBIENT,
    });
    assertFails(bad, 2, /--fulcio-auth-flow must be normal or device/);
  }, { redirectUris: [redirect] });
});

Deno.test("--signing-config FILE picks Fulcio, Rekor and the TSA; explicit URLs and --tlog-upload=false with it are refused", async () => {
  await withEnv(async (e) => {
    const cfg = `${e.dir}/signing_config.json`;
    await Deno.writeTextFile(cfg, signingConfig(e));
    const token = await e.svc.deviceFlowToken("alice");
    const bundle = `${e.dir}/cfg.json`;
    const base = [
      "sign-blob",
      `--signing-config=${cfg}`,
      `--trusted-root=${e.root}`,
      `--identity-token=${token}`,
      "-y",
      "--new-bundle-format",
      `--bundle=${bundle}`,
    ];
    const entries = e.rekor.entries.size, tsa = e.svc.tsaRequests;
    const r = await cosign([...base, e.blob], { unset: AMBIENT });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(e.rekor.entries.size, entries + 1, "logged in the config's Rekor");
    assertEquals(e.svc.tsaRequests, tsa + 1, "timestamped by the config's TSA");
    const b = JSON.parse(await Deno.readTextFile(bundle));
    assertEquals(b.verificationMaterial.tlogEntries.length, 1);
    assertEquals(b.verificationMaterial.timestampVerificationData.rfc3161Timestamps.length, 1);
    assertEquals((await verifyBlob(e, bundle, "alice")).code, 0);
    // cosign's rules.
    for (
      const extra of [
        `--rekor-url=${e.rekor.url}`,
        `--fulcio-url=${e.svc.fulcioUrl}`,
        `--timestamp-server-url=${e.svc.tsaUrl}`,
        `--oidc-issuer=${e.svc.issuer}`,
      ]
    ) {
      const c = await cosign([...base, extra, e.blob], { unset: AMBIENT });
      assertFails(c, 2, /cannot specify service URLs and use signing config/);
    }
    const noLog = await cosign([...base, "--tlog-upload=false", e.blob], { unset: AMBIENT });
    assertFails(noLog, 2, /--tlog-upload=false is not supported with --signing-config/);
    assertEquals(e.rekor.entries.size, entries + 1, "refusals logged nothing");
    // Two TSAs selected (ALL): two timestamps, both verified.
    const two = JSON.parse(signingConfig(e));
    two.tsaUrls = [two.tsaUrls[0], { ...two.tsaUrls[0], operator: "second" }];
    two.tsaConfig = { selector: "ALL" };
    await Deno.writeTextFile(cfg, JSON.stringify(two));
    const t2 = await cosign([...base, e.blob], { unset: AMBIENT });
    assertEquals(t2.code, 0, t2.stderr);
    const b2 = JSON.parse(await Deno.readTextFile(bundle));
    assertEquals(b2.verificationMaterial.timestampVerificationData.rfc3161Timestamps.length, 2);
    assertEquals((await verifyBlob(e, bundle, "alice")).code, 0);
    const entries2 = e.rekor.entries.size;
    // A config without logs: nothing uploaded (cosign), the TSA still timestamps.
    await Deno.writeTextFile(cfg, signingConfig(e, { rekor: false }));
    const n = await cosign([...base, e.blob], { unset: AMBIENT });
    assertEquals(n.code, 0, n.stderr);
    assertEquals(e.rekor.entries.size, entries2, "no log in the config: no upload");
    // Keyed signing with --signing-config logs in the config's Rekor too.
    await Deno.writeTextFile(cfg, signingConfig(e, { tsa: false }));
    const kenv = { COSIGN_PASSWORD: "pw" };
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${e.dir}/k`], {
      env: kenv,
    });
    assertEquals(g.code, 0, g.stderr);
    const keyed = await cosign([
      "sign-blob",
      `--signing-config=${cfg}`,
      `--trusted-root=${e.root}`,
      `--key=${e.dir}/k.key`,
      `--bundle=${e.dir}/keyed.json`,
      e.blob,
    ], { env: kenv, unset: AMBIENT });
    assertEquals(keyed.code, 0, keyed.stderr);
    assertEquals(e.rekor.entries.size, entries2 + 1, "keyed: logged in the config's Rekor");
  });
});

Deno.test("interactive login against the signing config's OIDC issuer", async () => {
  await withEnv(async (e) => {
    const cfg = `${e.dir}/signing_config.json`;
    await Deno.writeTextFile(cfg, signingConfig(e, { tsa: false }));
    const bundle = `${e.dir}/cfg-login.json`;
    const p = spawnCosign([
      "sign-blob",
      `--signing-config=${cfg}`,
      `--trusted-root=${e.root}`,
      "-y",
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ]);
    const m = await p.waitFor(/Enter the verification code (\S+) in your browser at: (\S+)/);
    assert(m[2]!.startsWith(e.svc.issuer + "/"), m[2]!);
    await browseAsUser(m[2]!, e.svc.issuer, { login: "gina", userCode: m[1]! });
    const r = await p.done;
    assertEquals(r.code, 0, r.stderr);
    assertEquals((await verifyBlob(e, bundle, "gina")).code, 0);
  });
});

Deno.test("without --signing-config, the signing config and trusted root come from TUF", async () => {
  await withEnv(async (e) => {
    const repo = new TufRepo({
      "trusted_root.json": await Deno.readFile(e.root),
      "signing_config.v0.2.json": new TextEncoder().encode(signingConfig(e)),
    });
    await Deno.writeFile(`${e.dir}/root.json`, repo.initialRoot);
    await using srv = serveTuf(repo);
    const env = {
      TUF_MIRROR: srv.url,
      TUF_ROOT_JSON: `${e.dir}/root.json`,
      TUF_ROOT: `${e.dir}/tuf`,
    };
    const token = await e.svc.deviceFlowToken("alice");
    const bundle = `${e.dir}/tuf.json`;
    const entries = e.rekor.entries.size;
    const r = await cosign([
      "sign-blob",
      `--identity-token=${token}`,
      "-y",
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ], { env, unset: AMBIENT });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(e.rekor.entries.size, entries + 1);
    assertEquals((await verifyBlob(e, bundle, "alice")).code, 0);
    // TUF unreachable: the error names the ways out.
    const down = await cosign(["sign-blob", `--identity-token=${token}`, "-y", e.blob], {
      env: { ...env, TUF_MIRROR: "http://127.0.0.1:9", TUF_ROOT: `${e.dir}/tuf2` },
      unset: AMBIENT,
    });
    assertFails(down, 1, /--signing-config/);
  });
});

/** Drives `argv` on a pty, typing `answer` at cosign's [y/N] question. */
const PTY_DRIVER = String.raw`
import json, os, pty, select, signal, subprocess, sys, time, fcntl, termios
spec = json.loads(sys.argv[1])
master, slave = pty.openpty()
def ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
proc = subprocess.Popen(spec["argv"], stdin=slave, stdout=subprocess.PIPE, stderr=slave,
                        preexec_fn=ctty, close_fds=True, env=spec["env"])
os.close(slave)
term = bytearray(); out = bytearray(); sent = False
deadline = time.monotonic() + 90
fds = {master: term, proc.stdout.fileno(): out}
while fds and time.monotonic() < deadline:
    r, _, _ = select.select(list(fds), [], [], 0.05)
    for fd in r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            d = b""
        if d:
            fds[fd].extend(d)
        else:
            del fds[fd]
    if not sent and b"[y/N] " in term:
        os.write(master, spec["answer"].encode()); sent = True
    if proc.poll() is not None and proc.stdout.fileno() not in fds:
        break
if proc.poll() is None:
    os.killpg(proc.pid, signal.SIGKILL)
code = proc.wait()
json.dump({"code": code, "sent": sent, "terminal": term.decode("utf-8", "replace")}, sys.stdout)
`;

/** Runs `argv` on a pty ({@link PTY_DRIVER}), typing `answer` at cosign's [y/N] question. */
async function runOnPty(
  argv: string[],
  answer: string,
  env: Record<string, string>,
): Promise<{ code: number; sent: boolean; terminal: string }> {
  const r = await new Deno.Command("python3", {
    args: ["-c", PTY_DRIVER, JSON.stringify({ argv, answer, env })],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(r.code === 0, new TextDecoder().decode(r.stderr));
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

Deno.test("privacy question on a pty: n aborts before Fulcio and Rekor are asked; y proceeds", async () => {
  await withEnv(async (e) => {
    const token = await e.svc.deviceFlowToken("alice");
    const env: Record<string, string> = { ...Deno.env.toObject() };
    for (const k of [...AMBIENT, "COSIGN_PASSWORD"]) delete env[k];
    const onPty = async (answer: string, bundle: string) => {
      const argv = [
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-all",
        "--config",
        ROOT + "deno.json",
        ROOT + "cli.ts",
        "cosign",
        "sign-blob",
        ...explicit(e),
        `--identity-token=${token}`,
        "--new-bundle-format",
        `--bundle=${bundle}`,
        e.blob,
      ];
      return await runOnPty(argv, answer, env);
    };
    const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
    const fulcio = e.svc.fulcioLog.length, entries = e.rekor.entries.size;
    const no = await onPty("n\n", `${e.dir}/no.json`);
    assert(no.sent, `no question: ${no.terminal}`);
    assert(no.terminal.includes("By typing 'y', you attest"), no.terminal);
    assertEquals(no.code, 1, no.terminal);
    assert(/declined/.test(no.terminal), no.terminal);
    assertEquals(e.svc.fulcioLog.length, fulcio, "Fulcio not asked");
    assertEquals(e.rekor.entries.size, entries, "nothing logged");
    assert(!(await exists(`${e.dir}/no.json`)), "no bundle");
    const yes = await onPty("y\n", `${e.dir}/yes.json`);
    assert(yes.sent, `no question: ${yes.terminal}`);
    assertEquals(yes.code, 0, yes.terminal);
    assertEquals(e.svc.fulcioLog.length, fulcio + 1);
    assertEquals(e.rekor.entries.size, entries + 1);
    assertEquals((await verifyBlob(e, `${e.dir}/yes.json`, "alice")).code, 0);
  });
});

Deno.test("token sources: SIGSTORE_ID_TOKEN, GitHub Actions (bearer, audience sigstore), the filesystem token", async () => {
  await withEnv(async (e) => {
    const token = await e.svc.deviceFlowToken("alice");
    const sign = (bundle: string, env: Record<string, string>) =>
      cosign([
        "sign-blob",
        ...explicit(e),
        "-y",
        "--new-bundle-format",
        `--bundle=${bundle}`,
        e.blob,
      ], {
        env,
        unset: AMBIENT,
      });
    const fromEnv = await sign(`${e.dir}/env.json`, { SIGSTORE_ID_TOKEN: token });
    assertEquals(fromEnv.code, 0, fromEnv.stderr);
    assertEquals((await verifyBlob(e, `${e.dir}/env.json`, "alice")).code, 0);
    // GitHub Actions: the runner's token service, standing in on loopback.
    const ghToken = await e.svc.deviceFlowToken("gh-runner");
    const seen: { auth: string | null; audience: string | null }[] = [];
    await using gh = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      const u = new URL(req.url);
      seen.push({
        auth: req.headers.get("authorization"),
        audience: u.searchParams.get("audience"),
      });
      if (req.headers.get("authorization") !== "Bearer runner-secret") {
        return new Response("unauthorized", { status: 401 });
      }
      return Response.json({ value: ghToken });
    });
    const ghUrl = `http://127.0.0.1:${gh.addr.port}/token?api-version=2.0`;
    const ok = await sign(`${e.dir}/gh.json`, {
      ACTIONS_ID_TOKEN_REQUEST_URL: ghUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-secret",
    });
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(seen.at(-1), { auth: "Bearer runner-secret", audience: "sigstore" });
    assertEquals((await verifyBlob(e, `${e.dir}/gh.json`, "gh-runner")).code, 0);
    const wrong = await sign(`${e.dir}/gh2.json`, {
      ACTIONS_ID_TOKEN_REQUEST_URL: ghUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "stolen",
    });
    assertFails(wrong, 1, /GitHub Actions identity token.*HTTP 401/);
    // The filesystem token (cosign reads a fixed path and has no setting for it: library level).
    const fsPath = `${e.dir}/oidc-token`;
    await Deno.writeTextFile(fsPath, token + "\n");
    const none = () => undefined;
    const t = await getIdentityToken({ env: none, filesystemTokenPath: fsPath });
    assertEquals([t.source, t.subject], [fsPath, "alice@example.com"]);
    let missing = "";
    await getIdentityToken({
      env: none,
      filesystemTokenPath: fsPath,
      disableAmbientProviders: true,
    })
      .catch((err) => missing = (err as { code: string }).code);
    assertEquals(missing, "OIDC_TOKEN_MISSING");
  });
});

Deno.test("image sign with a TSA (v3 bundle and legacy annotation, keyless and keyed): verify checks the timestamp without the log", async () => {
  await withEnv(async (e) => {
    await using reg = await startRegistry();
    const token = await e.svc.deviceFlowToken("alice");
    // The same trust without the TSA: a bundle with a timestamp cannot verify against it.
    const rootNoTsa = `${e.dir}/root-no-tsa.json`;
    const full = JSON.parse(await Deno.readTextFile(e.root));
    await Deno.writeTextFile(rootNoTsa, JSON.stringify({ ...full, timestampAuthorities: [] }));
    const verify = (ref: string, root: string) =>
      cosign([
        "verify",
        `--trusted-root=${root}`,
        "--certificate-identity=alice@example.com",
        `--certificate-oidc-issuer=${e.svc.issuer}`,
        "--insecure-ignore-tlog",
        ref,
      ]);
    for (const [v3, tsa] of [[true, true], [true, false], [false, true], [false, false]]) {
      const img = await pushImage(reg, `test/tsa${v3}${tsa}:v1`);
      const tsaBefore = e.svc.tsaRequests;
      const s = await cosign([
        "sign",
        "--use-signing-config=false",
        `--fulcio-url=${e.svc.fulcioUrl}`,
        `--trusted-root=${e.root}`,
        `--identity-token=${token}`,
        "--tlog-upload=false",
        `--new-bundle-format=${v3}`,
        ...(tsa ? [`--timestamp-server-url=${e.svc.tsaUrl}`] : []),
        "-y",
        img.ref,
      ], { unset: AMBIENT });
      assertEquals(s.code, 0, s.stderr);
      assertEquals(e.svc.tsaRequests, tsaBefore + (tsa ? 1 : 0));
      const v = await verify(img.ref, e.root);
      assertEquals(v.code, 0, `v3=${v3} tsa=${tsa}: ${v.stderr}`);
      const n = await verify(img.ref, rootNoTsa);
      if (tsa) assert(n.code !== 0, `v3=${v3}: an untrusted TSA's timestamp passed: ${n.stderr}`);
      else assertEquals(n.code, 0, n.stderr);
    }
    // attest: the same; the legacy attestation layer's timestamp imprints the whole envelope,
    // as cosign's (its signature annotation is empty).
    const predicate = `${e.dir}/predicate.json`;
    await Deno.writeTextFile(predicate, JSON.stringify({ built: "here" }));
    for (const v3 of [true, false]) {
      const img = await pushImage(reg, `test/att${v3}:v1`);
      const a = await cosign([
        "attest",
        "--use-signing-config=false",
        `--fulcio-url=${e.svc.fulcioUrl}`,
        `--trusted-root=${e.root}`,
        `--identity-token=${token}`,
        "--tlog-upload=false",
        `--new-bundle-format=${v3}`,
        `--timestamp-server-url=${e.svc.tsaUrl}`,
        `--predicate=${predicate}`,
        "-y",
        img.ref,
      ], { unset: AMBIENT });
      assertEquals(a.code, 0, a.stderr);
      const va = (root: string) =>
        cosign([
          "verify-attestation",
          `--trusted-root=${root}`,
          "--certificate-identity=alice@example.com",
          `--certificate-oidc-issuer=${e.svc.issuer}`,
          "--insecure-ignore-tlog",
          img.ref,
        ]);
      const ok = await va(e.root);
      assertEquals(ok.code, 0, `attest v3=${v3}: ${ok.stderr}`);
      const no = await va(rootNoTsa);
      assert(no.code !== 0, `attest v3=${v3}: an untrusted TSA's timestamp passed: ${no.stderr}`);
    }
    // Keyed, legacy layout: the timestamp annotation cosign writes.
    const kenv = { COSIGN_PASSWORD: "pw" };
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${e.dir}/k`], {
      env: kenv,
    });
    assertEquals(g.code, 0, g.stderr);
    const img = await pushImage(reg, "test/tsakeyed:v1");
    const s = await cosign([
      "sign",
      `--key=${e.dir}/k.key`,
      "--tlog-upload=false",
      "--new-bundle-format=false",
      `--timestamp-server-url=${e.svc.tsaUrl}`,
      img.ref,
    ], { env: kenv, unset: AMBIENT });
    assertEquals(s.code, 0, s.stderr);
    const dl = await cosign(["download", "signature", img.ref]);
    assertEquals(dl.code, 0, dl.stderr);
    const ts = JSON.parse(dl.out.trim().split("\n")[0]!).RFC3161Timestamp;
    assert(typeof ts?.SignedRFC3161Timestamp === "string", dl.out);
  });
});

Deno.test("on a terminal the browser flow is the default and the browser is opened on the login URL", async () => {
  const redirect = `http://127.0.0.1:${freePort()}/auth/callback`;
  await withEnv(async (e) => {
    // A stand-in xdg-open/open that records the URL it is asked to open.
    const bin = `${e.dir}/bin`;
    await Deno.mkdir(bin);
    const opened = `${e.dir}/opened.txt`;
    for (const name of ["xdg-open", "open"]) {
      await Deno.writeTextFile(`${bin}/${name}`, `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`, {
        mode: 0o755,
      });
    }
    const env: Record<string, string> = { ...Deno.env.toObject() };
    for (const k of [...AMBIENT, "COSIGN_PASSWORD"]) delete env[k];
    env.PATH = `${bin}:${env.PATH ?? "/usr/bin:/bin"}`;
    const bundle = `${e.dir}/tty.json`;
    const argv = [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      "cosign",
      "sign-blob",
      ...explicit(e),
      `--oidc-issuer=${e.svc.issuer}`,
      `--oidc-redirect-url=${redirect}`,
      "-y",
      "--new-bundle-format",
      `--bundle=${bundle}`,
      e.blob,
    ];
    const driver = new Deno.Command("python3", {
      args: ["-c", PTY_DRIVER, JSON.stringify({ argv, answer: "", env })],
      stdout: "piped",
      stderr: "piped",
    }).output();
    let url = "";
    for (let i = 0; i < 600 && !url; i++) {
      url = await Deno.readTextFile(opened).catch(() => "");
      if (!url) await new Promise((r) => setTimeout(r, 100));
    }
    assert(url.startsWith(e.svc.issuer + "/"), `browser not opened: ${url}`);
    const end = await browseAsUser(url, e.svc.issuer, { login: "hank" });
    assert(end.url.startsWith(redirect), `ended at ${end.url}`);
    const out = await driver;
    assert(out.code === 0, new TextDecoder().decode(out.stderr));
    const d = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      code: number;
      terminal: string;
    };
    assertEquals(d.code, 0, d.terminal);
    assert(d.terminal.includes("Your browser will now be opened to:"), d.terminal);
    assertEquals((await verifyBlob(e, bundle, "hank")).code, 0);
  }, { redirectUris: [redirect] });
});

Deno.test("privacy question on a pty for keyed signing too (cosign asks before any upload): n logs nothing", async () => {
  await withEnv(async (e) => {
    const env: Record<string, string> = { ...Deno.env.toObject(), COSIGN_PASSWORD: "pw" };
    for (const k of AMBIENT) delete env[k];
    const g = await cosign(["generate-key-pair", "--output-key-prefix", `${e.dir}/k`], {
      env: { COSIGN_PASSWORD: "pw" },
    });
    assertEquals(g.code, 0, g.stderr);
    const entries = e.rekor.entries.size;
    const argv = (bundle: string) => [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      "cosign",
      "sign-blob",
      `--key=${e.dir}/k.key`,
      `--rekor-url=${e.rekor.url}`,
      `--trusted-root=${e.root}`,
      `--bundle=${bundle}`,
      e.blob,
    ];
    const onPty = (answer: string, bundle: string) => runOnPty(argv(bundle), answer, env);
    const no = await onPty("n\n", `${e.dir}/kno.json`);
    assert(no.sent, `no question: ${no.terminal}`);
    assertEquals(no.code, 1, no.terminal);
    assertEquals(e.rekor.entries.size, entries, "nothing logged");
    const yes = await onPty("y\n", `${e.dir}/kyes.json`);
    assertEquals(yes.code, 0, yes.terminal);
    assertEquals(e.rekor.entries.size, entries + 1);
  });
});
