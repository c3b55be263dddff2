// LB map demand from Services and EndpointSlices: Σ over load-balanced services of
// (backends × ports), backends being the distinct ready endpoint addresses.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { lbEntriesNeeded } from './sizes.js';

export function lbDemand(services: readonly V1Service[], slices: readonly V1EndpointSlice[]): number {
  const backends = new Map<string, Set<string>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${s.metadata?.namespace}/${svc}`;
    const set = backends.get(key) ?? new Set<string>();
    for (const ep of s.endpoints ?? []) if (ep.conditions?.ready !== false) for (const a of ep.addresses) set.add(a);
    backends.set(key, set);
  }
  const balanced = services.filter((s) => s.spec?.type !== 'ExternalName' && s.spec?.clusterIP !== 'None' && (s.spec?.ports?.length ?? 0) > 0);
  return lbEntriesNeeded(
    balanced.map((s) => ({ ports: s.spec!.ports!.length, backends: backends.get(`${s.metadata?.namespace}/${s.metadata?.name}`)?.size ?? 0 })),
  );
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Service frontends, as the agent makes them (agent/desired/services.ts), each a reverse-NAT index. */
export interface FrontendCounts {
  /** (cluster and external IPv4 addresses) × ports: the same on every node. */
  fixed: number;
  /** Node ports: each one a frontend on every address of the node. */
  perNodeAddress: number;
}

export function lbFrontendCounts(services: readonly V1Service[]): FrontendCounts {
  const c: FrontendCounts = { fixed: 0, perNodeAddress: 0 };
  for (const svc of services) {
    const spec = svc.spec;
    if (!spec || spec.type === 'ExternalName' || spec.clusterIP === 'None' || !spec.ports?.length) continue;
    const cluster = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((a) => IPV4.test(a)).length;
    const external = [...(spec.externalIPs ?? []), ...(svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '')].filter((a) => IPV4.test(a)).length;
    c.fixed += spec.ports.length * (cluster + external);
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') c.perNodeAddress += spec.ports.filter((p) => p.nodePort).length;
  }
  return c;
}

/** Frontends one node with `nodeAddresses` addresses programs. */
export const lbFrontends = (c: FrontendCounts, nodeAddresses: number): number => c.fixed + c.perNodeAddress * nodeAddresses;
