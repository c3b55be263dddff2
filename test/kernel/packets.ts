// Crafted frames for BPF_PROG_TEST_RUN: Ethernet + IPv4 + TCP/UDP with valid checksums, and a
// parser to check what a program wrote back.
import { formatIp4, parseIp4 } from '../../common/maps/layout.js';

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const SCTP = 132;
export const Flags = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface Packet {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** SCTP frames carry its 12-byte common header (ports first); this host has no SCTP sockets. */
  proto: typeof TCP | typeof UDP | typeof SCTP;
  /** TCP only. */
  flags?: number;
  payload?: Buffer;
  srcMac?: string;
  dstMac?: string;
  /** An IPv4 fragment: its datagram's id, its offset in 8-byte units, and whether more follow. */
  frag?: { id: number; offset: number; more: boolean };
}

function sum16(b: Buffer, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i] ?? 0) * 256 + (i + 1 < end ? (b[i + 1] ?? 0) : 0);
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

const mac = (m: string): Buffer => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));

export function frame(p: Packet): Buffer {
  const payload = p.payload ?? Buffer.alloc(0);
  const l4len = (p.proto === TCP ? 20 : p.proto === SCTP ? 12 : 8) + payload.length;
  const f = Buffer.alloc(14 + 20 + l4len);
  mac(p.dstMac ?? '02:00:00:00:00:02').copy(f, 0);
  mac(p.srcMac ?? '02:00:00:00:00:01').copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f.writeUInt8(0x45, 14);
  f.writeUInt16BE(20 + l4len, 16);
  if (p.frag) {
    f.writeUInt16BE(p.frag.id, 18);
    f.writeUInt16BE((p.frag.more ? 0x2000 : 0) | p.frag.offset, 20);
  }
  f.writeUInt8(64, 22);
  f.writeUInt8(p.proto, 23);
  f.writeUInt32BE(parseIp4(p.src), 26);
  f.writeUInt32BE(parseIp4(p.dst), 30);
  f.writeUInt16BE(fold(sum16(f, 14, 34)), 24);
  const l4 = 34;
  f.writeUInt16BE(p.sport, l4);
  f.writeUInt16BE(p.dport, l4 + 2);
  if (p.proto === TCP) {
    f.writeUInt32BE(1000, l4 + 4);
    f.writeUInt8(5 << 4, l4 + 12);
    f.writeUInt8(p.flags ?? Flags.SYN, l4 + 13);
    f.writeUInt16BE(65535, l4 + 14);
    payload.copy(f, l4 + 20);
  } else if (p.proto === SCTP) {
    // Verification tag and CRC32c checksum left zero: the datapath reads the ports only.
    payload.copy(f, l4 + 12);
    return f;
  } else {
    f.writeUInt16BE(l4len, l4 + 4);
    payload.copy(f, l4 + 8);
  }
  const pseudo = sum16(f, 26, 34) + p.proto + l4len;
  const csumOff = l4 + (p.proto === TCP ? 16 : 6);
  f.writeUInt16BE(fold(sum16(f, l4, f.length, pseudo)), csumOff);
  return f;
}

/**
 * An ICMP error from `src` to `dst` quoting the first 28 bytes (IPv4 header and 8 bytes of L4)
 * of `quoted`, as a router or host sends it: e.g. type 3 code 4, fragmentation needed.
 */
export function icmpErrorFrame(p: { src: string; dst: string; type: number; code: number; mtu?: number; quoted: Packet }): Buffer {
  const q = frame(p.quoted).subarray(14, 14 + 28);
  const f = Buffer.alloc(14 + 20 + 8 + q.length);
  mac('02:00:00:00:00:02').copy(f, 0);
  mac('02:00:00:00:00:01').copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f.writeUInt8(0x45, 14);
  f.writeUInt16BE(f.length - 14, 16);
  f.writeUInt8(64, 22);
  f.writeUInt8(ICMP, 23);
  f.writeUInt32BE(parseIp4(p.src), 26);
  f.writeUInt32BE(parseIp4(p.dst), 30);
  f.writeUInt16BE(fold(sum16(f, 14, 34)), 24);
  f.writeUInt8(p.type, 34);
  f.writeUInt8(p.code, 35);
  if (p.mtu !== undefined) f.writeUInt16BE(p.mtu, 40);
  q.copy(f, 42);
  f.writeUInt16BE(fold(sum16(f, 34, f.length)), 36);
  return f;
}

export interface Parsed {
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  ipChecksumOk: boolean;
  l4ChecksumOk: boolean;
  /** ICMP type/code and the quoted original header's addresses. */
  icmp?: { type: number; code: number; quotedSrc: string; quotedDst: string; quotedDport: number };
  srcMac: string;
  dstMac: string;
}

export function parse(f: Buffer): Parsed {
  const ihl = ((f[14] ?? 0) & 0xf) * 4;
  const proto = f.readUInt8(23);
  const tot = f.readUInt16BE(16);
  const l4 = 14 + ihl;
  const end = 14 + tot;
  const pseudo = sum16(f, 26, 34) + proto + (tot - ihl);
  const macStr = (at: number) => [...f.subarray(at, at + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const out: Parsed = {
    src: formatIp4(f.readUInt32BE(26)),
    dst: formatIp4(f.readUInt32BE(30)),
    proto,
    sport: proto === ICMP ? 0 : f.readUInt16BE(l4),
    dport: proto === ICMP ? 0 : f.readUInt16BE(l4 + 2),
    ipChecksumOk: fold(sum16(f, 14, 14 + ihl)) === 0,
    l4ChecksumOk: proto === ICMP ? fold(sum16(f, l4, end)) === 0 : fold(sum16(f, l4, end, pseudo)) === 0,
    srcMac: macStr(6),
    dstMac: macStr(0),
  };
  if (proto === ICMP) {
    const q = l4 + 8;
    out.icmp = {
      type: f.readUInt8(l4),
      code: f.readUInt8(l4 + 1),
      quotedSrc: formatIp4(f.readUInt32BE(q + 12)),
      quotedDst: formatIp4(f.readUInt32BE(q + 16)),
      quotedDport: f.readUInt16BE(q + 20 + 2),
    };
  }
  return out;
}
