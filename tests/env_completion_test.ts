/**
 * `cosign env` through the CLI, and `cosign completion bash|zsh|fish` run in the real shells:
 * commands, subcommands, flags, listed flag values and argument values complete, and the bash
 * script offers exactly the flags each command defines.
 */
import { cosignProgram } from "../lib/cli/cosign.ts";
import { GLOBAL_FLAGS } from "../lib/cli/command.ts";
import type { FlagSpec } from "../lib/cli/args.ts";
import { assert, assertEquals, assertFails, cosign, sh, tempDir } from "./helpers.ts";

Deno.test("cosign env: values, secrets hidden, descriptions", async () => {
  const env = {
    COSIGN_PASSWORD: "hunter2",
    COSIGN_REPOSITORY: "example.com/sigs",
    SIGSTORE_ID_TOKEN: "eyJtoken",
    COSIGN_REGISTRY_PASSWORD: "regpass",
  };
  const r = await cosign(["env"], { env });
  assertEquals(r.code, 0, r.stderr);
  assert(r.out.includes("# COSIGN_PASSWORD overrides password inputs with this value\n"), r.out);
  assert(r.out.includes("COSIGN_PASSWORD=******\n"), r.out);
  assert(r.out.includes("SIGSTORE_ID_TOKEN=******\n"), r.out);
  assert(r.out.includes("COSIGN_REPOSITORY=example.com/sigs\n"), r.out);
  assert(r.out.includes("COSIGN_REGISTRY_PASSWORD=******\n"), r.out);
  for (const secret of ["hunter2", "eyJtoken", "regpass"]) assert(!r.out.includes(secret), secret);
  const bare = await cosign(["env", "--show-descriptions=false", "--show-sensitive-values"], {
    env,
  });
  assertEquals(bare.code, 0, bare.stderr);
  assert(!bare.out.includes("#") && bare.out.includes("COSIGN_PASSWORD=hunter2\n"), bare.out);
  assertFails(await cosign(["env", "extra"]), 2);
});

type Case = [line: string, expected: string[]];
const CASES: Case[] = [
  ["cosign si", ["sign", "sign-blob", "signing-config"]],
  ["cosign attach ", ["attestation", "sbom", "signature"]],
  ["cosign download s", ["sbom", "signature"]],
  ["cosign sign --ke", ["--key"]],
  ["cosign attach signature --sig", ["--signature"]],
  ["cosign verify --output ", ["json", "text"]],
  ["cosign sign --registry-referrers-mode ", ["legacy", "oci-1-1"]],
  ["cosign completion ", ["bash", "fish", "zsh"]],
  ["cosign -d verify-blob-att", ["verify-blob-attestation"]],
  ["cosign copy --platf", ["--platform"]],
];

/** Bash: COMP_WORDS as bash splits `line` (a trailing space: an empty current word). */
function bashWords(line: string): string[] {
  return line.split(" ");
}

Deno.test("cosign completion bash: commands, flags and values complete", async () => {
  await using d = await tempDir();
  const r = await cosign(["completion", "bash"]);
  assertEquals(r.code, 0, r.stderr);
  await Deno.writeTextFile(`${d.path}/c.bash`, r.out);
  const script = [`source ${d.path}/c.bash`, `cd ${d.path}/empty`];
  for (const [line] of CASES) {
    const words = bashWords(line).map((w) => `'${w}'`).join(" ");
    script.push(
      `COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _cosign; echo "\${COMPREPLY[*]}"`,
    );
  }
  await Deno.mkdir(`${d.path}/empty`);
  const out = await sh("bash", ["-c", script.join("\n")]);
  assertEquals(out.code, 0, out.err);
  const got = new TextDecoder().decode(out.out).split("\n");
  CASES.forEach(([line, want], i) => {
    assertEquals(got[i]!.split(" ").filter((x) => x).sort(), want, line);
  });

  // Each command offers exactly its own flags, the global ones and --help.
  const lines = [`source ${d.path}/c.bash`];
  const names = Object.keys(cosignProgram.commands);
  for (const n of names) lines.push(`_cosign_flags '${n}'`);
  const all = await sh("bash", ["-c", lines.join("\n")]);
  const flagLines = new TextDecoder().decode(all.out).trim().split("\n");
  for (const [i, n] of names.entries()) {
    const { spec } = await cosignProgram.commands[n]!.load();
    const want = new Set(["--help", "-h"]);
    const flags: Record<string, FlagSpec> = { ...GLOBAL_FLAGS, ...spec.flags };
    for (const [f, s] of Object.entries(flags)) {
      if (s.unsupported) continue;
      want.add(`--${f}`);
      if (s.short) want.add(`-${s.short}`);
    }
    assertEquals(flagLines[i]!.split(" ").sort(), [...want].sort(), n);
  }
});

Deno.test("cosign completion fish and zsh: run in the real shells", async () => {
  await using d = await tempDir();
  await Deno.mkdir(`${d.path}/empty`);
  const fish = await cosign(["completion", "fish"]);
  assertEquals(fish.code, 0, fish.stderr);
  await Deno.writeTextFile(`${d.path}/c.fish`, fish.out);
  const fishScript = [`source ${d.path}/c.fish`, `cd ${d.path}/empty`];
  for (const [line] of CASES) {
    fishScript.push(`echo (complete -C'${line}' | string split -f1 \\t | sort | string join ' ')`);
  }
  const f = await sh("fish", ["--no-config", "-c", fishScript.join("\n")]);
  assertEquals(f.code, 0, f.err);
  const got = new TextDecoder().decode(f.out).split("\n");
  CASES.forEach(([line, want], i) => assertEquals(got[i]!.split(" ").filter((x) => x), want, line));

  const zsh = await cosign(["completion", "zsh"]);
  assertEquals(zsh.code, 0, zsh.stderr);
  await Deno.writeTextFile(`${d.path}/c.zsh`, zsh.out);
  // zsh filters by prefix itself (compadd); the function's candidates must include the answer.
  const z = await sh("zsh", [
    "-f",
    "-c",
    [
      `source ${d.path}/c.zsh`,
      "print -r -- ${_comps[cosign]}",
      "setopt ksharrays",
      "COMP_WORDS=(cosign attach ''); COMP_CWORD=2; _cosign; print -r -- \"${COMPREPLY[*]}\"",
      "COMP_WORDS=(cosign verify --output ''); COMP_CWORD=3; _cosign; print -r -- \"${COMPREPLY[*]}\"",
    ].join("\n"),
  ]);
  assertEquals(z.code, 0, z.err);
  assertEquals(new TextDecoder().decode(z.out).trim().split("\n"), [
    "_bash_complete -o default -F _cosign",
    "signature attestation sbom",
    "json text",
  ]);
  assertFails(await cosign(["completion", "powershell"]), 2, /bash, zsh or fish/);
});
