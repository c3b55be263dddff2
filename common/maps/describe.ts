// The map catalogue in words: each spec.mapSizing field's description in the CRD
// (crds/datapathconfig.yaml; api/v1alpha1/crd.test.ts checks it) and the table of docs/maps.md
// (checked by describe.test.ts).
import { CATALOGUE, DEMAND_DESCRIPTION, governed, SIZING_NAMES, type SizingName } from './catalogue.js';
import { ALL_MAPS } from './index.js';
import { isSized } from './spec.js';

export function sizingFieldDescription(name: SizingName): string {
  const e = CATALOGUE[name];
  const clamps = governed(name)
    .filter(isSized)
    .filter((m) => m.size.clamp !== undefined)
    .map((m) => `${m.name} at most ${m.size.clamp}`);
  return `Entries for ${e.description} (${governed(name).map((m) => m.name).join(', ')}${clamps.length ? `; ${clamps.join(', ')}` : ''}). Default ${e.default}.`;
}

/** docs/maps.md's table: each size, its field, bounds and default, and the kernel maps it governs. */
export function catalogueMarkdown(): string {
  const rows = SIZING_NAMES.map((n) => {
    const e = CATALOGUE[n];
    const maps = governed(n)
      .filter(isSized)
      .map((m) => `\`${m.name}\`${m.size.clamp !== undefined ? ` (at most ${m.size.clamp})` : ''}${m.size.holds ? `: ${DEMAND_DESCRIPTION[m.size.holds]}` : ''}`)
      .join('<br>');
    return `| \`${e.field}\` | ${e.description} | ${e.default} | ${e.min}–${e.max} | ${e.dynamicMin !== undefined ? `yes (≥ ${e.dynamicMin})` : 'no'} | ${maps} |`;
  });
  const fixed = ALL_MAPS.filter((m) => !isSized(m)).map((m) => `\`${m.name}\` (${(m.size as { fixed: number }).fixed})`);
  return [
    '| field | what | default | bounds | dynamic | kernel maps (clamp: demand checked) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `Fixed sizes: ${fixed.join(', ')}.`,
  ].join('\n');
}
