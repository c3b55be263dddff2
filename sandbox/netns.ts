// Network namespaces, veths and bridges for kernel and sandbox tests. Everything a Lab creates
// carries its prefix, so cleanup removes exactly that, even after a crashed run.
import { execFile as execFileCb, execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);

export const NETNS_DIR = '/var/run/netns';

export interface Iface {
  /** Namespace the interface lives in; null for the namespace this process runs in. */
  ns: string | null;
  name: string;
}

function ip(ns: string | null, args: string[]): string {
  const full = ns === null ? args : ['-n', ns, ...args];
  const r = spawnSync('ip', full, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${full.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** A set of namespaces and links owned by one test; prefixes keep parallel labs apart. */
export class Lab {
  readonly namespaces: string[] = [];
  readonly rootLinks: string[] = [];

  constructor(readonly prefix: string) {
    if (!/^[a-z][a-z0-9-]{0,7}$/.test(prefix)) throw new Error(`lab prefix ${prefix}: 1-8 of [a-z0-9-], letter first`);
    Lab.sweep(prefix);
  }

  /** Removes namespaces and root-namespace links left by an earlier run with this prefix. */
  static sweep(prefix: string): void {
    let names: string[] = [];
    try {
      names = readdirSync(NETNS_DIR);
    } catch {
      // No namespace was ever created on this machine.
    }
    for (const ns of names) if (ns.startsWith(`${prefix}-`)) spawnSync('ip', ['netns', 'del', ns]);
    const links = JSON.parse(ip(null, ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
    for (const l of links) if (l.ifname.startsWith(`${prefix}-`)) spawnSync('ip', ['link', 'del', l.ifname]);
  }

  netnsPath(ns: string): string {
    return `${NETNS_DIR}/${ns}`;
  }

  /** Creates namespace `${prefix}-${name}` with loopback up. */
  addNamespace(name: string): string {
    const ns = `${this.prefix}-${name}`;
    ip(null, ['netns', 'add', ns]);
    this.namespaces.push(ns);
    ip(ns, ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair; each end is moved into its namespace (null keeps it here) and brought up. */
  addVeth(a: Iface, b: Iface): void {
    if (a.name.length > 15 || b.name.length > 15) throw new Error(`veth names must be at most 15 bytes: ${a.name}, ${b.name}`);
    const args = ['link', 'add', a.name];
    if (a.ns) args.push('netns', a.ns);
    args.push('type', 'veth', 'peer', 'name', b.name);
    if (b.ns) args.push('netns', b.ns);
    ip(null, args);
    for (const end of [a, b]) {
      if (end.ns === null) this.rootLinks.push(end.name);
      ip(end.ns, ['link', 'set', end.name, 'up']);
    }
  }

  /** A bridge with an optional address (CIDR form), up. */
  addBridge(ns: string | null, name: string, cidr?: string): void {
    ip(ns, ['link', 'add', name, 'type', 'bridge']);
    if (ns === null) this.rootLinks.push(name);
    if (cidr) ip(ns, ['addr', 'add', cidr, 'dev', name]);
    ip(ns, ['link', 'set', name, 'up']);
  }

  enslave(ns: string | null, iface: string, bridge: string): void {
    ip(ns, ['link', 'set', iface, 'master', bridge]);
  }

  addAddress(ns: string | null, iface: string, cidr: string): void {
    ip(ns, ['addr', 'add', cidr, 'dev', iface]);
  }

  addRoute(ns: string | null, dest: string, via: string): void {
    ip(ns, ['route', 'add', dest, 'via', via]);
  }

  /** Runs a command inside `ns` and returns its stdout. */
  exec(ns: string, cmd: string, args: string[], timeoutMs = 15_000): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  }

  async execAsync(ns: string, cmd: string, args: string[], timeoutMs = 15_000): Promise<string> {
    const r = await execFile('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return r.stdout;
  }

  /** Removes every namespace and root link this lab made; safe to call twice. */
  cleanup(): void {
    for (const ns of this.namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns]);
    for (const l of this.rootLinks.splice(0)) spawnSync('ip', ['link', 'del', l]);
    Lab.sweep(this.prefix);
  }
}

/** Runs a short Node.js script inside `ns` (for sending and receiving test traffic). */
export function nodeIn(lab: Lab, ns: string, script: string, timeoutMs = 15_000): string {
  return lab.exec(ns, process.execPath, ['-e', script], timeoutMs);
}

/** Sends `count` UDP datagrams of `size` bytes from inside `ns`. */
export function sendUdp(lab: Lab, ns: string, host: string, port: number, count: number, size = 100): void {
  nodeIn(
    lab,
    ns,
    `const s=require('dgram').createSocket('udp4');let n=0;const b=Buffer.alloc(${size},1);` +
      `const go=()=>{if(n++>=${count})return s.close();s.send(b,${port},${JSON.stringify(host)},go)};go();`,
  );
}
