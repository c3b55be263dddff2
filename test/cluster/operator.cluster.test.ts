// The operator against the real API server: Nodes (with memory), Pods (with IPs), a policy and
// a DatapathConfig in; NodeDatapaths with sized maps, endpoints, identities and compiled policy
// out. No kubelet runs: Node and Pod status are written by the test, as a kubelet would.
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { expandEntries, type NodeDatapath, type ResolvedNodeDatapathSpec, type Stored } from '../../api/v1alpha1/index.js';
import { Operator } from '../../operator/operator.js';
import { useTestCluster } from '../harness/cluster.js';
import { eventually } from '../harness/wait.js';
import { API_VERSION, DatapathConfigResource, IdentityResource, NetworkPolicyResource, NodeDatapathResource, gvr } from '../../api/v1alpha1/index.js';

/** A NodeDatapath as the operator writes it: every list present. */
import { planFromCluster } from '../../cli/plan.js';
import { policyMapContents } from '../../agent/desired/policy.js';

type Ndp = Omit<Stored<NodeDatapath>, 'spec'> & { metadata: { resourceVersion: string }; spec: ResolvedNodeDatapathSpec };

describe('operator', () => {
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  const startOperator = (): { stop: () => Promise<void> } => {
    const ctl = new AbortController();
    const op = new Operator(cluster().kubeConfig(), pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), new Registry(), {
      workers: 2,
      identityGcGraceMs: 1000,
      identityGcIntervalMs: 300,
    });
    const done = op.run(ctl.signal);
    return {
      stop: async () => {
        ctl.abort();
        await done;
      },
    };
  };
  const ndp = (name: string): Promise<Ndp> => custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name }) as Promise<Ndp>;
  const ndpWhen = (name: string, cond: (n: Ndp) => boolean): Promise<Ndp> => eventually(`${name} NodeDatapath`, async () => {
    const n = await ndp(name);
    return cond(n) ? n : undefined;
  });
  const mapSize = (n: Ndp, m: string): number => n.spec.maps.find((x) => x.name === m)!.maxEntries;

  async function node(name: string, memory: string, cpu: string): Promise<void> {
    await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } });
    await core.patchNodeStatus({ name, body: { status: { capacity: { memory, cpu }, allocatable: { memory, cpu } } } }, merge);
  }

  async function pod(name: string, nodeName: string, app: string, ip: string): Promise<void> {
    await core.createNamespacedPod({
      namespace: 'shop',
      body: { metadata: { name, labels: { app, 'pod-template-hash': name } }, spec: { nodeName, containers: [{ name: 'c', image: 'registry.invalid/none' }] } },
    });
    await core.patchNamespacedPodStatus({ name, namespace: 'shop', body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } }, merge);
  }

  const policy = (port: number) => ({
    apiVersion: API_VERSION,
    kind: 'NetworkPolicy',
    metadata: { name: 'api-in', namespace: 'shop' },
    spec: {
      endpointSelector: { matchLabels: { app: 'api' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port, protocol: 'TCP' }] }] }],
    },
  });

  const cluster = useTestCluster(async (c) => {
    await c.applyCrds();
    const kc = c.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: 'shop', labels: { team: 'a' } } } });
    await node('node-a', '8Gi', '2');
    await node('node-b', '32Gi', '4');
    await pod('web-1', 'node-a', 'web', '10.244.1.10');
    await pod('web-2', 'node-a', 'web', '10.244.1.11');
    await pod('api-1', 'node-b', 'api', '10.244.2.10');
    await custom.createClusterCustomObject({
      ...gvr(DatapathConfigResource), body: { apiVersion: API_VERSION, kind: 'DatapathConfig', metadata: { name: 'default' }, spec: { mapSizing: { dynamicSizeRatio: 0.01, lbMax: 100000 } } },
    });
    await custom.createNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', body: policy(8080) });
  });

  it('writes each node its sizes, endpoints, identities and compiled policy; survives a restart unchanged', async () => {
    const op = startOperator();
    let a: Ndp, b: Ndp;
    let revisionAfterEdit = 0;
    try {
      a = await ndpWhen('node-a', (n) => n.spec.endpoints.length === 2);
      const webIdentity = a.spec.endpoints[0].identity;
      // node-b may be written before node-a's reconcile allocated web's identity, then again
      // once it exists: wait for the converged state.
      const ingressOf = (n: Ndp): ReturnType<typeof expandEntries> => n.spec.policies.flatMap((p) => expandEntries(p.ingress, n.spec.peerSets));
      b = await ndpWhen('node-b', (n) => ingressOf(n).some((e) => e.peer === webIdentity));
      const settledRevision = b.spec.revision;

      // Sizes: the ratio applied to each node's memory (4× the memory, at least 4× the entries:
      // the sockhash stops at its clamp and leaves its share to the tables), explicit LB.
      const ratio = mapSize(b, 'ct_tcp') / mapSize(a, 'ct_tcp');
      expect(ratio).toBeGreaterThan(3.99);
      expect(ratio).toBeLessThan(4.6);
      expect(mapSize(a, 'lb')).toBe(100000);
      expect(mapSize(b, 'lb')).toBe(100000);

      // Replicas share one identity; the policy compiled for api allows web on 8080 only.
      const [w1, w2] = a.spec.endpoints;
      expect(w1.identity).toBe(w2.identity);
      expect(a.spec.endpoints.every((e) => !e.policyEnforced)).toBe(true);
      const api = b.spec.endpoints[0];
      expect(api).toMatchObject({ name: 'api-1', ips: ['10.244.2.10'], policyEnforced: true });
      // The node's own addresses reach the pod (features.endpointPolicy.allowFromHost, on by default).
      expect(expandEntries(b.spec.policies.find((p) => p.identity === api.identity)!.ingress, b.spec.peerSets)).toEqual([
        { peer: 1, port: 0, protocol: 0, verdict: 'allow' },
        { peer: w1.identity, port: 8080, protocol: 6, verdict: 'allow' },
      ]);

      const dpc = await eventually('DatapathConfig status', async () => {
        const c = (await custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as {
          status?: { nodes?: number; conditions?: Array<{ type: string; status: string; message: string }> };
        };
        return c.status?.nodes === 2 ? c : undefined;
      });
      expect(dpc.status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', message: 'in effect on 2 node(s)' });
      expect(dpc.status?.conditions?.find((c) => c.type === 'Programmed')).toMatchObject({ status: 'False', message: '0/2 node(s) run the latest NodeDatapath revision' });

      // Agents report the revision they applied; the config aggregates it.
      for (const [n, rev] of [['node-a', a.spec.revision], ['node-b', b.spec.revision]] as const)
        await custom.patchClusterCustomObjectStatus({ ...gvr(NodeDatapathResource), name: n, body: { status: { observedRevision: rev } } }, merge);
      await eventually('nodes programmed', async () => {
        const c = (await custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as {
          status?: { nodesProgrammed?: number; conditions?: Array<{ type: string; status: string }> };
        };
        return c.status?.nodesProgrammed === 2 && c.status.conditions?.find((x) => x.type === 'Programmed')?.status === 'True' ? true : undefined;
      });

      // A policy edit rewrites only the node whose compiled policy changes.
      a = await ndp('node-a');
      await custom.patchNamespacedCustomObject(
        { ...gvr(NetworkPolicyResource), namespace: 'shop', name: 'api-in', body: { spec: policy(9090).spec } },
        merge,
      );
      b = await ndpWhen('node-b', (n) => ingressOf(n).some((e) => e.port === 9090));
      expect(b.spec.revision).toBe(settledRevision + 1);
      // `weir plan` on the live cluster counts each node's policy trie as its agent will hold it.
      const plan = await planFromCluster(cluster().kubeConfig());
      const policyRow = plan.find((r) => r.node === 'node-b' && r.map === 'policy');
      expect(policyRow?.demand).toBe(policyMapContents(b.spec).length);
      expect(policyRow?.demand).toBeGreaterThan(0);
      revisionAfterEdit = b.spec.revision;
      await new Promise((r) => setTimeout(r, 1000));
      expect((await ndp('node-a')).metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    } finally {
      await op.stop();
    }

    // A new operator process finds the same identities and has nothing to write.
    const identitiesBefore = (await custom.listClusterCustomObject({ ...gvr(IdentityResource), })) as { items: Array<{ metadata: { name: string } }> };
    const again = startOperator();
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const identitiesAfter = (await custom.listClusterCustomObject({ ...gvr(IdentityResource), })) as { items: Array<{ metadata: { name: string } }> };
      expect(identitiesAfter.items.map((i) => i.metadata.name).sort()).toEqual(identitiesBefore.items.map((i) => i.metadata.name).sort());
      expect((await ndp('node-a')).metadata.resourceVersion).toBe(a.metadata.resourceVersion);
      expect((await ndp('node-b')).spec.revision).toBe(revisionAfterEdit);

      // A new pod on node-a with new labels gets a new identity and lands in node-a's spec.
      await pod('db-1', 'node-a', 'db', '10.244.1.12');
      const a2 = await ndpWhen('node-a', (n) => n.spec.endpoints.length === 3);
      const db = a2.spec.endpoints.find((e) => e.name === 'db-1')!;
      expect(identitiesAfter.items.map((i) => Number(i.metadata.name))).not.toContain(db.identity);
    } finally {
      await again.stop();
    }
  }, 90_000);

  it('reports LB demand above the LB map size before it overflows, and policy status', async () => {
    await core.createNamespacedService({
      namespace: 'shop',
      body: { metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 81 }] } },
    });
    const discovery = cluster().kubeConfig().makeApiClient(DiscoveryV1Api);
    await discovery.createNamespacedEndpointSlice({
      namespace: 'shop',
      body: {
        addressType: 'IPv4',
        metadata: { name: 'api-1', labels: { 'kubernetes.io/service-name': 'api' } },
        endpoints: Array.from({ length: 9 }, (_, i) => ({ addresses: [`10.244.9.${i + 1}`], conditions: { ready: true } })),
        ports: [{ name: 'http', port: 8080 }, { name: 'grpc', port: 8081 }],
      },
    });
    const setLbMax = (lbMax: number): Promise<unknown> =>
      custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { mapSizing: { dynamicSizeRatio: 0.01, lbMax } } } }, merge);
    const capacity = async (): Promise<{ status: string; message: string } | undefined> => {
      const c = (await custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as {
        status?: { conditions?: Array<{ type: string; status: string; message: string }> };
      };
      return c.status?.conditions?.find((x) => x.type === 'MapCapacity');
    };

    await setLbMax(16);
    const op = startOperator();
    try {
      // 9 backends × 2 ports = 18 entries needed, 16 available.
      const low = await eventually('MapCapacity False', async () => {
        const c = await capacity();
        return c?.status === 'False' ? c : undefined;
      });
      expect(low.message).toContain('node-a: lb needs 18 entries (service backends × ports) but holds 16; raise spec.mapSizing.lbMax');
      const events = await eventually('MapOverflow events', async () => {
        const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'reason=MapOverflow' });
        return list.items.length >= 2 ? list.items : undefined;
      });
      expect(events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}/${e.type}`).sort()).toEqual(['Node/node-a/Warning', 'Node/node-b/Warning']);

      await setLbMax(1024);
      await eventually('MapCapacity True', async () => ((await capacity())?.status === 'True' ? true : undefined));

      const policyStatus = await eventually('policy status', async () => {
        const p = (await custom.getNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', name: 'api-in' })) as {
          metadata: { generation: number };
          status?: { observedGeneration?: number; selectedEndpoints?: number; conditions?: Array<{ type: string; status: string; reason: string }> };
        };
        return p.status?.observedGeneration === p.metadata.generation ? p : undefined;
      });
      expect(policyStatus.status).toMatchObject({
        selectedEndpoints: 1,
        conditions: [
          { type: 'Ready', status: 'True', reason: 'Compiled' },
          { type: 'Enforced', status: 'True', reason: 'Compiled' },
        ],
      });
    } finally {
      await op.stop();
    }
  }, 90_000);

  it('says what it does not enforce: HTTP rules in status and an event, an IPv6 ipBlock in an event, and keeps it out of every node', async () => {
    const http = {
      apiVersion: API_VERSION,
      kind: 'NetworkPolicy',
      metadata: { name: 'api-http', namespace: 'shop' },
      spec: {
        endpointSelector: { matchLabels: { app: 'api' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }], rules: { http: [{ method: 'GET' }] } }] }],
      },
    };
    await custom.createNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', body: http });
    // Through kubectl, as a user writes it: the wire form, `from` and all.
    const c = cluster();
    const file = `${c.dir}/v6.yaml`;
    (await import('node:fs')).writeFileSync(
      file,
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-v6, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n    - to: [{ipBlock: {cidr: "::/0"}}]\n    - to: [{ipBlock: {cidr: "203.0.113.0/24"}}]\n',
    );
    await c.kubectl(['apply', '-f', file]);
    const op = startOperator();
    try {
      const status = await eventually('api-http status', async () => {
        const p = (await custom.getNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', name: 'api-http' })) as {
          status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
        };
        return p.status?.conditions?.find((x) => x.type === 'Enforced');
      });
      expect(status).toMatchObject({ status: 'False', reason: 'NotFullyEnforced', message: 'L7 rules need the L7 proxy, which DatapathConfig default turns off (features.l7Proxy): its HTTP rules apply at L4 only there' });
      const events = await eventually('NotEnforced events', async () => {
        const list = await core.listNamespacedEvent({ namespace: 'shop', fieldSelector: 'reason=NotEnforced' });
        return list.items.length >= 2 ? list.items : undefined;
      });
      expect(events.map((e) => `${e.involvedObject.apiVersion}/${e.involvedObject.name}: ${e.message}`).sort()).toEqual([
        'networking.k8s.io/v1/web-v6: egress[0].to[0].ipBlock: ::/0 is IPv6, which the datapath does not enforce yet; this peer is left out',
        'weir.dev/v1alpha1/api-http: L7 rules need the L7 proxy, which DatapathConfig default turns off (features.l7Proxy): its HTTP rules apply at L4 only there',
      ]);
      // The IPv4 block is compiled; the IPv6 one reaches no node.
      const a = await ndpWhen('node-a', (n) => ((n.spec as { cidrIdentities?: unknown[] }).cidrIdentities ?? []).length > 0);
      expect((a.spec as unknown as { cidrIdentities: Array<{ cidr: string }> }).cidrIdentities.map((x) => x.cidr)).toEqual(['203.0.113.0/24']);
    } finally {
      await op.stop();
      await custom.deleteNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', name: 'api-http' });
      await c.kubectl(['delete', '-f', file]);
    }
  }, 90_000);

  it('a weir policy is not "Enforced" where its config turns policy off or only audits it', async () => {
    const body = { apiVersion: API_VERSION, kind: 'NetworkPolicy', metadata: { name: 'api-l4', namespace: 'shop' }, spec: { endpointSelector: { matchLabels: { app: 'api' } }, ingress: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }] }] } };
    await custom.createNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', body });
    const setPolicy = (endpointPolicy: Record<string, boolean>) =>
      custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { endpointPolicy } } } }, merge);
    const enforced = (want: (c: { status: string; reason: string; message: string }) => boolean) =>
      eventually('the Enforced condition', async () => {
        const p = (await custom.getNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', name: 'api-l4' })) as { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
        const c = p.status?.conditions?.find((x) => x.type === 'Enforced');
        return c && want(c) ? c : undefined;
      });
    const op = startOperator();
    try {
      expect(await enforced((c) => c.status === 'True')).toMatchObject({ message: 'every rule is enforced as written' });
      await setPolicy({ auditMode: true });
      expect(await enforced((c) => c.status === 'False')).toMatchObject({
        reason: 'NotFullyEnforced',
        message: 'DatapathConfig default runs endpoint policy in audit mode (features.endpointPolicy.auditMode): what it denies is counted, not dropped, there',
      });
      await setPolicy({ auditMode: false, enabled: false });
      expect(await enforced((c) => c.message.includes('turns endpoint policy off'))).toMatchObject({ status: 'False' });
      await setPolicy({ enabled: true });
      await enforced((c) => c.status === 'True');
    } finally {
      await op.stop();
      await setPolicy({ enabled: true, auditMode: false });
      await custom.deleteNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'shop', name: 'api-l4' });
    }
  }, 90_000);

  it('collects the identity of a label set no pod uses any more', async () => {
    const listIds = async (): Promise<number[]> =>
      ((await custom.listClusterCustomObject({ ...gvr(IdentityResource), })) as { items: Array<{ metadata: { name: string } }> }).items.map((i) =>
        Number(i.metadata.name),
      );
    const op = startOperator();
    try {
      const a = await ndpWhen('node-a', (n) => n.spec.endpoints.some((e) => e.name === 'db-1'));
      const dbIdentity = a.spec.endpoints.find((e) => e.name === 'db-1')!.identity;
      const webIdentity = a.spec.endpoints.find((e) => e.name === 'web-1')!.identity;
      expect(await listIds()).toContain(dbIdentity);
      await core.deleteNamespacedPod({ name: 'db-1', namespace: 'shop', gracePeriodSeconds: 0 });
      await eventually('db identity collected', async () => (!(await listIds()).includes(dbIdentity) ? true : undefined));
      expect(await listIds()).toContain(webIdentity);
      await ndpWhen('node-a', (n) => n.spec.endpoints.length === 2);
    } finally {
      await op.stop();
    }
  }, 60_000);
  it('refuses a node with more pods than a NodeDatapath holds, with an event, and leaves the others alone', async () => {
    await node('node-c', '8Gi', '2');
    const names = Array.from({ length: 513 }, (_, i) => `crowd-${i}`);
    for (let i = 0; i < names.length; i += 32)
      await Promise.all(names.slice(i, i + 32).map((n, k) => pod(n, 'node-c', 'crowd', `10.245.${Math.floor((i + k) / 250)}.${((i + k) % 250) + 1}`)));
    const op = startOperator();
    try {
      const events = await eventually('TooManyEndpoints event', async () => {
        const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'reason=TooManyEndpoints' });
        return list.items.length ? list.items : undefined;
      }, 60_000);
      expect(events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}/${e.type}`)).toEqual(['Node/node-c/Warning']);
      expect(events[0]?.message).toContain('513 pods with addresses on node node-c, more than the 512 one NodeDatapath holds');
      await ndpWhen('node-a', (n) => n.spec.endpoints.length > 0);
      // The config does not count node-c as programmed, and says why.
      const programmedCondition = async () =>
        ((await custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }).status?.conditions?.find((c) => c.type === 'Programmed');
      const stuck = await eventually('Programmed names node-c', async () => {
        const c = await programmedCondition();
        return c?.reason === 'NodesNotProgrammable' ? c : undefined;
      });
      expect(stuck).toMatchObject({ status: 'False' });
      expect(stuck.message).toContain('1 cannot be given it: node-c: more than 512 pods with addresses (513)');
      await core.deleteNamespacedPod({ name: 'crowd-512', namespace: 'shop', gracePeriodSeconds: 0 });
      await ndpWhen('node-c', (n) => n.spec.endpoints.length === 512);
      await eventually('node-c no longer stuck', async () => (await programmedCondition())?.reason !== 'NodesNotProgrammable');
    } finally {
      await op.stop();
    }
  }, 120_000);
});
