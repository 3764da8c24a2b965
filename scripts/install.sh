#!/bin/sh
# Installs cosign and sget (cosign-deno) from a signed release, verifying before installing.
#
#   sh install.sh --key cosign.pub --oci REGISTRY/REPOSITORY --version VERSION
#   sh install.sh --key cosign.pub --url https://example.com/releases/VERSION
#   curl -fsSL https://…/install.sh | sh -s -- --key cosign.pub --url https://…
#
# What it does, in this order, and it stops at the first thing that does not check out:
#   1. refuses to run as root (unless --allow-root) or as another user than --expect-user, and
#      to replace an existing cosign or sget in the install folder (unless --force);
#   2. downloads checksums.txt and its Sigstore bundle, and verifies the bundle's signature over
#      checksums.txt with openssl and the key you already trust (--key: a PEM public key);
#   3. downloads the files for this platform (the compiled cosign-TARGET and sget-TARGET when the
#      release has them, otherwise the single-file cosign.js and sget.js, which need Deno), and
#      VERSION when --version is given, and checks each against the SHA-256 in the verified
#      checksums.txt (and VERSION against --version);
#   4. only then copies them into the install folder (--dir, else $COSIGN_INSTALL_DIR, else
#      ~/.local/bin) as `cosign` and `sget`.
# Downloads go to a private temporary folder that is removed on exit; nothing reaches the install
# folder unless every check passed.
#
# Where the release comes from:
#   --url BASE       files at BASE/NAME (https, or http for a local server), with curl or wget;
#   --oci REPOSITORY files as the images REPOSITORY:VERSION-NAME (`deno task release --oci`),
#                    fetched with sget (or $SGET) when it is installed, which verifies each
#                    image's signature with the same key first (--insecure-ignore-tlog passes on
#                    to it); otherwise with curl through the registry API (anonymous access).
#
# Options may also come from the environment: COSIGN_INSTALL_KEY (a file, or the PEM itself),
# COSIGN_INSTALL_URL, COSIGN_INSTALL_OCI, COSIGN_INSTALL_VERSION, COSIGN_INSTALL_DIR.
# Needs: openssl, sha256sum or shasum, and curl or wget (or sget for --oci).

set -eu

prog=install.sh
key=${COSIGN_INSTALL_KEY:-}
url=${COSIGN_INSTALL_URL:-}
oci=${COSIGN_INSTALL_OCI:-}
version=${COSIGN_INSTALL_VERSION:-}
dir=${COSIGN_INSTALL_DIR:-}
force=
allow_root=
expect_user=
ignore_tlog=

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 1
}
say() { printf '%s\n' "$*" >&2; }
usage() {
  cat >&2 <<'EOF'
usage: install.sh --key PUBKEY (--url BASE | --oci REPOSITORY --version VERSION)
                  [--version VERSION] [--dir DIR] [--force] [--allow-root]
                  [--expect-user NAME] [--insecure-ignore-tlog]
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --key) [ $# -ge 2 ] || die "--key needs a value"; key=$2; shift 2 ;;
    --key=*) key=${1#*=}; shift ;;
    --url) [ $# -ge 2 ] || die "--url needs a value"; url=$2; shift 2 ;;
    --url=*) url=${1#*=}; shift ;;
    --oci) [ $# -ge 2 ] || die "--oci needs a value"; oci=$2; shift 2 ;;
    --oci=*) oci=${1#*=}; shift ;;
    --version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --expect-user) [ $# -ge 2 ] || die "--expect-user needs a value"; expect_user=$2; shift 2 ;;
    --expect-user=*) expect_user=${1#*=}; shift ;;
    --force) force=1; shift ;;
    --allow-root) allow_root=1; shift ;;
    --insecure-ignore-tlog) ignore_tlog=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
done

version=${version#v}

# --- 1. who, where, what -----------------------------------------------------------------------

uid=$(id -u)
user=$(id -un 2>/dev/null || echo "$uid")
if [ "$uid" = 0 ] && [ -z "$allow_root" ]; then
  die "refusing to run as root: install as the user who will run cosign, or pass --allow-root"
fi
if [ -n "$expect_user" ] && [ "$user" != "$expect_user" ]; then
  die "refusing to run as user $user: --expect-user says $expect_user"
fi

[ -n "$key" ] || die "no trusted key: pass --key PUBKEY (a PEM public key) or set COSIGN_INSTALL_KEY"
if [ -n "$url" ] && [ -n "$oci" ]; then die "give --url or --oci, not both"; fi
[ -n "$url" ] || [ -n "$oci" ] || die "no release: pass --url BASE or --oci REPOSITORY"
if [ -n "$oci" ] && [ -z "$version" ]; then die "--oci needs --version VERSION"; fi
case $version in
  *[!0-9A-Za-z.-]*) die "invalid version $version" ;;
esac

