// weir_policy: every local identity's policy in one LPM trie. Declared in bpf/lib/policy.h, which
// explains the lookup. This module also turns compiled policy entries (peer, port range,
// protocol, verdict) into the trie's entries.
import type { PolicyEntry } from '../../api/v1alpha1/index.js';
import { be16, struct, u8, u16, u32 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const PolicyDir = { Ingress: 1, Egress: 2 } as const;
export type PolicyDir = (typeof PolicyDir)[keyof typeof PolicyDir];
export const Verdict = { None: 0, Allow: 1, Deny: 2, Redirect: 3 } as const;

/** Prefix lengths (bits of key data after prefixlen): see POLICY_PREFIX_* in policy.h. */
export const PREFIX_FULL = 96;
export const PREFIX_ANY_PORT = 80;
export const PREFIX_ANY_PROTO = 72;

export const policyKey = struct('policy_key', 16, {
  prefixlen: u32(0),
  subject: u32(4),
  peer: u32(8),
  dir: u8(12),
  proto: u8(13),
  dport: be16(14),
});
export type PolicyKey = ReturnType<typeof policyKey.decode>;

export const policyEntry = struct('policy_entry', 4, { verdict: u8(0), flags: u8(1), proxyPort: u16(2) });
export type PolicyMapEntry = ReturnType<typeof policyEntry.decode>;

export const policyMap: MapSpec<PolicyKey, PolicyMapEntry> = {
  name: 'weir_policy',
  header: 'bpf/lib/policy.h',
  key: policyKey,
  value: policyEntry,
  type: MapType.LpmTrie,
  size: { from: 'policy', holds: 'policyEntries' },
};

/** Protocols a port-bearing rule with "any" protocol stands for. */
const PORT_PROTOCOLS = [6, 17, 132];
const RANK = { allow: 0, redirect: 1, deny: 2 } as const;
const VERDICT_CODE = { allow: Verdict.Allow, redirect: Verdict.Redirect, deny: Verdict.Deny } as const;

interface Cell {
  peer: number;
  /** 0: any protocol (and then any port). */
  proto: number;
  lo: number;
  hi: number;
  /** Port bits fixed by the prefix: 0 = any port, 16 = one port. */
  bits: number;
  verdict: PolicyEntry['verdict'];
  proxyPort: number;
}

/** Splits [lo, hi] into the aligned power-of-two blocks an LPM key can express. */
export function portBlocks(lo: number, hi: number): Array<{ port: number; bits: number }> {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) throw new Error(`bad port range ${lo}-${hi}`);
  const out: Array<{ port: number; bits: number }> = [];
  let p = lo;
  while (p <= hi) {
    let size = 1;
    while (size < 65536 && p % (size * 2) === 0 && p + size * 2 - 1 <= hi) size *= 2;
    out.push({ port: p, bits: 16 - Math.log2(size) });
    p += size;
  }
  return out;
}

function cellsOf(e: PolicyEntry): Cell[] {
  const base = { peer: e.peer, verdict: e.verdict, proxyPort: e.proxyPort ?? 0 };
  if (e.port === 0) return [{ ...base, proto: e.protocol, lo: 0, hi: 65535, bits: 0 }];
  const protos = e.protocol === 0 ? PORT_PROTOCOLS : [e.protocol];
  const blocks = portBlocks(e.port, e.endPort ?? e.port);
  return protos.flatMap((proto) =>
    blocks.map(({ port, bits }) => ({ ...base, proto, lo: port, hi: port + 2 ** (16 - bits) - 1, bits })),
  );
}

const covers = (a: Cell, b: Cell): boolean => (a.proto === 0 || a.proto === b.proto) && a.lo <= b.lo && b.hi <= a.hi;

/**
 * The trie entries of one identity's policy in one direction. Within a peer the trie returns
 * the longest match, so each entry takes the strongest verdict (deny > redirect > allow) of
 * every entry that covers it: a broad deny is never shadowed by a narrower allow. Peers and
 * "any peer" are separate lookups in the kernel, which combines them the same way.
 */
export function policyEntries(subject: number, dir: PolicyDir, entries: readonly PolicyEntry[]): Array<{ key: PolicyKey; value: PolicyMapEntry }> {
  const byPeer = new Map<number, Map<string, Cell>>();
  for (const e of entries) {
    for (const c of cellsOf(e)) {
      let cells = byPeer.get(c.peer);
      if (!cells) byPeer.set(c.peer, (cells = new Map<string, Cell>()));
      const id = `${c.proto}/${c.lo}/${c.bits}`;
      const cur = cells.get(id);
      if (!cur || RANK[c.verdict] > RANK[cur.verdict]) cells.set(id, c);
    }
  }
  const out: Array<{ key: PolicyKey; value: PolicyMapEntry }> = [];
  for (const [peer, cells] of [...byPeer].sort((a, b) => a[0] - b[0])) {
    const list = [...cells.values()];
    for (const c of list) {
      let strongest = c;
      for (const other of list) if (RANK[other.verdict] > RANK[strongest.verdict] && covers(other, c)) strongest = other;
      const prefixlen = c.proto === 0 ? PREFIX_ANY_PROTO : PREFIX_ANY_PORT + c.bits;
      out.push({
        key: { prefixlen, subject, peer, dir, proto: c.proto, dport: c.bits === 0 ? 0 : c.lo },
        value: {
          verdict: VERDICT_CODE[strongest.verdict],
          flags: 0,
          proxyPort: strongest.verdict === 'redirect' ? strongest.proxyPort : 0,
        },
      });
    }
  }
  return out;
}
