// Weir installed as users install it: the README's `helm install` with default values, the image
// (scripts/image.sh, the Dockerfile's contents) on two real kubelet nodes with containerd, pods
// placed by the scheduler and networked by the node's own CNI configuration, and everything
// after that done with `kubectl apply`. Nothing here writes a Weir object or starts a Weir
// process by hand.
import { execFile as execFileCb } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaries } from '../../sandbox/cluster.js';
import { cgroup2Root } from '../../common/cgroup.js';
import { KubeletCluster } from '../../sandbox/kubelet/cluster.js';
import type { KubeletNode } from '../../sandbox/kubelet/node.js';
import { eventually } from '../../sandbox/wait.js';
import { repoRoot } from '../harness/paths.js';
import { describeGated, isRoot } from '../harness/privileged.js';
import { ALL_PODS, CASES, NAMESPACES, SKIPPED_HERE, type NetpolCase, type PodRef } from '../sandbox/netpol/cases.js';
import { netpolRunner } from '../sandbox/netpol/runner.js';

const execFile = promisify(execFileCb);
const WORKLOAD = 'localhost/weir-test/workload:dev';

describeGated('Weir on real kubelet nodes, installed by Helm', isRoot ? null : 'needs root (kubelet nodes)', () => {
  let c: KubeletCluster;
  let helmBin: string;
  const scratch = mkdtempSync(join(tmpdir(), 'weir-nodes-'));

  /** The README's command line, with this cluster's kubeconfig. */
  const helm = async (words: string): Promise<string> => {
    const args = words.split(' ');
    if (args[0] !== 'helm') throw new Error(`not a helm command: ${words}`);
    const { stdout } = await execFile(helmBin, [...args.slice(1), '--kubeconfig', c.api.kubeconfigPath], { cwd: repoRoot, encoding: 'utf8', timeout: 180_000 });
    return stdout;
  };
  const kubectl = (args: string[], timeoutMs = 60_000) => c.kubectl(args, timeoutMs);
  const apply = async (name: string, yaml: string): Promise<void> => {
    const file = join(scratch, `${name}.yaml`);
    writeFileSync(file, yaml);
    await kubectl(['apply', '-f', file]);
  };
  /** traffic.mjs in a running pod, through the API server and the kubelet (kubectl exec). */
  const inPod = async <T>(pod: string, args: string[]): Promise<T> => {
    const out = await kubectl(['-n', 'demo', 'exec', pod, '--', 'node', '/app/traffic.mjs', ...args], 60_000);
    return JSON.parse(out.trim().split('\n').pop() ?? 'null') as T;
  };

  /** Waits for a pod's log to say `text`; if it never does, the failure shows the pod and its last words. */
  const logsSay = async (ns: string, pod: string, text: string, timeoutMs: number): Promise<void> => {
    let logs = '';
    try {
      await eventually(`${ns}/${pod} to log "${text}"`, async () => (logs = await kubectl(['-n', ns, 'logs', pod]).catch((e: Error) => e.message)).includes(text), timeoutMs, 1000);
    } catch (e) {
      const seen = await kubectl(['-n', ns, 'get', 'pod', pod, '-o', 'wide']).catch((err: Error) => err.message);
      throw new Error(`${(e as Error).message}\n${seen}\nlast log lines:\n${logs.trim().split('\n').slice(-5).join('\n')}`);
    }
  };

  /** A command in a node's namespaces, as its own processes see the host. */
  const onNode = async (node: KubeletNode, cmd: string, args: string[]): Promise<string> => {
    const [bin, ...rest] = node.execArgs(cmd, args);
    return (await execFile(bin, rest, { encoding: 'utf8', timeout: 30_000 })).stdout;
  };
  /**
   * What Weir could leave on a node: pins, BPF attachments (interfaces and the node's cgroup tree),
   * nftables and iptables rules (counters aside), routes and rules, devices, xfrm states, the CNI
   * configuration and plugins.
   */
  const nodeState = async (node: KubeletNode): Promise<Record<string, string>> => ({
    pins: await onNode(node, 'find', ['/sys/fs/bpf']),
    attachments: await onNode(node, 'bpftool', ['net', 'show']),
    cgroupPrograms: await onNode(node, 'bpftool', ['cgroup', 'tree', cgroup2Root()]),
    nftables: (await onNode(node, 'nft', ['list', 'ruleset'])).replace(/counter packets \d+ bytes \d+/g, 'counter'),
    iptables: (await onNode(node, 'iptables-save', [])).replace(/^#.*\n/gm, '').replace(/\[\d+:\d+\]/g, ''),
    // Whether the pod bridge has a port up at the moment is no one's leftover.
    routes: (await onNode(node, 'ip', ['route', 'show', 'table', 'all'])).replace(/ linkdown/g, ''),
    rules: await onNode(node, 'ip', ['rule']),
    devices: [...(await onNode(node, 'ip', ['-o', 'link'])).matchAll(/^\d+: (\S+?)[:@]/gm)].map((m) => m[1]).join(' '),
    xfrm: await onNode(node, 'ip', ['xfrm', 'state']),
    cniConf: readFileSync(join(node.dir, 'root', 'etc', 'cni', 'net.d', '10-bridge.conflist'), 'utf8'),
    cniPlugins: (await onNode(node, 'ls', ['/opt/cni/bin'])).trim(),
  });
  const before = new Map<string, Record<string, string>>();

  beforeAll(async () => {
    helmBin = binaries(['helm']).helm;
    c = await KubeletCluster.start({ prefix: 'wkl', nodes: 2, dir: join(tmpdir(), 'weir-kubelet-nodes') });
    // The nodes as they are before Weir: each has run a pod (its bridge exists) and kube-proxy has
    // written its rules for the kubernetes Service.
    await apply('baseline', c.nodes.map((n) => `apiVersion: v1\nkind: Pod\nmetadata: {name: baseline-${n.spec.name}, namespace: default}\nspec:\n  nodeSelector: {kubernetes.io/hostname: ${n.spec.name}}\n  containers: [{name: c, image: registry.k8s.io/pause:3.10, imagePullPolicy: Never}]\n`).join('---\n'));
    await kubectl(['wait', '--for=condition=Ready', ...c.nodes.map((n) => `pod/baseline-${n.spec.name}`), '--timeout=180s'], 200_000);
    await kubectl(['delete', ...c.nodes.map((n) => `pod/baseline-${n.spec.name}`), '--wait', '--timeout=120s'], 140_000);
    for (const node of c.nodes) {
      await eventually('kube-proxy to write its rules', async () => (await onNode(node, 'iptables-save', ['-t', 'nat'])).includes('default/kubernetes:https cluster IP'), 120_000, 1000);
      before.set(node.spec.name, await nodeState(node));
    }
  }, 600_000);
  afterAll(async () => {
    await c?.stop();
  }, 120_000);

  it('installs with the README command and default values: the operator and one agent per node become Ready, weir-cni is chained in', async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const command = /`(helm install weir [^`]+)`/.exec(readme)?.[1];
    expect(command).toBe('helm install weir charts/weir -n weir-system --create-namespace');
    await helm(command!);
    await kubectl(['-n', 'weir-system', 'rollout', 'status', 'daemonset/weir-agent', '--timeout=300s'], 320_000);
    await kubectl(['-n', 'weir-system', 'wait', '--for=condition=Available', 'deployment/weir-operator', '--timeout=120s'], 140_000);
    const agents = JSON.parse(await kubectl(['-n', 'weir-system', 'get', 'pods', '-l', 'app.kubernetes.io/component=agent', '-o', 'json'])) as {
      items: Array<{ spec: { nodeName: string }; status: { conditions?: Array<{ type: string; status: string }> } }>;
    };
    expect(agents.items.map((p) => p.spec.nodeName).sort()).toEqual(['n1', 'n2']);
    for (const node of c.nodes) {
      // What the last case holds to "as it was" is where Weir's state shows while it runs.
      const during = await nodeState(node);
      const was = before.get(node.spec.name)!;
      for (const what of ['pins', 'attachments', 'cgroupPrograms', 'cniConf', 'cniPlugins']) expect({ what, changed: during[what] !== was[what] }).toEqual({ what, changed: true });
      const conf = JSON.parse(readFileSync(join(node.dir, 'root', 'etc', 'cni', 'net.d', '10-bridge.conflist'), 'utf8')) as { plugins: Array<{ type: string }> };
      expect(conf.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'weir-cni']);
    }
    // Every node programmed from what the operator wrote.
    await eventually(
      'both NodeDatapaths programmed',
      async () => {
        const out = await kubectl(['get', 'nodedatapaths', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Programmed")].status} {end}']);
        return out.trim().split(' ').sort().join(' ') === 'n1=True n2=True';
      },
      120_000,
      1000,
    );
  }, 600_000);

  it('runs the demo from plain manifests: probes pass under default deny, the frontend reaches the backend by ClusterIP across nodes, the intruder is refused', async () => {
    await apply('demo', DEMO);
    await kubectl(['-n', 'demo', 'rollout', 'status', 'deployment/backend', '--timeout=180s'], 200_000);
    await kubectl(['-n', 'demo', 'wait', '--for=condition=Ready', 'pod/frontend', 'pod/intruder', '--timeout=180s'], 200_000);
    const pods = JSON.parse(await kubectl(['-n', 'demo', 'get', 'pods', '-l', 'app=backend', '-o', 'json'])) as {
      items: Array<{ spec: { nodeName: string }; status: { podIP: string } }>;
    };
    expect(pods.items.map((p) => p.spec.nodeName).sort()).toEqual(['n1', 'n2']);
    const vip = (await kubectl(['-n', 'demo', 'get', 'service', 'backend', '-o', 'jsonpath={.spec.clusterIP}'])).trim();

    const allowed = await inPod<Record<string, number>>('frontend', ['svc-probe', 'TCP', `${vip}:80`, '20', '3000']);
    expect(Object.keys(allowed).every((k) => k.startsWith('backend:8080 '))).toBe(true);
    expect(Object.values(allowed).reduce((a, b) => a + b, 0)).toBe(20);
    // Refused: by ClusterIP, and straight to each backend pod on the port open to the frontend.
    expect(await inPod('intruder', ['tcp-try', vip, '80', '2000'])).toBe('timeout');
    for (const p of pods.items) expect(await inPod('intruder', ['tcp-try', p.status.podIP, '8080', '2000'])).toBe('timeout');
  }, 600_000);

  it('enforces a new pod from its first packet: a pod whose first act is to call the backend is refused every time; one the policy admits gets through', async () => {
    const ip = (await kubectl(['-n', 'demo', 'get', 'pods', '-l', 'app=backend', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
    await apply('early', earlyPod('early', 'early', ip) + '---\n' + earlyPod('early-friend', 'frontend', ip));
    const samplesOf = async (pod: string): Promise<Array<{ t: number; r: string }>> => {
      await kubectl(['-n', 'demo', 'wait', '--for=jsonpath={.status.phase}=Succeeded', `pod/${pod}`, '--timeout=180s'], 200_000);
      return JSON.parse((await kubectl(['-n', 'demo', 'logs', pod])).trim().split('\n').pop() ?? '[]') as Array<{ t: number; r: string }>;
    };
    const refused = await samplesOf('early');
    expect(refused.length).toBeGreaterThan(5);
    expect(refused.filter((s) => s.r === 'connected')).toEqual([]);
    expect((await samplesOf('early-friend')).some((s) => s.r === 'connected')).toBe(true);
  }, 300_000);

  it('rolls the agents on helm upgrade with 200 streams open across nodes, by ClusterIP and pod IP: not one byte lost', async () => {
    await apply('streams-servers', STREAM_SERVERS);
    await kubectl(['-n', 'streams', 'wait', '--for=condition=Ready', 'pod/echo-n1', 'pod/echo-n2', '--timeout=180s'], 200_000);
    const echoN1 = (await kubectl(['-n', 'streams', 'get', 'pod', 'echo-n1', '-o', 'jsonpath={.status.podIP}'])).trim();
    const vipN2 = (await kubectl(['-n', 'streams', 'get', 'service', 'echo-n2', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const agentsBefore = (await kubectl(['-n', 'weir-system', 'get', 'pods', '-l', 'app.kubernetes.io/component=agent', '-o', 'jsonpath={.items[*].metadata.uid}'])).trim().split(' ');
    // 100 streams each way, long enough to outlast the rollout (checked below, not assumed).
    await apply('streams-clients', flowsPod('flows-a', 'n1', vipN2) + '---\n' + flowsPod('flows-b', 'n2', echoN1));
    for (const pod of ['flows-a', 'flows-b']) await logsSay('streams', pod, 'ready 100', 180_000);

    await helm('helm upgrade weir charts/weir -n weir-system --reuse-values --set agent.logLevel=debug');
    await kubectl(['-n', 'weir-system', 'rollout', 'status', 'daemonset/weir-agent', '--timeout=300s'], 320_000);
    const agentsAfter = JSON.parse(await kubectl(['-n', 'weir-system', 'get', 'pods', '-l', 'app.kubernetes.io/component=agent', '-o', 'json'])) as {
      items: Array<{ metadata: { uid: string }; status: { conditions?: Array<{ type: string; lastTransitionTime: string }> } }>;
    };
    expect(agentsAfter.items.filter((p) => agentsBefore.includes(p.metadata.uid))).toEqual([]);
    const lastAgentReady = Math.max(...agentsAfter.items.map((p) => Date.parse(p.status.conditions?.find((cd) => cd.type === 'Ready')?.lastTransitionTime ?? '')));

    for (const pod of ['flows-a', 'flows-b']) {
      await kubectl(['-n', 'streams', 'wait', '--for=jsonpath={.status.phase}=Succeeded', `pod/${pod}`, '--timeout=300s'], 320_000);
      const status = JSON.parse(await kubectl(['-n', 'streams', 'get', 'pod', pod, '-o', 'json'])) as { status: { containerStatuses: Array<{ state: { terminated?: { finishedAt: string } } }> } };
      // The streams ran past the last new agent's readiness: the whole rollout happened under them.
      expect(Date.parse(status.status.containerStatuses[0].state.terminated!.finishedAt)).toBeGreaterThan(lastAgentReady);
      const result = JSON.parse((await kubectl(['-n', 'streams', 'logs', pod])).trim().split('\n').pop()!) as { streams: number; intact: number; sent: number; received: number; failures: string[] };
      expect({ pod, intact: result.intact, failures: result.failures, lost: result.sent - result.received }).toEqual({ pod, intact: 100, failures: [], lost: 0 });
    }
  }, 900_000);

  describe('the upstream NetworkPolicy cases on real pods', () => {
    const ips = new Map<PodRef, string>();
    const runner = netpolRunner(
      {
        ip: (p) => ips.get(p)!,
        probe: async (from, protocol, ms, targets) => {
          const [ns, name] = from.split('/') as [string, string];
          const out = await kubectl(['-n', ns, 'exec', name, '--', 'node', '/app/traffic.mjs', 'probe', protocol, String(ms), ...targets], 60_000);
          return JSON.parse(out.trim().split('\n').pop() ?? '[]') as boolean[];
        },
        applyPolicy: (policy) => apply(`policy-${Math.random().toString(36).slice(2)}`, JSON.stringify(policy)),
        deletePolicies: async (ns) => void (await kubectl(['delete', 'networkpolicy', '--all', '-n', ns])),
        labelNamespace: async (ns, labels) => void (await kubectl(['label', 'namespace', ns, '--overwrite', ...labelArgs(labels)])),
        labelPod: async (p, labels) => {
          const [ns, name] = p.split('/') as [string, string];
          await kubectl(['-n', ns, 'label', 'pod', name, '--overwrite', ...labelArgs(labels)]);
        },
      },
      { probeMs: 800, settleMs: 30_000 },
    );

    beforeAll(async () => {
      // Nine pods in x, y and z, spread over both nodes, each serving 80 and 81 on TCP and UDP
      // under the container port names the cases use.
      await apply('netpol-pods', NETPOL_PODS);
      for (const ns of NAMESPACES) await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pods', '--all', '--timeout=180s'], 200_000);
      for (const p of ALL_PODS) {
        const [ns, name] = p.split('/') as [string, string];
        ips.set(p, (await kubectl(['-n', ns, 'get', 'pod', name, '-o', 'jsonpath={.status.podIP}'])).trim());
      }
    }, 300_000);
    afterAll(async () => {
      await kubectl(['delete', 'namespace', ...NAMESPACES, '--timeout=180s'], 200_000).catch(() => undefined);
    }, 200_000);

    it.each(CASES.map((cs) => [cs.name, cs] as [string, NetpolCase]))('%s', async (_name, cs) => {
      await runner.reset();
      for (const [i, step] of cs.steps.entries()) await runner.run(step, `${cs.name} (step ${i + 1})`);
    }, 180_000);

    it('lists the upstream cases that cannot run on this kernel (no SCTP sockets), so none is silently dropped', () => {
      expect(SKIPPED_HERE).toHaveLength(3);
      for (const name of SKIPPED_HERE) expect(CASES.map((cs) => cs.name)).not.toContain(name);
    });
  });

  it('with uninstallOnStop set, helm uninstall leaves each node as it was', async () => {
    await helm('helm upgrade weir charts/weir -n weir-system --reuse-values --set agent.uninstallOnStop=true');
    await kubectl(['-n', 'weir-system', 'rollout', 'status', 'daemonset/weir-agent', '--timeout=300s'], 320_000);
    // The pods that ran under Weir go first: their CNI teardown runs the chained weir-cni.
    await kubectl(['delete', 'namespace', 'demo', 'streams', '--timeout=180s'], 200_000);
    await helm('helm uninstall weir -n weir-system --wait --timeout 3m');
    await eventually('the agents gone', async () => (await kubectl(['-n', 'weir-system', 'get', 'pods', '-o', 'name'])).trim() === '', 120_000, 1000);
    for (const node of c.nodes) expect(await nodeState(node)).toEqual(before.get(node.spec.name));
  }, 600_000);

  const DEMO = `apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: demo}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: backend-from-frontend, namespace: demo}
