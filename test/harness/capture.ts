// tcpdump on an interface of a namespace (the sandbox's LAN bridges): what crossed it while the
// capture ran, as tcpdump prints it (one line per packet) and as raw bytes (to search for payload
// that must not be seen in clear).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CaptureOptions {
  /** A tcpdump filter expression, as words. */
  filter?: string[];
  /** Decode UDP on this port as VXLAN (tcpdump knows only 4789 by itself). */
  vxlanPort?: number;
}

export class Capture {
  private readonly dir = mkdtempSync(join(tmpdir(), 'weir-capture-'));
  private readonly proc: ChildProcess;
  private readonly started: Promise<void>;

  constructor(
    ns: string,
    iface: string,
    private readonly opts: CaptureOptions = {},
  ) {
    this.proc = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', iface, '-s', '0', '-U', '-w', join(this.dir, 'cap.pcap'), ...(opts.filter ?? [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.started = new Promise((resolve) => this.proc.stderr!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  }

  ready(): Promise<void> {
    return this.started;
  }

  /**
   * Stops, and returns one line per packet: an encapsulated packet's outer line joined with its
   * inner one (` | `), so a line says both what crossed the wire and what it carried.
   */
  async stop(): Promise<{ lines: string[]; raw: Buffer }> {
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGINT');
    await exited;
    const file = join(this.dir, 'cap.pcap');
    const read = (args: string[]) =>
      new Promise<string>((resolve) => {
        const r = spawn('tcpdump', ['-r', file, '-nn', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        r.stdout.on('data', (d: Buffer) => (out += d.toString()));
        r.once('close', () => resolve(out));
      });
    // -T applies to every packet the expression selects: the tunnel's port alone, then the rest.
    const port = this.opts.vxlanPort;
    const text = port ? (await read(['-T', 'vxlan', 'udp', 'port', String(port)])) + (await read(['not', '(', 'udp', 'port', String(port), ')'])) : await read([]);
    const raw = readFileSync(file);
    rmSync(this.dir, { recursive: true, force: true });
    const lines: string[] = [];
    // A line that does not start with a timestamp is the inner packet of the line before.
    for (const l of text.split('\n').filter(Boolean)) {
      if (lines.length && !/^\d{2}:\d{2}:\d{2}/.test(l)) lines[lines.length - 1] += ` | ${l}`;
      else lines.push(l);
    }
    return { lines, raw };
  }
}
