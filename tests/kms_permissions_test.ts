/**
 * The permissions baked into the compiled executables (scripts/compile.ts `PERMISSIONS`, applied
 * here with `deno run`; `--no-prompt` makes a missing one an error) are enough for the KMS
 * providers that need more than files, environment and network: the AWS and Azure SDKs
 * (`--allow-sys`) and plugins (`--allow-run`).
 */
import { PERMISSIONS } from "../scripts/compile.ts";
import {
  AWS_ACCESS_KEY,
  AWS_REGION,
  AWS_SECRET_KEY,
  startFakeAwsKms,
} from "./harness/fake_aws_kms.ts";
import { startFakeAzureKv } from "./harness/fake_azure_kv.ts";
import { DENO_DIR, makeKey } from "./harness/kms_keys.ts";
import { installPlugin } from "./harness/kms_plugin.ts";
import { assert, ROOT, tempDir } from "./helpers.ts";

async function signBlob(dir: string, ref: string, env: Record<string, string>) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...PERMISSIONS, "--config", ROOT + "deno.json", ROOT + "cli.ts"]
      .concat("cosign", "sign-blob", "--key", ref, "--tlog-upload=false", `${dir}/blob`),
    env: { HOME: dir, DENO_DIR, PATH: Deno.env.get("PATH") ?? "", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(r.code === 0, `${ref}: exit ${r.code}: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test("kms: the compiled executables' permissions are enough for the SDKs and plugins", async () => {
  await using d = await tempDir();
  const p = d.path;
  await Deno.writeTextFile(`${p}/blob`, "permissions\n");
  {
    await using aws = await startFakeAwsKms({ dir: p });
    await aws.addKey("ec-p256", { alias: "alias/perm" });
    await signBlob(p, "awskms:///alias/perm", {
      AWS_ACCESS_KEY_ID: AWS_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: AWS_SECRET_KEY,
      AWS_REGION,
      AWS_ENDPOINT_URL_KMS: aws.url,
    });
  }
  {
    await using kv = await startFakeAzureKv({ dir: p });
    await kv.addKey("perm", "ec-p256");
    await signBlob(p, `azurekms://${kv.host}/perm`, {
      NODE_EXTRA_CA_CERTS: kv.caPath,
      ...kv.identityEnv,
    });
  }
  await Deno.mkdir(`${p}/bin`);
  await installPlugin(`${p}/bin`, "permkms");
  const key = await makeKey(p, "ec-p256");
  await signBlob(p, `permkms://${key.privatePath}`, {
    PATH: `${p}/bin:${Deno.env.get("PATH") ?? ""}`,
  });
});
