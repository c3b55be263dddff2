import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastRun, sameMachine, withChange, type Machine, type SavedRun } from './history.js';

const here: Machine = { kernel: '6.18.44', cpus: 2, cpuModel: 'Xeon', memoryBytes: 24 * 2 ** 30, node: 'v20.19.0' };
const run = (at: string, rows: SavedRun['rows'], machine = here): SavedRun => ({ name: 'datapath', at, commit: 'abc', machine, rows });

describe('bench history', () => {
  it('compares a figure with the same row of the earlier run: text columns and the named number columns name the row', () => {
    const before = run('2026-12-01T00:00:00Z', [
      { entries: 10, path: 'established', 'ns/packet': 300 },
      { entries: 100000, path: 'established', 'ns/packet': 320 },
    ]);
    const now = withChange(
      [
        { entries: 10, path: 'established', 'ns/packet': 150 },
        { entries: 100000, path: 'established', 'ns/packet': 320 },
        { entries: 1000000, path: 'established', 'ns/packet': 330 },
      ],
      before,
      ['entries'],
    );
    expect(now.map((r) => r['ns/packet Δ'])).toEqual(['-50%', '=', 'new']);
    // A key column gets no change of its own.
    expect(now[0]).not.toHaveProperty('entries Δ');
  });

  it('says nothing of change when there is no earlier run', () => {
    expect(withChange([{ path: 'x', ns: 1 }], undefined, [])).toEqual([{ path: 'x', ns: 1 }]);
  });

  it('takes the newest earlier run of the same benchmark on the same machine, never one from another machine or kernel', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-bench-history-'));
    try {
      const save = (file: string, r: SavedRun) => writeFileSync(join(dir, file), JSON.stringify(r));
      save('datapath-a.json', run('2026-12-01T00:00:00Z', []));
      save('datapath-b.json', run('2026-12-03T00:00:00Z', []));
      save('datapath-c.json', run('2026-12-05T00:00:00Z', [], { ...here, kernel: '6.1.0' }));
      save('datapath-d.json', run('2026-12-06T00:00:00Z', [], { ...here, cpus: 8 }));
      save('services-e.json', { ...run('2026-12-07T00:00:00Z', []), name: 'services' });
      writeFileSync(join(dir, 'datapath-broken.json'), '{');
      expect(lastRun(dir, 'datapath', here)?.at).toBe('2026-12-03T00:00:00Z');
      expect(lastRun(dir, 'overlay', here)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts a different Node version as the same machine', () => {
    expect(sameMachine(here, { ...here, node: 'v20.20.0' })).toBe(true);
    expect(sameMachine(here, { ...here, memoryBytes: 8 * 2 ** 30 })).toBe(false);
  });
});
