import { compileHttpRule, firstMatch, matches, RuleError, type RequestView } from './rules.js';

const req = (over: Partial<RequestView> = {}): RequestView => ({ method: 'GET', path: '/api/v1/items?page=2', host: 'shop.local', headers: { 'x-team': 'blue', accept: ['a', 'b'] }, ...over });

describe('HTTP rules', () => {
  it('matches the method exactly and the path as a regular expression over the whole target', () => {
    expect(matches(compileHttpRule({ method: 'GET', path: '/api/.*' }), req())).toBe(true);
    expect(matches(compileHttpRule({ method: 'POST' }), req())).toBe(false);
    // Anchored: a part of the path is not enough.
    expect(matches(compileHttpRule({ path: '/api' }), req())).toBe(false);
    expect(matches(compileHttpRule({ path: '/api/v1/items' }), req())).toBe(false);
    expect(matches(compileHttpRule({ path: '/api/v1/items\\?page=[0-9]+' }), req())).toBe(true);
  });

  it('matches the host as a whole, and headers by presence or exact value', () => {
    expect(matches(compileHttpRule({ host: 'shop\\.local' }), req())).toBe(true);
    expect(matches(compileHttpRule({ host: 'shop' }), req())).toBe(false);
    expect(matches(compileHttpRule({ headers: ['X-Team'] }), req())).toBe(true);
    expect(matches(compileHttpRule({ headers: ['X-Team: blue'] }), req())).toBe(true);
    expect(matches(compileHttpRule({ headers: ['X-Team: red'] }), req())).toBe(false);
    expect(matches(compileHttpRule({ headers: ['Accept: b'] }), req())).toBe(true);
    expect(matches(compileHttpRule({ headers: ['X-Missing'] }), req())).toBe(false);
  });

  it('allows when any rule matches (rules are alternatives), and denies with none', () => {
    const rules = [compileHttpRule({ method: 'POST' }), compileHttpRule({ path: '/api/.*' })];
    expect(firstMatch(rules, req())).toBe(1);
    expect(firstMatch(rules, req({ path: '/admin' }))).toBe(-1);
    expect(firstMatch([], req())).toBe(-1);
  });

  it('refuses an invalid regular expression, naming the field', () => {
    expect(() => compileHttpRule({ path: '/api/(' })).toThrow(RuleError);
    expect(() => compileHttpRule({ host: '[' })).toThrow(/host "\[" is not a valid regular expression/);
  });

  it('runs in linear time: a nested quantifier on a 16 KiB path answers at once, and what only backtracking can run is refused', () => {
    const evil = compileHttpRule({ path: '(/a+)+$' });
    const path = `/${'a'.repeat(16 * 1024)}!`;
    // A backtracking engine takes seconds at 29 bytes and doubles with each byte more: this
    // would not end within the test's limit. A linear one answers.
    expect(matches(evil, req({ path }))).toBe(false);
    expect(matches(evil, req({ path: '/aaa/aa' }))).toBe(true);
    expect(() => compileHttpRule({ path: '/(a)/\\1' })).toThrow(/not a valid regular expression \(RE2 syntax\)/);
    expect(() => compileHttpRule({ path: '/(?!admin).*' })).toThrow(RuleError);
  });
});
