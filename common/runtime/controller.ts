// A level-based controller: workers take keys from a WorkQueue and call reconcile(key), which
// reads the current state itself (from caches) and converges it. The outcome decides what
// happens to the key: done, requeue after a delay, or an error retried with backoff.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { WorkQueue, type RateLimit } from './queue.js';

export type ReconcileResult = { requeueAfterMs?: number } | void;
export type ReconcileFn = (key: string, signal: AbortSignal) => Promise<ReconcileResult>;

export interface ControllerMetrics {
  reconciles: Counter<'controller' | 'result'>;
  depth: Gauge<'controller'>;
  duration: Histogram<'controller'>;
}

/** One set of metrics per process, labelled by controller. */
export function controllerMetrics(registry: Registry): ControllerMetrics {
  return {
    reconciles: new Counter({
      name: 'weir_controller_reconcile_total',
      help: 'Reconciles by controller and result (success, requeue, error).',
      labelNames: ['controller', 'result'],
      registers: [registry],
    }),
    depth: new Gauge({
      name: 'weir_controller_queue_depth',
      help: 'Keys waiting in the controller work queue.',
      labelNames: ['controller'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'weir_controller_reconcile_duration_seconds',
      help: 'Time spent in one reconcile.',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
  };
}

export class Controller {
  readonly queue: WorkQueue;

  constructor(
    readonly name: string,
    private readonly reconcile: ReconcileFn,
    private readonly log: Logger,
    private readonly metrics?: ControllerMetrics,
    rate?: RateLimit,
  ) {
    this.queue = new WorkQueue(rate);
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.metrics?.depth.set({ controller: this.name }, this.queue.length);
  }

  /** Runs `workers` loops until `signal` aborts; resolves when all have stopped. */
  async run(workers: number, signal: AbortSignal): Promise<void> {
    const stop = (): void => this.queue.shutDown();
    signal.addEventListener('abort', stop, { once: true });
    await Promise.all(Array.from({ length: workers }, () => this.worker(signal)));
    signal.removeEventListener('abort', stop);
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.metrics?.depth.set({ controller: this.name }, this.queue.length);
      const end = this.metrics?.duration.startTimer({ controller: this.name });
      try {
        const r = await this.reconcile(key, signal);
        this.queue.forget(key);
        if (r && r.requeueAfterMs !== undefined) {
          this.queue.addAfter(key, r.requeueAfterMs);
          this.metrics?.reconciles.inc({ controller: this.name, result: 'requeue' });
        } else {
          this.metrics?.reconciles.inc({ controller: this.name, result: 'success' });
        }
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        this.metrics?.reconciles.inc({ controller: this.name, result: 'error' });
        this.log.warn({ err, controller: this.name, key, retryInMs: delay }, 'reconcile failed');
      } finally {
        end?.();
        this.queue.done(key);
      }
    }
  }
}
