import { CATALOGUE, costBytes } from '../../common/maps/catalogue.js';
import { parseQuantity } from './quantity.js';
import { checkDemand, computeMapSizes, lbEntriesNeeded } from './sizes.js';

const GiB = 2 ** 30;

describe('computeMapSizes', () => {
  it('uses the seed defaults when nothing is set', () => {
    const s = computeMapSizes({}, { memoryBytes: 16 * GiB, cpus: 1 });
    expect(s.ct_tcp).toEqual({ maxEntries: 1048576, source: 'default' });
    expect(s.ct_any).toEqual({ maxEntries: 262144, source: 'default' });
    expect(s.lb).toEqual({ maxEntries: 65536, source: 'default' });
    expect(s.nat.maxEntries).toBe(873813);
  });

  it('splits memory × ratio over the large maps in proportion to their default cost', () => {
    const s = computeMapSizes({ dynamicSizeRatio: 0.0025 }, { memoryBytes: 64 * GiB, cpus: 1 });
    const budget = 64 * GiB * 0.0025;
    // Each traffic table gets the same fraction of its default...
    const f = s.ct_tcp.maxEntries / CATALOGUE.ct_tcp.default;
    expect(f).toBeLessThan(1);
    expect(s.ct_any.maxEntries / CATALOGUE.ct_any.default).toBeCloseTo(f, 4);
    expect(s.nat.maxEntries / CATALOGUE.nat.default).toBeCloseTo(f, 4);
    // ...so that, with the LB maps at their share, the kernel bytes they cost (clamped maps such
    // as the sockhash included) spend the budget.
    const spent = costBytes('ct_tcp', s.ct_tcp.maxEntries) + costBytes('ct_any', s.ct_any.maxEntries) + costBytes('nat', s.nat.maxEntries) + costBytes('lb', Math.floor(f * CATALOGUE.lb.default));
    expect(spent / budget).toBeCloseTo(1, 3);
    expect(s.lb).toEqual({ maxEntries: 65536, source: 'dynamic' }); // its share, clamped up to its minimum
    expect(s.policy.source).toBe('default'); // per-endpoint maps are not memory-driven
  });

  it('gives two nodes of different memory different sizes', () => {
    const small = computeMapSizes({ dynamicSizeRatio: 0.01 }, { memoryBytes: 8 * GiB, cpus: 1 });
    const big = computeMapSizes({ dynamicSizeRatio: 0.01 }, { memoryBytes: 32 * GiB, cpus: 1 });
    // Four times the memory: about four times the entries, a little more since the sockhash
    // stops at its clamp and leaves its share to the tables.
    expect(big.ct_tcp.maxEntries).toBeGreaterThan(small.ct_tcp.maxEntries * 3.9);
    expect(big.ct_tcp.maxEntries).toBeLessThan(small.ct_tcp.maxEntries * 4.6);
  });

  it('clamps to the dynamic minimum on small nodes and the table maximum on huge ones', () => {
    const tiny = computeMapSizes({ dynamicSizeRatio: 0.0025 }, { memoryBytes: 1 * GiB, cpus: 1 });
    expect(tiny.ct_tcp.maxEntries).toBe(CATALOGUE.ct_tcp.dynamicMin);
    const huge = computeMapSizes({ dynamicSizeRatio: 1 }, { memoryBytes: 4096 * GiB, cpus: 1 });
    expect(huge.ct_tcp.maxEntries).toBe(1 << 24);
  });

  it('lets explicit values win over the ratio, map by map', () => {
    const s = computeMapSizes({ dynamicSizeRatio: 0.0025, ctTCPMax: 2_000_000, lbMax: 100_000 }, { memoryBytes: 64 * GiB, cpus: 1 });
    expect(s.ct_tcp).toEqual({ maxEntries: 2_000_000, source: 'explicit' });
    expect(s.lb).toEqual({ maxEntries: 100_000, source: 'explicit' });
    expect(s.ct_any.source).toBe('dynamic');
  });

  it('rounds LRU conntrack and NAT sizes up to a multiple of the CPU count', () => {
    const s = computeMapSizes({ ctTCPMax: 1_000_001, ctAnyMax: 5000 }, { memoryBytes: 16 * GiB, cpus: 6 });
    expect(s.ct_tcp.maxEntries).toBe(1_000_002);
    expect(s.ct_any.maxEntries % 6).toBe(0);
    expect(s.nat.maxEntries % 6).toBe(0);
    expect(s.lb.maxEntries).toBe(65536); // plain hash: no rounding
  });

  it('keeps a computed NAT within conntrack but never touches an explicit one', () => {
    const s = computeMapSizes({ ctTCPMax: 100_000, ctAnyMax: 20_000 }, { memoryBytes: 16 * GiB, cpus: 1 });
    expect(s.nat.maxEntries).toBe(80_000);
    const e = computeMapSizes({ ctTCPMax: 100_000, ctAnyMax: 20_000, natMax: 500_000 }, { memoryBytes: 16 * GiB, cpus: 1 });
    expect(e.nat).toEqual({ maxEntries: 500_000, source: 'explicit' });
  });

  it('refuses a ratio outside (0, 1]', () => {
    expect(() => computeMapSizes({ dynamicSizeRatio: 0 }, { memoryBytes: GiB, cpus: 1 })).toThrow(/must be in \(0, 1\]/);
    expect(() => computeMapSizes({ dynamicSizeRatio: 1.5 }, { memoryBytes: GiB, cpus: 1 })).toThrow(RangeError);
  });
});

