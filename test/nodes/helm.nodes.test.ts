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
import { KubeletCluster } from '../../sandbox/kubelet/cluster.js';
import { eventually } from '../../sandbox/wait.js';
import { repoRoot } from '../harness/paths.js';
import { describeGated, isRoot } from '../harness/privileged.js';

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

  beforeAll(async () => {
    helmBin = binaries(['helm']).helm;
    c = await KubeletCluster.start({ prefix: 'wkl', nodes: 2, dir: join(tmpdir(), 'weir-kubelet-nodes') });
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
---
apiVersion: v1
kind: Pod
metadata: {name: frontend, namespace: demo, labels: {app: frontend}}
spec:
  nodeSelector: {kubernetes.io/hostname: n1}
  containers: [{name: c, image: ${WORKLOAD}, imagePullPolicy: Never, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Pod
metadata: {name: intruder, namespace: demo, labels: {app: intruder}}
spec:
  nodeSelector: {kubernetes.io/hostname: n2}
  containers: [{name: c, image: ${WORKLOAD}, imagePullPolicy: Never, command: [sleep, infinity]}]
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
