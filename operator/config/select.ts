// Which DatapathConfig governs a node: among configs whose nodeSelector matches the node's
// labels, the highest priority; a config without nodeSelector matches every node. Two matching
// configs of equal top priority are a conflict, reported rather than resolved by name order.

import type { DatapathConfigSpec } from '../../api/v1alpha1/index.js';

/** What selection reads of a DatapathConfig. */
export interface DatapathConfigLike {
  metadata: { name: string; generation?: number };
  spec: Pick<DatapathConfigSpec, 'nodeSelector' | 'priority'>;
}

export type Selection<C> = { config: C } | { error: string } | { none: true };

export function selectConfig<C extends DatapathConfigLike>(nodeLabels: Readonly<Record<string, string>>, configs: readonly C[]): Selection<C> {
  const matching = configs.filter((c) => Object.entries(c.spec.nodeSelector ?? {}).every(([k, v]) => nodeLabels[k] === v));
  if (matching.length === 0) return { none: true };
  // A selector-specific config overrides the catch-all at the same priority.
  const rank = (c: C): [number, number] => [c.spec.priority ?? 0, Object.keys(c.spec.nodeSelector ?? {}).length > 0 ? 1 : 0];
  matching.sort((a, b) => rank(b)[0] - rank(a)[0] || rank(b)[1] - rank(a)[1]);
  const [top, next] = matching;
  if (next && rank(top)[0] === rank(next)[0] && rank(top)[1] === rank(next)[1]) {
    const tied = matching.filter((c) => rank(c)[0] === rank(top)[0] && rank(c)[1] === rank(top)[1]).map((c) => c.metadata.name);
    return { error: `DatapathConfigs ${tied.sort().join(', ')} all match with priority ${rank(top)[0]}; give one a higher spec.priority` };
  }
  return { config: top };
}
