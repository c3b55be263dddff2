// The map catalogue: for each size a DatapathConfig decides, its spec.mapSizing field, default,
// bounds and weight in the dynamic memory split, and the kernel maps it governs (each map module
// names its entry, with a clamp and the demand it must hold). The CRD schema, the operator's
// sizing and demand checks, the agent's loader, `weir plan` and docs/maps.md all read this;
// tests check the CRD and the compiled objects' max_entries against it.
import type { MapSizingSpec } from '../../api/v1alpha1/index.js';
import { ALL_MAPS } from './index.js';
import { isLpm, isSized, MapType, type AnyMapSpec } from './spec.js';

export const SIZING_NAMES = ['ct_tcp', 'ct_any', 'nat', 'lb', 'endpoints', 'policy', 'prefilter', 'frag', 'ipcache'] as const;
export type SizingName = (typeof SIZING_NAMES)[number];

/** What a node needs its maps to hold, known before traffic (operator/sizing/demand). */
export type DemandKind = 'lbEntries' | 'frontends' | 'endpoints' | 'policyEntries' | 'ipcacheEntries' | 'prefilterEntries';

export const DEMAND_DESCRIPTION: Record<DemandKind, string> = {
  lbEntries: 'service backends × ports',
  frontends: 'service frontends (address, port)',
  endpoints: 'endpoints on the node',
  policyEntries: "entries of the node's policy trie, after range and deny expansion",
  ipcacheEntries: 'pod and node addresses in the cluster, and CIDRs named by policies',
  prefilterEntries: 'prefilter deny CIDRs',
};

export interface SizingEntry {
  name: SizingName;
  /** Field of DatapathConfig spec.mapSizing. */
  field: Exclude<keyof MapSizingSpec, 'dynamicSizeRatio'>;
  default: number;
  /** CRD bounds of an explicit value. */
  min: number;
  max: number;
  /** Sized by dynamicSizeRatio (the large, traffic-driven tables), never below this. */
  dynamicMin?: number;
  /** LRU hashes with per-CPU free lists: the kernel needs a multiple of the CPU count. */
  cpuRounded: boolean;
  description: string;
}

const TABLE_MAX = 1 << 24;
const CT_TCP_DEFAULT = 1 << 20;
const CT_ANY_DEFAULT = 1 << 18;

export const CATALOGUE: Record<SizingName, SizingEntry> = {
  ct_tcp: { name: 'ct_tcp', field: 'ctTCPMax', default: CT_TCP_DEFAULT, min: 1024, max: TABLE_MAX, dynamicMin: 1 << 17, cpuRounded: true, description: 'TCP connections tracked; also the socket fast path' },
  ct_any: { name: 'ct_any', field: 'ctAnyMax', default: CT_ANY_DEFAULT, min: 1024, max: TABLE_MAX, dynamicMin: 1 << 16, cpuRounded: true, description: 'UDP, ICMP and other flows tracked' },
  // NAT holds at most one entry per tracked connection: 2/3 of conntrack is ample (as in Cilium).
  nat: {
    name: 'nat',
    field: 'natMax',
    default: Math.floor(((CT_TCP_DEFAULT + CT_ANY_DEFAULT) * 2) / 3),
    min: 1024,
    max: TABLE_MAX,
    dynamicMin: 1 << 17,
    cpuRounded: true,
    description: 'SNAT mappings, session affinity and UDP socket reverse translations',
  },
  lb: { name: 'lb', field: 'lbMax', default: 1 << 16, min: 16, max: TABLE_MAX, dynamicMin: 1 << 16, cpuRounded: false, description: 'service frontends, backends and reverse NAT' },
  endpoints: { name: 'endpoints', field: 'endpointMax', default: 1 << 16, min: 16, max: 1 << 20, cpuRounded: false, description: 'endpoints on the node and their interfaces' },
  policy: { name: 'policy', field: 'policyMax', default: 1 << 14, min: 16, max: 1 << 20, cpuRounded: false, description: "the node's policy trie" },
  prefilter: { name: 'prefilter', field: 'prefilterMax', default: 1 << 14, min: 16, max: 1 << 20, cpuRounded: false, description: 'XDP prefilter deny CIDRs' },
  // IPv4 datagrams in flight in fragments at once (an LRU: the oldest is forgotten first).
  frag: { name: 'frag', field: 'fragMax', default: 1 << 13, min: 16, max: 1 << 20, cpuRounded: false, description: "IPv4 datagrams in flight in fragments, so later fragments are judged by the first one's ports" },
  // Every address in the cluster (pods, nodes) and every CIDR policies name: one LPM trie per node.
  ipcache: { name: 'ipcache', field: 'ipcacheMax', default: 1 << 16, min: 16, max: TABLE_MAX, cpuRounded: false, description: 'every pod and node address in the cluster, and CIDRs policies name' },
};

const GOVERNED = new Map(SIZING_NAMES.map((n) => [n, ALL_MAPS.filter((m) => isSized(m) && m.size.from === n)]));

/** The kernel maps a sizing entry governs (the sizing's budget search asks this many times). */
export const governed = (name: SizingName): readonly AnyMapSpec[] => GOVERNED.get(name) ?? [];

/** max_entries of a map given the size of its entry: clamped, or fixed. */
export function maxEntriesOf(spec: AnyMapSpec, entrySize: number): number {
  if (!isSized(spec)) return (spec.size as { fixed: number }).fixed;
  return spec.size.clamp === undefined ? entrySize : Math.min(entrySize, spec.size.clamp);
}

/** The max_entries a map gets from a node's sizes (NodeDatapath spec.maps). */
export function maxEntriesFor(spec: AnyMapSpec, sizes: ReadonlyMap<string, number>): number {
  if (!isSized(spec)) return maxEntriesOf(spec, 0);
  const n = sizes.get(spec.size.from);
  if (n === undefined) throw new Error(`map ${spec.name}: no size for ${spec.size.from} in NodeDatapath`);
  return maxEntriesOf(spec, n);
}

/** max_entries with every entry at its default: what bpf/lib/*.h declare. */
export const defaultMaxEntries = (spec: AnyMapSpec): number => maxEntriesOf(spec, isSized(spec) ? CATALOGUE[spec.size.from].default : 0);

const round8 = (n: number): number => Math.ceil(n / 8) * 8;

/**
 * Kernel bytes one element costs: key and value (8-byte aligned) plus the element header. The
 * headers are estimates from the kernel's structs (htab_elem with its LRU node, lpm_trie_node);
 * per-CPU values count once per CPU, which the sizing does not know, so they weigh one.
 */
export function elementBytes(spec: AnyMapSpec): number {
  const header = spec.type === MapType.LruHash ? 64 : isLpm(spec) ? 40 : spec.type === MapType.Array ? 0 : 48;
  return header + round8(spec.key.size) + round8(spec.value.size);
}

/** Kernel bytes a sizing entry of `entries` costs across the maps it governs, each clamped. */
export const costBytes = (name: SizingName, entries: number): number => governed(name).reduce((n, m) => n + maxEntriesOf(m, entries) * elementBytes(m), 0);

/** A NodeDatapath-style size for every entry: `base` unless named (benchmarks, tests, tools). */
export const uniformSizes = (base: number, named: Partial<Record<SizingName, number>> = {}): Map<string, number> =>
  new Map(SIZING_NAMES.map((n) => [n, named[n] ?? base]));
