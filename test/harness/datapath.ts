// Setup shared by the kernel scenario tests: the whole datapath loaded from build/bpf with small
// maps pinned in a fresh bpffs directory, and typed access to every map.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LoadedDatapath, type DatapathObject } from '../../agent/datapath/objects.js';
import { configMap, DEFAULT_CONFIG, type NodeSettings } from '../../common/maps/config.js';
import { ct4AnyMap, ct4TcpMap } from '../../common/maps/conntrack.js';
import { endpointIfsMap, endpointsMap, EndpointFlags } from '../../common/maps/endpoints.js';
import { cidrKey, ipcacheMap } from '../../common/maps/ipcache.js';
import { parseIp4 } from '../../common/maps/layout.js';
import { lb4BackendsMap, lb4ReverseNatMap, lb4ServicesMap } from '../../common/maps/lb.js';
import { metricsMap, type Direction } from '../../common/maps/metrics.js';
import { readCounter } from '../../agent/maps/counters.js';
import { policyEntries, policyMap, type PolicyDir } from '../../common/maps/policy.js';
import { prefilterMap } from '../../common/maps/prefilter.js';
import type { PolicyEntry } from '../../api/v1alpha1/index.js';
import { repoRoot } from './paths.js';
import { uniformSizes } from '../../common/maps/catalogue.js';

export const SMALL_SIZES = uniformSizes(1024, { ct_tcp: 4096, ct_any: 4096, nat: 4096, policy: 4096, ipcache: 4096 });

export class TestDatapath {
  private constructor(
    readonly dp: LoadedDatapath,
    readonly pinRoot: string,
  ) {}

  static async load(objects?: readonly DatapathObject[], prefix = 'wkt-'): Promise<TestDatapath> {
    const pinRoot = mkdtempSync(join('/sys/fs/bpf', prefix));
    try {
      const dp = await LoadedDatapath.load({ objectDir: join(repoRoot, 'build', 'bpf'), pinRoot, sizes: SMALL_SIZES, objects });
      return new TestDatapath(dp, pinRoot);
    } catch (err) {
      rmSync(pinRoot, { recursive: true, force: true });
      throw err;
    }
  }

  get ctTcp() {
    return this.dp.map(ct4TcpMap);
  }
  get ctAny() {
    return this.dp.map(ct4AnyMap);
  }
  get services() {
    return this.dp.map(lb4ServicesMap);
  }

  config(c: Partial<NodeSettings>): void {
    this.dp.map(configMap).set({ index: 0 }, { ...DEFAULT_CONFIG, ...c });
  }

  endpoint(addr: string, identity: number, opts: { enforce?: boolean; host?: boolean; ifindex?: number } = {}): void {
    const flags = (opts.enforce ? EndpointFlags.EnforceIngress | EndpointFlags.EnforceEgress : 0) | (opts.host ? EndpointFlags.Host : 0);
    this.dp.map(endpointsMap).set({ addr }, { ifindex: opts.ifindex ?? 0, identity, flags, reserved: 0 });
    // As the agent writes it: an endpoint whose interface is known is found by it too.
    if (opts.ifindex) this.dp.map(endpointIfsMap).set({ ifindex: opts.ifindex }, { addr, identity, flags, reserved: 0 });
    this.ipcache(`${addr}/32`, identity);
  }

  /** `tunnel`: the node hosting the address (a remote pod's), as the agent writes it. */
  ipcache(cidr: string, identity: number, opts: { tunnel?: string; flags?: number } = {}): void {
    this.dp.map(ipcacheMap).set(cidrKey(cidr), { identity, tunnelIp4: opts.tunnel ? parseIp4(opts.tunnel) : 0, flags: opts.flags ?? 0 });
  }

  prefilterDeny(cidr: string): void {
    this.dp.map(prefilterMap).set(cidrKey(cidr), { flags: 0 });
  }

  policy(subject: number, dir: PolicyDir, entries: PolicyEntry[]): void {
    const m = this.dp.map(policyMap);
    for (const { key } of [...m.entries()].filter((e) => e.key.subject === subject && e.key.dir === dir)) m.delete(key);
    for (const e of policyEntries(subject, dir, entries)) m.set(e.key, e.value);
  }

  /** A service frontend with its backends, in the layout the agent writes. */
  service(s: {
    vip: string;
    port: number;
    proto: number;
    flags: number;
    revNat: number;
    backends: Array<{ id: number; addr: string; port: number }>;
    affinityTimeoutS?: number;
  }): void {
    const services = this.services;
    const backends = this.dp.map(lb4BackendsMap);
    const base = { address: s.vip, dport: s.port, proto: s.proto, scope: 0, pad: 0 };
    s.backends.forEach((b, i) => {
      backends.set({ id: b.id }, { address: b.addr, port: b.port, proto: s.proto, flags: 0 });
      services.set({ ...base, backendSlot: i + 1 }, { backendId: b.id, count: 0, revNat: 0, affinityTimeoutS: 0, flags: 0 });
    });
    services.set({ ...base, backendSlot: 0 }, { backendId: 0, count: s.backends.length, revNat: s.revNat, affinityTimeoutS: s.affinityTimeoutS ?? 0, flags: s.flags });
    this.dp.map(lb4ReverseNatMap).set({ index: s.revNat }, { address: s.vip, port: s.port, pad: 0 });
  }

  counter(reason: number, dir: Direction): bigint {
    return readCounter(this.dp.rawMap(metricsMap.name), reason, dir).packets;
  }

  close(): void {
    this.dp.close();
    rmSync(this.pinRoot, { recursive: true, force: true });
  }
}
