import { ServiceFlags } from '../../common/maps/lb.js';
import type { Frontend } from '../desired/services.js';
import { renderServiceTable } from './nftables.js';

const fe = (over: Partial<Frontend>): Frontend => ({ service: 'default/web', address: '10.96.0.10', port: 80, proto: 6, flags: ServiceFlags.ClusterIp, affinityTimeoutS: 0, backends: [], ...over });

describe('renderServiceTable', () => {
  const text = renderServiceTable([
    fe({ backends: [{ address: '10.244.1.2', port: 8080 }, { address: '10.244.2.2', port: 8080 }] }),
    fe({ address: '10.96.0.11', port: 53, proto: 17, backends: [{ address: '10.244.1.3', port: 5353 }] }),
    fe({ address: '192.168.1.11', port: 30080, flags: ServiceFlags.NodePort, backends: [{ address: '10.244.2.2', port: 8080 }] }),
    fe({ address: '192.168.1.11', port: 30081, flags: ServiceFlags.NodePort | ServiceFlags.LocalOnly, backends: [{ address: '10.244.1.2', port: 8080 }] }),
    fe({ address: '10.96.0.12', backends: [] }),
    fe({ address: '10.96.0.13', flags: ServiceFlags.ClusterIp | ServiceFlags.LocalOnly, backends: [] }),
    fe({ address: '10.96.0.14', flags: ServiceFlags.ClusterIp | ServiceFlags.Affinity, affinityTimeoutS: 30, backends: [{ address: '10.244.1.2', port: 8080 }, { address: '10.244.2.2', port: 8080 }] }),
    fe({ address: '203.0.113.7', flags: ServiceFlags.External | ServiceFlags.SourceRanges, sourceRanges: ['198.51.100.0/24', '10.244.1.0/24'], backends: [{ address: '10.244.2.2', port: 8080 }] }),
  ]);

  it('replaces the whole table in one transaction', () => {
    expect(text.split('\n').slice(0, 3)).toEqual(['table ip weir_services', 'delete table ip weir_services', 'table ip weir_services {']);
  });

  it('looks a packet up once in a verdict map keyed by address, protocol and port', () => {
    expect(text).toContain('10.96.0.10 . tcp . 80 : goto fe_0');
    expect(text).toContain('10.96.0.11 . udp . 53 : goto fe_1');
    expect(text.match(/vmap @frontends/g)).toHaveLength(2);
  });

  it('picks a backend with numgen, and masquerades node ports of Cluster policy only', () => {
    expect(text).toContain('meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080 }');
    expect(text).toContain('meta l4proto udp dnat ip to 10.244.1.3:5353');
    expect(text).toContain('meta l4proto tcp ct mark set ct mark | 0x800000 dnat ip to 10.244.2.2:8080');
    expect(text).toMatch(/chain fe_3 \{\n {4}meta l4proto tcp dnat ip to 10\.244\.1\.2:8080/);
  });

  it('rejects a frontend without endpoints, and drops one of Local policy', () => {
    expect(text).toContain('10.96.0.12 . tcp . 80 : goto refuse');
    expect(text).toContain('10.96.0.13 . tcp . 80 : drop');
  });

  it("drops a load-balancer address's clients outside loadBalancerSourceRanges before translating", () => {
    expect(text).toMatch(/chain fe_7 \{\n {4}ip saddr != \{ 198\.51\.100\.0\/24, 10\.244\.1\.0\/24 \} drop\n {4}meta l4proto tcp ct mark set/);
    expect(text.match(/ip saddr != /g)).toHaveLength(1);
  });

  it('keeps ClientIP affinity in a timed set per backend', () => {
    expect(text).toContain('set aff_6_1 {\n    type ipv4_addr\n    flags dynamic,timeout\n    timeout 30s\n  }');
    expect(text).toContain('ip saddr @aff_6_0 goto be_6_0');
    expect(text).toContain('update @aff_6_1 { ip saddr }');
  });
});
