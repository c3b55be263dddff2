import { FIRST_ALLOCATED_IDENTITY, LAST_ALLOCATED_IDENTITY } from '../../api/v1alpha1/identity.js';

/**
 * The lowest free identity at or after `hint`, wrapping once. Low numbers first keeps ids
 * small and dense; the hint lets a caller that lost a create race move on without rescanning.
 */
export function nextFreeIdentity(used: ReadonlySet<number>, hint = FIRST_ALLOCATED_IDENTITY): number {
  const span = LAST_ALLOCATED_IDENTITY - FIRST_ALLOCATED_IDENTITY + 1;
  const start = Math.min(Math.max(hint, FIRST_ALLOCATED_IDENTITY), LAST_ALLOCATED_IDENTITY);
  for (let i = 0; i < span; i++) {
    const id = FIRST_ALLOCATED_IDENTITY + ((start - FIRST_ALLOCATED_IDENTITY + i) % span);
    if (!used.has(id)) return id;
  }
  throw new Error(`identity space ${FIRST_ALLOCATED_IDENTITY}-${LAST_ALLOCATED_IDENTITY} is exhausted`);
}
