// Kubernetes label selector semantics (matchLabels AND matchExpressions), over identity labels.
import { namespacePart, NAMESPACE_LABEL, podPart, type Labels } from '../identity/labels.js';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

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

export interface PeerSelector extends LabelSelector {
  /** Absent: the policy's own namespace. Present: namespaces whose labels match ({} = all). */
  namespaceSelector?: LabelSelector;
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
