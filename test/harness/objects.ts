// Nodes and pods as a kubelet would report them, for cluster tests with no real nodes: the
// object, then its status (capacity and addresses; phase and pod IP).
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A node as a cluster with pod CIDR allocation has it (`podCIDR` given, or none). */
export async function addNode(core: CoreV1Api, name: string, opts: { memory?: string; address?: string; podCIDR?: string } = {}): Promise<void> {
  await core.createNode({ body: { metadata: { name }, ...(opts.podCIDR ? { spec: { podCIDR: opts.podCIDR, podCIDRs: [opts.podCIDR] } } : {}) } });
  const addresses = opts.address ? [{ type: 'InternalIP', address: opts.address }] : undefined;
  await core.patchNodeStatus({ name, body: { status: { capacity: { memory: opts.memory ?? '8Gi', cpu: '2' }, ...(addresses ? { addresses } : {}) } } }, merge);
}

export async function addPod(core: CoreV1Api, namespace: string, name: string, node: string, labels: Record<string, string>, ip: string): Promise<void> {
  await core.createNamespacedPod({ namespace, body: { metadata: { name, labels }, spec: { nodeName: node, containers: [{ name: 'c', image: 'registry.invalid/none' }] } } });
  await core.patchNamespacedPodStatus({ name, namespace, body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } }, merge);
}
