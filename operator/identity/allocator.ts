// Identity allocation against the API: an Identity object per distinct security label set,
// named by its number. The objects are the source of truth, so numbers survive operator
// restarts; creation races between replicas resolve through the API's name uniqueness (409).
import { IdentityResource, identityKey, type Identity, type Labels } from '../../api/v1alpha1/index.js';
import type { WeirApi } from '../../common/weirapi.js';
import { apiStatus } from '../../common/kube.js';
import type { Logger } from '../../common/log.js';
import { nextFreeIdentity } from './allocate.js';

/** An Identity as the cache holds it. */
export type IdentityObject = Identity;

export class IdentityAllocator {
  /** Allocations not yet seen in the cache (the watch lags the create). */
  private readonly pending = new Map<string, { id: number; labels: Labels }>();
  /** Allocations under way, by label key: concurrent callers for one label set share one. */
  private readonly inflight = new Map<string, Promise<number>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly api: WeirApi,
    private readonly cached: () => ReadonlyArray<IdentityObject>,
    private readonly log: Logger,
  ) {}

  /** Built from the cache and pending allocations; dropped whenever either changes. */
  private index: { all: Map<number, Labels>; byKey: Map<string, number> } | undefined;

  /** The identity cache changed: the next lookup rebuilds the index. */
  invalidate(): void {
    this.index = undefined;
  }

  private built(): { all: Map<number, Labels>; byKey: Map<string, number> } {
    if (this.index) return this.index;
    const all = new Map<number, Labels>();
    for (const o of this.cached()) if (o.spec && o.metadata?.name) all.set(Number(o.metadata.name), o.spec.labels);
    for (const { id, labels } of this.pending.values()) all.set(id, labels);
    const byKey = new Map<string, number>();
    for (const [id, labels] of all) {
      const k = identityKey(labels);
      const have = byKey.get(k);
      // Two objects for one label set (a lost race): the lower number wins everywhere.
      if (have === undefined || id < have) byKey.set(k, id);
    }
    this.index = { all, byKey };
    return this.index;
  }

  /** Every known identity: number -> security labels. */
  all(): ReadonlyMap<number, Labels> {
    return this.built().all;
  }

  /** The identity of a label set, if one was allocated. */
  lookup(labels: Labels): number | undefined {
    return this.built().byKey.get(identityKey(labels));
  }

  /** The identity of a label set, creating it when new. */
  async ensure(labels: Labels, namespace: string): Promise<number> {
    const key = identityKey(labels);
    const known = this.built().byKey.get(key);
    if (known !== undefined) return known;
    // One allocation at a time in this process: node reconciles run concurrently, and two that
    // picked the next free number from the same index would race each other for it (409s),
    // or create two identities for one label set.
    let p = this.inflight.get(key);
    if (!p) {
      p = this.serially(() => this.allocate(key, labels, namespace)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async allocate(key: string, labels: Labels, namespace: string): Promise<number> {
    // Another replica's allocation may have reached the cache while this one waited its turn.
    const known = this.built().byKey.get(key);
    if (known !== undefined) return known;
    const used = new Set(this.all().keys());
    let id = nextFreeIdentity(used);
    for (let attempt = 0; attempt < 32; attempt++) {
      try {
        await this.api.create(IdentityResource, { metadata: { name: String(id) }, spec: { namespace, labels } });
        this.pending.set(key, { id, labels });
        this.invalidate();
        this.log.info({ identity: id, labels }, 'allocated identity');
        return id;
      } catch (e) {
        if (apiStatus(e) !== 409) throw e;
        used.add(id);
        id = nextFreeIdentity(used, id + 1);
      }
    }
    throw new Error(`could not allocate an identity for ${key}: 32 numbers were taken concurrently`);
  }

  /** Drops pending entries the cache has caught up with. */
  settle(): void {
    const inCache = new Set(this.cached().map((o) => o.metadata?.name));
    // The cache holds these now, so the index stays as it is.
    for (const [k, p] of this.pending) if (inCache.has(String(p.id))) this.pending.delete(k);
  }

  /** Deletes identities no pod uses, once older than `graceMs` (a pod may be about to use a new one). */
  async collect(usedKeys: ReadonlySet<string>, graceMs: number): Promise<number[]> {
    const removed: number[] = [];
    for (const o of this.cached()) {
      if (!o.spec || !o.metadata?.name) continue;
      if (usedKeys.has(identityKey(o.spec.labels))) continue;
      const created = o.metadata.creationTimestamp ? new Date(o.metadata.creationTimestamp).getTime() : 0;
      if (Date.now() - created < graceMs) continue;
      await this.api.delete(IdentityResource, o.metadata.name);
      removed.push(Number(o.metadata.name));
    }
    if (removed.length > 0) this.log.info({ identities: removed }, 'collected unused identities');
    return removed;
  }
}
