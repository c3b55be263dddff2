import { decide, slots, type MapSize, type NodeView } from './gate.js';

const small: MapSize[] = [{ name: 'ct_tcp', maxEntries: 1024 }];
const big: MapSize[] = [{ name: 'ct_tcp', maxEntries: 4096 }];
const policy = { drainTimeoutSeconds: 30, nodeTimeoutSeconds: 600 };
const now = new Date('2026-11-24T12:00:00Z');
const yes = () => true;
const no = () => false;
const view = (v: Partial<NodeView>): NodeView => ({ maps: small, programmed: true, ...v });

describe('resize gate decisions', () => {
  it('sizes a node that never ran at once, with no gate', () => {
    expect(decide(big, undefined, policy, no, now)).toEqual({ maps: big, gate: undefined, state: 'updated' });
    expect(decide(big, view({ programmed: false }), policy, no, now).maps).toEqual(big);
  });

  it('keeps the old sizes until the node is admitted, then opens the gate with the new sizes', () => {
    expect(decide(big, view({}), policy, no, now)).toMatchObject({ maps: small, state: 'pending' });
    expect(decide(big, view({ gate: { revision: 3, open: false } }), policy, yes, now)).toEqual({
      maps: big,
      gate: { revision: 4, open: true, drainTimeoutSeconds: 30, openedAt: now.toISOString() },
      state: 'in-progress',
    });
  });

  it('closes the gate once the agent answers Done for its revision, and reports the completion', () => {
    const d = decide(big, view({ maps: big, gate: { revision: 4, open: true }, answer: { revision: 4, phase: 'Done', message: 'ok' } }), policy, no, now);
    expect(d).toMatchObject({ maps: big, gate: { revision: 4, open: false }, state: 'updated', completed: { revision: 4, message: 'ok' } });
  });

  it('does not take an answer for an older revision as done', () => {
    const d = decide(big, view({ maps: big, gate: { revision: 5, open: true, openedAt: now.toISOString() }, answer: { revision: 4, phase: 'Done' } }), policy, no, now);
    expect(d.state).toBe('in-progress');
  });

  it('marks a refused or failed node failed, keeping its slot, until the config changes', () => {
    const refused = view({ maps: small, gate: { revision: 4, open: true }, answer: { revision: 4, phase: 'Refused', message: '900 live entries do not fit' } });
    expect(decide(small, refused, policy, no, now)).toMatchObject({ state: 'failed', reason: 'refused: 900 live entries do not fit' });
    // A new target (config edited) supersedes it with a new revision.
    expect(decide(big, refused, policy, no, now)).toMatchObject({ maps: big, gate: { revision: 5, open: true }, state: 'in-progress' });
  });

  it('times out a node that does not answer, and keeps the gate open so it can still finish', () => {
    const opened = new Date(now.getTime() - 700_000).toISOString();
    const d = decide(big, view({ maps: big, gate: { revision: 4, open: true, openedAt: opened } }), policy, no, now);
    expect(d.state).toBe('failed');
    expect(d.gate?.open).toBe(true);
    expect(d.reason).toMatch(/no answer after 700 s/);
  });

  it('turns maxUnavailable into a node count', () => {
    expect(slots(undefined, 10)).toBe(1);
    expect(slots(2, 10)).toBe(2);
    expect(slots('25%', 10)).toBe(2);
    expect(slots('10%', 3)).toBe(1);
  });
});
