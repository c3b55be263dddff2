// Weir's socket LB against kube-proxy-style iptables, side by side on this machine: the same
// number of services in each world (the measured one matched last, as kube-proxy's linear
// KUBE-SERVICES chain is worst for it), the same HTTP server behind, and wrk opening a new
// connection per request: connection setup rate and request latency p50/p99.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachCgroup } from '../agent/datapath/attach.js';
import { LoadedDatapath } from '../agent/datapath/objects.js';
import { formatIp4, parseIp4 } from '../common/maps/layout.js';
import { lb4BackendsMap, lb4Key, lb4Service, lb4ServicesMap, ServiceFlags } from '../common/maps/lb.js';
import { ChildCgroup } from '../sandbox/cgroup.js';
import { Lab } from '../sandbox/netns.js';
import { PodProcess } from '../sandbox/pods.js';
import { printTable, repoRoot, saveResults, type Row } from './common.js';
import { uniformSizes } from '../common/maps/catalogue.js';

const COUNTS = process.env.WEIR_BENCH_SERVICES?.split(',').map(Number) ?? [100, 1_000, 10_000];
const SECONDS = Number(process.env.WEIR_BENCH_SECONDS ?? 5);
const vip = (i: number): string => formatIp4(parseIp4('10.96.0.0') + 1 + i);

interface WrkResult {
  rps: number;
  p50: string;
  p99: string;
}

/** wrk with a new TCP connection per request, inside `ns` (and `cgroup`, where Weir's socket LB hooks). */
function wrk(ns: string, url: string, cgroup?: string): Promise<WrkResult> {
  const cmd = `${cgroup ? `echo $$ > '${cgroup}/cgroup.procs' && ` : ''}exec ip netns exec ${ns} wrk -t1 -c8 -d${SECONDS}s --latency -H 'Connection: close' ${url}`;
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
      const pct = (q: string) => new RegExp(`\\s${q}%\\s+(\\S+)`).exec(out)?.[1] ?? '?';
      if (code !== 0 || !rps) return reject(new Error(`wrk exited ${code}: ${out}`));
      resolve({ rps: Math.round(Number(rps)), p50: pct('50'), p99: pct('99') });
    });
  });
}

