import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { lbDemand, lbFrontendCounts, lbFrontends } from './lbdemand.js';

const svc = (name: string, ports: number, extra: Partial<NonNullable<V1Service['spec']>> = {}): V1Service => ({
  metadata: { name, namespace: 'shop' },
  spec: { clusterIP: '10.96.0.10', ports: Array.from({ length: ports }, (_, i) => ({ port: 80 + i })), ...extra },
});
const slice = (service: string, addrs: Array<[string, boolean]>): V1EndpointSlice => ({
  addressType: 'IPv4',
  metadata: { namespace: 'shop', labels: { 'kubernetes.io/service-name': service } },
  endpoints: addrs.map(([a, ready]) => ({ addresses: [a], conditions: { ready } })),
});

describe('lbDemand', () => {
  it('sums ready backends × ports over load-balanced services', () => {
    const services = [svc('api', 2), svc('db', 1), svc('headless', 1, { clusterIP: 'None' }), svc('ext', 1, { type: 'ExternalName' })];
    const slices = [
      slice('api', [['10.0.0.1', true], ['10.0.0.2', true]]),
      slice('api', [['10.0.0.2', true], ['10.0.0.3', false], ['10.0.0.4', true]]), // a second slice, one duplicate, one not ready
      slice('db', [['10.0.1.1', true]]),
      slice('headless', [['10.0.2.1', true]]),
    ];
    expect(lbDemand(services, slices)).toBe(3 * 2 + 1);
  });

  it('counts nothing for a service without backends', () => {
    expect(lbDemand([svc('lonely', 3)], [])).toBe(0);
  });
});

describe('lbFrontends', () => {
  it('counts cluster and external addresses × ports, and node ports on each node address', () => {
    const services = [
      svc('api', 2),
      svc('web', 1, { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }], externalIPs: ['192.0.2.10'] }),
      svc('headless', 1, { clusterIP: 'None' }),
    ];
    // api: 2 ports × 1 address; web: 1 port × (cluster + external) + 1 node port × 3 node addresses.
    expect(lbFrontends(lbFrontendCounts(services), 3)).toBe(2 + 2 + 3);
  });
});
