// "Our last write vs the cache": a controller that writes an object sees its own write in the
// informer only after the watch delivers it. Until then, the record of what it wrote is the
// truth; once the cache holds that revision or a later one, the cache is.

export interface Written {
  revision: number;
}

export class LastWrites<W extends Written> {
  private readonly byKey = new Map<string, W>();

  record(key: string, w: W): void {
    this.byKey.set(key, w);
  }

  /** Our record while the cache lags it (cached revision not newer), else undefined. */
  ahead(key: string, cachedRevision: number | undefined): W | undefined {
    const mine = this.byKey.get(key);
    return mine && mine.revision >= (cachedRevision ?? 0) ? mine : undefined;
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }
}