/** kube-proxy's iptables layout for n services with one endpoint each (nat table). */
function iptablesRules(n: number, backend: string): string {
  const lines = ['*nat', ':KUBE-SERVICES - [0:0]'];
  for (let i = 0; i < n; i++) lines.push(`:KUBE-SVC-${i} - [0:0]`, `:KUBE-SEP-${i} - [0:0]`);
  lines.push('-A OUTPUT -j KUBE-SERVICES');
  for (let i = 0; i < n; i++) {
    lines.push(`-A KUBE-SERVICES -d ${vip(i)}/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-${i}`);
    lines.push(`-A KUBE-SVC-${i} -j KUBE-SEP-${i}`);
    lines.push(`-A KUBE-SEP-${i} -p tcp -m tcp -j DNAT --to-destination ${backend}:8080`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** One client and one server namespace on a veth, the server running an HTTP server. */
async function world(lab: Lab, name: string, subnet: string): Promise<{ client: string; backend: string; server: PodProcess }> {
  const client = lab.addNamespace(`${name}-c`);
  const serverNs = lab.addNamespace(`${name}-s`);
  lab.addVeth({ ns: client, name: 'eth0' }, { ns: serverNs, name: 'eth0' });
  lab.addAddress(client, 'eth0', `${subnet}.1/24`);
  lab.addAddress(serverNs, 'eth0', `${subnet}.2/24`);
  lab.exec(client, 'ip', ['route', 'add', '10.96.0.0/16', 'dev', 'eth0']);
  return { client, backend: `${subnet}.2`, server: await PodProcess.start(serverNs, ['serve-http', '8080']) };
}

const SIZES = uniformSizes(1024, { ct_tcp: 1 << 16, ct_any: 1 << 16, nat: 1 << 16, lb: 1 << 16 });

/** iptables world: the whole nat table written at once, as kube-proxy's iptables-restore does. */
async function measureIptables(n: number, work: string): Promise<Row> {
  const lab = new Lab('wbipt');
  try {
    const w = await world(lab, 'ipt', '10.10.0');
    const rules = join(work, `rules-${n}`);
    writeFileSync(rules, iptablesRules(n, w.backend));
    const t = performance.now();
    execFileSync('ip', ['netns', 'exec', w.client, 'iptables-restore', rules]);
    const sync = performance.now() - t;
    const r = await wrk(w.client, `http://${vip(n - 1)}/`);
    w.server.stop();
    return { services: n, datapath: 'iptables (kube-proxy layout)', 'rules sync ms': Math.round(sync), 'conn/s': r.rps, p50: r.p50, p99: r.p99 };
  } finally {
    lab.cleanup();
  }
}

/** Weir world: the same services as LB map entries, the client in a cgroup with the socket LB. */
async function measureWeir(n: number): Promise<Row> {
  const lab = new Lab('wbwei');
  const pinRoot = mkdtempSync('/sys/fs/bpf/weir-bench-ipt-');
  const cg = new ChildCgroup('weir-bench-ipt');
  let dp: LoadedDatapath | undefined;
  try {
    const w = await world(lab, 'weir', '10.20.0');
    dp = await LoadedDatapath.load({ objectDir: join(repoRoot, 'build', 'bpf'), pinRoot, sizes: SIZES, objects: ['sock_lb', 'sock_fastpath'] });
    dp.map(lb4BackendsMap).set({ id: 1 }, { address: w.backend, port: 8080, proto: 6, flags: 0 });
    const t = performance.now();
    const keys = Buffer.alloc(n * 2 * lb4Key.size);
    const values = Buffer.alloc(n * 2 * lb4Service.size);
    for (let i = 0; i < n; i++) {
      lb4Key.encodeInto({ address: vip(i), dport: 80, backendSlot: 0, proto: 6, scope: 0, pad: 0 }, keys, 2 * i * lb4Key.size);
      lb4Service.encodeInto({ backendId: 0, count: 1, revNat: 1, affinityTimeoutS: 0, flags: ServiceFlags.ClusterIp }, values, 2 * i * lb4Service.size);
      lb4Key.encodeInto({ address: vip(i), dport: 80, backendSlot: 1, proto: 6, scope: 0, pad: 0 }, keys, (2 * i + 1) * lb4Key.size);
      lb4Service.encodeInto({ backendId: 1, count: 0, revNat: 0, affinityTimeoutS: 0, flags: 0 }, values, (2 * i + 1) * lb4Service.size);
    }
    await dp.rawMap(lb4ServicesMap.name).updateBatchPacked(keys, values);
    const sync = performance.now() - t;
    const links = attachCgroup(dp, cg.path);
    try {
      const r = await wrk(w.client, `http://${vip(n - 1)}/`, cg.path);
      w.server.stop();
      return { services: n, datapath: 'weir socket LB', 'rules sync ms': Math.round(sync), 'conn/s': r.rps, p50: r.p50, p99: r.p99 };
    } finally {
      for (const l of [links.connect4, links.sendmsg4, links.recvmsg4, links.sockOps]) l.detach();
    }
  } finally {
    dp?.close();
    cg.cleanup();
    lab.cleanup();
    rmSync(pinRoot, { recursive: true, force: true });
  }
}

export async function benchIptables(): Promise<Row[]> {
  const work = mkdtempSync(join(tmpdir(), 'weir-bench-ipt-'));
  const rows: Row[] = [];
  try {
    // Each measurement in fresh namespaces: TIME_WAIT sockets and conntrack entries of one run
    // must not slow the next.
    for (const n of COUNTS) {
      rows.push(await measureIptables(n, work));
      rows.push(await measureWeir(n));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  printTable(`New connection per request through a ClusterIP (the last of N services), wrk -c8 for ${SECONDS} s`, rows);
  console.log(`saved ${saveResults('iptables', rows)}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchIptables();
