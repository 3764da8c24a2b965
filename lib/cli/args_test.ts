import { assertEquals } from "../../tests/helpers.ts";
import { UsageError } from "../errors.ts";
import { type CommandSpec, parseCommand } from "./args.ts";

const spec: CommandSpec = {
  name: "t",
  summary: "",
  usage: "",
  args: [0, 2],
  flags: {
    key: { type: "string", short: "k", description: "" },
    upload: { type: "boolean", default: true, description: "" },
    yes: { type: "boolean", short: "y", default: false, description: "" },
    a: { type: "string", short: "a", multiple: true, description: "" },
  },
};
const noEnv = () => undefined;

Deno.test("args: long, short, inline values, booleans with values, repeats, --", () => {
  const p = parseCommand(spec, [
    "-k",
    "K",
    "--upload=false",
    "-y",
    "-a",
    "x=1",
    "--a=y=2",
    "f",
    "--",
    "-",
  ], noEnv);
  assertEquals(p.flags, { key: "K", upload: false, yes: true, a: ["x=1", "y=2"] });
  assertEquals(p.positionals, ["f", "-"]);
  assertEquals(parseCommand(spec, ["--upload=0"], noEnv).flags.upload, false);
  assertEquals(parseCommand(spec, ["--upload=True"], noEnv).flags.upload, true);
  assertEquals(parseCommand(spec, [], noEnv).flags, { upload: true, yes: false });
});

Deno.test("args: COSIGN_<FLAG> fills unset flags only", () => {
  const env = (n: string) =>
    ({ COSIGN_KEY: "E", COSIGN_UPLOAD: "false", COSIGN_A: "p=1,q=2" } as Record<string, string>)[n];
  assertEquals(parseCommand(spec, [], env).flags, {
    key: "E",
    upload: false,
    yes: false,
    a: ["p=1", "q=2"],
  });
  assertEquals(parseCommand(spec, ["--key", "C"], env).flags.key, "C");
});

Deno.test("args: errors are UsageErrors", () => {
  for (const argv of [["--nope"], ["--key"], ["--upload=perhaps"], ["a", "b", "c"]]) {
    let err: unknown;
    try {
      parseCommand(spec, argv, noEnv);
    } catch (e) {
      err = e;
    }
    assertEquals(err instanceof UsageError, true, argv.join(" "));
  }
});

Deno.test("args: reserved variables and env:false flags are never read from the environment", () => {
  const s: CommandSpec = {
    name: "t",
    summary: "",
    usage: "",
    args: [0, 0],
    flags: {
      password: { type: "string", description: "" },
      repository: { type: "string", description: "" },
      secret: { type: "string", env: false, description: "" },
      key: { type: "string", description: "" },
    },
  };
  const env = (n: string) =>
    ({
      COSIGN_PASSWORD: "key-pw",
      COSIGN_REPOSITORY: "elsewhere",
      COSIGN_SECRET: "s",
      COSIGN_KEY: "k",
    } as Record<string, string>)[n];
  assertEquals(parseCommand(s, [], env).flags, { key: "k" });
});
