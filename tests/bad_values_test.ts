/**
 * Every path, URL and number flag of every command, given a bad value, fails with one line that
 * names the value, and never as an internal error (exit 3) or a success. The table is built from
 * the command definitions, so a new flag with a `check` is swept without editing this file.
 */
import { cosignProgram } from "../lib/cli/cosign.ts";
import { type Program, runProgram } from "../lib/cli/run.ts";
import { sgetProgram } from "../lib/cli/sget.ts";
import type { FlagCheck } from "../lib/cli/args.ts";
import { assert, assertFails, cosign, run, tempDir } from "./helpers.ts";

function badValues(check: FlagCheck, tmp: string): string[] {
  switch (check) {
    case "url":
      return ["not a url", "ftp://host.example/x", "https://"];
    case "count":
      return ["abc", "0", "-1", "1.5"];
    case "duration":
      return ["abc", "-5s", "10"];
    case "size":
      return ["abc", "-1"];
    case "file":
      return [`${tmp}/missing.file`, tmp, `${tmp}/afile/x`];
    case "out-file":
      return [`${tmp}/nodir/out`, tmp, `${tmp}/afile/out`];
    case "key-prefix":
      return [`${tmp}/nodir/k`, `${tmp}/afile/k`];
    case "dir":
      return [`${tmp}/missing`, `${tmp}/afile`];
    case "out-dir":
      return [`${tmp}/afile`, `${tmp}/afile/sub`];
  }
}

Deno.test("bad values: every checked flag of every command × bad values is one line naming the value, never exit 0 or 3", async () => {
  await using d = await tempDir();
  await Deno.writeTextFile(`${d.path}/afile`, "a file");
  const programs: Program[] = [cosignProgram, sgetProgram];
  let cases = 0;
  const failures: string[] = [];
  for (const p of programs) {
    for (const [name, entry] of Object.entries(p.commands)) {
      const cmd = await entry.load();
      const positionals = Array.from(
        { length: cmd.spec.args[0] },
        () => "127.0.0.1:1/app/img:v1",
      );
      for (const [flag, f] of Object.entries(cmd.spec.flags)) {
        if (!f.check) continue;
        for (const value of badValues(f.check, d.path)) {
          cases++;
          const argv = [...name.split(" "), ...positionals, `--${flag}`, value];
          const lines: string[] = [];
          const code = await runProgram(p, argv, (l) => (lines.push(l), Promise.resolve()));
          const what = `${p.name} ${argv.join(" ")}`;
          if (code === 0 || code === 3) failures.push(`${what}: exit ${code} ${lines.join(" | ")}`);
          else if (lines.length !== 1 || !lines[0]!.startsWith("Error: ")) {
            failures.push(`${what}: not one Error line: ${JSON.stringify(lines)}`);
          } else if (!lines[0]!.includes(value) || lines[0]!.includes("\n")) {
            failures.push(`${what}: the error does not name the value: ${lines[0]}`);
          }
        }
      }
    }
  }
  assert(cases > 150, `the sweep covers the commands (${cases} cases)`);
  assert(failures.length === 0, `${failures.length} of ${cases}:\n${failures.join("\n")}`);
});

Deno.test("bad values: the reported cases through the real executables", async () => {
  await using d = await tempDir();
  const p = d.path;
  await Deno.writeTextFile(`${p}/afile`, "a file");
  const digest = "sha256:" + "0".repeat(64);
  const sget = (args: string[]) => run(["sget", ...args]);
  assertFails(
    await sget(["-o", `${p}/nodir/out`, `127.0.0.1:1/app@${digest}`]),
    1,
    /Cannot write .*\/nodir\/out: no such directory .*nodir \(--output\)/,
  );
  assertFails(
    await sget(["--output", p, `127.0.0.1:1/app@${digest}`]),
    1,
    /Cannot write .*: it is a directory \(--output\)/,
  );
  assertFails(
    await cosign(["verify", "--key", `${p}/afile`, "--rekor-url", "not a url", "127.0.0.1:1/a:v1"]),
    2,
    /invalid --rekor-url "not a url": not an http:\/\/ or https:\/\/ URL/,
  );
  assertFails(
    await cosign(["save", "--dir", `${p}/afile`, "127.0.0.1:1/a:v1"]),
    1,
    /Cannot write .*afile: it is not a directory \(--dir\)/,
  );
  assertFails(
    await cosign(["verify", "--key", `${p}/afile`, "--max-workers", "abc", "127.0.0.1:1/a:v1"]),
    2,
    /invalid --max-workers "abc": not a positive whole number/,
  );
  // From the environment too.
  assertFails(
    await cosign(["verify", "--key", `${p}/afile`, "127.0.0.1:1/a:v1"], {
      env: { COSIGN_MAX_WORKERS: "abc" },
    }),
    2,
    /invalid --max-workers "abc"/,
  );
});

/**
 * Flags whose placeholder names a path, URL or number but that take other forms too, so they are
 * checked where they are used (each has its own one-line errors, tested with its command).
 */
const CHECKED_AT_USE: Record<string, string> = {
  key: "KEYREF: a file, env://, k8s://, a KMS URI or a URL",
  signature: "a file, a URL or the base64 signature itself",
  "identity-token": "the token itself or a file holding it",
  root: "a file or a URL",
  files: "FILE[:os/arch]",
  "certificate-oidc-issuer": "an identity compared as a string, never fetched",
  "attachment-tag-prefix": "a tag prefix, not a path",
  kms: "a KMS URI",
};

Deno.test("bad values: every path, URL and number flag has a check, or is checked where it is used", async () => {
  const missing: string[] = [];
  for (const p of [cosignProgram, sgetProgram]) {
    for (const [name, entry] of Object.entries(p.commands)) {
      for (const [flag, f] of Object.entries((await entry.load()).spec.flags)) {
        if (f.type !== "string" || f.check || CHECKED_AT_USE[flag]) continue;
        if (/FILE|DIR|PREFIX|URL|URI|^N$|SIZE|DURATION/.test(f.value ?? "")) {
          missing.push(`${p.name} ${name} --${flag} ${f.value}`);
        }
      }
    }
  }
  assert(missing.length === 0, `flags without a check:\n${missing.join("\n")}`);
});
