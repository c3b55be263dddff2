// The NodeDatapath spec of one node, from its effective config, map sizes, local endpoints and
// the policy compiled for their identities. Deterministic: the same inputs give byte-identical
// output, so the operator writes only when something really changed.
import { createHash } from 'node:crypto';
import type { CompactEntry, Features, L7Rules, LocalEndpoint, NodeEncryption, PeerSet, PolicyEntry, ResolvedNodeDatapathSpec } from '../../api/v1alpha1/index.js';
import type { CompileResult } from '../policy/compile.js';
import type { MapSizes } from '../sizing/sizes.js';

/** What the operator writes: every list present. */
export type NodeDatapathContent = Omit<ResolvedNodeDatapathSpec, 'revision'>;

export function buildNodeDatapath(input: {
  configName: string;
  features: Features;
  sizes: MapSizes;
  endpoints: readonly LocalEndpoint[];
  compiled: CompileResult;
  encryption?: NodeEncryption;
}): NodeDatapathContent {
  // An endpoint no policy selects is judged too when the config denies by default: its compiled
  // policy then holds only what allowFromHost adds, and without the enforcement flags the datapath
  // would let every packet through.
  const defaultDeny = input.features.endpointPolicy?.defaultDeny === true;
  const enforced = new Set(input.compiled.policies.filter((p) => p.selectedBy.length > 0).map((p) => p.identity));
  const sets = new PeerSets();
  const policies = input.compiled.policies.map(({ identity, ingress, egress }) => ({ identity, ingress: compact(ingress, sets), egress: compact(egress, sets) }));
  const l7 = l7Rules(input.compiled, sets);
  return {
    configName: input.configName,
    features: input.features,
    maps: Object.entries(input.sizes)
      .map(([name, s]) => ({ name, maxEntries: s.maxEntries }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    endpoints: [...input.endpoints]
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
      .map((e) => ({ ...e, policyEnforced: defaultDeny || enforced.has(e.identity) })),
    peerSets: sets.list(),
    policies,
    cidrIdentities: input.compiled.cidrIdentities,
    l7Rules: l7,
    ...(input.encryption ? { encryption: input.encryption } : {}),
  };
}

/** The proxy's rules, one per (identity, direction, ports, rules) over the union of their peers. */
function l7Rules(compiled: CompileResult, sets: PeerSets): L7Rules[] {
  const out: L7Rules[] = [];
  for (const p of compiled.policies) {
    const groups = new Map<string, { e: (typeof p.l7)[number]; peers: Set<number> }>();
    for (const e of p.l7) {
      const k = JSON.stringify([e.direction, e.port, e.endPort ?? null, e.http]);
      const g = groups.get(k) ?? { e, peers: new Set<number>() };
      for (const peer of e.peers) g.peers.add(peer);
      groups.set(k, g);
    }
    for (const { e, peers } of groups.values())
      out.push({ identity: p.identity, direction: e.direction, port: e.port, ...(e.endPort !== undefined ? { endPort: e.endPort } : {}), peerSet: sets.intern([...peers]), http: e.http });
  }
  return out;
}

/** Interns peer lists; ids follow first use, which is deterministic for a given input. */
class PeerSets {
  private readonly ids = new Map<string, number>();
  private readonly sets: PeerSet[] = [];

  intern(identities: number[]): number {
    const sorted = [...identities].sort((a, b) => a - b);
    const key = sorted.join(',');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.ids.set(key, id);
      this.sets.push({ id, identities: sorted });
    }
    return id;
  }

  list(): PeerSet[] {
    return this.sets;
  }
}

/** Groups entries that differ only in peer into one entry over a peer set. */
function compact(entries: readonly PolicyEntry[], sets: PeerSets): CompactEntry[] {
  const groups = new Map<string, { e: PolicyEntry; peers: number[] }>();
  for (const e of entries) {
    const k = `${e.port}/${e.endPort ?? ''}/${e.protocol}/${e.verdict}/${e.proxyPort ?? ''}`;
    const g = groups.get(k);
    if (g) g.peers.push(e.peer);
    else groups.set(k, { e, peers: [e.peer] });
  }
  return [...groups.values()].map(({ e, peers }) => {
    const { peer: _peer, ...rest } = e;
    return { peerSet: sets.intern(peers), ...rest };
  });
}

/** Stable digest of the content (key order normalised), kept in an annotation to skip no-op writes. */
export function contentHash(c: NodeDatapathContent): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
        : v;
  return createHash('sha256').update(JSON.stringify(canonical(c))).digest('hex').slice(0, 32);
}
