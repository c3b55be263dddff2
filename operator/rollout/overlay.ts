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
}

export type OverlayState = 'updated' | 'pending' | 'in-progress';

export interface OverlayDecision {
  mode: OverlayMode;
  state: OverlayState;
}

/** `admit` is asked only for a node that must change and holds no slot; true reserves one. */
export function decideOverlay(target: OverlayMode, view: OverlayView | undefined, admit: () => boolean): OverlayDecision {
  // A new node, or one whose agent never ran: it starts in the target mode.
  if (!view || !view.programmed) return { mode: target, state: 'updated' };
  // Named already, or switching and holding a slot (so it needs no new one to change its mind).
  if (view.spec === target || switchingOverlay(view)) return { mode: target, state: view.reported === target ? 'updated' : 'in-progress' };
  return admit() ? { mode: target, state: 'in-progress' } : { mode: view.spec, state: 'pending' };
}

/** A node holds a slot while its NodeDatapath names a mode its agent does not report yet. */
export const switchingOverlay = (view: OverlayView | undefined): boolean => !!view?.programmed && view.reported !== undefined && view.reported !== view.spec;
