#!/usr/bin/env bash
# Builds the images the real-node test layer runs, without a registry, as OCI archives that
# containerd imports, and prints NAME=PATH lines:
#   weir      the Weir image, named as the chart's default values name it (repository:appVersion):
#             a Debian bookworm root from debootstrap with image/runtime-packages, Node 20 (this
#             machine's), and the build outputs the Dockerfile copies, at the same paths
#   workload  the test pods' image: the same root and Node, and sandbox/traffic.mjs
#   pause     the pod sandbox image, built from test/images/pause/pause.c
# The Dockerfile stays the users' path to the same contents (test/image/contents.test.ts).
# Each archive is cached under the inputs' hash; the debootstrap root under its package list's.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cache="${WEIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/weir}/images"
mkdir -p "$cache"
log() { echo "image: $*" >&2; }
need() { command -v "$1" >/dev/null || { echo "image: $1 is needed (apt-get install $2)" >&2; exit 1; }; }
need buildah buildah
need debootstrap debootstrap
need gcc gcc

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
app_version="$(awk '$1 == "appVersion:" { gsub(/"/, "", $2); print $2 }' charts/weir/Chart.yaml)"
repository="$(awk '$1 == "repository:" { print $2; exit }' charts/weir/values.yaml)"
packages="$(grep -v '^#' image/runtime-packages | grep . | paste -sd, -)"

# --- the Debian root (minutes on a cold machine, then cached) -----------------------------------
base="$cache/rootfs-bookworm-$(echo "$packages" | sha256sum | cut -c1-16).tar"
if [ ! -s "$base" ]; then
  log "debootstrap of Debian bookworm with $packages (first run only; a few minutes)"
  work="$(mktemp -d /tmp/weir-rootfs-XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  debootstrap --variant=minbase --include="$packages" bookworm "$work/root" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/root/var/lib/apt/lists"/* "$work/root/var/cache/apt"/*.bin "$work/root/var/cache/apt/archives"/*.deb
  tar -C "$work/root" --numeric-owner -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf "$work"
  trap - EXIT
fi

node_bin="$(command -v node)"
[ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" = 20 ] || { echo "image: the image carries Node 20 (as node:20-bookworm-slim); this machine's node is $("$node_bin" --version)" >&2; exit 1; }

# An image from a list of (source, destination) copies over the Debian root and Node.
# build_image NAME REF ARCHIVE ENTRYPOINT_JSON CMD_JSON SRC:DEST...
build_image() {
  local name="$1" ref="$2" archive="$3" entrypoint="$4" cmd="$5"; shift 5
  local c
  c="$(buildah from scratch)"
  buildah add --quiet "$c" "$base" / >/dev/null
  buildah copy --quiet "$c" "$node_bin" /usr/local/bin/node >/dev/null
  for pair in "$@"; do buildah copy --quiet "$c" "${pair%%:*}" "${pair#*:}" >/dev/null; done
  buildah config --workingdir /app --entrypoint "$entrypoint" --cmd "$cmd" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  buildah commit --quiet --rm "$c" "localhost/weir-build/$name" >/dev/null
  rm -f "$archive.tmp"
  buildah push --quiet "localhost/weir-build/$name" "oci-archive:$archive.tmp:$ref"
  buildah rmi --quiet "localhost/weir-build/$name" >/dev/null 2>&1 || true
  mv "$archive.tmp" "$archive"
}

# --- weir: what the Dockerfile's runtime stage copies ------------------------------------------
# The build outputs come from scripts/setup.sh (dist, build/, libbpfjs); node_modules is this
# lockfile's production tree, installed apart so dev dependencies stay out.
[ -f dist/.built ] && [ -f libbpfjs/build/Release/bpf_binding.node ] || { echo "image: run scripts/setup.sh first (no build outputs)" >&2; exit 1; }
app_inputs=(package-lock.json image/runtime-packages scripts/image.sh "$node_bin")
weir_hash="$(find dist build/bpf build/cni libbpfjs/dist libbpfjs/build/Release/bpf_binding.node -type f -print0 | sort -z | xargs -0 cat | cat - "${app_inputs[@]}" | sha256sum | cut -c1-16)"
weir_archive="$cache/weir-$weir_hash.oci.tar"
if [ ! -s "$weir_archive" ]; then
  log "building $repository:$app_version"
  stage="$(mktemp -d /tmp/weir-image-XXXXXX)"
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/app/libbpfjs/build/Release"
  cp package.json package-lock.json "$stage/app/"
  cp libbpfjs/package.json "$stage/app/libbpfjs/"
  (cd "$stage/app" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline >/dev/null)
  rm -f "$stage/app/package-lock.json"
  cp -r libbpfjs/dist "$stage/app/libbpfjs/"
  cp libbpfjs/build/Release/bpf_binding.node "$stage/app/libbpfjs/build/Release/"
  mkdir -p "$stage/app/build"
  cp -r dist "$stage/app/"
  cp -r build/bpf build/cni "$stage/app/build/"
  build_image weir "$repository:$app_version" "$weir_archive" '["node", "/app/dist/cli/weir.js"]' '["--help"]' "$stage/app:/app"
  rm -rf "$stage"
  trap - EXIT
fi
echo "weir=$weir_archive"

# --- workload: the test pods (sandbox/traffic.mjs) ---------------------------------------------
workload_archive="$cache/workload-$(hash_of sandbox/traffic.mjs "$base" scripts/image.sh "$node_bin").oci.tar"
if [ ! -s "$workload_archive" ]; then
  log "building the workload image"
  build_image workload localhost/weir-test/workload:dev "$workload_archive" '["node", "/app/traffic.mjs"]' '[]' sandbox/traffic.mjs:/app/traffic.mjs
fi
echo "workload=$workload_archive"

# --- pause: the pod sandbox, from source -------------------------------------------------------
pause_archive="$cache/pause-$(hash_of test/images/pause/pause.c scripts/image.sh).oci.tar"
if [ ! -s "$pause_archive" ]; then
  log "building the pause image"
  stage="$(mktemp -d /tmp/weir-pause-XXXXXX)"
  gcc -static -Os -Wall -Wextra -Werror -o "$stage/pause" test/images/pause/pause.c
  c="$(buildah from scratch)"
  buildah copy --quiet "$c" "$stage/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  buildah commit --quiet --rm "$c" localhost/weir-build/pause >/dev/null
  rm -f "$pause_archive.tmp"
  buildah push --quiet localhost/weir-build/pause "oci-archive:$pause_archive.tmp:registry.k8s.io/pause:3.10"
  buildah rmi --quiet localhost/weir-build/pause >/dev/null 2>&1 || true
  mv "$pause_archive.tmp" "$pause_archive"
  rm -rf "$stage"
fi
echo "pause=$pause_archive"
