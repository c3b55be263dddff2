// The identities controller: one key, the collection pass. Deletes Identity objects no pod has
// used for a grace period, then looks again after an interval.
import { identityKey } from '../../api/v1alpha1/index.js';
import type { ReconcileResult } from '../../common/runtime/controller.js';
import type { Queues, Reconciler } from '../../common/runtime/reconciler.js';
import type { OperatorCaches } from '../caches.js';
import type { IdentityAllocator } from '../identity/allocator.js';
import type { ControllerName } from './names.js';

export const COLLECT_KEY = 'unused';

export class IdentitiesReconciler implements Reconciler<ControllerName> {
  readonly name = 'identities';
  readonly workers = 1;

  constructor(
    private readonly c: OperatorCaches,
    private readonly allocator: IdentityAllocator,
    private readonly opts: { graceMs: number; intervalMs: number },
  ) {}

  watch(q: Queues<ControllerName>): void {
    // Every allocation or deletion changes what the allocator knows.
    this.c.identities.onEvent(() => this.allocator.invalidate());
    q.identities(COLLECT_KEY);
  }

  async reconcile(): Promise<ReconcileResult> {
    const used = new Set(this.c.pods.list().filter((p) => p.spec?.nodeName).map((p) => identityKey(this.c.podLabels(p))));
    await this.allocator.collect(used, this.opts.graceMs);
    return { requeueAfterMs: this.opts.intervalMs };
  }
}
