#!/usr/bin/env bash
# What the test command needs beyond the sandbox's set-up (scripts/setup.sh, run first): the
# packages only tests and benchmarks use, the VM layer's kernel, the test cluster binaries, and the
# images of the real-node layer. Idempotent and cached like setup.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# prometheus, iperf3 and wrk: the end-to-end tests and benchmarks; qemu-system-x86, busybox-static,
# kmod and cpio: the VM layer (Debian's 6.1 kernel under QEMU, scripts/vm-assets.sh); tcpdump: the
# encryption tests capture the underlay; nginx-light: the L7 benchmark's reference proxy;
# containerd, runc: the real nodes' runtime; buildah, debootstrap, libc6-dev and openssl: their
# images (scripts/image.sh) and certificates.
# shellcheck source=scripts/packages.sh
source scripts/packages.sh
install_packages prometheus iperf3 wrk qemu-system-x86 busybox-static kmod cpio tcpdump nginx-light \
  containerd runc buildah debootstrap libc6-dev openssl

step "VM kernel (Debian 6.1) and initramfs"
bash scripts/vm-assets.sh

step "test cluster binaries (helm, kube-proxy, kubelet, kube-scheduler, kube-controller-manager)"
bash scripts/cluster-bins.sh helm kube-proxy kubelet kube-scheduler kube-controller-manager >/dev/null

step "images of the real-node layer"
bash scripts/image.sh >/dev/null
