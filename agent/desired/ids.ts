// Small stable numberings the maps need (backend ids, reverse-NAT indices): a key keeps its
// number while it exists, so map entries are updated in place rather than renumbered, and the
// numbering is rebuilt from the pinned maps after an agent restart.

export class IdAllocator {
  private readonly byKey = new Map<string, number>();
  private readonly byId = new Map<number, string>();
  private next: number;

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.next = min;
  }

  /** Records a numbering found in the kernel. */
  restore(key: string, id: number): void {
    if (id < this.min || id > this.max || this.byId.has(id) || this.byKey.has(key)) return;
    this.byKey.set(key, id);
    this.byId.set(id, key);
  }

  get(key: string): number {
    const have = this.byKey.get(key);
    if (have !== undefined) return have;
    const span = this.max - this.min + 1;
    for (let i = 0; i < span; i++) {
      const id = this.min + ((this.next - this.min + i) % span);
      if (!this.byId.has(id)) {
        this.byKey.set(key, id);
        this.byId.set(id, key);
        this.next = id + 1 > this.max ? this.min : id + 1;
        return id;
      }
    }
    throw new Error(`no free id in ${this.min}-${this.max} (${this.byKey.size} in use)`);
  }

  /** Forgets every key not in `live`, so their numbers can be reused later. */
  retain(live: ReadonlySet<string>): void {
    for (const [key, id] of this.byKey)
      if (!live.has(key)) {
        this.byKey.delete(key);
        this.byId.delete(id);
      }
  }

  get size(): number {
    return this.byKey.size;
  }
}
