#!/usr/bin/env bash
# The main job end to end on this machine: installs what is missing, then in a temporary
# folder generates a cosign key pair, signs a release file, verifies it with this cosign and
# independently with openssl, and shows that a tampered file is rejected. Cleans up after itself.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
cosign() { deno run --quiet --allow-all --config "$ROOT/deno.json" "$ROOT/cli.ts" cosign "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

export COSIGN_PASSWORD=demo-password
step "cosign generate-key-pair"
cosign generate-key-pair
ls -l cosign.key cosign.pub

step "create a release artifact (8 MiB)"
head -c 8388608 /dev/urandom > release.tar.gz
sha256sum release.tar.gz

step "cosign sign-blob --key cosign.key --tlog-upload=false --output-signature release.sig release.tar.gz"
cosign sign-blob --key cosign.key --tlog-upload=false --output-signature release.sig release.tar.gz
echo "signature: $(cat release.sig)"

step "cosign verify-blob --key cosign.pub --signature release.sig --insecure-ignore-tlog release.tar.gz"
cosign verify-blob --key cosign.pub --signature release.sig --insecure-ignore-tlog release.tar.gz

step "openssl dgst -sha256 -verify cosign.pub (independent check)"
base64 -d release.sig > release.sig.der
openssl dgst -sha256 -verify cosign.pub -signature release.sig.der release.tar.gz

step "tamper with one byte and verify again (must fail)"
printf 'X' | dd of=release.tar.gz bs=1 seek=1000 conv=notrunc status=none
rc=0
cosign verify-blob --key cosign.pub --signature release.sig --insecure-ignore-tlog release.tar.gz || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "DEMO FAILED: a tampered file verified" >&2
  exit 1
fi
echo "rejected with exit code $rc, as expected"
printf '\n\033[1mDemo complete.\033[0m\n'
