import { keyFingerprint, pairKey, parseIpsecSecret, spiOf } from './ipsec-keys.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const HEX36 = '41049390e1e2b5d6543901daab6435f4042155fe41049390e1e2b5d6543901daab6435f4';

describe('the IPsec key Secret', () => {
  it("reads Cilium's format, hex or base64 keys, several lines", () => {
    const k36 = Buffer.alloc(36, 7);
    const keys = parseIpsecSecret({ keys: b64(`3+ rfc4106(gcm(aes)) ${HEX36.slice(0, 40)} 128\n# the new one\n4 rfc4106(gcm(aes)) ${k36.toString('base64')} 96\n`) });
    expect(keys.map((k) => [k.id, k.key.length, k.icvBits])).toEqual([[3, 20, 128], [4, 36, 96]]);
  });

  it.each([
    [undefined, 'no data.keys'],
    ['', 'holds no key'],
    [`0 rfc4106(gcm(aes)) ${HEX36.slice(0, 40)} 128`, 'key id 0 is not 1-15'],
    [`16 rfc4106(gcm(aes)) ${HEX36.slice(0, 40)} 128`, 'key id 16 is not 1-15'],
    [`1 cbc(aes) ${HEX36.slice(0, 40)} 128`, 'algorithm cbc(aes) is not supported'],
    ['1 rfc4106(gcm(aes)) abcd 128', 'the key is not 20, 28, 36 bytes'],
    [`1 rfc4106(gcm(aes)) ${HEX36.slice(0, 40)} 100`, 'ICV length 100'],
    [`1 rfc4106(gcm(aes)) ${HEX36.slice(0, 40)}`, 'want "<id>'],
    [`1 rfc4106(gcm(aes)) ${HEX36.slice(0, 40)} 128\n1 rfc4106(gcm(aes)) ${HEX36.slice(0, 40)} 128`, 'key id 1 twice'],
  ])('refuses %j: %s', (text, message) => {
    expect(() => parseIpsecSecret(text === undefined ? {} : { keys: b64(text) })).toThrow(message);
  });

  it('derives one key per direction of a node pair, new after either node reboots, same on both ends', () => {
    const [master] = parseIpsecSecret({ keys: b64(`1 rfc4106(gcm(aes)) ${HEX36.slice(0, 72)} 128`) });
    const a = { name: 'a', bootID: 'ba' };
    const b = { name: 'b', bootID: 'bb' };
    const ab = pairKey(master, a, b);
    expect(ab).toHaveLength(36);
    expect(pairKey(master, a, b)).toEqual(ab);
    expect(pairKey(master, b, a)).not.toEqual(ab);
    expect(pairKey(master, a, { ...b, bootID: 'bb2' })).not.toEqual(ab);
    expect(ab.equals(master.key)).toBe(false);
  });

  it('fingerprints keys without revealing them', () => {
    const [k1, k2] = parseIpsecSecret({ keys: b64(`1 rfc4106(gcm(aes)) ${HEX36.slice(0, 40)} 128\n2 rfc4106(gcm(aes)) ${HEX36.slice(2, 42)} 128`) });
    expect(keyFingerprint(k1)).toMatch(/^[0-9a-f]{32}$/);
    expect(keyFingerprint(k1)).not.toBe(keyFingerprint(k2));
    expect(keyFingerprint(k1)).not.toContain(HEX36.slice(0, 8));
  });

  it('gives every sender and generation its own SPI, none reserved', () => {
    const spis = new Set<number>();
    for (const node of [1, 2, 15, 16, 17, 4096, 0xffffff]) for (let id = 1; id <= 15; id++) spis.add(spiOf(node, id));
    expect(spis.size).toBe(7 * 15);
    expect(Math.min(...spis)).toBeGreaterThanOrEqual(256);
    expect(Math.max(...spis)).toBeLessThan(2 ** 32);
    expect(() => spiOf(0, 1)).toThrow('node id 0');
    expect(() => spiOf(1, 0)).toThrow('key id 0');
  });
});
