// Every repository path a document names exists: a doc that points at a moved or deleted file
// misleads the reader who follows it. Paths are read where the docs write them: in backticks
// starting with a top-level folder of this repository, and relative Markdown links.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../sandbox/paths.js';

const DOCS = ['README.md', 'bench/README.md', 'libbpfjs/README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const TOP = ['api', 'operator', 'agent', 'common', 'bpf', 'libbpfjs', 'cni', 'crds', 'charts', 'cli', 'sandbox', 'test', 'bench', 'docs', 'scripts', 'vm'];
/** Named on purpose though not in the tree: made at run time, or another project's path. */
const NOT_IN_TREE = new Map([
  ['bench/results/', 'the benchmarks write their records there (git ignores them)'],
  ['test/e2e/network/netpol', "Kubernetes' own netpol e2e suite, which the upstream cases come from"],
]);

function named(doc: string): string[] {
  const text = readFileSync(join(repoRoot, doc), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(new RegExp(`\`((?:${TOP.join('|')})/[^\`\\s]*)\``, 'g'))) {
    const p = m[1].replace(/[:#].*$/, '').replace(/[.,;)]+$/, '');
    // Patterns and placeholders (`*.priv.test.ts`, `links/<name>`) name no one file.
    if (!/[*<>{}$]|\.\.\./.test(p)) out.push(p);
  }
  for (const m of text.matchAll(/\]\(([^)#\s]+)/g)) if (!/^[a-z]+:/.test(m[1])) out.push(join(dirname(doc), m[1]));
  return out;
}

describe('the docs', () => {
  it.each(DOCS.filter((d) => existsSync(join(repoRoot, d))))('%s names only paths that exist', (doc) => {
    expect(named(doc).filter((p) => !NOT_IN_TREE.has(p) && !existsSync(join(repoRoot, p)))).toEqual([]);
  });
});
