// Weir's CRDs on the real API server: they apply with kubectl, defaults fill in, and invalid
// objects are refused with a message naming the field.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { useTestCluster } from '../harness/cluster.js';

import { GROUP as group, VERSION as version } from '../../api/v1alpha1/index.js';

type Obj = Record<string, unknown>;

describe('weir CRDs', () => {
  let api: CustomObjectsApi;
  const cluster = useTestCluster(async (c) => {
    await c.applyCrds();
    api = c.kubeConfig().makeApiClient(CustomObjectsApi);
  });

  const createCluster = (plural: string, kind: string, name: string, spec: Obj, dryRun = true): Promise<Obj> =>
    api.createClusterCustomObject({
      group,
      version,
      plural,
      body: { apiVersion: `${group}/${version}`, kind, metadata: { name }, spec },
      dryRun: dryRun ? 'All' : undefined,
    }) as Promise<Obj>;

  const createPolicy = (spec: Obj): Promise<Obj> =>
    api.createNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: 'networkpolicies',
      body: { apiVersion: `${group}/${version}`, kind: 'NetworkPolicy', metadata: { name: 'p' }, spec },
      dryRun: 'All',
    }) as Promise<Obj>;

  it('lists the kinds with their short names', async () => {
    const out = await cluster().kubectl(['api-resources', '--api-group=weir.dev', '-o', 'name']);
    expect(out.trim().split('\n').sort()).toEqual([
      'datapathconfigs.weir.dev',
      'identities.weir.dev',
      'networkpolicies.weir.dev',
      'nodedatapaths.weir.dev',
    ]);
    await expect(cluster().kubectl(['get', 'dpc,ndp,wid,wnp', '-A'])).resolves.toBeDefined();
  });

  it('fills DatapathConfig defaults from the seed', async () => {
    const created = (await createCluster('datapathconfigs', 'DatapathConfig', 'default', {})) as { spec: Obj };
    expect(created.spec).toMatchObject({
      priority: 0,
      features: {
        prefilter: { enabled: true, dropInvalidDestination: false },
        endpointPolicy: { enabled: true, defaultDeny: false, auditMode: false },
        serviceLB: { enabled: true, socketLB: true, nodePortRange: { min: 30000, max: 32767 } },
        overlay: { mode: 'none', vxlanPort: 8472 },
      },
      rollout: { maxUnavailable: 1, drainTimeoutSeconds: 30 },
    });
  });

  const dpcCases: Array<[string, Obj, RegExp]> = [
    ['a bad deny CIDR', { features: { prefilter: { denyCIDRs: ['10.0.0.0/8', '10.0.0.0/33'] } } }, /spec\.features\.prefilter\.denyCIDRs\[1\].*must be a CIDR/],
    ['an IPv6 deny CIDR (the prefilter judges IPv4 only)', { features: { prefilter: { denyCIDRs: ['10.0.0.0/8', '2001:db8::/32'] } } }, /spec\.features\.prefilter\.denyCIDRs\[1\].*IPv4 sources only/],
    ['a ratio of 0', { mapSizing: { dynamicSizeRatio: 0 } }, /spec\.mapSizing\.dynamicSizeRatio/],
    ['a ratio above 1', { mapSizing: { dynamicSizeRatio: 1.5 } }, /spec\.mapSizing\.dynamicSizeRatio/],
    ['a negative size', { mapSizing: { ctTCPMax: -5 } }, /spec\.mapSizing\.ctTCPMax/],
    ['a NodePort range reaching the SNAT ports', { features: { serviceLB: { nodePortRange: { min: 30000, max: 40000 } } } }, /spec\.features\.serviceLB\.nodePortRange.*max must be below 32768/],
    ['an inverted NodePort range', { features: { serviceLB: { nodePortRange: { min: 32000, max: 31000 } } } }, /spec\.features\.serviceLB\.nodePortRange.*min must not exceed max/],
    ['maxUnavailable 0%', { rollout: { maxUnavailable: '0%' } }, /spec\.rollout\.maxUnavailable.*percentage/],
    ['maxUnavailable 0', { rollout: { maxUnavailable: 0 } }, /spec\.rollout\.maxUnavailable/],
    ['an unknown overlay', { features: { overlay: { mode: 'geneve' } } }, /spec\.features\.overlay\.mode.*Unsupported value/],
    ['L7 proxy without policy', { features: { l7Proxy: { enabled: true }, endpointPolicy: { enabled: false } } }, /spec\.features\.l7Proxy\.enabled.*needs endpointPolicy/],
  ];
  it.each(dpcCases)('refuses a DatapathConfig with %s', async (_what, spec, message) => {
    await expect(createCluster('datapathconfigs', 'DatapathConfig', 'bad', spec)).rejects.toThrow(message);
  });

  it('accepts a full NetworkPolicy', async () => {
    await expect(
      createPolicy({
        endpointSelector: { matchLabels: { app: 'api' } },
        ingress: [
          { fromEndpoints: [{ matchLabels: { app: 'web' }, namespaceSelector: { matchLabels: { team: 'a' } } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/v1/.*', host: 'shop\\.example(:[0-9]+)?', headers: ['X-Team: a', 'X-Token'] }] } }] },
          { fromCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }], toPorts: [{ ports: [{ port: 9000, endPort: 9100, protocol: 'UDP' }] }] },
          { fromEntities: ['host'] },
        ],
        ingressDeny: [{ fromCIDR: ['192.0.2.0/24'] }],
        egress: [{ toEntities: ['world'], toPorts: [{ ports: [{ port: 443, protocol: 'TCP' }] }] }],
      }),
    ).resolves.toMatchObject({ kind: 'NetworkPolicy' });
  });

  const npCases: Array<[string, Obj, RegExp]> = [
    ['a port out of range', { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: 70000 }] }] }] }, /spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port/],
    ['an unknown protocol', { endpointSelector: {}, egress: [{ toPorts: [{ ports: [{ port: 53, protocol: 'ICMPX' }] }] }] }, /spec\.egress\[0\]\.toPorts\[0\]\.ports\[0\]\.protocol.*Unsupported value/],
    ['an endPort below port', { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: 90, endPort: 80 }] }] }] }, /endPort needs a non-zero port/],
    ['a bad CIDR', { endpointSelector: {}, egress: [{ toCIDR: ['300.1.1.1/32'] }] }, /spec\.egress\[0\]\.toCIDR\[0\].*must be a CIDR/],
    ['an except outside its CIDR', { endpointSelector: {}, ingress: [{ fromCIDRSet: [{ cidr: '10.0.0.0/16', except: ['10.9.0.0/24'] }] }] }, /except entry must lie inside cidr/],
    ['HTTP rules on UDP', { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: 80, protocol: 'UDP' }], rules: { http: [{ method: 'GET' }] } }] }] }, /HTTP rules apply to TCP ports only/],
    ['an HTTP rule allowing CONNECT (never forwarded)', { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }], rules: { http: [{ method: 'CONNECT' }] } }] }] }, /http\[0\]\.method: Unsupported value: \W+CONNECT/],
    ['a header that is not a header line', { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }], rules: { http: [{ headers: ['X Token: a'] }] } }] }] }, /headers\[0\].*should match/],
    ['L7 rules on a deny rule', { endpointSelector: {}, ingressDeny: [{ toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }], rules: { http: [{}] } }] }] }, /deny rules cannot carry L7 rules/],
    ['an unknown entity', { endpointSelector: {}, ingress: [{ fromEntities: ['internet'] }] }, /spec\.ingress\[0\]\.fromEntities\[0\].*Unsupported value/],
    ['no endpointSelector', { ingress: [] }, /spec\.endpointSelector: Required value/],
    ['In without values', { endpointSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }, /In and NotIn need values/],
  ];
  it.each(npCases)('refuses a NetworkPolicy with %s', async (_what, spec, message) => {
    await expect(createPolicy(spec)).rejects.toThrow(message);
  });

  it('keeps Identity numbers in range and their labels immutable', async () => {
    await expect(createCluster('identities', 'Identity', '12', { namespace: 'default', labels: { app: 'x' } })).rejects.toThrow(/from 256 to 16777215/);
    await createCluster('identities', 'Identity', '300', { namespace: 'default', labels: { app: 'x' } }, false);
    await expect(
      api.patchClusterCustomObject({ group, version, plural: 'identities', name: '300', body: [{ op: 'replace', path: '/spec/labels/app', value: 'y' }] }),
    ).rejects.toThrow(/labels never change/);
  });

  it('accepts a NodeDatapath and refuses a malformed endpoint IP', async () => {
    const spec = {
      revision: 1,
      configName: 'default',
      maps: [{ name: 'ct_tcp', maxEntries: 1048576 }],
      endpoints: [{ namespace: 'default', name: 'web-0', ips: ['10.244.1.5'], identity: 300 }],
      peerSets: [{ id: 0, identities: [0] }],
      policies: [{ identity: 300, ingress: [{ peerSet: 0, port: 80, protocol: 6, verdict: 'allow' }] }],
    };
    await expect(createCluster('nodedatapaths', 'NodeDatapath', 'node-a', spec)).resolves.toMatchObject({ kind: 'NodeDatapath' });
    const bad = { ...spec, endpoints: [{ ...spec.endpoints[0], ips: ['10.244.1.500'] }] };
    await expect(createCluster('nodedatapaths', 'NodeDatapath', 'node-a', bad)).rejects.toThrow(/spec\.endpoints\[0\]\.ips\[0\].*must be an IP address/);
  });
});
