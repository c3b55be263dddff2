// weir.dev NetworkPolicy and networking.k8s.io/v1 NetworkPolicy objects into NormalizedPolicy.
// What the datapath cannot honour (IPv6 peers, an unparsable CIDR, HTTP rules without the L7
// proxy) is left out of the rule that names it, and said in `warnings`: a part left out of an
// allow rule allows less, never more; one left out of a deny rule is said loudly, since the
// traffic it names is dropped anyway for a selected pod (non-IPv4 fails closed).
import { compileHttpRule } from '../../common/l7/rules.js';
import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import type { NormalizedPolicy, PortSpec, Protocol, Rule } from './model.js';
import type { EgressRule, IngressRule, LabelSelector, NetworkPolicy, NetworkPolicySpec, PeerSelector } from '../../api/v1alpha1/index.js';

type WeirRule = IngressRule & EgressRule;
/** A weir.dev NetworkPolicy with its name, namespace and spec. */
export type WeirNetworkPolicy = NetworkPolicy & { metadata: { name: string; namespace: string }; spec: NetworkPolicySpec };

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/;

/** Why the datapath cannot use this CIDR, or undefined when it can (IPv4, well-formed). */
export function cidrProblem(cidr: string): string | undefined {
  if (cidr.includes(':')) return 'IPv6, which the datapath does not enforce yet';
  const m = IPV4_CIDR.exec(cidr);
  if (!m || [m[1], m[2], m[3], m[4]].some((o) => Number(o) > 255) || (m[6] !== undefined && Number(m[6]) > 32)) return 'not an IPv4 CIDR';
  return undefined;
}

/** The usable CIDR sets, each except filtered too; what is left out goes to `warn`. */
function cidrSets(sets: Array<{ cidr: string; except: string[] }>, where: string, warn: (m: string) => void): Array<{ cidr: string; except: string[] }> {
  const out: Array<{ cidr: string; except: string[] }> = [];
  for (const s of sets) {
    const problem = cidrProblem(s.cidr);
    if (problem) {
      warn(`${where}: ${s.cidr} is ${problem}; this peer is left out`);
      continue;
    }
    const except = s.except.filter((e) => {
      const p = cidrProblem(e);
      // An IPv6 except inside an IPv4 block cannot overlap it; anything else unusable is said.
      if (p && !e.includes(':')) warn(`${where}: except ${e} is ${p}; ignored`);
      return !p;
    });
    out.push({ cidr: s.cidr, except });
  }
  return out;
}

function weirRule(r: WeirRule, dir: 'from' | 'to', where: string, warn: (m: string) => void): Rule[] {
  const endpoints = dir === 'from' ? r.fromEndpoints : r.toEndpoints;
  const cidrs = dir === 'from' ? r.fromCIDR : r.toCIDR;
  const sets = dir === 'from' ? r.fromCIDRSet : r.toCIDRSet;
  const entities = dir === 'from' ? r.fromEntities : r.toEntities;
  let peers: Rule['peers'] = { kind: 'any' };
  if (endpoints) peers = { kind: 'endpoints', selectors: endpoints };
  else if (cidrs || sets)
    peers = {
      kind: 'cidr',
      sets: cidrSets([...(cidrs ?? []).map((cidr) => ({ cidr, except: [] })), ...(sets ?? []).map((s) => ({ cidr: s.cidr, except: s.except ?? [] }))], `${where}.${dir}CIDR`, warn),
    };
  else if (entities) peers = { kind: 'entities', entities };
  if (!r.toPorts?.length) return [{ peers, ports: [] }];
  // One rule per toPorts entry: its HTTP rules apply to its own ports only.
  return r.toPorts.map((tp, i) => {
    const ports = tp.ports.map((p) => portSpec(p.port, p.endPort, p.protocol ?? 'ANY'));
    if (!tp.rules?.http?.length) return { peers, ports };
    // A rule that cannot be compiled is left out: one alternative fewer never allows more.
    const http = tp.rules.http.filter((h, j) => {
      try {
        compileHttpRule(h);
        return true;
      } catch (err) {
        warn(`${where}.toPorts[${i}].rules.http[${j}]: ${err instanceof Error ? err.message : String(err)}; that HTTP rule is left out`);
        return false;
      }
    });
    return { peers, ports, http };
  });
}

