/**
 * A loopback AWS KMS (JSON 1.1 protocol, `X-Amz-Target: TrentService.*`) for tests. It checks
 * each request's SigV4 signature as AWS does, recomputed here from the request (canonical
 * request, string to sign, derived key), with its own code: the client's signer is not reused.
 * Keys are made and used by openssl. Serves `GetPublicKey`, `Sign` (RAW and DIGEST), `Verify`,
 * `DescribeKey`, `CreateKey`, `CreateAlias`; faults on request: throttling, denial.
 *
 * Use with `await using kms = await startFakeAwsKms()`.
 * @module
 */

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { makeKey, signDigest, type TestHash, type TestKey, type TestKeyKind } from "./kms_keys.ts";

/** Credentials the fake accepts. */
export const AWS_ACCESS_KEY = "AKIAFAKEKMS000000001";
/** The secret for {@link AWS_ACCESS_KEY}. */
export const AWS_SECRET_KEY = "fake/secret/key/for/the/loopback/kms000";
/** The fake's account. */
export const AWS_ACCOUNT = "111122223333";
/** The fake's region. */
export const AWS_REGION = "us-east-1";

/** A key the fake holds. */
export interface FakeAwsKey {
  keyId: string;
  arn: string;
  keySpec: string;
  keyUsage: "SIGN_VERIFY" | "ENCRYPT_DECRYPT";
  signingAlgorithms: string[];
  /** Absent for symmetric keys. */
  key?: TestKey;
  enabled: boolean;
}

/** A request the fake answered. */
export interface AwsCall {
  target: string;
  body: Record<string, unknown>;
  /** The raw body text. */
  raw: string;
  status: number;
}

/** A running fake. */
export interface FakeAwsKms extends AsyncDisposable {
  /** `http(s)://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`. */
  host: string;
  port: number;
  calls: AwsCall[];
  /** Requests whose SigV4 signature did not check. */
  badSignatures: number;
  keys: Map<string, FakeAwsKey>;
  aliases: Map<string, string>;
  /** Adds a key (made by openssl); returns it. */
  addKey(
    kind: TestKeyKind | "symmetric",
    opts?: { alias?: string; pss?: boolean },
  ): Promise<FakeAwsKey>;
  /** Answer the next `n` requests (all if Infinity) with ThrottlingException. */
  throttle(n: number): void;
  /** Answer every request with AccessDeniedException while true. */
  deny: boolean;
  stop(): Promise<void>;
}

const SPEC: Record<TestKeyKind, string> = {
  "ec-p256": "ECC_NIST_P256",
  "ec-p384": "ECC_NIST_P384",
  "ec-p521": "ECC_NIST_P521",
  "rsa-2048": "RSA_2048",
  "rsa-3072": "RSA_3072",
  "rsa-4096": "RSA_4096",
  "ed25519": "ECC_NIST_EDWARDS25519",
};

const EC_ALG: Record<string, string> = {
  ECC_NIST_P256: "ECDSA_SHA_256",
  ECC_NIST_P384: "ECDSA_SHA_384",
  ECC_NIST_P521: "ECDSA_SHA_512",
};

const RSA_ALGS = [
  "RSASSA_PSS_SHA_256",
  "RSASSA_PSS_SHA_384",
  "RSASSA_PSS_SHA_512",
  "RSASSA_PKCS1_V1_5_SHA_256",
  "RSASSA_PKCS1_V1_5_SHA_384",
  "RSASSA_PKCS1_V1_5_SHA_512",
];

function algHash(alg: string): TestHash {
  return alg.endsWith("256") ? "sha256" : alg.endsWith("384") ? "sha384" : "sha512";
}

const sha256hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: Uint8Array | string, data: string) =>
  new Uint8Array(createHmac("sha256", key).update(data).digest());

/**
 * Checks a request's SigV4 `Authorization` header against the body; returns why it fails, or
 * undefined when it checks.
 */
