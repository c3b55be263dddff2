// The node's datapath in the kernel: objects loaded against maps pinned under the node's pin
// root, map contents synced by difference, and pinned links. Restart-safe: every piece lives in
// bpffs, so a new agent process adopts what the previous one left.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from 'libbpfjs';
import { configMap, type NodeSettings } from '../../common/maps/config.js';
import { endpointIfsMap, endpointsMap } from '../../common/maps/endpoints.js';
import { ALL_MAPS } from '../../common/maps/index.js';
import { ipcacheMap } from '../../common/maps/ipcache.js';
import { lb4BackendsMap, lb4ReverseNatMap, lb4ServicesMap, lb4SourceRangesMap } from '../../common/maps/lb.js';
import { policyMap } from '../../common/maps/policy.js';
import { prefilterMap } from '../../common/maps/prefilter.js';
import { maxEntriesFor } from '../../common/maps/catalogue.js';
import { isLpm, isSized, type MapSpec } from '../../common/maps/spec.js';
import { collectConntrack, type GcResult } from '../conntrack/gc.js';
import { ct4AnyMap, ct4TcpMap } from '../../common/maps/conntrack.js';
import { metricsMap, type MetricsKey, type MetricsValue } from '../../common/maps/metrics.js';
import { readMetrics } from '../maps/counters.js';
import { attachSockmap } from './attach.js';
import type { DatapathBackend } from './backend.js';
import { LinkSet, type LinkReport, type WantedLink } from './links.js';
import { LoadedDatapath } from './objects.js';
import { recoverResize, resizeMaps, type ResizeReport } from './resize.js';
import { applyDeletes, applyUpserts, diffContents, encodeEntries, readContents } from './sync.js';
import type { Logger } from '../../common/log.js';

type Entries<K, V> = ReadonlyArray<{ key: K; value: V }>;
type EntriesOf<S> = S extends MapSpec<infer K, infer V> ? Entries<K, V> : never;

export interface DesiredMaps {
  endpoints: EntriesOf<typeof endpointsMap>;
  endpointIfs: EntriesOf<typeof endpointIfsMap>;
  ipcache: EntriesOf<typeof ipcacheMap>;
  policy: EntriesOf<typeof policyMap>;
  prefilter: EntriesOf<typeof prefilterMap>;
  services: EntriesOf<typeof lb4ServicesMap>;
  backends: EntriesOf<typeof lb4BackendsMap>;
  revNat: EntriesOf<typeof lb4ReverseNatMap>;
  sourceRanges: EntriesOf<typeof lb4SourceRangesMap>;
}

export interface MapSyncCount {
  map: string;
  added: number;
  changed: number;
  deleted: number;
  /** Why the map could not take every entry it should hold (a full map: ENOSPC); the others were still synced. */
  error?: string;
}

export interface MapStatus {
  name: string;
  maxEntries: number;
  entries: number;
  pressure: number;
}

export interface KernelOptions {
  pinRoot: string;
  objectDir: string;
  /** Node network namespace (sandbox); null: the agent's own. */
  netns: string | null;
  /** TC attach kind (default auto: tcx where the kernel has it). */
  tcAttach?: 'auto' | 'tcx' | 'legacy';
}

export class KernelDatapath implements DatapathBackend {
  private dp: LoadedDatapath | undefined;
  readonly links: LinkSet;
  /** Maps whose pinned size differs from NodeDatapath's: they keep their size until a resize. */
  resizePending: Array<{ map: string; pinned: number; wanted: number }> = [];
  /** What start-up did with a resize a crashed agent left, if anything. */
  recovered: 'rolled-back' | 'rolled-forward' | undefined;

  /**
   * Applies the pending size changes (see resize.ts): the running programs are swapped to a new
   * set bound to the new maps. Throws ResizeRefused for a shrink below the live entries.
   */
  async resize(sizes: ReadonlyMap<string, number>, drainTimeoutMs: number, log: Logger): Promise<ResizeReport> {
    const dp = this.need();
    const changes = this.resizePending.map((p) => ({ map: p.map, from: p.pinned, to: p.wanted }));
    const { dp: next, report } = await resizeMaps(dp, changes, { pinRoot: this.opts.pinRoot, objectDir: this.opts.objectDir, sizes, links: this.links, drainTimeoutMs, log });
    dp.close();
    this.dp = next;
    this.resizePending = [];
    return report;
  }

  constructor(private readonly opts: KernelOptions) {
    this.links = new LinkSet(opts.pinRoot, opts.netns, opts.tcAttach === 'tcx' ? true : opts.tcAttach === 'legacy' ? false : undefined);
  }

  get loaded(): LoadedDatapath | undefined {
    return this.dp;
  }

  get isLoaded(): boolean {
    return this.dp !== undefined;
  }

  lbNumbering(): ReturnType<DatapathBackend['lbNumbering']> {
    const dp = this.need();
    return {
      backends: [...dp.map(lb4BackendsMap).entries()].map(({ key, value }) => ({ id: key.id, address: value.address, port: value.port, proto: value.proto })),
      revNat: [...dp.map(lb4ReverseNatMap).entries()].map(({ key, value }) => ({ index: key.index, address: value.address, port: value.port })),
    };
  }

