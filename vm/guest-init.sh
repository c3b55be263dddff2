#!/bin/sh
# The test VM's init, run from the host's root (read-only 9p under a tmpfs overlay) after the
# initramfs: the 6.1 kernel's modules where modprobe looks, bpffs and cgroup v2 where the agent
# expects them, then the jobs the host writes to the shared job directory, one at a time, until
# it writes `stop` (test/harness/vm.ts).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 WEIR_VM_GUEST=1
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
# /tmp stays the overlay's (the host's jest cache is read through it); /run is the guest's own.
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /mnt/job
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job /mnt/job
# Kernel modules load on demand (esp4, wireguard, veth, sch_ingress, cls_bpf, ...).
rm -rf /usr/lib/modules && ln -s "$(arg weir.modules)" /usr/lib/modules
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs cgroup /sys/fs/cgroup && mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified
mount -t debugfs none /sys/kernel/debug 2>/dev/null
ip link set lo up
hostname weir-vm
echo "$(uname -r)" > /mnt/job/ready
n=0
while [ ! -e /mnt/job/stop ]; do
  if [ -e "/mnt/job/cmd-$n.sh" ]; then
    (cd "$(arg weir.cwd)" && sh "/mnt/job/cmd-$n.sh") > "/mnt/job/out-$n.log" 2>&1
    echo $? > "/mnt/job/rc-$n.tmp" && mv "/mnt/job/rc-$n.tmp" "/mnt/job/rc-$n"
    n=$((n + 1))
  else
    sleep 0.2
  fi
done
sync
echo o > /proc/sysrq-trigger
# Power-off is asynchronous: PID 1 must not exit before it happens.
while :; do sleep 1; done
