#!/usr/bin/env bash
# A kubelet node's first process, run by sandbox/kubelet/node.ts already inside the node's network
# namespace and cgroups, in new mount, UTS and cgroup namespaces: it gives the node the file
# system view a real host has (its own /sys, cgroup tree, bpffs, /run and kubelet and containerd
# state, shared mount propagation as under systemd), starts containerd, imports the images, starts
# kube-proxy, and becomes the kubelet. Environment: NODE_NAME, NODE_IP, NODE_DIR, CLUSTER_CIDR,
# KUBELET, KUBE_PROXY, IMAGES (archives, space-separated).
set -euo pipefail
: "${NODE_NAME:?}" "${NODE_IP:?}" "${NODE_DIR:?}" "${CLUSTER_CIDR:?}" "${KUBELET:?}" "${KUBE_PROXY:?}"
hostname "$NODE_NAME"

# /sys of this network namespace (its interfaces), then the cgroup hierarchies as this host has
# them, each rooted at the node's cgroup (the cgroup namespace), so the kubelet's and containerd's
# cgroups, and the agent's cgroup v2 root, are this node's alone.
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 cgroup-root /sys/fs/cgroup
while read -r type dir opts; do
  mkdir -p "/sys/fs/cgroup/$dir"
  if [ "$type" = cgroup2 ]; then mount -t cgroup2 cgroup2 "/sys/fs/cgroup/$dir"; else mount -t cgroup -o "$opts" cgroup "/sys/fs/cgroup/$dir"; fi
done < "$NODE_DIR/cgroup-mounts"
mount -t bpf bpf /sys/fs/bpf

# The node's own state where a host keeps it; /run is a fresh tmpfs, as after a boot.
for d in var/lib/kubelet var/lib/containerd etc/cni/net.d opt/cni/bin var/log/pods var/log/containers etc/kubernetes; do
  mkdir -p "$NODE_DIR/root/$d" "/$d"
  mount --bind "$NODE_DIR/root/$d" "/$d"
done
mount -t tmpfs -o mode=755 run /run
mkdir -p /run/netns /run/containerd /run/weir
touch /run/xtables.lock
# As on a systemd host: mounts propagate, so the agent's HostToContainer volumes (bpffs, netns) work.
mount --make-rshared /

sysctl -qw net.ipv4.ip_forward=1
containerd --config "$NODE_DIR/containerd.toml" >"$NODE_DIR/containerd.log" 2>&1 &
for _ in $(seq 300); do
  ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 && break
  sleep 0.1
done
for image in ${IMAGES:-}; do
  ctr --address /run/containerd/containerd.sock -n k8s.io images import "$image" >>"$NODE_DIR/containerd.log" 2>&1
done

"$KUBE_PROXY" --kubeconfig="$NODE_DIR/kube-proxy.kubeconfig" --hostname-override="$NODE_NAME" --cluster-cidr="$CLUSTER_CIDR" \
  --proxy-mode=iptables --conntrack-max-per-core=0 --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256 \
  >"$NODE_DIR/kube-proxy.log" 2>&1 &
exec "$KUBELET" --config="$NODE_DIR/kubelet.yaml" --kubeconfig="$NODE_DIR/kubelet.kubeconfig" --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" --v=1 >"$NODE_DIR/kubelet.log" 2>&1
