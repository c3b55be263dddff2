// IPsec between nodes: ESP in tunnel mode between node addresses, one state per direction of
// each node pair and key generation, keys derived per pair (common/encryption/ipsec-keys.ts).
// Out policies match the datapath's mark (which carries the generation to send with), so moving
// to a new key is one datapath config write; in and fwd policies accept any generation of the
// peer's, so receivers take old and new while nodes are mixed.
import type { NodeEncryption } from '../../api/v1alpha1/index.js';
import { keyFingerprint, pairKey, spiOf, type IpsecKey } from '../../common/encryption/ipsec-keys.js';
import { EncryptMark, encryptMarkOf } from '../../common/maps/config.js';
import { plan, stateKey, type XfrmPolicy, type XfrmState } from './xfrm.js';

/** Policies the agent installs come before anything else's (lower wins) but after none of its own. */
const PEER_PRIORITY = 100;
/** Strict mode's backstop, after every peer policy: marked traffic without a peer's state is blocked. */
const BLOCK_PRIORITY = 1000;

export interface LocalNode {
  name: string;
  address: string;
  podCIDRs: string[];
}

export interface IpsecPlan {
  states: XfrmState[];
  policies: XfrmPolicy[];
  /** Generations with states both ways for every peer once the plan is applied. */
  installed: number[];
  /** The states of each generation, to check against the kernel after applying. */
  statesOf: Map<number, XfrmState[]>;
  /** Why a generation is not installed (its key is not at hand). */
  problems: string[];
}

/** The keys of the Secret that the spec names, checked against the fingerprints the operator rolled out. */
export function usableKeys(spec: NodeEncryption, secretKeys: readonly IpsecKey[]): Map<number, IpsecKey> {
  const out = new Map<number, IpsecKey>();
  for (const ref of spec.ipsec?.keys ?? []) {
    const k = secretKeys.find((s) => s.id === ref.id);
    if (k && keyFingerprint(k) === ref.fingerprint) out.set(ref.id, k);
  }
  return out;
}

/**
 * The xfrm entries the node needs. A state whose key is no longer in the Secret (an old
 * generation still accepted during a rotation) stays as the kernel holds it.
 */
export function ipsecPlan(local: LocalNode, spec: NodeEncryption, keys: ReadonlyMap<number, IpsecKey>, existing: readonly XfrmState[]): IpsecPlan {
  const have = new Set(existing.map(stateKey));
  const states: XfrmState[] = [];
  const policies: XfrmPolicy[] = [];
  const problems: string[] = [];
  const installed: number[] = [];
  const statesOf = new Map<number, XfrmState[]>();
  const me = { name: local.name, bootID: spec.bootID };
  for (const { id } of spec.ipsec?.keys ?? []) {
    const key = keys.get(id);
    let complete = true;
    for (const peer of spec.peers) {
      const them = { name: peer.name, bootID: peer.bootID };
      const mark = { value: encryptMarkOf(id), mask: EncryptMark.GenMask };
      // ESN: 2^64 packets per state, where 32-bit sequence numbers stop a direction after 2^32 - 1
      // (about 72 minutes at 1 Mpps). States an earlier agent made without it keep their key and
      // settings until the next rotation or reboot replaces them, so both ends always agree.
      const out: XfrmState = { src: local.address, dst: peer.address, spi: spiOf(spec.nodeId, id), mark, esn: true };
      const inn: XfrmState = { src: peer.address, dst: local.address, spi: spiOf(peer.nodeId, id), esn: true };
      for (const [s, k] of [[out, key && pairKey(key, me, them)], [inn, key && pairKey(key, them, me)]] as const) {
        const st = k ? { ...s, key: k, icvBits: key!.icvBits } : have.has(stateKey(s)) ? s : undefined;
        if (!st) complete = false;
        else {
          states.push(st);
          statesOf.set(id, [...(statesOf.get(id) ?? []), st]);
        }
      }
      for (const cidr of peer.podCIDRs)
        policies.push({ dir: 'out', src: '0.0.0.0/0', dst: cidr, mark, priority: PEER_PRIORITY, tmpl: { src: local.address, dst: peer.address, spi: out.spi, level: 'required' } });
    }
    if (complete) installed.push(id);
    else problems.push(`IPsec key ${id} is not in the Secret (or differs from the one rolled out): no states for new peers with it`);
  }
  for (const peer of spec.peers)
    for (const from of peer.podCIDRs)
      for (const to of local.podCIDRs) {
        const tmpl = { src: peer.address, dst: local.address, level: spec.strict ? ('required' as const) : ('use' as const) };
        // Forwarded to a pod: in strict mode, clear text claiming a peer's pod address is refused.
        policies.push({ dir: 'fwd', src: from, dst: to, priority: PEER_PRIORITY, tmpl });
        // To the node itself (its bridge address in the pod CIDR): what arrives in clear is not pod traffic.
        policies.push({ dir: 'in', src: from, dst: to, priority: PEER_PRIORITY, tmpl: { ...tmpl, level: 'use' } });
      }
  if (spec.strict)
    policies.push({ dir: 'out', src: '0.0.0.0/0', dst: '0.0.0.0/0', mark: { value: EncryptMark.Magic, mask: EncryptMark.MagicMask }, priority: BLOCK_PRIORITY, block: true });
  return { states, policies, installed, statesOf, problems };
}

export { plan };