  counters(): Array<MetricsKey & MetricsValue> {
    return this.dp ? readMetrics(this.dp.rawMap(metricsMap.name)) : [];
  }

  async collectConntrack(): Promise<Array<{ map: string } & GcResult>> {
    const dp = this.need();
    const out: Array<{ map: string } & GcResult> = [];
    for (const spec of [ct4TcpMap, ct4AnyMap]) out.push({ map: spec.name, ...(await collectConntrack(dp.map(spec))) });
    return out;
  }

  attachSockmap(): void {
    attachSockmap(this.need());
  }

  programId(name: string): number {
    return this.need().program(name).info().id;
  }

  /**
   * Loads the objects once per process. Maps already pinned are reused as they are (libbpf
   * refuses a pinned map of another size), so live entries survive an agent restart; a size
   * change waits for the resize rollout.
   */
  async ensureLoaded(sizes: ReadonlyMap<string, number>, log?: Logger): Promise<LoadedDatapath> {
    if (this.dp) return this.dp;
    // libbpf pins into the directory but does not create it.
    mkdirSync(this.opts.pinRoot, { recursive: true });
    if (log) {
      const recovered = await recoverResize({ pinRoot: this.opts.pinRoot, objectDir: this.opts.objectDir, sizes, links: this.links, log });
      if (recovered) this.recovered = recovered;
    }
    this.dropReshapedConfig(log);
    const pending = this.pendingChanges(sizes);
    this.dp = await LoadedDatapath.load({ objectDir: this.opts.objectDir, pinRoot: this.opts.pinRoot, sizes, pinnedSizes: new Map(pending.map((p) => [p.map, p.pinned])) });
    this.resizePending = pending;
    return this.dp;
  }

  /**
   * weir_config pinned by an agent whose struct datapath_config was another size (an upgrade that
   * added a field): libbpf would refuse to reuse it and nothing would load. It holds nothing the
   * agent does not write whole on every pass, so it is unpinned and made anew; the programs still
   * attached keep reading the old one until the new ones replace them.
   */
  private dropReshapedConfig(log?: Logger): void {
    const path = join(this.opts.pinRoot, configMap.name);
    if (!existsSync(path)) return;
    const pinned = BpfMap.openPinned(path);
    const size = pinned.valueSize;
    pinned.close();
    if (size === configMap.value.size) return;
    log?.warn({ map: configMap.name, pinnedValueSize: size, valueSize: configMap.value.size }, 'pinned config map has another layout (an upgrade): made anew');
    rmSync(path);
  }

  /** Pinned maps whose size differs from what `sizes` asks: they wait for the resize gate. */
  pendingChanges(sizes: ReadonlyMap<string, number>): KernelDatapath['resizePending'] {
    const pending: KernelDatapath['resizePending'] = [];
    for (const spec of ALL_MAPS) {
      if (!isSized(spec)) continue;
      const path = join(this.opts.pinRoot, spec.name);
      if (!existsSync(path)) continue;
      const pinned = BpfMap.openPinned(path);
      const have = pinned.maxEntries;
      pinned.close();
      const wanted = maxEntriesFor(spec, sizes);
      if (have !== wanted) pending.push({ map: spec.name, pinned: have, wanted });
    }
    return pending;
  }

  refreshPending(sizes: ReadonlyMap<string, number>): void {
    if (this.dp) this.resizePending = this.pendingChanges(sizes);
  }

  private need(): LoadedDatapath {
    if (!this.dp) throw new Error('datapath not loaded');
    return this.dp;
  }

  async syncMap<K, V>(spec: MapSpec<K, V>, desired: Entries<K, V>, order?: { upserts?: (k: Buffer) => number; deletes?: (k: Buffer) => number }): Promise<MapSyncCount> {
    const map = this.need().rawMap(spec.name);
    const d = diffContents(await readContents(map, isLpm(spec)), encodeEntries(spec, desired));
    if (order?.upserts) {
      const rank = order.upserts;
      d.upserts.sort((a, b) => rank(a.key) - rank(b.key));
    }
    if (order?.deletes) {
      const rank = order.deletes;
      d.deletes.sort((a, b) => rank(a) - rank(b));
    }
    if (order) {
      // The LB order (see syncMaps): a shrinking service lowers its count before its slots go.
      await applyUpserts(map, isLpm(spec), d.upserts);
      await applyDeletes(map, d.deletes);
    } else {
      // What is no longer wanted goes first: it frees room in a map near full.
      await applyDeletes(map, d.deletes);
      await applyUpserts(map, isLpm(spec), d.upserts);
    }
    return { map: spec.name, added: d.added, changed: d.changed, deleted: d.deletes.length };
  }

