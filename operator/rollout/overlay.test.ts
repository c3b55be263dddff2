import { decideOverlay, receiversReady, switchingOverlay, tunnelWanted, type OverlayView } from './overlay.js';

describe('the overlay mode rollout', () => {
  const never = () => false;
  const always = () => true;
  /** Every node listens already. */
  const ready = { receive: true, receiversReady: true };
  const node = (v: Partial<OverlayView>): OverlayView => ({ spec: 'none', reported: 'none', receive: true, receiving: true, programmed: true, ...v });

  it('starts a new node, or one whose agent never ran, in the target mode', () => {
    expect(decideOverlay('vxlan', undefined, never, ready)).toEqual({ mode: 'vxlan', state: 'updated' });
    expect(decideOverlay('vxlan', node({ programmed: false, reported: undefined }), never, ready)).toEqual({ mode: 'vxlan', state: 'updated' });
  });

  it('keeps a running node in its mode until it is admitted', () => {
    expect(decideOverlay('vxlan', node({}), never, ready)).toEqual({ mode: 'none', state: 'pending' });
    expect(decideOverlay('vxlan', node({}), always, ready)).toEqual({ mode: 'vxlan', state: 'in-progress' });
  });

  it('holds the slot until the agent reports the new mode, then frees it', () => {
    const switching = node({ spec: 'vxlan', reported: 'none' });
    expect(decideOverlay('vxlan', switching, never, ready)).toEqual({ mode: 'vxlan', state: 'in-progress' });
    expect(switchingOverlay(switching)).toBe(true);
    const done = node({ spec: 'vxlan', reported: 'vxlan' });
    expect(decideOverlay('vxlan', done, never, ready)).toEqual({ mode: 'vxlan', state: 'updated' });
    expect(switchingOverlay(done)).toBe(false);
  });

  it('turns back at once when the target returns to what the node runs', () => {
    // Admitted to vxlan, not applied yet, and the config goes back: no new slot needed.
    expect(decideOverlay('none', node({ spec: 'vxlan', reported: 'none' }), never, ready)).toEqual({ mode: 'none', state: 'updated' });
    // Applied, then the config goes back: a change like any other.
    expect(decideOverlay('none', node({ spec: 'vxlan', reported: 'vxlan' }), never, ready)).toEqual({ mode: 'vxlan', state: 'pending' });
  });

  it('fails a node that does not report the mode within the node timeout, and recovers it when it does', () => {
    const stuck = node({ spec: 'vxlan', reported: 'none', switchingSince: 0 });
    expect(decideOverlay('vxlan', stuck, never, ready, 599_000, 600)).toEqual({ mode: 'vxlan', state: 'in-progress' });
    expect(decideOverlay('vxlan', stuck, never, ready, 601_000, 600)).toMatchObject({ mode: 'vxlan', state: 'failed', reason: expect.stringContaining('not reported after 601 s') });
    expect(decideOverlay('vxlan', { ...stuck, reported: 'vxlan' }, never, ready, 700_000, 600)).toEqual({ mode: 'vxlan', state: 'updated' });
  });

  describe('receiving before sending', () => {
    it('listens for VXLAN only while some node is given it, runs it, or is about to be given it', () => {
      const native = node({ receive: false, receiving: false });
      expect(tunnelWanted(['none'], [native, native])).toBe(false);
      expect(tunnelWanted(['none', 'vxlan'], [native])).toBe(true);
      // Going back to native: kept until the last node reports native.
      expect(tunnelWanted(['none'], [native, node({ spec: 'none', reported: 'vxlan' })])).toBe(true);
      expect(tunnelWanted(['none'], [native, node({ spec: 'vxlan', reported: 'vxlan' })])).toBe(true);
    });

    it('sends no VXLAN until every running node reports its device; nodes not running yet do not count', () => {
      expect(receiversReady([node({}), node({ receive: true, receiving: false })])).toBe(false);
      // Asked for, not yet written (the operator's own write is what counts).
      expect(receiversReady([node({}), node({ receive: false, receiving: true })])).toBe(false);
      expect(receiversReady([node({}), node({ programmed: false, receiving: false }), undefined])).toBe(true);
      const notYet = { receive: true, receiversReady: false };
      expect(decideOverlay('vxlan', node({}), always, notYet)).toEqual({ mode: 'none', state: 'pending' });
      // While the device is wanted but not yet asked for in any spec.
      expect(decideOverlay('vxlan', node({}), always, { receive: false, receiversReady: true })).toEqual({ mode: 'none', state: 'pending' });
      // Going back to native needs no receivers.
      expect(decideOverlay('none', node({ spec: 'vxlan', reported: 'vxlan' }), always, notYet)).toEqual({ mode: 'none', state: 'in-progress' });
    });

    it('fails a node that does not report the device it was asked for within the node timeout, which holds the others', () => {
      const deaf = node({ receive: true, receiving: false, receiveSince: 0 });
      expect(decideOverlay('vxlan', deaf, always, { receive: true, receiversReady: false }, 9_000, 10)).toEqual({ mode: 'none', state: 'in-progress' });
      expect(decideOverlay('vxlan', deaf, always, { receive: true, receiversReady: false }, 11_000, 10)).toMatchObject({
        mode: 'none',
        state: 'failed',
        reason: expect.stringMatching(/^overlay tunnel device not reported after 11 s \(node timeout 10 s\)/),
      });
      // A node whose own mode is settled (another config's target is VXLAN) waits on its device too.
      expect(decideOverlay('none', deaf, always, { receive: true, receiversReady: false }, 5_000, 10)).toEqual({ mode: 'none', state: 'in-progress' });
    });
  });
});
