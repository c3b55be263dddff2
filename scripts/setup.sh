#!/usr/bin/env bash
# One idempotent set-up for a fresh machine: system packages, npm dependencies, the libbpfjs
# native addon, BPF objects, TypeScript build and the cluster binaries. Each step is skipped
# when its output is newer than its inputs, so a second run takes seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- system packages (Debian) ---------------------------------------------------------------
# containernetworking-plugins: the sandbox's pod networks (bridge, host-local); prometheus, iperf3 and
# wrk: the end-to-end tests and benchmarks; qemu-system-x86, busybox-static, kmod and cpio: the VM
# test layer (Debian's 6.1 kernel under QEMU, scripts/vm-assets.sh); wireguard-tools: the agent
# configures WireGuard with wg; tcpdump: the encryption tests capture the underlay; nginx-light:
# the L7 benchmark's reference reverse proxy; nftables: the agent's service fallback and kube-proxy's
# nftables mode (the services parity suite).
packages=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool iproute2 iptables make g++ python3
  containernetworking-plugins prometheus iperf3 wrk qemu-system-x86 busybox-static kmod cpio
  wireguard-tools tcpdump nginx-light nftables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v kubectl >/dev/null || missing+=(kubectl)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing system packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: installing ${missing[*]} needs root (apt-get)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "setup: Go is needed to build the test cluster binaries" >&2; exit 1; }

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

# --- the VM test layer's kernel and initramfs -------------------------------------------------
step "VM kernel (Debian 6.1) and initramfs"
bash scripts/vm-assets.sh

# --- cluster binaries (kube-apiserver, kube-proxy, etcd, helm) -----------------------------------------
step "cluster binaries"
bash scripts/cluster-bins.sh kube-apiserver etcd helm kube-proxy >/dev/null

# --- bpffs, where the agent pins its state ------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { found = 1 } END { exit !found }' /proc/mounts; then
  step "mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi
step "setup done"
