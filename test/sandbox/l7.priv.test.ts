// L7 policy end to end: HTTP rules enforced by each node's proxy, which the datapath hands the
// flows with a redirect verdict (bpf/lib/proxy.h, bpf/tc_proxy.c). Real HTTP clients and servers
// in pods on two sandbox nodes: ingress on one node and across nodes, egress directly and through a
// ClusterIP, both sides' rules on one node, allowed and denied requests on one keep-alive
// connection, a policy change between two requests, an Upgrade, a 100 MiB streamed body, the
// access log and metrics, the proxy killed (in-flight requests fail, new flows are dropped and
// counted, the agent restarts it), and `weir agent --uninstall` taking the proxy's routing away.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../harness/cluster.js';
import { describePrivileged } from '../harness/privileged.js';
import { repoRoot } from '../harness/paths.js';
import { eventually } from '../harness/wait.js';
import { merge, Sandbox, type SandboxNode, type SandboxPod } from '../../sandbox/sandbox.js';
import { API_VERSION, DatapathConfigResource, NetworkPolicyResource, gvr, type WeirObject } from '../../api/v1alpha1/index.js';

const VIP = '10.96.20.10';

interface Seq {
  results: Array<{ status?: number; body?: string; error?: string }>;
  connections: number;
}

describePrivileged('L7 policy through the node proxy', () => {
  let cluster: TestCluster;
  let sb: Sandbox;
  let n1: SandboxNode;
  let n2: SandboxNode;
  const pod = (name: string): SandboxPod => sb.pods.get(name)!;
  const seq = (from: string, ip: string, ...reqs: string[]) => sb.run<Seq>(pod(from), ['http-seq', ip, '8080', ...reqs], 30_000);
  const statuses = (s: Seq) => s.results.map((r) => r.status ?? r.error);
  const policy = (name: string, spec: Record<string, unknown>) => ({ apiVersion: API_VERSION, kind: 'NetworkPolicy', metadata: { name, namespace: 'default' }, spec });
  const webRules = (paths: string[]) =>
    policy('web-l7', {
      endpointSelector: { matchLabels: { app: 'web' } },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { app: 'client' } }],
          toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }], rules: { http: [...paths.map((path) => ({ method: 'GET', path })), { method: 'POST', path: '/upload' }] } }],
        },
      ],
    });
  const applyPolicy = async (body: ReturnType<typeof policy>) => {
    try {
      await sb.custom.replaceNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', name: body.metadata.name, body: { ...body, metadata: { ...body.metadata, resourceVersion: ((await sb.custom.getNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', name: body.metadata.name })) as WeirObject<unknown, unknown>).metadata?.resourceVersion } } });
    } catch {
      await sb.custom.createNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', body });
    }
  };
  const agentLog = (n: SandboxNode) => readFileSync(join(sb.logDir, `agent-${n.name}.log`), 'utf8');
  const metric = (n: SandboxNode, name: string, labels: string) => sb.metric(n, name, labels);
  const proxyPid = (n: SandboxNode) => Number(execFileSync('pgrep', ['-f', `l7-proxy --bpffs-root ${n.pinRoot} `], { encoding: 'utf8' }).trim().split('\n')[0]);

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wl7', nodes: 2 });
    [n1, n2] = sb.nodes as [SandboxNode, SandboxNode];
    await sb.createDatapathConfig({ features: { l7Proxy: { enabled: true } } });
    // Ready waits for the proxy too: one more Node.js process to start on each node.
    await sb.startControlPlane(120_000);
    await sb.addPod(n1, 'client', { app: 'client' });
    await sb.addPod(n1, 'stranger', { app: 'stranger' });
    await sb.addPod(n1, 'web', { app: 'web' });
    await sb.addPod(n2, 'web-2', { app: 'web' });
    await sb.addPod(n2, 'egress-client', { app: 'egress-client' });
    await sb.addPod(n1, 'plain', { app: 'plain' });
    // A client of web (its ingress rules name app=client) with HTTP egress rules of its own.
    await sb.addPod(n1, 'audited', { app: 'client', role: 'audited' });
    for (const p of ['web', 'web-2', 'plain']) await sb.serve(pod(p), ['serve-http', '8080', p]);
    await applyPolicy(webRules(['/public/.*', '/ws']));
    await applyPolicy(
      policy('egress-l7', {
        endpointSelector: { matchLabels: { app: 'egress-client' } },
        egress: [{ toEndpoints: [{ matchLabels: { app: 'plain' } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public/.*' }] } }] }],
      }),
    );
    await applyPolicy(
      policy('audited-l7', {
        endpointSelector: { matchLabels: { role: 'audited' } },
        egress: [{ toEndpoints: [{ matchLabels: { app: 'web' } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public/a|/admin' }] } }] }],
      }),
    );
    await sb.core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'plain' }, spec: { clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } } });
    await sb.setEndpoints('plain', 'default', [{ name: 'http', port: 8080, protocol: 'TCP' }], [pod('plain')]);
    await sb.settled(60_000);
    await eventually('both proxies listen', () => agentLog(n1).includes('"l7 proxy listening"') && agentLog(n2).includes('"l7 proxy listening"'), 60_000, 250);
  }, 300_000);

  afterAll(async () => {
    await sb?.stop();
    await cluster?.stop();
  }, 60_000);

  it('ingress on one node: an allowed request passes, a denied one gets 403, on one keep-alive connection', async () => {
    const s = await eventually('the proxy judges web', async () => {
      const r = await seq('client', pod('web').ip, 'GET /public/a', 'GET /admin', 'GET /public/b');
      return r.results[0]?.status === 200 ? r : undefined;
    }, 30_000, 500);
    expect(statuses(s)).toEqual([200, 403, 200]);
    expect(s.results[0]?.body).toBe('web GET /public/a');
    expect(s.results[1]?.body).toBe('Access denied\n');
    expect(s.connections).toBe(1);
  }, 60_000);

  it('refuses targets a server would read as a path the rules did not judge: dot segments, encoded dots, an absolute form naming another host', async () => {
    // Each passes "/public/.*" as written; nginx, Apache and Tomcat would serve /admin for the
    // first two. The last names another authority than the Host header the rules read.
    const s = await seq('client', pod('web').ip, 'GET /public/../admin', 'GET /public/%2e%2e/admin', 'GET //admin', 'GET http://admin.svc/public/a host=public.svc', 'GET /public/a');
    expect(statuses(s)).toEqual([400, 400, 400, 400, 200]);
    expect(s.results[4]?.body).toBe('web GET /public/a');
  }, 60_000);

  it('ingress across nodes, and L4 policy still refuses a peer no rule names', async () => {
    const s = await seq('client', pod('web-2').ip, 'GET /public/x', 'POST /public/x', 'GET /public/y');
    expect(statuses(s)).toEqual([200, 403, 200]);
    expect(s.results[0]?.body).toBe('web-2 GET /public/x');
    expect(await sb.run(pod('stranger'), ['tcp-try', pod('web').ip, '8080', '1500'])).toBe('timeout');
  }, 60_000);

  it('egress: directly and through a ClusterIP, the source pod policy judges each request', async () => {
    expect(statuses(await sb.run<Seq>(pod('egress-client'), ['http-seq', pod('plain').ip, '8080', 'GET /public/1', 'GET /private'], 30_000))).toEqual([200, 403]);
    const viaVip = await sb.run<Seq>(pod('egress-client'), ['http-seq', VIP, '80', 'GET /public/2', 'DELETE /public/2'], 30_000);
    expect(statuses(viaVip)).toEqual([200, 403]);
    expect(viaVip.results[0]?.body).toBe('plain GET /public/2');
  }, 60_000);

  it("on one node, a request must pass both the client's egress rules and the server's ingress rules", async () => {
    // /admin: egress allows, ingress refuses; /public/b: ingress allows, egress refuses.
    expect(statuses(await seq('audited', pod('web').ip, 'GET /public/a', 'GET /admin', 'GET /public/b'))).toEqual([200, 403, 403]);
  }, 60_000);

  it('applies a policy change from the next request on an open keep-alive connection', async () => {
    const poll = sb.run<{ statuses: Array<number | string>; connections: number }>(pod('client'), ['http-poll', pod('web').ip, '8080', '/public/later', '8000', '200'], 30_000);
    await new Promise((r) => setTimeout(r, 2500));
    await applyPolicy(webRules(['/other/.*', '/ws']));
    const r = await poll;
    expect(r.connections).toBe(1);
    const first403 = r.statuses.indexOf(403);
    expect(first403).toBeGreaterThan(0);
    expect(r.statuses.slice(0, first403).every((s) => s === 200)).toBe(true);
    expect(r.statuses.slice(first403).every((s) => s === 403)).toBe(true);
    await applyPolicy(webRules(['/public/.*', '/ws']));
  }, 60_000);

  it('ends a keep-alive connection allowed at L4 when HTTP rules come to apply to it: the client reconnects through the proxy', async () => {
    const plainPolicy = (http?: Array<{ method: string; path: string }>) =>
      policy('plain-l7', {
        endpointSelector: { matchLabels: { app: 'plain' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'stranger' } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }], ...(http ? { rules: { http } } : {}) }] }],
      });
    try {
      // Enforced at L4 first, so the connection below is tracked as allowed without the proxy.
      await applyPolicy(plainPolicy());
      await eventually('plain enforced at L4', async () => ((await sb.programmed(n1)).spec.endpoints.find((e) => e.name === 'plain')?.policyEnforced ? true : undefined), 30_000, 250);
      const poll = sb.run<{ statuses: Array<number | string>; connections: number }>(pod('stranger'), ['http-poll', pod('plain').ip, '8080', '/admin', '15000', '200'], 40_000);
      await new Promise((r) => setTimeout(r, 2500));
      await applyPolicy(plainPolicy([{ method: 'GET', path: '/public/.*' }]));
      const r = await poll;
      const changed = r.statuses.findIndex((s) => s !== 200);
      expect(changed).toBeGreaterThan(0);
      // Not one request is answered by the server past the rules once they apply: the old
      // connection ends (reset), and every request after it is judged by the proxy.
      expect(r.statuses.slice(changed).filter((s) => s === 200)).toEqual([]);
      expect(r.statuses.at(-1)).toBe(403);
      expect(r.connections).toBeGreaterThanOrEqual(2);
    } finally {
      await sb.custom.deleteNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', name: 'plain-l7' });
      await eventually('plain open again', async () => ((await sb.programmed(n1)).spec.endpoints.find((e) => e.name === 'plain')?.policyEnforced ? undefined : true), 30_000, 250);
    }
  }, 90_000);

  it('carries an Upgrade (WebSocket) and a 100 MiB streamed body', async () => {
    await eventually('the rules are back', async () => statuses(await seq('client', pod('web').ip, 'GET /public/z'))[0] === 200, 30_000, 500);
    expect(await sb.run(pod('client'), ['http-upgrade', pod('web-2').ip, '8080', '/ws'])).toEqual({ status: 101, echoed: 'ping-through-the-proxy' });
    expect(await sb.run(pod('client'), ['http-upgrade', pod('web-2').ip, '8080', '/chat'])).toEqual({ status: 403 });
    const up = await sb.run<{ status: number; localDigest: string; remoteDigest: string }>(pod('client'), ['http-upload', pod('web').ip, '8080', '/upload', String(100 * 1024 * 1024)], 120_000);
    expect(up.status).toBe(200);
    expect(up.remoteDigest).toBe(up.localDigest);
  }, 180_000);

  it('logs every request with identities and verdict, and counts them by verdict', async () => {
    const lines = agentLog(n1).split('\n').filter((l) => l.includes('"access":true')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.verdict === 'denied' && l.path === '/admin')).toMatchObject({ direction: 'ingress', method: 'GET', status: 403, dst: `${pod('web').ip}:8080` });
    const text = execFileSync('ip', ['netns', 'exec', n1.ns, process.execPath, '-e', "fetch('http://127.0.0.1:9964/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))"], { encoding: 'utf8' });
    expect(text).toMatch(/weir_l7_requests_total\{direction="ingress",verdict="denied"\} [1-9]/);
    expect(text).toMatch(/weir_l7_request_duration_seconds_bucket\{le="[0-9.]+",direction="ingress",verdict="allowed"\}/);
  }, 30_000);

  it('fails closed while the proxy is down (dropped and counted), and works again once the agent restarts it', async () => {
    const before = await metric(n1, 'weir_datapath_packets_total', 'reason="no_proxy"');
    // A client polling on a keep-alive connection meanwhile (docs/l7.md says what it sees).
    const poll = sb.run<{ statuses: Array<number | string>; connections: number }>(pod('client'), ['http-poll', pod('web').ip, '8080', '/public/poll', '8000', '100'], 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    const pid = proxyPid(n1);
    process.kill(pid, 'SIGKILL');
    const during = await sb.run(pod('client'), ['tcp-try', pod('web').ip, '8080', '1000']);
    expect(during).toBe('timeout');
    expect(await metric(n1, 'weir_datapath_packets_total', 'reason="no_proxy"')).toBeGreaterThan(before);
    await eventually('a new proxy answers', async () => statuses(await seq('client', pod('web').ip, 'GET /public/again'))[0] === 200, 60_000, 500);
    expect(proxyPid(n1)).not.toBe(pid);
    // The proxy's death closed the client's keep-alive connection; its next request opened a new
    // one, whose SYN waited (dropped, retransmitted) until the new proxy listened.
    const r = await poll;
    expect(r.statuses[0]).toBe(200);
    expect(r.connections).toBeGreaterThan(1);
    expect(r.statuses[r.statuses.length - 1]).toBe(200);
  }, 90_000);

  it("weir agent --uninstall removes the proxy's routing on its node, and no rule it does not own", async () => {
    const ipIn = (n: SandboxNode, ...args: string[]) => execFileSync('nsenter', [`--net=${n.nsPath}`, 'ip', ...args], { encoding: 'utf8' });
    expect(ipIn(n2, 'rule', 'show', 'pref', '89')).toMatch(/fwmark 0xa00\/0xf00 lookup 2004/);
    // Someone else's rule beside Weir's, which must stay.
    ipIn(n2, 'rule', 'add', 'pref', '88', 'fwmark', '0x5', 'lookup', '100');
    await sb.killAgent(n2);
    // Its proxy goes with it (its stdin closes).
    await eventually("n2's proxy exits", () => {
      try {
        proxyPid(n2);
        return false;
      } catch {
        return true;
      }
    }, 15_000, 100);
    execFileSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'weir.js'), 'agent', '--uninstall', '--node-name', n2.name, '--bpffs-root', n2.pinRoot, '--netns', n2.nsPath, '--log-level', 'warn']);
    expect(ipIn(n2, 'rule', 'show', 'pref', '89')).toBe('');
    expect(ipIn(n2, 'route', 'show', 'table', '2004')).toBe('');
    expect(ipIn(n2, 'rule', 'show', 'pref', '88')).toMatch(/fwmark 0x5 lookup 100/);
    expect(existsSync(n2.pinRoot)).toBe(false);
    // The other node keeps its proxy and its routing.
    expect(ipIn(n1, 'rule', 'show', 'pref', '89')).toMatch(/lookup 2004/);
    expect(statuses(await seq('client', pod('web').ip, 'GET /public/still', 'GET /admin'))).toEqual([200, 403]);
  }, 60_000);

  it('says in the policy status when HTTP rules cannot be enforced (l7Proxy off)', async () => {
    await sb.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { l7Proxy: { enabled: false } } } } }, merge);
    const cond = await eventually('web-l7 says its HTTP rules apply at L4 only', async () => {
      const p = (await sb.custom.getNamespacedCustomObject({ ...gvr(NetworkPolicyResource), namespace: 'default', name: 'web-l7' })) as WeirObject<unknown, { conditions?: Array<{ type: string; status: string; message: string }> }>;
      return p.status?.conditions?.find((c) => c.message.includes('L7 rules need the L7 proxy'));
    }, 30_000, 250);
    expect(cond.status).toBe('False');
  }, 60_000);
});