describe('demand', () => {
  it('counts LB entries as backends × ports', () => {
    expect(lbEntriesNeeded([{ ports: 2, backends: 3 }, { ports: 1, backends: 10 }, { ports: 4, backends: 0 }])).toBe(16);
  });

  it('names each map whose demand exceeds its size', () => {
    const sizes = computeMapSizes({ lbMax: 100, policyMax: 50 }, { memoryBytes: 16 * GiB, cpus: 1 });
    const over = checkDemand(sizes, { lbEntries: 101, frontends: 10, endpoints: 10, policyEntries: 50, ipcacheEntries: 20, prefilterEntries: 0 });
    expect(over).toEqual([
      { map: 'lb', kernelMap: 'weir_lb4_services', needed: 101, maxEntries: 100, message: 'lb needs 101 entries (service backends × ports) but holds 100; raise spec.mapSizing.lbMax' },
    ]);
  });

  it("checks the node's whole policy trie and the cluster's addresses against the ipcache, each with its own size", () => {
    const sizes = computeMapSizes({ policyMax: 1000, ipcacheMax: 5000, endpointMax: 100 }, { memoryBytes: 16 * GiB, cpus: 1 });
    expect(sizes.ipcache.maxEntries).toBe(5000);
    const over = checkDemand(sizes, { lbEntries: 0, frontends: 0, endpoints: 10, policyEntries: 1001, ipcacheEntries: 5001, prefilterEntries: 0 });
    expect(over.map((o) => o.message)).toEqual([
      "policy needs 1001 entries (entries of the node's policy trie, after range and deny expansion) but holds 1000; raise spec.mapSizing.policyMax",
      'ipcache needs 5001 entries (pod and node addresses in the cluster, and CIDRs named by policies) but holds 5000; raise spec.mapSizing.ipcacheMax',
    ]);
  });

  it("names a kernel map's own bound when it binds before the size does (reverse NAT's 16-bit index)", () => {
    const sizes = computeMapSizes({ lbMax: 100_000 }, { memoryBytes: 16 * GiB, cpus: 1 });
    const over = checkDemand(sizes, { lbEntries: 90_000, frontends: 70_000, endpoints: 1, policyEntries: 0, ipcacheEntries: 0, prefilterEntries: 0 });
    expect(over).toEqual([
      {
        map: 'lb',
        kernelMap: 'weir_lb4_reverse_nat',
        needed: 70_000,
        maxEntries: 65535,
        message: 'weir_lb4_reverse_nat needs 70000 entries (service frontends (address, port)) but holds at most 65535 whatever spec.mapSizing.lbMax says',
      },
    ]);
  });
});

describe('parseQuantity', () => {
  it.each([
    ['16Gi', 16 * GiB],
    ['16384Mi', 16 * GiB],
    ['1.5G', 1.5e9],
    ['500m', 0.5],
    ['4', 4],
    ['1e3', 1000],
    ['123456Ki', 123456 * 1024],
  ])('parses %s', (q, n) => {
    expect(parseQuantity(q)).toBe(n);
  });

  it('refuses garbage', () => {
    expect(() => parseQuantity('lots')).toThrow(/invalid quantity/);
    expect(() => parseQuantity('4Qi')).toThrow(/invalid quantity/);
  });
});
