// Shared set-up for libbpfjs's privileged tests: root check, bpffs, throwaway netns and cgroups.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'out');
export const fixture = (name: string): string => join(fixtures, name);

const isRoot = process.getuid?.() === 0;

/**
 * describe() for tests that need root (bpf(2), netlink, namespaces). Elsewhere they skip with the
 * reason in the name; under CI (always root) a skip would hide a broken set-up, so it fails.
 */
export function describePriv(name: string, fn: () => void): void {
  if (isRoot) {
    describe(name, () => {
      // libbpf auto-pins LIBBPF_PIN_BY_NAME maps at load, so bpffs must be there first.
      beforeAll(ensureBpffs);
      afterAll(removeRunPins);
      fn();
    });
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it('runs as root in CI', () => {
        throw new Error('privileged tests need root (bpf(2), netlink, namespaces); CI runs as root');
      });
    });
    return;
  }
  describe.skip(`${name} [skipped: needs root for bpf(2), netlink and namespaces]`, fn);
}

export const BPFFS = '/sys/fs/bpf';

export function ensureBpffs(): void {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === BPFFS && l.split(' ')[2] === 'bpf')) return;
  mkdirSync(BPFFS, { recursive: true });
  execFileSync('mount', ['-t', 'bpf', 'bpf', BPFFS]);
}

/** A fresh directory on bpffs for pins, removed with everything in it by the returned cleanup. */
export function bpffsDir(prefix: string): { dir: string; cleanup: () => void } {
  ensureBpffs();
  const dir = mkdtempSync(join(BPFFS, `${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let runPins: { dir: string; cleanup: () => void } | undefined;

/** A pin root for this test file's loads, so LIBBPF_PIN_BY_NAME maps never land in the bpffs root. */
export function runPinRoot(): string {
  runPins ??= bpffsDir('lbj-run');
  return runPins.dir;
}

function removeRunPins(): void {
  runPins?.cleanup();
  runPins = undefined;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

/** Two namespaces joined by a veth pair with 10.X.0.1/24 and 10.X.0.2/24; `cleanup` removes both. */
export function vethPair(tag: string, subnet: number): {
  a: string;
  b: string;
  aIf: string;
  bIf: string;
  aIp: string;
  bIp: string;
  cleanup: () => void;
} {
  const a = `lbj-${tag}-a`;
  const b = `lbj-${tag}-b`;
  const cleanup = (): void => {
    for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns]);
  };
  cleanup();
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  ip('link', 'add', 'veth-a', 'netns', a, 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', b);
  const aIp = `10.${subnet}.0.1`;
  const bIp = `10.${subnet}.0.2`;
  ip('-n', a, 'addr', 'add', `${aIp}/24`, 'dev', 'veth-a');
  ip('-n', b, 'addr', 'add', `${bIp}/24`, 'dev', 'veth-b');
  for (const [ns, dev] of [
    [a, 'veth-a'],
    [b, 'veth-b'],
  ] as const) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  return { a, b, aIf: 'veth-a', bIf: 'veth-b', aIp, bIp, cleanup };
}

export const netnsPath = (ns: string): string => `/var/run/netns/${ns}`;

/** Sends `count` UDP datagrams of `size` bytes from inside `ns` to host:port. */
export function sendUdp(ns: string, host: string, port: number, count: number, size = 64): void {
  const script = `const s=require('dgram').createSocket('udp4');let n=0;const b=Buffer.alloc(${size},7);` +
    `const go=()=>{if(n++>=${count})return s.close();s.send(b,${port},'${host}',go)};go();`;
  execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeout: 10_000 });
}

/** A child cgroup v2 under the unified hierarchy; `cleanup` removes it (it must be empty). */
export function childCgroup(name: string): { path: string; cleanup: () => void } {
  const root = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  const path = join(root, name);
  mkdirSync(path, { recursive: true });
  return {
    path,
    cleanup: () => {
      try {
        rmdirSync(path);
      } catch {
        // Still populated if a child lingered; the next run's mkdir reuses it.
      }
    },
  };
}

/** Runs a node script as a process inside `cgroup` (it moves itself before running `script`). */
export function runInCgroup(cgroup: string, script: string): string {
  const wrapper = `require('fs').writeFileSync(${JSON.stringify(join(cgroup, 'cgroup.procs'))}, String(process.pid));\n${script}`;
  return execFileSync(process.execPath, ['-e', wrapper], { encoding: 'utf8', timeout: 15_000 });
}

export function writeTemp(name: string, content: string | Buffer): string {
  const dir = mkdtempSync('/tmp/libbpfjs-');
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
