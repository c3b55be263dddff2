// The labels that decide a pod's security identity: its own labels, minus those that differ
// between replicas of one workload, plus its namespace's labels and name.

/** Labels unique per pod or per rollout: keeping them would give every replica its own identity. */
const IGNORED_POD_LABELS: ReadonlySet<string> = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'controller-uid',
  'job-name',
]);

/** Label carrying the namespace name, as in Kubernetes' kubernetes.io/metadata.name. */
export const NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
/** Namespace labels are kept with this prefix so they never clash with pod labels. */
export const NAMESPACE_LABEL_PREFIX = 'ns:';

export type Labels = Readonly<Record<string, string>>;

export function securityLabels(podLabels: Labels | undefined, namespace: string, namespaceLabels: Labels | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(podLabels ?? {})) if (!IGNORED_POD_LABELS.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(namespaceLabels ?? {})) out[`${NAMESPACE_LABEL_PREFIX}${k}`] = v;
  out[NAMESPACE_LABEL] = namespace;
  return out;
}

/** Canonical form of a label set: equal sets give equal keys. */
export function identityKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** The pod labels part (without namespace labels), as selectors without a namespace see them. */
export function podPart(labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (!k.startsWith(NAMESPACE_LABEL_PREFIX) && k !== NAMESPACE_LABEL) out[k] = v;
  return out;
}

/** The namespace labels part, prefix removed. */
export function namespacePart(labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k.startsWith(NAMESPACE_LABEL_PREFIX)) out[k.slice(NAMESPACE_LABEL_PREFIX.length)] = v;
  return out;
}
