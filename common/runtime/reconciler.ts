// A reconciler: one resource's level-based reconcile, with the watches that queue its keys
// declared beside it. The process that hosts several gives each a Controller (controller.ts).
import type { ReconcileResult } from './controller.js';

/** Enqueue functions by controller name: how a watch (or another controller) asks for a reconcile. */
export type Queues<Name extends string> = Record<Name, (key: string) => void>;

export interface Reconciler<Name extends string = string> {
  readonly name: Name;
  /** Worker loops; reconciles of one key never overlap. */
  readonly workers: number;
  /** Registers the informer handlers that queue this controller's keys. */
  watch(queues: Queues<Name>): void;
  reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult>;
}
