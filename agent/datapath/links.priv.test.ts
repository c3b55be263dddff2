// TC attachments both ways: tcx links (6.6+) and, where a kernel has no tcx, cls_bpf filters on
// clsact at Weir's handle and first priority. Forced here to `legacy` on a kernel that has tcx,
// as it is automatic on 6.1 (test/vm/ runs the same on Debian's 6.1). Setup: a veth in a fresh
// namespace holding a filter of someone else's; check: ours runs first, a restart adopts it by
// swapping the program in place, removal leaves the other filter alone.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { attachTc, ifindex, tcQuery, tcxSupported, withNetns } from 'libbpfjs';
import { uniformSizes } from '../../common/maps/catalogue.js';
import { describePrivileged } from '../../test/harness/privileged.js';
import { repoRoot } from '../../test/harness/paths.js';
import { Lab } from '../../sandbox/netns.js';
import { kernelVersion } from '../preflight/checks.js';
import { KernelDatapath } from './kernel.js';
import { TC_HANDLE, TC_PRIORITY, type WantedLink } from './links.js';

describePrivileged('TC attachments without tcx (cls_bpf on clsact)', () => {
  let lab: Lab;
  const pinRoot = `/sys/fs/bpf/wtl-${process.pid}`;
  const objectDir = join(repoRoot, 'build', 'bpf');
  let netns: string;
  let eth0: number;

  beforeEach(() => {
    lab = new Lab('wtl');
    const node = lab.addNamespace('node');
    const peer = lab.addNamespace('peer');
    lab.addVeth({ ns: node, name: 'eth0' }, { ns: peer, name: 'eth0' });
    netns = lab.netnsPath('wtl-node');
    eth0 = withNetns(netns, () => ifindex('eth0'));
  });
  afterEach(() => {
    lab.cleanup();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  const wanted = (): WantedLink[] => [
    { name: `nic-${eth0}-ingress`, program: 'tc_from_netdev', kind: 'tcx-ingress', ifindex: eth0, describe: 'ingress eth0' },
    { name: `nic-${eth0}-egress`, program: 'tc_to_netdev', kind: 'tcx-egress', ifindex: eth0, describe: 'egress eth0' },
  ];
  const agent = async (): Promise<KernelDatapath> => {
    const k = new KernelDatapath({ pinRoot, objectDir, netns, tcAttach: 'legacy' });
    await k.ensureLoaded(uniformSizes(1024));
    return k;
  };
  const filters = (dir: 'ingress' | 'egress'): string => execFileSync('tc', ['-n', 'wtl-node', 'filter', 'show', 'dev', 'eth0', dir], { encoding: 'utf8' });

  it('attaches first on the hook, is adopted by a restarted agent in place, and leaves other filters alone', async () => {
    // Someone else's filter at the default priority, from the same kind of object.
    const other = await agent();
    withNetns(netns, () => attachTc(other.loaded!.program('tc_to_netdev'), eth0, 'ingress', { handle: 7, priority: 49152 }));
    other.uninstall();
    other.close();

    const first = await agent();
    expect(first.links.tcx).toBe(false);
    expect(first.reconcileLinks(wanted())).toMatchObject({ created: wanted().map((w) => w.name), failed: [] });
    const before = withNetns(netns, () => tcQuery(eth0, 'ingress', TC_HANDLE, TC_PRIORITY));
    expect(before).toBe(first.programId('tc_from_netdev'));
    // Ours at priority 1, listed (and run) before the other at 49152.
    expect(filters('ingress').indexOf('pref 1 ')).toBeLessThan(filters('ingress').indexOf('pref 49152 '));
    first.close();

    // A restart: the filter stays through it, and the new agent swaps its program in.
    const second = await agent();
    const adopted = second.reconcileLinks(wanted());
    expect({ ...adopted, adopted: adopted.adopted.sort() }).toMatchObject({ created: [], adopted: wanted().map((w) => w.name).sort(), failed: [] });
    const after = withNetns(netns, () => tcQuery(eth0, 'ingress', TC_HANDLE, TC_PRIORITY));
    expect(after).toBe(second.programId('tc_from_netdev'));
    expect(after).not.toBe(before);
    // Nothing to do when it already runs the program.
    expect(second.reconcileLinks(wanted())).toMatchObject({ created: [], adopted: [], removed: [], failed: [] });
    // A resize's switch: every filter of ours moves to the new set's program of the same name.
    const third = await agent();
    expect(second.links.switchPrograms(second.loaded!, third.loaded!).sort()).toEqual(wanted().map((w) => `${w.name}-cls`).sort());
    expect(withNetns(netns, () => tcQuery(eth0, 'egress', TC_HANDLE, TC_PRIORITY))).toBe(third.programId('tc_to_netdev'));
    third.close();

    // Removal: ours go, the other filter stays.
    expect(second.reconcileLinks([]).removed.sort()).toEqual(wanted().map((w) => w.name).sort());
    expect(withNetns(netns, () => tcQuery(eth0, 'ingress', TC_HANDLE, TC_PRIORITY))).toBeNull();
    expect(withNetns(netns, () => tcQuery(eth0, 'ingress', 7, 49152))).not.toBeNull();
    second.close();
  });

  it('knows whether this kernel has tcx (6.6+)', () => {
    // The host's 6.18 has it; Debian's 6.1 does not (test/vm/ runs this file there too).
    const [major, minor] = kernelVersion();
    expect(tcxSupported()).toBe(major > 6 || (major === 6 && minor >= 6));
  });
});
