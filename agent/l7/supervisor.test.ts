import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownCgroupIn, proxyCgroupFor } from './supervisor.js';

describe("the proxy's cgroup", () => {
  const root = mkdtempSync(join(tmpdir(), 'weir-cgroup-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  // A cgroup v2 tree stand-in: every cgroup directory has cgroup.procs; the mount's parent has not.
  const cgroup = (dir: string) => (mkdirSync(dir, { recursive: true }), writeFileSync(join(dir, 'cgroup.procs'), ''), dir);

  it("sits beside a sandbox node's cgroup, outside the pods' programs", () => {
    const mount = cgroup(join(root, 'unified'));
    const node = cgroup(join(mount, 'wsb-wsb-n1'));
    expect(proxyCgroupFor(node)).toBe(join(mount, 'wsb-wsb-n1-weir-l7-proxy'));
  });

  it('sits under the cgroup root on a real node, which has no sibling', () => {
    const mount = cgroup(join(root, 'fs', 'cgroup'));
    expect(proxyCgroupFor(mount)).toBe(join(mount, 'weir-l7-proxy'));
  });
});

describe('an agent in a cgroup namespace of its own', () => {
  const root = mkdtempSync(join(tmpdir(), 'weir-cgroupns-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const cgroup = (dir: string, procs = '') => (mkdirSync(dir, { recursive: true }), writeFileSync(join(dir, 'cgroup.procs'), procs), dir);

  it("is found in the host's tree by its pid, and the proxy's cgroup goes under its own", () => {
    const mount = cgroup(join(root, 'cgroup'), '1\n');
    cgroup(join(mount, 'kubepods.slice', 'pod-a', 'cri-a.scope'), '7\n');
    const own = cgroup(join(mount, 'kubepods.slice', 'pod-b', 'cri-b.scope'), '7\n4242\n');
    expect(ownCgroupIn(mount, 4242, '0::/\n')).toBe(own);
    expect(proxyCgroupFor(mount, own)).toBe(join(own, 'weir-l7-proxy'));
  });

  it("is not looked for when the namespace is the host's: the path is named, or the root holds the agent", () => {
    const mount = cgroup(join(root, 'host'), '4242\n');
    expect(ownCgroupIn(mount, 4242, '0::/kubepods/pod-b/ctr\n')).toBeUndefined();
    expect(ownCgroupIn(mount, 4242, '0::/\n')).toBeUndefined();
  });
});
