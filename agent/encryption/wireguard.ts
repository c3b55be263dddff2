// WireGuard between nodes: one device per node, its private key made on the node and never
// written anywhere but the kernel (a rebooted node makes a new one and publishes it), one peer
// per other node with that node's pod CIDRs as allowed IPs. Pod traffic the datapath marks is
// routed into the device by a rule and a table of its own; in strict mode that table ends in a
// blackhole, so a peer whose key is not known yet gets nothing in clear.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EncryptionPeer } from '../../api/v1alpha1/index.js';
import { EncryptMark } from '../../common/maps/config.js';
import { absentAs, isMissingDevice, isMissingTable, type NetnsCommands } from '../network/ipcmd.js';

export const WG_DEVICE = 'weir_wg0';
/** Cilium's port for the same purpose, so firewall rules written for it carry over. */
export const WG_PORT = 51871;
/** Routing table and rule preference for marked pod traffic (before the main table's 32766). */
export const WG_TABLE = 2005;
const WG_RULE_PREF = 90;

export interface WireguardState {
  publicKey: string;
  peers: number;
  problems: string[];
}

/** A fresh Curve25519 private key in WireGuard's base64 form. */
function newPrivateKey(): string {
  const jwk = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' });
  return Buffer.from(jwk.d!, 'base64url').toString('base64');
}

export class WireguardDevice {
  constructor(private readonly cmd: NetnsCommands) {}

  private async exists(): Promise<boolean> {
    const links = JSON.parse((await this.cmd.ip(['-j', 'link', 'show', 'type', 'wireguard']).catch(() => '')) || '[]') as Array<{ ifname: string }>;
    return links.some((l) => l.ifname === WG_DEVICE);
  }

  /** Null when the device exists or could be made; otherwise what the kernel said. */
  async ensure(): Promise<string | null> {
    if (await this.exists()) return null;
    try {
      await this.cmd.ip(['link', 'add', WG_DEVICE, 'type', 'wireguard']);
      return null;
    } catch (err) {
      return `the kernel has no WireGuard (${err instanceof Error ? err.message : String(err)})`;
    }
  }

  async sync(peers: readonly EncryptionPeer[], strict: boolean): Promise<WireguardState> {
    const problems: string[] = [];
    const priv = (await this.cmd.exec('wg', ['show', WG_DEVICE, 'private-key'])).trim();
    if (!priv || priv === '(none)') await this.setPrivateKey(newPrivateKey());
    if ((await this.cmd.exec('wg', ['show', WG_DEVICE, 'listen-port'])).trim() !== String(WG_PORT)) await this.cmd.exec('wg', ['set', WG_DEVICE, 'listen-port', String(WG_PORT)]);
    const publicKey = (await this.cmd.exec('wg', ['show', WG_DEVICE, 'public-key'])).trim();

    const want = peers.filter((p) => p.publicKey && p.address && p.podCIDRs.length > 0);
    const missing = peers.filter((p) => !p.publicKey).map((p) => p.name);
    if (missing.length) problems.push(`no WireGuard public key published yet by ${missing.join(', ')}${strict ? ': pod traffic to them is dropped meanwhile' : ': pod traffic to them goes in clear meanwhile'}`);
    const have = (await this.cmd.exec('wg', ['show', WG_DEVICE, 'peers'])).split('\n').map((l) => l.trim()).filter(Boolean);
    const args: string[] = ['set', WG_DEVICE];
    for (const p of want) args.push('peer', p.publicKey!, 'endpoint', `${p.address}:${WG_PORT}`, 'allowed-ips', p.podCIDRs.join(','));
    for (const k of have) if (!want.some((p) => p.publicKey === k)) args.push('peer', k, 'remove');
    if (args.length > 2) await this.cmd.exec('wg', args);
    await this.cmd.ip(['link', 'set', WG_DEVICE, 'up']);

    // The table: a route per peer CIDR into the device; in strict mode nothing falls through.
    // A table without routes does not exist yet (ip says so): nothing in it.
    const listed = await this.cmd.ip(['-j', 'route', 'show', 'table', String(WG_TABLE)]).catch(absentAs(isMissingTable, ''));
    const routes = JSON.parse(listed || '[]') as Array<{ dst: string; type?: string; dev?: string }>;
    const wantRoutes = new Set(want.flatMap((p) => p.podCIDRs));
    for (const cidr of wantRoutes) await this.cmd.ip(['route', 'replace', cidr, 'dev', WG_DEVICE, 'table', String(WG_TABLE)]);
    for (const r of routes) {
      const blackhole = r.type === 'blackhole' && r.dst === 'default';
      if (blackhole ? !strict : !wantRoutes.has(r.dst)) await this.cmd.ip(['route', 'del', ...(blackhole ? ['blackhole', 'default'] : [r.dst]), 'table', String(WG_TABLE)]);
    }
    if (strict) await this.cmd.ip(['route', 'replace', 'blackhole', 'default', 'table', String(WG_TABLE)]);
    const mark = `0x${EncryptMark.Magic.toString(16)}/0x${EncryptMark.GenMask.toString(16)}`;
    const rules = await this.cmd.ip(['rule', 'show', 'pref', String(WG_RULE_PREF)]);
    if (!rules.includes(`lookup ${WG_TABLE}`)) await this.cmd.ip(['rule', 'add', 'pref', String(WG_RULE_PREF), 'fwmark', mark, 'lookup', String(WG_TABLE)]);
    return { publicKey, peers: want.length, problems };
  }

  /**
   * wg reads a key only from a file: one in a private directory on tmpfs (/run), gone as soon as
   * the kernel has it.
   */
  private async setPrivateKey(key: string): Promise<void> {
    const dir = mkdtempSync(join(existsSync('/run') ? '/run' : tmpdir(), 'weir-wg-'));
    try {
      const file = join(dir, 'key');
      writeFileSync(file, `${key}\n`, { mode: 0o600 });
      await this.cmd.exec('wg', ['set', WG_DEVICE, 'private-key', file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * Packets through the device: sent is encrypted, received decrypted; undefined while there is no
   * device. A read that fails otherwise throws (the scrape counts it), never reads as zero.
   */
  async counters(): Promise<{ encrypted: number; decrypted: number; errors: number } | undefined> {
    const text = await this.cmd.ip(['-s', '-j', 'link', 'show', 'dev', WG_DEVICE]).catch(absentAs(isMissingDevice, ''));
    const out = JSON.parse(text || '[]') as Array<{ stats64?: { rx: { packets: number; errors: number }; tx: { packets: number; errors: number } } }>;
    const s = out[0]?.stats64;
    return s ? { encrypted: s.tx.packets, decrypted: s.rx.packets, errors: s.rx.errors + s.tx.errors } : undefined;
  }

  /** Removes the device, the rule and the table (encryption turned off). */
  async remove(): Promise<void> {
    if (await this.exists()) await this.cmd.ip(['link', 'del', WG_DEVICE]);
    // Only Weir's rule (its preference and table), never another at that preference.
    if ((await this.cmd.ip(['rule', 'show', 'pref', String(WG_RULE_PREF)])).includes(`lookup ${WG_TABLE}`)) await this.cmd.ip(['rule', 'del', 'pref', String(WG_RULE_PREF), 'lookup', String(WG_TABLE)]);
    // A table never filled does not exist ("FIB table does not exist"): nothing to flush. Any other
    // failure leaves routes behind, and throws so the caller says so and tries again.
    await this.cmd.ip(['route', 'flush', 'table', String(WG_TABLE)]).catch(absentAs(isMissingTable, ''));
  }
}
