/**
 * `cosign env`: the environment variables this cosign reads, each with its value (secrets shown
 * as `******` unless `--show-sensitive-values`), in cosign's format (`# NAME description`,
 * `# Expects: …`, `NAME=value`), then any other `COSIGN_*`, `SIGSTORE_*` and `TUF_*` variable
 * set (a `COSIGN_<FLAG>` sets a flag), their values hidden likewise.
 *
 * {@link ENV_VARS} is the one list: a test checks that every variable the code reads is in it,
 * and that everything in it is read somewhere.
 * @module
 */

import { bool } from "./args.ts";
import type { Command } from "./command.ts";
import { stdout } from "./io.ts";

/** One environment variable. */
export interface EnvVar {
  /** What it does. */
  description: string;
  /** What value it takes. */
  expects: string;
  /** Its value is a secret. */
  sensitive?: boolean;
}

/** The variables read, by name (cosign's names and descriptions where cosign has them). */
export const ENV_VARS: Record<string, EnvVar> = {
  COSIGN_PASSWORD: {
    description: "overrides password inputs with this value",
    expects: "string with a password (asks on stdin by default)",
    sensitive: true,
  },
  COSIGN_REPOSITORY: {
    description: "can be used to store signatures in an alternate location",
    expects: "string with a repository",
  },
  COSIGN_DOCKER_MEDIA_TYPES: {
    description: "to be used with registries that do not support OCI media types",
    expects: "1 to fallback to legacy OCI media types equivalents (0 by default)",
  },
  COSIGN_MAX_ATTACHMENT_SIZE: {
    description: "maximum attachment size to download (default 128MiB)",
    expects: "human-readable unit of memory, e.g. 5120, 20K, 3M, 45MiB, 1GB",
  },
  COSIGN_LOCK_TIMEOUT: {
    description: "how long a signer waits for another signer of the same image on this machine",
    expects: "a duration, e.g. 30s",
  },
  COSIGN_DEBUG: {
    description: "prints the stack of an error after its one-line message",
    expects: "1 to print stacks",
  },
  COSIGN_DENO_NO_CACHE: {
    description: "turns off the cache of registry schemes (~/.cache/cosign-deno/registries.json)",
    expects: "1 to turn the cache off",
  },
  SIGSTORE_CT_LOG_PUBLIC_KEY_FILE: {
    description: "overrides what is used to validate the SCT coming back from Fulcio",
    expects: "path to the public key file",
  },
  SIGSTORE_ROOT_FILE: {
    description: "overrides the public good instance root CA",
    expects: "path to the root CA",
  },
  SIGSTORE_REKOR_PUBLIC_KEY: {
    description: "if specified, you can specify an oob Public Key that Rekor uses",
    expects: "path to the public key",
  },
  SIGSTORE_TSA_CERTIFICATE_FILE: {
    description:
      "path to the concatenated PEM-encoded TSA certificate file (leaf, intermediate(s), root) used by Sigstore",
    expects: "path to the TSA certificate file",
  },
  SIGSTORE_TRUST_REKOR_API_PUBLIC_KEY: {
    description: "trusts the key the Rekor API serves (for testing only)",
    expects: "1 to trust it",
  },
  SIGSTORE_ID_TOKEN: {
    description: "is a OIDC token used to authenticate to Fulcio",
    expects: "string with a OIDC token",
    sensitive: true,
  },
  TUF_ROOT: {
    description: "path to the TUF cache directory",
    expects: "path to the TUF cache directory",
  },
  TUF_MIRROR: {
    description: "URL of the TUF mirror",
    expects: "URL of the TUF mirror",
  },
  TUF_ROOT_JSON: {
    description:
      "path to the TUF root.json file used to initialize and update a local TUF repository",
    expects: "path to root.json",
  },
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: {
    description: "is bearer token for the request to the OIDC provider",
    expects: "string with a bearer token",
    sensitive: true,
  },
  ACTIONS_ID_TOKEN_REQUEST_URL: {
    description: "is the URL for GitHub's OIDC provider",
    expects: "string with the URL for the OIDC provider",
  },
  DOCKER_CONFIG: {
    description: "the folder of docker's config.json (registry credentials)",
    expects: "path to a folder",
  },
  REGISTRY_AUTH_FILE: {
    description: "a containers auth.json with registry credentials",
    expects: "path to auth.json",
  },
  AZURE_AUTHORITY_HOST: {
    description: "the Microsoft Entra authority host for azurekms:// credentials (@azure/identity)",
    expects: "URL",
  },
  AZURE_ENVIRONMENT: {
    description: "the Azure cloud of azurekms:// keys (e.g. AzurePublicCloud)",
    expects: "cloud name",
  },
  GOOGLE_APPLICATION_CREDENTIALS: {
    description:
      "the service-account or user credentials file for gcpkms:// (Application Default Credentials)",
    expects: "path to a JSON credentials file",
  },
  CLOUDSDK_CONFIG: {
    description:
      "gcloud's configuration folder, where gcpkms:// looks for application default credentials",
    expects: "path",
  },
  GCE_METADATA_HOST: {
    description: "the GCE metadata server gcpkms:// asks for a token",
    expects: "host[:port]",
  },
  CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS: {
    description: "overrides the Cloud KMS endpoint of gcpkms://",
    expects: "URL",
  },
  VAULT_ADDR: {
    description: "the Vault server of hashivault:// keys",
    expects: "URL",
  },
  BAO_ADDR: {
    description: "the OpenBao server of openbao:// keys",
    expects: "URL",
  },
  VAULT_TOKEN: {
    description: "the Vault token for hashivault:// keys",
    expects: "token",
    sensitive: true,
  },
  BAO_TOKEN: {
    description: "the OpenBao token for openbao:// keys",
    expects: "token",
    sensitive: true,
  },
  TRANSIT_SECRET_ENGINE_PATH: {
    description: "the mount path of Vault's transit engine (default transit)",
    expects: "path",
  },
  VAULT_NAMESPACE: {
    description: "the Vault namespace of hashivault:// keys",
    expects: "namespace",
  },
  BAO_NAMESPACE: {
    description: "the OpenBao namespace of openbao:// keys",
    expects: "namespace",
  },
  KUBERNETES_SERVICE_HOST: {
    description: "in a pod: the API server k8s:// keys are read from",
    expects: "host",
  },
  KUBERNETES_SERVICE_PORT: {
    description: "in a pod: the API server's port",
    expects: "port",
  },
  KUBECONFIG: {
    description: "the kubeconfig of k8s:// keys",
    expects: "path(s)",
  },
};

