import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { fromWire } from '../../common/wire.js';
import { securityLabels } from '../../api/v1alpha1/identity.js';
import { FIRST_CIDR_IDENTITY, ReservedIdentity } from '../../api/v1alpha1/identity.js';
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
    expect(of(r, API)).toEqual({ identity: API, ingress: [{ peer: WEB, port: 8080, protocol: 6, verdict: 'allow' }], egress: [allowAll], selectedBy: ['shop/api-in'], l7: [] });
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
    // remote-node: the other nodes alone (no pod, not this host).
    const rn = weir('rn', { endpointSelector: { matchLabels: { app: 'web' } }, ingress: [{ fromEntities: ['remote-node'], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] }] });
    expect(of(compilePolicies([WEB], identities, [rn], { defaultDeny: false }), WEB).ingress.map((e) => `${e.peer}:${e.port}`)).toEqual(['6:8080']);
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
    // The proxy's rules: the GET rule, and match-all from the L4 allow of the same peer and port.
    expect(of(withProxy, API).l7).toEqual([
      { direction: 'ingress', port: 80, peers: [WEB], http: [{ method: 'GET' }] },
      { direction: 'ingress', port: 80, peers: [WEB], http: [{}] },
    ]);
    const without = compilePolicies([API], identities, [p], { defaultDeny: false });
    expect(of(without, API).ingress).toEqual([{ peer: WEB, port: 80, protocol: 6, verdict: 'allow' }]);
    expect(without.warnings).toEqual(['shop/l7: L7 rules need the L7 proxy (features.l7Proxy); allowing at L4 only']);
  });

  it('keeps each toPorts entry its own HTTP rules, and leaves out one whose regular expression does not compile', () => {
    const p = weir('split', {
      endpointSelector: { matchLabels: { app: 'api' } },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { app: 'web' } }],
          toPorts: [
            { ports: [{ port: 80, protocol: 'TCP' }], rules: { http: [{ path: '/ok/.*' }, { path: '/broken/(' }] } },
            { ports: [{ port: 9000, protocol: 'TCP' }] },
          ],
        },
      ],
    });
    const r = compilePolicies([API], identities, [p], { defaultDeny: false, proxyPort: 15001 });
    expect(of(r, API).ingress.map((e) => `${e.port}:${e.verdict}`)).toEqual(['80:redirect', '9000:allow']);
    expect(of(r, API).l7).toEqual([{ direction: 'ingress', port: 80, peers: [WEB], http: [{ path: '/ok/.*' }] }]);
    expect(r.warnings).toContainEqual(expect.stringMatching(/^shop\/split: ingress\[0\]\.toPorts\[0\]\.rules\.http\[1\]: path "\/broken\/\(" is not a valid regular expression.*that HTTP rule is left out$/));
  });

  it("lets the node's own addresses in to enforced endpoints when allowFromHost, unless a rule denies the host", () => {
    const only = weir('only-web', { endpointSelector: { matchLabels: { app: 'api' } }, ingress: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }] }] });
    const host = { peer: ReservedIdentity.Host, port: 0, protocol: 0, verdict: 'allow' };
    expect(of(compilePolicies([API], identities, [only], { defaultDeny: false, allowFromHost: true }), API).ingress).toContainEqual(host);
    expect(of(compilePolicies([API], identities, [only], { defaultDeny: false }), API).ingress).not.toContainEqual(host);
    // Default-deny endpoints no policy selects get it too; an explicit deny of the host wins.
    expect(of(compilePolicies([WEB], identities, [], { defaultDeny: true, allowFromHost: true }), WEB).ingress).toEqual([host]);
    const deny = weir('no-host', { endpointSelector: { matchLabels: { app: 'api' } }, ingressDeny: [{ fromEntities: ['host'] }] });
    expect(of(compilePolicies([API], identities, [only, deny], { defaultDeny: false, allowFromHost: true }), API).ingress).toContainEqual({ ...host, verdict: 'deny' });
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
  // Written as the API server sends it (`from`, not client-node's `_from`) and converted as the
  // informer converts watch events (common/wire.ts): the form the operator really sees.
  const np = (spec: Record<string, unknown>): V1NetworkPolicy =>
    fromWire<V1NetworkPolicy>({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'np', namespace: 'shop' }, spec }, 'V1NetworkPolicy');
  const compile = (spec: Record<string, unknown>, subjects: number[], opts: Parameters<typeof compilePolicies>[3] = { defaultDeny: false }) =>
    compilePolicies(subjects, identities, [fromK8sPolicy(np(spec))], opts);

  it('compiles like the weir form', () => {
    const r = compile({ podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 8080 }] }] }, [API]);
    expect(of(r, API)).toMatchObject({ ingress: [{ peer: WEB, port: 8080, protocol: 6, verdict: 'allow' }], egress: [allowAll] });
  });

  it('reads `from` peers in the wire form: a UDP port open to one peer is not open to every source', () => {
    const r = compile({ podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'UDP', port: 5353 }] }] }, [DB]);
    expect(of(r, DB).ingress).toEqual([{ peer: WEB, port: 5353, protocol: 17, verdict: 'allow' }]);
  });

  it('denies all ingress with an empty rule list, and all egress when Egress is listed', () => {
    expect(of(compile({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] }, [WEB]), WEB)).toMatchObject({ ingress: [], egress: [] });
  });

  it('allows every source for a rule without from, and matches namespaces by label', () => {
    const r = compile(
      { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ ports: [{ port: 5432, protocol: 'TCP' }] }, { from: [{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'api' } } }] }] },
      [DB],
    );
    expect(of(r, DB).ingress).toEqual([
      { peer: 0, port: 5432, protocol: 6, verdict: 'allow' },
      { peer: OTHER_API, port: 0, protocol: 0, verdict: 'allow' },
    ]);
  });

  it('carries ipBlock excepts, and an SCTP port as protocol 132', () => {
    const r = compile(
      { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } }], ports: [{ protocol: 'SCTP', port: 9000 }] }] },
      [WEB],
    );
    expect(of(r, WEB).egress).toEqual([{ peer: FIRST_CIDR_IDENTITY, port: 9000, protocol: 132, verdict: 'allow' }]);
    expect(r.warnings).toEqual([]);
  });

  it('leaves an IPv6 ipBlock out of its rule alone, says so, and never widens the rule to every peer', () => {
    const r = compile(
      {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '::/0' } }] }, { to: [{ ipBlock: { cidr: '198.51.100.0/24' } }, { ipBlock: { cidr: '2001:db8::/32' } }], ports: [{ port: 443 }] }],
      },
      [WEB],
    );
    expect(r.cidrIdentities).toEqual([{ cidr: '198.51.100.0/24', identity: FIRST_CIDR_IDENTITY }]);
    expect(of(r, WEB).egress).toEqual([{ peer: FIRST_CIDR_IDENTITY, port: 443, protocol: 6, verdict: 'allow' }]);
    expect(r.warnings).toEqual([
      'shop/np: egress[0].to[0].ipBlock: ::/0 is IPv6, which the datapath does not enforce yet; this peer is left out',
      'shop/np: egress[1].to[1].ipBlock: 2001:db8::/32 is IPv6, which the datapath does not enforce yet; this peer is left out',
    ]);
  });

  it('covers pod addresses with ipBlock only for identities whose every pod is inside and outside the excepts', () => {
    const podAddresses = new Map([
      [API, ['10.244.1.5']],
      [DB, ['10.244.1.6', '10.244.2.9']],
      [OTHER_API, ['10.244.1.7']],
    ]);
    const r = compile(
      { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.1.0/24', except: ['10.244.1.7/32'] } }] }] },
      [WEB],
      { defaultDeny: false, podAddresses },
    );
    const peers = of(r, WEB).egress.map((e) => e.peer);
    expect(peers).toContain(API);
    // One DB pod lies outside the block, OTHER_API's only pod inside the except.
    expect(peers).not.toContain(DB);
    expect(peers).not.toContain(OTHER_API);
  });

  it('resolves named ports on the selected pod for ingress and on the destination for egress, never to every port', () => {
    const namedPorts = new Map([
      [API, [{ name: 'http', port: 8080, protocol: 'TCP' as const }]],
      [DB, [{ name: 'sql', port: 5432, protocol: 'TCP' as const }, { name: 'http', port: 9090, protocol: 'TCP' as const }]],
    ]);
    const opts = { defaultDeny: false, namedPorts };
    const ingress = compile({ podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] }, [API, DB, WEB], opts);
    expect(of(ingress, API).ingress).toEqual([{ peer: 0, port: 8080, protocol: 6, verdict: 'allow' }]);
    expect(of(ingress, DB).ingress).toEqual([{ peer: 0, port: 9090, protocol: 6, verdict: 'allow' }]);
    // WEB has no port named http: nothing is open, rather than every port.
    expect(of(ingress, WEB).ingress).toEqual([]);
    const egress = compile({ podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }] }] }, [WEB], opts);
    expect(of(egress, WEB).egress).toEqual([
      { peer: API, port: 8080, protocol: 6, verdict: 'allow' },
      { peer: DB, port: 9090, protocol: 6, verdict: 'allow' },
    ]);
    // A UDP port named http does not match a TCP one.
    const udp = compile({ podSelector: {}, ingress: [{ ports: [{ port: 'http', protocol: 'UDP' }] }] }, [API], opts);
    expect(of(udp, API).ingress).toEqual([]);
  });
});

describe('CIDR rules compose across policies', () => {
  it('a block covers every CIDR identity inside it, whichever policy named it, except its except ranges', () => {
    const broad = weir('broad', { endpointSelector: { matchLabels: { app: 'web' } }, egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }] }] });
    // Another policy, for another endpoint, names narrower blocks: each gets its own identity.
    const narrow = weir('narrow', { endpointSelector: { matchLabels: { app: 'db' } }, egress: [{ toCIDR: ['10.2.0.0/16', '10.1.5.0/24', '192.0.2.0/24'] }] });
    const r = compilePolicies([WEB], identities, [broad, narrow], { defaultDeny: false });
    const id = (c: string) => r.cidrIdentities.find((x) => x.cidr === c)!.identity;
    const peers = of(r, WEB).egress.map((e) => e.peer);
    expect(peers).toEqual(expect.arrayContaining([id('10.0.0.0/8'), id('10.2.0.0/16')]));
    // Inside the except (10.1.5.0/24 within 10.1.0.0/16) and outside the block stay out.
    expect(peers).not.toContain(id('10.1.0.0/16'));
    expect(peers).not.toContain(id('10.1.5.0/24'));
    expect(peers).not.toContain(id('192.0.2.0/24'));
  });
});
