#!/usr/bin/env bash
# Builds the test-infrastructure binaries (the control plane, kubelet, kube-proxy, etcd, helm) from the Go tools modules
# in test/tools/ into a cache, once per version, and prints NAME=PATH lines.
# KUBEBUILDER_ASSETS, when set and holding a binary, wins over building (envtest convention).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${WEIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/weir}/bin"
mkdir -p "$cache"

# tool name -> Go package to build
declare -A pkg=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [etcd]=go.etcd.io/etcd/server/v3
  [helm]=helm.sh/helm/v3/cmd/helm
)
# tool name -> module whose required version names the build
declare -A mod=(
  [kube-apiserver]=k8s.io/kubernetes
  [kube-proxy]=k8s.io/kubernetes
  [kube-controller-manager]=k8s.io/kubernetes
  [kube-scheduler]=k8s.io/kubernetes
  [kubelet]=k8s.io/kubernetes
  [etcd]=go.etcd.io/etcd/server/v3
  [helm]=helm.sh/helm/v3
)

# Link-time flags: kube-apiserver reports its real version (Helm's kubeVersion checks and
# `kubectl version` read it); without them it says v0.0.0-master. Part of the cache key.
ldflags_for() {
  case "$1" in
    kube-apiserver|kube-proxy|kube-controller-manager|kube-scheduler|kubelet)
      local v="$2" minor
      minor="$(echo "$v" | cut -d. -f2)"
      echo "-s -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
      ;;
    *) echo "-s" ;;
  esac
}
flavor_for() { case "$1" in kube-apiserver) echo "-r2" ;; *) echo "" ;; esac; }

tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(kube-apiserver etcd)

for t in "${tools[@]}"; do
  [ -n "${pkg[$t]:-}" ] || { echo "cluster-bins: unknown tool $t" >&2; exit 2; }
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$t" ]; then
    echo "$t=$KUBEBUILDER_ASSETS/$t"
    continue
  fi
  dir="$root/test/tools/$t"
  version="$(awk -v m="${mod[$t]}" '$1 == "require" && $2 == m { print $3 } $1 == m && !/=>/ { print $2 }' "$dir/go.mod" | head -1)"
  [ -n "$version" ] || { echo "cluster-bins: no version of ${mod[$t]} in $dir/go.mod" >&2; exit 1; }
  out="$cache/$t-$version$(flavor_for "$t")"
  if [ ! -x "$out" ]; then
    command -v go >/dev/null || { echo "cluster-bins: go is needed to build $t (or set KUBEBUILDER_ASSETS)" >&2; exit 1; }
    echo "cluster-bins: building $t $version (first run only; a few minutes)" >&2
    (cd "$dir" && go build -trimpath -ldflags="$(ldflags_for "$t" "$version")" -o "$out.tmp" "${pkg[$t]}")
    mv "$out.tmp" "$out"
  fi
  echo "$t=$out"
done