function portSpec(port: number | string | undefined, endPort: number | undefined, protocol: Protocol): PortSpec {
  if (typeof port === 'string' && !/^\d+$/.test(port)) return { port: 0, protocol, name: port };
  return { port: Number(port ?? 0), ...(endPort !== undefined ? { endPort } : {}), protocol };
}

export function fromWeirPolicy(p: WeirNetworkPolicy): NormalizedPolicy {
  const s = p.spec;
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const has = (rules?: WeirRule[]): boolean => rules !== undefined && rules.length > 0;
  const rules = (section: 'ingress' | 'egress' | 'ingressDeny' | 'egressDeny', dir: 'from' | 'to'): Rule[] => (s[section] ?? []).flatMap((r, i) => weirRule(r, dir, `${section}[${i}]`, warn));
  return {
    source: 'weir',
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    endpointSelector: s.endpointSelector,
    // Any allow or deny section makes the direction default-deny (Cilium's semantics; an
    // "allow all" rule next to deny rules keeps the rest open).
    enforceIngress: has(s.ingress) || has(s.ingressDeny),
    enforceEgress: has(s.egress) || has(s.egressDeny),
    ingress: rules('ingress', 'from'),
    egress: rules('egress', 'to'),
    ingressDeny: rules('ingressDeny', 'from'),
    egressDeny: rules('egressDeny', 'to'),
    warnings,
  };
}

function k8sPorts(ports: V1NetworkPolicyPort[] | undefined): PortSpec[] {
  // The API defaults protocol to TCP; a port without a number means every port of the protocol.
  return (ports ?? []).map((p) => portSpec(p.port, p.endPort, (p.protocol ?? 'TCP') as Protocol));
}

function k8sPeers(peers: V1NetworkPolicyPeer[] | undefined, where: string, warn: (m: string) => void): Array<Rule['peers']> {
  // An absent or empty peer list means every source or destination.
  if (!peers || peers.length === 0) return [{ kind: 'any' }];
  const out: Array<Rule['peers']> = [];
  const selectors: PeerSelector[] = [];
  peers.forEach((peer, i) => {
    if (peer.ipBlock) {
      const sets = cidrSets([{ cidr: peer.ipBlock.cidr, except: peer.ipBlock.except ?? [] }], `${where}[${i}].ipBlock`, warn);
      // ipBlock selects pod addresses too (the upstream conformance cases rely on it).
      if (sets.length > 0) out.push({ kind: 'cidr', sets, podAddresses: true });
    } else {
      selectors.push({
        ...(peer.podSelector as LabelSelector | undefined),
        ...(peer.namespaceSelector ? { namespaceSelector: peer.namespaceSelector as LabelSelector } : {}),
      });
    }
  });
  if (selectors.length > 0) out.push({ kind: 'endpoints', selectors });
  return out;
}

export function fromK8sPolicy(p: V1NetworkPolicy): NormalizedPolicy {
  const spec = p.spec ?? {};
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const types = spec.policyTypes ?? (spec.egress && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress']);
  const rules = (section: string, items: Array<{ peers?: V1NetworkPolicyPeer[]; ports?: V1NetworkPolicyPort[] }>, peersField: string): Rule[] =>
    items.flatMap((r, i) => {
      const ports = k8sPorts(r.ports);
      // Every peer left out: the rule allows nothing (an empty list would mean "every peer").
      return k8sPeers(r.peers, `${section}[${i}].${peersField}`, warn).map((peers) => ({ peers, ports }));
    });
  return {
    source: 'k8s',
    namespace: p.metadata?.namespace ?? 'default',
    name: p.metadata?.name ?? '',
    endpointSelector: (spec.podSelector ?? {}) as LabelSelector,
    enforceIngress: types.includes('Ingress'),
    enforceEgress: types.includes('Egress'),
    // client-node's model names the ingress peers `_from` (the API server's `from`): objects
    // reach here as models, converted once in common/wire.ts.
    ingress: rules('ingress', (spec.ingress ?? []).map((r) => ({ peers: r._from, ports: r.ports })), 'from'),
    egress: rules('egress', (spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })), 'to'),
    ingressDeny: [],
    egressDeny: [],
    warnings,
  };
}
