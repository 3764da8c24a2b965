import { assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import type { Command } from "./command.ts";
import { runProgram } from "./run.ts";

function program(run: Command["run"]) {
  const cmd: Command = {
    spec: { name: "x", summary: "x", usage: "", args: [0, 0], flags: {} },
    run,
  };
  return {
    name: "t",
    summary: "t",
    commands: { x: { summary: "x", load: () => Promise.resolve(cmd) } },
  };
}

async function quietly<T>(f: () => Promise<T>): Promise<[T, string]> {
  const lines: string[] = [];
  const orig = Deno.stderr.write.bind(Deno.stderr);
  Deno.stderr.write = (p: Uint8Array) => {
    lines.push(new TextDecoder().decode(p));
    return Promise.resolve(p.length);
  };
  try {
    return [await f(), lines.join("")];
  } finally {
    Deno.stderr.write = orig;
  }
}

Deno.test("run: an unexpected exception is an internal error with exit code 3, one line", async () => {
  const [code, err] = await quietly(() =>
    runProgram(program(() => Promise.reject(new TypeError("boom\nsecond line"))), ["x"])
  );
  assertEquals(code, 3);
  assertEquals(err, "Error: internal error: boom\n");
});

Deno.test("run: a CosignError keeps its exit code and message", async () => {
  const [code, err] = await quietly(() =>
    runProgram(
      program(() =>
        Promise.reject(new CosignError("SIGNATURE_MISMATCH", "nope", { exitCode: 12 }))
      ),
      ["x"],
    )
  );
  assertEquals(code, 12);
  assertEquals(err, "Error: nope\n");
});

Deno.test("run: usage errors exit 2; success exits 0", async () => {
  const [code] = await quietly(() => runProgram(program(() => Promise.resolve()), ["x", "extra"]));
  assertEquals(code, 2);
  const [ok] = await quietly(() => runProgram(program(() => Promise.resolve()), ["x"]));
  assertEquals(ok, 0);
});

Deno.test("run: a command group alone prints its help (exit 0, as cobra); an unknown subcommand is exit 2", async () => {
  const cmd: Command = {
    spec: { name: "upload blob", summary: "x", usage: "", args: [0, 0], flags: {} },
    run: () => Promise.resolve(),
  };
  const p = {
    name: "t",
    summary: "t",
    commands: {
      "upload blob": { summary: "b", load: () => Promise.resolve(cmd) },
      "upload wasm": { summary: "w", load: () => Promise.resolve(cmd) },
    },
  };
  const [code, err] = await quietly(() => runProgram(p, ["upload", "--flag"]));
  assertEquals(code, 2);
  assertEquals(err, `Error: "t upload" needs one of: upload blob, upload wasm\n`);
  const [code2, err2] = await quietly(() => runProgram(p, ["upload", "nope"]));
  assertEquals(code2, 2);
  assertEquals(err2.startsWith('Error: unknown command "upload nope";'), true);
});
