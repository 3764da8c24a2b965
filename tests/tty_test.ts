/**
 * The password and overwrite prompts on a real terminal. Each test runs the real CLI with stdin
 * and stderr on a pseudo-terminal (stdout stays a pipe, so prompts on stdout would show) and
 * plays the user's part: it waits for a prompt, waits until the program has turned echo off
 * when it asks for a password, types, and records everything the terminal showed.
 *
 * The pty is driven by a small python3 script (its `pty` and `termios` modules) that gets the
 * dialogue as JSON and answers JSON. Every wait has a deadline: past it the program's process
 * group is killed and the test fails, so nothing can hang.
 * @module
 */

import { assert, assertEquals, cosign, ROOT, tempDir } from "./helpers.ts";

/** The pty driver. argv[1] is the JSON dialogue; the result is JSON on stdout. */
const DRIVER = String.raw`
import fcntl, json, os, pty, select, signal, subprocess, sys, termios, time

spec = json.loads(sys.argv[1])
deadline = time.monotonic() + spec["timeout"]
master, slave = pty.openpty()
attrs = termios.tcgetattr(slave)
attrs[3] |= termios.ECHO | termios.ICANON | termios.ISIG  # a user's terminal: echo on
termios.tcsetattr(slave, termios.TCSANOW, attrs)

def ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)

proc = subprocess.Popen(spec["argv"], stdin=slave, stdout=subprocess.PIPE, stderr=slave,
                        env=spec["env"], cwd=spec["cwd"], preexec_fn=ctty, close_fds=True)
os.close(slave)

def kill(*_):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if _:
        sys.exit(1)

signal.signal(signal.SIGTERM, kill)

def echo_on():
    try:
        return bool(termios.tcgetattr(master)[3] & termios.ECHO)
    except termios.error:
        return None

term = bytearray()
out = bytearray()
fired = []
cursor = 0
timed_out = False
stalled = False
last_activity = time.monotonic()
open_fds = {master: term, proc.stdout.fileno(): out}
rules = [(r["expect"].encode(), r["send"].encode(), r.get("noEcho", False)) for r in spec["rules"]]
exited_at = None

while open_fds:
    now = time.monotonic()
    if now > deadline or now - last_activity > spec["stall"]:
        timed_out = True
        stalled = now <= deadline
        kill()
        break
    if proc.poll() is not None:
        exited_at = exited_at or now
        if now - exited_at > 2:  # something else holds the pty: stop reading
            break
    ready, _, _ = select.select(list(open_fds), [], [], 0.05)
    for fd in ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if data:
            open_fds[fd].extend(data)
            last_activity = time.monotonic()
        else:
            del open_fds[fd]
    # answer the earliest prompt not yet answered
    while True:
        hits = [(term.find(e, cursor), e, s, n) for (e, s, n) in rules if term.find(e, cursor) >= 0]
        if not hits or proc.poll() is not None:
            break
        at, expect, send, no_echo = min(hits, key=lambda h: h[0])
        cursor = at + len(expect)
        if no_echo:
            # a person types after the prompt is shown; wait (briefly) for echo to go off
            until = min(deadline, time.monotonic() + spec["echoWait"])
            while echo_on() and time.monotonic() < until and proc.poll() is None:
                time.sleep(0.01)
        state = echo_on()
        fired.append({"expect": expect.decode(), "echoOn": state})
        try:
            os.write(master, send)
        except OSError:
            pass
        last_activity = time.monotonic()

try:
    code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
except subprocess.TimeoutExpired:
    timed_out = True
    kill()
    code = proc.wait()
final_echo = echo_on()
json.dump({"code": code, "timedOut": timed_out, "stalled": stalled, "fired": fired, "echoAtExit": final_echo,
           "terminal": term.decode("utf-8", "replace"), "stdout": out.decode("utf-8", "replace")},
          sys.stdout)
`;

/** One answer: when `expect` is shown, type `send`. */
interface Rule {
  expect: string;
  send: string;
  /** A password prompt: type only once the terminal's echo is off (or after a short wait). */
  noEcho?: boolean;
}

