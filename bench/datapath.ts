// Per-packet cost of the datapath programs (BPF_PROG_TEST_RUN with repeat, the kernel's own
// timing) as their maps grow: the XDP prefilter against its deny-CIDR trie, the TC endpoint
// program against the policy trie and ipcache, and the NIC program's service lookup against
// that many service frontends. Printed beside programs that only return, the
// floor of what test runs cost.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadObject, type BpfProgram } from 'libbpfjs';
import { LoadedDatapath } from '../agent/datapath/objects.js';
import { configMap, ConfigFlags, DEFAULT_CONFIG } from '../common/maps/config.js';
import { endpointsMap, EndpointFlags } from '../common/maps/endpoints.js';
import { cidrKey, ipcacheMap } from '../common/maps/ipcache.js';
import { formatIp4, parseIp4 } from '../common/maps/layout.js';
import { PolicyDir, policyEntries, policyMap } from '../common/maps/policy.js';
import { prefilterMap } from '../common/maps/prefilter.js';
import { lb4BackendsMap, lb4Key, lb4ReverseNatMap, lb4Service, lb4ServicesMap, ServiceFlags } from '../common/maps/lb.js';
import { Flags, frame, parse, TCP } from '../test/kernel/packets.js';
import { repoRoot, report, type Row } from './common.js';
import { uniformSizes } from '../common/maps/catalogue.js';

const SIZES = process.env.WEIR_BENCH_SIZES?.split(',').map(Number) ?? [10, 1_000, 10_000, 100_000, 1_000_000];
const REPEAT = Number(process.env.WEIR_BENCH_REPEAT ?? 200_000);
const ROUNDS = 5;

const A = '10.0.1.1'; // local endpoint, identity 5000, enforced
const PEER = '10.0.2.1'; // identity 400, allowed to A on TCP 8080

/** Median of ROUNDS test runs of REPEAT packets each, in ns per packet. */
async function nsPerPacket(prog: BpfProgram, data: Buffer): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push((await prog.testRun({ data, repeat: REPEAT })).duration);
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)] ?? NaN;
}

async function withDatapath<T>(fn: (dp: LoadedDatapath) => Promise<T>): Promise<T> {
  const pinRoot = mkdtempSync('/sys/fs/bpf/weir-bench-');
  const sizes = uniformSizes(1024, { ct_tcp: 1 << 16, ct_any: 1 << 16, nat: 1 << 16, lb: 1 << 21, endpoints: 1 << 21, policy: 1 << 21, prefilter: 1 << 21, ipcache: 1 << 21 });
  let dp: LoadedDatapath | undefined;
  try {
    dp = await LoadedDatapath.load({ objectDir: join(repoRoot, 'build', 'bpf'), pinRoot, sizes, objects: ['xdp_prefilter', 'tc_endpoint', 'tc_nic'] });
    return await fn(dp);
  } finally {
    dp?.close();
    // Also when loading failed: nothing of the run stays pinned.
    rmSync(pinRoot, { recursive: true, force: true });
  }
}

/** The i-th service frontend address, in 172.16.0.0/12. */
const frontend = (i: number): string => formatIp4(parseIp4('172.16.0.0') + i);

/** The i-th address of 100.0.0.0/8 (distinct for i < 2^24). */
const nth = (i: number): string => formatIp4(parseIp4('100.0.0.0') + i);