function checkSigV4(req: Request, url: URL, body: string): string | undefined {
  const auth = req.headers.get("authorization") ?? "";
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/
      .exec(auth);
  if (!m) return "missing or malformed SigV4 Authorization header";
  const [, akid, date, region, service, signedHeaders, signature] = m;
  if (akid !== AWS_ACCESS_KEY) return "unknown access key";
  if (service !== "kms") return `credential scope names service ${service}`;
  const amzDate = req.headers.get("x-amz-date") ?? "";
  if (!amzDate.startsWith(date!)) return "X-Amz-Date does not match the credential scope";
  const when = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"),
  );
  if (!(Math.abs(Date.now() - when) < 15 * 60_000)) return "signature expired";
  const names = signedHeaders!.split(";");
  if (!names.includes("host")) return "host is not signed";
  const canonicalHeaders = names.map((n) =>
    `${n}:${(req.headers.get(n) ?? "").trim().replace(/\s+/g, " ")}\n`
  ).join("");
  const canonicalRequest = [
    req.method,
    url.pathname || "/",
    [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .sort().join("&"),
    canonicalHeaders,
    signedHeaders,
    sha256hex(body),
  ].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256hex(canonicalRequest)].join("\n");
  let k = hmac("AWS4" + AWS_SECRET_KEY, date!);
  k = hmac(k, region!);
  k = hmac(k, service!);
  k = hmac(k, "aws4_request");
  const expected = Buffer.from(hmac(k, stringToSign));
  const got = Buffer.from(signature!, "hex");
  return expected.length === got.length && timingSafeEqual(expected, got)
    ? undefined
    : "The request signature we calculated does not match the signature you provided";
}

