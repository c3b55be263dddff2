// weir_sock4: established local TCP sockets for the sk_msg fast path. Declared in
// bpf/lib/sockmap.h. User space only counts and lists it; the kernel fills it.
import { be16, ip4, struct, u64 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const sock4Key = struct('sock4_key', 12, { sip: ip4(0), dip: ip4(4), sport: be16(8), dport: be16(10) });
const sockValue = struct('__u64', 8, { cookie: u64(0) });

export const sockMap: MapSpec<ReturnType<typeof sock4Key.decode>, { cookie: bigint }> = {
  name: 'weir_sock4',
  header: 'bpf/lib/sockmap.h',
  key: sock4Key,
  value: sockValue,
  // At most one socket per tracked local TCP connection end; the hash allocates per socket.
  type: MapType.Sockhash,
  size: { from: 'ct_tcp', clamp: 1 << 18 },
};
