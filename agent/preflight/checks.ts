// Kernel and host prerequisites of the agent, each named so a failure says what is missing.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** What the agent does instead, for a feature this kernel lacks that has a fallback. */
  fallback?: string;
}

/** The oldest kernel the datapath is tested on (test/vm/: Debian 12's 6.1). */
export const MIN_KERNEL: [number, number] = [6, 1];

function mountedAs(path: string, fstype: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => {
      const [, where, type] = l.split(' ');
      return where === path && type === fstype;
    });
}

/** Kernel release as [major, minor]. */
export function kernelVersion(release = readFileSync('/proc/sys/kernel/osrelease', 'utf8')): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  if (!m) throw new Error(`unrecognised kernel release ${release.trim()}`);
  return [Number(m[1]), Number(m[2])];
}

export function runPreflight(opts: { cgroupRoot: string; bpffs?: string; release?: string }): CheckResult[] {
  const bpffs = opts.bpffs ?? '/sys/fs/bpf';
  const [major, minor] = kernelVersion(opts.release);
  const results: CheckResult[] = [
    {
      name: 'privileges',
      ok: process.getuid?.() === 0,
      detail: 'the agent needs root or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON to load and attach programs',
    },
    {
      name: 'kernel-version',
      ok: major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1]),
      detail: `kernel ${major}.${minor}: Weir needs Linux ${MIN_KERNEL.join('.')} or later`,
    },
    {
      name: 'tcx',
      ok: true,
      detail: `kernel ${major}.${minor}`,
      ...(major > 6 || (major === 6 && minor >= 6)
        ? {}
        : { fallback: 'no tcx before Linux 6.6: TC programs attach as cls_bpf filters on clsact, at the first priority, adopted in place after a restart' }),
    },
    {
      name: 'btf',
      ok: existsSync('/sys/kernel/btf/vmlinux'),
      detail: '/sys/kernel/btf/vmlinux is missing: the kernel was built without CONFIG_DEBUG_INFO_BTF',
    },
    {
      name: 'bpffs',
      ok: mountedAs(bpffs, 'bpf'),
      detail: `no bpf filesystem at ${bpffs}: mount -t bpf bpf ${bpffs}`,
    },
    {
      name: 'cgroup2',
      ok: mountedAs(opts.cgroupRoot, 'cgroup2'),
      detail: `no cgroup v2 at ${opts.cgroupRoot}: socket load balancing attaches there`,
    },
  ];
  // kernel.unprivileged_bpf_disabled exists exactly when the kernel has the bpf() syscall. (Not
  // net.core.bpf_jit_enable: that one is shown in the host's first network namespace only.)
  try {
    accessSync('/proc/sys/kernel/unprivileged_bpf_disabled', constants.R_OK);
  } catch {
    results.push({ name: 'bpf', ok: false, detail: '/proc/sys/kernel/unprivileged_bpf_disabled is missing: this kernel has no bpf() (CONFIG_BPF_SYSCALL)' });
  }
  return results.map((r) => (r.ok ? { ...r, detail: 'ok' } : r));
}