/** Starts the fake on a free loopback port (TLS when `tls` is given). */
export function startFakeAwsKms(
  opts: { dir: string; tls?: { cert: string; key: string } },
): Promise<FakeAwsKms> {
  const keys = new Map<string, FakeAwsKey>();
  const aliases = new Map<string, string>();
  const calls: AwsCall[] = [];
  let throttleLeft = 0;

  const newKey = async (kind: TestKeyKind | "symmetric", pss = true): Promise<FakeAwsKey> => {
    const keyId = crypto.randomUUID();
    const arn = `arn:aws:kms:${AWS_REGION}:${AWS_ACCOUNT}:key/${keyId}`;
    if (kind === "symmetric") {
      const k: FakeAwsKey = {
        keyId,
        arn,
        keySpec: "SYMMETRIC_DEFAULT",
        keyUsage: "ENCRYPT_DECRYPT",
        signingAlgorithms: [],
        enabled: true,
      };
      keys.set(keyId, k);
      return k;
    }
    const key = await makeKey(opts.dir, kind);
    const spec = SPEC[kind];
    const algs = kind.startsWith("rsa-")
      ? (pss ? RSA_ALGS : RSA_ALGS.slice(3))
      : kind === "ed25519"
      ? ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
      : [EC_ALG[spec]!];
    const k: FakeAwsKey = {
      keyId,
      arn,
      keySpec: spec,
      keyUsage: "SIGN_VERIFY",
      signingAlgorithms: algs,
      key,
      enabled: true,
    };
    keys.set(keyId, k);
    return k;
  };

  const resolve = (id: unknown): FakeAwsKey | undefined => {
    if (typeof id !== "string") return undefined;
    let keyId = id;
    const aliasArn = /^arn:aws:kms:[^:]+:\d{12}:(alias\/.+)$/.exec(id);
    const alias = aliasArn ? aliasArn[1]! : id.startsWith("alias/") ? id : undefined;
    if (alias !== undefined) keyId = aliases.get(alias) ?? "";
    const keyArn = /^arn:aws:kms:[^:]+:\d{12}:key\/(.+)$/.exec(keyId);
    if (keyArn) keyId = keyArn[1]!;
    return keys.get(keyId);
  };

  const json = (status: number, o: unknown) =>
    new Response(JSON.stringify(o), {
      status,
      headers: { "content-type": "application/x-amz-json-1.1" },
    });
  const error = (type: string, message: string, status = 400) =>
    json(status, { __type: type, message });
  const b64 = (u: Uint8Array) => u.toBase64();

  const handle = async (target: string, body: Record<string, unknown>) => {
    if (throttleLeft > 0) {
      throttleLeft--;
      return error("ThrottlingException", "Rate exceeded");
    }
    if (fake.deny) {
      return error(
        "AccessDeniedException",
        `User: arn:aws:iam::${AWS_ACCOUNT}:user/test is not authorized to perform: kms:${target}`,
      );
    }
    switch (target) {
      case "GetPublicKey":
      case "DescribeKey": {
        const k = resolve(body.KeyId);
        if (!k) return error("NotFoundException", `Key '${body.KeyId}' does not exist`);
        if (!k.enabled) return error("DisabledException", `${k.arn} is disabled.`);
        if (target === "DescribeKey") {
          return json(200, {
            KeyMetadata: {
              KeyId: k.keyId,
              Arn: k.arn,
              KeySpec: k.keySpec,
              KeyUsage: k.keyUsage,
              SigningAlgorithms: k.signingAlgorithms,
              Enabled: true,
              KeyState: "Enabled",
            },
          });
        }
        if (!k.key) {
          return error("UnsupportedOperationException", `${k.arn} key usage is not supported.`);
        }
        return json(200, {
          KeyId: k.arn,
          PublicKey: b64(k.key.spkiDer),
          KeySpec: k.keySpec,
          KeyUsage: k.keyUsage,
          SigningAlgorithms: k.signingAlgorithms,
        });
      }
      case "Sign": {
        const k = resolve(body.KeyId);
        if (!k) return error("NotFoundException", `Key '${body.KeyId}' does not exist`);
        if (!k.key) return error("InvalidKeyUsageException", "not a signing key");
        const alg = String(body.SigningAlgorithm);
        if (!k.signingAlgorithms.includes(alg)) {
          return error("InvalidKeyUsageException", `${alg} is not valid for ${k.arn}`);
        }
        const message = Uint8Array.fromBase64(String(body.Message ?? ""));
        const hash = algHash(alg);
        let digest: Uint8Array = message;
        if (body.MessageType !== "DIGEST") digest = createHash(hash).update(message).digest();
        else if (digest.length !== { sha256: 32, sha384: 48, sha512: 64 }[hash]) {
          return error("ValidationException", "Digest is invalid length for algorithm");
        }
        const sig = await signDigest(k.key, digest, hash, alg.startsWith("RSASSA_PSS"));
        return json(200, { KeyId: k.arn, Signature: b64(sig), SigningAlgorithm: alg });
      }
      case "CreateKey": {
        const spec = String(body.KeySpec ?? body.CustomerMasterKeySpec ?? "SYMMETRIC_DEFAULT");
        const kind = (Object.entries(SPEC).find(([, v]) => v === spec)?.[0] ?? "symmetric") as
          | TestKeyKind
          | "symmetric";
        const k = await newKey(kind);
        return json(200, {
          KeyMetadata: {
            KeyId: k.keyId,
            Arn: k.arn,
            KeySpec: k.keySpec,
            KeyUsage: k.keyUsage,
            Description: body.Description,
          },
        });
      }
      case "CreateAlias": {
        const alias = String(body.AliasName);
        if (aliases.has(alias)) return error("AlreadyExistsException", `${alias} already exists`);
        const k = resolve(body.TargetKeyId);
        if (!k) return error("NotFoundException", "target key does not exist");
        aliases.set(alias, k.keyId);
        return json(200, {});
      }
    }
    return error("UnknownOperationException", `unknown operation ${target}`);
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(opts.tls ?? {}),
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    const raw = await req.text();
    const target = (req.headers.get("x-amz-target") ?? "").replace(/^TrentService\./, "");
    let body: Record<string, unknown> = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      // checked below
    }
    const bad = checkSigV4(req, url, raw);
    let res: Response;
    if (bad !== undefined) {
      fake.badSignatures++;
      res = error(
        bad === "unknown access key" ? "UnrecognizedClientException" : "InvalidSignatureException",
        bad === "unknown access key"
          ? "The security token included in the request is invalid."
          : bad,
      );
    } else if (req.method !== "POST" || url.pathname !== "/") {
      res = error("UnknownOperationException", "not found", 404);
    } else {
      res = await handle(target, body);
    }
    calls.push({ target, body, raw, status: res.status });
    return res;
  });
  const port = server.addr.port;
  const fake: FakeAwsKms = {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    calls,
    badSignatures: 0,
    keys,
    aliases,
    deny: false,
    async addKey(kind, o = {}) {
      const k = await newKey(kind, o.pss ?? true);
      if (o.alias) aliases.set(o.alias, k.keyId);
      return k;
    },
    throttle(count) {
      throttleLeft = count;
    },
    async stop() {
      await server.shutdown();
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
  return Promise.resolve(fake);
}
