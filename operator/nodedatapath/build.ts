// The NodeDatapath spec of one node, from its effective config, map sizes, local endpoints and
// the policy compiled for their identities. Deterministic: the same inputs give byte-identical
// output, so the operator writes only when something really changed.
import { createHash } from 'node:crypto';
import type { CompileResult } from '../policy/compile.js';
import type { PolicyEntry } from '../policy/model.js';
import type { ResizeGate } from '../rollout/gate.js';
import type { MapSizes } from '../sizing/sizes.js';

/** Endpoints (and so local policies) one NodeDatapath holds: `maxItems` in crds/nodedatapath.yaml. */
export const MAX_NODE_ENDPOINTS = 512;

export interface LocalEndpoint {
  namespace: string;
  name: string;
  ips: string[];
  identity: number;
}

/** A compiled entry whose peers are a peer set: (peer set, ports, protocol) -> verdict. */
export interface CompactEntry {
  peerSet: number;
  port: number;
  endPort?: number;
  protocol: number;
  verdict: PolicyEntry['verdict'];
  proxyPort?: number;
}

export interface NodeDatapathSpec {
  revision: number;
  configName: string;
  features: Record<string, unknown>;
  maps: Array<{ name: string; maxEntries: number }>;
  endpoints: Array<LocalEndpoint & { policyEnforced: boolean }>;
  /**
   * Each distinct list of peer identities once: with 5,000 identities, a policy allowing the
   * "cluster" entity would otherwise repeat all of them for every local identity and port.
   */
  peerSets: Array<{ id: number; identities: number[] }>;
  policies: Array<{ identity: number; ingress: CompactEntry[]; egress: CompactEntry[] }>;
  cidrIdentities: Array<{ cidr: string; identity: number }>;
  /** Opened by the resize rollout (operator/rollout/gate.ts). */
  resizeGate?: ResizeGate;
}

export type NodeDatapathContent = Omit<NodeDatapathSpec, 'revision'>;

export function buildNodeDatapath(input: {
  configName: string;
  features: Record<string, unknown>;
  sizes: MapSizes;
  endpoints: readonly LocalEndpoint[];
  compiled: CompileResult;
}): NodeDatapathContent {
  const enforced = new Set(input.compiled.policies.filter((p) => p.selectedBy.length > 0).map((p) => p.identity));
  const sets = new PeerSets();
  const policies = input.compiled.policies.map(({ identity, ingress, egress }) => ({ identity, ingress: compact(ingress, sets), egress: compact(egress, sets) }));
  return {
    configName: input.configName,
    features: input.features,
    maps: Object.entries(input.sizes)
      .map(([name, s]) => ({ name, maxEntries: s.maxEntries }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    endpoints: [...input.endpoints]
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
      .map((e) => ({ ...e, policyEnforced: enforced.has(e.identity) })),
    peerSets: sets.list(),
    policies,
    cidrIdentities: input.compiled.cidrIdentities,
  };
}

/** Interns peer lists; ids follow first use, which is deterministic for a given input. */
class PeerSets {
  private readonly ids = new Map<string, number>();
  private readonly sets: Array<{ id: number; identities: number[] }> = [];

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

  list(): Array<{ id: number; identities: number[] }> {
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

/** Expands a compact entry list back into one entry per peer (what the agent writes to the map). */
export function expandEntries(entries: readonly CompactEntry[], peerSets: ReadonlyArray<{ id: number; identities: number[] }>): PolicyEntry[] {
  const byId = new Map(peerSets.map((s) => [s.id, s.identities]));
  return entries.flatMap(({ peerSet, ...rest }) => (byId.get(peerSet) ?? []).map((peer) => ({ peer, ...rest })));
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
