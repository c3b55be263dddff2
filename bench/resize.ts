// How long a conntrack resize takes with 1,000,000 live entries, and how long new flows are held
// back while the programs switch (CFG_DRAIN). The datapath runs attached (tcx on a veth in a
// scratch namespace) so the switch updates real links. Established flows never wait: each link
// update is atomic, and the sandbox test (test/sandbox/resize.priv.test.ts) measures their gaps.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ifindex, withNetns } from 'libbpfjs';
import { LinkSet } from '../agent/datapath/links.js';
import { LoadedDatapath } from '../agent/datapath/objects.js';
import { resizeMaps } from '../agent/datapath/resize.js';
import { configMap, DEFAULT_CONFIG } from '../common/maps/config.js';
import { ct4Key, ctEntry } from '../common/maps/conntrack.js';
import { Lab } from '../sandbox/netns.js';
import { repoRoot, report, type Row } from './common.js';
import { uniformSizes } from '../common/maps/catalogue.js';

const ENTRIES = Number(process.env.WEIR_BENCH_CT_ENTRIES ?? 1_000_000);
const FROM = 1 << 21;
const TO = 1 << 22;

export async function benchResize(): Promise<Row[]> {
  const lab = new Lab('wbrz');
  const pinRoot = mkdtempSync('/sys/fs/bpf/weir-bench-rz-');
  const sizes = uniformSizes(1024, { ct_tcp: FROM, ct_any: 1 << 16, nat: 1 << 16, lb: 1 << 16, endpoints: 1 << 16, policy: 1 << 16 });
  const objectDir = join(repoRoot, 'build', 'bpf');
  const log = pino({ level: 'warn' });
  let dp = await LoadedDatapath.load({ objectDir, pinRoot, sizes });
  try {
    const ns = lab.addNamespace('node');
    lab.addVeth({ ns, name: 'lxc0' }, { ns, name: 'eth0' });
    const links = new LinkSet(pinRoot, lab.netnsPath(ns));
    const idx = withNetns(lab.netnsPath(ns), () => ifindex('lxc0'));
    links.reconcile(dp, [
      { name: 'ep-ingress', program: 'tc_from_endpoint', kind: 'tcx-ingress', ifindex: idx, describe: 'tcx ingress lxc0' },
      { name: 'ep-egress', program: 'tc_to_endpoint', kind: 'tcx-egress', ifindex: idx, describe: 'tcx egress lxc0' },
    ]);
    dp.map(configMap).set({ index: 0 }, DEFAULT_CONFIG);

    const ct = dp.rawMap('weir_ct4_tcp');
    const far = Number(process.hrtime.bigint() / 1_000_000_000n) + 3600;
    const value = ctEntry.encode({ expires: far, srcIdentity: 300, backendId: 0, revNat: 0, flags: 1, policyGen: 0, txTcpFlags: 0x12, rxTcpFlags: 0x12, proxyPort: 0, path: 0 });
    const t0 = performance.now();
    for (let start = 0; start < ENTRIES; start += 100_000) {
      const n = Math.min(100_000, ENTRIES - start);
      const keys = Buffer.alloc(n * ct4Key.size);
      const values = Buffer.alloc(n * ctEntry.size);
      for (let i = 0; i < n; i++) {
        const j = start + i;
        ct4Key.encodeInto({ saddr: `10.${(j >>> 16) & 255}.${(j >>> 8) & 255}.${j & 255}`, daddr: '10.200.0.1', sport: 40000, dport: 443, proto: 6, scope: 1, pad: 0 }, keys, i * ct4Key.size);
        value.copy(values, i * ctEntry.size);
      }
      await ct.updateBatchPacked(keys, values);
    }
    const fillMs = performance.now() - t0;
    const live = ct.count();

    const { dp: next, report: timing } = await resizeMaps(dp, [{ map: 'weir_ct4_tcp', from: FROM, to: TO }], { pinRoot, objectDir, sizes, links, drainTimeoutMs: 60_000, log });
    dp.close();
    dp = next;
    const after = dp.rawMap('weir_ct4_tcp');
    const rows: Row[] = [
      {
        'live entries': live,
        from: FROM,
        to: TO,
        'entries in new map': after.count(),
        'fill ms': Math.round(fillMs),
        'bulk copy ms': Math.round(timing.copyMs),
        'new flows held ms': Math.round(timing.drainMs),
        'total ms': Math.round(timing.totalMs),
      },
    ];
    report('resize', `Conntrack resize with ${ENTRIES.toLocaleString('en')} live entries (grow ${FROM} -> ${TO}, links switched atomically)`, rows);
    return rows;
  } finally {
    dp.close();
    new LinkSet(pinRoot, null).removeAll();
    rmSync(pinRoot, { recursive: true, force: true });
    lab.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchResize();
