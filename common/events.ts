// Kubernetes Events (core/v1) for notable changes, so `kubectl describe` shows them. The same
// event for the same object is not repeated within the dedup window.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from './log.js';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly component: string,
    private readonly log: Logger,
    private readonly dedupMs = 10 * 60_000,
  ) {}

  /** Fire and forget: an event that cannot be written is logged, never fatal. */
  emit(obj: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const key = `${obj.kind}/${obj.namespace ?? ''}/${obj.name}/${reason}/${message}`;
    const now = Date.now();
    if ((this.recent.get(key) ?? 0) > now - this.dedupMs) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) for (const [k, t] of this.recent) if (t <= now - this.dedupMs) this.recent.delete(k);
    const namespace = obj.namespace ?? 'default';
    const time = new Date();
    this.core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${obj.name}.`, namespace },
          involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.name, namespace: obj.namespace, uid: obj.uid },
          type,
          reason,
          message,
          source: { component: this.component },
          reportingComponent: this.component,
          reportingInstance: this.component,
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
        },
      })
      .catch((err: unknown) => this.log.warn({ err, reason, object: key }, 'could not record event'));
  }
}
