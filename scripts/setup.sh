#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian machine (idempotent):
# Debian packages for tests and benchmarks, Deno 2.9.6 from npm when `deno` is missing,
# and the npm packages the code imports (into Deno's cache).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker-registry apache2-utils skopeo openssl curl jq hyperfine time util-linux strace)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v deno >/dev/null 2>&1 || ! deno --version | grep -q '^deno 2\.9\.6 '; then
  echo "setup: installing deno 2.9.6 from npm" >&2
  npm install -g --silent deno@2.9.6
fi

# Fetch and cache the npm dependencies (pinned in deno.lock) so tests start offline-fast.
deno install --quiet --entrypoint cli.ts mod.ts tests/*.ts >/dev/null
echo "setup: ready ($(deno --version | head -n1))" >&2