/** Prefixes of variables that may change behaviour although not registered (as cosign). */
const PREFIXES = ["COSIGN_", "SIGSTORE_", "TUF_"];
/** Set by `deno task` for the program itself; not the user's. */
const INTERNAL = new Set(["COSIGN_DENO_CALLER_CWD"]);

/** The text `cosign env` prints for an environment. */
export function envText(
  env: Record<string, string>,
  options: { showDescriptions: boolean; showSensitive: boolean },
): string {
  const out: string[] = [];
  for (const name of Object.keys(ENV_VARS).sort()) {
    const v = ENV_VARS[name]!;
    const value = env[name] ?? "";
    if (options.showDescriptions) {
      out.push(`# ${name} ${v.description}`, `# Expects: ${v.expects}`);
    }
    out.push(`${name}=${v.sensitive && !options.showSensitive && value !== "" ? "******" : value}`);
  }
  const others = Object.keys(env).filter((k) =>
    PREFIXES.some((p) => k.startsWith(p)) && !(k in ENV_VARS) && !INTERNAL.has(k)
  ).sort();
  if (others.length > 0 && options.showDescriptions) {
    out.push(
      "# Environment variables below are not registered with cosign,",
      "# but might still influence cosign's behavior.",
    );
  }
  for (const k of others) {
    // A COSIGN_<FLAG> may hold a flag's secret (COSIGN_REGISTRY_PASSWORD): hidden, as cosign.
    const value = env[k]!;
    out.push(`${k}=${!options.showSensitive && value !== "" ? "******" : value}`);
  }
  return out.join("\n") + "\n";
}

/** `cosign env`. */
export const envCommand: Command = {
  spec: {
    name: "env",
    summary: "Prints the environment variables cosign reads, with their values.",
    usage: "[--show-descriptions=false] [--show-sensitive-values]",
    args: [0, 0],
    flags: {
      "show-descriptions": {
        type: "boolean",
        default: true,
        description: "show descriptions for environment variables",
      },
      "show-sensitive-values": {
        type: "boolean",
        default: false,
        description: "show values of sensitive environment variables",
      },
    },
  },
  async run({ flags }) {
    await stdout(envText(Deno.env.toObject(), {
      showDescriptions: bool(flags, "show-descriptions"),
      showSensitive: bool(flags, "show-sensitive-values"),
    }));
  },
};
