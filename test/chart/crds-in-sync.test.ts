// The chart ships the CRDs in charts/weir/crds/ (Helm installs them before templates); they
// must stay byte-identical to crds/, which everything else applies.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.js';

describe('chart CRDs', () => {
  const src = join(repoRoot, 'crds');
  const chart = join(repoRoot, 'charts', 'weir', 'crds');

  it('are the same files as crds/ (copy them over after a CRD change)', () => {
    expect(readdirSync(chart).sort()).toEqual(readdirSync(src).sort());
    for (const f of readdirSync(src)) expect({ file: f, same: readFileSync(join(chart, f)).equals(readFileSync(join(src, f))) }).toEqual({ file: f, same: true });
  });
});
