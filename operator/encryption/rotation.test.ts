import { decideKeys, type NodeKeyView } from './rotation.js';

const k1 = { id: 1, fingerprint: 'f1' };
const k2 = { id: 2, fingerprint: 'f2' };
const node = (name: string, spec?: NodeKeyView['spec'], status?: NodeKeyView['status']): NodeKeyView => ({ name, spec, status });
const sends = (d: ReturnType<typeof decideKeys>) => Object.fromEntries([...d.perNode].map(([n, v]) => [n, v.send]));
const accepts = (d: ReturnType<typeof decideKeys>) => Object.fromEntries([...d.perNode].map(([n, v]) => [n, v.keys.map((k) => k.id)]));

describe('IPsec key rotation', () => {
  const steady1 = { keys: [k1], send: 1 };
  const done1 = { active: true, installedKeys: [1], sendingKey: 1 };

  it('starts every node on the only key', () => {
    const d = decideKeys(k1, [node('a'), node('b')], 1);
    expect(d.phase).toBe('steady');
    expect(accepts(d)).toEqual({ a: [1], b: [1] });
    expect(sends(d)).toEqual({ a: 1, b: 1 });
  });

  it('installs a new key everywhere before anyone sends with it', () => {
    const d = decideKeys(k2, [node('a', steady1, done1), node('b', steady1, done1)], 1);
    expect(d.phase).toBe('install');
    expect(accepts(d)).toEqual({ a: [1, 2], b: [1, 2] });
    expect(sends(d)).toEqual({ a: 1, b: 1 });
    // One node has installed it, the other not yet: still installing.
    const mixed = decideKeys(k2, [node('a', { keys: [k1, k2], send: 1 }, { ...done1, installedKeys: [1, 2] }), node('b', { keys: [k1, k2], send: 1 }, done1)], 1);
    expect(mixed.phase).toBe('install');
    expect(sends(mixed)).toEqual({ a: 1, b: 1 });
  });

  it('switches nodes one slot at a time once every node accepts both, then retires the old key', () => {
    const both = { keys: [k1, k2], send: 1 };
    const installed = { active: true, installedKeys: [1, 2], sendingKey: 1 };
    let d = decideKeys(k2, [node('a', both, installed), node('b', both, installed), node('c', both, installed)], 1);
    expect(d.phase).toBe('switch');
    expect(sends(d)).toEqual({ a: 2, b: 1, c: 1 });
    // a switched in spec, not reported yet: its slot is taken.
    d = decideKeys(k2, [node('a', { ...both, send: 2 }, installed), node('b', both, installed), node('c', both, installed)], 1);
    expect(sends(d)).toEqual({ a: 2, b: 1, c: 1 });
    // a reports it: b is next; two slots take b and c at once.
    const aDone = node('a', { ...both, send: 2 }, { ...installed, sendingKey: 2 });
    expect(sends(decideKeys(k2, [aDone, node('b', both, installed), node('c', both, installed)], 1))).toEqual({ a: 2, b: 2, c: 1 });
    expect(sends(decideKeys(k2, [aDone, node('b', both, installed), node('c', both, installed)], 2))).toEqual({ a: 2, b: 2, c: 2 });
    // Everyone sends with 2: the old key goes.
    const all2 = ['a', 'b', 'c'].map((n) => node(n, { ...both, send: 2 }, { ...installed, sendingKey: 2 }));
    d = decideKeys(k2, all2, 1);
    expect(d.phase).toBe('retire');
    expect(accepts(d)).toEqual({ a: [2], b: [2], c: [2] });
  });

  it('does not wait for a node that cannot encrypt at all', () => {
    const both = { keys: [k1, k2], send: 1 };
    const d = decideKeys(k2, [node('a', both, { active: true, installedKeys: [1, 2], sendingKey: 1 }), node('b', both, { active: false })], 1);
    expect(d.phase).toBe('switch');
  });

  it('gives a node that joins mid-rotation both keys and what the others send with', () => {
    const both = { keys: [k1, k2], send: 1 };
    const d = decideKeys(k2, [node('a', both, done1), node('b', both, done1), node('new')], 1);
    expect(accepts(d).new).toEqual([1, 2]);
    expect(sends(d).new).toBe(1);
  });

  it('refuses a key that changed under the same id, and keeps every node as it is', () => {
    const d = decideKeys({ id: 1, fingerprint: 'other' }, [node('a', steady1, done1)], 1);
    expect(d.refused).toMatch(/the key with id 1 changed but kept its id/);
    expect(accepts(d)).toEqual({ a: [1] });
  });
});
