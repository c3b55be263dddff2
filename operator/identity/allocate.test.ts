import { nextFreeIdentity } from './allocate.js';

describe('nextFreeIdentity', () => {
  it('takes the lowest free number from 256', () => {
    expect(nextFreeIdentity(new Set())).toBe(256);
    expect(nextFreeIdentity(new Set([256, 257, 259]))).toBe(258);
  });

  it('starts from a hint and wraps around', () => {
    expect(nextFreeIdentity(new Set([300]), 300)).toBe(301);
    expect(nextFreeIdentity(new Set([15_999_999]), 15_999_999)).toBe(256);
  });
});
