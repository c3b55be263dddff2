// The layers with real processes get their default limit from a setup file, because jest ignores
// a project's own testTimeout (a CI run failed at jest's 5 s where 60 s was configured).
import { REAL_TEST_TIMEOUT_MS } from './real-limits.js';
import { scaled } from '../../sandbox/wait.js';

describe('the default test limit of the real-process layers', () => {
  it('is the real-process limit, not jest 5 s', () => {
    // jest-circus reads each test's default limit from this global when the test starts.
    const limit = (globalThis as Record<symbol, unknown>)[Symbol.for('TEST_TIMEOUT_SYMBOL')];
    expect(limit).toBe(scaled(REAL_TEST_TIMEOUT_MS));
    expect(limit).toBeGreaterThanOrEqual(60_000);
  });
});
