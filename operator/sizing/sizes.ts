// Per-node map sizes, entry by entry of the map catalogue (common/maps/catalogue.ts): explicit
// values win; else, with a dynamic ratio, the node's memory × ratio is split over the large
// tables in proportion to what their defaults would cost, each clamped; else the defaults.
import type { MapSizingSpec } from '../../api/v1alpha1/index.js';
import { CATALOGUE, costBytes, DEMAND_DESCRIPTION, governed, maxEntriesOf, SIZING_NAMES, type DemandKind, type SizingName } from '../../common/maps/catalogue.js';
import { isSized } from '../../common/maps/spec.js';

export type { MapSizingSpec };

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

export type MapSizes = Record<SizingName, MapSize>;

const roundUp = (n: number, k: number): number => Math.ceil(n / k) * k;
const roundDown = (n: number, k: number): number => Math.floor(n / k) * k;

export function computeMapSizes(spec: MapSizingSpec, node: NodeFacts): MapSizes {
  const ratio = spec.dynamicSizeRatio;
  if (ratio !== undefined && !(ratio > 0 && ratio <= 1)) throw new RangeError(`dynamicSizeRatio ${ratio} must be in (0, 1]`);
  const cpus = Math.max(1, Math.floor(node.cpus));
  const dynamic = SIZING_NAMES.filter((n) => CATALOGUE[n].dynamicMin !== undefined);
  const budget = ratio === undefined ? 0 : Math.floor(node.memoryBytes * ratio);
  const fraction = ratio === undefined ? 0 : budgetFraction(dynamic, budget);

  const sizes = {} as MapSizes;
  for (const name of SIZING_NAMES) {
    const e = CATALOGUE[name];
    const k = e.cpuRounded ? cpus : 1;
    const given = spec[e.field];
    if (given !== undefined) {
      sizes[name] = { maxEntries: roundUp(given, k), source: 'explicit' };
    } else if (ratio !== undefined && e.dynamicMin !== undefined) {
      const share = Math.floor(e.default * fraction);
      const clamped = share < e.dynamicMin ? roundUp(e.dynamicMin, k) : share > e.max ? roundDown(e.max, k) : roundUp(share, k);
      sizes[name] = { maxEntries: clamped, source: 'dynamic' };
    } else {
      sizes[name] = { maxEntries: roundUp(e.default, k), source: 'default' };
    }
  }

  // NAT must not outgrow conntrack (each NAT entry belongs to a tracked flow). Only computed
  // values are adjusted, never explicit ones.
  const ctTotal = sizes.ct_tcp.maxEntries + sizes.ct_any.maxEntries;
  if (sizes.nat.source !== 'explicit' && sizes.nat.maxEntries > ctTotal) {
    sizes.nat = { ...sizes.nat, maxEntries: roundUp(Math.floor((ctTotal * 2) / 3), cpus) };
  }
  return sizes;
}

/**
 * The fraction f of their defaults at which the dynamic tables' kernel bytes (every map they
 * govern, clamps included) spend the budget: each table then gets the same share of its default.
 */
function budgetFraction(names: readonly SizingName[], budget: number): number {
  const cost = (f: number): number => names.reduce((sum, n) => sum + costBytes(n, Math.floor(CATALOGUE[n].default * f)), 0);
  let lo = 0;
  let hi = 1;
  while (cost(hi) < budget && hi < 1 << 20) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (cost(mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}

export type Demand = Record<DemandKind, number>;

export interface Overflow {
  /** The catalogue entry to raise. */
  map: SizingName;
  /** The kernel map that would overflow. */
  kernelMap: string;
  needed: number;
  maxEntries: number;
  message: string;
}

/**
 * Kernel maps whose known demand exceeds their size, reported before anything breaks: one per
 * catalogue entry and kind of demand, the tightest map first (a clamp binds before the size).
 */
export function checkDemand(sizes: MapSizes, demand: Demand): Overflow[] {
  const out: Overflow[] = [];
  for (const name of SIZING_NAMES) {
    const seen = new Set<DemandKind>();
    const maps = governed(name)
      .filter(isSized)
      .filter((m) => m.size.holds !== undefined)
      .sort((a, b) => maxEntriesOf(a, sizes[name].maxEntries) - maxEntriesOf(b, sizes[name].maxEntries));
    for (const m of maps) {
      const kind = m.size.holds!;
      const limit = maxEntriesOf(m, sizes[name].maxEntries);
      if (seen.has(kind) || demand[kind] <= limit) continue;
      seen.add(kind);
      const clamped = limit < sizes[name].maxEntries;
      out.push({
        map: name,
        kernelMap: m.name,
        needed: demand[kind],
        maxEntries: limit,
        message: clamped
          ? `${m.name} needs ${demand[kind]} entries (${DEMAND_DESCRIPTION[kind]}) but holds at most ${limit} whatever spec.mapSizing.${CATALOGUE[name].field} says`
          : `${name} needs ${demand[kind]} entries (${DEMAND_DESCRIPTION[kind]}) but holds ${limit}; raise spec.mapSizing.${CATALOGUE[name].field}`,
      });
    }
  }
  return out;
}

/** LB entries a set of services needs: Σ backends × ports. */
export function lbEntriesNeeded(services: ReadonlyArray<{ ports: number; backends: number }>): number {
  return services.reduce((sum, s) => sum + s.ports * s.backends, 0);
}
