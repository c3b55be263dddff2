import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../test/harness/paths.js';
import { catalogueMarkdown } from './describe.js';

describe('docs/maps.md', () => {
  it('holds the catalogue as the code states it (regenerate: npm run docs:maps)', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'maps.md'), 'utf8');
    const start = doc.indexOf('<!-- catalogue -->\n') + '<!-- catalogue -->\n'.length;
    const end = doc.indexOf('\n<!-- /catalogue -->');
    expect(doc.slice(start, end)).toBe(catalogueMarkdown());
  });
});
