// tc_proxy.o on loopback's ingress: what the endpoint program handed to the L7 proxy is assigned to
// the proxy's socket, or dropped and counted when no socket takes it; everything else on loopback
// passes untouched. (The assignment itself, with real sockets, is tested in the sandbox:
// test/sandbox/l7.priv.test.ts.)
import { TcAction } from 'libbpfjs';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestDatapath } from '../harness/datapath.js';
import { Flags, frame, TCP, UDP } from './packets.js';

const SKB_SIZE = 192;
const proxyMark = (port: number) => ((port << 16) | 0x0a00) >>> 0;

describePrivileged('tc_proxy.o: handing flows to the L7 proxy', () => {
  let t: TestDatapath;
  beforeEach(async () => {
    t = await TestDatapath.load(['tc_proxy']);
  });
  afterEach(() => t.close());

  const run = async (mark: number, proto: typeof TCP | typeof UDP = TCP) => {
    const ctx = Buffer.alloc(SKB_SIZE);
    ctx.writeUInt32LE(mark, 8);
    // A port no socket of this namespace listens on.
    const data = frame({ src: '10.0.2.5', dst: '10.0.1.1', sport: 40000, dport: 8080, proto, flags: Flags.SYN });
    return (await t.dp.program('tc_to_proxy').testRun({ data, ctx })).retval;
  };

  it('passes loopback traffic that carries no proxy mark', async () => {
    expect(await run(0)).toBe(TcAction.Ok);
    expect(await run(0x0e00)).toBe(TcAction.Ok);
  });

  it('drops and counts a marked packet no proxy socket takes (the proxy is down): never passed unchecked', async () => {
    expect(await run(proxyMark(1))).toBe(TcAction.Shot);
    expect(await run(proxyMark(1), UDP)).toBe(TcAction.Shot);
    expect(t.counter(Reason.NoProxy, Direction.Ingress)).toBe(2n);
  });
});
