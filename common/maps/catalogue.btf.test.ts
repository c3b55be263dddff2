// The contract between bpf/lib/*.h and the TypeScript side beyond layouts (layout.btf.test.ts):
// each map's kernel type and default max_entries against the catalogue, and every C enum the
// agent writes or reads against its TypeScript constants. Needs `make -C bpf`.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Btf } from '../../test/harness/btf.js';
import { repoRoot } from '../../test/harness/paths.js';
import { defaultMaxEntries } from './catalogue.js';
import { ConfigFlags, EncryptMark } from './config.js';
import { CtFlags, CtPath, CtScope } from './conntrack.js';
import { EndpointFlags } from './endpoints.js';
import { ALL_MAPS } from './index.js';
import { IpcacheFlags } from './ipcache.js';
import { ServiceFlags } from './lb.js';
import { Direction, Reason } from './metrics.js';
import { NatDir } from './nat.js';
import { OverlayMark } from './overlay.js';
import { PolicyDir, Verdict } from './policy.js';

const objDir = join(repoRoot, 'build', 'bpf');
const btfs = (existsSync(objDir) ? readdirSync(objDir).filter((f) => f.endsWith('.o')) : []).map((o) => ({ object: o, btf: new Btf(join(objDir, o)) }));

/** C enumerator name, prefix stripped, as the TS key: CT_PATH_TX_STACK -> TxStack. */
const pascal = (s: string): string => s.toLowerCase().replace(/(^|_)([a-z0-9])/g, (_m, _u: string, c: string) => c.toUpperCase());

const ENUMS: Array<{ c: string; ts: Readonly<Record<string, number>>; prefix: RegExp; aliases?: Record<string, string> }> = [
  { c: 'config_flags', ts: ConfigFlags, prefix: /^CFG_/ },
  { c: 'encrypt_mark_bits', ts: EncryptMark, prefix: /^ENCRYPT_MARK_/ },
  { c: 'ct_scope', ts: CtScope, prefix: /^CT_SCOPE_/, aliases: { NODEPORT: 'NodePort' } },
  { c: 'ct_flags', ts: CtFlags, prefix: /^CT_F_/ },
  { c: 'ct_path', ts: CtPath, prefix: /^CT_PATH_/ },
  { c: 'endpoint_flags', ts: EndpointFlags, prefix: /^EP_F_/ },
  { c: 'ipcache_flags', ts: IpcacheFlags, prefix: /^IPCACHE_F_/ },
  { c: 'lb_service_flags', ts: ServiceFlags, prefix: /^SVC_F_/ },
  { c: 'metrics_dir', ts: Direction, prefix: /^METRICS_DIR_/ },
  // Metric labels come from the TS names, so two keep the names dashboards know.
  { c: 'metrics_reason', ts: Reason, prefix: /^(REASON|DROP)_/, aliases: { POLICY_DEFAULT: 'PolicyDefaultDeny', INVALID_DST: 'InvalidDestination' } },
  { c: 'nat_dir', ts: NatDir, prefix: /^NAT_/ },
  { c: 'overlay_mark_bits', ts: OverlayMark, prefix: /^MARK_/ },
  { c: 'policy_dir', ts: PolicyDir, prefix: /^POLICY_/ },
  { c: 'policy_verdict', ts: Verdict, prefix: /^VERDICT_/ },
];

describe('the catalogue matches the compiled objects', () => {
  it.each(ALL_MAPS.map((m) => [m.name, m] as const))('%s: kernel type and default max_entries', (name, spec) => {
    const defs = btfs.map(({ object, btf }) => ({ object, def: btf.mapDef(name) })).filter((d) => d.def !== null);
    expect(defs).not.toHaveLength(0);
    for (const { object, def } of defs) expect({ object, ...def }).toEqual({ object, type: spec.type, maxEntries: defaultMaxEntries(spec) });
  });
});

describe('C enums match their TypeScript constants', () => {
  it.each(ENUMS.map((e) => [e.c, e] as const))('%s', (c, e) => {
    const found = btfs.map(({ btf }) => btf.enums().get(c)).filter((x) => x !== undefined);
    expect(found).not.toHaveLength(0);
    for (const values of found) {
      const asTs = Object.fromEntries([...values].map(([name, v]) => {
        const stripped = name.replace(e.prefix, '');
        return [e.aliases?.[stripped] ?? pascal(stripped), v];
      }));
      expect(asTs).toEqual(e.ts);
    }
  });
});
