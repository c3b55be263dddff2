// The agent loop with no root, end to end through the API: the real operator and agent against
// the real API server, the agent over the in-memory backend. A config that turns on audit mode,
// narrows the node-port range and asks for a feature not built yet: each shows where it should
// (the datapath config's flags, the LB map and the node's status, the config's status).
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent } from '../../agent/agent.js';
import { MemoryDatapath, MemoryNetwork } from '../../agent/datapath/memory.js';
import { API_VERSION, DatapathConfigResource, gvr, NodeDatapathResource } from '../../api/v1alpha1/index.js';
import { ConfigFlags, configMap } from '../../common/maps/config.js';
import { lb4Key, lb4ServicesMap } from '../../common/maps/lb.js';
import { Operator } from '../../operator/operator.js';
import { useTestCluster } from '../harness/cluster.js';
import { addNode, addPod } from '../harness/objects.js';
import { eventually } from '../harness/wait.js';

type Conditions = { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };

describe('agent loop over the in-memory datapath', () => {
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const cluster = useTestCluster(async (c) => {
    await c.applyCrds();
    const kc = c.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: 'shop' } } });
    await addNode(core, 'node-a', { address: '192.168.60.1' });
    await addPod(core, 'shop', 'api', 'node-a', { app: 'api' }, '10.244.1.10');
    for (const [name, nodePort] of [['inside', 30080], ['outside', 30500]] as const) {
      await core.createNamespacedService({ namespace: 'shop', body: { metadata: { name }, spec: { type: 'NodePort', selector: { app: 'api' }, ports: [{ port: 80, targetPort: 8080, nodePort }] } } });
      await kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
        namespace: 'shop',
        body: {
          metadata: { name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
          addressType: 'IPv4',
          ports: [{ port: 8080, protocol: 'TCP' }],
          endpoints: [{ addresses: ['10.244.1.10'], conditions: { ready: true } }],
        },
      });
    }
    await custom.createClusterCustomObject({
      ...gvr(DatapathConfigResource),
      body: {
        apiVersion: API_VERSION,
        kind: 'DatapathConfig',
        metadata: { name: 'default' },
        spec: { features: { endpointPolicy: { auditMode: true }, serviceLB: { nodePortRange: { min: 30000, max: 30099 } }, overlay: { mode: 'vxlan', vxlanPort: 8999 }, iptablesFallback: { enabled: true }, masquerade: { enabled: true, nonMasqueradeCIDRs: ['172.20.0.0/16'] } } },
      },
    });
  });

  it('audits policy, serves node ports in range only and says which it does not, and names what is not in effect', async () => {
    const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const kc = cluster().kubeConfig();
    const ctl = new AbortController();
    const backend = new MemoryDatapath();
    const network = new MemoryNetwork(['10.244.1.10']);
    const agent = new Agent(
      kc,
      { nodeName: 'node-a', pinRoot: '', objectDir: '', netns: null, cgroupPath: '/', devices: [], xdpMode: 'driver', resyncMs: 1000, conntrackGcMs: 3_600_000 },
      new Registry(),
      log,
      { backend, network },
    );
    const running = [new Operator(kc, log, new Registry(), { workers: 2 }).run(ctl.signal), agent.run(ctl.signal)];
    try {
      // The node names the node port it does not serve, and is programmed otherwise.
      const degraded = await eventually('Degraded naming the node port', async () => {
        const d = (await custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: 'node-a' })) as Conditions;
        const c = d.status?.conditions?.find((x) => x.type === 'Degraded');
        return c?.status === 'True' && c.message.includes('30500') ? d.status!.conditions! : undefined;
      }, 30_000);
      expect(degraded.find((c) => c.type === 'Degraded')?.message).toContain('service shop/outside node port 30500 is outside serviceLB.nodePortRange 30000-30099: not served');
      expect(degraded.find((c) => c.type === 'Programmed')?.status).toBe('True');

      // The LB map: both services' cluster IPs, and the node port in range on the node's address only.
      const frontends = [...backend.contents(lb4ServicesMap.name).keys()]
        .map((k) => lb4Key.decode(Buffer.from(k, 'hex')))
        .filter((k) => k.backendSlot === 0);
      expect(frontends.filter((k) => k.address === '192.168.60.1').map((k) => k.dport)).toEqual([30080]);
      expect(frontends.filter((k) => k.address !== '192.168.60.1' && k.dport === 80)).toHaveLength(2);

      // Audit mode reaches the datapath as a flag: policy is compiled and judged, drops are counted.
      const cfg = backend.readConfig();
      expect(cfg && (cfg.flags & ConfigFlags.PolicyAudit) !== 0).toBe(true);
      expect(backend.contents(configMap.name).size).toBe(1);

      // The overlay reaches the node as asked: VXLAN on the configured port.
      expect(network.overlay).toMatchObject({ mode: 'vxlan', receive: true, vxlanPort: 8999, underlayDev: 'eth0' });

      // Masquerade reaches the node's rules: its pod CIDR out, the cluster and the exceptions kept.
      expect(network.nodeRules).toMatchObject({ masquerade: true, nodePortMax: 30099 });
      expect(network.nodeRules?.cluster).toEqual(expect.arrayContaining(['172.20.0.0/16', '192.168.60.1']));

      // Every feature is in effect; a fallback with nothing to fall back for is named.
      const inEffect = async (status: string) =>
        eventually(`FeaturesInEffect ${status}`, async () => {
          const c = (await custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as Conditions;
          const cond = c.status?.conditions?.find((x) => x.type === 'FeaturesInEffect');
          return cond?.status === status ? cond : undefined;
        });
      expect(await inEffect('True')).toMatchObject({ reason: 'AllInEffect' });
      await custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { serviceLB: { mode: 'off' } } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      expect(await inEffect('False')).toMatchObject({ reason: 'NotInEffect', message: 'iptablesFallback has nothing to fall back for: serviceLB.mode is off' });
    } finally {
      ctl.abort();
      await Promise.allSettled(running);
    }
  }, 90_000);
});
