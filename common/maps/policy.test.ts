import type { PolicyEntry } from '../../api/v1alpha1/index.js';
import { PolicyDir, policyEntries, portBlocks, PREFIX_ANY_PORT, PREFIX_ANY_PROTO, PREFIX_FULL, Verdict } from './policy.js';

const entry = (e: Partial<PolicyEntry>): PolicyEntry => ({ peer: 0, port: 0, protocol: 6, verdict: 'allow', ...e });

describe('portBlocks', () => {
  it('splits a range into aligned power-of-two blocks that cover it exactly', () => {
    expect(portBlocks(80, 80)).toEqual([{ port: 80, bits: 16 }]);
    expect(portBlocks(8080, 8083)).toEqual([{ port: 8080, bits: 14 }]);
    expect(portBlocks(1000, 1005)).toEqual([
      { port: 1000, bits: 14 },
      { port: 1004, bits: 15 },
    ]);
    for (const [lo, hi] of [
      [1, 65535],
      [1024, 65535],
      [30000, 32767],
      [443, 9999],
    ] as const) {
      let next = lo;
      for (const b of portBlocks(lo, hi)) {
        const size = 2 ** (16 - b.bits);
        expect(b.port).toBe(next);
        expect(b.port % size).toBe(0);
        next += size;
      }
      expect(next).toBe(hi + 1);
    }
  });

  it('refuses ranges outside 1-65535 or reversed', () => {
    expect(() => portBlocks(0, 10)).toThrow('bad port range');
    expect(() => portBlocks(10, 9)).toThrow('bad port range');
  });
});

describe('policyEntries', () => {
  it('keys a single port with the full prefix and any port / any protocol with shorter ones', () => {
    const out = policyEntries(300, PolicyDir.Ingress, [
      entry({ peer: 400, port: 8080 }),
      entry({ peer: 401, port: 0, protocol: 17 }),
      entry({ peer: 402, port: 0, protocol: 0 }),
    ]);
    expect(out.map((e) => [e.key.peer, e.key.prefixlen, e.key.proto, e.key.dport])).toEqual([
      [400, PREFIX_FULL, 6, 8080],
      [401, PREFIX_ANY_PORT, 17, 0],
      [402, PREFIX_ANY_PROTO, 0, 0],
    ]);
    expect(out.every((e) => e.key.subject === 300 && e.key.dir === PolicyDir.Ingress)).toBe(true);
  });

  it('expands a port with any protocol to TCP, UDP and SCTP', () => {
    const out = policyEntries(300, PolicyDir.Egress, [entry({ peer: 5, port: 53, protocol: 0 })]);
    expect(out.map((e) => e.key.proto).sort((a, b) => a - b)).toEqual([6, 17, 132]);
  });

  it('pushes a broader deny down into the narrower allows of the same peer', () => {
    const out = policyEntries(300, PolicyDir.Ingress, [entry({ peer: 7, port: 80 }), entry({ peer: 7, port: 0, verdict: 'deny' })]);
    expect(out.map((e) => e.value.verdict)).toEqual([Verdict.Deny, Verdict.Deny]);
  });

  it('keeps a narrower deny inside a broader allow (the longest match finds it)', () => {
    const out = policyEntries(300, PolicyDir.Ingress, [entry({ peer: 7, port: 0 }), entry({ peer: 7, port: 9090, verdict: 'deny' })]);
    const byPort = new Map(out.map((e) => [e.key.dport, e.value.verdict]));
    expect(byPort.get(0)).toBe(Verdict.Allow);
    expect(byPort.get(9090)).toBe(Verdict.Deny);
  });

  it('does not push a deny across protocols or onto other peers', () => {
    const out = policyEntries(300, PolicyDir.Ingress, [
      entry({ peer: 7, port: 80, protocol: 17 }),
      entry({ peer: 8, port: 80 }),
      entry({ peer: 7, port: 0, protocol: 6, verdict: 'deny' }),
    ]);
    const find = (peer: number, proto: number) => out.find((e) => e.key.peer === peer && e.key.proto === proto && e.key.dport === 80)?.value.verdict;
    expect(find(7, 17)).toBe(Verdict.Allow);
    expect(find(8, 6)).toBe(Verdict.Allow);
  });

  it('lets a covering redirect win over an allow and carries its proxy port', () => {
    const out = policyEntries(300, PolicyDir.Ingress, [entry({ peer: 7, port: 80 }), entry({ peer: 7, port: 0, verdict: 'redirect', proxyPort: 15001 })]);
    expect(out.map((e) => [e.value.verdict, e.value.proxyPort])).toEqual([
      [Verdict.Redirect, 15001],
      [Verdict.Redirect, 15001],
    ]);
  });

  it('collapses duplicates to the strongest verdict', () => {
    const out = policyEntries(300, PolicyDir.Ingress, [entry({ peer: 7, port: 80 }), entry({ peer: 7, port: 80, verdict: 'deny' })]);
    expect(out).toHaveLength(1);
    expect(out[0]?.value.verdict).toBe(Verdict.Deny);
  });
});
