import { FALLBACK_DEGRADED, planServices, SOCKET_LB_PROGRAMS, type ServiceInputs } from './plan.js';

const base: ServiceInputs = { mode: 'replace', socketLB: true, fallbackEnabled: false, missingHooks: [], kubeProxy: [] };

describe('planServices', () => {
  it('replace with every hook: eBPF serves every frontend', () => {
    const p = planServices(base);
    expect(p).toMatchObject({ frontends: 'all', nicPrograms: true, socketPrograms: SOCKET_LB_PROGRAMS, nftables: false, problems: [], status: { mode: 'replace', datapath: 'ebpf' } });
    expect(p.status.degraded).toBeUndefined();
  });

  it('replace with kube-proxy present: reports it and goes on serving first', () => {
    const p = planServices({ ...base, kubeProxy: ['iptables nat KUBE-SERVICES'] });
    expect(p).toMatchObject({ frontends: 'all', nicPrograms: true, problems: [], status: { kubeProxy: ['iptables nat KUBE-SERVICES'], datapath: 'ebpf' } });
  });

  it('a missing socket hook with the fallback: nftables holds the frontends, the degraded features are stated', () => {
    const p = planServices({ ...base, fallbackEnabled: true, missingHooks: ['connect4'] });
    expect(p).toMatchObject({ frontends: 'all', nicPrograms: true, socketPrograms: [], nftables: true, problems: [], status: { datapath: 'nftables' } });
    expect(p.status.degraded).toEqual(['this kernel has no cgroup connect4 hook: iptablesFallback serves Services through nftables', ...FALLBACK_DEGRADED]);
  });

  it('a missing socket hook without the fallback: the node is degraded and says what is not served', () => {
    const p = planServices({ ...base, missingHooks: ['connect4', 'sendmsg4'] });
    expect(p.nftables).toBe(false);
    expect(p.socketPrograms).toEqual([]);
    expect(p.problems).toEqual(['this kernel has no cgroup connect4/sendmsg4 hook and iptablesFallback is disabled: ClusterIP, and node ports and external addresses reached from this node, are not served here']);
    expect(p.status.degraded).toEqual(p.problems);
  });

  it('socketLB turned off by config uses the fallback like a missing hook', () => {
    expect(planServices({ ...base, socketLB: false, fallbackEnabled: true }).status.degraded?.[0]).toBe('serviceLB.socketLB is false: iptablesFallback serves Services through nftables');
  });

  it('coexist: ClusterIP at connect(), no NIC programs; kube-proxy missing is a problem', () => {
    const withKp = planServices({ ...base, mode: 'coexist', kubeProxy: ['nftables ip kube-proxy'] });
    expect(withKp).toMatchObject({ frontends: 'cluster-ip', nicPrograms: false, socketPrograms: SOCKET_LB_PROGRAMS, nftables: false, problems: [], status: { mode: 'coexist', datapath: 'ebpf' } });
    const without = planServices({ ...base, mode: 'coexist' });
    expect(without.problems).toEqual(["kube-proxy's rules are not on this node: NodePort and external addresses are not served (serviceLB.mode coexist leaves them to kube-proxy)"]);
  });

  it('coexist without socket hooks leaves ClusterIP to kube-proxy (never the fallback)', () => {
    const p = planServices({ ...base, mode: 'coexist', fallbackEnabled: true, missingHooks: ['connect4'], kubeProxy: ['iptables nat KUBE-SERVICES'] });
    expect(p).toMatchObject({ frontends: 'none', socketPrograms: [], nftables: false, problems: [], status: { datapath: 'none', degraded: ['this kernel has no cgroup connect4 hook: ClusterIP is left to kube-proxy'] } });
  });

  it('off: nothing, whatever else is true', () => {
    expect(planServices({ ...base, mode: 'off', fallbackEnabled: true, missingHooks: ['connect4'] })).toEqual({ frontends: 'none', nicPrograms: false, socketPrograms: [], nftables: false, problems: [], status: { mode: 'off', datapath: 'none' } });
  });
});