spec:
  podSelector: {matchLabels: {app: backend}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: frontend}}}]
      ports: [{port: 8080, protocol: TCP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: backend}}}
      containers:
        - name: who
          image: ${WORKLOAD}
          imagePullPolicy: Never
          args: [serve-who, backend, "8080"]
        # The kubelet's probes come from the node: allowed under default deny, as in every CNI.
        - name: web
          image: ${WORKLOAD}
          imagePullPolicy: Never
          args: [serve-http, "8081", backend]
          readinessProbe: {httpGet: {path: /ready, port: 8081}, periodSeconds: 2}
          livenessProbe: {httpGet: {path: /live, port: 8081}, periodSeconds: 2, failureThreshold: 2}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: demo}
spec:
  selector: {app: backend}
  ports: [{port: 80, targetPort: 8080, protocol: TCP}]
${[
  ['frontend', 'n1'],
  ['intruder', 'n2'],
]
  .map(
    ([app, node]) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${app}, namespace: demo, labels: {app: ${app}}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${node}}
  containers: [{name: c, image: ${WORKLOAD}, imagePullPolicy: Never, command: [sleep, infinity]}]
`,
  )
  .join('')}`;

  const labelArgs = (labels: Record<string, string | null>) => Object.entries(labels).map(([k, v]) => (v === null ? `${k}-` : `${k}=${v}`));

  const NETPOL_PODS = [
    // Quoted: YAML 1.1 (kubectl's) reads a bare y or n as a boolean.
    ...NAMESPACES.map((ns) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: "${ns}"}\n`),
    ...ALL_PODS.map((p, i) => {
      const [ns, name] = p.split('/') as [string, string];
      const ports = [80, 81].flatMap((port) => ['TCP', 'UDP'].map((proto) => `{name: serve-${port}-${proto.toLowerCase()}, containerPort: ${port}, protocol: ${proto}}`));
      return `apiVersion: v1
kind: Pod
metadata: {name: "${name}", namespace: "${ns}", labels: {pod: "${name}"}}
spec:
  nodeSelector: {kubernetes.io/hostname: n${(i % 2) + 1}}
  containers: [{name: c, image: ${WORKLOAD}, imagePullPolicy: Never, args: [serve-ports, "80", "81"], ports: [${ports.join(', ')}]}]
`;
    }),
  ].join('---\n');

  const STREAM_SERVERS = `apiVersion: v1
kind: Namespace
metadata: {name: streams}
${['n1', 'n2']
  .map(
    (n) => `---
apiVersion: v1
kind: Pod
metadata: {name: echo-${n}, namespace: streams, labels: {app: echo-${n}}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${n}}
  containers:
    - name: c
      image: ${WORKLOAD}
      imagePullPolicy: Never
      args: [serve-echo, "7000"]
      readinessProbe: {tcpSocket: {port: 7000}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo-${n}, namespace: streams}
spec:
  selector: {app: echo-${n}}
  ports: [{port: 7000, protocol: TCP}]
`,
  )
  .join('')}`;

  const flowsPod = (name: string, node: string, target: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: streams}
spec:
  restartPolicy: Never
  nodeSelector: {kubernetes.io/hostname: ${node}}
  containers:
    - name: c
      image: ${WORKLOAD}
      imagePullPolicy: Never
      args: [tcp-flows, "${target}", "7000", "100", "150"]
`;

  const earlyPod = (name: string, app: string, backendIp: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: demo, labels: {app: ${app}}}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: ${WORKLOAD}
      imagePullPolicy: Never
      args: [tcp-sample, "${backendIp}", "8080", "3000", "100", "300"]
`;
});
