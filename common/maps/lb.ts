// Service load-balancing maps. Declared in bpf/lib/lb.h.
import { be16, ip4, struct, u8, u16, u32, u64 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const ServiceFlags = { ClusterIp: 1 << 0, NodePort: 1 << 1, External: 1 << 2, Affinity: 1 << 3, LocalOnly: 1 << 4, SourceRanges: 1 << 5 } as const;

export const lb4Key = struct('lb4_key', 12, {
  address: ip4(0),
  dport: be16(4),
  backendSlot: u16(6),
  proto: u8(8),
  scope: u8(9),
  pad: u16(10),
});
export type Lb4Key = ReturnType<typeof lb4Key.decode>;

export const lb4Service = struct('lb4_service', 16, {
  backendId: u32(0),
  count: u16(4),
  revNat: u16(6),
  affinityTimeoutS: u32(8, 'affinity_timeout_s'),
  flags: u8(12),
});
export type Lb4Service = ReturnType<typeof lb4Service.decode>;

export const backendKey = struct('__u32', 4, { id: u32(0) });
export const lb4Backend = struct('lb4_backend', 8, { address: ip4(0), port: be16(4), proto: u8(6), flags: u8(7) });
export type Lb4Backend = ReturnType<typeof lb4Backend.decode>;

export const revNatKey = struct('__u16', 2, { index: u16(0) });
export const lb4ReverseNat = struct('lb4_reverse_nat', 8, { address: ip4(0), port: be16(4), pad: u16(6) });

export const affinityKey = struct('lb_affinity_key', 16, { client: u64(0), revNat: u16(8), netns: u8(10) });
export const affinityValue = struct('lb_affinity', 8, { backendId: u32(0), lastUsed: u32(4) });

export const sockRevNatKey = struct('lb4_sock_revnat_key', 16, { cookie: u64(0), address: ip4(8), port: be16(12), pad: u16(14) });
export const sockRevNatValue = struct('lb4_sock_revnat', 8, { address: ip4(0), port: be16(4), revNat: u16(6) });

/** LPM key: prefixlen counts rev_nat and pad (32 bits) and then the client prefix. */
export const lb4SourceRangeKey = struct('lb4_source_range_key', 12, { prefixlen: u32(0), revNat: u16(4, 'rev_nat'), pad: u16(6), addr: ip4(8) });
export const LB_SOURCE_RANGE_PREFIX_HDR = 32;
export const lb4SourceRange = struct('lb4_source_range', 4, { flags: u32(0) });

const header = 'bpf/lib/lb.h';

export const lb4ServicesMap: MapSpec<Lb4Key, Lb4Service> = {
  name: 'weir_lb4_services',
  header,
  key: lb4Key,
  value: lb4Service,
  type: MapType.Hash,
  size: { from: 'lb', holds: 'lbEntries' },
};

export const lb4BackendsMap: MapSpec<{ id: number }, Lb4Backend> = {
  name: 'weir_lb4_backends',
  header,
  key: backendKey,
  value: lb4Backend,
  type: MapType.Hash,
  size: { from: 'lb', holds: 'lbEntries' },
};

export const lb4ReverseNatMap: MapSpec<{ index: number }, ReturnType<typeof lb4ReverseNat.decode>> = {
  name: 'weir_lb4_reverse_nat',
  header,
  key: revNatKey,
  value: lb4ReverseNat,
  // The index is 16 bits wide (0 = none).
  type: MapType.Hash,
  size: { from: 'lb', clamp: 65535, holds: 'frontends' },
};

export const lb4AffinityMap: MapSpec<ReturnType<typeof affinityKey.decode>, ReturnType<typeof affinityValue.decode>> = {
  name: 'weir_lb4_affinity',
  header,
  key: affinityKey,
  value: affinityValue,
  type: MapType.LruHash,
  size: { from: 'nat' },
};

export const lb4SockRevNatMap: MapSpec<ReturnType<typeof sockRevNatKey.decode>, ReturnType<typeof sockRevNatValue.decode>> = {
  name: 'weir_lb4_sock_revnat',
  header,
  key: sockRevNatKey,
  value: sockRevNatValue,
  // One entry per UDP socket and backend it talks to: connection-scale, like the NAT table.
  type: MapType.LruHash,
  size: { from: 'nat' },
};

export const lb4SourceRangesMap: MapSpec<ReturnType<typeof lb4SourceRangeKey.decode>, ReturnType<typeof lb4SourceRange.decode>> = {
  name: 'weir_lb4_source_ranges',
  header,
  key: lb4SourceRangeKey,
  value: lb4SourceRange,
  // loadBalancerSourceRanges: a few prefixes per load-balancer address.
  type: MapType.LpmTrie,
  size: { fixed: 16384 },
};
