import { Derived, type ChangeSource } from './derived.js';

class Source implements ChangeSource {
  private readonly handlers: Array<() => void> = [];
  onEvent(h: () => void): void {
    this.handlers.push(h);
  }
  fire(): void {
    for (const h of this.handlers) h();
  }
}

describe('Derived', () => {
  it('computes once until a source changes', () => {
    const a = new Source();
    const b = new Source();
    let runs = 0;
    const d = new Derived(() => ++runs, [a, b]);
    expect([d.get(), d.get()]).toEqual([1, 1]);
    a.fire();
    expect(d.get()).toBe(2);
    b.fire();
    d.invalidate();
    expect([d.get(), d.get()]).toEqual([3, 3]);
  });
});
