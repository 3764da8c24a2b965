#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian machine (idempotent):
# Debian packages for tests and benchmarks, Deno 2.9.6 from npm when `deno` is missing,
# and the npm packages the code imports (into Deno's cache).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker-registry apache2-utils skopeo openssl curl jq hyperfine time util-linux strace zsh fish)
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
# deno bundle's esbuild (deno task bundle, release, tests/bundle_test.ts) comes from npm: fetch it
# once here rather than in concurrent tests.
bundle_tmp=$(mktemp -d)
deno bundle --quiet --platform deno --output "$bundle_tmp/sget.js" scripts/entries/sget.ts >/dev/null
rm -rf "$bundle_tmp"
# sigstore-js, the peer our bundles are held to (tests/keyless_sign_test.ts, scripts/bench_bundle.ts),
# pinned, under Node, into .bench-cache/sigstore-verify/ (gitignored).
PEER=.bench-cache/sigstore-verify
if [ ! -f "$PEER/node_modules/@sigstore/verify/package.json" ] ||
  ! grep -q '"version": "4.1.3"' "$PEER/node_modules/@sigstore/verify/package.json"; then
  mkdir -p "$PEER"
  cat >"$PEER/package.json" <<'JSON'
{
  "private": true,
  "dependencies": {
    "@sigstore/verify": "4.1.3",
    "@sigstore/bundle": "5.0.1",
    "@sigstore/core": "4.0.1",
    "@sigstore/protobuf-specs": "0.5.2"
  }
}
JSON
  (cd "$PEER" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
echo "setup: ready ($(deno --version | head -n1))" >&2
