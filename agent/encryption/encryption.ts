// The node's encryption, one sync per agent pass: from spec.encryption to the kernel (xfrm for
// IPsec, the WireGuard device), and back what the datapath must do (the mark to put on pod
// traffic to other nodes, or refuse it) and what status says. A node that cannot encrypt says
// why, and in strict mode its datapath refuses that traffic rather than send it in clear.
import type { KubeConfig } from '@kubernetes/client-node';
import type { NodeEncryption, NodeEncryptionStatus } from '../../api/v1alpha1/index.js';
import { parseIpsecSecret, type IpsecKey } from '../../common/encryption/ipsec-keys.js';
import type { Logger } from '../../common/log.js';
import { encryptMarkOf } from '../../common/maps/config.js';
import { SecretWatch } from '../../common/secretwatch.js';
import { absentAs, CommandError, NetnsCommands } from '../network/ipcmd.js';
import { EncryptionGuard, removeGuard } from './guard.js';
import { ipsecPlan, usableKeys, type LocalNode } from './ipsec.js';
import { parsePolicies, parseStates, plan, stateKey } from './xfrm.js';
import { WireguardDevice } from './wireguard.js';

export interface EncryptionOutcome {
  /** skb->mark for pod traffic to other nodes' pods; 0: none. */
  mark: number;
  /** Without a mark, such traffic is dropped (strict mode) rather than sent in clear. */
  required: boolean;
  status?: NodeEncryptionStatus;
  problems: string[];
}

export interface EncryptionCounters {
  encrypted: number;
  decrypted: number;
  /** The kernel's xfrm error counters (/proc/net/xfrm_stat), non-zero ones; WireGuard: device errors. */
  errors: Record<string, number>;
  sendingKey?: number;
  active: boolean;
}

/** A throwaway state that only a kernel with ESP and AES-GCM accepts (TEST-NET addresses, not Weir's reqid). */
const PROBE = ['xfrm state add src 192.0.2.254 dst 192.0.2.253 proto esp spi 0xfffffffe reqid 1 mode tunnel aead rfc4106(gcm(aes)) 0x' + '00'.repeat(20) + ' 128', 'xfrm state delete src 192.0.2.254 dst 192.0.2.253 proto esp spi 0xfffffffe'];

/** A kernel without XFRM (netlink family missing): it can hold no xfrm entry, so there is none to list. */
const NO_XFRM = /Protocol not supported|Address family not supported/i;
const listXfrm = (cmd: NetnsCommands, what: 'state' | 'policy'): Promise<string> =>
  cmd.ip(['xfrm', what, 'list']).catch(absentAs((err) => err instanceof CommandError && NO_XFRM.test(err.stderr), ''));

/**
 * Every xfrm entry Weir made (encryption off, switched to WireGuard, or uninstalled); how many.
 * A listing or a delete that fails throws: the caller says so and tries again, rather than count
 * as removed what the kernel still holds.
 */
async function removeXfrm(cmd: NetnsCommands): Promise<number> {
  const [stateText, policyText] = await Promise.all([listXfrm(cmd, 'state'), listXfrm(cmd, 'policy')]);
  const current = { states: parseStates(stateText), policies: parsePolicies(policyText) };
  if (current.states.length + current.policies.length) {
    const failed = await cmd.ipBatch(plan(current, { states: [], policies: [] }));
    if (failed.length) throw new Error(`xfrm entries not removed: ${failed.slice(0, 3).join('; ')}${failed.length > 3 ? `; and ${failed.length - 3} more` : ''}`);
  }
  return current.states.length + current.policies.length;
}

/** Everything encryption set up in the node's namespace: xfrm entries, the WireGuard device, its rule and table, the netfilter guard. */
export async function removeEncryption(netns: string | null): Promise<number> {
  const cmd = new NetnsCommands(netns);
  const n = await removeXfrm(cmd);
  await new WireguardDevice(cmd).remove();
  await removeGuard(cmd);
  return n;
}

