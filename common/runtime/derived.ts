/** Anything that reports changes, such as a ResilientInformer. */
export interface ChangeSource {
  onEvent(handler: () => void): void;
}

/**
 * A value computed from informer caches, kept until one of its sources changes. Cluster-wide
 * inputs (every Service, every policy) are then derived once per change, not once per node.
 */
export class Derived<T> {
  private cached: { value: T } | undefined;

  constructor(
    private readonly compute: () => T,
    sources: readonly ChangeSource[],
  ) {
    for (const s of sources) s.onEvent(() => this.invalidate());
  }

  get(): T {
    this.cached ??= { value: this.compute() };
    return this.cached.value;
  }

  invalidate(): void {
    this.cached = undefined;
  }
}
