import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { securityLabels } from '../identity/labels.js';
import { FIRST_CIDR_IDENTITY, ReservedIdentity } from '../identity/reserved.js';
import { compilePolicies } from './compile.js';
import { fromK8sPolicy, fromWeirPolicy, type WeirNetworkPolicy } from './translate.js';

const WEB = 300, API = 301, DB = 302, OTHER_API = 303;
const identities = new Map([
  [WEB, securityLabels({ app: 'web' }, 'shop', { team: 'a' })],
  [API, securityLabels({ app: 'api' }, 'shop', { team: 'a' })],
  [DB, securityLabels({ app: 'db' }, 'shop', { team: 'a' })],
  [OTHER_API, securityLabels({ app: 'api' }, 'other', { team: 'b' })],
]);
const ALL = [WEB, API, DB, OTHER_API];

const weir = (name: string, spec: WeirNetworkPolicy['spec'], namespace = 'shop') => fromWeirPolicy({ metadata: { name, namespace }, spec });
const of = (r: ReturnType<typeof compilePolicies>, id: number) => r.policies.find((p) => p.identity === id)!;
const allowAll = { peer: 0, port: 0, protocol: 0, verdict: 'allow' };

describe('compilePolicies', () => {
  it('allows everything for endpoints no policy selects, unless default-deny', () => {
    expect(of(compilePolicies([WEB], identities, [], { defaultDeny: false }), WEB)).toMatchObject({ ingress: [allowAll], egress: [allowAll], selectedBy: [] });
    expect(of(compilePolicies([WEB], identities, [], { defaultDeny: true }), WEB)).toMatchObject({ ingress: [], egress: [] });
  });

  it('allows a selected peer on one port and denies the rest of that direction only', () => {
    const p = weir('api-in', {
      endpointSelector: { matchLabels: { app: 'api' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] }],
    });
    const r = compilePolicies(ALL, identities, [p], { defaultDeny: false });
    expect(of(r, API)).toEqual({ identity: API, ingress: [{ peer: WEB, port: 8080, protocol: 6, verdict: 'allow' }], egress: [allowAll], selectedBy: ['shop/api-in'] });
    // Same labels in another namespace are not selected by a namespaced policy.
    expect(of(r, OTHER_API).ingress).toEqual([allowAll]);
    expect(of(r, WEB).ingress).toEqual([allowAll]);
  });

  it('lets deny win over allow for the same key, and keeps wider denies next to allows', () => {
    const p = weir('mixed', {
      endpointSelector: { matchLabels: { app: 'api' } },
      ingress: [{ fromEntities: ['all'] }, { fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }] }] }],
      ingressDeny: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }] }] }, { fromEndpoints: [{ matchLabels: { app: 'db' } }] }],
    });
    const r = of(compilePolicies([API], identities, [p], { defaultDeny: false }), API);
    expect(r.ingress).toEqual([
      allowAll,
      { peer: WEB, port: 80, protocol: 6, verdict: 'deny' },
      { peer: DB, port: 0, protocol: 0, verdict: 'deny' },
    ]);
  });

  it('makes a deny-only policy default-deny in its direction', () => {
    const p = weir('deny-db', { endpointSelector: {}, egressDeny: [{ toEndpoints: [{ matchLabels: { app: 'db' } }] }] });
    const r = of(compilePolicies([WEB], identities, [p], { defaultDeny: false }), WEB);
    expect(r.egress).toEqual([{ peer: DB, port: 0, protocol: 0, verdict: 'deny' }]);
    expect(r.ingress).toEqual([allowAll]);
  });

  it('compiles port wildcards, ranges and protocols', () => {
    const p = weir('ports', {
      endpointSelector: { matchLabels: { app: 'db' } },
      ingress: [
        { fromEndpoints: [{ matchLabels: { app: 'api' } }] },
        { fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 9000, endPort: 9100, protocol: 'UDP' }, { port: 53 }] }] },
      ],
    });
    expect(of(compilePolicies([DB], identities, [p], { defaultDeny: false }), DB).ingress).toEqual([
      { peer: WEB, port: 53, protocol: 0, verdict: 'allow' },
      { peer: WEB, port: 9000, endPort: 9100, protocol: 17, verdict: 'allow' },
      { peer: API, port: 0, protocol: 0, verdict: 'allow' },
    ]);
  });

  it('gives CIDRs and their excepts node-local identities, allowing only the outer range', () => {
    const p = weir('cidr', {
      endpointSelector: { matchLabels: { app: 'web' } },
      egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }] }, { toEntities: ['world'], toPorts: [{ ports: [{ port: 443, protocol: 'TCP' }] }] }],
    });
    const r = compilePolicies([WEB], identities, [p], { defaultDeny: false });
    expect(r.cidrIdentities).toEqual([
      { cidr: '10.0.0.0/8', identity: FIRST_CIDR_IDENTITY },
      { cidr: '10.1.0.0/16', identity: FIRST_CIDR_IDENTITY + 1 },
    ]);
    const egress = of(r, WEB).egress;
    expect(egress).toContainEqual({ peer: FIRST_CIDR_IDENTITY, port: 0, protocol: 0, verdict: 'allow' });
    expect(egress.some((e) => e.peer === FIRST_CIDR_IDENTITY + 1 && e.port === 0)).toBe(false);
    // "world" covers the reserved world identity and every CIDR identity (they are outside the cluster).
    expect(egress).toContainEqual({ peer: ReservedIdentity.World, port: 443, protocol: 6, verdict: 'allow' });
    expect(egress).toContainEqual({ peer: FIRST_CIDR_IDENTITY + 1, port: 443, protocol: 6, verdict: 'allow' });
  });

  it('expands host and cluster entities', () => {
    const p = weir('ent', { endpointSelector: { matchLabels: { app: 'web' } }, ingress: [{ fromEntities: ['host'] }, { fromEntities: ['cluster'], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }] }] }] });
    const peers = of(compilePolicies([WEB], identities, [p], { defaultDeny: false }), WEB).ingress.map((e) => `${e.peer}:${e.port}`);
    expect(peers.sort()).toEqual(['1:0', '1:80', '300:80', '301:80', '302:80', '303:80', '6:80'].sort());
  });

  it('redirects L7 rules to the proxy when there is one, and says so when there is not', () => {
    const p = weir('l7', {
      endpointSelector: { matchLabels: { app: 'api' } },
      ingress: [
        { fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }], rules: { http: [{ method: 'GET' }] } }] },
        { fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }] }] },
      ],
    });
    const withProxy = compilePolicies([API], identities, [p], { defaultDeny: false, proxyPort: 15001 });
    expect(of(withProxy, API).ingress).toEqual([{ peer: WEB, port: 80, protocol: 6, verdict: 'redirect', proxyPort: 15001 }]);
    const without = compilePolicies([API], identities, [p], { defaultDeny: false });
    expect(of(without, API).ingress).toEqual([{ peer: WEB, port: 80, protocol: 6, verdict: 'allow' }]);
    expect(without.warnings).toEqual(['shop/l7: L7 rules need the L7 proxy (features.l7Proxy); allowing at L4 only']);
  });

  it('unions several policies selecting one endpoint', () => {
    const a = weir('a', { endpointSelector: { matchLabels: { app: 'db' } }, ingress: [{ fromEndpoints: [{ matchLabels: { app: 'api' } }] }] });
    const b = weir('b', { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 5432, protocol: 'TCP' }] }] }] });
    const r = of(compilePolicies([DB], identities, [a, b], { defaultDeny: false }), DB);
    expect(r.selectedBy).toEqual(['shop/a', 'shop/b']);
    expect(r.ingress).toHaveLength(2);
  });
});