interface Dialogue {
  /** Exit code of the CLI. */
  code: number;
  /** Killed at the deadline, or (`stalled`) after showing nothing new for a long while. */
  timedOut: boolean;
  stalled: boolean;
  /** The prompts answered, in order, and whether echo was on when the answer was typed. */
  fired: { expect: string; echoOn: boolean | null }[];
  /** Whether the terminal echoes again after the program ended. */
  echoAtExit: boolean | null;
  /** What the terminal showed (stderr and echo), with `\r\n` made `\n`. */
  terminal: string;
  stdout: string;
}

/** The longest a dialogue may take, and the longest the CLI may sit showing nothing new. */
const TIMEOUT_S = 60;
const STALL_S = 20;

/** Runs `cosign ARGS` on a pty, answering prompts by `rules`. */
async function onTerminal(args: string[], cwd: string, rules: Rule[]): Promise<Dialogue> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("COSIGN_")) env[k] = v; // COSIGN_PASSWORD must be unset, not empty
  }
  env.NO_COLOR = "1";
  const spec = {
    argv: [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      "--config",
      ROOT + "deno.json",
      ROOT + "cli.ts",
      "cosign",
      ...args,
    ],
    env,
    cwd,
    rules,
    timeout: TIMEOUT_S,
    stall: STALL_S,
    echoWait: 5,
  };
  const child = new Deno.Command("python3", {
    args: ["-c", DRIVER, JSON.stringify(spec)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The driver kills the CLI at its own deadline; this one is in case the driver itself hangs.
  const timer = setTimeout(() => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
  }, (TIMEOUT_S + 15) * 1000);
  let r: Deno.CommandOutput;
  try {
    r = await child.output();
  } finally {
    clearTimeout(timer);
  }
  const text = new TextDecoder().decode(r.stdout);
  assert(r.code === 0, `pty driver failed (${r.code}): ${new TextDecoder().decode(r.stderr)}`);
  const d = JSON.parse(text) as Dialogue;
  d.terminal = d.terminal.replaceAll("\r\n", "\n");
  assert(
    !d.timedOut,
    (d.stalled
      ? `the CLI showed nothing new for ${STALL_S} s (waiting for an answer to a prompt ` +
        `the test did not see?)`
      : `the CLI did not finish within ${TIMEOUT_S} s`) +
      `; answered: ${JSON.stringify(d.fired)}; terminal:\n${d.terminal}\nstdout:\n${d.stdout}`,
  );
  return d;
}

const PROMPT = "Enter password for private key: ";
const PROMPT_AGAIN = "Enter password for private key again: ";
const CONFIRM = "Are you sure you would like to continue? [y/N] ";

/** Answers both password prompts with `pw` (and `again` for the second). */
function passwordRules(pw: string, again = pw): Rule[] {
  return [
    { expect: PROMPT, send: pw + "\r", noEcho: true },
    { expect: PROMPT_AGAIN, send: again + "\r", noEcho: true },
  ];
}

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

/** Asserts that no password prompt was answered while the terminal echoed. */
function assertTypedBlind(d: Dialogue): void {
  for (const f of d.fired) {
    if (f.expect === PROMPT || f.expect === PROMPT_AGAIN) {
      assert(f.echoOn === false, `echo was on at "${f.expect}"; terminal:\n${d.terminal}`);
    }
  }
  assert(d.echoAtExit === true, `terminal echo not restored after exit:\n${d.terminal}`);
}

/** The names in a folder, sorted. */
async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** Asserts that `pw` decrypts `key` and that its public key is `pubPath`'s content. */
async function assertKeyOpensWith(key: string, pubPath: string, pw: string): Promise<void> {
  const r = await cosign(["public-key", "--key", key], { env: { COSIGN_PASSWORD: pw } });
  assert(r.code === 0, `public-key with the typed password failed: ${r.stderr}`);
  assertEquals(r.out, await Deno.readTextFile(pubPath), "public key from the private key");
  const wrong = await cosign(["public-key", "--key", key], {
    env: { COSIGN_PASSWORD: pw + "x" },
  });
  assert(wrong.code !== 0, "the key also opened with a wrong password");
}

const PW = "Tty-s3cret-Pw";

Deno.test("tty: generate-key-pair prompts twice on stderr, without echo", async () => {
  await using dir = await tempDir();
  const d = await onTerminal(["generate-key-pair"], dir.path, passwordRules(PW));
  assert(d.code === 0, `exit ${d.code}; terminal:\n${d.terminal}`);
  assertEquals(d.fired.map((f) => f.expect), [PROMPT, PROMPT_AGAIN], "prompts answered");
  const first = d.terminal.indexOf(PROMPT), again = d.terminal.indexOf(PROMPT_AGAIN);
  assert(first >= 0 && again > first, `prompts missing or out of order:\n${d.terminal}`);
  assertEquals(count(d.terminal, PROMPT), 1, "first prompt shown once");
  assertEquals(count(d.terminal, PROMPT_AGAIN), 1, "second prompt shown once");
  assert(!d.terminal.includes(PW.slice(0, 5)), `password echoed:\n${d.terminal}`);
  assertTypedBlind(d);
  assertEquals(d.stdout, "", "nothing on stdout (prompts belong on stderr)");
  assert(d.terminal.includes("Private key written to cosign.key"), d.terminal);
  assert(d.terminal.includes("Public key written to cosign.pub"), d.terminal);
  assertEquals(await names(dir.path), ["cosign.key", "cosign.pub"], "files written");
  assertEquals((await Deno.stat(`${dir.path}/cosign.key`)).mode! & 0o777, 0o600, "key mode");
  await assertKeyOpensWith(`${dir.path}/cosign.key`, `${dir.path}/cosign.pub`, PW);
});

Deno.test("tty: mismatched passwords fail with one Error line and write nothing", async () => {
  await using dir = await tempDir();
  const d = await onTerminal(
    ["generate-key-pair", "--output-key-prefix", "mine"],
    dir.path,
    passwordRules(PW, PW + "2"),
  );
  assert(d.code !== 0, `exit 0 after mismatched passwords:\n${d.terminal}`);
  assertEquals(d.fired.map((f) => f.expect), [PROMPT, PROMPT_AGAIN], "prompts answered");
  const errors = d.terminal.split("\n").filter((l) => l.includes("Error"));
  assertEquals(errors.length, 1, `one Error line expected:\n${d.terminal}`);
  assert(errors[0]!.startsWith("Error: "), `Error line: ${errors[0]}`);
  assert(/do not match/i.test(errors[0]!), `Error line should say they do not match: ${errors[0]}`);
  assert(!d.terminal.includes(PW.slice(0, 5)), `password echoed:\n${d.terminal}`);
  assertTypedBlind(d);
  assertEquals(await names(dir.path), [], "no key files (nor temporary files) written");
});

Deno.test("tty: Ctrl-C at the password prompt cancels and restores the terminal", async () => {
  await using dir = await tempDir();
  const d = await onTerminal(["generate-key-pair"], dir.path, [
    { expect: PROMPT, send: "ab\x03", noEcho: true },
  ]);
  assert(d.code !== 0, `exit 0 after Ctrl-C:\n${d.terminal}`);
  assertTypedBlind(d);
  assertEquals(await names(dir.path), [], "no key files written");
});

/** Writes an old key pair `release.key`/`release.pub` whose bytes the tests compare. */
async function oldPair(dir: string): Promise<{ key: Uint8Array; pub: Uint8Array }> {
  const key = new TextEncoder().encode("old private key \u00e9\n");
  const pub = new TextEncoder().encode("old public key\n");
  await Deno.writeFile(`${dir}/release.key`, key, { mode: 0o600 });
  await Deno.writeFile(`${dir}/release.pub`, pub);
  return { key, pub };
}

Deno.test("tty: an existing key is kept when the overwrite question is answered n", async () => {
  await using dir = await tempDir();
  const old = await oldPair(dir.path);
  const d = await onTerminal(
    ["generate-key-pair", "--output-key-prefix", "release"],
    dir.path,
    [{ expect: CONFIRM, send: "n\r" }, ...passwordRules(PW)],
  );
  assert(d.code !== 0, `exit 0 after answering n:\n${d.terminal}`);
  assert(
    d.terminal.includes("WARNING: File release.key already exists. Overwrite?\n"),
    `warning missing:\n${d.terminal}`,
  );
  assert(d.terminal.includes(CONFIRM), `question missing:\n${d.terminal}`);
  assert(d.fired.some((f) => f.expect === CONFIRM), "the question was not answered");
  assertEquals(d.stdout, "", "nothing on stdout");
  assertEquals([...await Deno.readFile(`${dir.path}/release.key`)], [...old.key], "old .key");
  assertEquals([...await Deno.readFile(`${dir.path}/release.pub`)], [...old.pub], "old .pub");
  assertEquals(await names(dir.path), ["release.key", "release.pub"], "no other files");
  assertEquals(d.echoAtExit, true, "terminal echo after exit");
});

Deno.test("tty: an existing key is replaced when the overwrite question is answered y", async () => {
  await using dir = await tempDir();
  const old = await oldPair(dir.path);
  const d = await onTerminal(
    ["generate-key-pair", "--output-key-prefix", "release"],
    dir.path,
    [{ expect: CONFIRM, send: "y\r" }, ...passwordRules(PW)],
  );
  assert(d.code === 0, `exit ${d.code} after answering y:\n${d.terminal}`);
  assert(
    d.terminal.includes("WARNING: File release.key already exists. Overwrite?\n"),
    `warning missing:\n${d.terminal}`,
  );
  assertEquals(count(d.terminal, PROMPT), 1, "first password prompt shown once");
  assertEquals(count(d.terminal, PROMPT_AGAIN), 1, "second password prompt shown once");
  assert(!d.terminal.includes(PW.slice(0, 5)), `password echoed:\n${d.terminal}`);
  assertTypedBlind(d);
  const key = await Deno.readFile(`${dir.path}/release.key`);
  assert(key.length !== old.key.length, "release.key was not replaced");
  assertEquals(await names(dir.path), ["release.key", "release.pub"], "no other files");
  await assertKeyOpensWith(`${dir.path}/release.key`, `${dir.path}/release.pub`, PW);
});

Deno.test("tty: sign-blob asks once for the key's password and the signature verifies", async () => {
  await using dir = await tempDir();
  const gen = await cosign(["generate-key-pair", "--output-key-prefix", `${dir.path}/k`], {
    env: { COSIGN_PASSWORD: PW },
  });
  assert(gen.code === 0, `generate-key-pair: ${gen.stderr}`);
  const blob = `${dir.path}/blob.txt`;
  await Deno.writeTextFile(blob, "signed on a terminal\n");
  const d = await onTerminal(
    ["sign-blob", "--key", `${dir.path}/k.key`, "--tlog-upload=false", blob],
    dir.path,
    passwordRules(PW),
  );
  assert(d.code === 0, `exit ${d.code}; terminal:\n${d.terminal}`);
  assertEquals(d.fired.map((f) => f.expect), [PROMPT], "exactly one password prompt");
  assertEquals(count(d.terminal, PROMPT_AGAIN), 0, "no confirmation prompt when signing");
  assert(!d.terminal.includes(PW.slice(0, 5)), `password echoed:\n${d.terminal}`);
  assertTypedBlind(d);
  // stdout carries only the signature: any prompt there would break it
  const sig = d.stdout.trim();
  assert(/^[A-Za-z0-9+/]+=*$/.test(sig), `stdout is not a base64 signature: ${d.stdout}`);
  await Deno.writeTextFile(`${dir.path}/blob.sig`, sig + "\n");
  const v = await cosign([
    "verify-blob",
    "--key",
    `${dir.path}/k.pub`,
    "--signature",
    `${dir.path}/blob.sig`,
    "--insecure-ignore-tlog",
    blob,
  ]);
  assert(v.code === 0, `verify-blob failed: ${v.stderr}`);
  assert(v.stderr.includes("Verified OK"), v.stderr);
});

Deno.test("tty: sign-blob with a wrong password typed fails with one Error line", async () => {
  await using dir = await tempDir();
  const gen = await cosign(["generate-key-pair", "--output-key-prefix", `${dir.path}/k`], {
    env: { COSIGN_PASSWORD: PW },
  });
  assert(gen.code === 0, `generate-key-pair: ${gen.stderr}`);
  const blob = `${dir.path}/blob.txt`;
  await Deno.writeTextFile(blob, "x");
  const d = await onTerminal(
    ["sign-blob", "--key", `${dir.path}/k.key`, "--tlog-upload=false", blob],
    dir.path,
    passwordRules("not-" + PW),
  );
  assert(d.code !== 0, `exit 0 with a wrong password:\n${d.terminal}`);
  assertEquals(d.stdout, "", "no signature on stdout");
  const errors = d.terminal.split("\n").filter((l) => l.startsWith("Error:"));
  assertEquals(errors.length, 1, `one Error line expected:\n${d.terminal}`);
  assertTypedBlind(d);
});
