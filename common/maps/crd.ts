// The map catalogue as DatapathConfig's CRD states it: each spec.mapSizing field's description
// (crds/datapathconfig.yaml holds these words; crd.test.ts checks them).
import { CATALOGUE, governed, type SizingName } from './catalogue.js';
import { isSized } from './spec.js';

export function sizingFieldDescription(name: SizingName): string {
  const e = CATALOGUE[name];
  const clamps = governed(name)
    .filter(isSized)
    .filter((m) => m.size.clamp !== undefined)
    .map((m) => `${m.name} at most ${m.size.clamp}`);
  return `Entries for ${e.description} (${governed(name).map((m) => m.name).join(', ')}${clamps.length ? `; ${clamps.join(', ')}` : ''}). Default ${e.default}.`;
}
