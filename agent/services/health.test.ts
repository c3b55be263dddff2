import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { healthChecks } from './health.js';

const lb = (name: string, spec: Partial<NonNullable<V1Service['spec']>>): V1Service => ({ metadata: { name, namespace: 'shop' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80 }], ...spec } });
const slice = (svc: string, eps: Array<{ ip: string; node: string; ready?: boolean }>): V1EndpointSlice => ({
  metadata: { name: `${svc}-x`, namespace: 'shop', labels: { 'kubernetes.io/service-name': svc } },
  addressType: 'IPv4',
  endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true } })),
});

describe('healthChecks', () => {
  it("counts each Local load balancer's ready endpoints on this node, and skips services without a health-check port", () => {
    const services = [
      lb('web', { healthCheckNodePort: 32001 }),
      lb('cluster', { externalTrafficPolicy: 'Cluster', healthCheckNodePort: 32002 }),
      lb('none-here', { healthCheckNodePort: 32003 }),
      { metadata: { name: 'np', namespace: 'shop' }, spec: { type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 32004 } } as V1Service,
    ];
    const slices = [
      slice('web', [{ ip: '10.244.1.2', node: 'n1' }, { ip: '10.244.1.3', node: 'n1', ready: false }, { ip: '10.244.2.2', node: 'n2' }]),
      slice('none-here', [{ ip: '10.244.2.3', node: 'n2' }]),
    ];
    expect(healthChecks(services, slices, 'n1')).toEqual([
      { port: 32001, namespace: 'shop', name: 'web', localEndpoints: 1 },
      { port: 32003, namespace: 'shop', name: 'none-here', localEndpoints: 0 },
    ]);
  });
});
