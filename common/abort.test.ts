import { untilAborted } from './abort.js';

describe('untilAborted', () => {
  it('resolves on abort, and at once for a signal that already aborted', async () => {
    const ctl = new AbortController();
    let done = false;
    const p = untilAborted(ctl.signal).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    ctl.abort();
    await p;
    expect(done).toBe(true);
    await expect(untilAborted(ctl.signal)).resolves.toBeUndefined();
  });
});
