// xdp_prefilter.o: deny CIDRs and the valid-destination check, on crafted frames.
import { XdpAction } from 'libbpfjs';
import { ConfigFlags } from '../../common/maps/config.js';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { ServiceFlags } from '../../common/maps/lb.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestDatapath } from '../harness/datapath.js';
import { frame, TCP, UDP, type Packet } from './packets.js';

describePrivileged('xdp_prefilter.o', () => {
  let t: TestDatapath;
  // Setup: node address 10.0.0.10, a local endpoint 10.0.1.1, a service 10.96.0.10:53/UDP.
  beforeEach(async () => {
    t = await TestDatapath.load(['xdp_prefilter']);
    t.endpoint('10.0.0.10', 1, { host: true });
    t.endpoint('10.0.1.1', 300);
    t.service({ vip: '10.96.0.10', port: 53, proto: UDP, flags: ServiceFlags.ClusterIp, revNat: 1, backends: [{ id: 1, addr: '10.0.1.1', port: 53 }] });
  });
  afterEach(() => t.close());

  const run = async (p: Partial<Packet>) =>
    (await t.dp.program('xdp_prefilter').testRun({ data: frame({ src: '198.51.100.7', dst: '10.0.1.1', sport: 1234, dport: 80, proto: TCP, ...p }) })).retval;

  it('drops sources inside a deny CIDR and passes the rest', async () => {
    t.prefilterDeny('198.51.100.0/24');
    expect(await run({})).toBe(XdpAction.Drop);
    expect(await run({ src: '198.51.100.255' })).toBe(XdpAction.Drop);
    expect(await run({ src: '198.51.101.1' })).toBe(XdpAction.Pass);
    expect(t.counter(Reason.PrefilterCidr, Direction.Ingress)).toBe(2n);
  });

  it('passes any destination while the valid-destination mode is off', async () => {
    expect(await run({ dst: '10.0.9.9' })).toBe(XdpAction.Pass);
  });

  it('with the mode on, drops destinations that are no endpoint, service or node address', async () => {
    t.config({ flags: ConfigFlags.PrefilterValidDst });
    expect(await run({ dst: '10.0.9.9' })).toBe(XdpAction.Drop);
    expect(t.counter(Reason.InvalidDestination, Direction.Ingress)).toBe(1n);
    expect(await run({})).toBe(XdpAction.Pass); // local endpoint
    expect(await run({ dst: '10.0.0.10' })).toBe(XdpAction.Pass); // the node
    expect(await run({ dst: '10.96.0.10', dport: 53, proto: UDP })).toBe(XdpAction.Pass); // service frontend
    expect(await run({ dst: '10.96.0.10', dport: 54, proto: UDP })).toBe(XdpAction.Drop); // not a frontend port
    expect(await run({ dst: '224.0.0.251', proto: UDP, dport: 5353 })).toBe(XdpAction.Pass); // multicast
  });

  it('leaves non-IPv4 frames to the stack', async () => {
    t.config({ flags: ConfigFlags.PrefilterValidDst });
    const arp = frame({ src: '10.0.0.1', dst: '10.0.9.9', sport: 0, dport: 0, proto: UDP });
    arp.writeUInt16BE(0x0806, 12);
    expect((await t.dp.program('xdp_prefilter').testRun({ data: arp })).retval).toBe(XdpAction.Pass);
  });
});
