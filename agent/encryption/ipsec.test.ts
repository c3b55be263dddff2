import type { NodeEncryption } from '../../api/v1alpha1/index.js';
import { keyFingerprint, pairKey, parseIpsecSecret, spiOf } from '../../common/encryption/ipsec-keys.js';
import { plan } from './xfrm.js';
import { ipsecPlan, usableKeys } from './ipsec.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const [k1, k2] = parseIpsecSecret({ keys: b64(`1 rfc4106(gcm(aes)) ${'11'.repeat(20)} 128\n2 rfc4106(gcm(aes)) ${'22'.repeat(36)} 128`) });
const local = { name: 'n1', address: '192.168.77.11', podCIDRs: ['10.244.1.0/24'] };
const spec = (over: Partial<NodeEncryption> = {}): NodeEncryption => ({
  mode: 'ipsec',
  strict: true,
  nodeId: 1,
  bootID: 'boot-1',
  ipsec: { secret: { namespace: 'kube-system', name: 'keys' }, keys: [{ id: 1, fingerprint: keyFingerprint(k1) }], send: 1 },
  peers: [{ name: 'n2', nodeId: 2, address: '192.168.77.12', podCIDRs: ['10.244.2.0/24'], bootID: 'boot-2' }],
  ...over,
});

describe('the IPsec plan of a node', () => {
  it('has a state each way per peer with the pair keys both ends derive, and policies by mark and by pod CIDR', () => {
    const p = ipsecPlan(local, spec(), usableKeys(spec(), [k1]), []);
    expect(p.installed).toEqual([1]);
    expect(p.states).toEqual([
      { src: local.address, dst: '192.168.77.12', spi: spiOf(1, 1), mark: { value: 0x1e00, mask: 0xff00 }, esn: true, key: pairKey(k1, { name: 'n1', bootID: 'boot-1' }, { name: 'n2', bootID: 'boot-2' }), icvBits: 128 },
      { src: '192.168.77.12', dst: local.address, spi: spiOf(2, 1), esn: true, key: pairKey(k1, { name: 'n2', bootID: 'boot-2' }, { name: 'n1', bootID: 'boot-1' }), icvBits: 128 },
    ]);
    expect(p.policies.map((x) => `${x.dir} ${x.src} ${x.dst} ${x.block ? 'block' : x.tmpl!.level}`)).toEqual([
      'out 0.0.0.0/0 10.244.2.0/24 required',
      'fwd 10.244.2.0/24 10.244.1.0/24 required',
      'in 10.244.2.0/24 10.244.1.0/24 use',
      'out 0.0.0.0/0 0.0.0.0/0 block',
    ]);
  });

  it('accepts clear pod traffic from peers and blocks nothing without strict mode', () => {
    const p = ipsecPlan(local, spec({ strict: false }), usableKeys(spec(), [k1]), []);
    expect(p.policies.filter((x) => x.block)).toEqual([]);
    expect(p.policies.find((x) => x.dir === 'fwd')?.tmpl?.level).toBe('use');
  });

  it('keeps the states of a generation whose key left the Secret, and cannot add new ones for it', () => {
    const both = spec({ ipsec: { secret: { namespace: 'kube-system', name: 'keys' }, keys: [{ id: 1, fingerprint: keyFingerprint(k1) }, { id: 2, fingerprint: keyFingerprint(k2) }], send: 1 } });
    const keys = usableKeys(both, [k2]);
    const existing = [{ src: local.address, dst: '192.168.77.12', spi: spiOf(1, 1) }, { src: '192.168.77.12', dst: local.address, spi: spiOf(2, 1) }];
    const p = ipsecPlan(local, both, keys, existing);
    expect(p.installed).toEqual([1, 2]);
    // Kept as it is: no key to (re)make it with.
    expect(p.states.filter((s) => s.spi === spiOf(1, 1))).toEqual([{ ...existing[0], mark: { value: 0x1e00, mask: 0xff00 }, esn: true }]);
    // A new peer: key 1's states cannot be made for it.
    const more = { ...both, peers: [...both.peers, { name: 'n3', nodeId: 3, address: '192.168.77.13', podCIDRs: ['10.244.3.0/24'] }] };
    const q = ipsecPlan(local, more, keys, existing);
    expect(q.installed).toEqual([2]);
    expect(q.problems).toEqual([expect.stringMatching(/IPsec key 1 is not in the Secret/)]);
  });

  it('replaces the states of a peer that rebooted: its new boot id makes new pair keys, under the same SPIs', () => {
    const before = ipsecPlan(local, spec(), usableKeys(spec(), [k1]), []);
    const rebooted = spec();
    rebooted.peers = rebooted.peers.map((p) => ({ ...p, bootID: 'boot-2-again' }));
    const after = ipsecPlan(local, rebooted, usableKeys(rebooted, [k1]), before.states);
    const lines = plan({ states: before.states, policies: before.policies }, after);
    // Both directions with the peer, deleted and added back to back, new keys; nothing else touched.
    expect(lines).toEqual([
      expect.stringMatching(/^xfrm state delete src \S+ dst 192\.168\.77\.12 proto esp spi 0x1011 mark 0x1e00 mask 0xff00$/),
      expect.stringMatching(new RegExp(`^xfrm state add src ${local.address} dst 192\\.168\\.77\\.12 proto esp spi 0x1011 .* flag esn mark 0x1e00 mask 0xff00 aead rfc4106\\(gcm\\(aes\\)\\) 0x${pairKey(k1, { name: 'n1', bootID: 'boot-1' }, { name: 'n2', bootID: 'boot-2-again' }).toString('hex')} 128$`)),
      'xfrm state delete src 192.168.77.12 dst ' + local.address + ' proto esp spi 0x1021',
      expect.stringMatching(/^xfrm state add src 192\.168\.77\.12 dst .* spi 0x1021 /),
    ]);
  });

  it('uses only keys whose fingerprint matches what the operator rolled out', () => {
    const forged = { ...k1, key: Buffer.alloc(20, 9) };
    expect(usableKeys(spec(), [forged]).size).toBe(0);
    expect(usableKeys(spec(), [k1]).get(1)).toBe(k1);
  });
});
