// Policy compilation: normalised policies + the cluster's identities -> per local identity, the
// list of (peer identity, ports, protocol) -> verdict entries the endpoint policy map holds.
import { NAMESPACE_LABEL, podPart, type Labels } from '../../api/v1alpha1/identity.js';
import { FIRST_CIDR_IDENTITY, LAST_CIDR_IDENTITY, ReservedIdentity } from '../../api/v1alpha1/identity.js';
import { addressIn, cidrWithin, parseCidr4 } from './cidr.js';
import { PROTOCOL_NUMBER, type CompiledIdentityPolicy, type L7Entry, type NormalizedPolicy, type PolicyEntry, type PortSpec, type Protocol, type Rule, type Verdict } from './model.js';
import { matchesPeer, matchesSelector } from './selector.js';

export interface CompileOptions {
  /** Endpoints no policy selects are default-deny too. */
  defaultDeny: boolean;
  /**
   * The node's own addresses reach its pods whatever policy allows (kubelet probes, host-network
   * agents), as Cilium's allow-localhost=always; an explicit deny of the host still wins.
   */
  allowFromHost?: boolean;
  /** The node's L7 proxy port; without it, L7 rules compile to plain allows (with a warning). */
  proxyPort?: number;
  /** Every identity's pod addresses in the cluster (for ipBlocks that cover pods). */
  podAddresses?: ReadonlyMap<number, readonly string[]>;
  /** Every identity's named container ports (for `port: http`). */
  namedPorts?: ReadonlyMap<number, readonly NamedPort[]>;
}

export interface NamedPort {
  name: string;
  port: number;
  protocol: Protocol;
}

export interface CompileResult {
  policies: CompiledIdentityPolicy[];
  /** CIDR peers, each with a node-local identity. */
  cidrIdentities: Array<{ cidr: string; identity: number }>;
  warnings: string[];
}

const ALLOW_ALL: PolicyEntry = { peer: ReservedIdentity.Any, port: 0, protocol: 0, verdict: 'allow' };
const FROM_HOST: PolicyEntry = { peer: ReservedIdentity.Host, port: 0, protocol: 0, verdict: 'allow' };

function entryKey(e: PolicyEntry): string {
  return `${e.peer}/${e.port}-${e.endPort ?? ''}/${e.protocol}`;
}

/** Deny beats redirect beats allow for the same key; duplicates collapse. */
function merge(entries: PolicyEntry[]): PolicyEntry[] {
  const rank: Record<Verdict, number> = { allow: 0, redirect: 1, deny: 2 };
  const byKey = new Map<string, PolicyEntry>();
  for (const e of entries) {
    const k = entryKey(e);
    const cur = byKey.get(k);
    if (!cur || rank[e.verdict] > rank[cur.verdict]) byKey.set(k, e);
  }
  return [...byKey.values()].sort((a, b) => a.peer - b.peer || a.protocol - b.protocol || a.port - b.port);
}

