// End to end on the multi-node sandbox: real API server, operator and one agent per node; pods
// made by the CNI bridge plugin; real TCP between pod namespaces, across nodes, and from outside.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../harness/cluster.js';
import { repoRoot } from '../harness/paths.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestPrometheus } from '../harness/prometheus.js';
import { merge, Sandbox, type SandboxNode, type SandboxPod } from '../../sandbox/sandbox.js';
import { eventually } from '../harness/wait.js';
import { PodProcess, runInPod } from '../../sandbox/pods.js';
import { hostAddresses } from '../../agent/datapath/interfaces.js';
import { API_VERSION, DatapathConfigResource, NetworkPolicyResource, NodeDatapathResource, gvr, type NodeDatapath } from '../../api/v1alpha1/index.js';

const VIP = '10.96.10.10';
const DNS_VIP = '10.96.10.53';
const NODE_PORT = 30080;

interface Stream {
  greeting: string;
  sent: number;
  localDigest: string;
  remoteDigest: string;
  remoteBytes: number;
  error?: string;
}

describePrivileged('sandbox: operator and agents on two nodes', () => {
  let cluster: TestCluster;
  let sb: Sandbox;
  let n1: SandboxNode;
  let n2: SandboxNode;
  const pod = (name: string): SandboxPod => {
    const p = sb.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  };
  const tryTcp = (from: string, ip: string, port: number, ms = 1500) => sb.run<string>(pod(from), ['tcp-try', ip, String(port), String(ms)]);

  const webPolicy = (ports: number[]) => ({
    apiVersion: API_VERSION,
    kind: 'NetworkPolicy',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      endpointSelector: { matchLabels: { app: 'web' } },
      ingress: [
        { fromEndpoints: [{ matchLabels: { app: 'client' } }], toPorts: [{ ports: ports.map((port) => ({ port, protocol: 'TCP' })) }] },
        // NodePort clients: from outside (world), or SNATed by another node (cluster).
        { fromEntities: ['world', 'cluster'], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] },
      ],
    },
  });

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wsb', nodes: 2 });
    [n1, n2] = sb.nodes as [SandboxNode, SandboxNode];
    await sb.createDatapathConfig({
      features: { prefilter: { denyCIDRs: [`${sb.outside[1]?.ip}/32`] } },
      mapSizing: { ctTCPMax: 65536, ctAnyMax: 16384, natMax: 16384, lbMax: 4096, endpointMax: 4096, policyMax: 16384, prefilterMax: 1024 },
    });
    // As on a real node: Weir runs before the pods it enforces from their first packet (weir-cni).
    await sb.startControlPlane();
    await sb.addPod(n1, 'client', { app: 'client' });
    await sb.addPod(n1, 'web-1', { app: 'web' });
    await sb.addPod(n2, 'web-2', { app: 'web' });
    await sb.addPod(n2, 'client-2', { app: 'client' });
    await sb.addPod(n2, 'db', { app: 'db' });
    for (const w of ['web-1', 'web-2']) {
      await sb.serve(pod(w), ['serve-tcp', '8080', w]);
      await sb.serve(pod(w), ['serve-tcp', '9090', w]);
    }
    await sb.serve(pod('db'), ['serve-tcp', '5432', 'db']);
    await sb.serve(pod('db'), ['serve-tcp', '5433', 'db']);
    await sb.core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'web' }, spec: { type: 'NodePort', clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: NODE_PORT, protocol: 'TCP' }] } },
    });
    await sb.setEndpoints('web', 'default', [{ name: 'http', port: 8080, protocol: 'TCP' }], [pod('web-1'), pod('web-2')]);
    await sb.custom.createNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', body: webPolicy([8080]) });
    await sb.core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'db' }, spec: { clusterIP: '10.96.10.20', ports: [{ port: 5432 }] } } });
    execFileSync('kubectl', ['--kubeconfig', cluster.kubeconfigPath, 'apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'db', namespace: 'default' },
        spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 5432, protocol: 'TCP' }] }] },
      }),
    });
    await sb.settled();
  }, 300_000);

  afterAll(async () => {
    await sb?.stop();
    await cluster?.stop();
  }, 60_000);

  it('pod to pod on one node obeys a weir NetworkPolicy: allowed port connects, denied port is refused', async () => {
    expect(await tryTcp('client', pod('web-1').ip, 8080)).toBe('connected');
    expect(await tryTcp('client', pod('web-1').ip, 9090)).toBe('timeout');
  });

  it('pod to pod across nodes obeys it too', async () => {
    expect(await tryTcp('client', pod('web-2').ip, 8080)).toBe('connected');
    expect(await tryTcp('client', pod('web-2').ip, 9090)).toBe('timeout');
  });

  it('a standard NetworkPolicy is enforced the same way', async () => {
    expect(await tryTcp('client', pod('db').ip, 5432)).toBe('connected');
    expect(await tryTcp('client', pod('db').ip, 5433)).toBe('timeout');
    expect(await tryTcp('client-2', pod('db').ip, 5432)).toBe('connected');
  });

  it('a standard NetworkPolicy applied while the operator runs: its peer reaches UDP 5353, an intruder does not, directly or by ClusterIP', async () => {
    // Objects that arrive by watch, as a user's kubectl apply does once Weir runs (the list at
    // start gave client-node models, the watch raw JSON: \`from\` was read as absent).
    const backends = [await sb.addPod(n1, 'backend-1', { app: 'backend' }), await sb.addPod(n2, 'backend-2', { app: 'backend' })];
    const frontend = await sb.addPod(n2, 'frontend', { app: 'frontend' });
    const intruder = await sb.addPod(n1, 'intruder', { app: 'intruder' });
    for (const b of backends) await sb.serve(b, ['serve-udp', '5353', b.name]);
    await sb.core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'dns' }, spec: { clusterIP: DNS_VIP, ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }] } } });
    await sb.setEndpoints('dns', 'default', [{ name: 'dns', port: 5353, protocol: 'UDP' }], backends);
    execFileSync('kubectl', ['--kubeconfig', cluster.kubeconfigPath, 'apply', '-f', '-'], {
      input: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: backend, namespace: default}
spec:
  podSelector: {matchLabels: {app: backend}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: frontend}}}]
      ports: [{protocol: UDP, port: 5353}]
