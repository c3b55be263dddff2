import { kernelVersion, runPreflight } from './checks.js';

describe('preflight', () => {
  it('parses kernel releases', () => {
    expect(kernelVersion('6.18.44-fc-v669\n')).toEqual([6, 18]);
    expect(kernelVersion('5.15.0-91-generic')).toEqual([5, 15]);
    expect(() => kernelVersion('weird')).toThrow(/unrecognised kernel release/);
  });

  it('runs on 6.1 without tcx, saying what it does instead, and refuses an older kernel', () => {
    const on61 = runPreflight({ cgroupRoot: '/sys/fs/cgroup/unified', release: '6.1.0-57-amd64' });
    expect(on61.find((c) => c.name === 'kernel-version')?.ok).toBe(true);
    expect(on61.find((c) => c.name === 'tcx')).toMatchObject({ ok: true, fallback: expect.stringContaining('cls_bpf filters on clsact') });
    expect(runPreflight({ cgroupRoot: '/sys/fs/cgroup/unified', release: '6.18.0' }).find((c) => c.name === 'tcx')?.fallback).toBeUndefined();
    expect(runPreflight({ cgroupRoot: '/sys/fs/cgroup/unified', release: '5.15.0' }).find((c) => c.name === 'kernel-version')).toEqual({
      name: 'kernel-version',
      ok: false,
      detail: 'kernel 5.15: Weir needs Linux 6.1 or later',
    });
  });

  it('names a missing cgroup v2 mount', () => {
    const r = runPreflight({ cgroupRoot: '/nonexistent', release: '6.18.0' }).find((c) => c.name === 'cgroup2');
    expect(r?.ok).toBe(false);
    expect(r?.detail).toContain('/nonexistent');
  });
});
