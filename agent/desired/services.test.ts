import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { ServiceFlags } from '../../common/maps/lb.js';
import { IdAllocator } from './ids.js';
import { lbEntries, serviceFrontends, withoutSctp } from './services.js';

const svc = (name: string, spec: V1Service['spec']): V1Service => ({ metadata: { name, namespace: 'default' }, spec });
const slice = (svcName: string, ports: Array<{ name?: string; port: number; protocol?: string }>, endpoints: Array<{ ip: string; ready?: boolean; serving?: boolean; terminating?: boolean; node?: string }>): V1EndpointSlice => ({
  metadata: { name: `${svcName}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  ports,
  endpoints: endpoints.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true, serving: e.serving, terminating: e.terminating } })),
});
const summary = (fes: ReturnType<typeof serviceFrontends>) => fes.map((f) => `${f.address}:${f.port} ${f.backends.map((b) => b.address).join(',') || '-'}${f.flags & ServiceFlags.LocalOnly ? ' local' : ''}`);

describe('serviceFrontends', () => {
  it('gives a ClusterIP frontend per port with its ready backends (not the terminating ones while any is ready), matched by port name', () => {
    const fes = serviceFrontends(
      [svc('web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] })],
      [
        slice('web', [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }], [
          { ip: '10.244.1.3' },
          { ip: '10.244.1.2' },
          { ip: '10.244.1.9', ready: false },
          { ip: '10.244.1.7', ready: false, serving: true, terminating: true },
        ]),
      ],
      { nodeAddresses: [], sessionAffinity: true },
    );
    expect(fes).toEqual([
      expect.objectContaining({ address: '10.96.0.10', port: 80, proto: 6, flags: ServiceFlags.ClusterIp, backends: [{ address: '10.244.1.2', port: 8080 }, { address: '10.244.1.3', port: 8080 }] }),
      expect.objectContaining({ address: '10.96.0.10', port: 53, proto: 17, backends: [{ address: '10.244.1.2', port: 5353 }, { address: '10.244.1.3', port: 5353 }] }),
    ]);
  });

  it('falls back to terminating endpoints that still serve only when none is ready, as kube-proxy does', () => {
    const fes = serviceFrontends(
      [svc('web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] })],
      [slice('web', [{ port: 8080 }], [{ ip: '10.244.1.7', ready: false, serving: true, terminating: true }, { ip: '10.244.1.8', ready: false, serving: false, terminating: true }, { ip: '10.244.1.9', ready: false }])],
      { nodeAddresses: [], sessionAffinity: true },
    );
    expect(summary(fes)).toEqual(['10.96.0.10:80 10.244.1.7']);
  });

  it('keeps this node\'s endpoints for traffic policy Local: internal for the ClusterIP, external for node ports and external addresses', () => {
    const services = [
      svc('itp', { clusterIP: '10.96.0.20', internalTrafficPolicy: 'Local', ports: [{ port: 80 }] }),
      svc('etp', { type: 'NodePort', clusterIP: '10.96.0.21', externalIPs: ['192.0.2.50'], externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30021 }] }),
    ];
    const eps = [{ ip: '10.244.1.2', node: 'n1' }, { ip: '10.244.2.2', node: 'n2' }];
    const slices = [slice('itp', [{ port: 8080 }], eps), slice('etp', [{ port: 8080 }], eps)];
    expect(summary(serviceFrontends(services, slices, { nodeAddresses: ['192.168.1.11'], nodeName: 'n1', sessionAffinity: true }))).toEqual([
      '10.96.0.21:80 10.244.1.2,10.244.2.2',
      '192.0.2.50:80 10.244.1.2 local',
      '192.168.1.11:30021 10.244.1.2 local',
      '10.96.0.20:80 10.244.1.2 local',
    ]);
    // A node without a local endpoint keeps the frontends, empty: the datapath drops rather than rejects.
    expect(summary(serviceFrontends(services, slices, { nodeAddresses: ['192.168.1.13'], nodeName: 'n3', sessionAffinity: true }))).toEqual([
      '10.96.0.21:80 10.244.1.2,10.244.2.2',
      '192.0.2.50:80 - local',
      '192.168.1.13:30021 - local',
      '10.96.0.20:80 - local',
    ]);
  });

  it('guards load-balancer addresses (not node ports or external IPs) with loadBalancerSourceRanges, as LPM entries of the frontend', () => {
    const fes = serviceFrontends(
      [svc('lb', { type: 'LoadBalancer', clusterIP: '10.96.0.40', externalIPs: ['192.0.2.8'], loadBalancerSourceRanges: ['198.51.100.7/24', '203.0.113.9/32', '2001:db8::/32'], ports: [{ port: 80, nodePort: 30040 }] })],
      [slice('lb', [{ port: 8080 }], [{ ip: '10.244.1.2' }])],
      { nodeAddresses: ['192.168.1.11'], sessionAffinity: true },
    );
    const withLbIp = serviceFrontends(
      [{ ...svc('lb', { type: 'LoadBalancer', clusterIP: '10.96.0.40', loadBalancerSourceRanges: ['198.51.100.7/24', '203.0.113.9/32'], ports: [{ port: 80, nodePort: 30040 }] }), status: { loadBalancer: { ingress: [{ ip: '192.0.2.9' }] } } }],
      [slice('lb', [{ port: 8080 }], [{ ip: '10.244.1.2' }])],
      { nodeAddresses: ['192.168.1.11'], sessionAffinity: true },
    );
    expect(fes.filter((f) => f.flags & ServiceFlags.SourceRanges)).toEqual([]);
    const guarded = withLbIp.filter((f) => f.flags & ServiceFlags.SourceRanges);
    expect(guarded.map((f) => [f.address, f.sourceRanges])).toEqual([['192.0.2.9', ['198.51.100.7/24', '203.0.113.9/32']]]);
    const ids = { backends: new IdAllocator(1, 100), revNat: new IdAllocator(1, 10) };
    const lb = lbEntries(withLbIp, ids);
    const revNat = lb.revNat.find((r) => r.value.address === '192.0.2.9')!.key.index;
    expect(lb.sourceRanges).toEqual([
      { key: { prefixlen: 56, revNat, pad: 0, addr: '198.51.100.0' }, value: { flags: 0 } },
      { key: { prefixlen: 64, revNat, pad: 0, addr: '203.0.113.9' }, value: { flags: 0 } },
    ]);
  });

  it('in coexist mode gives only ClusterIP frontends: node ports and external addresses are kube-proxy\'s', () => {
    const fes = serviceFrontends(
      [svc('np', { type: 'LoadBalancer', clusterIP: '10.96.0.30', externalIPs: ['192.0.2.9'], ports: [{ port: 80, nodePort: 30030 }] })],
      [slice('np', [{ port: 8080 }], [{ ip: '10.244.1.2' }])],
      { nodeAddresses: ['192.168.1.11'], sessionAffinity: true, mode: 'coexist' },
    );
    expect(summary(fes)).toEqual(['10.96.0.30:80 10.244.1.2']);
  });

  it('adds NodePort frontends on every node address, external IPs, and session affinity', () => {
    const fes = serviceFrontends(
      [
        svc('np', {
          type: 'NodePort',
          clusterIP: '10.96.0.11',
          externalIPs: ['192.0.2.10'],
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
          ports: [{ port: 80, nodePort: 30080 }],
        }),
      ],
      [slice('np', [{ port: 8080 }], [{ ip: '10.244.1.2' }])],
      { nodeAddresses: ['192.168.1.10', '192.168.1.11'], sessionAffinity: true },
    );
    expect(fes.map((f) => [f.address, f.port, f.flags, f.affinityTimeoutS])).toEqual([
      ['10.96.0.11', 80, ServiceFlags.ClusterIp | ServiceFlags.Affinity, 60],
      ['192.0.2.10', 80, ServiceFlags.External | ServiceFlags.Affinity, 60],
      ['192.168.1.10', 30080, ServiceFlags.NodePort | ServiceFlags.Affinity, 60],
      ['192.168.1.11', 30080, ServiceFlags.NodePort | ServiceFlags.Affinity, 60],
    ]);
  });

  it('serves node ports inside serviceLB.nodePortRange only, and says which it does not', () => {
    const problems: string[] = [];
    const fes = serviceFrontends(
      [
        svc('in', { type: 'NodePort', clusterIP: '10.96.0.11', ports: [{ port: 80, nodePort: 30080 }] }),
        svc('out', { type: 'NodePort', clusterIP: '10.96.0.12', ports: [{ port: 80, nodePort: 31080 }] }),
      ],
      [],
      { nodeAddresses: ['192.0.2.1'], sessionAffinity: true, nodePortRange: { min: 30000, max: 30999 } },
      problems,
    );
    expect(fes.filter((f) => f.flags & ServiceFlags.NodePort).map((f) => `${f.address}:${f.port}`)).toEqual(['192.0.2.1:30080']);
    // The service keeps its cluster IP: only the node port is refused.
    expect(fes.filter((f) => f.flags & ServiceFlags.ClusterIp).map((f) => f.service)).toEqual(['default/in', 'default/out']);
    expect(problems).toEqual(['service default/out node port 31080 is outside serviceLB.nodePortRange 30000-30999: not served']);
  });

  it("never leads to a node's VXLAN port: that endpoint is left out and said, the others kept", () => {
    const problems: string[] = [];
    const fes = serviceFrontends(
      [svc('tun', { type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ name: 'u', port: 8472, protocol: 'UDP', nodePort: 30472 }] })],
      [slice('tun', [{ name: 'u', port: 8472, protocol: 'UDP' }], [{ ip: '192.0.2.2' }, { ip: '10.244.1.5' }])],
      { nodeAddresses: ['192.0.2.1'], sessionAffinity: false, tunnel: { addresses: new Set(['192.0.2.1', '192.0.2.2']), port: 8472 } },
      problems,
    );
    expect(summary(fes)).toEqual(['10.96.0.20:8472 10.244.1.5', '192.0.2.1:30472 10.244.1.5']);
    expect(problems).toEqual(["service default/tun endpoint 192.0.2.2:8472/UDP is a node's VXLAN port: left out (the tunnel would take a translated datagram as another node's)"]);
  });

  it('skips headless and ExternalName services; keeps a service with no backends (to refuse)', () => {
    const fes = serviceFrontends(
      [svc('h', { clusterIP: 'None', ports: [{ port: 80 }] }), svc('e', { type: 'ExternalName', externalName: 'x.example', ports: [{ port: 80 }] }), svc('empty', { clusterIP: '10.96.0.12', ports: [{ port: 80 }] })],
      [],
      { nodeAddresses: [], sessionAffinity: true },
    );
    expect(fes).toEqual([expect.objectContaining({ service: 'default/empty', backends: [] })]);
  });
});

describe('withoutSctp', () => {
  it('takes SCTP frontends out of the eBPF path and names each Service once, with its ports', () => {
    const fes = serviceFrontends(
      [
        svc('sig', { type: 'NodePort', clusterIP: '10.96.0.30', ports: [{ name: 's', port: 3868, protocol: 'SCTP', nodePort: 30868 }, { name: 't', port: 80, protocol: 'TCP', nodePort: 30080 }] }),
        svc('web', { clusterIP: '10.96.0.31', ports: [{ port: 80 }] }),
      ],
      [],
      { nodeAddresses: ['192.0.2.1'], sessionAffinity: true },
    );
    const problems: string[] = [];
    expect(withoutSctp(fes, problems).map((f) => `${f.service} ${f.address}:${f.port}/${f.proto}`)).toEqual(['default/sig 10.96.0.30:80/6', 'default/sig 192.0.2.1:30080/6', 'default/web 10.96.0.31:80/6']);
    expect(problems).toEqual([
      'service default/sig has SCTP ports (10.96.0.30:3868, 192.0.2.1:30868) that are not served: the eBPF service datapath translates TCP and UDP only (iptablesFallback serves SCTP)',
    ]);
  });
});

describe('lbEntries', () => {
  it('writes slot 0 with the count and one slot per backend, and keeps ids stable across changes', () => {
    const ids = { backends: new IdAllocator(1, 100), revNat: new IdAllocator(1, 10) };
    const fe = { service: 'default/web', address: '10.96.0.10', port: 80, proto: 6, flags: ServiceFlags.ClusterIp, affinityTimeoutS: 0 };
    const a = lbEntries([{ ...fe, backends: [{ address: '10.244.1.2', port: 8080 }, { address: '10.244.1.3', port: 8080 }] }], ids);
    expect(a.services.map((s) => [s.key.backendSlot, s.value.count, s.value.backendId])).toEqual([
      [1, 0, 1],
      [2, 0, 2],
      [0, 2, 0],
    ]);
    expect(a.revNat).toEqual([{ key: { index: 1 }, value: { address: '10.96.0.10', port: 80, pad: 0 } }]);
    const b = lbEntries([{ ...fe, backends: [{ address: '10.244.1.3', port: 8080 }] }], ids);
    expect(b.backends).toEqual([{ key: { id: 2 }, value: { address: '10.244.1.3', port: 8080, proto: 6, flags: 0 } }]);
    expect(ids.backends.size).toBe(1);
  });
});

describe('IdAllocator', () => {
  it('restores numbers found in the kernel and hands out free ones around them', () => {
    const ids = new IdAllocator(1, 3);
    ids.restore('a', 2);
    expect(ids.get('a')).toBe(2);
    expect(ids.get('b')).toBe(1);
    expect(ids.get('c')).toBe(3);
    expect(() => ids.get('d')).toThrow('no free id');
    ids.retain(new Set(['a']));
    expect(ids.get('d')).toBe(1);
  });
});
