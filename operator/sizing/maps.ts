// The BPF maps whose size the operator decides, with the seed's defaults and limits.

export const MAP_NAMES = ['ct_tcp', 'ct_any', 'nat', 'neigh', 'lb', 'endpoints', 'policy', 'prefilter', 'frag', 'ipcache'] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** DatapathConfig spec.mapSizing field for each map. */
export const SIZING_FIELD: Record<MapName, string> = {
  ct_tcp: 'ctTCPMax',
  ct_any: 'ctAnyMax',
  nat: 'natMax',
  neigh: 'neighMax',
  lb: 'lbMax',
  endpoints: 'endpointMax',
  policy: 'policyMax',
  prefilter: 'prefilterMax',
  frag: 'fragMax',
  ipcache: 'ipcacheMax',
};

export const TABLE_MAX = 1 << 24;

const CT_TCP_DEFAULT = 1 << 20;
const CT_ANY_DEFAULT = 1 << 18;

interface MapLimits {
  default: number;
  /** Lower bound of a dynamically computed size (explicit values may go lower, down to the CRD minimum). */
  dynamicMin: number;
  max: number;
  /**
   * Bytes one entry costs in the kernel (key + value + hash element overhead): the weight of the
   * map in the dynamic split. Estimates until the datapath's structs land; replaced by BTF sizes.
   */
  entryBytes: number;
  /** Whether the dynamic ratio sizes this map (the large, traffic-driven tables). */
  dynamic: boolean;
}

export const MAP_LIMITS: Record<MapName, MapLimits> = {
  ct_tcp: { default: CT_TCP_DEFAULT, dynamicMin: 1 << 17, max: TABLE_MAX, entryBytes: 96, dynamic: true },
  ct_any: { default: CT_ANY_DEFAULT, dynamicMin: 1 << 16, max: TABLE_MAX, entryBytes: 96, dynamic: true },
  // NAT holds at most one entry per tracked connection: 2/3 of conntrack is ample (as in Cilium).
  nat: { default: Math.floor(((CT_TCP_DEFAULT + CT_ANY_DEFAULT) * 2) / 3), dynamicMin: 1 << 17, max: TABLE_MAX, entryBytes: 96, dynamic: true },
  neigh: { default: Math.floor(((CT_TCP_DEFAULT + CT_ANY_DEFAULT) * 2) / 3), dynamicMin: 1 << 17, max: TABLE_MAX, entryBytes: 24, dynamic: true },
  lb: { default: 1 << 16, dynamicMin: 1 << 16, max: TABLE_MAX, entryBytes: 64, dynamic: true },
  endpoints: { default: 1 << 16, dynamicMin: 1 << 16, max: 1 << 20, entryBytes: 64, dynamic: false },
  policy: { default: 1 << 14, dynamicMin: 1 << 14, max: 1 << 20, entryBytes: 48, dynamic: false },
  prefilter: { default: 1 << 14, dynamicMin: 1 << 14, max: 1 << 20, entryBytes: 40, dynamic: false },
  // IPv4 datagrams in flight in fragments at once (an LRU: the oldest is forgotten first).
  frag: { default: 1 << 13, dynamicMin: 1 << 13, max: 1 << 20, entryBytes: 64, dynamic: false },
  // Every address in the cluster (pods, nodes) and every CIDR policies name: one LPM trie per node.
  ipcache: { default: 1 << 16, dynamicMin: 1 << 16, max: 1 << 24, entryBytes: 64, dynamic: false },
};
