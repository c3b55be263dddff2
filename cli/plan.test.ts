import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../sandbox/paths.js';
import { formatPlan, planFromDescription } from './plan.js';

describe('weir plan from a description', () => {
  it('sizes each node type from its memory and checks the LB formula against it', () => {
    const rows = planFromDescription(readFileSync(join(repoRoot, 'docs', 'examples', 'plan.yaml'), 'utf8'));
    const lb = rows.filter((r) => r.map === 'lb');
    // 800 x 2 x 12 + 50 x 1 x 200 = 29,200 entries.
    expect(lb.map((r) => r.demand)).toEqual([29_200, 29_200]);
    expect(lb.every((r) => r.verdict === 'ok')).toBe(true);
    const ct = rows.filter((r) => r.map === 'ct_tcp');
    expect(ct[1]?.maxEntries).toBeGreaterThan(ct[0]?.maxEntries ?? Infinity);
    expect(formatPlan(rows)).toContain('large (x5)');
  });

  it('names the map that would overflow and the field to raise', () => {
    const rows = planFromDescription('mapSizing: {lbMax: 1000}\nnodes: [{name: n, memory: 4Gi}]\nservices: [{count: 100, ports: 2, backends: 10}]\n');
    expect(rows.find((r) => r.map === 'lb')?.verdict).toBe('lb needs 2000 entries (service backends × ports) but holds 1000; raise spec.mapSizing.lbMax');
  });

  it('refuses a bad description with the field named', () => {
    expect(() => planFromDescription('nodes: []')).toThrow('nodes: describe at least one node type');
    expect(() => planFromDescription('nodes: [{name: n}]')).toThrow('nodes.0.memory');
  });

  it('takes spec.mapSizing as the CRD does: catalogue fields within their bounds, nothing else', () => {
    expect(() => planFromDescription('mapSizing: {neighMax: 4096}\nnodes: [{name: n, memory: 8Gi}]')).toThrow('mapSizing: Unrecognized key: "neighMax"');
    expect(() => planFromDescription('mapSizing: {ctTCPMax: 10}\nnodes: [{name: n, memory: 8Gi}]')).toThrow('mapSizing.ctTCPMax');
    expect(planFromDescription('mapSizing: {fragMax: 100}\nnodes: [{name: n, memory: 8Gi}]').find((r) => r.map === 'frag')).toMatchObject({ maxEntries: 100, source: 'explicit' });
  });
});
