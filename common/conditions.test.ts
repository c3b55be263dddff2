import { bounded, condition, MAX_CONDITION_MESSAGE, summarize } from './conditions.js';

describe('condition messages', () => {
  it('summarise many findings: the count, the first few, how many more', () => {
    expect(summarize(['a', 'b'])).toBe('a; b');
    const nodes = Array.from({ length: 300 }, (_, i) => `node-${i}: map weir_policy needs 70000 entries`);
    const s = summarize(nodes, 3);
    expect(s).toBe('300 findings, the first 3: node-0: map weir_policy needs 70000 entries; node-1: map weir_policy needs 70000 entries; node-2: map weir_policy needs 70000 entries; and 297 more');
  });

  it('stay under the CRD bound whatever they are given, and say what was cut', () => {
    const long = 'x'.repeat(40_000);
    const c = condition([], 'Degraded', 'True', 'Many', long);
    expect(c.message.length).toBe(MAX_CONDITION_MESSAGE);
    expect(c.message).toMatch(/\.\.\. \(\d+ more characters\)$/);
    expect(bounded('short')).toBe('short');
  });
});
