// What the datapath's mark cannot see, netfilter catches: pod traffic that becomes traffic to
// another node's pod only after the veth program judged it. The program decides on the address it
// sees, so a ClusterIP served by kube-proxy or Weir's nftables fallback (translated later, in
// prerouting) and what the L7 proxy sends on a pod's behalf (the node's own output) would leave
// unmarked, in clear. The table weir_encrypt marks those packets after destination NAT as the
// program marks the others, or drops them in strict mode when the node cannot encrypt; and with
// WireGuard in strict mode it refuses a peer's pod traffic that did not come through the device
// (or loopback, where the proxy's redirect re-enters; IPsec's fwd policies already require ESP).
// One `nft -f` transaction, rewritten when it changes.
import type { NetnsCommands } from '../network/ipcmd.js';
import { cidrSet, replaceTable } from '../network/nft.js';
import { WG_DEVICE } from './wireguard.js';

export const ENCRYPT_TABLE = 'weir_encrypt';
/** After destination NAT (nat's -100) in prerouting and output, so the translated address is judged. */
const AFTER_DNAT = -90;
/** Bits 8-11 of the mark: a packet the datapath already marked (to encrypt, to the proxy, from the tunnel) is left alone. */
const MARK_KIND = 0x0f00;
/** Bits 8-15: the encryption mark's kind and key generation, replaced as a whole. */
const MARK_FIELD = 0xff00;

export interface GuardWant {
  /** This node's pod CIDRs: the sources the guard covers. */
  localPods: readonly string[];
  /** Other nodes' pod CIDRs (the encryption peers'). */
  remotePods: readonly string[];
  /** The datapath's encryption mark; 0: the node cannot encrypt now. */
  mark: number;
  /** strictMode: what cannot be encrypted is dropped, never sent in clear. */
  strict: boolean;
  mode: 'ipsec' | 'wireguard';
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** The table as one transaction, or undefined when nothing needs guarding (clear is allowed and nothing to mark). */
export function renderGuard(w: GuardWant): string | undefined {
  if (!w.mark && !w.strict) return undefined;
  if (!w.localPods.length || !w.remotePods.length) return undefined;
  const leaving = `ip saddr @local_pods ip daddr @remote_pods meta mark & ${hex(MARK_KIND)} == ${hex(0)}`;
  const action = w.mark ? `meta mark set meta mark & ${hex(~MARK_FIELD)} | ${hex(w.mark)}` : 'counter drop';
  return replaceTable(ENCRYPT_TABLE, [
    cidrSet('local_pods', w.localPods),
    cidrSet('remote_pods', w.remotePods),
    '  chain forwarded {',
    `    type filter hook prerouting priority ${AFTER_DNAT}; policy accept;`,
    `    ${leaving} ${action}`,
    '  }',
    // A route chain: a mark set here makes the kernel route the packet again (into the tunnel).
    '  chain local {',
    `    type route hook output priority ${AFTER_DNAT}; policy accept;`,
    `    ${leaving} ${action}`,
    '  }',
    ...(w.strict && w.mode === 'wireguard'
      ? [
          '  chain inbound {',
          '    type filter hook prerouting priority raw; policy accept;',
          // lo: what the endpoint program hands to the L7 proxy re-enters there, having passed
          // this chain on its way in through the tunnel; nothing from outside the node arrives on lo.
          `    iifname != { "${WG_DEVICE}", "lo" } ip saddr @remote_pods ip daddr @local_pods counter drop`,
          '  }',
        ]
      : []),
  ]);
}

export class EncryptionGuard {
  private applied: string | undefined | null = null;

  constructor(private readonly cmd: NetnsCommands) {}

  /** Applies the table (or removes it when nothing needs guarding); throws what nft said. */
  async sync(want: GuardWant | undefined): Promise<boolean> {
    const text = want ? renderGuard(want) : undefined;
    if (text === this.applied) return text !== undefined;
    this.applied = null;
    if (text) await this.cmd.exec('nft', ['-f', '-'], text);
    else await removeGuard(this.cmd);
    this.applied = text;
    return text !== undefined;
  }

  /** The table was removed with the rest of encryption (removeEncryption). */
  removed(): void {
    this.applied = undefined;
  }
}

/** The table, when there is one (encryption off, `--uninstall`). */
export async function removeGuard(cmd: NetnsCommands): Promise<boolean> {
  if (!(await cmd.nftTables()).includes(`ip ${ENCRYPT_TABLE}`)) return false;
  await cmd.exec('nft', ['delete', 'table', 'ip', ENCRYPT_TABLE]);
  return true;
}
