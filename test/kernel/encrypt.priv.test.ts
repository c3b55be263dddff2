// tc_endpoint.o, transparent encryption: what a pod sends to another node's pods is marked for the
// kernel to encrypt, or dropped when it must be encrypted and cannot be; everything else passes
// untouched. Setup: a local endpoint A; B a remote pod (hosted by node 192.168.77.12), its node's
// pod CIDR (a pod without an identity yet), the remote node's own address, and an outside address.
// Check: verdict, skb->mark after the program (the context BPF_PROG_TEST_RUN hands back), counters.
import { TcAction } from 'libbpfjs';
import { ConfigFlags, encryptMarkOf } from '../../common/maps/config.js';
import { IpcacheFlags } from '../../common/maps/ipcache.js';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestDatapath } from '../harness/datapath.js';
import { Flags, frame, TCP, type Packet } from './packets.js';

const A = '10.0.1.1';
const B = '10.0.2.5'; // a remote pod with identity 400
const B_UNKNOWN = '10.0.2.9'; // in the remote node's pod CIDR, no identity yet
const REMOTE_NODE = '192.168.77.12';
const OUTSIDE = '203.0.113.7';
/** struct __sk_buff (uapi, the same on 6.1 and later): its size, and mark after len and pkt_type. */
const SKB_SIZE = 192;
const SKB_MARK_OFFSET = 8;

describePrivileged('tc_endpoint.o: marking pod traffic between nodes for encryption', () => {
  let t: TestDatapath;

  beforeEach(async () => {
    t = await TestDatapath.load(['tc_endpoint']);
    t.endpoint(A, 300);
    t.ipcache(`${B}/32`, 400, { tunnel: REMOTE_NODE });
    t.ipcache('10.0.2.0/24', 2, { tunnel: REMOTE_NODE });
    t.ipcache(`${REMOTE_NODE}/32`, 6, { flags: IpcacheFlags.Node });
  });
  afterEach(() => t.close());

  const fromA = async (p: Partial<Packet>) => {
    const data = frame({ src: A, dst: B, sport: 40000, dport: 8080, proto: TCP, flags: Flags.SYN, ...p });
    const r = await t.dp.program('tc_from_endpoint').testRun({ data, ctx: Buffer.alloc(SKB_SIZE), ctxOutSize: SKB_SIZE });
    return { retval: r.retval, mark: r.ctxOut!.readUInt32LE(SKB_MARK_OFFSET) };
  };

  it('marks traffic to a remote pod with the configured mark, generation included', async () => {
    t.config({ encryptMark: encryptMarkOf(3) });
    expect(await fromA({})).toEqual({ retval: TcAction.Ok, mark: 0x3e00 });
    // A pod of that node without an identity yet is covered by its node's pod CIDR.
    expect(await fromA({ dst: B_UNKNOWN })).toEqual({ retval: TcAction.Ok, mark: 0x3e00 });
  });

  it('leaves node addresses and the outside unmarked: they are not encrypted', async () => {
    t.config({ encryptMark: encryptMarkOf(3) });
    expect(await fromA({ dst: REMOTE_NODE })).toEqual({ retval: TcAction.Ok, mark: 0 });
    expect(await fromA({ dst: OUTSIDE })).toEqual({ retval: TcAction.Ok, mark: 0 });
  });

  it('fails closed: required but without a mark, remote pods are dropped and counted, the rest passes', async () => {
    t.config({ flags: ConfigFlags.EncryptRequired, encryptMark: 0 });
    expect((await fromA({})).retval).toBe(TcAction.Shot);
    expect((await fromA({ dst: B_UNKNOWN })).retval).toBe(TcAction.Shot);
    expect(t.counter(Reason.NoEncryption, Direction.Egress)).toBe(2n);
    // Refused before conntrack: no flow was opened.
    expect(t.ctTcp.count()).toBe(0);
    expect(await fromA({ dst: REMOTE_NODE })).toEqual({ retval: TcAction.Ok, mark: 0 });
    expect(await fromA({ dst: OUTSIDE })).toEqual({ retval: TcAction.Ok, mark: 0 });
  });

  it('changes nothing when encryption is off', async () => {
    t.config({});
    expect(await fromA({})).toEqual({ retval: TcAction.Ok, mark: 0 });
    expect(t.counter(Reason.NoEncryption, Direction.Egress)).toBe(0n);
  });
});
