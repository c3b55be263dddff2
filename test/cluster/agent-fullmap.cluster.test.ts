// The agent loop with no root: the real operator and agent against the real API server, the
// agent over the in-memory backend (the hollow nodes' one, whose maps refuse new keys when full,
// as the kernel's do). A policy larger than the node's policy map: the node says which map in
// status, records an event on its Node, counts it in a metric, and applies everything else.
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent } from '../../agent/agent.js';
import { MemoryDatapath, MemoryNetwork } from '../../agent/datapath/memory.js';
import { Operator } from '../../operator/operator.js';
import { useTestCluster } from '../harness/cluster.js';
import { addNode, addPod } from '../harness/objects.js';
import { eventually } from '../harness/wait.js';
import { API_VERSION, DatapathConfigResource, NetworkPolicyResource, NodeDatapathResource, gvr } from '../../api/v1alpha1/index.js';

const PEERS = 24;

describe('agent with a map too small for its state', () => {
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const cluster = useTestCluster(async (c) => {
    await c.applyCrds();
    const kc = c.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: 'shop' } } });
    await addNode(core, 'node-a', { address: '192.168.50.1', podCIDR: '10.244.1.0/24' });
    await addNode(core, 'node-b', { address: '192.168.50.2', podCIDR: '10.244.2.0/24' });
    await addPod(core, 'shop', 'api', 'node-a', { app: 'api' }, '10.244.1.10');
    // Each peer its own identity: one policy entry each.
    for (let i = 0; i < PEERS; i++) await addPod(core, 'shop', `web-${i}`, 'node-b', { app: `web-${i}` }, `10.244.2.${10 + i}`);
    await custom.createClusterCustomObject({
      ...gvr(DatapathConfigResource), body: { apiVersion: API_VERSION, kind: 'DatapathConfig', metadata: { name: 'default' }, spec: { mapSizing: { policyMax: 16 } } },
    });
    await custom.createNamespacedCustomObject({
      ...gvr(NetworkPolicyResource), namespace: 'shop',
      body: {
        apiVersion: API_VERSION,
        kind: 'NetworkPolicy',
        metadata: { name: 'api-in' },
        spec: {
          endpointSelector: { matchLabels: { app: 'api' } },
          ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'In', values: Array.from({ length: PEERS }, (_, i) => `web-${i}`) }] }], toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }] }] }],
        },
      },
    });
  });

  it('reports the full map in status, an event and a metric, and applies the other maps', async () => {
    const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const kc = cluster().kubeConfig();
    const ctl = new AbortController();
    const operator = new Operator(kc, log, new Registry(), { workers: 2 });
    const registry = new Registry();
    const backend = new MemoryDatapath();
    const agent = new Agent(
      kc,
      { nodeName: 'node-a', pinRoot: '', objectDir: '', netns: null, cgroupPath: '/', devices: [], xdpMode: 'driver', resyncMs: 1000, conntrackGcMs: 3_600_000 },
      registry,
      log,
      { backend, network: new MemoryNetwork(['10.244.1.10']) },
    );
    const running = [operator.run(ctl.signal), agent.run(ctl.signal)];
    try {
      const ready = await eventually('Ready=False naming weir_policy', async () => {
        const d = (await custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: 'node-a' })) as {
          status?: { conditions?: Array<{ type: string; status: string; message: string }> };
        };
        const c = d.status?.conditions?.find((x) => x.type === 'Ready');
        return c?.status === 'False' && c.message.includes('weir_policy') ? c : undefined;
      }, 30_000);
      expect(ready.message).toContain('map weir_policy could not take every entry it should hold');
      const events = await eventually('MapWriteFailed event', async () => {
        const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'reason=MapWriteFailed' });
        return list.items.length ? list.items : undefined;
      });
      expect(events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}`)).toEqual(['Node/node-a']);
      expect(await registry.getSingleMetricAsString('weir_agent_map_write_failures_total')).toMatch(/weir_agent_map_write_failures_total\{map="weir_policy"\} [1-9]/);
      // Everything else goes in (retried with backoff as identities keep coming): the endpoint and
      // every peer in the ipcache, while the policy map stays full.
      const maps = await eventually('other maps applied', () => {
        const m = new Map(backend.mapStatus().map((x) => [x.name, x.entries]));
        return (m.get('weir_ipcache') ?? 0) >= PEERS + 1 ? m : undefined;
      }, 30_000);
      expect(maps.get('weir_endpoints4')).toBeGreaterThanOrEqual(1);
      expect(maps.get('weir_policy')).toBe(16);
      // The operator saw it coming: the node's expanded trie against policyMax.
      const capacity = await eventually('MapCapacity False', async () => {
        const c = (await custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as {
          status?: { conditions?: Array<{ type: string; status: string; message: string }> };
        };
        const cond = c.status?.conditions?.find((x) => x.type === 'MapCapacity');
        return cond?.status === 'False' ? cond : undefined;
      });
      expect(capacity.message).toMatch(/node-a: policy needs \d+ entries \(entries of the node's policy trie, after range and deny expansion\) but holds 16; raise spec.mapSizing.policyMax/);
    } finally {
      ctl.abort();
      await Promise.allSettled(running);
    }
  }, 90_000);
});
