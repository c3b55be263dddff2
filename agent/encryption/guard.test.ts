import { renderGuard, type GuardWant } from './guard.js';

describe('the encryption guard table', () => {
  const want = (w: Partial<GuardWant>): GuardWant => ({ localPods: ['10.244.1.0/24'], remotePods: ['10.244.2.0/24', '10.244.3.0/24'], mark: 0x2e00, strict: true, mode: 'ipsec', ...w });

  it('marks pod traffic to other nodes pods after translation, forwarded and from the node, keeping the rest of the mark', () => {
    const text = renderGuard(want({}))!;
    expect(text).toContain('elements = { 10.244.2.0/24, 10.244.3.0/24 }');
    expect(text).toContain('type filter hook prerouting priority -90;');
    expect(text).toContain('type route hook output priority -90;');
    const rules = text.split('\n').filter((l) => l.includes('@remote_pods'));
    expect(rules).toEqual([
      '    ip saddr @local_pods ip daddr @remote_pods meta mark & 0x00000f00 == 0x00000000 meta mark set meta mark & 0xffff00ff | 0x00002e00',
      '    ip saddr @local_pods ip daddr @remote_pods meta mark & 0x00000f00 == 0x00000000 meta mark set meta mark & 0xffff00ff | 0x00002e00',
    ]);
  });

  it('drops instead in strict mode while the node cannot encrypt, and is not there at all when clear is allowed', () => {
    expect(renderGuard(want({ mark: 0 }))!.split('\n').filter((l) => l.includes('@remote_pods')).every((l) => l.endsWith('counter drop'))).toBe(true);
    expect(renderGuard(want({ mark: 0, strict: false }))).toBeUndefined();
    // Not strict but encrypting: still marked (what can be encrypted is).
    expect(renderGuard(want({ strict: false }))).toContain('meta mark set');
    // Nothing to guard without pods on either side.
    expect(renderGuard(want({ remotePods: [] }))).toBeUndefined();
  });

  it("with WireGuard in strict mode, refuses a peer pod's traffic that did not come through the device", () => {
    expect(renderGuard(want({ mode: 'wireguard' }))).toContain('iifname != { "weir_wg0", "lo" } ip saddr @remote_pods ip daddr @local_pods counter drop');
    expect(renderGuard(want({ mode: 'wireguard', strict: false }))).not.toContain('iifname');
    expect(renderGuard(want({}))).not.toContain('iifname');
  });
});
