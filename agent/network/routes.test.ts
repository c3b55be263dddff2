import type { V1Node } from '@kubernetes/client-node';
import { OVERLAY_TABLE, parseRoutes, peersOf, plannedRoutes, routeChanges } from './routes.js';

const node = (name: string, ip: string, cidrs: string[]): V1Node => ({ metadata: { name }, spec: { podCIDR: cidrs[0], podCIDRs: cidrs }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });

describe("routes to other nodes' pods", () => {
  const skipped: string[] = [];
  const peers = peersOf([node('a', '192.168.1.1', ['10.244.1.0/24']), node('b', '192.168.1.2', ['10.244.2.0/24', 'fd00::/64']), node('c', '192.168.9.3', ['10.244.3.0/24']), { metadata: { name: 'new' } }, { metadata: { name: 'v6' }, spec: { podCIDRs: ['fd00:1::/64'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.9' }] } }, { metadata: { name: 'hidden' }, spec: { podCIDR: '10.244.9.0/24' } }], 'a', skipped);

  it('names every other node with an address and an IPv4 pod CIDR, and says which it cannot route to', () => {
    expect(peers).toEqual([
      { name: 'b', address: '192.168.1.2', podCidrs: ['10.244.2.0/24'] },
      { name: 'c', address: '192.168.9.3', podCidrs: ['10.244.3.0/24'] },
    ]);
    expect(skipped).toEqual([
      '2 node(s) without an IPv4 spec.podCIDR(s) (new, v6): no route to their pods from here (allocate pod CIDRs: kube-controller-manager --allocate-node-cidrs)',
      '1 node(s) without an address in status (hidden): no route to their pods from here',
    ]);
  });

  it('natively: through the peer on this link, through the gateway to a peer beyond it, and says which it cannot reach', () => {
    const hop = (a: string) => (a === '192.168.1.2' ? { dev: 'eth0' } : a === '192.168.9.3' ? { dev: 'eth0', gateway: '192.168.1.254' } : undefined);
    expect(plannedRoutes('none', peers, hop, 'weir_vxlan')).toEqual({
      routes: [
        { dst: '10.244.2.0/24', via: '192.168.1.2', dev: 'eth0' },
        { dst: '10.244.3.0/24', via: '192.168.1.254', dev: 'eth0' },
      ],
      problems: [],
    });
    expect(plannedRoutes('none', peers, () => undefined, 'weir_vxlan').problems).toHaveLength(2);
  });

  it('with VXLAN: pod CIDRs into the tunnel, and the peers themselves in the overlay table', () => {
    expect(plannedRoutes('vxlan', peers.slice(0, 1), () => undefined, 'weir_vxlan', '192.168.1.1').routes).toEqual([
      { dst: '10.244.2.0/24', dev: 'weir_vxlan', src: '192.168.1.1' },
      { dst: '192.168.1.2/32', dev: 'weir_vxlan', table: OVERLAY_TABLE },
    ]);
  });

  it('changes only what differs, and removes only its own routes no longer wanted', () => {
    const have = parseRoutes('[{"dst":"10.244.2.0/24","gateway":"192.168.1.2","dev":"eth0"},{"dst":"10.244.7.0/24","gateway":"192.168.1.7","dev":"eth0"}]');
    const overlay = parseRoutes('[{"dst":"192.168.1.7","dev":"weir_vxlan"}]', OVERLAY_TABLE);
    const want = [{ dst: '10.244.2.0/24', via: '192.168.1.2', dev: 'eth0' }, { dst: '10.244.3.0/24', dev: 'weir_vxlan' }];
    expect(routeChanges([...have, ...overlay], want)).toEqual({
      replace: [{ dst: '10.244.3.0/24', dev: 'weir_vxlan' }],
      remove: [{ dst: '10.244.7.0/24', via: '192.168.1.7', dev: 'eth0' }, { dst: '192.168.1.7/32', dev: 'weir_vxlan', table: OVERLAY_TABLE }],
    });
  });
});
