// Kubernetes status conditions, as every Weir object's status carries them.

import type { Condition } from '../api/v1alpha1/meta.js';

export type { Condition };

/**
 * The CRDs' bound on a condition message (maxLength 32768 characters): a status write over it is
 * refused whole, which would leave every condition stale. Messages are kept well under it.
 */
export const MAX_CONDITION_MESSAGE = 4096;

/**
 * Many findings in one message that stays readable and bounded at any cluster size: the count,
 * the first few in full, and how many more.
 */
export function summarize(items: readonly string[], first = 5): string {
  if (items.length <= first) return items.join('; ');
  return `${items.length} findings, the first ${first}: ${items.slice(0, first).join('; ')}; and ${items.length - first} more`;
}

/** Cut to the bound, saying how much was cut. */
export function bounded(message: string, max = MAX_CONDITION_MESSAGE): string {
  if (message.length <= max) return message;
  const note = ` ... (${message.length - max} more characters)`;
  return message.slice(0, max - note.length) + note;
}

/** A condition that keeps its lastTransitionTime while its status and reason stay the same; its message bounded. */
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
  const c: Condition = { type, status, reason, message: bounded(message), lastTransitionTime: same ? old.lastTransitionTime : new Date().toISOString() };
  if (observedGeneration !== undefined) c.observedGeneration = observedGeneration;
  return c;
}
