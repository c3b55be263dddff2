import { assignNodeIds } from './nodeids.js';

describe('node ids', () => {
  it('numbers new nodes from 1 in name order', () => {
    expect(Object.fromEntries(assignNodeIds(['c', 'a', 'b'], new Map()))).toEqual({ a: 1, b: 2, c: 3 });
  });

  it('keeps ids nodes have, fills gaps, and settles a duplicate by name', () => {
    const ids = assignNodeIds(['a', 'b', 'c', 'd'], new Map([['b', 1], ['c', 3], ['d', 3]]));
    expect(Object.fromEntries(ids)).toEqual({ a: 2, b: 1, c: 3, d: 4 });
  });

  it('ignores ids out of range', () => {
    expect(assignNodeIds(['a'], new Map([['a', 0]])).get('a')).toBe(1);
  });
});
