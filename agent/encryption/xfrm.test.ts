// `ip xfrm` output as iproute2 6.1 prints it (captured on Debian 12's kernel), and the lines the
// agent sends back.
import { parsePolicies, parseStates, plan, WEIR_REQID, type XfrmPolicy, type XfrmState } from './xfrm.js';

const STATES = `src 192.168.77.12 dst 192.168.77.11
	proto esp spi 0x00001021(4129) reqid 22341(0x00005745) mode tunnel
	replay-window 128 seq 0x00000000 flag  (0x00000000)
	aead rfc4106(gcm(aes)) 0x0102030405060708090a0b0c0d0e0f1011121314 (160 bits) 128
	anti-replay context: seq 0x2a, oseq 0x0, bitmap 0xffffffff
	sel src 0.0.0.0/0 dst 0.0.0.0/0 uid 0
	lifetime config:
	  limit: soft (INF)(bytes), hard (INF)(bytes)
	  limit: soft (INF)(packets), hard (INF)(packets)
	  expire add: soft 0(sec), hard 0(sec)
	  expire use: soft 0(sec), hard 0(sec)
	lifetime current:
	  5124(bytes), 42(packets)
	  add 2026-11-30 08:19:18 use 2026-11-30 08:19:20
	stats:
	  replay-window 0 replay 0 failed 3
src 192.168.77.11 dst 192.168.77.12
	proto esp spi 0x00001011(4113) reqid 22341(0x00005745) mode tunnel
	replay-window 128 seq 0x00000000 flag  (0x00000000)
	mark 0x1e00/0xff00 
	aead rfc4106(gcm(aes)) 0x0102030405060708090a0b0c0d0e0f1011121314 (160 bits) 128
	lifetime current:
	  100(bytes), 7(packets)
	stats:
	  replay-window 0 replay 0 failed 0
src 10.0.0.1 dst 10.0.0.2
	proto esp spi 0x00000300(768) reqid 1(0x00000001) mode tunnel
	replay-window 0 seq 0x00000000 flag  (0x00000000)
`;

const POLICIES = `src 0.0.0.0/0 dst 0.0.0.0/0 
	dir out action block priority 1000 ptype main 
	mark 0xe00/0xf00 
src 0.0.0.0/0 dst 10.244.2.0/24 
	dir out priority 100 ptype main 
	mark 0x1e00/0xff00 
	tmpl src 192.168.77.11 dst 192.168.77.12
		proto esp spi 0x00001011 reqid 22341 mode tunnel
src 10.244.2.0/24 dst 10.244.1.0/24 
	dir fwd priority 100 ptype main 
	tmpl src 192.168.77.12 dst 192.168.77.11
		proto esp reqid 22341 mode tunnel
		level use 
src 10.1.0.0/16 dst 10.2.0.0/16 
	dir out priority 0 ptype main 
	tmpl src 10.0.0.1 dst 10.0.0.2
		proto esp reqid 1 mode tunnel
src 0.0.0.0/0 dst 0.0.0.0/0 
	socket in priority 0 ptype main 
`;

describe('ip xfrm output', () => {
  it("reads Weir's states with their marks and counters, and leaves others' alone", () => {
    const key = Buffer.from('0102030405060708090a0b0c0d0e0f1011121314', 'hex');
    expect(parseStates(STATES)).toEqual([
      { src: '192.168.77.12', dst: '192.168.77.11', spi: 0x1021, key, icvBits: 128, packets: 42, failed: 3 },
      { src: '192.168.77.11', dst: '192.168.77.12', spi: 0x1011, mark: { value: 0x1e00, mask: 0xff00 }, key, icvBits: 128, packets: 7, failed: 0 },
    ]);
  });

  it('reads extended sequence numbers from the flag line, by name or by bit', () => {
    const esn = (flagLine: string) =>
      parseStates(`src 192.168.77.12 dst 192.168.77.11
	proto esp spi 0x00001021(4129) reqid 22341(0x00005745) mode tunnel
	${flagLine}
	aead rfc4106(gcm(aes)) 0x0102030405060708090a0b0c0d0e0f1011121314 (160 bits) 128
	anti-replay esn context:
	 seq-hi 0x0, seq 0x2a, oseq-hi 0x0, oseq 0x0
	 replay_window 128, bitmap-length 4
	 ffffffff 00000000 00000000 00000000
`)[0]?.esn;
    expect(esn('replay-window 0 seq 0x00000000 flag esn (0x00000080)')).toBe(true);
    expect(esn('replay-window 0 seq 0x00000000 flag 80 (0x00000080)')).toBe(true);
    expect(esn('replay-window 128 seq 0x00000000 flag  (0x00000000)')).toBeUndefined();
  });

  it("reads Weir's policies (its reqid, or its block mark), not others' nor socket policies", () => {
    expect(parsePolicies(POLICIES)).toEqual([
      { dir: 'out', src: '0.0.0.0/0', dst: '0.0.0.0/0', priority: 1000, mark: { value: 0xe00, mask: 0xf00 }, block: true },
      { dir: 'out', src: '0.0.0.0/0', dst: '10.244.2.0/24', priority: 100, mark: { value: 0x1e00, mask: 0xff00 }, tmpl: { src: '192.168.77.11', dst: '192.168.77.12', spi: 0x1011, level: 'required' } },
      { dir: 'fwd', src: '10.244.2.0/24', dst: '10.244.1.0/24', priority: 100, tmpl: { src: '192.168.77.12', dst: '192.168.77.11', level: 'use' } },
    ]);
  });
});

