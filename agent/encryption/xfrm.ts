// The node's xfrm states and policies as values: what `ip xfrm` lists, parsed; what IPsec needs,
// as the same values; and the `ip` lines that take one to the other. Weir's own entries carry
// its reqid (states, templates) or its mark (the strict-mode block policy); nothing else on the
// node is touched.

/** "WE": the reqid of every state and template Weir installs. */
export const WEIR_REQID = 0x5745;

export interface Mark {
  value: number;
  mask: number;
}

export interface XfrmState {
  src: string;
  dst: string;
  spi: number;
  mark?: Mark;
  /** As listed (`ip xfrm state` prints it); a listed state whose key differs is replaced (see plan). */
  key?: Buffer;
  icvBits?: number;
  /** 64-bit extended sequence numbers (RFC 4304): the state never runs out of them. */
  esn?: boolean;
  /** From `ip -s`: packets through the state. */
  packets?: number;
  /** Integrity failures (a wrong key), from `ip -s` stats. */
  failed?: number;
}

export interface XfrmPolicy {
  dir: 'out' | 'in' | 'fwd';
  src: string;
  dst: string;
  mark?: Mark;
  priority: number;
  /** Block what matches (strict mode's backstop) instead of transforming it. */
  block?: boolean;
  tmpl?: { src: string; dst: string; spi?: number; level: 'required' | 'use' };
}

const hex = (n: number) => `0x${n.toString(16)}`;
const markText = (m?: Mark) => (m ? ` mark ${hex(m.value)} mask ${hex(m.mask)}` : '');

export const stateKey = (s: Pick<XfrmState, 'src' | 'dst' | 'spi'>) => `${s.src}>${s.dst}#${s.spi}`;
export const policyKey = (p: Pick<XfrmPolicy, 'dir' | 'src' | 'dst' | 'mark'>) => `${p.dir} ${p.src} ${p.dst}${p.mark ? ` ${p.mark.value}/${p.mark.mask}` : ''}`;

function parseMark(line: string): Mark | undefined {
  const m = /mark (0x[0-9a-f]+)\/(0x[0-9a-f]+)/.exec(line);
  return m ? { value: Number(m[1]), mask: Number(m[2]) } : undefined;
}

/** Splits `ip xfrm ... list` output into records, each starting at an unindented "src .. dst ..". */
function records(text: string): string[][] {
  const out: string[][] = [];
  for (const line of text.split('\n')) {
    if (/^src /.test(line)) out.push([line]);
    else if (line.trim() && out.length) out[out.length - 1].push(line.trim());
  }
  return out;
}

/** Weir's states in `ip -s xfrm state list` output. */
export function parseStates(text: string): XfrmState[] {
  const out: XfrmState[] = [];
  for (const rec of records(text)) {
    const [, src = '', dst = ''] = /^src (\S+) dst (\S+)/.exec(rec[0]) ?? [];
    const proto = rec.find((l) => l.startsWith('proto '));
    const m = proto && /spi (0x[0-9a-f]+).*reqid (\d+)/.exec(proto);
    if (!m || Number(m[2]) !== WEIR_REQID) continue;
    const s: XfrmState = { src, dst, spi: Number(m[1]) };
    const mark = rec.map(parseMark).find((x) => x !== undefined);
    if (mark) s.mark = mark;
    const aead = rec.map((l) => /^aead \S+ 0x([0-9a-f]+)(?: \(\d+ bits\))? (\d+)$/.exec(l)).find((x) => x);
    if (aead) {
      s.key = Buffer.from(aead[1], 'hex');
      s.icvBits = Number(aead[2]);
    }
    // "flag esn (0x00000080)"; iproute2 versions without the name print the bit alone.
    const flags = rec.find((l) => l.startsWith('replay-window ') && l.includes(' flag '));
    const bits = flags && /\((0x[0-9a-f]+)\)/.exec(flags);
    if (flags && (/ flag .*\besn\b/.test(flags) || (bits && (Number(bits[1]) & XFRM_STATE_ESN) !== 0))) s.esn = true;
    const cur = rec.findIndex((l) => l.startsWith('lifetime current:'));
    const pk = cur >= 0 ? /\((?:bytes)\),\s*(\d+)\(packets\)/.exec(rec[cur + 1] ?? '') : null;
    if (pk) s.packets = Number(pk[1]);
    const st = rec.find((l) => /^replay-window \d+ replay \d+ failed \d+/.test(l));
    if (st) s.failed = Number(/failed (\d+)/.exec(st)![1]);
    out.push(s);
  }
  return out;
}

