// An informer's events narrowed to what changes an object's meaning to a controller that reads
// only its spec: it came, it went, or its spec changed (the API server bumps metadata.generation
// for a spec change, not for status or metadata writes).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { InformerEvent } from '../informer.js';

/** Calls `fn` when an object comes, goes, or gets a new generation (a spec change), not on status or metadata writes. */
export function onSpecChange(informer: { onEvent(h: (e: InformerEvent, o: KubernetesObject) => void): void }, fn: () => void): void {
  const generations = new Map<string, number | undefined>();
  informer.onEvent((e, o) => {
    const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    if (e === 'delete') generations.delete(key);
    else {
      const g = o.metadata?.generation;
      if (e === 'update' && generations.has(key) && generations.get(key) === g && g !== undefined) return;
      generations.set(key, g);
    }
    fn();
  });
}
