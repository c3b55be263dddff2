// iproute2 and wireguard-tools in the node's network namespace: routes, devices, xfrm and
// WireGuard are netlink (rtnetlink, XFRM, generic netlink), which iproute2 and wg speak and their
// kernel authors maintain; no maintained Node binding exists.
import { execFile as execFileCb, spawn } from 'node:child_process';
import { basename } from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(`${command}: ${stderr.trim() || 'failed'}`, options);
  }
}

/** The command is not installed on this host (spawn's ENOENT), as opposed to one that ran and failed. */
export const isMissingCommand = (err: unknown): boolean => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

/** A routing table that was never filled does not exist yet: listing or flushing it finds nothing, which is not a failure. */
export const isMissingTable = (err: unknown): boolean => err instanceof CommandError && /FIB table does not exist/.test(err.stderr);

/** A link that is not there (`Device "x" does not exist.`): listing it finds nothing, which is not a failure. */
export const isMissingDevice = (err: unknown): boolean => err instanceof CommandError && /Device ".*" does not exist|Cannot find device/.test(err.stderr);

/**
 * A `.catch` that reads a failure `absent` recognises (a table never made, a command not
 * installed) as the answer `value`, and rethrows any other: "could not look" is never "nothing there".
 */
export const absentAs =
  <T>(absent: (err: unknown) => boolean, value: T) =>
  (err: unknown): T => {
    if (absent(err)) return value;
    throw err;
  };

/** `netns`: a netns path (the sandbox's nodes) or null for the agent's own namespace. */
export class NetnsCommands {
  /** The name `ip -n` takes: the namespace's file in /var/run/netns. */
  readonly ns: string | null;

  constructor(
    /** The namespace's path as given (null: the agent's own). */
    readonly netns: string | null,
  ) {
    this.ns = netns ? basename(netns) : null;
  }

  async ip(args: string[]): Promise<string> {
    const full = this.ns ? ['-n', this.ns, ...args] : args;
    try {
      return (await execFile('ip', full, { maxBuffer: 64 * 1024 * 1024 })).stdout;
    } catch (err) {
      throw new CommandError(`ip ${args.slice(0, 3).join(' ')}`, (err as { stderr?: string }).stderr ?? String(err), { cause: err });
    }
  }

  /**
   * Runs `ip -batch -` over `lines` (-force: every line is tried); the failures, by line, so one
   * bad entry does not hold back the rest. Key material goes through stdin, never argv.
   */
  async ipBatch(lines: readonly string[]): Promise<string[]> {
    if (lines.length === 0) return [];
    const args = [...(this.ns ? ['-n', this.ns] : []), '-force', '-batch', '-'];
    const { stderr } = await this.run('ip', args, lines.join('\n') + '\n');
    return stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  /** `ip -j -force -batch -` over `lines`: the JSON each command that succeeded printed, one array a line. */
  async ipBatchJson<T>(lines: readonly string[]): Promise<T[]> {
    if (lines.length === 0) return [];
    const args = [...(this.ns ? ['-n', this.ns] : []), '-j', '-force', '-batch', '-'];
    const { stdout } = await this.run('ip', args, lines.join('\n') + '\n');
    return stdout.split('\n').filter((l) => l.startsWith('[')).flatMap((l) => JSON.parse(l) as T[]);
  }

  /**
   * The namespace's nftables tables, as "family name": none when nft is not installed (then no
   * table can exist); any other failure throws, since "could not look" is not "nothing there".
   */
  async nftTables(): Promise<string[]> {
    const out = await this.exec('nft', ['list', 'tables']).catch(absentAs(isMissingCommand, ''));
    return out.split('\n').map((l) => l.trim().replace(/^table /, '')).filter(Boolean);
  }

  /** A command inside the namespace (wg, cat of its /proc/net files). */
  async exec(cmd: string, args: string[], input?: string): Promise<string> {
    const [bin, full] = this.ns ? ['ip', ['netns', 'exec', this.ns, cmd, ...args]] : [cmd, args];
    const r = await this.run(bin, full, input);
    if (r.code !== 0) throw new CommandError(`${cmd} ${args.slice(0, 2).join(' ')}`, r.stderr);
    return r.stdout;
  }

  private run(bin: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(bin, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      p.once('error', reject);
      p.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      if (p.stdin) {
        // A command that exits without reading all of it (an error) must not take the agent down.
        p.stdin.on('error', () => undefined);
        p.stdin.end(input);
      }
    });
  }
}
