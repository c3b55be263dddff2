import type { KubernetesObject } from '@kubernetes/client-node';
import type { InformerEvent } from '../informer.js';
import { onSpecChange } from './specchange.js';

describe('onSpecChange', () => {
  it('passes adds, deletes and new generations; not status or metadata writes', () => {
    let handler: (e: InformerEvent, o: KubernetesObject) => void = () => undefined;
    let calls = 0;
    onSpecChange({ onEvent: (h) => (handler = h) }, () => calls++);
    const obj = (generation: number | undefined, name = 'a'): KubernetesObject => ({ metadata: { name, namespace: 'ns', generation } });
    handler('add', obj(1));
    handler('update', obj(1));
    expect(calls).toBe(1);
    handler('update', obj(2));
    expect(calls).toBe(2);
    // Another object with the same generation is its own.
    handler('update', obj(2, 'b'));
    expect(calls).toBe(3);
    handler('delete', obj(2));
    handler('add', obj(2));
    expect(calls).toBe(5);
    // Without a generation nothing can be told apart: every event passes.
    handler('update', obj(undefined, 'c'));
    handler('update', obj(undefined, 'c'));
    expect(calls).toBe(7);
  });
});
