import { LastWrites } from './lastwrite.js';

describe('LastWrites', () => {
  it('prefers our record until the cache reaches its revision, then the cache', () => {
    const w = new LastWrites<{ revision: number; hash: string }>();
    expect(w.ahead('n1', 3)).toBeUndefined();
    w.record('n1', { revision: 4, hash: 'a' });
    expect(w.ahead('n1', 3)).toEqual({ revision: 4, hash: 'a' });
    expect(w.ahead('n1', 4)).toEqual({ revision: 4, hash: 'a' });
    expect(w.ahead('n1', undefined)).toEqual({ revision: 4, hash: 'a' });
    // Someone else wrote a later revision: the cache wins.
    expect(w.ahead('n1', 5)).toBeUndefined();
    w.forget('n1');
    expect(w.ahead('n1', 0)).toBeUndefined();
  });
});
