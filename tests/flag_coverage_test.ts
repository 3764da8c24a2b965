/**
 * docs/flags.md is generated from the command definitions and cosign v2.6's flag list
 * (scripts/flag_coverage.ts): this fails when a flag was added, removed or marked unsupported
 * without regenerating it (`deno run -A scripts/flag_coverage.ts`).
 */
import { coverageMarkdown, OUTPUT } from "../scripts/flag_coverage.ts";
import { assert, assertEquals } from "./helpers.ts";

Deno.test("docs/flags.md is what scripts/flag_coverage.ts writes", async () => {
  const want = await coverageMarkdown();
  const have = await Deno.readTextFile(OUTPUT);
  if (have !== want) {
    const a = have.split("\n"), b = want.split("\n");
    const i = a.findIndex((l, n) => l !== b[n]);
    throw new Error(
      `docs/flags.md is stale (first difference at line ${i + 1}: ${JSON.stringify(a[i])} ` +
        `should be ${JSON.stringify(b[i])}); run: deno run -A scripts/flag_coverage.ts`,
    );
  }
  // Spot checks that the generator reads what it should.
  const row = (cmd: string, flag: string) =>
    have.split("\n").find((l) => new RegExp(`^\\| ${cmd} +\\| \`--${flag}\``).test(l));
  assert(/\| yes +\|$/.test(row("sign", "registry-client-cert") ?? ""), "sign mTLS: yes");
  assert(/\| unsupported \[1\] +\|$/.test(row("verify", "k8s-keychain") ?? ""), "k8s: unsupported");
  assert(/\| no +\|$/.test(row("sign", "sk") ?? ""), "sign --sk: no");
  assertEquals(/^Commands both have: \d+ of \d+ cosign flags/m.test(have), true);
});
