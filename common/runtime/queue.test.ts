import { jest } from '@jest/globals';
import { WorkQueue } from './queue.js';

describe('WorkQueue', () => {
  it('holds a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands the same key to two workers, and reruns it if added while processing', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    q.add('a'); // changed while being reconciled
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((x) => (second = x));
    const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
    await settle();
    expect(second).toBeUndefined();
    q.done(k!);
    await settle();
    expect(second).toBe('a');
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('x');
    await expect(next).resolves.toBe('x');
  });

  it('backs off exponentially per key and forgets on success', () => {
    jest.useFakeTimers();
    try {
      const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
      expect([q.addRateLimited('k'), q.addRateLimited('k'), q.addRateLimited('k'), q.addRateLimited('k')]).toEqual([10, 20, 40, 50]);
      expect(q.failuresOf('k')).toBe(4);
      expect(q.length).toBe(0);
      jest.advanceTimersByTime(10);
      expect(q.length).toBe(1); // the earliest pending add wins
      q.forget('k');
      expect(q.failuresOf('k')).toBe(0);
      expect(q.addRateLimited('k')).toBe(10);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps the earliest of several delayed adds', () => {
    jest.useFakeTimers();
    try {
      const q = new WorkQueue();
      q.addAfter('k', 1000);
      q.addAfter('k', 100);
      q.addAfter('k', 5000);
      jest.advanceTimersByTime(100);
      expect(q.length).toBe(1);
      jest.advanceTimersByTime(5000);
      expect(q.length).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('releases waiting workers on shutdown and ignores later adds', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    await expect(waiting).resolves.toBeUndefined();
    q.add('late');
    expect(q.length).toBe(0);
    await expect(q.get()).resolves.toBeUndefined();
  });
});
