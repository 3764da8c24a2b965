/**
 * `cosign login`: stores registry credentials in docker's `config.json` as docker and crane
 * do (`auths[server].auth` = base64 of `user:password`; Docker Hub's key
 * `https://index.docker.io/v1/`), keeping everything else in the file, mode 0600.
 * @module
 */

import { CosignError, UsageError } from "../errors.ts";
import { DOCKER_HUB } from "../oci/reference.ts";
import { bool, str } from "./args.ts";
import type { Command } from "./command.ts";
import { info, readAllStdin, writeFileAtomic } from "./io.ts";

/** The docker config file `cosign login` writes. */
export function dockerConfigPath(): string {
  const dir = Deno.env.get("DOCKER_CONFIG") ?? `${Deno.env.get("HOME") ?? "."}/.docker`;
  return `${dir}/config.json`;
}

/** `cosign login`. */
export const loginCommand: Command = {
  spec: {
    name: "login",
    summary: "Stores credentials for a registry in docker's config.json.",
    usage: "REGISTRY -u USER (-p PASS | --password-stdin)",
    args: [1, 1],
    flags: {
      username: { type: "string", short: "u", value: "USER", description: "user name" },
      // Never from the environment: COSIGN_PASSWORD is the key password, not a registry's.
      password: {
        type: "string",
        short: "p",
        value: "PASS",
        env: false,
        description: "password",
      },
      "password-stdin": {
        type: "boolean",
        default: false,
        description: "read the password from stdin",
      },
    },
  },
  async run({ flags, positionals }) {
    const user = str(flags, "username");
    let password = str(flags, "password");
    if (!user) throw new UsageError(`required flag "--username" (-u) not set`);
    if (bool(flags, "password-stdin")) {
      if (password !== undefined) {
        throw new UsageError("--password and --password-stdin are exclusive");
      }
      password = new TextDecoder().decode(await readAllStdin()).replace(/\r?\n$/, "");
    }
    if (password === undefined) throw new UsageError("pass --password or --password-stdin");
    let server = positionals[0]!.replace(/^https?:\/\//, "").replace(/\/+$/, "");
    if (["docker.io", DOCKER_HUB, "registry-1.docker.io"].includes(server)) {
      server = "https://index.docker.io/v1/";
    }
    const path = dockerConfigPath();
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new CosignError("FILE_READ", `Cannot update ${path}: it is not readable JSON`);
      }
    }
    const auths =
      (typeof config.auths === "object" && config.auths !== null ? config.auths : {}) as Record<
        string,
        unknown
      >;
    auths[server] = { auth: new TextEncoder().encode(`${user}:${password}`).toBase64() };
    config.auths = auths;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, JSON.stringify(config, null, "\t") + "\n", 0o600);
    await info(`logged in via ${path}`);
  },
};
