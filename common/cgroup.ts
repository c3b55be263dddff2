// Where this host mounts cgroup v2: at /sys/fs/cgroup on a pure v2 host (current distributions),
// at /sys/fs/cgroup/unified on a hybrid one (systemd's v1 layout beside a v2 tree). Read from the
// mount table, so neither layout is assumed.
import { readFileSync } from 'node:fs';

const CANDIDATES = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];

/** The cgroup2 mount points in a /proc/mounts text. */
export function cgroup2Mounts(mounts: string): string[] {
  return mounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup2' && f[1])
    .map((f) => f[1]);
}

/** The cgroup v2 root: the first usual place mounted as cgroup2, else any cgroup2 mount, else the pure-v2 default. */
export function cgroup2Root(mounts = readMounts()): string {
  const found = cgroup2Mounts(mounts);
  return CANDIDATES.find((c) => found.includes(c)) ?? found[0] ?? CANDIDATES[0];
}

function readMounts(): string {
  try {
    return readFileSync('/proc/mounts', 'utf8');
  } catch {
    return '';
  }
}
