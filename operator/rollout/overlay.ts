// The overlay mode rollout, per node, beside the resize rollout (gate.ts) and through the same
// slots (rollout.maxUnavailable): a node's NodeDatapath takes the config's new mode only when
// admitted, and holds its slot until its agent reports the mode applied. Pure, over API state: an
// operator restart carries on where it stopped.
//
// Receiving comes before sending. A node has a VXLAN device (a listener on the VXLAN port) only
// while some node sends or may send through the tunnel: a node given or still reporting VXLAN, or
// a config whose target is VXLAN. No node is given VXLAN to send with until every running node
// reports its device; a cluster back in native mode removes them once the last node reports it.
// So a native cluster has no tunnel listener to forge datagrams to (docs/security.md), and a
// mixed one stays connected both ways.

export type OverlayMode = 'none' | 'vxlan';

export interface OverlayView {
  /** The mode the node's NodeDatapath names now. */
  spec: OverlayMode;
  /** Its NodeDatapath asks for the tunnel device (spec.overlay.receive; absent: an operator before the field, which always had one). */
  receive: boolean;
  /** The mode its agent reports in effect (status.overlay), for the revision it observed. */
  reported?: OverlayMode;
  /** Its agent reports the device made (status.overlay.receiving; absent: an agent before the field, which always made one). */
  receiving: boolean;
  /** The agent has programmed some revision: the node is running, so a change is a rollout. */
  programmed: boolean;
  /** Since when (ms) the node has been given a mode it does not report (this operator's memory). */
  switchingSince?: number;
  /** Since when (ms) the node has been asked for the device and not reported it (this operator's memory). */
  receiveSince?: number;
}

export type OverlayState = 'updated' | 'pending' | 'in-progress' | 'failed';

export interface OverlayDecision {
  mode: OverlayMode;
  state: OverlayState;
  /** For a failed node: why. */
  reason?: string;
}

export interface OverlayCluster {
  /** Nodes keep the tunnel device (tunnelWanted). */
  receive: boolean;
  /** Every running node reports its device: VXLAN may be sent to any of them. */
  receiversReady: boolean;
}

/** Whether nodes must listen for VXLAN: the target is VXLAN, or some node is given or still runs it. */
export function tunnelWanted(targets: Iterable<OverlayMode>, views: Iterable<OverlayView | undefined>): boolean {
  for (const t of targets) if (t === 'vxlan') return true;
  for (const v of views) if (v?.spec === 'vxlan' || v?.reported === 'vxlan') return true;
  return false;
}

/** Every running node has its device: a node may start sending VXLAN. */
export function receiversReady(views: Iterable<OverlayView | undefined>): boolean {
  for (const v of views) if (v?.programmed && !(v.receive && v.receiving)) return false;
  return true;
}

/**
 * `admit` is asked only for a node that must change and holds no slot; true reserves one. A node
 * that has not reported the mode it was given within `nodeTimeoutSeconds`, or the device it was
 * asked for, is failed, which pauses the rollout (as a resize's silent node does) until its agent
 * reports.
 */
export function decideOverlay(target: OverlayMode, view: OverlayView | undefined, admit: () => boolean, cluster: OverlayCluster, now = Date.now(), nodeTimeoutSeconds = Infinity): OverlayDecision {
  // A new node, or one whose agent never ran: it starts in the target mode.
  if (!view || !view.programmed) return { mode: target, state: 'updated' };
  const sending = decideSending(target, view, admit, cluster, now, nodeTimeoutSeconds);
  if (sending.state === 'failed' || !view.receive || view.receiving) return sending;
  // Asked for the device and not reporting it: its peers wait for it before sending VXLAN.
  const waited = view.receiveSince === undefined ? 0 : (now - view.receiveSince) / 1000;
  if (waited > nodeTimeoutSeconds)
    return { mode: sending.mode, state: 'failed', reason: `overlay tunnel device not reported after ${Math.round(waited)} s (node timeout ${nodeTimeoutSeconds} s): is its agent running?` };
  return { mode: sending.mode, state: 'in-progress' };
}

function decideSending(target: OverlayMode, view: OverlayView, admit: () => boolean, cluster: OverlayCluster, now: number, nodeTimeoutSeconds: number): OverlayDecision {
  // Named already, or switching and holding a slot (so it needs no new one to change its mind).
  if (view.spec === target || switchingOverlay(view)) {
    if (view.reported === target) return { mode: target, state: 'updated' };
    const waited = view.switchingSince === undefined ? 0 : (now - view.switchingSince) / 1000;
    if (waited > nodeTimeoutSeconds)
      return { mode: target, state: 'failed', reason: `overlay mode ${target} not reported after ${Math.round(waited)} s (node timeout ${nodeTimeoutSeconds} s): is its agent running?` };
    return { mode: target, state: 'in-progress' };
  }
  // No VXLAN sent before every node can receive it.
  if (target === 'vxlan' && !(cluster.receive && cluster.receiversReady)) return { mode: view.spec, state: 'pending' };
  return admit() ? { mode: target, state: 'in-progress' } : { mode: view.spec, state: 'pending' };
}

/** A node holds a slot while its NodeDatapath names a mode its agent does not report yet. */
export const switchingOverlay = (view: OverlayView | undefined): boolean => !!view?.programmed && view.reported !== undefined && view.reported !== view.spec;
