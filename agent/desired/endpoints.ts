// weir_endpoints4 contents: the node's pods (with the host-side veth the agent found for each)
// and the node's own addresses.
import { ReservedIdentity } from '../../api/v1alpha1/identity.js';
import { EndpointFlags, type EndpointIf, type EndpointInfo } from '../../common/maps/endpoints.js';
import type { ResolvedNodeDatapathSpec as NodeDatapathSpec } from '../../api/v1alpha1/index.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export function endpointEntries(
  spec: Pick<NodeDatapathSpec, 'endpoints'>,
  nodeAddresses: readonly string[],
  ifindexOf: (ip: string) => number | undefined,
  enforce: boolean,
  /** Pods the runtime started that NodeDatapath does not name yet: the init identity, enforced. */
  initIps: readonly string[] = [],
): Array<{ key: { addr: string }; value: EndpointInfo }> {
  const out = new Map<string, EndpointInfo>();
  const both = EndpointFlags.EnforceIngress | EndpointFlags.EnforceEgress;
  for (const a of initIps) if (IPV4.test(a)) out.set(a, { ifindex: ifindexOf(a) ?? 0, identity: ReservedIdentity.Init, flags: enforce ? both : 0, reserved: 0 });
  for (const a of nodeAddresses) out.set(a, { ifindex: 0, identity: ReservedIdentity.Host, flags: EndpointFlags.Host, reserved: 0 });
  for (const e of spec.endpoints) {
    const flags = enforce && e.policyEnforced ? EndpointFlags.EnforceIngress | EndpointFlags.EnforceEgress : 0;
    for (const a of e.ips) if (IPV4.test(a)) out.set(a, { ifindex: ifindexOf(a) ?? 0, identity: e.identity, flags, reserved: 0 });
  }
  return [...out].map(([addr, value]) => ({ key: { addr }, value }));
}

/** weir_endpoint_ifs contents: each local endpoint whose interface was found, by that interface. */
export function endpointIfEntries(endpoints: ReadonlyArray<{ key: { addr: string }; value: EndpointInfo }>): Array<{ key: { ifindex: number }; value: EndpointIf }> {
  return endpoints
    .filter((e) => e.value.ifindex !== 0 && !(e.value.flags & EndpointFlags.Host))
    .map((e) => ({ key: { ifindex: e.value.ifindex }, value: { addr: e.key.addr, identity: e.value.identity, flags: e.value.flags, reserved: 0 } }));
}
