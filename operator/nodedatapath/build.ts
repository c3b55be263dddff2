// The NodeDatapath spec of one node, from its effective config, map sizes, local endpoints and
// the policy compiled for their identities. Deterministic: the same inputs give byte-identical
// output, so the operator writes only when something really changed.
import { createHash } from 'node:crypto';
import type { CompileResult } from '../policy/compile.js';
import type { MapSizes } from '../sizing/sizes.js';

export interface LocalEndpoint {
  namespace: string;
  name: string;
  ips: string[];
  identity: number;
}

export interface NodeDatapathSpec {
  revision: number;
  configName: string;
  features: Record<string, unknown>;
  maps: Array<{ name: string; maxEntries: number }>;
  endpoints: Array<LocalEndpoint & { policyEnforced: boolean }>;
  policies: Array<{ identity: number; ingress: unknown[]; egress: unknown[] }>;
  cidrIdentities: Array<{ cidr: string; identity: number }>;
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
  return {
    configName: input.configName,
    features: input.features,
    maps: Object.entries(input.sizes)
      .map(([name, s]) => ({ name, maxEntries: s.maxEntries }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    endpoints: [...input.endpoints]
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
      .map((e) => ({ ...e, policyEnforced: enforced.has(e.identity) })),
    policies: input.compiled.policies.map(({ identity, ingress, egress }) => ({ identity, ingress, egress })),
    cidrIdentities: input.compiled.cidrIdentities,
  };
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
