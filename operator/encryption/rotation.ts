// IPsec key rotation as a pure decision over API state (as rollout/gate.ts decides resizes):
// from the Secret's newest key and each node's spec and report, which key generations every node
// accepts and which it sends with. A new key goes through three phases, each waiting on the
// nodes' reports, so no packet meets a receiver without its key:
//   install: every node accepts old and new (states both ways for every peer), still sends old;
//   switch:  once every node has installed the new key, nodes send with it, maxUnavailable at a
//            time (they are mixed meanwhile: every node accepts both);
//   retire:  once every node sends with the new key, the old one's states go.
import type { IpsecKeyRef } from '../../api/v1alpha1/index.js';

export interface NodeKeyView {
  name: string;
  /** What the node's spec says now (absent: a node new to encryption). */
  spec?: { keys: IpsecKeyRef[]; send: number };
  /** The node's report; nodes that cannot encrypt at all (`active` false) do not hold rotations up. */
  status?: { active: boolean; installedKeys?: number[]; sendingKey?: number };
}

export type RotationPhase = 'steady' | 'install' | 'switch' | 'retire';

export interface KeyDecision {
  phase: RotationPhase;
  perNode: Map<string, { keys: IpsecKeyRef[]; send: number }>;
  /** Set when the Secret cannot be rolled out as it is; every node then keeps its keys. */
  refused?: string;
}

const byId = (a: IpsecKeyRef, b: IpsecKeyRef) => a.id - b.id;

export function decideKeys(newest: IpsecKeyRef, nodes: readonly NodeKeyView[], switchSlots: number): KeyDecision {
  const known = new Map<number, string>();
  for (const n of nodes) for (const k of n.spec?.keys ?? []) known.set(k.id, k.fingerprint);
  const keep = (): KeyDecision => ({ phase: 'steady', perNode: new Map(nodes.filter((n) => n.spec).map((n) => [n.name, n.spec!])) });
  const knownPrint = known.get(newest.id);
  if (knownPrint !== undefined && knownPrint !== newest.fingerprint)
    return { ...keep(), refused: `the key with id ${newest.id} changed but kept its id: a new key needs a new id (ESP states are found by SPI, which carries the id)` };

  const active = nodes.filter((n) => n.status?.active !== false);
  const installed = (n: NodeKeyView) => n.status?.installedKeys?.includes(newest.id) ?? false;
  const sending = (n: NodeKeyView) => n.spec?.send === newest.id && n.status?.sendingKey === newest.id;
  const others = [...known].filter(([id]) => id !== newest.id).map(([id, fingerprint]) => ({ id, fingerprint }));
  const all = [...others, newest].sort(byId);
  const perNode = new Map<string, { keys: IpsecKeyRef[]; send: number }>();

  // Retire: everyone sends with the newest key (or nothing else was ever known).
  if (others.length === 0 || active.every(sending)) {
    for (const n of nodes) perNode.set(n.name, { keys: [newest], send: newest.id });
    return { phase: others.length === 0 ? 'steady' : 'retire', perNode };
  }
  // The generation most nodes send with now: what a node new to encryption sends with too.
  const counts = new Map<number, number>();
  for (const n of nodes) if (n.spec) counts.set(n.spec.send, (counts.get(n.spec.send) ?? 0) + 1);
  const current = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? newest.id;

  if (!active.every(installed)) {
    for (const n of nodes) perNode.set(n.name, { keys: all, send: n.spec?.send ?? current });
    return { phase: 'install', perNode };
  }
  // Switch, in name order, with at most `switchSlots` nodes switched but not yet reporting it.
  let inFlight = nodes.filter((n) => n.spec?.send === newest.id && !sending(n) && n.status?.active !== false).length;
  for (const n of [...nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    let send = n.spec?.send ?? current;
    if (send !== newest.id && inFlight < Math.max(1, switchSlots)) {
      send = newest.id;
      inFlight++;
    }
    perNode.set(n.name, { keys: all, send });
  }
  return { phase: 'switch', perNode };
}
