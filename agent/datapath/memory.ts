// An in-memory datapath backend: maps are JavaScript maps of encoded entries, links a set of
// names. It runs the agent's real control loop (desired state, encoding, diffing, status) with
// no kernel, for hollow nodes in the control-plane benchmark. Not for production use.
import type { Logger } from '../../common/log.js';
import type { GcResult } from '../conntrack/gc.js';
import { configMap, datapathConfig, type NodeSettings } from '../../common/maps/config.js';
import { endpointIfsMap, endpointsMap } from '../../common/maps/endpoints.js';
import { ALL_MAPS } from '../../common/maps/index.js';
import { ipcacheMap } from '../../common/maps/ipcache.js';
import { lb4BackendsMap, lb4ReverseNatMap, lb4ServicesMap, lb4SourceRangesMap } from '../../common/maps/lb.js';
import type { MetricsKey, MetricsValue } from '../../common/maps/metrics.js';
import { policyMap } from '../../common/maps/policy.js';
import { prefilterMap } from '../../common/maps/prefilter.js';
import type { NodeRulesOutcome, NodeRulesWant } from '../network/noderules.js';
import type { Frontend } from '../desired/services.js';
import type { OverlayOutcome, OverlayWant } from '../network/overlay.js';
import { maxEntriesFor } from '../../common/maps/catalogue.js';
import { isSized, type MapSpec } from '../../common/maps/spec.js';
import type { DatapathBackend, NodeNetwork } from './backend.js';
import type { PodInterface } from './interfaces.js';
import type { DesiredMaps, MapStatus, MapSyncCount } from './kernel.js';
import type { LinkReport, WantedLink } from './links.js';
import type { ResizeReport } from './resize.js';
import { diffContents, encodeEntries } from './sync.js';

export class MemoryDatapath implements DatapathBackend {
  private readonly maps = new Map<string, { max: number; entries: Map<string, Buffer> }>();
  private readonly links = new Set<string>();
  private loaded = false;
  resizePending: Array<{ map: string; pinned: number; wanted: number }> = [];
  readonly recovered = undefined;

  get isLoaded(): boolean {
    return this.loaded;
  }

  async ensureLoaded(sizes: ReadonlyMap<string, number>): Promise<void> {
    if (this.loaded) return;
    for (const spec of ALL_MAPS) this.maps.set(spec.name, { max: maxEntriesFor(spec, sizes), entries: new Map() });
    this.loaded = true;
  }

  refreshPending(sizes: ReadonlyMap<string, number>): void {
    this.resizePending = ALL_MAPS.filter(isSized)
      .map((s) => ({ map: s.name, pinned: this.maps.get(s.name)?.max ?? 0, wanted: maxEntriesFor(s, sizes) }))
      .filter((p) => p.pinned !== p.wanted);
  }

  async resize(_sizes: ReadonlyMap<string, number>, _drainTimeoutMs: number, _log: Logger): Promise<ResizeReport> {
    const changes = this.resizePending.map((p) => ({ map: p.map, from: p.pinned, to: p.wanted }));
    for (const c of changes) {
      const m = this.maps.get(c.map);
      if (m) m.max = c.to;
    }
    this.resizePending = [];
    return { changes, copied: {}, fastPathRetired: 0, copyMs: 0, drainMs: 0, totalMs: 0 };
  }

  private sync<K, V>(spec: MapSpec<K, V>, desired: ReadonlyArray<{ key: K; value: V }>): MapSyncCount {
    const m = this.maps.get(spec.name);
    if (!m) throw new Error(`no map ${spec.name}`);
    const d = diffContents(m.entries, encodeEntries(spec, desired));
    // As the kernel: what is no longer wanted goes first, and a full map refuses new keys.
    for (const k of d.deletes) m.entries.delete(k.toString('hex'));
    for (const e of d.upserts) {
      const key = e.key.toString('hex');
      if (!m.entries.has(key) && m.entries.size >= m.max)
        return { map: spec.name, added: d.added, changed: d.changed, deleted: d.deletes.length, error: `map ${spec.name} is full (${m.max} entries): No space left on device (ENOSPC)` };
      m.entries.set(key, e.value);
    }
    return { map: spec.name, added: d.added, changed: d.changed, deleted: d.deletes.length };
  }

