// The drain-aware resize rollout, per node. Map sizes in a NodeDatapath change only together
// with an open resize gate; the agent resizes while the gate is open for a revision it has not
// answered, and answers in status.resize (Done, Refused, Failed). The operator admits at most
// maxUnavailable nodes at a time per DatapathConfig, closes a node's gate once it is done, and
// pauses the rollout on a failure or a node that does not answer in time. Everything this needs
// is in the NodeDatapath objects, so an operator restart carries on where it stopped, and a
// revision once answered is never resized again.

import type { MapSize, ResizeAnswer, ResizeGate } from '../../api/v1alpha1/index.js';

export type { MapSize, ResizeAnswer, ResizeGate };

export interface NodeView {
  /** Sizes the node's current NodeDatapath names (what its agent runs or is resizing to). */
  maps: readonly MapSize[];
  gate?: ResizeGate;
  /** The agent has programmed some revision: its maps exist, so a size change is a resize. */
  programmed: boolean;
  answer?: ResizeAnswer;
}

export type NodeState = 'updated' | 'pending' | 'in-progress' | 'failed';

export interface Decision {
  maps: MapSize[];
  gate?: ResizeGate;
  state: NodeState;
  /** For failed nodes: why. */
  reason?: string;
  /** The node finished the resize of this revision just now (the gate closes). */
  completed?: { revision: number; message: string };
}

export interface RolloutPolicy {
  drainTimeoutSeconds: number;
  nodeTimeoutSeconds: number;
}

export const sameSizes = (a: readonly MapSize[], b: readonly MapSize[]): boolean => {
  const m = new Map(a.map((x) => [x.name, x.maxEntries]));
  return a.length === b.length && b.every((x) => m.get(x.name) === x.maxEntries);
};

/**
 * What the node's NodeDatapath should say now. `admit` is asked only for a node that needs a
 * resize and holds no slot; it reserves one when it returns true.
 */
export function decide(target: readonly MapSize[], view: NodeView | undefined, policy: RolloutPolicy, admit: () => boolean, now: Date): Decision {
  const open = (revision: number): ResizeGate => ({ revision, open: true, drainTimeoutSeconds: policy.drainTimeoutSeconds, openedAt: now.toISOString() });
  // A node whose agent never programmed anything creates its maps at the target sizes.
  if (!view || !view.programmed) return { maps: [...target], gate: view?.gate, state: 'updated' };
  const gate = { revision: 0, open: false, ...view.gate };
  const answered = view.answer?.revision === gate.revision ? view.answer : undefined;
  const current = [...view.maps];

  if (gate.open) {
    if (answered?.phase === 'Done') {
      const closed = { ...gate, open: false };
      if (sameSizes(current, target)) return { maps: current, gate: closed, state: 'updated', completed: { revision: gate.revision, message: answered.message ?? '' } };
      // Done, but the target moved on meanwhile: this slot is free, the new sizes wait their turn.
      return admit() ? { maps: [...target], gate: open(gate.revision + 1), state: 'in-progress' } : { maps: current, gate: closed, state: 'pending' };
    }
    if (answered?.phase === 'Failed' || answered?.phase === 'Refused') {
      // An edited config supersedes the failed target: try the new one, keeping the slot.
      if (!sameSizes(current, target)) return { maps: [...target], gate: open(gate.revision + 1), state: 'in-progress' };
      return { maps: current, gate, state: 'failed', reason: `${answered.phase.toLowerCase()}: ${answered.message ?? ''}` };
    }
    if (!sameSizes(current, target)) return { maps: [...target], gate: open(gate.revision + 1), state: 'in-progress' };
    const opened = gate.openedAt ? Date.parse(gate.openedAt) : now.getTime();
    const waited = (now.getTime() - opened) / 1000;
    if (waited > policy.nodeTimeoutSeconds)
      // The gate stays open: an agent that comes back resizes, answers, and the rollout resumes.
      return { maps: current, gate, state: 'failed', reason: `no answer after ${Math.round(waited)} s (node timeout ${policy.nodeTimeoutSeconds} s): is its agent running?` };
    return { maps: current, gate, state: 'in-progress' };
  }
  if (sameSizes(current, target)) return { maps: current, gate: view.gate, state: 'updated' };
  return admit() ? { maps: [...target], gate: open(gate.revision + 1), state: 'in-progress' } : { maps: current, gate: view.gate, state: 'pending' };
}

/** maxUnavailable as a node count: a number, or a percentage of the config's nodes (at least 1). */
export function slots(maxUnavailable: number | string | undefined, nodes: number): number {
  if (maxUnavailable === undefined) return 1;
  if (typeof maxUnavailable === 'number') return Math.max(1, maxUnavailable);
  const m = /^(\d+)%$/.exec(maxUnavailable);
  if (!m) throw new Error(`maxUnavailable ${maxUnavailable}: a number or a percentage`);
  return Math.max(1, Math.floor((Number(m[1]) / 100) * nodes));
}
