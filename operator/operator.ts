// The operator: caches over everything that shapes a node's datapath, and one controller per
// resource it reconciles (nodes, configs, policies, identities), each a level-based reconciler
// with its watches declared beside it (operator/controllers/).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { untilAborted } from '../common/abort.js';
import { EventRecorder } from '../common/events.js';
import type { Logger } from '../common/log.js';
import { Controller, controllerMetrics } from '../common/runtime/controller.js';
import type { Reconciler } from '../common/runtime/reconciler.js';
import { WeirApi } from '../common/weirapi.js';
import { OperatorCaches } from './caches.js';
import { ConfigsReconciler } from './controllers/configs.js';
import { IdentitiesReconciler } from './controllers/identities.js';
import type { ControllerName } from './controllers/names.js';
import { NodesReconciler, OPERATOR_FIELD_MANAGER } from './controllers/nodes.js';
import { PoliciesReconciler } from './controllers/policies.js';
import { EncryptionPlanner } from './encryption/planner.js';
import { IdentityAllocator } from './identity/allocator.js';
import { NodeBook } from './nodestate.js';

export interface OperatorOptions {
  /** Workers of the nodes controller (the others run one). */
  workers: number;
  identityGcGraceMs?: number;
  identityGcIntervalMs?: number;
}

export class Operator {
  private readonly caches: OperatorCaches;
  private readonly controllers: Array<{ ctl: Controller; workers: number }>;
  private readonly encryption: EncryptionPlanner;

  constructor(kc: KubeConfig, private readonly log: Logger, registry: Registry, opts: OperatorOptions) {
    const api = new WeirApi(kc);
    const events = new EventRecorder(kc.makeApiClient(CoreV1Api), OPERATOR_FIELD_MANAGER, log);
    const caches: OperatorCaches = new OperatorCaches(kc, log, () => allocator);
    const allocator = new IdentityAllocator(api, () => caches.identities.list(), log);
    const book = new NodeBook();
    this.caches = caches;
    // Filled once the controllers exist; the planner only enqueues after the operator runs.
    const queues = {} as Record<ControllerName, (key: string) => void>;
    // A key Secret or a peer changed: every node's encryption is recomputed.
    this.encryption = new EncryptionPlanner(caches, kc, log, () => caches.nodes.list().forEach((n) => queues.nodes(n.metadata!.name!)));
    const reconcilers: Array<Reconciler<ControllerName>> = [
      new NodesReconciler(caches, book, allocator, api, events, log, opts.workers, this.encryption),
      new ConfigsReconciler(caches, book, api, events),
      new PoliciesReconciler(caches, api, events),
      new IdentitiesReconciler(caches, allocator, { graceMs: opts.identityGcGraceMs ?? 5 * 60_000, intervalMs: opts.identityGcIntervalMs ?? 60_000 }),
    ];
    const metrics = controllerMetrics(registry);
    this.controllers = reconcilers.map((r) => ({ ctl: new Controller(r.name, (k, s) => r.reconcile(k, s), log, metrics), workers: r.workers }));
    Object.assign(queues, Object.fromEntries(this.controllers.map(({ ctl }) => [ctl.name, (key: string) => ctl.enqueue(key)])));
    for (const r of reconcilers) r.watch(queues);
  }

  get synced(): boolean {
    return this.caches.synced;
  }

  /** Runs until `signal` aborts (leadership lost or shutdown). */
  async run(signal: AbortSignal): Promise<void> {
    const informers = this.caches.all;
    await Promise.all(informers.map((i) => i.start()));
    // Acting on a cache that has not listed yet would write from a partial picture.
    await Promise.race([this.caches.waitForSync(), untilAborted(signal)]);
    try {
      if (signal.aborted) return;
      this.log.info('caches synced; starting controllers');
      await Promise.all(this.controllers.map(({ ctl, workers }) => ctl.run(workers, signal)));
    } finally {
      await Promise.all([...informers.map((i) => i.stop()), this.encryption.stop()]);
    }
  }
}
