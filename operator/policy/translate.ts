// weir.dev NetworkPolicy and networking.k8s.io/v1 NetworkPolicy objects into NormalizedPolicy.
import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import type { Entity, NormalizedPolicy, PortSpec, Protocol, Rule } from './model.js';
import type { LabelSelector, PeerSelector } from './selector.js';

interface WeirPorts {
  ports: Array<{ port?: number; endPort?: number; protocol?: Protocol }>;
  rules?: { http?: unknown[] };
}

interface WeirRule {
  fromEndpoints?: PeerSelector[];
  toEndpoints?: PeerSelector[];
  fromCIDR?: string[];
  toCIDR?: string[];
  fromCIDRSet?: Array<{ cidr: string; except?: string[] }>;
  toCIDRSet?: Array<{ cidr: string; except?: string[] }>;
  fromEntities?: Entity[];
  toEntities?: Entity[];
  toPorts?: WeirPorts[];
}

export interface WeirNetworkPolicy {
  metadata: { name: string; namespace: string };
  spec: {
    endpointSelector: LabelSelector;
    ingress?: WeirRule[];
    egress?: WeirRule[];
    ingressDeny?: WeirRule[];
    egressDeny?: WeirRule[];
  };
}

function weirRule(r: WeirRule, dir: 'from' | 'to'): Rule {
  const endpoints = dir === 'from' ? r.fromEndpoints : r.toEndpoints;
  const cidrs = dir === 'from' ? r.fromCIDR : r.toCIDR;
  const sets = dir === 'from' ? r.fromCIDRSet : r.toCIDRSet;
  const entities = dir === 'from' ? r.fromEntities : r.toEntities;
  let peers: Rule['peers'] = { kind: 'any' };
  if (endpoints) peers = { kind: 'endpoints', selectors: endpoints };
  else if (cidrs || sets)
    peers = { kind: 'cidr', sets: [...(cidrs ?? []).map((cidr) => ({ cidr, except: [] })), ...(sets ?? []).map((s) => ({ cidr: s.cidr, except: s.except ?? [] }))] };
  else if (entities) peers = { kind: 'entities', entities };
  const ports: PortSpec[] = [];
  let l7 = false;
  for (const tp of r.toPorts ?? []) {
    if ((tp.rules?.http?.length ?? 0) > 0) l7 = true;
    for (const p of tp.ports) ports.push({ port: p.port ?? 0, endPort: p.endPort, protocol: p.protocol ?? 'ANY' });
  }
  return { peers, ports, l7 };
}

export function fromWeirPolicy(p: WeirNetworkPolicy): NormalizedPolicy {
  const s = p.spec;
  const has = (rules?: WeirRule[]): boolean => rules !== undefined && rules.length > 0;
  return {
    source: 'weir',
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    endpointSelector: s.endpointSelector,
    // Any allow or deny section makes the direction default-deny (Cilium's semantics; an
    // "allow all" rule next to deny rules keeps the rest open).
    enforceIngress: has(s.ingress) || has(s.ingressDeny),
    enforceEgress: has(s.egress) || has(s.egressDeny),
    ingress: (s.ingress ?? []).map((r) => weirRule(r, 'from')),
    egress: (s.egress ?? []).map((r) => weirRule(r, 'to')),
    ingressDeny: (s.ingressDeny ?? []).map((r) => weirRule(r, 'from')),
    egressDeny: (s.egressDeny ?? []).map((r) => weirRule(r, 'to')),
    warnings: [],
  };
}

function k8sPorts(ports: V1NetworkPolicyPort[] | undefined, warnings: string[]): PortSpec[] {
  const out: PortSpec[] = [];
  for (const p of ports ?? []) {
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    if (typeof p.port === 'string') {
      warnings.push(`named port ${p.port} is not supported; use the port number`);
      continue;
    }
    out.push({ port: p.port ?? 0, endPort: p.endPort, protocol });
  }
  return out;
}

function k8sPeers(peers: V1NetworkPolicyPeer[] | undefined): Array<Rule['peers']> {
  // An absent or empty peer list means every source or destination.
  if (!peers || peers.length === 0) return [{ kind: 'any' }];
  const out: Array<Rule['peers']> = [];
  const selectors: PeerSelector[] = [];
  for (const peer of peers) {
    if (peer.ipBlock) {
      out.push({ kind: 'cidr', sets: [{ cidr: peer.ipBlock.cidr, except: peer.ipBlock.except ?? [] }] });
    } else {
      selectors.push({
        ...(peer.podSelector as LabelSelector | undefined),
        ...(peer.namespaceSelector ? { namespaceSelector: peer.namespaceSelector as LabelSelector } : {}),
      });
    }
  }
  if (selectors.length > 0) out.push({ kind: 'endpoints', selectors });
  return out;
}

export function fromK8sPolicy(p: V1NetworkPolicy): NormalizedPolicy {
  const spec = p.spec ?? {};
  const warnings: string[] = [];
  const types = spec.policyTypes ?? (spec.egress && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress']);
  const rules = (items: Array<{ peers?: V1NetworkPolicyPeer[]; ports?: V1NetworkPolicyPort[] }>): Rule[] =>
    items.flatMap((r) => {
      const ports = k8sPorts(r.ports, warnings);
      // Every port of a rule was a named port: nothing left to allow, rather than allowing all.
      if ((r.ports?.length ?? 0) > 0 && ports.length === 0) return [];
      return k8sPeers(r.peers).map((peers) => ({ peers, ports, l7: false }));
    });
  return {
    source: 'k8s',
    namespace: p.metadata?.namespace ?? 'default',
    name: p.metadata?.name ?? '',
    endpointSelector: (spec.podSelector ?? {}) as LabelSelector,
    enforceIngress: types.includes('Ingress'),
    enforceEgress: types.includes('Egress'),
    ingress: rules((spec.ingress ?? []).map((r) => ({ peers: r._from, ports: r.ports }))),
    egress: rules((spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }))),
    ingressDeny: [],
    egressDeny: [],
    warnings,
  };
}
