// Gate for tests that need root: bpf(2), netlink, network namespaces, cgroups.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

export const isRoot = process.getuid?.() === 0;

/**
 * describe() for privileged tests (files named *.priv.test.ts). Off root they skip with the
 * reason in their name; in CI, which runs as root, a skip would hide a broken set-up, so it fails.
 */
export function describePrivileged(name: string, fn: () => void): void {
  if (isRoot) {
    describe(name, () => {
      beforeAll(ensureBpffs);
      fn();
    });
  } else if (process.env.CI) {
    describe(name, () => {
      it('runs as root in CI', () => {
        throw new Error('privileged tests need root (bpf(2), netlink, namespaces); CI runs as root');
      });
    });
  } else {
    describe.skip(`${name} [skipped: needs root for bpf(2), netlink and namespaces]`, fn);
  }
}

export const BPFFS = '/sys/fs/bpf';

/** Mounts bpffs at /sys/fs/bpf when it is not there yet (pins need it). */
export function ensureBpffs(): void {
  const mounted = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => {
      const [, where, type] = l.split(' ');
      return where === BPFFS && type === 'bpf';
    });
  if (mounted) return;
  mkdirSync(BPFFS, { recursive: true });
  execFileSync('mount', ['-t', 'bpf', 'bpf', BPFFS]);
}
