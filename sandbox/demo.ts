// The sandbox's demo: a frontend that may call the backend service and an intruder that may
// not, on two nodes, so allowed and denied traffic can be seen at once.
import type { Sandbox, SandboxPod } from './sandbox.js';
import { API_VERSION, NetworkPolicyResource, gvr } from '../api/v1alpha1/index.js';

export const DEMO_NAMESPACE = 'demo';
export const BACKEND_VIP = '10.96.100.10';
export const BACKEND_NODE_PORT = 30080;

export interface Demo {
  frontend: SandboxPod;
  intruder: SandboxPod;
  backends: SandboxPod[];
}

export async function deployDemo(sb: Sandbox): Promise<Demo> {
  const [n1, n2] = sb.nodes;
  if (!n1 || !n2) throw new Error('the demo needs two nodes');
  await sb.core.createNamespace({ body: { metadata: { name: DEMO_NAMESPACE, labels: { demo: 'weir' } } } });
  const frontend = await sb.addPod(n1, 'frontend', { app: 'frontend' }, DEMO_NAMESPACE);
  const intruder = await sb.addPod(n2, 'intruder', { app: 'intruder' }, DEMO_NAMESPACE);
  const backends = [await sb.addPod(n1, 'backend-1', { app: 'backend' }, DEMO_NAMESPACE), await sb.addPod(n2, 'backend-2', { app: 'backend' }, DEMO_NAMESPACE)];
  for (const b of backends) await sb.serve(b, ['serve-tcp', '8080', b.name]);
  await sb.core.createNamespacedService({
    namespace: DEMO_NAMESPACE,
    body: {
      metadata: { name: 'backend' },
      spec: { type: 'NodePort', clusterIP: BACKEND_VIP, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: BACKEND_NODE_PORT, protocol: 'TCP' }] },
    },
  });
  await sb.setEndpoints('backend', DEMO_NAMESPACE, [{ name: 'http', port: 8080, protocol: 'TCP' }], backends);
  await sb.custom.createNamespacedCustomObject({
    ...gvr(NetworkPolicyResource), namespace: DEMO_NAMESPACE,
    body: {
      apiVersion: API_VERSION,
      kind: 'NetworkPolicy',
      metadata: { name: 'backend' },
      spec: {
        endpointSelector: { matchLabels: { app: 'backend' } },
        ingress: [
          { fromEndpoints: [{ matchLabels: { app: 'frontend' } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] },
          { fromEntities: ['world'], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] },
        ],
      },
    },
  });
  return { frontend, intruder, backends };
}

export interface DemoCheck {
  what: string;
  expected: string;
  got: string;
}

/** The demo's traffic, as the policy says it should go. */
export async function checkDemo(sb: Sandbox, d: Demo): Promise<DemoCheck[]> {
  const names = await sb.run<Record<string, number>>(d.frontend, ['tcp-names', BACKEND_VIP, '80', '10']).catch((e: unknown) => ({ error: String(e) }));
  const intruder = await sb.run<string>(d.intruder, ['tcp-try', BACKEND_VIP, '80', '1500']).catch((e: unknown) => String(e));
  return [
    { what: `frontend -> backend ${BACKEND_VIP}:80 (ClusterIP, 10 connections)`, expected: 'allowed, spread over backends', got: JSON.stringify(names) },
    { what: `intruder -> backend ${BACKEND_VIP}:80`, expected: 'denied (timeout)', got: intruder },
  ];
}