  async syncMaps(m: DesiredMaps): Promise<MapSyncCount[]> {
    return [
      this.sync(ipcacheMap, m.ipcache),
      this.sync(endpointsMap, m.endpoints),
      this.sync(endpointIfsMap, m.endpointIfs),
      this.sync(policyMap, m.policy),
      this.sync(prefilterMap, m.prefilter),
      this.sync(lb4SourceRangesMap, m.sourceRanges),
      this.sync(lb4BackendsMap, m.backends),
      this.sync(lb4ReverseNatMap, m.revNat),
      this.sync(lb4ServicesMap, m.services),
    ];
  }

  readConfig(): NodeSettings | undefined {
    const v = this.maps.get(configMap.name)?.entries.get('00000000');
    return v ? datapathConfig.decode(v) : undefined;
  }

  writeConfig(c: NodeSettings): void {
    this.maps.get(configMap.name)?.entries.set('00000000', datapathConfig.encode(c));
  }

  reconcileLinks(wanted: readonly WantedLink[]): LinkReport {
    const report: LinkReport = { created: [], adopted: [], removed: [], failed: [] };
    const want = new Set(wanted.map((w) => w.name));
    for (const name of [...this.links])
      if (!want.has(name)) {
        this.links.delete(name);
        report.removed.push(name);
      }
    for (const name of want)
      if (!this.links.has(name)) {
        this.links.add(name);
        report.created.push(name);
      }
    return report;
  }

  attachSockmap(): void {}

  programId(name: string): number {
    let h = 0;
    for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return h % 100_000;
  }

  mapStatus(): MapStatus[] {
    return ALL_MAPS.filter(isSized).map((s) => {
      const m = this.maps.get(s.name);
      const entries = m?.entries.size ?? 0;
      const max = m?.max ?? 0;
      return { name: s.name, maxEntries: max, entries, pressure: max ? entries / max : 0 };
    });
  }

  lbNumbering(): ReturnType<DatapathBackend['lbNumbering']> {
    return { backends: [], revNat: [] };
  }

  counters(): Array<MetricsKey & MetricsValue> {
    return [];
  }

  async collectConntrack(): Promise<Array<{ map: string } & GcResult>> {
    return [];
  }

  close(): void {
    this.maps.clear();
    this.links.clear();
    this.loaded = false;
  }

  /** For the benchmark: a map's encoded entries. */
  contents(map: string): ReadonlyMap<string, Buffer> {
    return this.maps.get(map)?.entries ?? new Map();
  }
}

/** A hollow node's network: one veth per pod address given, as CNI would have made, and one NIC. */
export class MemoryNetwork implements NodeNetwork {
  /** What the agent last asked of the overlay. */
  overlay?: OverlayWant;
  /** What the agent last asked of Weir's netfilter rules. */
  nodeRules?: NodeRulesWant;
  /** What the agent last asked of the nftables service fallback (null: not needed). */
  serviceTable?: readonly Frontend[] | null;

  constructor(private readonly podIps: readonly string[]) {}

  async syncOverlay(want: OverlayWant): Promise<OverlayOutcome> {
    this.overlay = want;
    const receiving = want.receive || want.mode === 'vxlan';
    return { ...(receiving ? { ifindex: 99 } : {}), mode: want.mode, receiving, podMtu: want.mode === 'vxlan' ? 1450 : 1500, routes: want.peers.reduce((n, p) => n + p.podCidrs.length, 0), problems: [] };
  }

  async syncNodeRules(want: NodeRulesWant): Promise<NodeRulesOutcome> {
    this.nodeRules = want;
    return { masquerade: want.masquerade, forwardAccept: false, problems: [] };
  }

  async kubeProxyRules(): Promise<string[]> {
    return [];
  }

  async syncServiceTable(frontends: readonly Frontend[] | null): Promise<void> {
    this.serviceTable = frontends;
  }

  async podInterfaces(): Promise<Map<string, PodInterface>> {
    return new Map(this.podIps.map((ip, i) => [ip, { ifname: `lxc${i}`, ifindex: 10 + i }]));
  }

  async nics(): Promise<Array<{ ifname: string; ifindex: number }>> {
    return [{ ifname: 'eth0', ifindex: 2 }];
  }

  async hostAddresses(): Promise<string[]> {
    return [];
  }
}
