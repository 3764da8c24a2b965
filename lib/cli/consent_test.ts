import {
  confirmPublication,
  CONTINUE_QUESTION,
  PRIVACY_CONFIRMATION,
  resetPrivacyNoticeForTests,
} from "./consent.ts";
import { CosignError } from "../errors.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** A fake stdin holding `text`, and a stderr that records. */
function io(text: string) {
  const data = new TextEncoder().encode(text);
  let pos = 0;
  let consumed = 0;
  const out: string[] = [];
  return {
    stdin: {
      read(p: Uint8Array): Promise<number | null> {
        if (pos >= data.length) return Promise.resolve(null);
        const n = Math.min(p.length, data.length - pos);
        p.set(data.subarray(pos, pos + n));
        pos += n;
        consumed = pos;
        return Promise.resolve(n);
      },
    },
    stderr: {
      write(p: Uint8Array): Promise<number> {
        out.push(new TextDecoder().decode(p));
        return Promise.resolve(p.length);
      },
    },
    get text() {
      return out.join("");
    },
    get consumed() {
      return consumed;
    },
  };
}

async function declined(p: Promise<void>): Promise<CosignError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof CosignError, `not a CosignError: ${e}`);
    return e;
  }
  throw new Error("expected the prompt to refuse");
}

Deno.test("consent: y and Y proceed after the notice and question", async () => {
  for (const answer of ["y\n", "Y\r\n"]) {
    resetPrivacyNoticeForTests();
    const t = io(answer + "rest");
    await confirmPublication({ yes: false, isTerminal: true, ...t });
    assert(t.text.includes("hosted-project-tools-immutable-records"), t.text);
    assert(t.text.includes(PRIVACY_CONFIRMATION), t.text);
    assert(t.text.endsWith(CONTINUE_QUESTION), t.text);
    assert(t.consumed === answer.length, "read past the answer line");
  }
});

Deno.test("consent: n, N, empty line and EOF decline with exit code 1", async () => {
  for (const answer of ["n\n", "N\n", "\n", ""]) {
    resetPrivacyNoticeForTests();
    const t = io(answer);
    const e = await declined(confirmPublication({ yes: false, isTerminal: true, ...t }));
    assert(e.code === "USAGE" && e.exitCode === 1, `${e.code} ${e.exitCode}`);
    assert(/declined/.test(e.message), e.message);
  }
});

Deno.test("consent: other answers are invalid input", async () => {
  resetPrivacyNoticeForTests();
  const e = await declined(
    confirmPublication({ yes: false, isTerminal: true, ...io("yes\n") }),
  );
  assert(/invalid input "yes" \(allowed values y, n\)/.test(e.message), e.message);
});

Deno.test("consent: -y and no terminal proceed without asking or reading", async () => {
  for (const opts of [{ yes: true, isTerminal: true }, { yes: false, isTerminal: false }]) {
    resetPrivacyNoticeForTests();
    const t = io("n\n");
    await confirmPublication({ ...opts, ...t });
    assert(t.text.includes(PRIVACY_CONFIRMATION), "notice not shown");
    assert(!t.text.includes(CONTINUE_QUESTION), "asked anyway");
    assert(t.consumed === 0, "read stdin");
  }
});

Deno.test("consent: shown once per process after a yes", async () => {
  resetPrivacyNoticeForTests();
  await confirmPublication({ yes: false, isTerminal: true, ...io("y\n") });
  const t = io("n\n");
  await confirmPublication({ yes: false, isTerminal: true, ...t });
  assert(t.text === "" && t.consumed === 0, "asked twice");
});

/** Runs a script calling confirmPublication on a real pty, typing `answer` at the question. */
const DRIVER = String.raw`
import json, os, pty, select, signal, subprocess, sys, time, fcntl, termios
spec = json.loads(sys.argv[1])
master, slave = pty.openpty()
def ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
proc = subprocess.Popen(spec["argv"], stdin=slave, stdout=subprocess.PIPE, stderr=slave,
                        preexec_fn=ctty, close_fds=True)
os.close(slave)
term = bytearray(); out = bytearray(); sent = False
deadline = time.monotonic() + 60
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
json.dump({"code": code, "sent": sent, "terminal": term.decode("utf-8", "replace"),
           "stdout": out.decode("utf-8", "replace")}, sys.stdout)
`;

const SCRIPT = `
import { confirmPublication } from ${JSON.stringify(new URL("./consent.ts", import.meta.url).href)};
try {
  await confirmPublication({ yes: false });
  console.log("PROCEEDED isTerminal=" + Deno.stdin.isTerminal());
} catch (e) {
  console.log("REFUSED " + e.code + " " + e.message);
  Deno.exit(e.exitCode);
}
`;

async function onPty(answer: string) {
  const dir = await Deno.makeTempDir();
  try {
    const script = dir + "/consent_main.ts";
    await Deno.writeTextFile(script, SCRIPT);
    const spec = {
      argv: [Deno.execPath(), "run", "--quiet", "--no-config", "--allow-read", script],
      answer,
    };
    const r = await new Deno.Command("python3", {
      args: ["-c", DRIVER, JSON.stringify(spec)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(r.code === 0, new TextDecoder().decode(r.stderr));
    return JSON.parse(new TextDecoder().decode(r.stdout)) as {
      code: number;
      sent: boolean;
      terminal: string;
      stdout: string;
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("consent on a real pty: n aborts with exit code 1", async () => {
  const d = await onPty("n\n");
  assert(d.sent, `no question shown: ${d.terminal}`);
  assert(d.terminal.includes("By typing 'y', you attest"), d.terminal);
  assert(d.code === 1, `exit ${d.code}: ${d.stdout}`);
  assert(d.stdout.startsWith("REFUSED USAGE Signing cancelled: user declined"), d.stdout);
});

Deno.test("consent on a real pty: y proceeds", async () => {
  const d = await onPty("y\n");
  assert(d.sent, `no question shown: ${d.terminal}`);
  assert(d.code === 0, `exit ${d.code}: ${d.stdout}`);
  assert(d.stdout.trim() === "PROCEEDED isTerminal=true", d.stdout);
});
