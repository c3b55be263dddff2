// A resilient informer: client-node's ListWatch (list, then watch; a local cache of objects)
// restarted with backoff after errors, which it otherwise treats as final. Resumes from the last
// resourceVersion; a 410 Gone makes client-node relist, reporting deletions it missed.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ListPromise } from '@kubernetes/client-node';
import type { Logger } from './log.js';
import { fromWire, type ModelName } from './wire.js';

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler<T> = (event: InformerEvent, obj: T) => void;

export interface InformerOptions<T extends KubernetesObject> {
  /** Short name for logs and readiness, e.g. "pods". */
  name: string;
  /** Watch path, e.g. /api/v1/pods or /apis/weir.dev/v1alpha1/nodedatapaths. */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  /** e.g. metadata.name=node-1: one object (the list function must filter the same way). */
  fieldSelector?: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Applied to every object before it is cached; the default drops metadata.managedFields. */
  transform?: (obj: T) => T;
  /**
   * The client-node model `list` returns objects as (its typed list calls do; custom objects come
   * as plain JSON and need none). Watch events arrive as the API server's JSON and are converted
   * to it (common/wire.ts), so the cache holds one form.
   */
  model?: ModelName;
}

/**
 * The cache's default trim, as controller-runtime's TransformStripManagedFields: server-side
 * apply bookkeeping no controller here reads, about half of a cached Pod (50,000 pods: 200 MiB of
 * heap with it, 103 MiB without).
 */
export function stripManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

type WatchArgs = Parameters<Watch['watch']>;

/** A Watch whose objects pass through a transform before the cache sees them. */
class TransformingWatch<T extends KubernetesObject> extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly transform: (obj: T) => T,
  ) {
    super(kc);
  }

  override watch(path: string, queryParams: WatchArgs[1], callback: WatchArgs[2], done: WatchArgs[3]): Promise<AbortController> {
    // ERROR carries a Status, BOOKMARK only a resourceVersion: neither is cached.
    return super.watch(path, queryParams, (phase, obj: T, watchObj) => callback(phase, phase === 'ERROR' || phase === 'BOOKMARK' ? obj : this.transform(obj), watchObj), done);
  }
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly inner;
  private readonly handlers: Array<InformerHandler<T>> = [];
  private listed = false;
  private readonly syncWaiters: Array<() => void> = [];
  private failures = 0;
  private stopped = true;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    kc: KubeConfig,
    private readonly opts: InformerOptions<T>,
    private readonly log: Logger,
  ) {
    // The cache is filled synchronously right after the list resolves, so "listed" marks a
    // cache that holds a complete snapshot.
    const trim = opts.transform ?? stripManagedFields;
    const model = opts.model;
    const transform = model ? (obj: T): T => trim(fromWire<T>(obj, model)) : trim;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const r = await opts.list();
      r.items = r.items.map(trim);
      queueMicrotask(() => this.markListed());
      return r;
    };
    // ListWatch rather than makeInformer: only it passes a field selector to the watch.
    this.inner = new ListWatch<T>(opts.path, new TransformingWatch<T>(kc, transform), list, false, opts.labelSelector, opts.fieldSelector);
    const emit = (event: InformerEvent) => (obj: T) => {
      for (const h of this.handlers) h(event, obj);
    };
    this.inner.on('add', emit('add'));
    this.inner.on('update', emit('update'));
    this.inner.on('delete', emit('delete'));
    this.inner.on('connect', () => {
      this.failures = 0;
    });
    this.inner.on('error', (err: unknown) => this.restartLater(err));
  }

  /** Handlers see every add, update and delete, including the initial list's adds. */
  onEvent(h: InformerHandler<T>): void {
    this.handlers.push(h);
  }

  /** True once a list has landed in the cache: before that the cache must not be trusted. */
  get synced(): boolean {
    return this.listed;
  }

  /** Resolves once synced (or at once if already). */
  waitForSync(): Promise<void> {
    if (this.listed) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private markListed(): void {
    this.listed = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.inner.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.inner.list(namespace);
  }

  /** Starts listing and watching; a failure is retried in the background (see waitForSync). */
  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.inner.start();
    } catch (err) {
      this.restartLater(err);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.inner.stop();
  }

  private restartLater(err: unknown): void {
    if (this.stopped) return;
    const min = this.opts.minBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** this.failures++);
    this.log.warn({ err, informer: this.opts.name, retryInMs: delay }, 'watch failed; restarting');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      if (this.stopped) return;
      this.inner.start().catch((e: unknown) => this.restartLater(e));
    }, delay);
  }
}