export class NodeEncryptionSync {
  private readonly cmd: NetnsCommands;
  private readonly wg: WireguardDevice;
  private readonly secret: SecretWatch;
  private readonly guard: EncryptionGuard;
  private last: { mode?: string; active: boolean; sendingKey?: number } = { active: false };
  private swept = false;

  constructor(netns: string | null, kc: KubeConfig, log: Logger, changed: () => void) {
    this.cmd = new NetnsCommands(netns);
    this.wg = new WireguardDevice(this.cmd);
    this.guard = new EncryptionGuard(this.cmd);
    this.secret = new SecretWatch(kc, log, changed);
  }

  /** False while the key Secret's first list is outstanding (the pass waits for it). */
  get ready(): boolean {
    return this.secret.synced;
  }

  async sync(spec: NodeEncryption | undefined, local: LocalNode): Promise<EncryptionOutcome> {
    this.secret.want(spec?.mode === 'ipsec' ? spec.ipsec?.secret : undefined);
    if (!spec) {
      // Left by this process or an earlier one: looked for once, then after every turn-off.
      if (this.last.mode || !this.swept) {
        await this.removeAll();
        this.guard.removed();
      }
      this.swept = true;
      this.last = { active: false };
      return { mark: 0, required: false, problems: [] };
    }
    const out = spec.mode === 'ipsec' ? await this.ipsec(spec, local) : await this.wireguard(spec);
    await this.guardTranslated(spec, local, out);
    this.last = { mode: spec.mode, active: out.status?.active ?? false, sendingKey: out.status?.sendingKey };
    return out;
  }

  /** Pod traffic to other nodes' pods that only netfilter sees as such (guard.ts): marked as the datapath marks, or refused. */
  private async guardTranslated(spec: NodeEncryption, local: LocalNode, out: EncryptionOutcome): Promise<void> {
    try {
      await this.guard.sync({ localPods: local.podCIDRs, remotePods: spec.peers.flatMap((p) => p.podCIDRs), mark: out.mark, strict: spec.strict, mode: spec.mode });
    } catch (err) {
      const problem = `pod traffic translated to other nodes' pods (a ClusterIP served by netfilter, the L7 proxy's) is not ${spec.strict ? 'guarded' : 'marked'}: ${err instanceof Error ? err.message : String(err)}`;
      out.problems.push(problem);
      if (out.status) out.status = { ...out.status, message: [out.status.message, problem].filter(Boolean).join('; ') };
    }
  }

  private inactive(spec: NodeEncryption, why: string, extra: Partial<NodeEncryptionStatus> = {}): EncryptionOutcome {
    const consequence = spec.strict ? 'pod traffic to other nodes is dropped (strictMode)' : 'pod traffic to other nodes goes in clear (strictMode is off)';
    const message = `${why}; ${consequence}`;
    return { mark: 0, required: spec.strict, status: { mode: spec.mode, active: false, message, ...extra }, problems: [message] };
  }

