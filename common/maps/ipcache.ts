// weir_ipcache: address prefix -> security identity, for the whole cluster. Declared in
// bpf/lib/ipcache.h. The endpoints sizing bounds it: it holds the cluster's endpoint addresses
// (plus node and CIDR entries), which is what that size is computed for.
import { ipAny, struct, u8, u32 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const FAMILY_V4 = 4;
/** Key bits before the address: family byte and padding. */
export const PREFIX_HDR = 32;

export const lpmIpKey = struct('lpm_ip_key', 24, { prefixlen: u32(0), family: u8(4), addr: ipAny(8) });
export type LpmIpKey = ReturnType<typeof lpmIpKey.decode>;

export const IpcacheFlags = { Local: 1 << 0, Node: 1 << 1 } as const;

export const ipcacheEntry = struct('ipcache_entry', 12, { identity: u32(0), tunnelIp4: u32(4, 'tunnel_ip4'), flags: u32(8) });
export type IpcacheEntry = ReturnType<typeof ipcacheEntry.decode>;

export const ipcacheMap: MapSpec<LpmIpKey, IpcacheEntry> = {
  name: 'weir_ipcache',
  header: 'bpf/lib/ipcache.h',
  key: lpmIpKey,
  value: ipcacheEntry,
  type: MapType.LpmTrie,
  size: { from: 'ipcache', holds: 'ipcacheEntries' },
};

/** The LPM key of an IPv4 CIDR ("10.0.0.0/8") or address ("10.0.0.1" = /32). */
export function cidrKey(cidr: string): LpmIpKey {
  const [addr, len] = cidr.split('/');
  const bits = len === undefined ? 32 : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`bad IPv4 prefix length in ${JSON.stringify(cidr)}`);
  return { prefixlen: PREFIX_HDR + bits, family: FAMILY_V4, addr: maskIp4(addr ?? '', bits) };
}

function maskIp4(addr: string, bits: number): string {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${JSON.stringify(addr)}`);
  const n = parts.reduce((a, p) => a * 256 + p, 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const m = (n & mask) >>> 0;
  return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
}