if [ -z "$dir" ]; then
  [ -n "${HOME:-}" ] || die "HOME is not set: pass --dir DIR or set COSIGN_INSTALL_DIR"
  dir=$HOME/.local/bin
fi
for p in cosign sget; do
  if [ -e "$dir/$p" ] && [ -z "$force" ]; then
    die "$dir/$p already exists: pass --force to replace it"
  fi
done

command -v openssl >/dev/null 2>&1 || die "openssl is needed to verify the release signature"
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  die "sha256sum or shasum is needed to check the release files"
fi

umask 077
tmp=$(mktemp -d 2>/dev/null || mktemp -d -t cosign-install)
[ -d "$tmp" ] || die "cannot make a temporary folder"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

case $key in
  -----BEGIN*) printf '%s\n' "$key" >"$tmp/key.pem" ;;
  *) [ -r "$key" ] || die "cannot read the key $key"; cp "$key" "$tmp/key.pem" ;;
esac
openssl pkey -pubin -in "$tmp/key.pem" -noout 2>/dev/null || die "$key is not a PEM public key"

# --- downloading ---------------------------------------------------------------------------------

http_get() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --proto '=https,http' -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "curl or wget is needed to download $1"
  fi
}

sget_cmd=
if [ -n "$oci" ]; then
  if [ -n "${SGET:-}" ]; then
    sget_cmd=$SGET
  elif command -v sget >/dev/null 2>&1; then
    sget_cmd=sget
  fi
  registry=${oci%%/*}
  repository=${oci#*/}
  [ "$registry" != "$oci" ] || die "--oci wants REGISTRY/REPOSITORY, got $oci"
  case $registry in
    localhost | localhost:* | 127.0.0.1 | 127.0.0.1:* | \[::1\]*) scheme=http ;;
    *) scheme=https ;;
  esac
fi

# The registry API with curl: the manifest of REPOSITORY:TAG, then its one layer's blob. A 401
# with a Bearer challenge is answered with an anonymous token.
registry_get() { # PATH FILE [ACCEPT]
  command -v curl >/dev/null 2>&1 || die "curl (or sget) is needed to download from $registry"
  set -- "$1" "$2" "${3:-*/*}" ""
  code=$(curl -sS --proto '=https,http' -o "$2" -D "$tmp/headers" -w '%{http_code}' \
    -H "Accept: $3" "$scheme://$registry$1") || die "cannot reach $registry"
  if [ "$code" = 401 ]; then
    challenge=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *Bearer *//p')
    realm=$(printf '%s' "$challenge" | sed -n 's/.*realm="\([^"]*\)".*/\1/p')
    service=$(printf '%s' "$challenge" | sed -n 's/.*service="\([^"]*\)".*/\1/p')
    scope=$(printf '%s' "$challenge" | sed -n 's/.*scope="\([^"]*\)".*/\1/p')
    [ -n "$realm" ] || die "$registry wants credentials; install sget to use them"
    curl -fsS --proto '=https,http' -G -o "$tmp/token.json" --data-urlencode "service=$service" \
      --data-urlencode "scope=$scope" "$realm" || die "no anonymous token from $realm"
    token=$(tr -d '\n ' <"$tmp/token.json" | sed -n 's/.*"\(access_\)\{0,1\}token":"\([^"]*\)".*/\2/p')
    [ -n "$token" ] || die "no anonymous token from $realm"
    code=$(curl -sS --proto '=https,http' -o "$2" -w '%{http_code}' -H "Accept: $3" \
      -H "Authorization: Bearer $token" "$scheme://$registry$1") || die "cannot reach $registry"
  fi
  [ "$code" = 200 ] || die "$scheme://$registry$1: HTTP $code"
}

oci_get() { # NAME FILE
  ref="$oci:$version-$1"
  if [ -n "$sget_cmd" ]; then
    set -- "$1" "$2" --key "$tmp/key.pem"
    [ -z "$ignore_tlog" ] || set -- "$@" --insecure-ignore-tlog
    # $sget_cmd may be a command with arguments (SGET="deno run -A sget.js")
    # shellcheck disable=SC2086
    $sget_cmd "$3" "$4" ${5:-} -o "$2" "$ref" 2>"$tmp/sget.err" ||
      die "sget refused $ref: $(tail -n 1 "$tmp/sget.err")"
    return
  fi
  registry_get "/v2/$repository/manifests/$version-$1" "$tmp/manifest.json" \
    'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
  layer=$(tr -d '\n\r\t ' <"$tmp/manifest.json" |
    sed -n 's/.*"layers":\[{[^]]*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p')
  [ -n "$layer" ] || die "$ref is not a one-layer image"
  registry_get "/v2/$repository/blobs/$layer" "$2"
  [ "sha256:$(sha256 "$2")" = "$layer" ] || die "$ref: the registry sent other bytes than $layer"
}

