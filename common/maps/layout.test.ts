import { ct4Key, ctEntry } from './conntrack.js';
import { cidrKey, lpmIpKey } from './ipcache.js';
import { formatIp4, parseIp4 } from './layout.js';

describe('layout codecs', () => {
  it('round-trips a conntrack key with ports in network order', () => {
    const k = { saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 40000, dport: 8080, proto: 6, scope: 1, pad: 0 };
    const b = ct4Key.encode(k);
    expect(b.toString('hex')).toBe('0a0000010a0000029c401f9006010000');
    expect(ct4Key.decode(b)).toEqual(k);
  });

  it('writes host-order integers little-endian and zero-fills what no field covers', () => {
    const b = ctEntry.encode({ expires: 1, srcIdentity: 256, backendId: 0, revNat: 2, flags: 1, policyGen: 3, txTcpFlags: 2, rxTcpFlags: 0x12, proxyPort: 0, path: 5 });
    expect(b.toString('hex')).toBe('01000000' + '00010000' + '00000000' + '0200' + '0100' + '03000000' + '02' + '12' + '0000' + '05000000');
  });

  it('masks a CIDR into its LPM key and keeps the IPv6-sized address slot', () => {
    expect(cidrKey('10.1.2.3/16')).toEqual({ prefixlen: 48, family: 4, addr: '10.1.0.0' });
    expect(cidrKey('192.168.1.7')).toEqual({ prefixlen: 64, family: 4, addr: '192.168.1.7' });
    expect(lpmIpKey.encode(cidrKey('10.1.0.0/16')).subarray(8).toString('hex')).toBe('0a010000' + '00'.repeat(12));
    expect(() => cidrKey('10.1.0.0/33')).toThrow('prefix length');
    expect(() => cidrKey('10.1.0/8')).toThrow('not an IPv4 address');
  });

  it('parses and formats IPv4 numbers', () => {
    expect(parseIp4('255.0.10.1')).toBe(0xff000a01);
    expect(formatIp4(0xff000a01)).toBe('255.0.10.1');
    expect(() => parseIp4('256.0.0.1')).toThrow('not an IPv4 address');
  });
});
