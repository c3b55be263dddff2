import { cgroup2Root } from './cgroup.js';

describe('cgroup2Root', () => {
  it('finds the v2 mount on a pure v2 host, on a hybrid host, and elsewhere', () => {
    expect(cgroup2Root('cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n')).toBe('/sys/fs/cgroup');
    expect(cgroup2Root('tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n')).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2Root('none /run/cg2 cgroup2 rw 0 0\n')).toBe('/run/cg2');
    expect(cgroup2Root('')).toBe('/sys/fs/cgroup');
  });
});
