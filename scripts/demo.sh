#!/usr/bin/env bash
# The main job end to end on this machine, in a temporary folder that is removed afterwards:
#   1. installs what is missing (scripts/setup.sh) and starts a local OCI registry (CNCF
#      distribution) on a free loopback port;
#   2. generates a cosign key pair; signs and verifies a release file, cross-checked by openssl;
#   3. publishes an installer script to the registry, signs it, and runs it through
#      `sget --key cosign.pub ... | sh`, which hands over the bytes only once verified (the
#      demo runs no Rekor, so the log check is skipped with --insecure-ignore-tlog);
#   4. signs a container image, verifies it, saves it with its signature to disk, stops the
#      registry, and verifies the saved copy offline;
#   5. verifies a real keyless Sigstore bundle (certificate chain, SCT, identity, Rekor proof)
#      offline with the network denied, from ../shared's conformance fixtures when present;
#   6. shows that tampering is caught.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
WORK=$(mktemp -d)
REG_PID=""
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
export HOME="$WORK" COSIGN_PASSWORD=demo-password
cosign() { deno run --quiet --allow-all --config "$ROOT/deno.json" "$ROOT/cli.ts" cosign "$@"; }
sget() { deno run --quiet --allow-all --config "$ROOT/deno.json" "$ROOT/cli.ts" sget "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "start a local registry (docker-registry) on a free port"
mkdir -p registry/data
cat > registry/config.yml <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry/data}, delete: {enabled: true}}
http: {addr: "127.0.0.1:0", secret: demo}
YAML
docker-registry serve registry/config.yml > registry/log 2>&1 &
REG_PID=$!
for _ in $(seq 100); do grep -q 'listening on' registry/log && break; sleep 0.05; done
REG=$(grep -o 'listening on 127.0.0.1:[0-9]*' registry/log | head -n1 | awk '{print $3}')
echo "registry at $REG (pid $REG_PID)"

step "cosign generate-key-pair"
cosign generate-key-pair

step "cosign sign-blob / verify-blob a release file, and openssl agrees"
head -c 8388608 /dev/urandom > release.tar.gz
cosign sign-blob --key cosign.key --tlog-upload=false --output-signature release.sig release.tar.gz
cosign verify-blob --key cosign.pub --signature release.sig --insecure-ignore-tlog release.tar.gz
openssl dgst -sha256 -verify cosign.pub -signature <(base64 -d release.sig) release.tar.gz

step "publish an installer: cosign upload blob + cosign sign"
printf '#!/bin/sh\necho "installer ran: hello from a verified download"\n' > install.sh
INSTALLER=$(cosign upload blob -f install.sh "$REG/tools/install:v1")
echo "$INSTALLER"
cosign sign --key cosign.key --tlog-upload=false "$INSTALLER"

step "sget --key cosign.pub --insecure-ignore-tlog $REG/tools/install:v1 | sh"
sget --key cosign.pub --insecure-ignore-tlog "$REG/tools/install:v1" | sh

step "an image: upload, sign with an annotation, verify"
IMAGE=$(cosign upload blob -f release.tar.gz "$REG/app/release:v1")
cosign sign --key cosign.key --tlog-upload=false -a build=42 "$REG/app/release:v1"
cosign verify --key cosign.pub --insecure-ignore-tlog -a build=42 "$REG/app/release:v1"
cosign tree "$REG/app/release:v1"

step "cosign save, stop the registry, verify the saved copy offline"
cosign save "$IMAGE" --dir saved
kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true; REG_PID=""
cosign verify --key cosign.pub --insecure-ignore-tlog --local-image saved

CONF="$ROOT/../shared/fixtures/conformance"
if [ -d "$CONF" ]; then
  step "verify a keyless Sigstore bundle from the public-good instance, network denied"
  deno run --quiet --allow-read --allow-env --deny-net --config "$ROOT/deno.json" "$ROOT/cli.ts" \
    cosign verify-blob --bundle "$CONF/public/happy-path-v0.3/bundle.sigstore.json" \
    --certificate-identity "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main" \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com \
    --trusted-root "$CONF/trusted_root.production.json" "$CONF/public/a.txt"
fi

step "tamper with one byte of the release file and verify again (must fail)"
printf 'X' | dd of=release.tar.gz bs=1 seek=1000 conv=notrunc status=none
rc=0
cosign verify-blob --key cosign.pub --signature release.sig --insecure-ignore-tlog release.tar.gz || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "DEMO FAILED: a tampered file verified" >&2
  exit 1
fi
echo "rejected with exit code $rc, as expected"
printf '\n\033[1mDemo complete.\033[0m\n'
