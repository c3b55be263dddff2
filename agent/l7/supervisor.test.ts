import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyCgroupFor } from './supervisor.js';

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
