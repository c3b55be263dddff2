// Per-node map sizes: explicit values win; else, with a dynamic ratio, the node's memory × ratio
// is split over the large maps in proportion to what their defaults would cost, each clamped;
// else the seed's defaults.
import { MAP_LIMITS, MAP_NAMES, SIZING_FIELD, type MapName } from './maps.js';

export interface MapSizingSpec {
  dynamicSizeRatio?: number;
  ctTCPMax?: number;
  ctAnyMax?: number;
  natMax?: number;
  neighMax?: number;
  lbMax?: number;
  endpointMax?: number;
  policyMax?: number;
  prefilterMax?: number;
  fragMax?: number;
  ipcacheMax?: number;
}

export interface NodeFacts {
  /** status.capacity.memory in bytes. */
  memoryBytes: number;
  /** status.capacity.cpu: LRU maps with per-CPU free lists need a multiple of it. */
  cpus: number;
}

export type SizeSource = 'explicit' | 'dynamic' | 'default';

export interface MapSize {
  maxEntries: number;
  source: SizeSource;
}

export type MapSizes = Record<MapName, MapSize>;

// Conntrack and NAT are LRU hashes; with per-CPU LRU lists the kernel rounds max_entries up to
// the CPU count. Rounding here keeps the requested and the created size equal.
const CPU_ROUNDED: ReadonlySet<MapName> = new Set(['ct_tcp', 'ct_any', 'nat']);

const roundUp = (n: number, k: number): number => Math.ceil(n / k) * k;
const roundDown = (n: number, k: number): number => Math.floor(n / k) * k;

export function computeMapSizes(spec: MapSizingSpec, node: NodeFacts): MapSizes {
  const ratio = spec.dynamicSizeRatio;
  if (ratio !== undefined && !(ratio > 0 && ratio <= 1)) throw new RangeError(`dynamicSizeRatio ${ratio} must be in (0, 1]`);
  const cpus = Math.max(1, Math.floor(node.cpus));
  const explicit = (name: MapName): number | undefined => (spec as Record<string, number | undefined>)[SIZING_FIELD[name]];

  const defaultBytes = MAP_NAMES.filter((n) => MAP_LIMITS[n].dynamic).reduce((sum, n) => sum + MAP_LIMITS[n].default * MAP_LIMITS[n].entryBytes, 0);
  const budget = ratio === undefined ? 0 : Math.floor(node.memoryBytes * ratio);

  const sizes = {} as MapSizes;
  for (const name of MAP_NAMES) {
    const lim = MAP_LIMITS[name];
    const k = CPU_ROUNDED.has(name) ? cpus : 1;
    const given = explicit(name);
    if (given !== undefined) {
      sizes[name] = { maxEntries: roundUp(given, k), source: 'explicit' };
    } else if (ratio !== undefined && lim.dynamic) {
      const share = Math.floor((lim.default * budget) / defaultBytes);
      const clamped = share < lim.dynamicMin ? roundUp(lim.dynamicMin, k) : share > lim.max ? roundDown(lim.max, k) : roundUp(share, k);
      sizes[name] = { maxEntries: clamped, source: 'dynamic' };
    } else {
      sizes[name] = { maxEntries: roundUp(lim.default, k), source: 'default' };
    }
  }

  // NAT must not outgrow conntrack (each NAT entry belongs to a tracked flow); the neighbour
  // table follows NAT unless set. Only computed values are adjusted, never explicit ones.
  const ctTotal = sizes.ct_tcp.maxEntries + sizes.ct_any.maxEntries;
  if (sizes.nat.source !== 'explicit' && sizes.nat.maxEntries > ctTotal) {
    sizes.nat = { ...sizes.nat, maxEntries: roundUp(Math.floor((ctTotal * 2) / 3), cpus) };
  }
  if (sizes.neigh.source !== 'explicit' && ratio !== undefined) sizes.neigh = { maxEntries: sizes.nat.maxEntries, source: 'dynamic' };
  return sizes;
}

export interface Demand {
  /** Σ over services of backends × ports (the LB map holds one entry per backend and port). */
  lbEntries: number;
  /** Endpoints on this node. */
  endpoints: number;
  /**
   * Entries of the node's policy trie: every local identity's compiled policy after the agent's
   * range and deny expansion (one trie holds them all).
   */
  policyEntries: number;
  /** Addresses the ipcache holds: every pod and node address in the cluster, and the CIDRs policies name. */
  ipcacheEntries: number;
  /** Deny CIDRs of the prefilter. */
  prefilterEntries: number;
}

export interface Overflow {
  map: MapName;
  needed: number;
  maxEntries: number;
  message: string;
}

/** Maps whose known demand exceeds their size: reported before anything breaks. */
export function checkDemand(sizes: MapSizes, demand: Demand): Overflow[] {
  const checks: Array<[MapName, number, string]> = [
    ['lb', demand.lbEntries, 'service backends × ports'],
    ['endpoints', demand.endpoints, 'endpoints on the node'],
    ['policy', demand.policyEntries, "entries of the node's policy trie, after range and deny expansion"],
    ['ipcache', demand.ipcacheEntries, 'pod and node addresses in the cluster, and CIDRs named by policies'],
    ['prefilter', demand.prefilterEntries, 'prefilter deny CIDRs'],
  ];
  return checks
    .filter(([map, needed]) => needed > sizes[map].maxEntries)
    .map(([map, needed, what]) => ({
      map,
      needed,
      maxEntries: sizes[map].maxEntries,
      message: `${map} needs ${needed} entries (${what}) but holds ${sizes[map].maxEntries}; raise spec.mapSizing.${SIZING_FIELD[map]}`,
    }));
}

/** LB entries a set of services needs: Σ backends × ports. */
export function lbEntriesNeeded(services: ReadonlyArray<{ ports: number; backends: number }>): number {
  return services.reduce((sum, s) => sum + s.ports * s.backends, 0);
}
