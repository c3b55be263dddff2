import { decideOverlay, switchingOverlay } from './overlay.js';

describe('the overlay mode rollout', () => {
  const never = () => false;
  const always = () => true;

  it('starts a new node, or one whose agent never ran, in the target mode', () => {
    expect(decideOverlay('vxlan', undefined, never)).toEqual({ mode: 'vxlan', state: 'updated' });
    expect(decideOverlay('vxlan', { spec: 'none', programmed: false }, never)).toEqual({ mode: 'vxlan', state: 'updated' });
  });

  it('keeps a running node in its mode until it is admitted', () => {
    expect(decideOverlay('vxlan', { spec: 'none', reported: 'none', programmed: true }, never)).toEqual({ mode: 'none', state: 'pending' });
    expect(decideOverlay('vxlan', { spec: 'none', reported: 'none', programmed: true }, always)).toEqual({ mode: 'vxlan', state: 'in-progress' });
  });

  it('holds the slot until the agent reports the new mode, then frees it', () => {
    const switching = { spec: 'vxlan' as const, reported: 'none' as const, programmed: true };
    expect(decideOverlay('vxlan', switching, never)).toEqual({ mode: 'vxlan', state: 'in-progress' });
    expect(switchingOverlay(switching)).toBe(true);
    const done = { spec: 'vxlan' as const, reported: 'vxlan' as const, programmed: true };
    expect(decideOverlay('vxlan', done, never)).toEqual({ mode: 'vxlan', state: 'updated' });
    expect(switchingOverlay(done)).toBe(false);
  });

  it('turns back at once when the target returns to what the node runs', () => {
    // Admitted to vxlan, not applied yet, and the config goes back: no new slot needed.
    expect(decideOverlay('none', { spec: 'vxlan', reported: 'none', programmed: true }, never)).toEqual({ mode: 'none', state: 'updated' });
    // Applied, then the config goes back: a change like any other.
    expect(decideOverlay('none', { spec: 'vxlan', reported: 'vxlan', programmed: true }, never)).toEqual({ mode: 'vxlan', state: 'pending' });
  });

  it('fails a node that does not report the mode within the node timeout, and recovers it when it does', () => {
    const stuck = { spec: 'vxlan' as const, reported: 'none' as const, programmed: true, switchingSince: 0 };
    expect(decideOverlay('vxlan', stuck, never, 599_000, 600)).toEqual({ mode: 'vxlan', state: 'in-progress' });
    expect(decideOverlay('vxlan', stuck, never, 601_000, 600)).toMatchObject({ mode: 'vxlan', state: 'failed', reason: expect.stringContaining('not reported after 601 s') });
    expect(decideOverlay('vxlan', { ...stuck, reported: 'vxlan' }, never, 700_000, 600)).toEqual({ mode: 'vxlan', state: 'updated' });
  });
});
