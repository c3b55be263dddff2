import { securityLabels, type Labels } from '../../api/v1alpha1/identity.js';
import { compilePolicies } from '../policy/compile.js';
import type { PolicyEntry } from '../policy/model.js';
import { fromWeirPolicy } from '../policy/translate.js';
import { computeMapSizes } from '../sizing/sizes.js';
import { expandEntries, MAX_NODE_ENDPOINTS } from '../../api/v1alpha1/index.js';
import { buildNodeDatapath, contentHash } from './build.js';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const sortEntries = (e: PolicyEntry[]): PolicyEntry[] =>
  [...e].sort((a, b) => a.peer - b.peer || a.port - b.port || a.protocol - b.protocol || a.verdict.localeCompare(b.verdict));

describe('buildNodeDatapath', () => {
  // The brief's bound: 110 pods on the node, 5,000 identities in the cluster, well under 1 MiB.
  const identities = new Map<number, Labels>();
  for (let i = 0; i < 5000; i++) identities.set(256 + i, securityLabels({ app: `app-${i % 100}`, shard: String(i) }, `ns-${i % 50}`, { team: `t-${i % 5}` }));
  const local = [...identities.keys()].slice(0, 110);
  const policies = Array.from({ length: 50 }, (_, n) =>
    fromWeirPolicy({
      metadata: { name: 'p', namespace: `ns-${n}` },
      spec: {
        endpointSelector: {},
        ingress: [
          { fromEntities: ['cluster'], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }, { port: 443, protocol: 'TCP' }] }] },
          { fromEndpoints: [{ matchLabels: { app: `app-${n}` }, namespaceSelector: {} }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] },
        ],
        ingressDeny: [{ fromCIDR: ['192.0.2.0/24'] }],
        egress: [{ toEndpoints: [{}] }, { toEntities: ['world'], toPorts: [{ ports: [{ port: 443, protocol: 'TCP' }] }] }],
      },
    }),
  );
  const compiled = compilePolicies(local, identities, policies, { defaultDeny: false });
  const content = buildNodeDatapath({
    configName: 'default',
    features: {},
    sizes: computeMapSizes({}, { memoryBytes: 2 ** 34, cpus: 8 }),
    endpoints: local.map((identity, i) => ({ namespace: `ns-${i % 50}`, name: `pod-${i}`, ips: [`10.244.${i >> 8}.${i & 255}`], identity })),
    compiled,
  });

  it('stays well under etcd object limits with 110 endpoints and 5,000 identities', () => {
    const expanded = compiled.policies.reduce((n, p) => n + p.ingress.length + p.egress.length, 0);
    expect(expanded).toBeGreaterThan(500_000); // what a per-peer encoding would have had to carry
    const bytes = Buffer.byteLength(JSON.stringify(content));
    expect(bytes).toBeLessThan(512 * 1024);
    expect(content.peerSets.length).toBeLessThan(200);
  });

  it('expands back to exactly the compiled entries', () => {
    // Every 10th local identity: the full list takes long to sort and proves nothing more.
    for (const p of compiled.policies.filter((_, i) => i % 10 === 0)) {
      const c = content.policies.find((x) => x.identity === p.identity)!;
      expect(sortEntries(expandEntries(c.ingress, content.peerSets))).toEqual(sortEntries(p.ingress));
      expect(sortEntries(expandEntries(c.egress, content.peerSets))).toEqual(sortEntries(p.egress));
    }
  });

  it('hashes equal content equally, whatever the key order', () => {
    const reordered = Object.fromEntries(Object.entries(content).reverse()) as typeof content;
    expect(contentHash(reordered)).toBe(contentHash(content));
    expect(contentHash({ ...content, configName: 'other' })).not.toBe(contentHash(content));
  });
});

test('the endpoint bound is the CRD schema\'s', () => {
  const crd = parse(readFileSync(new URL('../../crds/nodedatapath.yaml', import.meta.url), 'utf8')) as {
    spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, { maxItems?: number }> } } } } }> };
  };
  const props = crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties;
  expect([props?.endpoints?.maxItems, props?.policies?.maxItems]).toEqual([MAX_NODE_ENDPOINTS, MAX_NODE_ENDPOINTS]);
});

describe('defaultDeny', () => {
  const ids = new Map<number, Labels>([
    [300, securityLabels({ app: 'selected' }, 'default', {})],
    [301, securityLabels({ app: 'alone' }, 'default', {})],
  ]);
  const policy = fromWeirPolicy({ metadata: { name: 'p', namespace: 'default' }, spec: { endpointSelector: { matchLabels: { app: 'selected' } }, ingress: [{ fromEndpoints: [{}] }] } });
  const build = (defaultDeny: boolean) =>
    buildNodeDatapath({
      configName: 'default',
      features: { endpointPolicy: { defaultDeny } },
      sizes: computeMapSizes({}, { memoryBytes: 2 ** 32, cpus: 2 }),
      endpoints: [
        { namespace: 'default', name: 'selected', ips: ['10.244.0.2'], identity: 300 },
        { namespace: 'default', name: 'alone', ips: ['10.244.0.3'], identity: 301 },
      ],
      compiled: compilePolicies([300, 301], ids, [policy], { defaultDeny, allowFromHost: true }),
    });
  const enforcedOf = (c: ReturnType<typeof build>) => Object.fromEntries(c.endpoints.map((e) => [e.name, e.policyEnforced]));

  it('judges an endpoint no policy selects, with only the host let in', () => {
    const c = build(true);
    expect(enforcedOf(c)).toEqual({ selected: true, alone: true });
    const alone = c.policies.find((p) => p.identity === 301)!;
    expect(expandEntries(alone.ingress, c.peerSets).map((e) => `${e.peer}/${e.verdict}`)).toEqual(['1/allow']);
    expect(alone.egress).toEqual([]);
  });

  it('leaves an unselected endpoint open without it', () => {
    expect(enforcedOf(build(false))).toEqual({ selected: true, alone: false });
  });
});
