import { assert, assertEquals } from "../tests/helpers.ts";
import {
  REDACTED,
  redactHeaders,
  redactText,
  redactUrl,
  setTraceSink,
  trace,
  tracedFetch,
} from "./trace.ts";

Deno.test("redactUrl: user info and secret query values go, the rest stays", () => {
  const u = redactUrl(
    "https://alice:s3cret@bucket.example/blob?X-Amz-Signature=abc&X-Amz-Credential=k&" +
      "access_token=t0k&scope=repository%3Aa%3Apull&service=reg&code=c0de",
  );
  for (const secret of ["alice", "s3cret", "abc", "=k&", "t0k", "c0de"]) {
    assert(!u.includes(secret), `${secret} in ${u}`);
  }
  assert(u.includes("scope=repository%3Aa%3Apull") && u.includes("service=reg"), u);
  assert(u.includes(encodeURIComponent(REDACTED)), u);
  assertEquals(redactUrl("not a url"), REDACTED);
});

Deno.test("redactHeaders: credentials redacted, challenges and digests kept", () => {
  const h = redactHeaders({
    Authorization: "Bearer eyJhbGciOi",
    "Proxy-Authorization": "Basic YTpi",
    Cookie: "session=1",
    "X-Vault-Token": "hvs.x",
    "WWW-Authenticate": 'Bearer realm="https://auth/token"',
    "Docker-Content-Digest": "sha256:00",
  });
  for (const secret of ["eyJhbGciOi", "YTpi", "session=1", "hvs.x"]) {
    assert(!h.includes(secret), `${secret} in ${h}`);
  }
  assert(h.includes('www-authenticate: Bearer realm="https://auth/token"'), h);
  assert(h.includes("docker-content-digest: sha256:00"), h);
});

Deno.test("redactText: URLs inside error messages are redacted", () => {
  const t = redactText("error sending request for url (https://h/x?token=abc): reset");
  assert(!t.includes("abc") && t.endsWith(": reset"), t);
});

Deno.test("tracedFetch: traces request and answer without bodies; no sink, no trace", async () => {
  const lines: string[] = [];
  const inner = ((_u: string, init?: RequestInit) => {
    assertEquals(init?.body, "password=hunter2");
    return Promise.resolve(new Response("token=zzz", { status: 200 }));
  }) as unknown as typeof fetch;
  const f = tracedFetch(inner);
  assert(tracedFetch(f) === f, "wrapping twice traces once");
  await f("https://h/t", { method: "POST", body: "password=hunter2" });
  assertEquals(lines, []);
  setTraceSink((l) => lines.push(l));
  try {
    await f("https://h/t", {
      method: "POST",
      body: "password=hunter2",
      headers: { authorization: "Basic YTpi" },
    });
    trace(() => "decision");
  } finally {
    setTraceSink(undefined);
  }
  assertEquals(lines.length, 3);
  assert(lines[0]!.startsWith("--> POST https://h/t [authorization: <redacted>]"), lines[0]!);
  assert(lines[1]!.startsWith("<-- 200 POST https://h/t"), lines[1]!);
  assertEquals(lines[2], "decision");
  assert(!lines.join("\n").includes("hunter2") && !lines.join("\n").includes("zzz"), "bodies");
});
