#!/usr/bin/env bash
# The set-up `npm start` runs on a fresh machine: what the sandbox needs and nothing more (system
# packages, npm dependencies, the libbpfjs native addon, BPF objects, the TypeScript build,
# kube-apiserver and etcd). What only tests use is scripts/setup-tests.sh's. Each step is skipped
# when its output is newer than its inputs, so a second run takes seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- system packages (Debian) ---------------------------------------------------------------
# The build (clang, llvm, libbpf-dev, libelf-dev, zlib1g-dev, make, g++, python3), and what the
# sandbox's agents run: iproute2, iptables and nftables (Weir's rules and the service fallback),
# wireguard-tools (wg); containernetworking-plugins: the sandbox's pod networks (bridge, host-local).
# shellcheck source=scripts/packages.sh
source scripts/packages.sh
install_packages clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool iproute2 iptables make g++ python3 \
  containernetworking-plugins wireguard-tools nftables
command -v go >/dev/null || { echo "setup: Go is needed to build kube-apiserver and etcd" >&2; exit 1; }

# --- npm dependencies --------------------------------------------------------------------------
# Rebuilt when the lockfile changes; the addon is built below, so install scripts are skipped here.
# `npm install` rather than `npm ci`: it installs the lockfile's versions too, and tolerates the
# lockfile lacking other platforms' optional binaries, which this machine's registry omits.
if [ ! -f node_modules/.weir-installed ] || [ package-lock.json -nt node_modules/.weir-installed ]; then
  step "npm install (from package-lock.json)"
  npm install --ignore-scripts --no-audit --no-fund
  touch node_modules/.weir-installed
fi

newer_than() { # newer_than OUTPUT INPUT... : true when OUTPUT is missing or older than an input
  local out="$1"; shift
  [ -e "$out" ] || return 0
  [ -n "$(find "$@" -newer "$out" -print -quit 2>/dev/null)" ]
}

# --- libbpfjs: native addon, TypeScript, test fixtures ----------------------------------------
addon=libbpfjs/build/Release/bpf_binding.node
if newer_than "$addon" libbpfjs/native libbpfjs/binding.gyp; then
  step "building libbpfjs native addon"
  # Node's own headers (the nodejs package ships them) instead of downloading a tarball.
  npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")" npm run build:native -w libbpfjs --silent
fi
if newer_than libbpfjs/dist/index.js libbpfjs/src libbpfjs/tsconfig.build.json; then
  step "building libbpfjs"
  npx tsc -p libbpfjs/tsconfig.build.json
fi
make -s -C libbpfjs/test/fixtures

# --- BPF objects and the TypeScript build -----------------------------------------------------
step "building BPF objects and weir-cni"
make -s -C bpf
make -s -C cni
if newer_than dist/.built api cli common operator agent sandbox tsconfig.json tsconfig.build.json; then
  step "building TypeScript"
  npx tsc -p tsconfig.build.json
  touch dist/.built
fi

# --- `weir` on the PATH, as the README's commands use it -------------------------------------------
# A launcher for this checkout's build (the last checkout set up wins), not a global npm install.
bindir=/usr/local/bin
[ "$(id -u)" -eq 0 ] || bindir="$HOME/.local/bin"
mkdir -p "$bindir"
launcher="#!/bin/sh
exec node \"$PWD/dist/cli/weir.js\" \"\$@\""
if [ "$(cat "$bindir/weir" 2>/dev/null)" != "$launcher" ]; then
  step "installing the weir command in $bindir"
  printf '%s\n' "$launcher" > "$bindir/weir"
  chmod 755 "$bindir/weir"
fi

# --- the sandbox's control plane ----------------------------------------------------------------
step "kube-apiserver and etcd"
bash scripts/cluster-bins.sh kube-apiserver etcd >/dev/null

# --- bpffs, where the agent pins its state ------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { found = 1 } END { exit !found }' /proc/mounts; then
  step "mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi
step "setup done"
