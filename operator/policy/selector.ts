// Kubernetes label selector semantics (matchLabels AND matchExpressions), over identity labels.
import { namespacePart, NAMESPACE_LABEL, podPart, type LabelSelector, type Labels, type PeerSelector } from '../../api/v1alpha1/index.js';

export type { LabelSelector, PeerSelector };

/** An empty selector matches everything, as in Kubernetes. */
export function matchesSelector(sel: LabelSelector | undefined, labels: Labels): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
      case 'In':
        if (!has || !(req.values ?? []).includes(value)) return false;
        break;
      case 'NotIn':
        if (has && (req.values ?? []).includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Whether an identity (security labels) is selected by a peer selector of a policy in `policyNamespace`. */
export function matchesPeer(sel: PeerSelector, identityLabels: Labels, policyNamespace: string): boolean {
  const ns = identityLabels[NAMESPACE_LABEL];
  if (ns === undefined) return false;
  if (sel.namespaceSelector === undefined) {
    if (ns !== policyNamespace) return false;
  } else if (!matchesSelector(sel.namespaceSelector, { ...namespacePart(identityLabels), 'kubernetes.io/metadata.name': ns })) {
    return false;
  }
  return matchesSelector({ matchLabels: sel.matchLabels, matchExpressions: sel.matchExpressions }, podPart(identityLabels));
}