  /** One map's sync, kept from stopping the others: its failure is reported in its count. */
  private async guarded(map: string, sync: () => Promise<MapSyncCount>): Promise<MapSyncCount> {
    try {
      return await sync();
    } catch (err) {
      return { map, added: 0, changed: 0, deleted: 0, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Every synced map to its desired contents. LB order keeps lookups consistent mid-sync:
   * backends and reverse NAT before the services that name them; a service's backend slots
   * before the slot-0 count that exposes them; on removal, slot 0 before its slots.
   */
  async syncMaps(m: DesiredMaps): Promise<MapSyncCount[]> {
    const slotOf = (k: Buffer) => lb4ServicesMap.key.decode(k).backendSlot;
    const out: MapSyncCount[] = [];
    out.push(await this.guarded(ipcacheMap.name, () => this.syncMap(ipcacheMap, m.ipcache)));
    out.push(await this.guarded(endpointsMap.name, () => this.syncMap(endpointsMap, m.endpoints)));
    out.push(await this.guarded(endpointIfsMap.name, () => this.syncMap(endpointIfsMap, m.endpointIfs)));
    out.push(await this.guarded(policyMap.name, () => this.syncMap(policyMap, m.policy)));
    out.push(await this.guarded(prefilterMap.name, () => this.syncMap(prefilterMap, m.prefilter)));
    // Before the services whose flag sends packets to them.
    out.push(await this.guarded(lb4SourceRangesMap.name, () => this.syncMap(lb4SourceRangesMap, m.sourceRanges)));
    const backends = this.need().map(lb4BackendsMap);
    const revNat = this.need().map(lb4ReverseNatMap);
    // Additions first, removals after the services stopped naming them.
    const b = await this.guarded(lb4BackendsMap.name, () => this.syncAdditive(lb4BackendsMap, m.backends));
    const r = await this.guarded(lb4ReverseNatMap.name, () => this.syncAdditive(lb4ReverseNatMap, m.revNat));
    out.push(await this.guarded(lb4ServicesMap.name, () => this.syncMap(lb4ServicesMap, m.services, { upserts: (k) => (slotOf(k) === 0 ? 1 : 0), deletes: (k) => (slotOf(k) === 0 ? 0 : 1) })));
    const removed = async (count: MapSyncCount, map: BpfMap, wanted: Buffer[]): Promise<MapSyncCount> => {
      try {
        return { ...count, deleted: await this.deleteUnwanted(map, wanted) };
      } catch (err) {
        return { ...count, error: count.error ?? (err instanceof Error ? err.message : String(err)) };
      }
    };
    out.push(
      await removed(b, backends.raw, m.backends.map((e) => lb4BackendsMap.key.encode(e.key))),
      await removed(r, revNat.raw, m.revNat.map((e) => lb4ReverseNatMap.key.encode(e.key))),
    );
    return out;
  }

  private async syncAdditive<K, V>(spec: MapSpec<K, V>, desired: Entries<K, V>): Promise<MapSyncCount> {
    const map = this.need().rawMap(spec.name);
    const d = diffContents(await readContents(map, false), encodeEntries(spec, desired));
    await applyUpserts(map, false, d.upserts);
    return { map: spec.name, added: d.added, changed: d.changed, deleted: 0 };
  }

  private async deleteUnwanted(map: BpfMap, wanted: Buffer[]): Promise<number> {
    const keep = new Set(wanted.map((k) => k.toString('hex')));
    const current = await readContents(map, false);
    const gone = [...current.keys()].filter((k) => !keep.has(k)).map((k) => Buffer.from(k, 'hex'));
    await applyDeletes(map, gone);
    return gone.length;
  }

  readConfig(): NodeSettings | undefined {
    return this.need().map(configMap).get({ index: 0 });
  }

  writeConfig(c: NodeSettings): void {
    this.need().map(configMap).set({ index: 0 }, c);
  }

  reconcileLinks(wanted: readonly WantedLink[]): LinkReport {
    return this.links.reconcile(this.need(), wanted);
  }

  /** Size and fill of every pinned map, counted now. */
  mapStatus(): MapStatus[] {
    const dp = this.need();
    return ALL_MAPS.filter(isSized).map((s) => {
      const m = dp.rawMap(s.name);
      const entries = m.count();
      return { name: s.name, maxEntries: m.maxEntries, entries, pressure: m.maxEntries > 0 ? entries / m.maxEntries : 0 };
    });
  }

  /**
   * Removes every link and pin this agent made under its pin root, and nothing else: programs
   * and maps are freed by the kernel once no link, pin or fd holds them.
   */
  uninstall(): { links: string[]; pins: string[] } {
    this.dp?.close();
    this.dp = undefined;
    const links = this.links.removeAll();
    const pins: string[] = [];
    if (existsSync(this.opts.pinRoot)) {
      for (const name of readdirSync(this.opts.pinRoot).filter((n) => n.startsWith('weir_'))) {
        rmSync(join(this.opts.pinRoot, name), { force: true });
        pins.push(name);
      }
      // The directory goes only when nothing else is pinned there.
      if (readdirSync(this.opts.pinRoot).length === 0) rmSync(this.opts.pinRoot, { recursive: true, force: true });
    }
    return { links, pins };
  }

  close(): void {
    this.dp?.close();
    this.dp = undefined;
  }
}