describe('standard NetworkPolicy', () => {
  const np = (spec: V1NetworkPolicy['spec']): V1NetworkPolicy => ({ metadata: { name: 'np', namespace: 'shop' }, spec });

  it('compiles like the weir form', () => {
    const p = fromK8sPolicy(np({ podSelector: { matchLabels: { app: 'api' } }, ingress: [{ _from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 8080 }] }] }));
    expect(of(compilePolicies([API], identities, [p], { defaultDeny: false }), API)).toMatchObject({
      ingress: [{ peer: WEB, port: 8080, protocol: 6, verdict: 'allow' }],
      egress: [allowAll],
    });
  });

  it('denies all ingress with an empty rule list, and all egress when Egress is listed', () => {
    const p = fromK8sPolicy(np({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    expect(of(compilePolicies([WEB], identities, [p], { defaultDeny: false }), WEB)).toMatchObject({ ingress: [], egress: [] });
  });

  it('allows every source for a rule without from, and matches namespaces by label', () => {
    const p = fromK8sPolicy(
      np({
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ ports: [{ port: 5432, protocol: 'TCP' }] }, { _from: [{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'api' } } }] }],
      }),
    );
    expect(of(compilePolicies([DB], identities, [p], { defaultDeny: false }), DB).ingress).toEqual([
      { peer: 0, port: 5432, protocol: 6, verdict: 'allow' },
      { peer: OTHER_API, port: 0, protocol: 0, verdict: 'allow' },
    ]);
  });

  it('carries ipBlock excepts and reports named ports it cannot use', () => {
    const p = fromK8sPolicy(
      np({
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } }] }, { ports: [{ port: 'http' }] }],
      }),
    );
    const r = compilePolicies([WEB], identities, [p], { defaultDeny: false });
    expect(of(r, WEB).egress).toEqual([{ peer: FIRST_CIDR_IDENTITY, port: 0, protocol: 0, verdict: 'allow' }]);
    expect(r.warnings).toEqual(['shop/np: named port http is not supported; use the port number']);
  });
});
