import { securityLabels } from '../../api/v1alpha1/identity.js';
import { matchesPeer, matchesSelector } from './selector.js';

describe('matchesSelector', () => {
  const l = { app: 'web', tier: 'front' };
  it.each([
    [undefined, true],
    [{}, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'db' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['front', 'back'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['front'] }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'NotIn' as const, values: ['x'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' as const }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' as const }] }, false],
    [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['back'] }] }, false],
  ])('%j -> %s', (sel, want) => {
    expect(matchesSelector(sel, l)).toBe(want);
  });
});

describe('matchesPeer', () => {
  const webInShop = securityLabels({ app: 'web' }, 'shop', { team: 'a' });
  it('defaults to the policy namespace', () => {
    expect(matchesPeer({ matchLabels: { app: 'web' } }, webInShop, 'shop')).toBe(true);
    expect(matchesPeer({ matchLabels: { app: 'web' } }, webInShop, 'other')).toBe(false);
  });

  it('selects namespaces by label, or all with an empty namespaceSelector', () => {
    expect(matchesPeer({ matchLabels: { app: 'web' }, namespaceSelector: { matchLabels: { team: 'a' } } }, webInShop, 'other')).toBe(true);
    expect(matchesPeer({ namespaceSelector: { matchLabels: { team: 'b' } } }, webInShop, 'other')).toBe(false);
    expect(matchesPeer({ namespaceSelector: {} }, webInShop, 'other')).toBe(true);
    expect(matchesPeer({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }, webInShop, 'x')).toBe(true);
  });

  it('does not let a pod selector see namespace labels', () => {
    expect(matchesPeer({ matchLabels: { team: 'a' } }, webInShop, 'shop')).toBe(false);
  });
});