fetch() { # NAME: into $tmp/files/NAME
  if [ -n "$oci" ]; then
    oci_get "$1" "$tmp/files/$1"
  else
    http_get "${url%/}/$1" "$tmp/files/$1" || die "cannot download ${url%/}/$1"
  fi
}

mkdir "$tmp/files"

# --- 2. the signed checksums ---------------------------------------------------------------------

fetch checksums.txt
fetch checksums.txt.sigstore.json
bundle=$tmp/files/checksums.txt.sigstore.json
sig_b64=$(tr -d '\n\r' <"$bundle" | sed -n 's/.*"messageSignature":{.*"signature":"\([A-Za-z0-9+\/=]*\)".*/\1/p')
alg=$(tr -d '\n\r' <"$bundle" | sed -n 's/.*"messageDigest":{"algorithm":"\([A-Z0-9_]*\)".*/\1/p')
[ -n "$sig_b64" ] || die "checksums.txt.sigstore.json holds no message signature"
printf '%s' "$sig_b64" | openssl base64 -d -A >"$tmp/checksums.sig" ||
  die "checksums.txt.sigstore.json: the signature is not base64"
case $alg in
  SHA2_256 | "") dgst=-sha256 ;;
  SHA2_384) dgst=-sha384 ;;
  SHA2_512) dgst=-sha512 ;;
  *) die "checksums.txt.sigstore.json: unsupported digest $alg" ;;
esac
if openssl pkey -pubin -in "$tmp/key.pem" -noout -text 2>/dev/null | grep -qi 'ED25519'; then
  openssl pkeyutl -verify -pubin -inkey "$tmp/key.pem" -rawin -in "$tmp/files/checksums.txt" \
    -sigfile "$tmp/checksums.sig" >/dev/null 2>&1 ||
    die "the signature on checksums.txt does not verify with $key: nothing installed"
else
  openssl dgst "$dgst" -verify "$tmp/key.pem" -signature "$tmp/checksums.sig" \
    "$tmp/files/checksums.txt" >/dev/null 2>&1 ||
    die "the signature on checksums.txt does not verify with $key: nothing installed"
fi
say "Verified checksums.txt with $key"

expected() { # NAME: its SHA-256 from the verified checksums.txt, or nothing
  awk -v n="$1" '$2 == n && length($1) == 64 { print $1; exit }' "$tmp/files/checksums.txt"
}

# --- 3. this platform's files --------------------------------------------------------------------

os=$(uname -s)
arch=$(uname -m)
case $arch in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
esac
case $os in
  Linux) target=$arch-unknown-linux-gnu; exe= ;;
  Darwin) target=$arch-apple-darwin; exe= ;;
  MINGW* | MSYS* | CYGWIN*) target=$arch-pc-windows-msvc; exe=.exe ;;
  *) target=$arch-$os; exe= ;;
esac
if [ -n "$(expected "cosign-$target$exe")" ] && [ -n "$(expected "sget-$target$exe")" ]; then
  cosign_file=cosign-$target$exe
  sget_file=sget-$target$exe
else
  cosign_file=cosign.js
  sget_file=sget.js
  exe=
  [ -n "$(expected cosign.js)" ] || die "the release has nothing for $target"
  command -v deno >/dev/null 2>&1 ||
    say "note: the release has no executable for $target; cosign.js and sget.js need Deno (https://deno.com) on PATH"
fi

names="$cosign_file $sget_file"
[ -z "$version" ] || names="$names VERSION"
for name in $names; do
  want=$(expected "$name")
  [ -n "$want" ] || die "checksums.txt does not list $name"
  fetch "$name"
  got=$(sha256 "$tmp/files/$name")
  [ "$got" = "$want" ] ||
    die "checksum mismatch for $name: checksums.txt says $want, the download is $got: nothing installed"
done
if [ -n "$version" ]; then
  got=$(tr -d '\r\n' <"$tmp/files/VERSION")
  [ "$got" = "$version" ] || die "the release is version $got, not $version: nothing installed"
fi
say "Verified $cosign_file and $sget_file against checksums.txt"

# --- 4. install ------------------------------------------------------------------------------------

mkdir -p "$dir" || die "cannot create $dir"
for p in cosign sget; do
  if [ -e "$dir/$p" ] && [ -z "$force" ]; then
    die "$dir/$p already exists: pass --force to replace it"
  fi
done
install_one() { # FROM NAME
  cp "$tmp/files/$1" "$dir/.$2.install.$$" || die "cannot write to $dir"
  chmod 755 "$dir/.$2.install.$$"
  mv -f "$dir/.$2.install.$$" "$dir/$2$exe" || die "cannot install $dir/$2$exe"
}
install_one "$cosign_file" cosign
install_one "$sget_file" sget
say "Installed cosign and sget${version:+ $version} into $dir"
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *) say "note: $dir is not on your PATH" ;;
esac
