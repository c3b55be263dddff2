// The configs controller: one key per DatapathConfig. Reports in its status which nodes it
// governs, how many run the latest revision, whether every map holds its demand, what it asks
// for that is not in effect, and where its resize rollout stands.
import { DatapathConfigResource, featuresNotInEffect, resolveFeatures } from '../../api/v1alpha1/index.js';
import { condition, summarize, type Condition } from '../../common/conditions.js';
import type { EventRecorder } from '../../common/events.js';
import type { ReconcileResult } from '../../common/runtime/controller.js';
import type { Queues, Reconciler } from '../../common/runtime/reconciler.js';
import type { WeirApi } from '../../common/weirapi.js';
import type { Config, OperatorCaches } from '../caches.js';
import type { NodeBook } from '../nodestate.js';
import { slots, type NodeState } from '../rollout/gate.js';
import { configRef, OPERATOR_FIELD_MANAGER } from './nodes.js';

import type { ControllerName } from './names.js';

export class ConfigsReconciler implements Reconciler<ControllerName> {
  readonly name = 'configs';
  readonly workers = 1;

  constructor(
    private readonly c: OperatorCaches,
    private readonly book: NodeBook,
    private readonly api: WeirApi,
    private readonly events: EventRecorder,
  ) {}

  watch(q: Queues<ControllerName>): void {
    const allConfigs = (): void => this.c.configs.list().forEach((cfg) => q.configs(cfg.metadata.name));
    // A node's labels decide which config governs it.
    this.c.nodes.onEvent(allConfigs);
    this.c.configs.onEvent((_e, cfg) => q.configs(cfg.metadata.name));
    // Agents report progress in NodeDatapath status: the governing config aggregates it.
    this.c.nodeDatapaths.onEvent((_e, ndp) => ndp.spec?.configName && q.configs(ndp.spec.configName));
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const config = this.c.configs.get(name);
    if (!config) return;
    const governed: string[] = [];
    let conflict: string | undefined;
    for (const n of this.c.nodes.list()) {
      const sel = this.c.configOf(n);
      if ('config' in sel && sel.config.metadata.name === name) governed.push(n.metadata!.name!);
      if ('error' in sel && sel.error.includes(name)) conflict = `node ${n.metadata?.name}: ${sel.error}`;
    }
    const generation = config.metadata.generation ?? 0;
    const prev = config.status?.conditions ?? [];
    const overflowing = governed.flatMap((n) => (this.book.overflows.get(n) ?? []).map((o) => `${n}: ${o.message}`));
    // A node the operator cannot give its datapath (no memory capacity to size maps by, more pods
    // than one NodeDatapath holds, an object over its size bound) runs an older state: not programmed.
    const stuck = governed.filter((n) => this.book.stuck.has(n)).map((n) => `${n}: ${this.book.stuck.get(n)}`);
    const programmed = governed.filter((n) => {
      const ndp = this.c.nodeDatapaths.get(n);
      return !this.book.stuck.has(n) && ndp?.spec?.revision !== undefined && (ndp.status?.observedRevision ?? 0) >= ndp.spec.revision;
    }).length;
    const notInEffect = [...featuresNotInEffect(resolveFeatures(config.spec.features)), ...this.encryptionNotInEffect(governed)];
    if (conflict) this.events.emit(configRef(config), 'Warning', 'Conflict', conflict);
    const rollout = this.rolloutStatus(config, governed, generation);
    const conditions = [
      condition(prev, 'Ready', conflict ? 'False' : 'True', conflict ? 'Conflict' : 'Applied', conflict ?? `in effect on ${governed.length} node(s)`, generation),
      condition(
        prev,
        'MapCapacity',
        overflowing.length > 0 ? 'False' : 'True',
        overflowing.length > 0 ? 'DemandExceedsSize' : 'Sufficient',
        overflowing.length > 0 ? summarize(overflowing) : 'every map holds its known demand',
        generation,
      ),
      condition(
        prev,
        'Programmed',
        programmed === governed.length ? 'True' : 'False',
        programmed === governed.length ? 'AllNodesProgrammed' : stuck.length ? 'NodesNotProgrammable' : 'Progressing',
        `${programmed}/${governed.length} node(s) run the latest NodeDatapath revision${stuck.length ? `; ${stuck.length} cannot be given it: ${summarize(stuck)}` : ''}`,
        generation,
      ),
      condition(
        prev,
        'FeaturesInEffect',
        notInEffect.length ? 'False' : 'True',
        notInEffect.length ? (notInEffect.some((m) => m.startsWith('encryption')) ? 'EncryptionNotInEffect' : 'NotInEffect') : 'AllInEffect',
        notInEffect.length ? summarize(notInEffect) : 'every feature the config turns on is in effect',
        generation,
      ),
      rollout.condition,
    ];
    await this.api.applyStatus(
      DatapathConfigResource,
      { metadata: { name }, status: { observedGeneration: generation, nodes: governed.length, nodesProgrammed: programmed, conditions, rollout: rollout.status } },
      OPERATOR_FIELD_MANAGER,
    );
  }

