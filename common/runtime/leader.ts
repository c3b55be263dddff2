// Lease-based leader election (coordination.k8s.io/v1), after client-go's leaderelection: a
// candidate takes the Lease when its holder has not renewed within leaseDuration, measured on
// this process's own clock from when it last saw the record change (no trust in peers' clocks);
// the leader renews every retryPeriod and gives up leading if it cannot renew within renewDeadline.
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { apiStatus } from '../kube.js';
import type { Logger } from '../log.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** On shutdown, hand the Lease back so another replica takes over at once (default true). */
  releaseOnCancel?: boolean;
}

export interface LeaderCallbacks {
  /** Runs while leading; `signal` aborts when leadership ends. */
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

// Lease times are MicroTime: the API server refuses the millisecond ISO form a Date produces.
const microTime = (d: Date | string | undefined): V1MicroTime | undefined =>
  d === undefined ? undefined : new V1MicroTime(new Date(d).getTime());

export class LeaderElector {
  private observedRecord = '';
  private observedAt = 0;
  private leading = false;

  constructor(
    private readonly api: CoordinationV1Api,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    if (opts.renewDeadlineMs >= opts.leaseDurationMs) throw new Error('leader election: renewDeadline must be less than leaseDuration');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, leads until the lease is lost or `signal` aborts, then returns.
   * A replica that lost its lease must not lead again in this process: callers exit.
   */
  async run(signal: AbortSignal, cb: LeaderCallbacks): Promise<void> {
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew(cb)) break;
      await sleep(this.opts.retryPeriodMs, signal);
    }
    if (signal.aborted) return;

    this.leading = true;
    this.log.info({ lease: this.leaseRef(), identity: this.opts.identity }, 'became leader');
    const leading = new AbortController();
    cb.onStartedLeading(leading.signal);

    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(this.opts.retryPeriodMs, signal);
      if (signal.aborted) break;
      if (await this.tryAcquireOrRenew(cb)) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.opts.renewDeadlineMs) {
        this.log.error({ lease: this.leaseRef() }, 'failed to renew lease within the renew deadline; stepping down');
        break;
      }
    }
    this.leading = false;
    leading.abort();
    if (signal.aborted && (this.opts.releaseOnCancel ?? true)) await this.release();
    cb.onStoppedLeading();
  }

  private leaseRef(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }

  private async tryAcquireOrRenew(cb: LeaderCallbacks): Promise<boolean> {
    const now = new V1MicroTime();
    const { namespace, name, identity } = this.opts;
    let current: V1Lease;
    try {
      current = await this.api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if (apiStatus(e) !== 404) {
        this.log.warn({ err: e, lease: this.leaseRef() }, 'reading lease failed');
        return false;
      }
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        this.observe(`${identity}@${now.toISOString()}`);
        return true;
      } catch (ce) {
        if (apiStatus(ce) !== 409) this.log.warn({ err: ce, lease: this.leaseRef() }, 'creating lease failed');
        return false;
      }
    }

    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}@${spec.renewTime ? new Date(spec.renewTime).toISOString() : ''}`;
    if (record !== this.observedRecord) {
      this.observe(record);
      if (holder && holder !== identity) cb.onNewLeader?.(holder);
    }
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && this.observedAt + durationMs > Date.now()) return false;

    const changingHands = holder !== identity;
    try {
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...current,
          spec: {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
            renewTime: now,
            acquireTime: changingHands ? now : microTime(spec.acquireTime),
            leaseTransitions: (spec.leaseTransitions ?? 0) + (changingHands && holder !== '' ? 1 : 0),
          },
        },
      });
      this.observe(`${identity}@${now.toISOString()}`);
      return true;
    } catch (e) {
      // 409: someone else wrote the Lease since we read it (resourceVersion mismatch): they won.
      if (apiStatus(e) !== 409) this.log.warn({ err: e, lease: this.leaseRef() }, 'updating lease failed');
      return false;
    }
  }

  private observe(record: string): void {
    this.observedRecord = record;
    this.observedAt = Date.now();
  }

  /** Empties the holder so the next candidate need not wait out the lease. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    try {
      const current = await this.api.readNamespacedLease({ name, namespace });
      if (current.spec?.holderIdentity !== identity) return;
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...current,
          spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(), acquireTime: microTime(current.spec?.acquireTime) },
        },
      });
      this.log.info({ lease: this.leaseRef() }, 'released lease');
    } catch (e) {
      this.log.warn({ err: e, lease: this.leaseRef() }, 'releasing lease failed; the next leader waits out the lease');
    }
  }
}
