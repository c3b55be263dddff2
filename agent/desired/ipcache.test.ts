import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { identityKey, securityLabels } from '../../api/v1alpha1/identity.js';
import { ipcacheEntries } from './ipcache.js';

const node = (name: string, ip: string): V1Node => ({ metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
const pod = (name: string, nodeName: string, ip: string, labels: Record<string, string>): V1Pod => ({
  metadata: { name, namespace: 'shop', labels },
  spec: { nodeName, containers: [] },
  status: { phase: 'Running', podIPs: [{ ip }] },
});

describe('ipcacheEntries', () => {
  it('maps local endpoints, remote pods by their Identity, nodes and CIDR identities', () => {
    const labels = securityLabels({ app: 'db' }, 'shop', { team: 'a' });
    const entries = ipcacheEntries({
      nodeName: 'n1',
      spec: {
        endpoints: [{ namespace: 'shop', name: 'web', ips: ['10.244.1.2'], identity: 300, policyEnforced: true }],
        cidrIdentities: [{ cidr: '192.0.2.0/24', identity: 16_000_000 }],
      },
      pods: [pod('web', 'n1', '10.244.1.2', { app: 'web' }), pod('db', 'n2', '10.244.2.2', { app: 'db' }), pod('new', 'n2', '10.244.2.3', { app: 'unallocated' })],
      namespaces: [{ metadata: { name: 'shop', labels: { team: 'a' } } }],
      identities: [{ metadata: { name: '301' }, spec: { namespace: 'shop', labels } }],
      nodes: [node('n1', '192.168.0.1'), node('n2', '192.168.0.2')],
    });
    const byAddr = new Map(entries.map((e) => [`${e.key.addr}/${e.key.prefixlen - 32}`, e.value]));
    expect(byAddr.get('10.244.1.2/32')).toEqual({ identity: 300, tunnelIp4: 0, flags: 1 });
    expect(byAddr.get('10.244.2.2/32')).toEqual({ identity: 301, tunnelIp4: 0xc0a80002, flags: 0 });
    expect(byAddr.has('10.244.2.3/32')).toBe(false);
    expect(byAddr.get('192.168.0.1/32')?.identity).toBe(1);
    expect(byAddr.get('192.168.0.2/32')?.identity).toBe(6);
    expect(byAddr.get('192.0.2.0/24')?.identity).toBe(16_000_000);
    expect(identityKey(labels)).toContain('ns:team=a');
  });
});

describe('other nodes pod CIDRs (encryption)', () => {
  const withCidr = (name: string, ip: string, cidr: string): V1Node => ({ ...node(name, ip), spec: { podCIDR: cidr } });
  const entries = (cidrIdentities: Array<{ cidr: string; identity: number }>, remotePodCidrs = true) =>
    new Map(
      ipcacheEntries({
        nodeName: 'n1',
        spec: { endpoints: [], cidrIdentities },
        pods: [],
        namespaces: [],
        identities: [],
        nodes: [withCidr('n1', '192.168.0.1', '10.244.1.0/24'), withCidr('n2', '192.168.0.2', '10.244.2.0/24')],
        remotePodCidrs,
      }).map((e) => [`${e.key.addr}/${e.key.prefixlen - 32}`, e.value]),
    );

  it('names the node hosting each other pod CIDR, as world, and not its own', () => {
    const m = entries([]);
    expect(m.get('10.244.2.0/24')).toEqual({ identity: 2, tunnelIp4: 0xc0a80002, flags: 0 });
    expect(m.has('10.244.1.0/24')).toBe(false);
    expect(entries([], false).has('10.244.2.0/24')).toBe(false);
  });

  it('keeps the identity a wider CIDR rule gave those addresses, and leaves narrower ones to win', () => {
    const m = entries([
      { cidr: '10.244.0.0/16', identity: 16_000_001 },
      { cidr: '10.244.2.128/25', identity: 16_000_002 },
    ]);
    expect(m.get('10.244.2.0/24')?.identity).toBe(16_000_001);
    expect(m.get('10.244.2.128/25')?.identity).toBe(16_000_002);
  });
});
