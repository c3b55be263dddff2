// Where each datapath program attaches. Links (tcx, XDP, cgroup) belong to the kernel once
// pinned, so they survive the agent; sk_msg on the sockhash has no link type on this libbpf and
// is attached with BPF_PROG_ATTACH, which lives as long as the map.
import { attachCgroup as linkCgroup, attachTcx, attachToMap, attachXdpLink, AttachType, type BpfLink, type MapAttachment } from 'libbpfjs';
import { sockMap } from '../../common/maps/sockmap.js';
import type { LoadedDatapath } from './objects.js';

export interface EndpointLinks {
  /** tcx ingress of the host-side veth: what the pod sends. */
  fromEndpoint: BpfLink;
  /** tcx egress of the host-side veth: what the pod receives. */
  toEndpoint: BpfLink;
}

/** Endpoint policy on a pod's host-side veth (call inside the node's network namespace). */
export function attachEndpoint(dp: LoadedDatapath, ifindex: number): EndpointLinks {
  const fromEndpoint = attachTcx(dp.program('tc_from_endpoint'), ifindex, 'ingress');
  try {
    return { fromEndpoint, toEndpoint: attachTcx(dp.program('tc_to_endpoint'), ifindex, 'egress') };
  } catch (err) {
    fromEndpoint.detach();
    throw err;
  }
}

export interface NicLinks {
  prefilter: BpfLink;
  fromNetdev: BpfLink;
  toNetdev: BpfLink;
}

/** Prefilter (XDP) and packet-level service NAT (tcx) on a node interface. */
export function attachNic(dp: LoadedDatapath, ifindex: number, xdpMode: 'driver' | 'generic' = 'driver'): NicLinks {
  const made: BpfLink[] = [];
  try {
    const prefilter = attachXdpLink(dp.program('xdp_prefilter'), ifindex, xdpMode);
    made.push(prefilter);
    const fromNetdev = attachTcx(dp.program('tc_from_netdev'), ifindex, 'ingress');
    made.push(fromNetdev);
    const toNetdev = attachTcx(dp.program('tc_to_netdev'), ifindex, 'egress');
    return { prefilter, fromNetdev, toNetdev };
  } catch (err) {
    for (const l of made) l.detach();
    throw err;
  }
}

export interface CgroupLinks {
  connect4: BpfLink;
  sendmsg4: BpfLink;
  recvmsg4: BpfLink;
  sockOps: BpfLink;
}

/** Socket LB and the sock_ops half of the fast path on a cgroup v2 directory. */
export function attachCgroup(dp: LoadedDatapath, cgroupPath: string): CgroupLinks {
  const made: BpfLink[] = [];
  const link = (prog: string, type: number): BpfLink => {
    const l = linkCgroup(dp.program(prog), cgroupPath, type);
    made.push(l);
    return l;
  };
  try {
    return {
      connect4: link('sock_connect4', AttachType.CgroupInet4Connect),
      sendmsg4: link('sock_sendmsg4', AttachType.CgroupUdp4Sendmsg),
      recvmsg4: link('sock_recvmsg4', AttachType.CgroupUdp4Recvmsg),
      sockOps: link('sock_ops_fastpath', AttachType.CgroupSockOps),
    };
  } catch (err) {
    for (const l of made) l.detach();
    throw err;
  }
}

/** The sk_msg half of the fast path, on the sockhash. */
export function attachSockmap(dp: LoadedDatapath): MapAttachment {
  return attachToMap(dp.program('sk_msg_fastpath'), dp.rawMap(sockMap.name), AttachType.SkMsgVerdict);
}
