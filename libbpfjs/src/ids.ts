import { native } from './native.js';

/** Every id of a kind the kernel currently holds (maps, programs or links), in ascending order. */
export function idsOf(kind: 'map' | 'prog' | 'link'): number[] {
  const ids: number[] = [];
  let id = native.nextId(kind, 0);
  while (id !== null) {
    ids.push(id);
    id = native.nextId(kind, id);
  }
  return ids;
}