`,
    });
    const ask = (from: SandboxPod, ip: string, port: number) => sb.run<{ reply?: string; error?: string }>(from, ['udp-ask', ip, String(port), '0']);
    try {
      // The intruder is refused everywhere once the policy is in (it had been open before).
      await eventually('intruder refused', async () => ((await Promise.all(backends.map((b) => ask(intruder, b.ip, 5353)))).every((r) => r.error === 'timeout') ? true : undefined), 30_000);
      for (const b of backends) {
        expect(await ask(frontend, b.ip, 5353)).toMatchObject({ reply: `${b.name}:hi` });
        expect(await ask(intruder, b.ip, 5353)).toEqual({ error: 'timeout' });
      }
      // Through the ClusterIP the intruder's datagrams reach a backend's address and are refused there.
      for (let i = 0; i < 3; i++) expect(await ask(intruder, DNS_VIP, 53)).toEqual({ error: 'timeout' });
      expect((await ask(frontend, DNS_VIP, 53)).reply).toMatch(/^backend-[12]:hi$/);
    } finally {
      execFileSync('kubectl', ['--kubeconfig', cluster.kubeconfigPath, 'delete', 'networkpolicy/backend', 'service/dns', '--ignore-not-found']);
      for (const p of [...backends, frontend, intruder]) await sb.deletePod(p);
    }
  }, 120_000);

  it('a new pod is enforced from its first packet: weir-cni answers ADD once the agent denies it everything, until the operator names it', async () => {
    // Without the operator nothing names the pod: it keeps the init identity, deterministically.
    await sb.stopOperator();
    let fresh: SandboxPod | undefined;
    try {
      fresh = await sb.addPod(n1, 'fresh', { app: 'client' });
      const ep = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'lookup', 'pinned', join(n1.pinRoot, 'weir_endpoints4'), 'key', ...fresh.ip.split('.')], { encoding: 'utf8' })) as { value: string[] };
      // endpoint_info: ifindex, identity (5, init), flags (both directions enforced).
      const words = Buffer.from(ep.value.map((b) => parseInt(b, 16)));
      expect({ identity: words.readUInt32LE(4), flags: words.readUInt32LE(8) & 3 }).toEqual({ identity: 5, flags: 3 });
      // As a client it would be allowed to web-1:8080; as an unnamed pod it is not, either way.
      expect(await tryTcp('fresh', pod('web-1').ip, 8080, 1000)).toBe('timeout');
      expect(await tryTcp('client', fresh.ip, 22, 1000)).toBe('timeout');
    } finally {
      sb.startOperator();
    }
    await sb.settled();
    expect(await tryTcp('fresh', pod('web-1').ip, 8080)).toBe('connected');
    await sb.deletePod(fresh);
    // DEL through the chain: the agent forgets the pod.
    expect(readdirSync(n1.cniStateDir).filter((f) => f.startsWith(`${fresh.net.containerId}`))).toEqual([]);
  }, 90_000);

  it('a pod waits while its node agent is down (ADD answers "try again later") and starts enforced once it is back', async () => {
    await sb.killAgent(n2);
    const adding = sb.addPod(n2, 'patient', { app: 'client' });
    let done = false;
    void adding.then(() => (done = true), () => (done = true));
    await new Promise((r) => setTimeout(r, 3000));
    expect(done).toBe(false);
    sb.startAgent(n2);
    const patient = await adding;
    await sb.agentReady(n2);
    await sb.settled();
    expect(await tryTcp('patient', pod('web-1').ip, 8080)).toBe('connected');
    expect(await tryTcp('patient', pod('web-1').ip, 9090)).toBe('timeout');
    await sb.deletePod(patient);
  }, 120_000);

  it("a CIDR rule covers a narrower CIDR another policy names, but not its except: real traffic to hosts outside the cluster", async () => {
    // ext (.200) and a third outside host (.202) serve TCP 9000 and route replies back to n1's pods.
    const ext = sb.outside[0];
    const ext3 = sb.lab.addNamespace('ext3');
    sb.lab.addVeth({ ns: ext3, name: 'eth0' }, { ns: `${sb.prefix}-lan`, name: 'ext3' });
    sb.lab.enslave(`${sb.prefix}-lan`, 'ext3', 'br0');
    sb.lab.addAddress(ext3, 'eth0', '192.168.77.202/24');
    for (const ns of [ext.ns, ext3]) sb.lab.addRoute(ns, n1.podCidr, n1.ip);
    const outsideServers = [await PodProcess.start(ext.ns, ['serve-tcp', '9000', 'ext']), await PodProcess.start(ext3, ['serve-tcp', '9000', 'ext3'])];
    const probe = await sb.addPod(n1, 'probe', { app: 'probe' });
    const weirPolicy = (name: string, spec: Record<string, unknown>) =>
      sb.custom.createNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', body: { apiVersion: API_VERSION, kind: 'NetworkPolicy', metadata: { name }, spec } });
    try {
      await weirPolicy('probe-out', { endpointSelector: { matchLabels: { app: 'probe' } }, egress: [{ toCIDRSet: [{ cidr: '192.168.77.192/26', except: ['192.168.77.202/32'] }] }] });
      // Another policy, selecting nobody here, names ext's own /32: a CIDR identity of its own.
      await weirPolicy('names-ext', { endpointSelector: { matchLabels: { app: 'nobody' } }, egress: [{ toCIDR: ['192.168.77.200/32'] }] });
      await sb.settled();
      await eventually('the except refused', async () => ((await tryTcp('probe', '192.168.77.202', 9000, 800)) === 'timeout' ? true : undefined), 30_000);
      expect(await tryTcp('probe', ext.ip, 9000)).toBe('connected');
      expect(await tryTcp('probe', '192.168.77.202', 9000)).toBe('timeout');
      // Outside the block: refused as well (egress is default-deny for the probe).
      expect(await tryTcp('probe', pod('web-1').ip, 8080)).toBe('timeout');
    } finally {
      for (const name of ['probe-out', 'names-ext'])
        await sb.custom.deleteNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', name }).catch(() => undefined);
      await sb.deletePod(probe);
      for (const p of outsideServers) p.stop();
    }
  }, 90_000);

  it('the node reaches its pods whatever policy allows (kubelet probes), unless allowFromHost is off', async () => {
    // db admits only clients on 5432; the node itself reaches 5433 too, another pod does not.
    const fromNode = (ms = 1500) => runInPod<string>(n2.ns, ['tcp-try', pod('db').ip, '5433', String(ms)]);
    expect(await fromNode()).toBe('connected');
    expect(await tryTcp('client-2', pod('db').ip, 5433)).toBe('timeout');
    const setHost = (allowFromHost: boolean) =>
      sb.custom.patchClusterCustomObject(
        { ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { endpointPolicy: { allowFromHost } } } } },
        merge,
      );
    await setHost(false);
    try {
      await eventually('host refused', async () => ((await fromNode(1000)) === 'timeout' ? true : undefined), 30_000);
    } finally {
      await setHost(true);
    }
    await eventually('host allowed again', async () => ((await fromNode(1000)) === 'connected' ? true : undefined), 30_000);
  }, 90_000);

  it('defaultDeny judges a pod no policy selects, both ways; a new policy lets exactly its peer in, and nothing it denies passes once the node says programmed', async () => {
    const lonely = await sb.addPod(n2, 'lonely', { app: 'lonely' });
    const peer = await sb.addPod(n1, 'peer', { app: 'peer' });
    await sb.serve(lonely, ['serve-tcp', '7070', 'lonely']);
    await sb.serve(peer, ['serve-tcp', '7071', 'peer']);
    await sb.settled();
    const policy = (name: string, spec: Record<string, unknown>) => ({ apiVersion: API_VERSION, kind: 'NetworkPolicy', metadata: { name, namespace: 'default' }, spec });
    const tcp = (port: number) => [{ ports: [{ port, protocol: 'TCP' }] }];
    // The sources' own egress is open towards lonely, so a refusal is lonely's ingress deciding.
    const toLonely = policy('to-lonely', {
      endpointSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['peer', 'client'] }] },
      egress: [{ toEndpoints: [{ matchLabels: { app: 'lonely' } }], toPorts: tcp(7070) }],
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'lonely' } }], toPorts: tcp(7071) }],
    });
    const lonelyPolicy = policy('lonely', {
      endpointSelector: { matchLabels: { app: 'lonely' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'peer' } }], toPorts: tcp(7070) }],
      egress: [{ toEndpoints: [{ matchLabels: { app: 'peer' } }], toPorts: tcp(7071) }],
    });
    const create = (body: ReturnType<typeof policy>) => sb.custom.createNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', body });
    const remove = (name: string) => sb.custom.deleteNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', name }).catch(() => undefined);
    const setDefaultDeny = (defaultDeny: boolean) =>
      sb.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { endpointPolicy: { defaultDeny } } } } }, merge);
    const ndp2 = async () => (await sb.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n2.name })) as NodeDatapath;
    const fromNode = () => runInPod<string>(n2.ns, ['tcp-try', lonely.ip, '7070', '1000']);
    const reaches = (from: string, ip: string, port: number, want: string) => eventually(`${from} -> ${ip}:${port} ${want}`, async () => (await tryTcp(from, ip, port, 1000)) === want, 30_000);
    try {
      expect(await tryTcp('client', lonely.ip, 7070)).toBe('connected');
      await create(toLonely);
      await reaches('peer', lonely.ip, 7070, 'connected');

      // A policy selects lonely while client (refused by it) and peer (allowed) keep trying: no
      // attempt of client's that starts after n2 reports the revision programmed may connect.
      // Each attempt waits 900 ms, under the first SYN retransmit, so a slow answer is not missed.
      const before = (await ndp2()).spec?.revision ?? 0;
      const sampling = [sb.run<Array<{ t: number; r: string }>>(pod('client'), ['tcp-sample', lonely.ip, '7070', '30000', '50', '900'], 60_000), sb.run<Array<{ t: number; r: string }>>(peer, ['tcp-sample', lonely.ip, '7070', '30000', '100', '900'], 60_000)];
      await create(lonelyPolicy);
      const programmedAt = await eventually(
        'n2 programs the revision that selects lonely',
        async () => {
          const d = await ndp2();
          const enforced = d.spec?.endpoints?.find((e) => e.name === 'lonely')?.policyEnforced === true;
          return enforced && (d.spec?.revision ?? 0) > before && d.status?.observedRevision === d.spec?.revision ? Date.now() : undefined;
        },
        25_000,
        50,
      );
      const [fromClient, fromPeer] = await Promise.all(sampling);
      const after = (xs: Array<{ t: number; r: string }>) => xs.filter((x) => x.t >= programmedAt);
      expect(after(fromClient).length).toBeGreaterThan(10);
      expect(after(fromClient).filter((x) => x.r === 'connected')).toEqual([]);
      // The peer's attempts connect (a loaded machine may stall one past its 900 ms; none is refused).
      const peerAfter = after(fromPeer);
      expect(peerAfter.length).toBeGreaterThan(5);
      expect(peerAfter.filter((x) => x.r === 'connected').length).toBeGreaterThan(peerAfter.length * 0.9);

      // No policy selects lonely, and the config denies by default: nothing in, nothing out,
      // but the node's own probes (allowFromHost).
      await remove('lonely');
      await reaches('client', lonely.ip, 7070, 'connected');
      await setDefaultDeny(true);
      await reaches('peer', lonely.ip, 7070, 'timeout');
      expect(await tryTcp('client', lonely.ip, 7070)).toBe('timeout');
      expect(await tryTcp('lonely', peer.ip, 7071)).toBe('timeout');
      expect(await fromNode()).toBe('connected');

      // A policy selects it: exactly its peer is let in, and it reaches exactly that peer.
      await create(lonelyPolicy);
      await reaches('peer', lonely.ip, 7070, 'connected');
      expect(await tryTcp('client', lonely.ip, 7070)).toBe('timeout');
      expect(await tryTcp('lonely', peer.ip, 7071)).toBe('connected');
      expect(await fromNode()).toBe('connected');
    } finally {
      await setDefaultDeny(false);
      await remove('lonely');
      await remove('to-lonely');
      await sb.deletePod(peer);
      await sb.deletePod(lonely);
    }
    await reaches('client', pod('web-1').ip, 8080, 'connected');
  }, 240_000);

  it('a policy change takes effect quickly and leaves allowed established connections alone', async () => {
    const hold = await sb.serve(pod('client'), ['tcp-hold', pod('web-2').ip, '8080', '4000']);
    const t0 = Date.now();
    await sb.custom.patchNamespacedCustomObject(
      { ...gvr(NetworkPolicyResource), namespace: 'default', name: 'web', body: { spec: webPolicy([8080, 9090]).spec } },
      merge,
    );
    await eventually('port 9090 allowed', async () => (await tryTcp('client', pod('web-2').ip, 9090, 300)) === 'connected', 15_000);
    const tookMs = Date.now() - t0;
    console.log(`policy change to traffic allowed: ${tookMs} ms`);
    expect(await hold.result<{ error: string | null; sent: number }>()).toEqual({ error: null, sent: expect.any(Number) });
  });

  it('a ClusterIP spreads connections over its backends from every node, and follows scaling', async () => {
    for (const from of ['client', 'client-2']) {
      const seen = await sb.run<Record<string, number>>(pod(from), ['tcp-names', VIP, '80', '40']);
      expect(Object.keys(seen).sort()).toEqual(['web-1', 'web-2']);
    }
    const web3 = await sb.addPod(n2, 'web-3', { app: 'web' });
    await sb.serve(web3, ['serve-tcp', '8080', 'web-3']);
    await sb.setEndpoints('web', 'default', [{ name: 'http', port: 8080, protocol: 'TCP' }], [pod('web-1'), pod('web-2'), web3]);
    await eventually('web-3 reached', async () => (await sb.run<Record<string, number>>(pod('client'), ['tcp-names', VIP, '80', '30']))['web-3'] !== undefined, 15_000);
    await sb.setEndpoints('web', 'default', [{ name: 'http', port: 8080, protocol: 'TCP' }], [pod('web-2'), web3]);
    await eventually('web-1 gone', async () => (await sb.run<Record<string, number>>(pod('client'), ['tcp-names', VIP, '80', '30']))['web-1'] === undefined, 15_000);
    const after = await sb.run<Record<string, number>>(pod('client-2'), ['tcp-names', VIP, '80', '40']);
    expect(Object.keys(after).sort()).toEqual(['web-2', 'web-3']);
  });

  it('a NodePort answers from outside the cluster on every node, for local and remote backends', async () => {
    for (const n of sb.nodes) {
      const seen = await sb.runOutside<Record<string, number>>(0, ['tcp-names', n.ip, String(NODE_PORT), '30']);
      expect(Object.values(seen).reduce((a, b) => a + b, 0)).toBe(30);
      // n1 has no backend left after scaling: all its NodePort traffic went to n2 through SNAT.
      expect(Object.keys(seen).every((k) => k.startsWith('web-'))).toBe(true);
    }
  });

  it('the prefilter drops traffic from a denied CIDR outside the cluster', async () => {
    expect(await sb.runOutside<string>(1, ['tcp-try', n1.ip, String(NODE_PORT), '1500'])).toBe('timeout');
    expect(await sb.runOutside<string>(0, ['tcp-try', n1.ip, String(NODE_PORT), '1500'])).toBe('connected');
    expect(await sb.metrics(n1)).toMatch(/weir_datapath_packets_total\{direction="ingress",reason="prefilter_cidr"\} [1-9]/);
  });

  it('keeps its datapath through an API server outage and resyncs when it returns', async () => {
    const hold = await sb.serve(pod('client'), ['tcp-hold', pod('web-2').ip, '8080', '6000']);
    const outage = cluster.restartApiServer(3000);
    await new Promise((r) => setTimeout(r, 1500));
    // API down: established and new connections work, denials still hold.
    expect(await tryTcp('client', pod('web-1').ip, 8080)).toBe('connected');
    expect(await tryTcp('client', pod('db').ip, 5433, 800)).toBe('timeout');
    await outage;
    expect(await hold.result<{ error: string | null }>()).toMatchObject({ error: null });
    // A change made after the outage reaches the kernel: the agents watch again.
    await sb.custom.patchNamespacedCustomObject(
      { ...gvr(NetworkPolicyResource), namespace: 'default', name: 'web', body: { spec: webPolicy([8080]).spec } },
      merge,
    );
    await eventually('port 9090 denied again', async () => (await tryTcp('client', pod('web-2').ip, 9090, 300)) === 'timeout', 30_000);
    await sb.custom.patchNamespacedCustomObject(
      { ...gvr(NetworkPolicyResource), namespace: 'default', name: 'web', body: { spec: webPolicy([8080, 9090]).spec } },
      merge,
    );
    await eventually('port 9090 allowed again', async () => (await tryTcp('client', pod('web-2').ip, 9090, 300)) === 'connected', 30_000);
  }, 60_000);

  it('removes what a deleted pod left: its map entries and its attachments', async () => {
    const linksOf = () => readdirSync(join(n2.pinRoot, 'links')).filter((l) => l.startsWith('endpoint-'));
    const before = linksOf().length;
    await sb.deletePod(pod('web-3'));
    await sb.setEndpoints('web', 'default', [{ name: 'http', port: 8080, protocol: 'TCP' }], [pod('web-2')]);
    await eventually('web-3 links gone', () => linksOf().length === before - 2, 20_000);
    const d = await sb.programmed(n2);
    expect(d.spec.endpoints.map((e) => e.name).sort()).toEqual(['client-2', 'db', 'web-2']);
    const endpoints = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', join(n2.pinRoot, 'weir_endpoints4')], { encoding: 'utf8' })) as unknown[];
    // Three pods and the node's own addresses (its InternalIP and the CNI bridge's gateway).
    expect(endpoints).toHaveLength(3 + (await hostAddresses(n2.nsPath)).length);
  });

  it('NodeDatapath status and the metrics agree with bpftool on each node', async () => {
    const maps = ['weir_endpoints4', 'weir_endpoint_ifs', 'weir_ipcache', 'weir_policy', 'weir_lb4_services', 'weir_lb4_backends'];
    for (const n of sb.nodes) {
      // Status follows the kernel within a reconcile: the previous test changed a Service's
      // endpoints, and a node may still be writing that down. Compare once they have settled.
      const { d, metrics, kernel } = await eventually(`${n.name} status settled`, async () => {
        const d = await sb.programmed(n);
        const metrics = await sb.metrics(n);
        const kernel = maps.map((name) => {
          const path = join(n.pinRoot, name);
          const info = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', path], { encoding: 'utf8' })) as { max_entries: number };
          const entries = (JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', path], { encoding: 'utf8' })) as unknown[]).length;
          return { name, maxEntries: info.max_entries, entries };
        });
        const reported = maps.map((name) => d.status?.maps?.find((m) => m.name === name)).map((m) => ({ name: m?.name, maxEntries: m?.maxEntries, entries: m?.entries }));
        const counted = kernel.every((k) => metrics.includes(`weir_bpf_map_entries{map="${k.name}"} ${k.entries}\n`));
        return counted && JSON.stringify(reported) === JSON.stringify(kernel) ? { d, metrics, kernel } : undefined;
      }, 15_000);
      for (const k of kernel) {
        expect(d.status?.maps?.find((m) => m.name === k.name)).toMatchObject({ maxEntries: k.maxEntries, entries: k.entries });
        expect(metrics).toContain(`weir_bpf_map_entries{map="${k.name}"} ${k.entries}\n`);
        expect(metrics).toContain(`weir_bpf_map_capacity{map="${k.name}"} ${k.maxEntries}`);
      }
      // Every program status names is loaded in the kernel under that id.
      const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name: string }>;
      for (const p of d.status?.programs ?? []) expect(progs.find((k) => k.id === p.id)?.name).toBe(p.name);
    }
  });

  it('a real Prometheus scrapes every agent and PromQL returns map pressure for each node', async () => {
    // A connection open across the nodes keeps a conntrack entry on each while Prometheus looks.
    const hold = await sb.serve(pod('client'), ['tcp-hold', pod('web-2').ip, '8080', '30000']);
    const prom = await TestPrometheus.start(
      'weir-agent',
      sb.nodes.map((n) => ({ address: `127.0.0.1:${n.metricsPort}`, labels: { node: n.name } })),
    );
    try {
      const result = await eventually(
        'pressure for every node',
        async () => {
          const r = await prom.query('weir_bpf_map_pressure{map="weir_ct4_tcp"}');
          return r.length === sb.nodes.length ? r : undefined;
        },
        30_000,
      );
      expect(result.map((s) => s.metric.node).sort()).toEqual(sb.nodes.map((n) => n.name).sort());
      for (const s of result) {
        const v = Number(s.value[1]);
        expect(v).toBeGreaterThan(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      const drops = await prom.query('sum by (node) (weir_datapath_packets_total{reason="policy_default_deny"})');
      expect(drops.length).toBeGreaterThan(0);
    } finally {
      hold.stop();
      await prom.stop();
    }
  }, 60_000);

  it('a stream between pods on one node travels socket to socket (sk_msg), byte-exact', async () => {
    const redirected = async (): Promise<number> => {
      const m = /weir_datapath_bytes_total\{direction="egress",reason="sockmap_redirect"\} (\d+)/.exec(await sb.metrics(n1));
      return m ? Number(m[1]) : 0;
    };
    const before = await redirected();
    const size = 8 * 1024 * 1024;
    const r = await sb.run<Stream>(pod('client'), ['tcp-stream', pod('web-1').ip, '8080', String(size), '16384'], 120_000);
    expect(r).toMatchObject({ sent: size, remoteBytes: size });
    expect(r.remoteDigest).toBe(r.localDigest);
    // The metrics are read from the kernel's per-CPU counters at scrape time.
    expect((await redirected()) - before).toBeGreaterThanOrEqual(size / 2);
  });

  it('kill -9 of an agent during a stream loses no bytes, and the new agent adopts the pinned state', async () => {
    const size = 48 * 1024 * 1024;
    const stream = sb.run<Stream>(pod('client'), ['tcp-stream', pod('web-2').ip, '8080', String(size), '16384'], 120_000);
    await new Promise((r) => setTimeout(r, 200));
    await sb.killAgent(n1);
    await new Promise((r) => setTimeout(r, 1500));
    // While the agent is down: connections still work (the kernel has the state).
    expect(await tryTcp('client', pod('web-2').ip, 8080)).toBe('connected');
    sb.startAgent(n1);
    const r = await stream;
    expect(r).toMatchObject({ sent: size, remoteBytes: size });
    expect(r.remoteDigest).toBe(r.localDigest);
    await sb.agentReady(n1);
    await sb.programmed(n1);
    // Adopted, not recreated: the restarted agent swapped its programs into the pinned links.
    expect(await sb.metrics(n1)).toMatch(/weir_agent_link_operations_total\{op="adopted"\} [1-9]/);
    expect(await sb.metrics(n1)).not.toMatch(/weir_agent_link_operations_total\{op="created"\}/);
    expect(await tryTcp('client', pod('web-2').ip, 8080)).toBe('connected');
 }, 120_000);

  it('weir agent --uninstall removes every program, link and pin it made, and nothing else', async () => {
    await sb.killAgent(n2);
    const linksBefore = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ id: number; prog_id: number }>;
    const n1Links = readdirSync(join(n1.pinRoot, 'links')).length;
    execFileSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'weir.js'), 'agent', '--uninstall', '--node-name', n2.name, '--bpffs-root', n2.pinRoot, '--log-level', 'warn']);
    expect(existsSync(n2.pinRoot)).toBe(false);
    const linksAfter = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' })) as unknown[];
    expect(linksAfter.length).toBeLessThan(linksBefore.length);
    // The other node is untouched.
    expect(readdirSync(join(n1.pinRoot, 'links'))).toHaveLength(n1Links);
    expect(await tryTcp('client', pod('web-1').ip, 8080)).toBe('connected');
    // n2 enforces nothing any more: its pods are plain bridged pods.
    expect(await tryTcp('client-2', pod('db').ip, 5433)).toBe('connected');
  });
});
