// The overlay mode rollout, per node, beside the resize rollout (gate.ts) and through the same
// slots (rollout.maxUnavailable): a node's NodeDatapath takes the config's new mode only when
// admitted, and holds its slot until its agent reports the mode applied. Every node accepts both
// ways throughout (the tunnel device exists in either mode), so a mixed cluster stays connected;
// the gate bounds how many nodes change their sending path at once. Pure, over API state: an
// operator restart carries on where it stopped.

export type OverlayMode = 'none' | 'vxlan';

export interface OverlayView {
  /** The mode the node's NodeDatapath names now. */
  spec: OverlayMode;
  /** The mode its agent reports in effect (status.overlay), for the revision it observed. */
  reported?: OverlayMode;
  /** The agent has programmed some revision: the node is running, so a change is a rollout. */
  programmed: boolean;
  /** Since when (ms) the node has been given a mode it does not report (this operator's memory). */
  switchingSince?: number;
}

export type OverlayState = 'updated' | 'pending' | 'in-progress' | 'failed';

export interface OverlayDecision {
  mode: OverlayMode;
  state: OverlayState;
  /** For a failed node: why. */
  reason?: string;
}

/**
 * `admit` is asked only for a node that must change and holds no slot; true reserves one. A node
 * that has not reported the mode it was given within `nodeTimeoutSeconds` is failed, which pauses
 * the rollout (as a resize's silent node does) until its agent reports.
 */
export function decideOverlay(target: OverlayMode, view: OverlayView | undefined, admit: () => boolean, now = Date.now(), nodeTimeoutSeconds = Infinity): OverlayDecision {
  // A new node, or one whose agent never ran: it starts in the target mode.
  if (!view || !view.programmed) return { mode: target, state: 'updated' };
  // Named already, or switching and holding a slot (so it needs no new one to change its mind).
  if (view.spec === target || switchingOverlay(view)) {
    if (view.reported === target) return { mode: target, state: 'updated' };
    const waited = view.switchingSince === undefined ? 0 : (now - view.switchingSince) / 1000;
    if (waited > nodeTimeoutSeconds)
      return { mode: target, state: 'failed', reason: `overlay mode ${target} not reported after ${Math.round(waited)} s (node timeout ${nodeTimeoutSeconds} s): is its agent running?` };
    return { mode: target, state: 'in-progress' };
  }
  return admit() ? { mode: target, state: 'in-progress' } : { mode: view.spec, state: 'pending' };
}

/** A node holds a slot while its NodeDatapath names a mode its agent does not report yet. */
export const switchingOverlay = (view: OverlayView | undefined): boolean => !!view?.programmed && view.reported !== undefined && view.reported !== view.spec;
