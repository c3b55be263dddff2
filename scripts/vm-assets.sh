#!/usr/bin/env bash
# The VM test layer's assets (test/vm/, docs/vm.md), built once and cached in ~/.cache/weir/vm:
# Debian's 6.1 kernel from the linux-image-amd64 package, extracted (never installed on the host),
# and an initramfs (busybox and the kernel modules that reach the host's root over 9p) whose init
# hands over to vm/guest-init.sh on the host's root, mounted read-only. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${WEIR_CACHE_DIR:-$HOME/.cache/weir}/vm"
mkdir -p "$cache"

# The kernel package linux-image-amd64 points at today (6.1.x on Debian 12).
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')"
[ -n "$pkg" ] || { echo "vm-assets: apt knows no linux-image-amd64" >&2; exit 1; }
kdir="$cache/$pkg"
if [ ! -f "$kdir/.extracted" ]; then
  rm -rf "$kdir" && mkdir -p "$kdir"
  (cd "$cache" && apt-get download -qq "$pkg" 2>/dev/null)
  dpkg-deb -x "$cache/${pkg}_"*.deb "$kdir"
  rm -f "$cache/${pkg}_"*.deb
  # The package leaves modules.dep to its postinst: make it here, for modprobe in the guest.
  depmod -b "$kdir" "$(ls "$kdir/lib/modules")"
  touch "$kdir/.extracted"
fi
release="$(ls "$kdir/lib/modules")"
ln -sfn "$kdir" "$cache/kernel"

# The initramfs: rebuilt when its inputs change.
initrd="$cache/initrd-$release.cpio.gz"
stamp="$(cat "$root/vm/initramfs-init" "$root/scripts/vm-assets.sh" | sha256sum | cut -c1-16)"
if [ ! -f "$initrd" ] || [ "$(cat "$initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/{bin,dev,proc,sys,host,modules}
  cp /bin/busybox "$work/bin/busybox"
  for tool in sh mount mkdir insmod switch_root cat echo poweroff; do ln -s busybox "$work/bin/$tool"; done
  cp "$root/vm/initramfs-init" "$work/init"
  chmod 755 "$work/init"
  # The 9p and virtio modules with everything they depend on, dependencies first.
  mods="$kdir/lib/modules/$release"
  declare -A seen=()
  order=()
  add() {
    local m="$1" dep
    [ -n "${seen[$m]:-}" ] && return
    seen[$m]=1
    for dep in $(awk -v m="$m" -F': *' '$1 == m { print $2 }' "$mods/modules.dep"); do add "$dep"; done
    order+=("$m")
  }
  for want in virtio_pci 9pnet_virtio 9p overlay; do
    path="$(awk -F: -v w="/$want.ko" 'index($1, w) && substr($1, length($1) - length(w) + 1) == w { print $1; exit }' "$mods/modules.dep")"
    [ -n "$path" ] || { echo "vm-assets: no module $want in $release" >&2; exit 1; }
    add "$path"
  done
  for m in "${order[@]}"; do cp "$mods/$m" "$work/modules/"; basename "$m" >> "$work/modules/order"; done
  (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  echo "$stamp" > "$initrd.stamp"
fi
ln -sfn "$initrd" "$cache/initrd.cpio.gz"