describe('the plan from what is to what should be', () => {
  const key = Buffer.alloc(20, 1);
  const st = (spi: number, mark?: XfrmState['mark']): XfrmState => ({ src: 'a', dst: 'b', spi, ...(mark ? { mark } : {}) });
  const pol = (dst: string, level: 'use' | 'required' = 'required'): XfrmPolicy => ({ dir: 'fwd', src: '10.0.0.0/24', dst, priority: 100, tmpl: { src: 'a', dst: 'b', level } });

  it('adds states before policies, removes policies before states, and never replaces a state that exists', () => {
    const lines = plan(
      { states: [st(0x1011), st(0x1012, { value: 0x2e00, mask: 0xff00 })], policies: [pol('10.1.0.0/24'), pol('10.2.0.0/24')] },
      { states: [{ ...st(0x1011), key }, { ...st(0x1013), key }], policies: [pol('10.1.0.0/24'), pol('10.3.0.0/24', 'use')] },
    );
    expect(lines).toEqual([
      `xfrm state add src a dst b proto esp spi 0x1013 reqid ${WEIR_REQID} mode tunnel replay-window 128 aead rfc4106(gcm(aes)) 0x${key.toString('hex')} 128`,
      `xfrm policy update dir fwd src 10.0.0.0/24 dst 10.3.0.0/24 priority 100 tmpl src a dst b proto esp reqid ${WEIR_REQID} mode tunnel level use`,
      'xfrm policy delete dir fwd src 10.0.0.0/24 dst 10.2.0.0/24',
      'xfrm state delete src a dst b proto esp spi 0x1012 mark 0x2e00 mask 0xff00',
    ]);
  });

  it('replaces a state whose listed key differs from the one it should have (a peer rebooted), and keeps one whose key is right', () => {
    const other = Buffer.alloc(20, 2);
    const want = { ...st(0x1011), key: other, esn: true };
    expect(plan({ states: [{ ...st(0x1011), key }], policies: [] }, { states: [want], policies: [] })).toEqual([
      'xfrm state delete src a dst b proto esp spi 0x1011',
      `xfrm state add src a dst b proto esp spi 0x1011 reqid ${WEIR_REQID} mode tunnel replay-window 128 flag esn aead rfc4106(gcm(aes)) 0x${other.toString('hex')} 128`,
    ]);
    // The right key without ESN (an earlier agent's state): its sequence numbers run on.
    expect(plan({ states: [{ ...st(0x1011), key: other }], policies: [] }, { states: [want], policies: [] })).toEqual([]);
  });

  it('updates a policy whose template changed, and does nothing when all is in place', () => {
    expect(plan({ states: [], policies: [pol('10.1.0.0/24', 'use')] }, { states: [], policies: [pol('10.1.0.0/24')] })).toEqual([
      `xfrm policy update dir fwd src 10.0.0.0/24 dst 10.1.0.0/24 priority 100 tmpl src a dst b proto esp reqid ${WEIR_REQID} mode tunnel level required`,
    ]);
    expect(plan({ states: [st(1)], policies: [pol('x')] }, { states: [{ ...st(1), key }], policies: [pol('x')] })).toEqual([]);
  });
});
