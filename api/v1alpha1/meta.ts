// Shapes every weir.dev object shares.
import type { KubernetesObject } from '@kubernetes/client-node';

/** A status condition, as metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

/** A weir.dev object as the API server returns it: spec written by its owner, status by its reporter. */
export type WeirObject<Spec, Status> = KubernetesObject & { spec?: Spec; status?: Status };

/** Kubernetes label selector, as metav1.LabelSelector. */
export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** An object as the API server returns it: named, and with the spec every weir.dev CRD requires. */
export type Stored<O extends WeirObject<unknown, unknown>> = O & { metadata: { name: string }; spec: NonNullable<O['spec']> };
