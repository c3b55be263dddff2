// weir_ct4_tcp / weir_ct4_any: connection tracking. Declared in bpf/lib/conntrack.h.
import { be16, ip4, struct, u8, u16, u32 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const CtScope = { Egress: 1, Ingress: 2, Service: 3, NodePort: 4 } as const;
export const CtFlags = { SeenReply: 1 << 0, TxClosing: 1 << 1, RxClosing: 1 << 2, Proxy: 1 << 3, FromProxy: 1 << 4 } as const;
/** enum ct_path: which way each direction's TCP payload travels (socket fast path or stack). */
export const CtPath = { TxStack: 1 << 0, RxStack: 1 << 1, TxFast: 1 << 2, RxFast: 1 << 3, Retired: 1 << 4 } as const;

export const ct4Key = struct('ct4_key', 16, {
  saddr: ip4(0),
  daddr: ip4(4),
  sport: be16(8),
  dport: be16(10),
  proto: u8(12),
  scope: u8(13),
  pad: u16(14),
});
export type Ct4Key = ReturnType<typeof ct4Key.decode>;

export const ctEntry = struct('ct_entry', 28, {
  expires: u32(0),
  srcIdentity: u32(4),
  backendId: u32(8),
  revNat: u16(12),
  flags: u16(14),
  policyGen: u32(16),
  txTcpFlags: u8(20),
  rxTcpFlags: u8(21),
  proxyPort: u16(22),
  path: u32(24),
});
export type CtEntry = ReturnType<typeof ctEntry.decode>;

export const ct4TcpMap: MapSpec<Ct4Key, CtEntry> = {
  name: 'weir_ct4_tcp',
  header: 'bpf/lib/conntrack.h',
  key: ct4Key,
  value: ctEntry,
  type: MapType.LruHash,
  size: { from: 'ct_tcp' },
};

export const ct4AnyMap: MapSpec<Ct4Key, CtEntry> = {
  name: 'weir_ct4_any',
  header: 'bpf/lib/conntrack.h',
  key: ct4Key,
  value: ctEntry,
  type: MapType.LruHash,
  size: { from: 'ct_any' },
};
