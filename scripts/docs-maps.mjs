// Rewrites the catalogue table of docs/maps.md from the built code (npm run docs:maps).
import { readFileSync, writeFileSync } from 'node:fs';
import { catalogueMarkdown } from '../dist/common/maps/describe.js';

const path = new globalThis.URL('../docs/maps.md', import.meta.url);
const doc = readFileSync(path, 'utf8');
const open = '<!-- catalogue -->\n';
const close = '\n<!-- /catalogue -->';
const start = doc.indexOf(open);
const end = doc.indexOf(close);
if (start < 0 || end < 0) throw new Error('docs/maps.md has no <!-- catalogue --> markers');
writeFileSync(path, doc.slice(0, start + open.length) + catalogueMarkdown() + doc.slice(end));
