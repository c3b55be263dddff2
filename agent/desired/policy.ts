// weir_policy contents from NodeDatapath's compiled policy (entries over interned peer sets).
import { PolicyDir, policyEntries, type PolicyKey, type PolicyMapEntry } from '../../common/maps/policy.js';
import { expandEntries, type ResolvedNodeDatapathSpec as NodeDatapathSpec } from '../../api/v1alpha1/index.js';

export function policyMapContents(spec: Pick<NodeDatapathSpec, 'policies' | 'peerSets'>): Array<{ key: PolicyKey; value: PolicyMapEntry }> {
  return spec.policies.flatMap((p) => [
    ...policyEntries(p.identity, PolicyDir.Ingress, expandEntries(p.ingress, spec.peerSets)),
    ...policyEntries(p.identity, PolicyDir.Egress, expandEntries(p.egress, spec.peerSets)),
  ]);
}
