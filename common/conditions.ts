// Kubernetes status conditions, as every Weir object's status carries them.

import type { Condition } from '../api/v1alpha1/meta.js';

export type { Condition };

/** A condition that keeps its lastTransitionTime while its status and reason stay the same. */
export function condition(
  prev: readonly Condition[],
  type: string,
  status: 'True' | 'False',
  reason: string,
  message: string,
  observedGeneration?: number,
): Condition {
  const old = prev.find((c) => c.type === type);
  const same = old && old.status === status && old.reason === reason;
  const c: Condition = { type, status, reason, message, lastTransitionTime: same ? old.lastTransitionTime : new Date().toISOString() };
  if (observedGeneration !== undefined) c.observedGeneration = observedGeneration;
  return c;
}