async function measure(n: number): Promise<Row[]> {
  return withDatapath(async (dp) => {
    dp.map(configMap).set({ index: 0 }, { ...DEFAULT_CONFIG, flags: ConfigFlags.PrefilterValidDst, policyGen: 1 });
    dp.map(endpointsMap).set({ addr: A }, { ifindex: 0, identity: 5000, flags: EndpointFlags.EnforceIngress | EndpointFlags.EnforceEgress, reserved: 0 });

    const prefilter = dp.map(prefilterMap);
    const ipcache = dp.map(ipcacheMap);
    const policy = dp.map(policyMap);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      prefilter.set(cidrKey(`${nth(i)}/32`), { flags: 0 });
      ipcache.set(cidrKey(`${nth(i)}/32`), { identity: 100_000 + i, tunnelIp4: 0, flags: 0 });
    }
    ipcache.set(cidrKey(`${PEER}/32`), { identity: 400, tunnelIp4: 0, flags: 0 });
    // n policy entries: the endpoint's own, then other local identities' rules for other peers.
    const rules = policyEntries(5000, PolicyDir.Ingress, [{ peer: 400, port: 8080, protocol: TCP, verdict: 'allow' }]);
    for (let i = rules.length; i < n; i++) rules.push(...policyEntries(1000 + (i % 1000), PolicyDir.Ingress, [{ peer: 100_000 + i, port: 80, protocol: TCP, verdict: 'allow' }]));
    for (const r of rules) policy.set(r.key, r.value);
    // n service frontends (external IPs in 172.16.0.0/12), one backend each, in packed batches.
    const services = dp.rawMap(lb4ServicesMap.name);
    dp.map(lb4BackendsMap).set({ id: 1 }, { address: A, port: 8080, proto: TCP, flags: 0 });
    dp.map(lb4ReverseNatMap).set({ index: 1 }, { address: '172.16.0.0', port: 80, pad: 0 });
    for (let start = 0; start < n; start += 50_000) {
      const count = Math.min(50_000, n - start);
      const keys = Buffer.alloc(count * 2 * lb4Key.size);
      const values = Buffer.alloc(count * 2 * lb4Service.size);
      for (let i = 0; i < count; i++) {
        const address = frontend(start + i);
        lb4Key.encodeInto({ address, dport: 80, backendSlot: 0, proto: TCP, scope: 0, pad: 0 }, keys, 2 * i * lb4Key.size);
        lb4Service.encodeInto({ backendId: 0, count: 1, revNat: 1, affinityTimeoutS: 0, flags: ServiceFlags.External }, values, 2 * i * lb4Service.size);
        lb4Key.encodeInto({ address, dport: 80, backendSlot: 1, proto: TCP, scope: 0, pad: 0 }, keys, (2 * i + 1) * lb4Key.size);
        lb4Service.encodeInto({ backendId: 1, count: 0, revNat: 0, affinityTimeoutS: 0, flags: 0 }, values, (2 * i + 1) * lb4Service.size);
      }
      await services.updateBatchPacked(keys, values);
    }
    const fillMs = performance.now() - t0;

    const xdp = dp.program('xdp_prefilter');
    const tc = dp.program('tc_to_endpoint');
    const pkt = (src: string, dport: number) => frame({ src, dst: A, sport: 40000, dport, proto: TCP, flags: Flags.ACK });
    const rows: Row[] = [];
    const row = async (program: string, path: string, prog: BpfProgram, data: Buffer) =>
      rows.push({ entries: n, program, path, 'ns/packet': Math.round((await nsPerPacket(prog, data)) * 10) / 10, 'fill ms': Math.round(fillMs) });
    await row('xdp_prefilter', 'pass (trie miss far from entries)', xdp, pkt('198.51.100.7', 8080));
    // Next to the last denied address: the walk goes as deep as the trie does before it misses.
    await row('xdp_prefilter', 'pass (trie miss next to entries)', xdp, pkt(nth(n), 8080));
    await row('xdp_prefilter', 'drop (deny CIDR hit)', xdp, pkt(nth(Math.floor(n / 2)), 8080));
    await row('tc_to_endpoint', 'new flow, policy denies', tc, pkt(PEER, 9090));
    // The first packet opens the flow; the rest are established and skip the policy trie.
    await row('tc_to_endpoint', 'established flow (conntrack hit)', tc, pkt(PEER, 8080));
    const nic = dp.program('tc_from_netdev');
    const toService = frame({ src: '198.51.100.7', dst: frontend(n - 1), sport: 40000, dport: 80, proto: TCP, flags: Flags.ACK });
    await row('tc_from_netdev', 'not a frontend (service miss)', nic, frame({ src: '198.51.100.7', dst: '10.0.9.9', sport: 40000, dport: 80, proto: TCP, flags: Flags.ACK }));
    // The first run picks the backend; the rest find it in conntrack and DNAT. Checked, so the
    // figure is the translation's and not a miss's.
    const once = await nic.testRun({ data: toService });
    if (parse(once.dataOut ?? Buffer.alloc(0)).dst !== A) throw new Error(`service ${frontend(n - 1)} was not translated to ${A}`);
    await row('tc_from_netdev', 'service frontend, established (DNAT)', nic, toService);
    return rows;
  });
}

async function floor(): Promise<Row[]> {
  const obj = await loadObject(join(repoRoot, 'build', 'bench', 'floor.o'));
  try {
    const data = frame({ src: PEER, dst: A, sport: 40000, dport: 8080, proto: TCP });
    return [
      { entries: 0, program: 'xdp_pass (floor)', path: 'return XDP_PASS', 'ns/packet': Math.round((await nsPerPacket(obj.program('xdp_pass'), data)) * 10) / 10, 'fill ms': 0 },
      { entries: 0, program: 'tc_ok (floor)', path: 'return TC_ACT_OK', 'ns/packet': Math.round((await nsPerPacket(obj.program('tc_ok'), data)) * 10) / 10, 'fill ms': 0 },
    ];
  } finally {
    obj.close();
  }
}

export async function benchDatapath(): Promise<Row[]> {
  const rows = await floor();
  for (const n of SIZES) rows.push(...(await measure(n)));
  report('datapath', `Datapath cost per packet (BPF_PROG_TEST_RUN, median of ${ROUNDS} x ${REPEAT} runs)`, rows, ['entries']);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDatapath();
