import type { NodeDatapath } from '../api/v1alpha1/index.js';
import { services } from './status.js';

const node = (s?: NonNullable<NodeDatapath['status']>['services']): NodeDatapath => ({ apiVersion: 'weir.dev/v1alpha1', kind: 'NodeDatapath', metadata: { name: 'n1' }, status: s ? { services: s } : {} });

describe('weir status: the SERVICES column', () => {
  it.each([
    [undefined, 'not reported'],
    [{ mode: 'replace', datapath: 'ebpf' }, 'replace, ebpf'],
    [{ mode: 'replace', datapath: 'nftables', degraded: ['a', 'b', 'c'] }, 'replace, nftables (3 degraded)'],
    [{ mode: 'replace', datapath: 'ebpf', kubeProxy: ['iptables nat KUBE-SERVICES'] }, 'replace, ebpf (kube-proxy present)'],
    [{ mode: 'coexist', datapath: 'ebpf', kubeProxy: ['nftables ip kube-proxy'] }, 'coexist, ebpf (kube-proxy present)'],
    [{ mode: 'off', datapath: 'none', kubeProxy: ['nftables ip kube-proxy'] }, 'off (kube-proxy)'],
  ] as const)('%j -> %s', (s, want) => {
    expect(services(node(s as NonNullable<NodeDatapath['status']>['services']))).toBe(want);
  });
});