/** Weir's policies in `ip xfrm policy list` output. */
export function parsePolicies(text: string): XfrmPolicy[] {
  const out: XfrmPolicy[] = [];
  for (const rec of records(text)) {
    const [, src = '', dst = ''] = /^src (\S+) dst (\S+)/.exec(rec[0]) ?? [];
    const dirLine = rec.find((l) => l.startsWith('dir ')) ?? '';
    const dir = /^dir (out|in|fwd)/.exec(dirLine)?.[1] as XfrmPolicy['dir'] | undefined;
    if (!dir) continue;
    const priority = Number(/priority (\d+)/.exec(dirLine)?.[1] ?? 0);
    const mark = rec.map(parseMark).find((x) => x !== undefined);
    const block = /action block/.test(dirLine);
    const t = rec.findIndex((l) => l.startsWith('tmpl '));
    const p: XfrmPolicy = { dir, src, dst, priority, ...(mark ? { mark } : {}) };
    if (t >= 0) {
      const [, ts = '', td = ''] = /tmpl src (\S+) dst (\S+)/.exec(rec[t]) ?? [];
      const proto = rec[t + 1] ?? '';
      const reqid = Number(/reqid (\d+)/.exec(proto)?.[1] ?? -1);
      if (reqid !== WEIR_REQID) continue;
      const spi = /spi (0x[0-9a-f]+)/.exec(proto)?.[1];
      const level = rec.slice(t + 2).some((l) => /^level use/.test(l)) ? 'use' : 'required';
      p.tmpl = { src: ts, dst: td, ...(spi && Number(spi) !== 0 ? { spi: Number(spi) } : {}), level };
    } else if (!(block && mark && (mark.value & 0x0f00) === 0x0e00)) continue;
    if (block) p.block = true;
    out.push(p);
  }
  return out;
}

/** XFRM_STATE_ESN in include/uapi/linux/xfrm.h. */
const XFRM_STATE_ESN = 128;

export function addStateLine(s: XfrmState): string {
  if (!s.key) throw new Error(`state ${stateKey(s)} has no key`);
  return `xfrm state add src ${s.src} dst ${s.dst} proto esp spi ${hex(s.spi)} reqid ${WEIR_REQID} mode tunnel replay-window 128${s.esn ? ' flag esn' : ''}${markText(s.mark)} aead rfc4106(gcm(aes)) 0x${s.key.toString('hex')} ${s.icvBits ?? 128}`;
}

/** A state with a mark is found by it too: the delete names it. */
export const deleteStateLine = (s: XfrmState): string => `xfrm state delete src ${s.src} dst ${s.dst} proto esp spi ${hex(s.spi)}${markText(s.mark)}`;

export function updatePolicyLine(p: XfrmPolicy): string {
  const head = `xfrm policy update dir ${p.dir} src ${p.src} dst ${p.dst}${markText(p.mark)} priority ${p.priority}`;
  if (p.block) return `${head} action block`;
  const t = p.tmpl!;
  return `${head} tmpl src ${t.src} dst ${t.dst} proto esp${t.spi ? ` spi ${hex(t.spi)}` : ''} reqid ${WEIR_REQID} mode tunnel level ${t.level}`;
}

export const deletePolicyLine = (p: XfrmPolicy): string => `xfrm policy delete dir ${p.dir} src ${p.src} dst ${p.dst}${markText(p.mark)}`;

const samePolicy = (a: XfrmPolicy, b: XfrmPolicy) =>
  a.priority === b.priority && !!a.block === !!b.block && JSON.stringify(a.tmpl ?? null) === JSON.stringify(b.tmpl ?? null);

/**
 * The `ip` lines from what is to what should be, in the order that never leaves a packet without
 * its state: states added or replaced, policies set, stale policies removed, stale states removed.
 * A state that exists with the key it should have is never replaced: its sequence numbers run on
 * under its key (a replaced state would restart them under the same key, repeating AES-GCM
 * nonces). One whose key differs is replaced: a peer rebooted (pair keys are bound to both boot
 * ids), and the old key can no longer talk to it; the new key starts its own nonces. Replaced is
 * deleted and added back to back: `ip xfrm state update` keeps a valid state's algorithms and
 * keys (the kernel's xfrm_state_update copies only lifetimes, selector and encapsulation).
 */
export function plan(current: { states: XfrmState[]; policies: XfrmPolicy[] }, desired: { states: XfrmState[]; policies: XfrmPolicy[] }): string[] {
  const haveStates = new Map(current.states.map((s) => [stateKey(s), s]));
  const wantStates = new Set(desired.states.map(stateKey));
  const stale = (want: XfrmState) => {
    const have = haveStates.get(stateKey(want));
    return !!have?.key && !!want.key && !have.key.equals(want.key);
  };
  const havePolicies = new Map(current.policies.map((p) => [policyKey(p), p]));
  const wantPolicies = new Set(desired.policies.map(policyKey));
  return [
    ...desired.states.filter((s) => !haveStates.has(stateKey(s))).map((s) => addStateLine(s)),
    ...desired.states.filter(stale).flatMap((s) => [deleteStateLine(haveStates.get(stateKey(s))!), addStateLine(s)]),
    ...desired.policies.filter((p) => { const h = havePolicies.get(policyKey(p)); return !h || !samePolicy(h, p); }).map(updatePolicyLine),
    ...current.policies.filter((p) => !wantPolicies.has(policyKey(p))).map(deletePolicyLine),
    ...current.states.filter((s) => !wantStates.has(stateKey(s))).map(deleteStateLine),
  ];
}
