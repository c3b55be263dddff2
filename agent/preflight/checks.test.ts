import { kernelVersion, runPreflight } from './checks.js';

describe('preflight', () => {
  it('parses kernel releases', () => {
    expect(kernelVersion('6.18.44-fc-v669\n')).toEqual([6, 18]);
    expect(kernelVersion('5.15.0-91-generic')).toEqual([5, 15]);
    expect(() => kernelVersion('weird')).toThrow(/unrecognised kernel release/);
  });

  it('names a kernel too old for tcx', () => {
    const r = runPreflight({ cgroupRoot: '/sys/fs/cgroup/unified', release: '6.1.0' }).find((c) => c.name === 'kernel-version');
    expect(r).toEqual({ name: 'kernel-version', ok: false, detail: 'kernel 6.1: Linux 6.6 or later is needed for tcx links' });
  });

  it('names a missing cgroup v2 mount', () => {
    const r = runPreflight({ cgroupRoot: '/nonexistent', release: '6.18.0' }).find((c) => c.name === 'cgroup2');
    expect(r?.ok).toBe(false);
    expect(r?.detail).toContain('/nonexistent');
  });
});
