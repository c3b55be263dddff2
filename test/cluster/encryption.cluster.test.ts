// The operator's side of encryption against the real API server: node ids and peers in every
// NodeDatapath, the IPsec key read from its Secret (never copied: only its id and fingerprint),
// a key rotation driven phase by phase by the nodes' reports (written here as the agents would
// write them), a bad Secret refused with the nodes keeping their keys, and WireGuard public keys
// passed from one node's status to its peers' specs.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { API_VERSION, DatapathConfigResource, NodeDatapathResource, gvr, type DatapathConfig, type NodeDatapath, type NodeEncryptionStatus } from '../../api/v1alpha1/index.js';
import { Operator } from '../../operator/operator.js';
import { useTestCluster } from '../harness/cluster.js';
import { eventually } from '../harness/wait.js';

const NODES = ['node-a', 'node-b', 'node-c'];
const SECRET = { namespace: 'kube-system', name: 'weir-ipsec-keys' };
const key = (id: number, byte: string) => `${id} rfc4106(gcm(aes)) ${byte.repeat(20)} 128`;

describe('operator: encryption', () => {
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const ctl = new AbortController();
  let running: Promise<void> | undefined;

  // Declared before the cluster's own afterAll, so the operator stops before its API server does.
  afterAll(async () => {
    ctl.abort();
    await running;
  }, 30_000);
  useTestCluster(async (c) => {
    await c.applyCrds();
    const kc = c.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    for (const [i, name] of NODES.entries()) {
      await core.createNode({ body: { metadata: { name }, spec: { podCIDR: `10.244.${i + 1}.0/24` } } });
      await core.patchNodeStatus(
        { name, body: { status: { capacity: { memory: '8Gi', cpu: '2' }, addresses: [{ type: 'InternalIP', address: `192.168.9.${i + 1}` }], nodeInfo: { bootID: `boot-${name}`, machineID: name, systemUUID: name, kernelVersion: '6.1', osImage: 'test', containerRuntimeVersion: 'none', kubeletVersion: 'none', kubeProxyVersion: 'none', operatingSystem: 'linux', architecture: 'amd64' } } } },
        merge,
      );
    }
    await custom.createClusterCustomObject({
      ...gvr(DatapathConfigResource),
      body: { apiVersion: API_VERSION, kind: 'DatapathConfig', metadata: { name: 'default' }, spec: { features: { encryption: { enabled: true, mode: 'ipsec' } } } },
    });
    const op = new Operator(kc, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), new Registry(), { workers: 2 });
    running = op.run(ctl.signal);
  });

  const ndp = (name: string) => custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name }) as Promise<NodeDatapath>;
  const all = () => Promise.all(NODES.map(ndp));
  const secret = (...lines: string[]) => ({ metadata: SECRET, data: { keys: Buffer.from(lines.join('\n')).toString('base64') } });
  /** What an agent writes once it has programmed its keys. */
  const report = (name: string, s: Partial<NodeEncryptionStatus>) =>
    custom.patchClusterCustomObjectStatus({ ...gvr(NodeDatapathResource), name, body: { status: { encryption: { mode: 'ipsec', active: true, ...s } } } }, merge);
  const keysOf = (d: NodeDatapath) => ({ accept: d.spec?.encryption?.ipsec?.keys.map((k) => k.id), send: d.spec?.encryption?.ipsec?.send });
  const featuresCondition = async () => {
    const c = (await custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as DatapathConfig;
    return c.status?.conditions?.find((x) => x.type === 'FeaturesInEffect');
  };

  it('says a missing key Secret in the config, and rolls the key out once it exists: ids, peers, fingerprints', async () => {
    await eventually('the config names the missing Secret', async () => (await featuresCondition())?.message?.includes(`Secret ${SECRET.namespace}/${SECRET.name} not found`), 30_000);
    await core.createNamespacedSecret({ namespace: SECRET.namespace, body: secret(key(1, 'aa')) });
    const ds = await eventually('every node accepts and sends key 1', async () => {
      const d = await all();
      return d.every((x) => x.spec?.encryption?.ipsec?.send === 1) ? d : undefined;
    }, 30_000);
    expect(new Set(ds.map((d) => d.spec!.encryption!.nodeId))).toEqual(new Set([1, 2, 3]));
    const a = ds[0].spec!.encryption!;
    expect(a).toMatchObject({ mode: 'ipsec', strict: true, bootID: 'boot-node-a', ipsec: { secret: SECRET, keys: [{ id: 1, fingerprint: expect.stringMatching(/^[0-9a-f]{32}$/) }], send: 1 } });
    expect(a.peers.map((p) => [p.name, p.address, p.podCIDRs, p.bootID])).toEqual([
      ['node-b', '192.168.9.2', ['10.244.2.0/24'], 'boot-node-b'],
      ['node-c', '192.168.9.3', ['10.244.3.0/24'], 'boot-node-c'],
    ]);
    // The key itself is nowhere in the NodeDatapath.
    expect(JSON.stringify(ds)).not.toContain('aaaaaaaa');
  }, 60_000);

  it("carries a rebooted node's new boot id to its peers' specs, whose pair keys depend on it", async () => {
    await core.patchNodeStatus({ name: 'node-b', body: { status: { nodeInfo: { bootID: 'boot-node-b-2' } } } }, merge);
    // The peers, not only node-b: before, a Node change recomputed that node alone.
    await eventually('node-a and node-c name node-b by its new boot id', async () => {
      const d = await all();
      return [d[0], d[2]].every((x) => x.spec?.encryption?.peers.find((p) => p.name === 'node-b')?.bootID === 'boot-node-b-2');
    }, 30_000);
    expect((await ndp('node-b')).spec?.encryption?.bootID).toBe('boot-node-b-2');
  }, 60_000);

  it('rotates a new key in three phases, each on the nodes reports: install everywhere, switch one at a time, retire', async () => {
    for (const n of NODES) await report(n, { installedKeys: [1], sendingKey: 1 });
    await core.replaceNamespacedSecret({ ...SECRET, body: secret(key(2, 'bb')) });
    // Install: everyone accepts both, nobody sends with 2 before everyone has it.
    await eventually('every node accepts 1 and 2', async () => (await all()).every((d) => JSON.stringify(keysOf(d)) === '{"accept":[1,2],"send":1}'), 30_000);
    await report('node-a', { installedKeys: [1, 2], sendingKey: 1 });
    await report('node-b', { installedKeys: [1, 2], sendingKey: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await all()).map((d) => keysOf(d).send)).toEqual([1, 1, 1]);
    await report('node-c', { installedKeys: [1, 2], sendingKey: 1 });
    // Switch: one node at a time (maxUnavailable 1), the next once it says it sends with 2.
    for (const [i, n] of NODES.entries()) {
      await eventually(`${n} switched`, async () => (await all()).map((d) => keysOf(d).send).filter((s) => s === 2).length === i + 1, 30_000);
      const sends = (await all()).map((d) => keysOf(d).send);
      expect(sends[i]).toBe(2);
      await report(n, { installedKeys: [1, 2], sendingKey: 2 });
    }
    // Retire: everyone sends with 2, so 1 goes.
    await eventually('every node accepts only 2', async () => (await all()).every((d) => JSON.stringify(keysOf(d)) === '{"accept":[2],"send":2}'), 30_000);
  }, 120_000);

  it('refuses a key changed under the same id, and a malformed Secret: nodes keep their keys, the config says why', async () => {
    for (const n of NODES) await report(n, { installedKeys: [2], sendingKey: 2 });
    const before = (await all()).map((d) => d.spec?.encryption?.ipsec);
    await core.replaceNamespacedSecret({ ...SECRET, body: secret(key(2, 'cc')) });
    await eventually('the config refuses the reused id', async () => (await featuresCondition())?.message?.includes('the key with id 2 changed but kept its id'), 30_000);
    expect((await all()).map((d) => d.spec?.encryption?.ipsec)).toEqual(before);
    await core.replaceNamespacedSecret({ ...SECRET, body: secret('3 cbc(aes) 00 128') });
    const cond = await eventually('the config names the malformed line', async () => {
      const c = await featuresCondition();
      return c?.message?.includes('algorithm cbc(aes) is not supported') ? c : undefined;
    }, 30_000);
    expect(cond).toMatchObject({ status: 'False', reason: 'EncryptionNotInEffect' });
    expect((await all()).map((d) => d.spec?.encryption?.ipsec)).toEqual(before);
    const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'reason=EncryptionKeyInvalid' });
    expect(events.items.length).toBeGreaterThan(0);
  }, 90_000);

  it('WireGuard: a public key one node publishes in status reaches its peers specs, and IPsec leaves the specs', async () => {
    await custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { encryption: { mode: 'wireguard' } } } } }, merge);
    await custom.patchClusterCustomObjectStatus({ ...gvr(NodeDatapathResource), name: 'node-b', body: { status: { encryption: { mode: 'wireguard', active: true, publicKey: 'cHVibGljLWtleS1vZi1ub2RlLWItMDEyMzQ1Njc4OT0=' } } } }, merge);
    const a = await eventually('node-a has node-b public key', async () => {
      const d = await ndp('node-a');
      return d.spec?.encryption?.peers.find((p) => p.name === 'node-b')?.publicKey ? d : undefined;
    }, 30_000);
    expect(a.spec?.encryption).toMatchObject({ mode: 'wireguard' });
    expect(a.spec?.encryption?.ipsec).toBeUndefined();
    expect(a.spec?.encryption?.peers.find((p) => p.name === 'node-c')?.publicKey).toBeUndefined();
  }, 60_000);
});
