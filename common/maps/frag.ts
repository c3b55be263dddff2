// weir_frag4: the ports of IPv4 datagrams in flight in fragments. Declared in bpf/lib/frag.h.
import { be16, ip4, struct, u8 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const frag4Key = struct('frag4_key', 12, { saddr: ip4(0), daddr: ip4(4), id: be16(8), proto: u8(10), pad: u8(11) });
export const frag4Ports = struct('frag4_ports', 4, { sport: be16(0), dport: be16(2) });

export const frag4Map: MapSpec<ReturnType<typeof frag4Key.decode>, ReturnType<typeof frag4Ports.decode>> = {
  name: 'weir_frag4',
  header: 'bpf/lib/frag.h',
  key: frag4Key,
  value: frag4Ports,
  type: MapType.LruHash,
  size: { from: 'frag' },
};
