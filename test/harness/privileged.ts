// Gate for tests that need root: bpf(2), netlink, network namespaces, cgroups.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

export const isRoot = process.getuid?.() === 0;

/**
 * describe() for tests that need what this host may not have: run when `why` is null; else skip
 * with the reason in their name, except in CI, which runs as root after set-up: there a skip would
 * hide a broken set-up, so it fails.
 */
export function describeGated(name: string, why: string | null, fn: () => void): void {
  if (why === null) describe(name, fn);
  else if (process.env.CI)
    describe(name, () => {
      it('runs in CI', () => {
        throw new Error(`${name} cannot run: ${why}; CI runs as root after set-up`);
      });
    });
  else describe.skip(`${name} [skipped: ${why}]`, fn);
}

/**
 * describe() for a case that exists only on some kernels (one that lacks ESP, say): skipped where
 * `inapplicable` says the running kernel is not such a kernel, in CI too, since that is no broken
 * set-up but a kernel the case does not describe; another suite covers that kernel.
 */
export function describeOnKernel(name: string, inapplicable: string | null, fn: () => void): void {
  if (inapplicable === null) describe(name, fn);
  else describe.skip(`${name} [not this kernel: ${inapplicable}]`, fn);
}

/** describe() for privileged tests (files named *.priv.test.ts): root, with bpffs mounted. */
export function describePrivileged(name: string, fn: () => void): void {
  describeGated(name, isRoot ? null : 'needs root for bpf(2), netlink and namespaces', () => {
    beforeAll(ensureBpffs);
    fn();
  });
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
