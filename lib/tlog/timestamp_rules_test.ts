/**
 * RFC 3161 timestamp rules that openssl-made tokens cannot reach, on tokens built here:
 * - the signed contentType attribute must be id-ct-TSTInfo (RFC 5652 5.3: it must equal the
 *   eContentType), so content the TSA signed as something else is no timestamp;
 * - the ESS signing-certificate attribute, when present, must hash to the signing certificate;
 * - a token carries exactly one SignerInfo (sigstore's rule): a second one is refused, not
 *   ignored;
 * - a list of timestamps is counted as sigstore-go counts it (`verifyTimestamps`): each on its
 *   own, those that do not verify (outside their TSA's validity, untrusted, in the future)
 *   reported and skipped, one authority counted once, failing below the threshold only.
 */
import { assert, assertEquals } from "../../tests/helpers.ts";
import { CosignError } from "../errors.ts";
import { utf8 } from "../crypto/encoding.ts";
import { GEN_TIME, ID_DATA, token, tsaPki } from "./_test_timestamps.ts";
import { verifyTimestamp, verifyTimestamps } from "./timestamp.ts";

function refusal(fn: () => unknown): CosignError {
  try {
    fn();
  } catch (e) {
    assert(e instanceof CosignError, String(e));
    return e;
  }
  throw new Error("expected the timestamp to be refused");
}

const MESSAGE = utf8("the signature bytes");

Deno.test("timestamp rules: a token built here verifies (signer from the trusted chain, ESS)", () => {
  const pki = tsaPki();
  const plain = verifyTimestamp(token(pki, MESSAGE), MESSAGE, pki.authorities);
  assertEquals(plain.time.toISOString(), GEN_TIME.toISOString());
  const withEss = token(pki, MESSAGE, { essCertificate: pki.tsa.der });
  assertEquals(verifyTimestamp(withEss, MESSAGE, pki.authorities).time.getTime(), +GEN_TIME);
});

Deno.test("timestamp rules: a contentType attribute other than TSTInfo is refused", () => {
  const pki = tsaPki();
  const e = refusal(() =>
    verifyTimestamp(token(pki, MESSAGE, { contentType: ID_DATA }), MESSAGE, pki.authorities)
  );
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/contentType attribute is 1\.2\.840\.113549\.1\.7\.1/.test(e.message), e.message);
});

Deno.test("timestamp rules: an ESS attribute naming another certificate is refused", () => {
  const pki = tsaPki();
  const e = refusal(() =>
    verifyTimestamp(
      token(pki, MESSAGE, { essCertificate: pki.other.der }),
      MESSAGE,
      pki.authorities,
    )
  );
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/signing-certificate attribute/.test(e.message), e.message);
});

Deno.test("timestamp rules: a token with two SignerInfos is refused", () => {
  const pki = tsaPki();
  const e = refusal(() =>
    verifyTimestamp(token(pki, MESSAGE, { signerInfos: 2 }), MESSAGE, pki.authorities)
  );
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/2 SignerInfos, expected exactly 1/.test(e.message), e.message);
});

Deno.test("timestamp rules: a timestamp outside its TSA's validity is skipped, the other counts", () => {
  const current = tsaPki({ uri: "https://tsa-current.test" });
  const retired = tsaPki({
    uri: "https://tsa-retired.test",
    validFor: { start: new Date("2020-01-01T00:00:00Z"), end: new Date(GEN_TIME.getTime() - 1) },
  });
  const authorities = [...retired.authorities, ...current.authorities];
  const tokens = [token(retired, MESSAGE), token(current, MESSAGE)];
  const r = verifyTimestamps(tokens, MESSAGE, authorities);
  assertEquals(r.verified.map((v) => v.authority.uri), ["https://tsa-current.test"]);
  assertEquals(r.skipped.map((s) => s.index), [0]);
  assertEquals(r.skipped[0]!.error.code, "TIMESTAMP_UNTRUSTED");
  assert(
    /genTime outside its validity/.test(r.skipped[0]!.error.message),
    r.skipped[0]!.error.message,
  );
  // both are needed for a threshold of 2
  const e = refusal(() => verifyTimestamps(tokens, MESSAGE, authorities, { threshold: 2 }));
  assertEquals(e.code, "TIMESTAMP_UNTRUSTED", e.message);
  assert(/1 of 2 verified, 2 needed \(timestamp 1: .*genTime outside/.test(e.message), e.message);
  // two valid authorities meet it
  const other = tsaPki({ uri: "https://tsa-other.test" });
  const two = verifyTimestamps(
    [token(current, MESSAGE), token(other, MESSAGE)],
    MESSAGE,
    [...current.authorities, ...other.authorities],
    { threshold: 2 },
  );
  assertEquals(two.verified.length, 2);
});

Deno.test("timestamp rules: untrusted and future timestamps are skipped; none verifying fails", () => {
  const trusted = tsaPki({ uri: "https://tsa.test" });
  const stranger = tsaPki({ uri: "https://stranger.test" });
  const good = token(trusted, MESSAGE);
  const r = verifyTimestamps([token(stranger, MESSAGE), good], MESSAGE, trusted.authorities);
  assertEquals([r.verified.length, r.skipped.length], [1, 1]);
  assertEquals(r.skipped[0]!.error.code, "TIMESTAMP_UNTRUSTED");
  const early = new Date(GEN_TIME.getTime() - 1000);
  const e = refusal(() => verifyTimestamps([good], MESSAGE, trusted.authorities, { now: early }));
  assert(/timestamp 1: The RFC 3161 timestamp is in the future/.test(e.message), e.message);
  // a threshold of 0 accepts a list of which none verifies
  const none = verifyTimestamps([good], utf8("other bytes"), trusted.authorities, {
    threshold: 0,
  });
  assertEquals([none.verified.length, none.skipped.length], [0, 1]);
  assertEquals(none.skipped[0]!.error.code, "TIMESTAMP_INVALID");
});

Deno.test("timestamp rules: two timestamps from one authority count once", () => {
  const pki = tsaPki({ uri: "https://tsa.test" });
  const first = token(pki, MESSAGE);
  const second = token(pki, MESSAGE, { essCertificate: pki.tsa.der }); // other bytes, same TSA
  const r = verifyTimestamps([first, second, first], MESSAGE, pki.authorities);
  assertEquals(r.verified.length, 1);
  assertEquals(r.skipped.map((s) => s.index), [1, 2]);
  assert(
    /Duplicate RFC 3161 timestamp from the authority https:\/\/tsa\.test/.test(
      r.skipped[0]!.error.message,
    ),
    r.skipped[0]!.error.message,
  );
  const e = refusal(() =>
    verifyTimestamps([first, second], MESSAGE, pki.authorities, { threshold: 2 })
  );
  assert(/1 of 2 verified, 2 needed/.test(e.message), e.message);
});

Deno.test("timestamp rules: more than 32 timestamps are refused outright", () => {
  const pki = tsaPki();
  const tokens = Array.from({ length: 33 }, () => token(pki, MESSAGE));
  const e = refusal(() => verifyTimestamps(tokens, MESSAGE, pki.authorities));
  assertEquals(e.code, "TIMESTAMP_INVALID", e.message);
  assert(/33 RFC 3161 timestamps, more than 32/.test(e.message), e.message);
});
