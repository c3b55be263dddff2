// Puts weir-cni on a node: the shim into the CNI binary directory, and a weir-cni entry at the
// end of the node's CNI conflist (after the interface plugin), as Cilium's chaining mode does.
// Idempotent; `remove` takes the entry out again and leaves the rest of the conflist as it was.
import { copyFileSync, chmodSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PLUGIN_TYPE = 'weir-cni';

interface Conflist {
  cniVersion?: string;
  name?: string;
  plugins?: Array<Record<string, unknown>>;
}

/** The conflist with weir-cni chained last (or moved there), pointed at `socket`. */
export function chained(conflist: Conflist, socket: string): Conflist {
  if (!Array.isArray(conflist.plugins) || conflist.plugins.length === 0) throw new Error('the conflist has no plugins: weir-cni chains after an interface plugin');
  const others = conflist.plugins.filter((p) => p.type !== PLUGIN_TYPE);
  if (others.length === 0) throw new Error('the conflist has no interface plugin for weir-cni to chain after');
  // What an earlier chaining recorded of the interface plugins stays (unchained() restores it).
  const prior = conflist.plugins.find((p) => p.type === PLUGIN_TYPE)?.priorMtu;
  return { ...conflist, plugins: [...others, { type: PLUGIN_TYPE, agentSocket: socket, ...(prior ? { priorMtu: prior } : {}) }] };
}

/**
 * The conflist without weir-cni, as it was before Weir: an `mtu` that withMtu() set on an interface
 * plugin goes back to what the weir-cni entry recorded (removed, where there was none).
 */
export function unchained(conflist: Conflist): Conflist {
  const plugins = conflist.plugins ?? [];
  const prior = (plugins.find((p) => p.type === PLUGIN_TYPE)?.[PRIOR_MTU] ?? {}) as Record<string, number | null>;
  return {
    ...conflist,
    plugins: plugins
      .map((p, i) => {
        if (!(String(i) in prior)) return p;
        const { mtu: _set, ...rest } = p;
        const was = prior[String(i)];
        return was === null || was === undefined ? rest : { ...rest, mtu: was };
      })
      .filter((p) => p.type !== PLUGIN_TYPE),
  };
}

/** Where the weir-cni entry keeps each interface plugin's mtu from before withMtu() (null: none). */
const PRIOR_MTU = 'priorMtu';

/** The conflist a runtime uses: the first .conflist by name (libcni's order). */
export function activeConflist(confDir: string): string {
  const files = readdirSync(confDir).filter((f) => f.endsWith('.conflist')).sort();
  if (files.length === 0) throw new Error(`no .conflist in ${confDir}: install the interface plugin's configuration first`);
  return join(confDir, files[0]);
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.weir-tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function install(opts: { binary: string; binDir: string; confDir: string; socket: string }): string {
  const target = join(opts.binDir, PLUGIN_TYPE);
  copyFileSync(opts.binary, `${target}.weir-tmp`);
  chmodSync(`${target}.weir-tmp`, 0o755);
  renameSync(`${target}.weir-tmp`, target);
  const file = activeConflist(opts.confDir);
  writeAtomically(file, `${JSON.stringify(chained(JSON.parse(readFileSync(file, 'utf8')) as Conflist, opts.socket), null, 2)}\n`);
  return file;
}

/** Interface plugins (containernetworking-plugins) that take an `mtu` for the pod's interface. */
const MTU_PLUGINS = new Set(['bridge', 'ptp', 'macvlan', 'ipvlan', 'vlan']);

/**
 * The conflist with every interface plugin before weir-cni giving pods `mtu`; the first time a
 * plugin's mtu changes, what it had is recorded in the weir-cni entry for unchained().
 */
export function withMtu(conflist: Conflist, mtu: number): Conflist {
  const plugins = conflist.plugins ?? [];
  const weir = plugins.find((p) => p.type === PLUGIN_TYPE);
  const prior = { ...((weir?.[PRIOR_MTU] ?? {}) as Record<string, number | null>) };
  const next = plugins.map((p, i) => {
    if (!MTU_PLUGINS.has(String(p.type)) || p.mtu === mtu) return p;
    if (!(String(i) in prior)) prior[String(i)] = typeof p.mtu === 'number' ? p.mtu : null;
    return { ...p, mtu };
  });
  return { ...conflist, plugins: next.map((p) => (p.type === PLUGIN_TYPE && Object.keys(prior).length ? { ...p, [PRIOR_MTU]: prior } : p)) };
}

/**
 * New pods get `mtu` (the overlay's, in VXLAN mode): written into the active conflist when it
 * chains weir-cni and says otherwise. Pods that exist keep theirs (path MTU discovery covers
 * them). Returns the file changed, or undefined when nothing needed to change.
 */
export function syncMtu(confDir: string, mtu: number): string | undefined {
  const file = activeConflist(confDir);
  const conf = JSON.parse(readFileSync(file, 'utf8')) as Conflist;
  if (!conf.plugins?.some((p) => p.type === PLUGIN_TYPE)) return undefined;
  const next = withMtu(conf, mtu);
  if (JSON.stringify(next) === JSON.stringify(conf)) return undefined;
  writeAtomically(file, `${JSON.stringify(next, null, 2)}\n`);
  return file;
}

export function uninstall(opts: { binDir: string; confDir: string }): void {
  const file = activeConflist(opts.confDir);
  writeAtomically(file, `${JSON.stringify(unchained(JSON.parse(readFileSync(file, 'utf8')) as Conflist), null, 2)}\n`);
  rmSync(join(opts.binDir, PLUGIN_TYPE), { force: true });
}
