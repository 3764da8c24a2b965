import { assertEquals } from "../../tests/helpers.ts";
import { configPaths, defaultKeychain, findOnAbsolutePath } from "./keychain.ts";

function keychain(
  files: Record<string, unknown>,
  env: Record<string, string>,
  helpers: Record<string, string> = {},
) {
  const calls: string[] = [];
  const kc = defaultKeychain({
    getEnv: (n) => env[n],
    readFile: (p) => Promise.resolve(p in files ? JSON.stringify(files[p]) : undefined),
    runHelper: (name, server) => {
      calls.push(`${name} ${server}`);
      return Promise.resolve(helpers[name] ?? "");
    },
  });
  return { kc, calls };
}

Deno.test("keychain: paths in order: DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG runtime, XDG config", () => {
  assertEquals(
    configPaths((n) =>
      ({
        HOME: "/h",
        DOCKER_CONFIG: "/d",
        REGISTRY_AUTH_FILE: "/a.json",
        XDG_RUNTIME_DIR: "/run/u",
      } as Record<string, string>)[n]
    ),
    ["/d/config.json", "/a.json", "/run/u/containers/auth.json", "/h/.config/containers/auth.json"],
  );
  assertEquals(configPaths((n) => ({ HOME: "/h" } as Record<string, string>)[n]), [
    "/h/.docker/config.json",
    "/h/.config/containers/auth.json",
  ]);
});

Deno.test("keychain: auths by registry/repo then registry; auth, username/password, tokens", async () => {
  const { kc } = keychain({
    "/h/.docker/config.json": {
      auths: {
        "ghcr.io/org/special": { auth: btoa("special:pw") },
        "https://ghcr.io": { auth: btoa("user:p:w") },
        "quay.io": { username: "q", password: "qp" },
        "https://index.docker.io/v1/": { identitytoken: "refresh" },
        "reg.example": { registrytoken: "bearer" },
      },
    },
  }, { HOME: "/h" });
  assertEquals(await kc("ghcr.io", "org/special"), { username: "special", password: "pw" });
  assertEquals(await kc("ghcr.io", "org/other"), { username: "user", password: "p:w" });
  assertEquals(await kc("quay.io", "x"), { username: "q", password: "qp" });
  assertEquals(await kc("index.docker.io", "library/busybox"), { identityToken: "refresh" });
  assertEquals(await kc("reg.example", "x"), { registryToken: "bearer" });
  assertEquals(await kc("nowhere.example", "x"), undefined);
});

Deno.test("keychain: credHelpers beat auths; credsStore is the fallback; <token> means identity token", async () => {
  const { kc, calls } = keychain(
    {
      "/h/.docker/config.json": {
        credHelpers: { "ghcr.io": "gh" },
        credsStore: "store",
        auths: { "ghcr.io": { auth: btoa("ignored:x") } },
      },
    },
    { HOME: "/h" },
    {
      gh: JSON.stringify({ ServerURL: "ghcr.io", Username: "<token>", Secret: "idt" }),
      store: JSON.stringify({ ServerURL: "x", Username: "s", Secret: "sp" }),
    },
  );
  assertEquals(await kc("ghcr.io", "a"), { identityToken: "idt" });
  assertEquals(await kc("index.docker.io", "library/x"), { username: "s", password: "sp" });
  assertEquals(calls, ["gh ghcr.io", "store https://index.docker.io/v1/"]);
});

Deno.test("keychain: later files are consulted when the first has nothing; bad files are errors", async () => {
  const { kc } = keychain({
    "/h/.docker/config.json": { auths: {} },
    "/auth.json": { auths: { "quay.io": { auth: btoa("a:b") } } },
  }, { HOME: "/h", REGISTRY_AUTH_FILE: "/auth.json" });
  assertEquals(await kc("quay.io", "x"), { username: "a", password: "b" });
  const bad = defaultKeychain({
    getEnv: (n) => (n === "HOME" ? "/h" : undefined),
    readFile: () => Promise.resolve("{not json"),
  });
  let msg = "";
  await bad("x.io", "y").catch((e) => msg = e.message);
  assertEquals(/not JSON/.test(msg), true, msg);
});

Deno.test("keychain: helpers are found only through absolute PATH entries", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/docker-credential-x`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/docker-credential-x`, 0o755);
    await Deno.writeTextFile(`${dir}/docker-credential-noexec`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/docker-credential-noexec`, 0o644);
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      for (const path of ["", ":", ".", "./", "..", `.:${dir}/missing`, `:/nonexistent`]) {
        assertEquals(await findOnAbsolutePath("docker-credential-x", path), undefined, path);
      }
    } finally {
      Deno.chdir(cwd);
    }
    assertEquals(
      await findOnAbsolutePath("docker-credential-x", `/nonexistent::${dir}/`),
      `${dir}/docker-credential-x`,
    );
    assertEquals(await findOnAbsolutePath("docker-credential-noexec", dir), undefined);
    assertEquals(await findOnAbsolutePath("docker-credential-x", undefined), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keychain: a helper that exits without reading its input is answered by its output", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/docker-credential-quick`,
      `#!/bin/sh\nprintf '{"Username":"u","Secret":"s"}'\n`,
    );
    await Deno.chmod(`${dir}/docker-credential-quick`, 0o755);
    const env: Record<string, string> = { HOME: dir, PATH: dir };
    // A server name larger than a pipe's buffer: writing it waits for the helper, which exits
    // without reading, so the write always fails.
    const registry = "r".repeat(100_000) + ".example";
    const kc = defaultKeychain({
      getEnv: (n) => env[n],
      readFile: (p) =>
        Promise.resolve(
          p === `${dir}/.docker/config.json`
            ? JSON.stringify({ credHelpers: { [registry]: "quick" } })
            : undefined,
        ),
    });
    assertEquals(await kc(registry, "x"), { username: "u", password: "s" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
