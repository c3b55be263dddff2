import { PolicyFlows } from './flows.js';
import type { L7Rules } from '../../api/v1alpha1/index.js';

const WEB = 300;
const CLIENT = 301;
const REMOTE = 400;
const ipcache: Record<string, number> = { '10.244.2.9': REMOTE, '203.0.113.1': 2 };
const sock = (src: string, dst: string, dport = 8080) => ({ remoteAddress: src, remotePort: 40000, localAddress: dst, localPort: dport });

describe('the flows the proxy judges', () => {
  const rules: L7Rules[] = [
    { identity: WEB, direction: 'ingress', port: 8080, peerSet: 0, http: [{ method: 'GET', path: '/public/.*' }] },
    { identity: WEB, direction: 'ingress', port: 8080, peerSet: 1, http: [{ method: 'POST' }] },
    { identity: CLIENT, direction: 'egress', port: 9000, endPort: 9010, peerSet: 2, http: [{ path: '/api/.*' }, { path: '/broken/(' }] },
    { identity: CLIENT, direction: 'egress', port: 8080, peerSet: 3, http: [{ method: 'GET' }] },
  ];
  const flows = new PolicyFlows((a) => ipcache[a] ?? 2);
  flows.update({
    rules,
    peerSets: [
      { id: 0, identities: [CLIENT, REMOTE] },
      { id: 1, identities: [REMOTE] },
      { id: 2, identities: [0] },
      { id: 3, identities: [WEB] },
    ],
    endpoints: [
      { ip: '10.244.1.2', identity: WEB },
      { ip: '10.244.1.3', identity: CLIENT },
    ],
  });

  it('is the destination ingress policy, with the peer from the endpoints or the ipcache', () => {
    const remote = flows.flowOf(sock('10.244.2.9', '10.244.1.2'))!;
    expect(remote.peer).toBe(REMOTE);
    // Rules of every entry naming the peer: alternatives.
    expect(flows.rulesOf(remote)).toHaveLength(2);
  });

  it("is the client's egress policy when it has L7 rules for that destination and port (any peer, a port range)", () => {
    const f = flows.flowOf(sock('10.244.1.3', '203.0.113.1', 9005))!;
    expect(f).toMatchObject({ direction: 'egress', subject: CLIENT, peer: 2 });
    // The rule that does not compile is left out; the other stays.
    expect(flows.rulesOf(f).map((r) => r.path?.source)).toEqual(['/api/.*']);
    expect(flows.upstreamSource(f)).toBe('10.244.1.3');
  });

  it("is judged by both sides when the client's egress and a local destination's ingress have HTTP rules", () => {
    const f = flows.flowOf(sock('10.244.1.3', '10.244.1.2'))!;
    expect(f).toMatchObject({ direction: 'egress', subject: CLIENT, peer: WEB, ingressToo: { subject: WEB, peer: CLIENT } });
    expect(flows.rulesOf(f)).toHaveLength(1);
    expect(flows.rulesOf({ ...f, direction: 'ingress', ...f.ingressToo! })).toHaveLength(1);
    // A destination elsewhere: its own node's proxy judges its ingress.
    const away = flows.flowOf(sock('10.244.1.3', '10.244.2.9', 9005))!;
    expect(away.direction).toBe('egress');
    expect(away.ingressToo).toBeUndefined();
  });

  it('explains no connection between addresses that are no local endpoint', () => {
    expect(flows.flowOf(sock('10.244.2.9', '203.0.113.1'))).toBeUndefined();
  });

  it('denies everything on a flow no rule names any more', () => {
    const f = flows.flowOf(sock('10.244.1.3', '10.244.1.2'))!;
    flows.update({ rules: [], peerSets: [], endpoints: [{ ip: '10.244.1.2', identity: WEB }] });
    expect(flows.rulesOf(f)).toEqual([]);
  });
});
