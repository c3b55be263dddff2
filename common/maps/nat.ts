// weir_nat4: source NAT of NodePort flows sent on to remote backends. Declared in bpf/lib/snat.h.
import { be16, ip4, struct, u8, u16 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const NatDir = { Out: 1, In: 2 } as const;

export const nat4Key = struct('nat4_key', 16, { saddr: ip4(0), daddr: ip4(4), sport: be16(8), dport: be16(10), proto: u8(12), dir: u8(13), pad: u16(14) });
export const nat4Entry = struct('nat4_entry', 8, { toAddr: ip4(0), toPort: be16(4), pad: u16(6) });

export const nat4Map: MapSpec<ReturnType<typeof nat4Key.decode>, ReturnType<typeof nat4Entry.decode>> = {
  name: 'weir_nat4',
  header: 'bpf/lib/snat.h',
  key: nat4Key,
  value: nat4Entry,
  type: MapType.LruHash,
  size: { from: 'nat' },
};