  private async ipsec(spec: NodeEncryption, local: LocalNode): Promise<EncryptionOutcome> {
    await this.wg.remove();
    const failed = await this.cmd.ipBatch(PROBE);
    if (failed.length) return this.inactive(spec, `the kernel cannot do IPsec ESP with ${'rfc4106(gcm(aes))'} (${failed[0]})`);
    if (!local.address) return this.inactive(spec, 'the node has no IPv4 address for its tunnels');
    const problems: string[] = [];
    let secretKeys: IpsecKey[] = [];
    const ref = spec.ipsec?.secret;
    if (!spec.ipsec) problems.push('no IPsec key rolled out to this node yet');
    else {
      const secret = this.secret.get();
      if (!secret) problems.push(`Secret ${ref!.namespace}/${ref!.name} not found`);
      else
        try {
          secretKeys = parseIpsecSecret(secret.data);
        } catch (err) {
          problems.push(`Secret ${ref!.namespace}/${ref!.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
    }
    const [stateText, policyText] = await Promise.all([this.cmd.ip(['-s', 'xfrm', 'state', 'list']), this.cmd.ip(['xfrm', 'policy', 'list'])]);
    const current = { states: parseStates(stateText), policies: parsePolicies(policyText) };
    const p = ipsecPlan(local, spec, usableKeys(spec, secretKeys), current.states);
    problems.push(...p.problems);
    const errors = await this.cmd.ipBatch(plan(current, p));
    problems.push(...errors.map((e) => `xfrm: ${e}`));
    // What the kernel holds now decides what this node may say it installed.
    const after = new Set(parseStates(await this.cmd.ip(['xfrm', 'state', 'list'])).map(stateKey));
    const installed = p.installed.filter((id) => (p.statesOf.get(id) ?? []).every((s) => after.has(stateKey(s))));
    const wanted = spec.ipsec?.send;
    const sending = wanted !== undefined && installed.includes(wanted) ? wanted : installed.length ? Math.max(...installed) : undefined;
    if (sending === undefined) return { ...this.inactive(spec, problems.join('; ') || 'no IPsec key installed', { installedKeys: installed }), problems };
    if (wanted !== undefined && sending !== wanted) problems.push(`sending with key ${sending}: key ${wanted} is not installed`);
    return {
      mark: encryptMarkOf(sending),
      required: spec.strict,
      status: { mode: 'ipsec', active: true, installedKeys: installed, sendingKey: sending, peers: spec.peers.length, ...(problems.length ? { message: problems.join('; ') } : {}) },
      problems,
    };
  }

  private async wireguard(spec: NodeEncryption): Promise<EncryptionOutcome> {
    await this.removeXfrm();
    const missing = await this.wg.ensure();
    if (missing) return this.inactive(spec, missing);
    const s = await this.wg.sync(spec.peers, spec.strict);
    return {
      mark: encryptMarkOf(0),
      required: spec.strict,
      status: { mode: 'wireguard', active: true, publicKey: s.publicKey, peers: s.peers, ...(s.problems.length ? { message: s.problems.join('; ') } : {}) },
      problems: s.problems,
    };
  }

  private removeXfrm(): Promise<number> {
    return removeXfrm(this.cmd);
  }

  private async removeAll(): Promise<void> {
    await removeEncryption(this.cmd.netns);
  }

  /** The encryption this node last applied (no kernel read): undefined while encryption is off. */
  get state(): { mode: string; active: boolean; sendingKey?: number } | undefined {
    return this.last.mode ? { mode: this.last.mode, active: this.last.active, ...(this.last.sendingKey !== undefined ? { sendingKey: this.last.sendingKey } : {}) } : undefined;
  }

  /** Packets encrypted and decrypted, and the kernel's error counters, at scrape time; a read that fails throws. */
  async counters(): Promise<EncryptionCounters | undefined> {
    if (!this.last.mode) return undefined;
    if (this.last.mode === 'wireguard') {
      const c = (await this.wg.counters()) ?? { encrypted: 0, decrypted: 0, errors: 0 };
      return { encrypted: c.encrypted, decrypted: c.decrypted, errors: c.errors ? { device: c.errors } : {}, active: this.last.active };
    }
    const [stateText, stat] = await Promise.all([this.cmd.ip(['-s', 'xfrm', 'state', 'list']), this.cmd.exec('cat', ['/proc/net/xfrm_stat'])]);
    const states = parseStates(stateText);
    const local = new Set(states.filter((s) => s.mark).map((s) => s.src));
    const errors: Record<string, number> = {};
    for (const line of stat.split('\n')) {
      const [name, value] = line.trim().split(/\s+/);
      if (name && Number(value) > 0) errors[name] = Number(value);
    }
    return {
      encrypted: states.filter((s) => local.has(s.src)).reduce((n, s) => n + (s.packets ?? 0), 0),
      decrypted: states.filter((s) => !local.has(s.src)).reduce((n, s) => n + (s.packets ?? 0), 0),
      errors,
      sendingKey: this.last.sendingKey,
      active: this.last.active,
    };
  }

  async stop(): Promise<void> {
    await this.secret.stop();
  }
}