  /** Nodes that do not encrypt as the config asks, and keys that cannot be rolled out. */
  private encryptionNotInEffect(governed: readonly string[]): string[] {
    const out = new Set<string>();
    for (const n of governed) {
      const problem = this.book.encryptionProblems.get(n);
      if (problem) out.add(`encryption: ${problem}`);
      const ndp = this.c.nodeDatapaths.get(n);
      const st = ndp?.status?.encryption;
      if (ndp?.spec?.encryption && st && !st.active) out.add(`encryption not in effect on node ${n}: ${st.message ?? 'no reason given'}`);
    }
    return [...out];
  }

  /**
   * The config's rollout (map resizes and overlay mode changes) as its nodes stand: phase, counts, the nodes in progress and
   * those that failed (which pause it). Events mark the phase changes.
   */
  private rolloutStatus(config: Config, governed: readonly string[], generation: number): { status: Record<string, unknown>; condition: Condition } {
    const states = governed.map((n) => ({ node: n, ...(this.book.rollout.get(n) ?? { state: 'updated' as NodeState, reason: undefined }) }));
    const failed = states.filter((s) => s.state === 'failed').map((s) => ({ node: s.node, reason: s.reason ?? '' }));
    const inProgress = states.filter((s) => s.state === 'in-progress').map((s) => s.node);
    const pending = states.filter((s) => s.state === 'pending').length;
    const updated = states.filter((s) => s.state === 'updated').length;
    const prev = config.status?.rollout?.phase;
    // Complete once anything rolled out (a resize, which leaves its gate's revision, or an overlay mode change).
    const touched = (prev !== undefined && prev !== 'Idle') || governed.some((n) => (this.book.gateOf(n, this.c.nodeDatapaths.get(n))?.revision ?? 0) > 0);
    const phase = failed.length ? 'Paused' : inProgress.length + pending ? 'Progressing' : touched ? 'Complete' : 'Idle';
    const ref = configRef(config);
    if (phase !== prev) {
      if (phase === 'Progressing' && prev !== 'Paused') this.events.emit(ref, 'Normal', 'RolloutStarted', `rolling out to ${inProgress.length + pending} node(s), ${slots(config.spec.rollout?.maxUnavailable, governed.length)} at a time`);
      if (phase === 'Progressing' && prev === 'Paused') this.events.emit(ref, 'Normal', 'RolloutResumed', `${inProgress.length + pending} node(s) to go`);
      if (phase === 'Paused') this.events.emit(ref, 'Warning', 'RolloutPaused', failed.map((f) => `${f.node}: ${f.reason}`).join('; '));
      if (phase === 'Complete') this.events.emit(ref, 'Normal', 'RolloutComplete', `every node updated (${updated})`);
    }
    return {
      status: { targetRevision: generation, phase, nodesUpdated: updated, nodesPending: pending + inProgress.length, nodesFailed: failed, inProgress },
      condition: condition(
        config.status?.conditions ?? [],
        'RolloutPaused',
        failed.length ? 'True' : 'False',
        failed.length ? 'NodeFailed' : 'NoFailure',
        failed.length ? failed.map((f) => `node ${f.node}: ${f.reason}; it keeps its old maps; edit the config to retry or supersede`).join('; ') : 'no node failed to resize',
        generation,
      ),
    };
  }
}
