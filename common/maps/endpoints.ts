// weir_endpoints4: local endpoints (and the node's own addresses) by IPv4 address. Declared in
// bpf/lib/endpoints.h.
import { ip4, struct, u32 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const EndpointFlags = { EnforceIngress: 1 << 0, EnforceEgress: 1 << 1, Host: 1 << 2 } as const;

export const endpointKey = struct('endpoint_key4', 4, { addr: ip4(0) });
export const endpointInfo = struct('endpoint_info', 16, { ifindex: u32(0), identity: u32(4), flags: u32(8), reserved: u32(12) });
export type EndpointInfo = ReturnType<typeof endpointInfo.decode>;

export const endpointsMap: MapSpec<{ addr: string }, EndpointInfo> = {
  name: 'weir_endpoints4',
  header: 'bpf/lib/endpoints.h',
  key: endpointKey,
  value: endpointInfo,
  type: MapType.Hash,
  size: { from: 'endpoints', holds: 'endpoints' },
};

// weir_endpoint_ifs: the same endpoints by the ifindex of their host-side veth.
export const endpointIfKey = struct('__u32', 4, { ifindex: u32(0) });
export const endpointIf = struct('endpoint_if', 16, { addr: ip4(0), identity: u32(4), flags: u32(8), reserved: u32(12) });
export type EndpointIf = ReturnType<typeof endpointIf.decode>;

export const endpointIfsMap: MapSpec<{ ifindex: number }, EndpointIf> = {
  name: 'weir_endpoint_ifs',
  header: 'bpf/lib/endpoints.h',
  key: endpointIfKey,
  value: endpointIf,
  // One entry per local endpoint with an interface: never more than weir_endpoints4 holds.
  type: MapType.Hash,
  size: { from: 'endpoints', holds: 'endpoints' },
};