export function compilePolicies(
  localIdentities: ReadonlyArray<number>,
  identities: ReadonlyMap<number, Labels>,
  policies: readonly NormalizedPolicy[],
  opts: CompileOptions,
): CompileResult {
  const warnings: string[] = [];
  for (const p of policies) for (const w of p.warnings) warnings.push(`${p.namespace}/${p.name}: ${w}`);

  // Node-local CIDR identities, numbered in sorted order so the same CIDRs keep the same numbers.
  const cidrs = new Set<string>();
  for (const p of policies)
    for (const r of [...p.ingress, ...p.egress, ...p.ingressDeny, ...p.egressDeny])
      if (r.peers.kind === 'cidr') for (const s of r.peers.sets) [s.cidr, ...s.except].forEach((c) => cidrs.add(c));
  const cidrList = [...cidrs].sort();
  if (cidrList.length > LAST_CIDR_IDENTITY - FIRST_CIDR_IDENTITY + 1) throw new Error('too many distinct CIDRs in policies');
  const cidrId = new Map(cidrList.map((c, i) => [c, FIRST_CIDR_IDENTITY + i]));
  const clusterIds = [...identities.keys()];

  // Every CIDR any policy names, parsed once: a rule's block covers each one inside it.
  const parsed = cidrList.map((c) => ({ id: cidrId.get(c)!, cidr: parseCidr4(c) }));
  const cidrPeers = (sets: ReadonlyArray<{ cidr: string; except: string[] }>, podAddresses: boolean): number[] => {
    const out = new Set<number>();
    for (const s of sets) {
      const block = parseCidr4(s.cidr);
      const excepts = s.except.map(parseCidr4);
      // The ipcache resolves an address to the longest CIDR named anywhere, and every except
      // range is named: so a CIDR inside the block and inside no except is exactly covered.
      for (const p of parsed) if (cidrWithin(p.cidr, block) && !excepts.some((e) => cidrWithin(p.cidr, e))) out.add(p.id);
      // Pods keep their own identity in the ipcache. An identity is covered only when all its
      // pods are: one identity may hold pods inside and outside the block, and covering it for
      // the ones inside would let the others through too.
      if (podAddresses)
        for (const [id, addrs] of opts.podAddresses ?? [])
          if (addrs.length > 0 && addrs.every((a) => addressIn(a, block) && !excepts.some((e) => addressIn(a, e)))) out.add(id);
    }
    return [...out];
  };

  const peersOf = (r: Rule, policyNamespace: string): number[] => {
    switch (r.peers.kind) {
      case 'any':
        return [ReservedIdentity.Any];
      case 'endpoints': {
        const sels = r.peers.selectors;
        return clusterIds.filter((id) => sels.some((s) => matchesPeer(s, identities.get(id)!, policyNamespace)));
      }
      case 'cidr':
        return cidrPeers(r.peers.sets, r.peers.podAddresses === true);
      case 'entities':
        return r.peers.entities.flatMap((e) => {
          switch (e) {
            case 'all':
              return [ReservedIdentity.Any];
            case 'host':
              return [ReservedIdentity.Host];
            case 'remote-node':
              return [ReservedIdentity.RemoteNode];
            case 'world':
              return [ReservedIdentity.World, ...cidrId.values()];
            case 'cluster':
              return [...clusterIds, ReservedIdentity.Host, ReservedIdentity.RemoteNode];
          }
        });
    }
  };

  /** A named port on one identity's pods: every number it stands for there, with the protocol. */
  const named = (id: number, p: PortSpec): number[] =>
    [...new Set((opts.namedPorts?.get(id) ?? []).filter((n) => n.name === p.name && n.protocol === p.protocol).map((n) => n.port))].sort((a, b) => a - b);

  /**
   * Entries for one subject identity. A named port resolves on the pod it names: the subject's
   * own pods for ingress, each destination's for egress (a destination that is no pod, or has no
   * such port, gets no entry: a named port never widens to every port).
   */
  const entriesOf = (subject: number, rules: Rule[], dir: 'ingress' | 'egress', verdict: 'allow' | 'deny', ns: string, label: string, l7: L7Entry[] = []): PolicyEntry[] => {
    const out: PolicyEntry[] = [];
    for (const r of rules) {
      let v: Verdict = verdict;
      if (r.http && verdict === 'allow') {
        if (opts.proxyPort !== undefined) v = 'redirect';
        else warnings.push(`${label}: L7 rules need the L7 proxy (features.l7Proxy); allowing at L4 only`);
      }
      const ports = r.ports.length > 0 ? r.ports : [{ port: 0, protocol: 'ANY' as const }];
      const entry = (peer: number, port: number, p: PortSpec): PolicyEntry => ({
        peer,
        port,
        ...(p.endPort !== undefined && p.name === undefined ? { endPort: p.endPort } : {}),
        protocol: PROTOCOL_NUMBER[p.protocol],
        verdict: v,
        ...(v === 'redirect' ? { proxyPort: opts.proxyPort } : {}),
      });
      const peers = peersOf(r, ns);
      const before = out.length;
      for (const p of ports) {
        if (p.name === undefined) {
          for (const peer of peers) out.push(entry(peer, p.port, p));
        } else if (dir === 'ingress') {
          for (const port of named(subject, p)) for (const peer of peers) out.push(entry(peer, port, p));
        } else {
          // "Any destination" with a named port: every identity whose pods have that port.
          const targets = peers.includes(ReservedIdentity.Any) ? [...(opts.namedPorts?.keys() ?? [])] : peers;
          for (const peer of targets) for (const port of named(peer, p)) out.push(entry(peer, port, p));
        }
      }
      // What the proxy judges on the entries this rule redirects.
      if (v === 'redirect' && r.http)
        for (const e of out.slice(before)) l7.push({ direction: dir, port: e.port, ...(e.endPort !== undefined ? { endPort: e.endPort } : {}), peers: [e.peer], http: r.http });
    }
    return out;
  };

  const compiled: CompiledIdentityPolicy[] = [];
  for (const id of [...new Set(localIdentities)].sort((a, b) => a - b)) {
    const labels = identities.get(id);
    if (!labels) continue;
    const ns = labels[NAMESPACE_LABEL];
    const selecting = policies.filter((p) => p.namespace === ns && matchesSelector(p.endpointSelector, podPart(labels)));
    const l7: L7Entry[] = [];
    const dir = (d: 'ingress' | 'egress'): PolicyEntry[] => {
      const enforced = selecting.some((p) => (d === 'ingress' ? p.enforceIngress : p.enforceEgress));
      const entries: PolicyEntry[] = [];
      for (const p of selecting) {
        const label = `${p.namespace}/${p.name}`;
        entries.push(...entriesOf(id, d === 'ingress' ? p.ingress : p.egress, d, 'allow', p.namespace, label, l7));
        entries.push(...entriesOf(id, d === 'ingress' ? p.ingressDeny : p.egressDeny, d, 'deny', p.namespace, label));
      }
      // Not enforced and not default-deny: everything is allowed, but deny rules still apply.
      if (!enforced && !opts.defaultDeny) entries.push(ALLOW_ALL);
      else if (d === 'ingress' && opts.allowFromHost) entries.push(FROM_HOST);
      const merged = merge(entries);
      // An L4 allow of the same peer and port as a redirect allows every request there (as in
      // Cilium): the redirect wins in the trie, so the proxy gets a rule matching everything.
      const plain = new Set(entries.filter((e) => e.verdict === 'allow').map(entryKey));
      for (const e of merged) if (e.verdict === 'redirect' && plain.has(entryKey(e))) l7.push({ direction: d, port: e.port, ...(e.endPort !== undefined ? { endPort: e.endPort } : {}), peers: [e.peer], http: [{}] });
      return merged;
    };
    compiled.push({ identity: id, ingress: dir('ingress'), egress: dir('egress'), selectedBy: selecting.map((p) => `${p.namespace}/${p.name}`).sort(), l7 });
  }
  return { policies: compiled, cidrIdentities: cidrList.map((cidr) => ({ cidr, identity: cidrId.get(cidr)! })), warnings: [...new Set(warnings)] };
}
