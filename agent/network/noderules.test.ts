import { renderForwardChain, renderMasqueradeTable } from './noderules.js';

describe("Weir's own netfilter rules", () => {
  it('masquerades pod traffic to outside the cluster, with source ports above the node-port range', () => {
    const text = renderMasqueradeTable({ masquerade: true, podCidrs: ['10.244.1.0/24'], cluster: ['10.244.1.0/24', '10.244.2.0/24', '192.168.77.11'], nodePortMax: 32767 });
    expect(text.split('\n').slice(0, 2)).toEqual(['table ip weir_node', 'delete table ip weir_node']);
    expect(text).toContain('elements = { 10.244.1.0/24 }');
    expect(text).toContain('elements = { 10.244.1.0/24, 10.244.2.0/24, 192.168.77.11 }');
    expect(text).toContain('ip saddr @pods ip daddr != @cluster meta l4proto { tcp, udp } masquerade to :32768-65535');
    expect(text).toContain('ip saddr @pods ip daddr != @cluster masquerade\n');
  });

  it('writes an empty set without elements (nft refuses an empty list)', () => {
    expect(renderMasqueradeTable({ masquerade: true, podCidrs: [], cluster: [], nodePortMax: 32767 })).not.toContain('elements');
  });

  it('accepts forwarded traffic from and to the pod CIDRs in its own chain', () => {
    expect(renderForwardChain(['10.244.1.0/24'])).toBe('*filter\n:WEIR-FORWARD - [0:0]\n-A WEIR-FORWARD -s 10.244.1.0/24 -j ACCEPT\n-A WEIR-FORWARD -d 10.244.1.0/24 -j ACCEPT\nCOMMIT\n');
  });
});
