// Policy compilation: normalised policies + the cluster's identities -> per local identity, the
// list of (peer identity, ports, protocol) -> verdict entries the endpoint policy map holds.
import { NAMESPACE_LABEL, podPart, type Labels } from '../identity/labels.js';
import { FIRST_CIDR_IDENTITY, LAST_CIDR_IDENTITY, ReservedIdentity } from '../identity/reserved.js';
import { PROTOCOL_NUMBER, type CompiledIdentityPolicy, type NormalizedPolicy, type PolicyEntry, type Rule, type Verdict } from './model.js';
import { matchesPeer, matchesSelector } from './selector.js';

export interface CompileOptions {
  /** Endpoints no policy selects are default-deny too. */
  defaultDeny: boolean;
  /** The node's L7 proxy port; without it, L7 rules compile to plain allows (with a warning). */
  proxyPort?: number;
}

export interface CompileResult {
  policies: CompiledIdentityPolicy[];
  /** CIDR peers, each with a node-local identity. */
  cidrIdentities: Array<{ cidr: string; identity: number }>;
  warnings: string[];
}

const ALLOW_ALL: PolicyEntry = { peer: ReservedIdentity.Any, port: 0, protocol: 0, verdict: 'allow' };

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

  const peersOf = (r: Rule, policyNamespace: string): number[] => {
    switch (r.peers.kind) {
      case 'any':
        return [ReservedIdentity.Any];
      case 'endpoints': {
        const sels = r.peers.selectors;
        return clusterIds.filter((id) => sels.some((s) => matchesPeer(s, identities.get(id)!, policyNamespace)));
      }
      case 'cidr':
        // Except ranges keep their own identity, which no entry here allows: the ipcache's
        // longest-prefix match hands their addresses that identity, so they stay out.
        return r.peers.sets.map((s) => cidrId.get(s.cidr)!);
      case 'entities':
        return r.peers.entities.flatMap((e) => {
          switch (e) {
            case 'all':
              return [ReservedIdentity.Any];
            case 'host':
              return [ReservedIdentity.Host];
            case 'world':
              return [ReservedIdentity.World, ...cidrId.values()];
            case 'cluster':
              return [...clusterIds, ReservedIdentity.Host, ReservedIdentity.RemoteNode];
          }
        });
    }
  };

  const entriesOf = (rules: Rule[], verdict: 'allow' | 'deny', ns: string, label: string): PolicyEntry[] => {
    const out: PolicyEntry[] = [];
    for (const r of rules) {
      let v: Verdict = verdict;
      if (r.l7 && verdict === 'allow') {
        if (opts.proxyPort !== undefined) v = 'redirect';
        else warnings.push(`${label}: L7 rules need the L7 proxy (features.l7Proxy); allowing at L4 only`);
      }
      const ports = r.ports.length > 0 ? r.ports : [{ port: 0, protocol: 'ANY' as const }];
      for (const peer of peersOf(r, ns))
        for (const p of ports)
          out.push({
            peer,
            port: p.port,
            ...(p.endPort !== undefined ? { endPort: p.endPort } : {}),
            protocol: PROTOCOL_NUMBER[p.protocol],
            verdict: v,
            ...(v === 'redirect' ? { proxyPort: opts.proxyPort } : {}),
          });
    }
    return out;
  };

  const compiled: CompiledIdentityPolicy[] = [];
  for (const id of [...new Set(localIdentities)].sort((a, b) => a - b)) {
    const labels = identities.get(id);
    if (!labels) continue;
    const ns = labels[NAMESPACE_LABEL];
    const selecting = policies.filter((p) => p.namespace === ns && matchesSelector(p.endpointSelector, podPart(labels)));
    const dir = (d: 'ingress' | 'egress'): PolicyEntry[] => {
      const enforced = selecting.some((p) => (d === 'ingress' ? p.enforceIngress : p.enforceEgress));
      const entries: PolicyEntry[] = [];
      for (const p of selecting) {
        const label = `${p.namespace}/${p.name}`;
        entries.push(...entriesOf(d === 'ingress' ? p.ingress : p.egress, 'allow', p.namespace, label));
        entries.push(...entriesOf(d === 'ingress' ? p.ingressDeny : p.egressDeny, 'deny', p.namespace, label));
      }
      // Not enforced and not default-deny: everything is allowed, but deny rules still apply.
      if (!enforced && !opts.defaultDeny) entries.push(ALLOW_ALL);
      return merge(entries);
    };
    compiled.push({ identity: id, ingress: dir('ingress'), egress: dir('egress'), selectedBy: selecting.map((p) => `${p.namespace}/${p.name}`).sort() });
  }
  return { policies: compiled, cidrIdentities: cidrList.map((cidr) => ({ cidr, identity: cidrId.get(cidr)! })), warnings: [...new Set(warnings)] };
}
