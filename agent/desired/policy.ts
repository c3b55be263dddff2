// weir_policy contents from NodeDatapath's compiled policy (entries over interned peer sets).
import { expandEntries } from '../../operator/nodedatapath/build.js';
import { PolicyDir, policyEntries, type PolicyKey, type PolicyMapEntry } from '../maps/policy.js';
import type { NodeDatapathSpec } from '../nodedatapath.js';

export function policyMapContents(spec: Pick<NodeDatapathSpec, 'policies' | 'peerSets'>): Array<{ key: PolicyKey; value: PolicyMapEntry }> {
  return spec.policies.flatMap((p) => [
    ...policyEntries(p.identity, PolicyDir.Ingress, expandEntries(p.ingress, spec.peerSets)),
    ...policyEntries(p.identity, PolicyDir.Egress, expandEntries(p.egress, spec.peerSets)),
  ]);
}
