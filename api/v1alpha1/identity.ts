// Identity (cluster-scoped, crds/identity.yaml): one object per distinct security label set, named
// by its number. This file also holds the identity contract every component shares: the reserved
// numbers and the labels a pod's identity is made of.
import type { WeirObject } from './meta.js';

export interface IdentitySpec {
  namespace: string;
  labels: Record<string, string>;
}

export type Identity = WeirObject<IdentitySpec, never>;

/** Numeric identities with a fixed meaning, never allocated to a label set (Cilium's numbering). */
export const ReservedIdentity = {
  /** Matches any peer in a compiled policy entry. */
  Any: 0,
  Host: 1,
  World: 2,
  /** A pod the runtime has started but NodeDatapath does not name yet: everything denied. */
  Init: 5,
  RemoteNode: 6,
} as const;

/** Cluster-wide identities are allocated from here; below is reserved. */
export const FIRST_ALLOCATED_IDENTITY = 256;
/** Highest cluster-wide identity; above, up to 2^24 - 1, are node-local CIDR identities. */
export const LAST_ALLOCATED_IDENTITY = 15_999_999;
export const FIRST_CIDR_IDENTITY = 16_000_000;
export const LAST_CIDR_IDENTITY = 16_777_215;

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

/** The labels that decide a pod's identity: its own minus per-replica ones, plus its namespace's. */
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
