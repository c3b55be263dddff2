// The kernel backend's map sync against real maps: a map too small for its desired contents is
// reported by name while every other map is still synced, and what a map no longer wants leaves
// before what it now wants arrives, so a replacement fits in a full map.
import { mkdirSync, rmSync } from 'node:fs';
import { BpfMap } from 'libbpfjs';
import { join } from 'node:path';
import { describePrivileged } from '../../test/harness/privileged.js';
import { repoRoot } from '../../sandbox/paths.js';
import { SIZING_NAMES as MAP_NAMES } from '../../common/maps/catalogue.js';
import { KernelDatapath, type DesiredMaps } from './kernel.js';
import { policyEntries, PolicyDir } from '../../common/maps/policy.js';
import { cidrKey } from '../../common/maps/ipcache.js';
import { configMap, DEFAULT_CONFIG } from '../../common/maps/config.js';
import { MapType } from '../../common/maps/spec.js';

const POLICY_MAX = 16;

describePrivileged('kernel map sync with a full map', () => {
  const pinRoot = `/sys/fs/bpf/wkf-${process.pid}`;
  let k: KernelDatapath;

  beforeAll(async () => {
    k = new KernelDatapath({ pinRoot, objectDir: join(repoRoot, 'build', 'bpf'), netns: null });
    await k.ensureLoaded(new Map(MAP_NAMES.map((n) => [n, n === 'policy' ? POLICY_MAX : 1024])));
  });
  afterAll(() => {
    k?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  /** `n` allow entries for one subject, each to its own peer on port 80. */
  const policy = (n: number, firstPeer: number) => policyEntries(300, PolicyDir.Ingress, Array.from({ length: n }, (_, i) => ({ peer: firstPeer + i, port: 80, protocol: 6, verdict: 'allow' as const })));
  const desired = (policyCount: number, firstPeer = 1000): DesiredMaps => ({
    endpoints: [{ key: { addr: '10.0.0.5' }, value: { ifindex: 0, identity: 300, flags: 3, reserved: 0 } }],
    endpointIfs: [],
    ipcache: [],
    policy: policy(policyCount, firstPeer),
    prefilter: [{ key: cidrKey('192.0.2.0/24'), value: { flags: 0 } }],
    services: [],
    backends: [],
    revNat: [],
    sourceRanges: [],
  });

  it('names the map that could not take its entries and syncs every other one', async () => {
    const counts = await k.syncMaps(desired(POLICY_MAX + 8));
    const byMap = new Map(counts.map((c) => [c.map, c]));
    expect(byMap.get('weir_policy')?.error).toMatch(/ENOSPC|No space|space/i);
    expect(byMap.get('weir_prefilter')).toMatchObject({ added: 1 });
    expect(counts.filter((c) => c.error !== undefined).map((c) => c.map)).toEqual(['weir_policy']);
    expect(k.mapStatus().find((m) => m.name === 'weir_endpoints4')?.entries).toBe(1);
    expect(k.mapStatus().find((m) => m.name === 'weir_policy')?.entries).toBe(POLICY_MAX);
  });

  it('removes what is no longer wanted before adding, so a full map takes a new set of the same size', async () => {
    await k.syncMaps(desired(POLICY_MAX, 1000));
    // Every entry replaced: with adds first, the full trie would refuse the first new one.
    const counts = await k.syncMaps(desired(POLICY_MAX, 5000));
    const c = counts.find((x) => x.map === 'weir_policy');
    expect(c).toMatchObject({ added: POLICY_MAX, deleted: POLICY_MAX });
    expect(c?.error).toBeUndefined();
  });
});

describePrivileged('an upgrade that changed the config struct', () => {
  const pinRoot = `/sys/fs/bpf/wku-${process.pid}`;
  afterAll(() => rmSync(pinRoot, { recursive: true, force: true }));

  it('makes weir_config anew when the pinned one has another value size, and loads', async () => {
    mkdirSync(pinRoot, { recursive: true });
    // What an earlier agent pinned: struct datapath_config before tunnel_ifindex (40 bytes).
    const old = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 40, maxEntries: 1, name: 'weir_config' });
    old.pin(join(pinRoot, 'weir_config'));
    old.close();
    const k = new KernelDatapath({ pinRoot, objectDir: join(repoRoot, 'build', 'bpf'), netns: null });
    try {
      await k.ensureLoaded(new Map(MAP_NAMES.map((n) => [n, 1024])));
      const now = BpfMap.openPinned(join(pinRoot, 'weir_config'));
      expect(now.valueSize).toBe(configMap.value.size);
      now.close();
      k.writeConfig({ ...DEFAULT_CONFIG, tunnelIfindex: 7 });
      expect(k.readConfig()?.tunnelIfindex).toBe(7);
    } finally {
      k.close();
    }
  });
});
