// What the operator knows of each node between reconciles, shared by the nodes controller (which
// writes it) and the configs controller (which reports it in DatapathConfig status).
import type { MapSize, NodeDatapath, ResizeGate } from '../api/v1alpha1/index.js';
import { LastWrites } from '../common/lastwrite.js';
import type { NodeState } from './rollout/gate.js';
import type { OverlayMode, OverlayView } from './rollout/overlay.js';
import type { Overflow } from './sizing/sizes.js';

export interface NodeWrite {
  revision: number;
  hash: string;
  maps: MapSize[];
  gate?: ResizeGate;
  /** The overlay mode written (the overlay rollout's, like the gate the resize rollout's). */
  overlay?: OverlayMode;
  /** The tunnel device asked for (spec.overlay.receive). */
  receive?: boolean;
}

export class NodeBook {
  /** Maps whose demand exceeds their size, from the node's last reconcile. */
  readonly overflows = new Map<string, Overflow[]>();
  /** Nodes past MAX_NODE_ENDPOINTS, with the count last reported. */
  readonly tooManyEndpoints = new Map<string, number>();
  /**
   * Nodes the operator cannot give their current datapath, and why: no memory capacity to size
   * maps by, more pods than one NodeDatapath holds, an object over its size bound. Their agents
   * keep the last state; the config counts them as not programmed.
   */
  readonly stuck = new Map<string, string>();
  /** The encryption problem last said for a node (a missing or malformed key Secret). */
  readonly encryptionProblems = new Map<string, string>();
  /** Each node's place in its config's rollout (map resizes and overlay mode changes), as last decided. */
  readonly rollout = new Map<string, { config: string; state: NodeState; reason?: string }>();
  /** When each node was first seen switching to the overlay mode it is given (for the node timeout). */
  readonly overlaySince = new Map<string, { mode: OverlayMode; at: number }>();
  /** When each node was first seen asked for the tunnel device and not reporting it (for the node timeout). */
  readonly receiveSince = new Map<string, number>();
  /** Our last NodeDatapath write per node. */
  readonly written = new LastWrites<NodeWrite>();

  /** The latest resize gate of a node: ours while the cache has not caught up with our write. */
  gateOf(node: string, cached: NodeDatapath | undefined): ResizeGate | undefined {
    const mine = this.written.ahead(node, cached?.spec?.revision);
    return mine ? mine.gate : cached?.spec?.resizeGate;
  }

  /** Where a node stands in the overlay rollout: the mode last written for it, and what its agent reports. */
  overlayOf(node: string, cached: NodeDatapath | undefined): OverlayView | undefined {
    if (!cached?.spec) return undefined;
    const mine = this.written.ahead(node, cached.spec.revision);
    const spec = mine?.overlay ?? (cached.spec.features?.overlay?.mode === 'vxlan' ? 'vxlan' : 'none');
    // Absent fields are from before them: an operator that always asked for the device, an agent that always made it.
    const receive = mine ? mine.receive ?? true : cached.spec.overlay?.receive ?? true;
    const receiving = cached.status?.overlay ? cached.status.overlay.receiving ?? true : false;
    const since = this.overlaySince.get(node);
    const receiveSince = this.receiveSince.get(node);
    return {
      spec,
      receive,
      reported: cached.status?.overlay?.mode,
      receiving,
      programmed: cached.status?.observedRevision !== undefined,
      ...(since?.mode === spec ? { switchingSince: since.at } : {}),
      ...(receiveSince !== undefined ? { receiveSince } : {}),
    };
  }

  forget(node: string): void {
    this.overflows.delete(node);
    this.tooManyEndpoints.delete(node);
    this.stuck.delete(node);
    this.encryptionProblems.delete(node);
    this.rollout.delete(node);
    this.overlaySince.delete(node);
    this.receiveSince.delete(node);
    this.written.forget(node);
  }
}
