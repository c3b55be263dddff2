// Who serves Services on this node, decided from the config's mode, the hooks this kernel has and
// whether kube-proxy's rules are here: a pure function, so every combination is tested without a
// kernel (as operator/rollout/gate.ts decides a resize from API state).
import type { NodeServicesStatus, ServiceLBMode } from '../../api/v1alpha1/index.js';

/** The cgroup hooks socket LB needs; without them a ClusterIP can only be translated per packet. */
export const SOCKET_LB_HOOKS = ['connect4', 'sendmsg4'] as const;
export type SocketHook = (typeof SOCKET_LB_HOOKS)[number];
export const SOCKET_LB_PROGRAMS = ['sock_connect4', 'sock_sendmsg4', 'sock_recvmsg4'] as const;

export interface ServiceInputs {
  mode: ServiceLBMode;
  socketLB: boolean;
  fallbackEnabled: boolean;
  /** Socket hooks this node cannot attach (preflight, `--unavailable-hooks`, or a failed attach). */
  missingHooks: readonly SocketHook[];
  /** kube-proxy's rules found on the node. */
  kubeProxy: readonly string[];
}

export interface ServicePlan {
  /** Frontends to program: every kind, ClusterIP only (kube-proxy has the rest), or none. */
  frontends: 'all' | 'cluster-ip' | 'none';
  /** tc_from_netdev / tc_to_netdev on the node's interfaces (NodePort, external addresses). */
  nicPrograms: boolean;
  socketPrograms: readonly string[];
  /** The nftables fallback table holds the frontends. */
  nftables: boolean;
  status: NodeServicesStatus;
  /** What breaks the config's promise: the node is Degraded while any remain. */
  problems: string[];
}

/** What the nftables fallback does not do as the eBPF path would, stated on every node using it. */
export const FALLBACK_DEGRADED = [
  'ClusterIP is translated per packet by netfilter NAT (nftables), not at connect()',
  "egress policy judges traffic to a ClusterIP by the ClusterIP's identity (world), not by the backend it reaches",
];

export function planServices(i: ServiceInputs): ServicePlan {
  const kubeProxy = i.kubeProxy.length > 0 ? { kubeProxy: [...i.kubeProxy] } : {};
  if (i.mode === 'off')
    return { frontends: 'none', nicPrograms: false, socketPrograms: [], nftables: false, status: { mode: 'off', datapath: 'none', ...kubeProxy }, problems: [] };
  const why = !i.socketLB ? 'serviceLB.socketLB is false' : i.missingHooks.length > 0 ? `this kernel has no cgroup ${i.missingHooks.join('/')} hook` : undefined;
  const socketPrograms = why ? [] : SOCKET_LB_PROGRAMS;
  if (i.mode === 'coexist') {
    const problems = i.kubeProxy.length === 0 ? ["kube-proxy's rules are not on this node: NodePort and external addresses are not served (serviceLB.mode coexist leaves them to kube-proxy)"] : [];
    const degraded = why ? [`${why}: ClusterIP is left to kube-proxy`] : [];
    return {
      frontends: why ? 'none' : 'cluster-ip',
      nicPrograms: false,
      socketPrograms,
      nftables: false,
      status: { mode: 'coexist', datapath: why ? 'none' : 'ebpf', ...kubeProxy, ...(degraded.length ? { degraded } : {}) },
      problems: [...problems, ...(why && i.kubeProxy.length === 0 ? [`${why} and kube-proxy is absent: ClusterIP is not served`] : [])],
    };
  }
  if (!why) return { frontends: 'all', nicPrograms: true, socketPrograms, nftables: false, status: { mode: 'replace', datapath: 'ebpf', ...kubeProxy }, problems: [] };
  if (i.fallbackEnabled)
    return { frontends: 'all', nicPrograms: true, socketPrograms, nftables: true, status: { mode: 'replace', datapath: 'nftables', ...kubeProxy, degraded: [`${why}: iptablesFallback serves Services through nftables`, ...FALLBACK_DEGRADED] }, problems: [] };
  const lost = `${why} and iptablesFallback is disabled: ClusterIP, and node ports and external addresses reached from this node, are not served here`;
  return { frontends: 'all', nicPrograms: true, socketPrograms, nftables: false, status: { mode: 'replace', datapath: 'ebpf', ...kubeProxy, degraded: [lost] }, problems: [lost] };
}
